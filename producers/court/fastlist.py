"""Fast path of `hub court submit` for plain `list` lines: the worker's `Prepared` built
without pydantic, byte for byte what `producers.court.prepare._prepare` builds from the
validated `ListDecision` (the slow path).

The rule (and what tests/unit/test_court_fastpath.py proves): `prepare_list` ACCEPTS a line
only when the slow path would accept it, and then returns the identical `Prepared`;
anything else — a validation problem, an unknown, missing or duplicate key, a type it does
not expect, a `\\u` escape — returns None and the line takes the slow path, which
produces today's answer (and today's error messages). So this module never reports an
error: it is only ever a shortcut to a result the slow path would give.

Equivalences it relies on (each pinned by a unit test):
- orjson refuses everything `json.loads` refuses (and more: NaN, lone surrogates), but keeps
  the last of duplicate keys where the slow path reports "duplicate key". In valid JSON a
  colon outside a string separates exactly one member, so with no `\\u` escape (the only
  way to spell a colon other than `:`) the line has a duplicate key iff it holds more
  colons than orjson's own serialisation of the parsed object (which writes one colon per
  member, plus the colons inside strings, never escaped).
- `json.dumps(..., ensure_ascii=False)` (content hash) and orjson escape strings
  identically; the canonical form writes a UTC datetime as pydantic does (`...Z`), which is
  taken from pydantic_core itself.
- Avro binary encoding is the concatenation of the field encodings (schemas/avro); enum
  indexes come from the writer schema, not from this file.
"""

from __future__ import annotations

import hashlib
import operator
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic_core import to_json

from hub import codec
from hub.domain.deadlines import local_date
from hub.domain.decisions import MAX_LISTING_ID, _parse_date, _parse_time
from hub.domain.events import Ground, Performance, Role, SubjectKind, event_id_for
from hub.domain.identity import USCC_TYPES, IdentityError, adult_on, checked_resident_id
from hub.domain.rules import period_problem
from producers.court.avrobin import EPOCH, avro_long, avro_string, micros

# `_parse_date`/`_parse_time` above are the slow path's own field parsers (reused, not
# copied, so that the two paths cannot disagree on what a date or a time is).

__all__ = ["AVRO_NAME", "Fast", "prepare_list"]

AVRO_NAME = "credithub.court.DebtorListed"

_REQUIRED = frozenset({
    "action", "decision_no", "court_code", "court_name", "listing_id", "decided_at",
    "case_no", "filed_on", "basis_authority", "basis_doc_no", "obligation", "performance",
    "ground", "conduct", "period_end", "subject",
})
_ALLOWED = _REQUIRED | {"triggered_at", "public", "related"}
_SUBJECT_KEYS = frozenset({"kind", "name", "id_number"})
_RELATED_KEYS = frozenset({"role", "name", "id_number"})
_TEXT_KEYS = (
    "decision_no", "court_code", "court_name", "listing_id", "case_no", "basis_authority",
    "basis_doc_no", "obligation", "conduct",
)
_PERSON = SubjectKind.person.value
_EPOCH_ORDINAL = EPOCH.date().toordinal()

# Fast = the fields of `producers.court.prepare.Prepared` after `line`, in its order.
Fast = tuple[str, str, str, str, datetime, bytes, str, bytes, bytes, bytes, str, str]


# ------------------------------------------------------------------------ Avro tables


def _symbols(full_name: str) -> dict[str, bytes]:
    """Enum symbol -> Avro encoding of its index in the writer schema."""
    found: list[list[str]] = []
    namespace, _, name = full_name.rpartition(".")

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "enum" and (
                node.get("name") == full_name
                or (node.get("name") == name and node.get("namespace", namespace) == namespace)
            ):
                found.append(list(node["symbols"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(codec.registry().latest(AVRO_NAME).expanded)
    if not found:
        raise RuntimeError(f"{AVRO_NAME} has no enum {full_name}")
    return {s: avro_long(i) for i, s in enumerate(found[0])}


@lru_cache(maxsize=1)
def _tables() -> tuple[bytes, dict[str, bytes], dict[str, bytes], dict[str, bytes],
                       dict[str, bytes]]:
    """Header and enum encodings, restricted to the symbols the domain's enums accept."""

    def table(name: str, values: list[str]) -> dict[str, bytes]:
        enc = _symbols(name)
        return {v: enc[v] for v in values}

    return (
        codec.MARKER + codec.fingerprint_of(AVRO_NAME),
        table("credithub.court.Performance", [p.value for p in Performance]),
        table("credithub.court.Ground", [g.value for g in Ground]),
        table("credithub.common.SubjectKind", [k.value for k in SubjectKind]),
        table("credithub.common.Role", [r.value for r in Role]),
    )


# ------------------------------------------------------------------------ field values

_Time = tuple[datetime, bytes, str, date]  # UTC time, Avro, pydantic's JSON, CST date
_Date = tuple[date, bytes, str]  # date, Avro, ISO
_TIMES: dict[str, _Time | None] = {}
_DATES: dict[str, _Date | None] = {}


def _cached(cache: dict[str, Any], text: str, make: Any) -> Any:
    """`make(text)` memoised (a file repeats its dates), or None where it raises: the slow
    path must tell what is wrong."""
    try:
        return cache[text]
    except KeyError:
        pass
    try:
        out = make(text)
    except Exception:  # noqa: BLE001 - the slow path reports it
        out = None
    if len(cache) > 8192:
        cache.clear()
    cache[text] = out
    return out


def _make_time(text: str) -> _Time:
    t: datetime = _parse_time(text)
    return (t, avro_long(micros(t)), to_json(t).decode()[1:-1], local_date(t))


def _make_date(text: str) -> _Date:
    d: date = _parse_date(text)
    return (d, avro_long(d.toordinal() - _EPOCH_ORDINAL), d.isoformat())


def _time(text: str) -> _Time | None:
    """(UTC datetime, its timestamp-micros in Avro, pydantic's JSON of it, CST date)."""
    return _cached(_TIMES, text, _make_time)  # type: ignore[no-any-return]


def _date(text: str) -> _Date | None:
    """(date, Avro `date`, ISO text)."""
    return _cached(_DATES, text, _make_date)  # type: ignore[no-any-return]


@lru_cache(maxsize=4096)
def _period_ok(ground: str, period_end: date | None, listed_on: date) -> bool:
    return period_problem(ground, period_end, listed_on) is None


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015 (hub.domain.identity)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


# Each alphabet character's byte -> its value; any other byte -> 255 (not a value).
_USCC_VALUES = bytes(_USCC_ALPHABET.find(chr(b)) if chr(b) in _USCC_ALPHABET else 255
                     for b in range(256))


def _uscc(value: str) -> str | None:
    """`check_uscc(value)` when the number is valid, else None (the slow path says why).

    check_uscc's own steps for a valid number (normalise, length 18, authority and type
    codes, division code digits, alphabet, MOD 31 check
    character as stdnum.cn.uscc computes it, which for alphabet characters is this sum)
    without stdnum's per-character Unicode cleaning (a cold check_uscc costs ~8 µs), the
    characters' values looked up and weighted in C."""
    n = value.strip().upper()
    if len(n) != 18 or not n.isascii():
        return None
    # GB 32100's authority and type codes (positions 1-2), division code digits (3-8)
    if n[1] not in USCC_TYPES.get(n[0], "") or not n[2:8].isdigit():
        return None
    v = n.encode().translate(_USCC_VALUES)
    if max(v) >= len(_USCC_ALPHABET):
        return None
    if v[17] != (31 - sum(map(operator.mul, v[:17], _USCC_WEIGHTS))) % 31:
        return None
    return n


def _adult(value: Any, on: date) -> str | None:
    """A related person's number when valid and of age on `on` (as the subject's: minors
    are never bound, `hub.domain.rules`), else None (the slow path says why)."""
    if type(value) is not str:
        return None
    try:
        number, born = checked_resident_id(value)
    except IdentityError:
        return None
    return number if adult_on(born, on) else None


# ------------------------------------------------------------------------ the fast path


def prepare_list(text: str) -> Fast | None:
    """The fields of `Prepared` (after `line`) of a valid, plain `list` line; None when the
    slow path must decide (anything unusual, or any problem at all)."""
    if "\\u" in text:
        return None
    try:
        d = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if type(d) is not dict or d.get("action") != "list":
        return None
    keys = d.keys()
    if not (keys <= _ALLOWED and _REQUIRED <= keys):
        return None
    for k in _TEXT_KEYS:
        v = d[k]
        if type(v) is not str or not v.strip():
            return None
    court_code: str = d["court_code"]
    decision_no: str = d["decision_no"]
    listing_id: str = d["listing_id"]
    if len(listing_id) > MAX_LISTING_ID:
        return None
    header, performances, grounds, kinds, roles = _tables()
    performance = d["performance"]
    ground = d["ground"]
    if type(performance) is not str or performance not in performances:
        return None
    if type(ground) is not str or ground not in grounds:
        return None
    decided_text = d["decided_at"]
    filed_text = d["filed_on"]
    if type(decided_text) is not str or type(filed_text) is not str:
        return None
    decided = _time(decided_text)
    filed_on = _date(filed_text)
    if decided is None or filed_on is None:
        return None
    decided_at, decided_avro, decided_json, listed_on = decided
    trig_text = d.get("triggered_at")
    triggered: _Time | None = None
    if trig_text is not None:
        if type(trig_text) is not str:
            return None
        triggered = _time(trig_text)
        if triggered is None or triggered[0] > decided_at:
            return None
    pe_text = d["period_end"]
    period: _Date | None = None
    if pe_text is not None:
        if type(pe_text) is not str:
            return None
        period = _date(pe_text)
        if period is None:
            return None
    period_end = None if period is None else period[0]
    public = d.get("public", True)
    if type(public) is not bool:
        return None
    subject = d["subject"]
    if type(subject) is not dict or subject.keys() != _SUBJECT_KEYS:
        return None
    kind, name, raw_id = subject["kind"], subject["name"], subject["id_number"]
    if type(kind) is not str or kind not in kinds:
        return None
    if type(name) is not str or not name.strip() or type(raw_id) is not str:
        return None
    # listing_problems (hub.domain.rules), each rule in turn: check character (GB 11643 /
    # GB 32100), no minors (court-decisions.md "Errors"), related persons for organisations
    # only (court-decisions.md, `related`), their numbers, the period (Provisions art. 2).
    try:
        if kind == _PERSON:
            id_number, born = checked_resident_id(raw_id)
            if not adult_on(born, listed_on):
                return None
        else:
            uscc = _uscc(raw_id)
            if uscc is None:
                return None
            id_number = uscc
    except IdentityError:
        return None
    related = d.get("related", [])
    if type(related) is not list:
        return None
    people: list[tuple[str, str, str]] = []
    for p in related:
        if type(p) is not dict or p.keys() != _RELATED_KEYS:
            return None
        role, pname = p["role"], p["name"]
        if type(role) is not str or role not in roles:
            return None
        if type(pname) is not str or not pname.strip():
            return None
        pid = _adult(p["id_number"], listed_on)
        if pid is None:
            return None
        people.append((role, pname, pid))
    if people and kind == _PERSON:
        return None
    if not _period_ok(ground, period_end, listed_on):
        return None
    # Duplicate keys (see the module's doc): orjson writes one colon per member plus the
    # colons inside strings, never as an escape.
    if text.count(":") != orjson.dumps(d).count(b":"):
        return None

    # ------------------------------------------------------------------- the results
    court_name: str = d["court_name"]
    case_no: str = d["case_no"]
    basis_authority: str = d["basis_authority"]
    basis_doc_no: str = d["basis_doc_no"]
    obligation: str = d["obligation"]
    conduct: str = d["conduct"]
    event_id = event_id_for(court_code, decision_no)
    trig_json = None if triggered is None else triggered[2]
    period_json = None if period is None else period[2]
    filed_json = filed_on[2]
    related_json = [{"role": r, "name": n, "id_number": i} for r, n, i in people]
    canonical = {
        "decision_no": decision_no, "court_code": court_code, "court_name": court_name,
        "listing_id": listing_id, "decided_at": decided_json, "triggered_at": trig_json,
        "action": "list", "case_no": case_no, "filed_on": filed_json,
        "basis_authority": basis_authority, "basis_doc_no": basis_doc_no,
        "obligation": obligation, "performance": performance, "ground": ground,
        "conduct": conduct, "period_end": period_json, "public": public,
        "subject": {"kind": kind, "name": name, "id_number": id_number},
        "related": related_json,
    }
    content_hash = hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).digest()
    pre = header + avro_string(event_id) + avro_string(listing_id) + avro_string(court_code)
    trig = b"\x00" if triggered is None else b"\x02" + triggered[1]
    mid = avro_string(decision_no) + decided_avro + trig
    parts = [
        avro_string(court_name), avro_string(case_no), filed_on[1],
        avro_string(basis_authority), avro_string(basis_doc_no), avro_string(obligation), performances[performance],
        grounds[ground], avro_string(conduct),
        b"\x00" if period is None else b"\x02" + period[1],
        b"\x01" if public else b"\x00",
        kinds[kind], avro_string(name), avro_string(id_number),
    ]
    if people:
        parts.append(avro_long(len(people)))
        for r, n, i in people:
            parts += (roles[r], avro_string(n), avro_string(i))
    parts.append(b"\x00")
    return (
        court_code, decision_no, listing_id, "list", decided_at, content_hash, event_id,
        pre, mid, b"".join(parts), id_number, name,
    )
