"""producers.court.fastlist against the plain path (pydantic, `prepare._prepare`).

The one property: for ANY line, the fast path either declines (None), or the plain path
accepts the line and the fast path's `Prepared` is identical to the plain path's, field by
field (pre, mid, post, subject, content_hash, event_id, decided_at...). And whatever the
fast path does, `prepare_chunk` answers exactly what the plain path answers (the same
`Prepared`, or the same errors). Valid `list` lines of the usual shapes must take the fast
path (else it is pointless), and the submit's COPY rows must be `store.binary_row`'s."""

from __future__ import annotations

import json
import random
import string
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pydantic_core
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.court import decisions as bench_decisions
from hub.domain.deadlines import CST
from hub.domain.events import EVENT_ID_NAMESPACE, Ground, Performance, Role, event_id_for
from hub.domain.identity import USCC_TYPES, IdentityError, check_uscc, make_resident_id, make_uscc
from hub.domain.rules import add_years
from producers.court import copytext, fastlist, store
from producers.court.prepare import Prepared, prepare_chunk, slow_prepare
from tests.support import make_decisions

pytestmark = pytest.mark.unit


def agree(text: str, line: int = 7) -> bool:
    """Assert the property on one line; True if the fast path took it."""
    fast = fastlist.prepare_list(text)
    slow = slow_prepare(text, line)
    if fast is not None:
        assert isinstance(slow, Prepared), f"fast path accepted a line the plain path refuses: {slow}"
        got = Prepared(line, *fast)
        for name in Prepared._fields:
            assert getattr(got, name) == getattr(slow, name), f"{name} differs for {text!r}"
        assert type(got.decided_at) is type(slow.decided_at)
        assert got.decided_at.tzinfo == slow.decided_at.tzinfo
    out, errors = prepare_chunk([(line, text)])
    if isinstance(slow, list):
        assert (out, errors) == ([], slow)
    else:
        assert (out, errors) == ([slow], [])
    return fast is not None


def line_of(data: Any, **dumps: Any) -> str:
    return json.dumps(data, ensure_ascii=False, **dumps)


# --------------------------------------------------------------------- realistic input


def test_bench_lines_take_the_fast_path_and_agree() -> None:
    for i, text in enumerate(bench_decisions(1500), start=1):
        assert agree(text, i)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_generated_files_agree(seed: int) -> None:
    fast = 0
    for i, d in enumerate(make_decisions(400, seed=seed, courts=("350402", "350403", "350481")),
                          start=1):
        took = agree(line_of(d), i)
        assert took == (d["action"] == "list"), d  # every valid list line, and only those
        fast += took
    assert fast == 400


def test_a_chunk_mixes_both_paths_like_the_plain_path() -> None:
    docs = make_decisions(300, seed=9)
    chunk = [(i, line_of(d)) for i, d in enumerate(docs, start=1)] + [(len(docs) + 1, "  ")]
    out, errors = prepare_chunk(chunk)
    assert errors == []
    assert out == [slow_prepare(t, i) for i, t in chunk if t.strip()]


# ------------------------------------------------------------------------- hypothesis

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# JSON escapes (\" \\ \/ \t \n \r \b \f), colons, non-ASCII, astral, a separator json.dumps
# leaves raw; control characters json.dumps spells \u00XX are rarer (the fast path declines).
NASTY = "\"\\/:\t\n\r\b\f\x7f é中文𠀀\u2028\u3000{}[],"
_nonblank = st.builds(
    lambda a, b: a + b, st.sampled_from(list("A中\"\\:é𠀀")),
    st.text(alphabet=st.sampled_from(list(NASTY) + list(string.ascii_letters)), max_size=10),
)
texts = st.one_of(
    st.sampled_from(["三明市三元區人民法院", "王某", "A", "x:y", " padded ", "O'Brien"]),
    _nonblank,
    st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=8)
    .filter(str.strip),
)
TEXT_KEYS = ("decision_no", "court_name", "case_no", "basis_authority", "basis_doc_no",
             "obligation", "conduct", "listing_id")
offsets = st.one_of(
    st.just("Z"),
    st.builds(lambda h, m, sign: f"{sign}{h:02d}:{m:02d}", st.integers(0, 14),
              st.sampled_from([0, 30, 45]), st.sampled_from("+-")),
)


@st.composite
def times(draw: st.DrawFn) -> tuple[str, datetime]:
    t = draw(st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2040, 12, 31)))
    if draw(st.integers(0, 3)) > 0:
        t = t.replace(microsecond=0)
    off = draw(offsets)
    spec = "microseconds" if t.microsecond else draw(st.sampled_from(["seconds", "minutes"]))
    text = t.isoformat(timespec=spec) + off
    if off == "Z":
        tz = UTC
    else:
        sign = -1 if off[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(off[1:3]), minutes=int(off[4:6])))
    return text, t.replace(tzinfo=tz)


@st.composite
def person_ids(draw: st.DrawFn, adult_on: date | None = None) -> str:
    birth = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)))
    if adult_on is not None and draw(st.integers(0, 9)) > 0:
        birth = min(birth, add_years(adult_on, -18) - timedelta(days=1))
    number = make_resident_id(draw(st.sampled_from(["350402", "110101"])), birth,
                              draw(st.integers(0, 999)))
    r = draw(st.integers(0, 29))
    if r == 0:
        number = number[:-1] + ("0" if number[-1] != "0" else "1")  # bad check character
    elif r == 1:
        number = number.lower() if number.endswith("X") else " " + number
    return number


@st.composite
def gb32100_bodies(draw: st.DrawFn) -> str:
    """17 characters with an authority, one of its types and a division code (GB 32100)."""
    authority = draw(st.sampled_from(sorted(USCC_TYPES)))
    return (authority + draw(st.sampled_from(USCC_TYPES[authority]))
            + draw(st.text(alphabet="0123456789", min_size=6, max_size=6))
            + draw(st.text(alphabet=USCC_ALPHABET, min_size=9, max_size=9)))


@st.composite
def list_lines(draw: st.DrawFn) -> str:
    decided_text, decided = draw(times())
    on = decided.astimezone(CST).date()
    ground = draw(st.sampled_from([g.value for g in Ground]))
    period: Any = None
    if ground != Ground.refuses_despite_ability.value or draw(st.integers(0, 9)) == 0:
        years = draw(st.sampled_from([2, 2, 3, 4, 5, 5, 1, 6]))
        shift = draw(st.sampled_from([0, 0, 0, 0, -1, 1] if years in (2, 5) else [0, -1, 1]))
        period = (add_years(on, years) + timedelta(days=shift)).isoformat()
    kind = draw(st.sampled_from(["person", "organisation"]))
    if kind == "person":
        id_number = draw(person_ids(adult_on=on))
    else:
        if draw(st.integers(0, 9)) == 0:  # any body: mostly refused (authority, type, division)
            body = "".join(draw(st.lists(st.sampled_from(USCC_ALPHABET), min_size=17, max_size=17)))
        else:
            body = draw(gb32100_bodies())
        id_number = make_uscc(body)
        if draw(st.integers(0, 19)) == 0:
            id_number = id_number.lower()
    data: dict[str, Any] = {
        "action": "list",
        "decision_no": draw(texts),
        "court_code": draw(st.sampled_from(["350402", "350403", "A:B"])),
        "court_name": draw(texts),
        "listing_id": draw(texts),
        "decided_at": decided_text,
        "case_no": draw(texts),
        "filed_on": draw(st.dates(min_value=date(1990, 1, 1))).isoformat(),
        "basis_authority": draw(texts),
        "basis_doc_no": draw(texts),
        "obligation": draw(texts),
        "performance": draw(st.sampled_from([p.value for p in Performance])),
        "ground": ground,
        "conduct": draw(texts),
        "period_end": period,
        "subject": {"kind": kind, "name": draw(texts), "id_number": id_number},
    }
    if draw(st.booleans()):
        data["public"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        t_text, t = draw(times())
        data["triggered_at"] = t_text if draw(st.booleans()) else None
    elif draw(st.integers(0, 3)) == 0:
        data["triggered_at"] = (decided - timedelta(hours=draw(st.integers(-2, 200)))).isoformat()
    if kind == "organisation" or draw(st.integers(0, 9)) == 0:
        roles = draw(st.lists(st.sampled_from([r.value for r in Role]), max_size=4))
        related = [{"role": r, "name": draw(texts), "id_number": draw(person_ids(adult_on=on))}
                   for r in roles]
        if related or draw(st.booleans()):
            data["related"] = related
    spoil = draw(st.sampled_from([99] * 12 + list(range(len(TEXT_KEYS) + 1))))
    if spoil < len(TEXT_KEYS):  # now and then, one text blank or (listing_id) too long
        data[TEXT_KEYS[spoil]] = draw(st.one_of(st.sampled_from(["", " ", "\u3000"]),
                                                st.text(max_size=4)))  # blank, \x01...
    elif spoil == len(TEXT_KEYS):
        data["listing_id"] = draw(st.text(alphabet="L中𠀀", min_size=63, max_size=66))
    items = list(data.items())
    if draw(st.booleans()):
        items = draw(st.permutations(items))
    compact = draw(st.booleans())
    return json.dumps(dict(items), ensure_ascii=draw(st.integers(0, 9)) == 0,
                      separators=(",", ":") if compact else None)


@settings(max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(list_lines())
def test_varied_list_lines_agree(text: str) -> None:
    agree(text)


def test_varied_valid_lines_mostly_take_the_fast_path() -> None:
    """The generator above reaches the fast path (not only refusals and fallbacks)."""
    took = []

    @settings(max_examples=600, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(list_lines())
    def run(text: str) -> None:
        took.append(agree(text))

    run()
    assert sum(took) > len(took) // 5  # about a third, in practice


# ------------------------------------------------------------------ lines to decline


def base() -> dict[str, Any]:
    return json.loads(bench_decisions(2)[0])  # an organisation with a representative


def person() -> dict[str, Any]:
    return json.loads(bench_decisions(2)[1])


def mutated(**changes: Any) -> str:
    d = base()
    for k, v in changes.items():
        if v is KeyError:
            d.pop(k)
        else:
            d[k] = v
    return line_of(d)


def raw_duplicate(text: str, key: str, value: str) -> str:
    return text.replace(f'"{key}": ', f'"{key}": {value}, "{key}": ', 1)


DECLINED = {
    "malformed": '{"action": "list", ',
    "not an object": "[1, 2]",
    "BOM": "\ufeff" + line_of(base()),
    "NaN": mutated(public=float("nan")),
    "unknown key": mutated(note="x"),
    "missing key": mutated(conduct=KeyError),
    "missing period_end": mutated(period_end=KeyError),
    "public null": mutated(public=None),
    "public 1": mutated(public=1),
    "related null": mutated(related=None),
    "related not a list": mutated(related={"role": "director"}),
    "blank name": mutated(court_name="   "),
    "ideographic space only": mutated(conduct="\u3000"),
    "not a string": mutated(case_no=12),
    "listing_id 65": mutated(listing_id="中" * 65),
    "bad ground": mutated(ground="Evades_enforcement"),
    "bad performance": mutated(performance=None),
    "bad date": mutated(filed_on="2026-02-30"),
    "date format": mutated(filed_on="2026-1-15"),
    "time without offset": mutated(decided_at="2026-03-02T09:30:00"),
    "time offset 24h": mutated(decided_at="2026-03-02T09:30:00+24:00"),
    "triggered after decided": mutated(triggered_at="2026-03-03T09:30:00+08:00"),
    "period too short": mutated(period_end="2027-03-02"),
    "period for ground 1": mutated(ground="refuses_despite_ability"),
    "subject extra key": mutated(subject={**base()["subject"], "x": 1}),
    "subject bad kind": mutated(subject={**base()["subject"], "kind": "company"}),
    "bad USCC": mutated(subject={**base()["subject"], "id_number": "91350402MA0000000A"}),
    "related bad role": mutated(related=[{**base()["related"][0], "role": "boss"}]),
    "related bad id": mutated(related=[{**base()["related"][0], "id_number": "1" * 18}]),
    "related missing key": mutated(related=[{"role": "director", "name": "王某"}]),
    "action shield": mutated(action="shield"),
    "action unknown": mutated(action="List"),
    "escaped text": mutated(court_name="A\u0000B").replace("\\u0000", "\\u0041"),
}


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_unusual_or_invalid_lines_take_the_plain_path(name: str) -> None:
    text = DECLINED[name]
    assert fastlist.prepare_list(text) is None
    agree(text)


def test_person_variants() -> None:
    p = person()
    minor = make_resident_id("350402", date(2010, 1, 1), 5)
    for changes in ({"related": [base()["related"][0]]},
                    {"subject": {**p["subject"], "id_number": minor}},
                    {"subject": {**p["subject"], "id_number": p["subject"]["id_number"][:-1] + "0"}}):
        text = line_of({**p, **changes})
        assert fastlist.prepare_list(text) is None
        agree(text)
    assert agree(line_of({k: v for k, v in p.items() if k != "related"}))


@pytest.mark.parametrize("where", ["top", "subject", "related"])
def test_duplicate_keys_are_the_plain_paths_error(where: str) -> None:
    text = line_of(base())
    if where == "top":
        text = raw_duplicate(text, "conduct", '"x"')
    elif where == "subject":
        text = text.replace('"kind": "organisation"', '"kind": "person", "kind": "organisation"')
    else:
        text = text.replace('"role": "legal_representative"',
                            '"role": "director", "role": "legal_representative"')
    assert fastlist.prepare_list(text) is None
    assert not agree(text)
    errors = slow_prepare(text, 7)
    assert isinstance(errors, list) and errors[0][2] == "duplicate key"


def test_a_duplicate_key_hidden_by_an_escaped_colon_is_declined() -> None:
    # One member too many, and one colon spelled \u003a: the colon count alone would match.
    text = raw_duplicate(line_of(base()), "conduct", '"x"').replace("T09:30", "T09\\u003a30", 1)
    assert fastlist.prepare_list(text) is None
    agree(text)


def test_escapes_other_than_u_take_the_fast_path() -> None:
    d = base()
    d["court_name"] = 'a "quoted" \\ back\\slash / tab\t nl\n 中文 𠀀 \x7f'
    d["subject"]["name"] = "x:y"
    assert agree(line_of(d))


@pytest.mark.parametrize("ground", [g.value for g in Ground])
@pytest.mark.parametrize("performance", [p.value for p in Performance])
def test_every_enum_symbol(ground: str, performance: str) -> None:
    d = base()
    d.update(ground=ground, performance=performance,
             related=[{"role": r.value, "name": f"N{i}", "id_number": make_resident_id(
                 "350402", date(1970, 1, 1), i)} for i, r in enumerate(Role)])
    if ground == Ground.refuses_despite_ability.value:
        d["period_end"] = None
    assert agree(line_of(d))
    d["subject"] = person()["subject"]
    d.pop("related")
    assert agree(line_of(d))


def test_a_fast_path_that_diverges_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fastlist.prepare_list

    def wrong(text: str) -> Any:
        fast = real(text)
        if fast is None:
            return None
        return (*fast[:-1], fast[-1] + " ")  # the subject's name

    monkeypatch.setattr("producers.court.prepare.prepare_list", wrong)
    with pytest.raises(RuntimeError, match="disagrees"):
        prepare_chunk([(1, bench_decisions(1)[0])])


# ------------------------------------------------------------------------- COPY rows

copy_values = st.text(alphabet=st.sampled_from(list("\\\t\n\r ab中\"")), max_size=10)


@settings(max_examples=300, deadline=None)
@given(copy_values, copy_values, copy_values, st.integers(1, 10**12), st.binary(max_size=40))
def test_copy_rows_are_store_binary_rows(code: str, lid: str, no: str, seq: int,
                                         blob: bytes) -> None:
    rng = random.Random(seq)
    decided = datetime(2026, 3, 2, 1, 30, rng.choice([0, 7]), rng.choice([0, 5]),
                       tzinfo=rng.choice([UTC, timezone(timedelta(hours=8))]))
    recorded = datetime.now(UTC)
    eid = "6f1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31"
    f = store.binary_field
    code_f, lid_f, eid_f = f(code), f(lid), f(eid)
    assert copytext.decision_line(
        code_f, no, lid_f, f("list"), f(decided), seq, eid_f, blob, f(recorded),
    ) == store.binary_row((code, no, lid, "list", decided, seq, eid, blob, recorded))
    prefix = copytext.outbox_prefix(code_f, seq, eid_f, lid_f)
    assert copytext.outbox_line(prefix, blob, blob[::-1], f(no)) == (
        store.binary_row((code, seq, eid, lid, blob, blob[::-1], no)))
    assert copytext.listing_line(lid, code_f, no.encode(), f(recorded), lid, no) == (
        store.binary_row((lid, code, no.encode(), recorded, lid, no)))
    assert copytext.listing_line(lid, code_f, None, f(recorded), no, lid) == (
        store.binary_row((lid, code, None, recorded, no, lid)))
    assert copytext.new_listing_line(copytext.text_field(lid), code_f, f(recorded),
                                     copytext.subject_fields(no, code)) == (
        store.binary_row((lid, code, None, recorded, no, code)))
    assert copytext.text_field(lid) == f(lid)


# ------------------------------------------------------------ the fast path's helpers


@settings(max_examples=3000, deadline=None)
@given(st.one_of(
    st.builds(lambda b: make_uscc(b), gb32100_bodies()),
    st.builds(lambda b: make_uscc(b), st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)),
    st.text(alphabet=USCC_ALPHABET + "abcIOSZ -\u2013 \x00\x05\x1e", min_size=16, max_size=20),
), st.integers(0, 3))
def test_uscc_check_is_check_uscc(number: str, spoil: int) -> None:
    if spoil == 1:
        number = number.lower()
    elif spoil == 2:
        number = f" {number} "
    elif spoil == 3:
        number = number[:-1] + USCC_ALPHABET[(USCC_ALPHABET.find(number[-1]) + 1) % 31]
    try:
        expected: str | None = check_uscc(number)
    except IdentityError:
        expected = None
    assert fastlist._uscc(number) == expected


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=6), st.text(max_size=30))
def test_event_id_is_uuid5(court_code: str, decision_no: str) -> None:
    try:
        expected = event_id_for(court_code, decision_no)
    except UnicodeEncodeError:  # lone surrogates: the fast path never sees them (orjson)
        return
    assert expected == str(uuid.uuid5(EVENT_ID_NAMESPACE, f"{court_code}/{decision_no}"))


# --------------------------------------------- the equivalences fastlist's doc relies on


def test_orjson_refuses_whatever_json_loads_refuses() -> None:
    odd = [chr(c) for c in [*range(0x30), 0x85, 0xA0, 0x2028, 0x3000, 0xFEFF]]
    shapes = ['{%s"a":1}', '{"a"%s:1}', '{"a":1%s}', '%s{"a":1}', '{"a":1}%s', '{"a":[1%s,2]}',
              '{"a":"x%sy"}', '{"a":t%srue}']
    texts = [shape % c for shape in shapes for c in odd] + [
        '{"a":01}', '{"a":+1}', '{"a":1,}', '{"a":1}//', '{"a":True}', '{"a":.5}', '{"a":1.}',
        '{"a":"\\x41"}', '{"a":-}', '{"a":1e}', '{"a":"a\\"}', "{'a':1}", '{"a":1}{}',
    ]
    for text in texts:
        try:
            json.loads(text)
        except ValueError:
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(text)


def test_the_three_json_writers_escape_alike() -> None:
    for c in [*range(0x80), 0x7F, 0x80, 0x9F, 0xA0, 0x2028, 0x2029, 0xFEFF, 0xFFFF, 0x10FFFF]:
        s = f'a{chr(c)}"\\b'
        assert json.dumps(s, ensure_ascii=False) == orjson.dumps(s).decode() \
            == pydantic_core.to_json(s).decode()


def test_the_workers_tuples_are_the_prepared_lines_own() -> None:
    """`prepare_lines` (what workers send) builds a fast-path line's tuple directly: the
    same tuple as `item` of `prepare_chunk`'s `Prepared`, for both paths and any chunk."""
    from producers.court.prepare import item, prepare_lines

    texts = [line_of(d) for d in make_decisions(120, seed=4)] + bench_decisions(30)
    got = prepare_lines((5, texts))
    want = prepare_chunk(list(enumerate(texts, start=5)))
    assert got == ([item(p) for p in want[0]], want[1]) and got[0]
