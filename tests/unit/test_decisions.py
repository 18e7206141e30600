"""hub.domain.decisions: one test per error of court-decisions.md "Errors", plus the rules
the format states (offsets, dates, listing_id length, changes keys) and decision → event."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from hub.domain.decisions import (
    CorrectDecision,
    DecisionError,
    ListDecision,
    ShieldDecision,
    add_years,
    meta_for,
    parse_line,
    parse_lines,
    period_problem,
    to_event,
)
from hub.domain.events import (
    DebtorListed,
    Ground,
    ListingCorrected,
    ListingShielded,
    VerificationOpened,
    event_id_for,
)
from hub.domain.listing import TransitionError, check_decision

try:
    from tests.unit import builders as b
except ImportError:  # tests/ is not a package: pytest puts tests/unit on sys.path
    import builders as b  # type: ignore[no-redef]

pytestmark = pytest.mark.unit


def errors_of(data: dict | str) -> list[DecisionError]:
    text = data if isinstance(data, str) else b.line(data)
    decisions, errors = parse_lines([text])
    assert decisions == []
    assert errors, "expected the line to be rejected"
    return errors


def one_error(data: dict | str) -> DecisionError:
    with pytest.raises(DecisionError) as info:
        parse_line(data if isinstance(data, str) else b.line(data), 7)
    return info.value


def keys(errors: list[DecisionError]) -> set[str | None]:
    return {e.key for e in errors}


# --- valid input ---------------------------------------------------------------------------


def test_the_example_organisation_listing_parses():
    d = parse_line(b.line(b.list_data()), 1)
    assert isinstance(d, ListDecision)
    assert d.action == "list"
    assert d.court_code == b.COURT and d.listing_id == "L1"
    assert d.decided_at == b.T0 and d.decided_at.tzinfo is not None
    assert d.triggered_at is None
    assert d.subject.id_number == b.org_id()
    assert [r.role.value for r in d.related] == ["legal_representative", "director"]


def test_public_defaults_to_true_and_related_to_empty():
    d = b.decision(b.list_data(kind="person", drop=("public", "related")))
    assert d.public is True and d.related == []


def test_every_action_parses():
    for data in (
        b.shield_data(triggered_at=b.when(29)),
        b.revoke_data(note="錯列"),
        b.correct_data(),
        b.open_data(),
        b.close_data(outcome="upheld"),
    ):
        assert b.decision(data).action == data["action"]


def test_lowercase_x_check_character_is_normalised():
    pid = next(p for p in (b.person_id(s) for s in range(1, 200)) if p.endswith("X"))
    data = b.list_data(kind="person", subject={"kind": "person", "name": "張某",
                                               "id_number": pid.lower()})
    assert b.decision(data).subject.id_number == pid


# --- malformed JSON, unknown and missing keys ---------------------------------------------


def test_malformed_json_has_no_key():
    err = one_error('{"action": "list",')
    assert err.line == 7 and err.key is None
    assert "malformed JSON" in err.reason
    assert str(err).startswith("line 7: malformed JSON")


def test_a_json_value_that_is_not_an_object():
    assert one_error("[1, 2]").reason == "expected a JSON object"


def test_duplicate_key_is_an_error():
    text = b.line(b.shield_data())[:-1] + ', "reason": "creditor_request"}'
    err = one_error(text)
    assert (err.key, err.reason) == ("reason", "duplicate key")


def test_unknown_key_top_level():
    errs = errors_of(b.list_data(perod_end="2028-03-02"))
    assert [(e.key, e.reason) for e in errs] == [("perod_end", "unknown key")]


def test_unknown_key_in_subject_and_related():
    data = b.list_data()
    data["subject"]["sex"] = "M"
    data["related"][0]["title"] = "CEO"
    assert keys(errors_of(data)) == {"subject.sex", "related[0].title"}


def test_missing_key_top_level():
    err = one_error(b.list_data(drop=("case_no",)))
    assert (err.key, err.reason) == ("case_no", "missing key")


def test_missing_key_nested():
    data = b.list_data()
    del data["subject"]["name"]
    assert one_error(data).key == "subject.name"


def test_missing_period_end_key_even_for_ground_one():
    # period_end is "date or null": the key is required, null is its value for ground 1.
    data = b.list_data(ground="refuses_despite_ability", drop=("period_end",))
    assert (one_error(data).key, one_error(data).reason) == ("period_end", "missing key")


def test_missing_action_and_unknown_action():
    assert one_error(b.shield_data(drop=("action",))).key == "action"
    err = one_error(b.shield_data(action="delete"))
    assert err.key == "action" and "unknown action" in err.reason


def test_court_name_required_on_list_only():
    assert one_error(b.list_data(drop=("court_name",))).key == "court_name"
    assert b.decision(b.shield_data(court_name=b.COURT_NAME)).court_name == b.COURT_NAME


def test_strict_types_no_coercion():
    assert one_error(b.list_data(public="true")).key == "public"
    assert one_error(b.shield_data(listing_id=123)).key == "listing_id"
    assert one_error(b.list_data(performance="full")).key == "performance"
    assert one_error(b.shield_data(reason="paid")).key == "reason"


def test_blank_strings_are_errors():
    assert one_error(b.list_data(conduct="  ")).key == "conduct"


def test_listing_id_at_most_64_characters():
    assert b.decision(b.shield_data(listing_id="x" * 64)).listing_id == "x" * 64
    assert one_error(b.shield_data(listing_id="x" * 65)).key == "listing_id"


# --- times and dates -----------------------------------------------------------------------


def test_time_without_offset_is_an_error():
    err = one_error(b.shield_data(decided_at="2026-05-10T10:00:00"))
    assert err.key == "decided_at" and "offset" in err.reason


def test_time_with_z_offset_is_accepted():
    d = b.decision(b.shield_data(decided_at="2026-05-10T02:00:00Z"))
    assert d.decided_at == datetime(2026, 5, 10, 2, tzinfo=UTC)


def test_dates_must_be_yyyy_mm_dd_and_real():
    assert one_error(b.list_data(filed_on="2026-1-15")).key == "filed_on"
    assert one_error(b.list_data(filed_on="2026-01-15T00:00:00+08:00")).key == "filed_on"
    err = one_error(b.list_data(filed_on="2026-02-30"))
    assert (err.key, err.reason) == ("filed_on", "not a calendar date")


def test_triggered_at_after_decided_at_is_an_error():
    err = one_error(b.shield_data(decided_at=b.when(30), triggered_at=b.when(31)))
    assert err.key == "triggered_at"


# --- check characters -----------------------------------------------------------------------


def test_bad_check_character_person_subject():
    subject = b.subject_person()
    subject["id_number"] = b.bad_check(subject["id_number"])
    err = one_error(b.list_data(kind="person", subject=subject))
    assert err.key == "subject.id_number"
    expected = b.subject_person()["id_number"][-1]
    assert err.reason == f"bad check character (expected {expected!r})"
    assert str(err) == f"line 7: subject.id_number: bad check character (expected {expected!r})"


def test_bad_check_character_organisation_subject():
    subject = b.subject_org()
    subject["id_number"] = b.bad_check(subject["id_number"])
    err = one_error(b.list_data(subject=subject))
    assert err.key == "subject.id_number" and "bad check character" in err.reason


def test_organisation_subject_needs_a_uscc_not_a_resident_id():
    subject = b.subject_org()
    subject["id_number"] = b.person_id()
    assert one_error(b.list_data(subject=subject)).key == "subject.id_number"


def test_bad_check_character_related_person():
    data = b.list_data()
    data["related"][1]["id_number"] = b.bad_check(data["related"][1]["id_number"])
    err = one_error(data)
    assert err.key == "related[1].id_number" and "bad check character" in err.reason


# --- minors ---------------------------------------------------------------------------------


def test_a_minor_is_never_listed():
    subject = b.subject_person(birth=date(2008, 3, 3))  # 18 on 2026-03-03, one day late
    err = one_error(b.list_data(kind="person", subject=subject))
    assert err.key == "subject.id_number" and "minor" in err.reason


def test_a_minor_related_person_is_refused_too():
    data = b.list_data()  # an organisation with a legal representative and a director
    data["related"][0]["id_number"] = b.person_id(201, birth=date(2010, 5, 5))
    err = one_error(data)
    assert err.key == "related[0].id_number" and "related person is a minor on 2026-03-02" in err.reason


def test_a_birth_after_the_listing_date_is_named_so_not_minor():
    # born 2026-06-01 (in the past by the clock), listed 2026-03-02: not yet born then
    subject = b.subject_person(birth=date(2026, 6, 1))
    err = one_error(b.list_data(kind="person", subject=subject))
    assert err.key == "subject.id_number" and "minor" not in err.reason
    assert "born 2026-06-01, after the listing date 2026-03-02" in err.reason


def test_impossible_identities_are_refused_with_their_rule():
    future = b.list_data(kind="person", subject={"kind": "person", "name": "x",
                                                 "id_number": b.person_id(1, birth=date(2099, 1, 1))})
    assert "birth date 2099-01-01 is in the future" in one_error(future).reason
    from stdnum.cn import ric, uscc

    body = "350402189905010011"
    old = b.list_data(kind="person", subject={"kind": "person", "name": "x",
                                              "id_number": body[:17] + ric.calc_check_digit(body)})
    assert "before 1900" in one_error(old).reason

    body = "9135A402MA0000001"  # a letter in the division code (positions 3-8)
    org = b.list_data(subject={"kind": "organisation", "name": "x",
                               "id_number": body + uscc.calc_check_digit(body)})
    err = one_error(org)
    assert err.key == "subject.id_number" and "positions 3-8" in err.reason


def test_age_is_taken_on_the_local_date_of_decided_at():
    # 2026-03-01T17:00Z is 2026-03-02 01:00 in China: the person born 2008-03-02 is 18.
    subject = b.subject_person(birth=date(2008, 3, 2))
    data = b.list_data(kind="person", subject=subject, decided_at="2026-03-01T17:00:00Z",
                       period_end="2028-03-02")
    assert b.decision(data).subject.id_number == subject["id_number"]


# --- periods (Provisions art. 2) ------------------------------------------------------------


def test_period_must_be_null_for_refuses_despite_ability():
    err = one_error(b.list_data(ground="refuses_despite_ability"))
    assert err.key == "period_end" and "must be null" in err.reason
    ok = b.decision(b.list_data(ground="refuses_despite_ability", period_end=None))
    assert ok.period_end is None


def test_period_required_for_the_other_grounds():
    err = one_error(b.list_data(ground="obstructs_enforcement", period_end=None))
    assert err.key == "period_end" and "required" in err.reason


def test_period_too_short():
    err = one_error(b.list_data(period_end="2028-03-01"))
    assert err.key == "period_end" and "less than two years" in err.reason


def test_period_too_long():
    err = one_error(b.list_data(period_end="2031-03-03"))
    assert err.key == "period_end" and "more than five years" in err.reason


def test_period_bounds_are_inclusive():
    assert b.decision(b.list_data(period_end="2028-03-02")).period_end == date(2028, 3, 2)
    assert b.decision(b.list_data(period_end="2031-03-02")).period_end == date(2031, 3, 2)


def test_period_counts_from_the_local_date():
    # 2026-03-01T20:00Z is already 2026-03-02 in China.
    data = b.list_data(decided_at="2026-03-01T20:00:00Z", period_end="2028-03-02")
    assert b.decision(data).period_end == date(2028, 3, 2)


def test_period_rule_on_29_february():
    assert add_years(date(2028, 2, 29), 2) == date(2030, 2, 28)
    assert period_problem(Ground.refuses_settlement, date(2030, 2, 28), date(2028, 2, 29)) is None


# --- related persons ------------------------------------------------------------------------


def test_related_only_for_organisation_subjects():
    err = one_error(b.list_data(kind="person", related=[b.related()]))
    assert (err.key, err.reason) == ("related", "related persons only for organisation debtors")


def test_bad_related_role():
    assert one_error(b.list_data(related=[b.related(role="cfo")])).key == "related[0].role"


# --- correct.changes ------------------------------------------------------------------------


def test_correct_changes_must_not_be_empty():
    err = one_error(b.correct_data(changes={}))
    assert (err.key, err.reason) == ("changes", "no change given")


def test_correct_changes_only_allowed_keys():
    errs = errors_of(b.correct_data(changes={"ground": "refuses_settlement"}))
    assert [(e.key, e.reason) for e in errs] == [("changes.ground", "unknown key")]


def test_correct_changes_use_the_dotted_keys():
    d = b.decision(b.correct_data(changes={"subject.name": "張三", "public": False}))
    assert isinstance(d, CorrectDecision)
    assert d.changes.subject_name == "張三" and d.changes.public is False
    assert one_error(b.correct_data(changes={"subject_name": "張三"})).key == (
        "changes.subject_name"
    )


def test_correct_changes_null_is_not_a_change():
    err = one_error(b.correct_data(changes={"period_end": None}))
    assert err.key == "changes.period_end" and "null" in err.reason


def test_correct_related_check_characters():
    person = b.related()
    person["id_number"] = b.bad_check(person["id_number"])
    err = one_error(b.correct_data(changes={"related": [person]}))
    assert err.key == "changes.related[0].id_number"


def test_open_verification_objection_not_after_decision():
    err = one_error(b.open_data(decided_at=b.when(20), objection_received_on="2026-04-01"))
    assert err.key == "objection_received_on"


# --- whole files ----------------------------------------------------------------------------


def test_parse_lines_collects_every_bad_line_and_skips_blank_ones():
    lines = [
        b.line(b.list_data()),
        "",
        "{oops",
        "   ",
        b.line(b.list_data("L2", period_end="2027-01-01")),
        b.line(b.shield_data(decided_at="2026-05-10T10:00:00")),
        b.line(b.shield_data()),
    ]
    decisions, errors = parse_lines(lines)
    assert [d.action for d in decisions] == ["list", "shield"]
    assert [(e.line, e.key) for e in errors] == [
        (3, None),
        (5, "period_end"),
        (6, "decided_at"),
    ]


def test_parse_lines_reports_every_problem_of_a_line():
    data = b.list_data(extra=1, drop=("case_no",))
    data["related"][0]["id_number"] = b.bad_check(data["related"][0]["id_number"])
    _, errors = parse_lines([b.line(data)])
    assert keys(errors) == {"extra", "case_no", "related[0].id_number"}
    assert all(e.line == 1 for e in errors)


# --- reused decision_no ---------------------------------------------------------------------


def test_same_content_same_canonical_form():
    data = b.list_data()
    respelt = dict(data, decided_at="2026-03-02T01:30:00Z")  # the same instant
    respelt.pop("public")  # the default
    assert b.decision(data).canonical() == b.decision(respelt).canonical()
    assert json.loads(b.decision(data).canonical())["decision_no"] == data["decision_no"]


def test_reused_decision_no_with_different_content_differs():
    a = b.decision(b.list_data())
    changed = b.decision(b.list_data(obligation="償還借款人民幣300000元"))
    assert a.decision_no == changed.decision_no
    assert a.canonical() != changed.canonical()


# --- state-dependent errors (checked against the listing state) ----------------------------


def test_shielding_a_revoked_listing():
    state = b.state_of(b.list_data(), b.revoke_data(decided_at=b.when(10)))
    with pytest.raises(TransitionError, match="revoked"):
        check_decision(state, b.decision(b.shield_data(decided_at=b.when(11))))


def test_correcting_an_unknown_listing():
    with pytest.raises(TransitionError, match="unknown listing"):
        check_decision(None, b.decision(b.correct_data("NOPE")))


def test_opening_a_second_verification():
    state = b.state_of(b.list_data(), b.open_data(decided_at=b.when(5)))
    with pytest.raises(TransitionError, match="second verification"):
        check_decision(state, b.decision(b.open_data(decided_at=b.when(6))))


def test_check_decision_returns_the_provisional_state():
    state = b.state_of(b.list_data())
    after = check_decision(state, b.decision(b.shield_data()))
    assert after.status == "shielded" and state.status == "listed"


# --- decision → event -----------------------------------------------------------------------


def test_to_event_for_a_listing():
    d = b.decision(b.list_data())
    recorded = datetime(2026, 3, 2, 2, tzinfo=UTC)
    meta = meta_for(d, court_seq=1, prev_hash=bytes(32), recorded_at=recorded)
    event = to_event(d, meta)
    assert isinstance(event, DebtorListed)
    assert event.meta.event_id == event_id_for(b.COURT, d.decision_no)
    assert event.meta.decided_at == b.T0
    assert event.subject.id_number == b.org_id()
    assert [p.role.value for p in event.related] == ["legal_representative", "director"]
    assert event.period_end == date(2028, 3, 2)


def test_to_event_for_the_other_actions():
    for data, kind in (
        (b.shield_data(), ListingShielded),
        (b.correct_data(changes={"subject.id_number": b.org_id(2)}), ListingCorrected),
        (b.open_data(), VerificationOpened),
    ):
        assert isinstance(b.event(data), kind)
    corrected = b.event(b.correct_data(changes={"subject.id_number": b.org_id(2)}))
    assert corrected.changes.subject_id_number == b.org_id(2)
    assert corrected.changes.subject_name is None


def test_to_event_refuses_a_foreign_meta():
    d = b.decision(b.shield_data())
    other = b.decision(b.shield_data("L2"))
    meta = meta_for(other, court_seq=1, prev_hash=bytes(32), recorded_at=d.decided_at)
    with pytest.raises(ValueError, match="listing_id"):
        to_event(d, meta)


def test_event_id_is_deterministic():
    assert event_id_for("350402", "x") == event_id_for("350402", "x")
    assert event_id_for("350402", "x") != event_id_for("350403", "x")
    assert isinstance(b.decision(b.shield_data()), ShieldDecision)
