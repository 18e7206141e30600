"""The unit's pre-review check (policy 三(二)2: automatic comparison and interception).

One indexed query per check (measures by id_number, filtered in valid time), which also
returns the projection's position — offsets per partition and the last court_seq per
court — so every answer can be traced to the log. `at` evaluates the list as known now at
that moment of valid time: a measure binds from its decision to the next one that changed
it, and a fixed-period measure until the end of its `until` day (Provisions art. 2); a kept
measure until its `kept_until` day (policy 四(二)5).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from hub import db
from hub.domain.catalogue import default_catalogue
from hub.domain.deadlines import local_date
from hub.domain.events import BoundRole
from hub.domain.identity import IdentityError, check_resident_id, check_uscc
from hub.domain.punishment import ActiveMeasure, decide
from hub.errors import InputError


def normalise_id(value: str) -> str:
    """A resident ID (GB 11643) or a USCC (GB 32100); InputError naming the problem of the
    kind the number looks like (a resident ID is digits with a last X at most)."""
    if not isinstance(value, str) or not value.strip():
        raise InputError("bad id number: empty (a resident ID number or a unified social credit code)")
    try:
        return check_resident_id(value)
    except IdentityError as person:
        try:
            return check_uscc(value)
        except IdentityError as org:
            looks_like_person = value.strip().upper()[:17].isdigit()
            raise InputError(f"bad id number: {person if looks_like_person else org}") from None


def normalise_measure(code: str | None, unit: str) -> str | None:
    """The measure code of the act, case-insensitive (`g1` is G1). An unknown code, or one
    this unit does not apply (its projection knows nothing of it), is an InputError naming
    the valid codes: answering `clear` there would be a false clear (policy 三(二)2)."""
    if code is None:
        return None
    cat = default_catalogue()
    wanted = code.strip().upper()
    own = cat.unit(unit).measures
    if wanted not in cat.measures:
        raise InputError(f"unknown measure code {code!r}: valid codes are {', '.join(cat.measures)}"
                         f" (this unit applies {', '.join(own)})")
    if wanted not in own:
        raise InputError(f"measure {wanted} is not applied by unit {unit}, so it cannot answer"
                         f" for it: ask a unit that applies it ({', '.join(cat.measure(wanted).units) or 'none'});"
                         f" this unit applies {', '.join(own)}")
    return wanted


# One statement for any number of subjects: the subjects as arrays (unnest), each joined
# to its measures in valid time through the id_number index, and the projection's position
# read in the same snapshot, so a batch has one position behind all its answers.
_CHECK_SQL = (
    "SELECT (SELECT coalesce(json_agg(json_build_array(q.i, m.code, m.mode, m.listing_id,"
    " m.role, m.suspended, m.until, m.kept_until) ORDER BY q.i, m.listing_id, m.code, m.role), '[]')"
    " FROM unnest(%(i)s::int[], %(id)s::text[], %(at)s::timestamptz[], %(day)s::date[],"
    " %(code)s::text[]) AS q(i, id, at, day, code)"
    " JOIN {schema}.measures m ON m.id_number = q.id AND m.valid_from <= q.at"
    " AND (m.valid_to IS NULL OR m.valid_to > q.at)"
    " AND (m.until IS NULL OR m.until >= q.day)"
    " AND (m.kept_until IS NULL OR m.kept_until >= q.day)"
    " AND (q.code IS NULL OR m.code = q.code)),"
    " (SELECT json_object_agg(topic || ':' || partition, next_offset)"
    " FROM {schema}.consumer_offsets),"
    " (SELECT json_object_agg(court_code, last_seq) FROM {schema}.court_positions),"
    # credit repairs the unit granted (policy 四(二)6), decided by the moment asked about
    " (SELECT coalesce(json_agg(json_build_array(q.i, r.listing_id, r.decided_on)"
    " ORDER BY q.i, r.listing_id), '[]')"
    " FROM unnest(%(i)s::int[], %(id)s::text[], %(day)s::date[]) AS q(i, id, day)"
    " JOIN {schema}.repairs r ON r.subject_id = q.id AND r.granted AND r.decided_on <= q.day)"
)

MAX_BATCH = 1000


class Subject(NamedTuple):
    """One question: who (normalised ID number), about which act (measure code or None),
    at which moment of valid time."""

    id_number: str
    measure: str | None
    at: datetime


def instant(at: datetime | None) -> datetime:
    """`at` (now when None) in UTC: PostgreSQL takes offsets up to ±15:59 only, ISO 8601
    up to ±23:59. A moment past the range Python represents in UTC (the first or last
    hours of years 1 and 9999) is taken as that range's end: no listing is that old, and
    an open measure binds then as it does now."""
    if at is None:
        return datetime.now(UTC)
    if at.tzinfo is None:
        raise InputError("at: needs a time with an offset, e.g. 2026-05-01T12:00:00+08:00")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        return (datetime.min if at.year == datetime.min.year else datetime.max).replace(tzinfo=UTC)


def _day(at: datetime) -> date:
    try:
        return local_date(at)
    except OverflowError:
        return at.date()


def subject(id_number: str, measure: str | None, at: datetime | None, unit: str) -> Subject:
    """A checked question, or InputError naming what is wrong with it."""
    return Subject(normalise_id(id_number), normalise_measure(measure, unit), instant(at))


def check_many(cur: Any, schema: str, subjects: list[Subject]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The answers to `subjects`, in order, and the log position behind all of them."""
    if len(subjects) > MAX_BATCH:
        raise InputError(f"at most {MAX_BATCH} subjects a batch, got {len(subjects)}")
    cur.execute(_CHECK_SQL.format(schema=schema), {
        "i": list(range(len(subjects))), "id": [q.id_number for q in subjects],
        "at": [q.at for q in subjects], "day": [_day(q.at) for q in subjects],
        "code": [q.measure for q in subjects]})
    rows, offsets, courts, repaired = cur.fetchone()
    found: list[list[Any]] = [[] for _ in subjects]
    for row in rows:
        found[row[0]].append(row[1:])
    repairs: list[list[dict[str, Any]]] = [[] for _ in subjects]
    for i, lid, on in repaired:
        repairs[i].append({"listing_id": lid, "decided_on": on})
    answers = []
    for q, mine, fixed in zip(subjects, found, repairs, strict=True):
        active = [ActiveMeasure(code=c, mode=mode, listing_id=lid, role=BoundRole(role),
                                id_number=q.id_number, suspended=susp, until=until)
                  for c, mode, lid, role, susp, until, _kept in mine]
        answers.append({
            "decision": decide(active, q.measure).value,
            "measures": [{"code": c, "mode": mode, "listing_id": lid, "role": role,
                          "suspended": susp, "until": until, "kept_until": kept}
                         for c, mode, lid, role, susp, until, kept in mine],
            "at": q.at.isoformat(),
            "credit_repairs": fixed,
        })
    return answers, {"offsets": offsets or {}, "court_seq": courts or {}}


def check(cur: Any, schema: str, id_number: str, measure: str | None = None,
          at: datetime | None = None, *, unit: str | None = None) -> dict[str, Any]:
    """One subject's answer with the position behind it. `unit` checks the measure code
    against the unit's own (callers that already checked it give a normalised code)."""
    q = (subject(id_number, measure, at, unit) if unit is not None
         else Subject(normalise_id(id_number), measure, instant(at)))
    [answer], position = check_many(cur, schema, [q])
    return {**answer, "position": position}


def listing(cur: Any, schema: str, listing_id: str) -> dict[str, Any] | None:
    cur.execute(
        f"SELECT l.state, l.concerned, l.expiry_acked,"
        f" (SELECT coalesce(json_agg(json_build_object('code', code, 'role', role,"
        " 'id_number', id_number, 'mode', mode, 'suspended', suspended, 'since', valid_from,"
        " 'until', until, 'kept_until', kept_until, 'reason', reason)), '[]')"
        f" FROM {schema}.measures m WHERE m.listing_id = l.listing_id AND m.valid_to IS NULL)"
        f" FROM {schema}.listings l WHERE l.listing_id = %s",
        (listing_id,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    state, concerned, expiry_acked, measures = row
    # The unit API is the unit's own: non-public listings still bind it, so they are
    # returned, flagged by `public: false` (policy: not published, still binding).
    return {"listing": state, "public": state.get("public", True), "concerned": concerned,
            "expiry_acknowledged": expiry_acked, "measures": measures}


def dead_letters(conn: db.Connection, schema: str) -> list[dict[str, Any]]:
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(
            f'SELECT id, topic, partition, "offset", kind, reason, at FROM {schema}.dead_letters'
            " ORDER BY id")
        return [
            {"id": i, "topic": t, "partition": p, "offset": o, "kind": k, "reason": r,
             "at": a.isoformat()}
            for i, t, p, o, k, r, a in uow.cursor.fetchall()
        ]
