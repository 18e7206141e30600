"""hub.domain.punishment: who each unit's measures bind, suspension, expiry, the
block/review/clear answer and the diff a unit acknowledges."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.domain.catalogue import default_catalogue
from hub.domain.deadlines import CST
from hub.domain.events import BoundRole, MeasureAction
from hub.domain.punishment import (
    ActiveMeasure,
    Verdict,
    concerns,
    concerns_any,
    decide,
    diff,
    measures_for,
    measures_for_person,
)

try:
    from tests.unit import builders as b
except ImportError:  # tests/ is not a package: pytest puts tests/unit on sys.path
    import builders as b  # type: ignore[no-redef]

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 10, tzinfo=CST)
LEGAL_REP = b.person_id(101)
DIRECTOR = b.person_id(102)


def bound(measures: list[ActiveMeasure]) -> set[tuple[str, str, str]]:
    return {(m.code, m.role.value, m.id_number) for m in measures}


# --- who is bound ---------------------------------------------------------------------------


def test_person_debtor_person_only_measures():
    s = b.state_of(b.list_data(kind="person"))
    pid = s.subject.id_number
    assert bound(measures_for(s, "organization-dept", NOW)) == {
        ("C1", "debtor", pid), ("C5", "debtor", pid), ("C6", "debtor", pid)}
    assert bound(measures_for(s, "establishment-office", NOW)) == {("C2", "debtor", pid)}


def test_organisation_debtor_related_but_not_officers_for_c1():
    s = b.state_of(b.list_data())
    # C1: person-only; for organisations, the related persons (not directors).
    assert bound(measures_for(s, "organization-dept", NOW)) == {
        ("C1", "legal_representative", LEGAL_REP)}
    assert measures_for(s, "establishment-office", NOW) == []


def test_organisation_debtor_related_and_officers():
    s = b.state_of(b.list_data())
    org = b.org_id()
    assert bound(measures_for(s, "industry-commerce", NOW)) == {
        ("A1", "debtor", org), ("C3", "debtor", org),
        ("D2", "debtor", org), ("D2", "director", DIRECTOR),
        ("J1", "debtor", org), ("J1", "legal_representative", LEGAL_REP),
        ("J1", "director", DIRECTOR)}


def test_measure_fields():
    s = b.state_of(b.list_data())
    m = next(m for m in measures_for(s, "public-security", NOW) if m.code == "H1")
    assert (m.mode, m.listing_id, m.role, m.suspended, m.until) == (
        "assist", "L1", BoundRole.debtor, False, date(2028, 3, 2))


def test_unit_object_and_catalogue_argument():
    s = b.state_of(b.list_data())
    cat = default_catalogue()
    assert measures_for(s, cat.unit("customs"), NOW, cat) == measures_for(s, "customs", NOW)


def test_concerns_regardless_of_status():
    person = b.state_of(b.list_data(kind="person"))
    org = b.state_of(b.list_data(), b.shield_data())
    assert concerns(person, "establishment-office")
    assert not concerns(org, "establishment-office")
    assert concerns(org, "organization-dept")  # via the legal representative
    assert measures_for(org, "organization-dept", NOW) == []


def test_concerns_any_considers_the_listing_before_a_correction():
    before = b.state_of(b.list_data())
    after = b.state_of(b.list_data(), b.correct_data(changes={"related": []}))
    assert not concerns(after, "organization-dept")
    assert concerns_any([before, after], "organization-dept")


# --- status: shield, revoke, expiry, suspension ---------------------------------------------


def test_shielded_and_revoked_bind_nothing():
    for closing in (b.shield_data(), b.revoke_data()):
        s = b.state_of(b.list_data(), closing)
        for slug in default_catalogue().units:
            assert measures_for(s, slug, NOW) == []


def test_expiry_at_the_period_end_boundary():
    s = b.state_of(b.list_data())  # period_end 2028-03-02
    assert measures_for(s, "customs", datetime(2028, 3, 2, 23, 59, 59, tzinfo=CST))
    assert measures_for(s, "customs", datetime(2028, 3, 3, 0, 0, tzinfo=CST)) == []
    assert measures_for(s, "customs", datetime(2028, 3, 2, 16, 0, tzinfo=UTC)) == []


def test_suspended_while_under_verification_and_after_an_upheld_objection():
    opened = b.state_of(b.list_data(), b.open_data())
    ms = measures_for(opened, "public-security", NOW)
    assert ms and all(m.suspended for m in ms)
    upheld = b.state_of(b.list_data(), b.open_data(), b.close_data(outcome="upheld"))
    assert all(m.suspended for m in measures_for(upheld, "public-security", NOW))
    dismissed = b.state_of(b.list_data(), b.open_data(), b.close_data())
    assert not any(m.suspended for m in measures_for(dismissed, "public-security", NOW))
    followed = b.state_of(b.list_data(), b.open_data(), b.close_data(outcome="upheld"),
                          b.correct_data(decided_at=b.when(26)))
    assert not any(m.suspended for m in measures_for(followed, "public-security", NOW))


# --- block / review / clear -----------------------------------------------------------------


def test_decide_block_review_clear():
    s = b.state_of(b.list_data())
    ps = measures_for(s, "public-security", NOW)
    assert decide(ps) is Verdict.block
    assert decide(ps, "H1") == "review"  # assist only
    assert decide(ps, "C1") == "clear"  # not a measure of this unit
    assert decide(measures_for(s, "pboc-sanming", NOW), "E3") == "review"
    assert decide([]) == "clear"


def test_decide_ignores_suspended_measures():
    s = b.state_of(b.list_data(), b.open_data())
    assert decide(measures_for(s, "public-security", NOW)) is Verdict.clear


def test_decide_only_block_if_the_block_measure_binds_the_person():
    s = b.state_of(b.list_data())
    director = measures_for_person([s], "industry-commerce", DIRECTOR, NOW)
    assert bound(director) == {("D2", "director", DIRECTOR), ("J1", "director", DIRECTOR)}
    assert decide(director) is Verdict.block
    rep = measures_for_person([s], "industry-commerce", LEGAL_REP, NOW)
    assert decide(rep) is Verdict.review  # J1 monitor only


def test_measures_for_person_over_several_listings():
    one = b.state_of(b.list_data("L1", kind="person"))
    two = b.state_of(b.list_data("L2", kind="person"))
    shielded = b.state_of(b.list_data("L3", kind="person"), b.shield_data("L3"))
    ms = measures_for_person([one, two, shielded], "establishment-office",
                             one.subject.id_number.lower(), NOW)
    assert sorted(m.listing_id for m in ms) == ["L1", "L2"]


# --- diff -----------------------------------------------------------------------------------


def actions(pairs: list[tuple[ActiveMeasure, MeasureAction]]) -> set[tuple[str, str, str]]:
    return {(m.code, m.id_number, a.value) for m, a in pairs}


def test_diff_listing_applies_and_shield_lifts():
    s = b.state_of(b.list_data(kind="person"))
    ms = measures_for(s, "organization-dept", NOW)
    pid = s.subject.id_number
    assert actions(diff([], ms)) == {(c, pid, "applied") for c in ("C1", "C5", "C6")}
    assert actions(diff(ms, [])) == {(c, pid, "lifted") for c in ("C1", "C5", "C6")}
    assert diff(ms, ms) == []


def test_diff_suspend_and_resume():
    listed = measures_for(b.state_of(b.list_data()), "customs", NOW)
    opened = measures_for(b.state_of(b.list_data(), b.open_data()), "customs", NOW)
    assert {a for _, a in diff(listed, opened)} == {MeasureAction.suspended}
    assert {a for _, a in diff(opened, listed)} == {MeasureAction.resumed}


def test_diff_on_an_identity_correction_moves_measures():
    before = b.state_of(b.list_data(kind="person"))
    new_id = b.person_id(7)
    after = b.state_of(b.list_data(kind="person"),
                       b.correct_data(changes={"subject.id_number": new_id}))
    old_id = before.subject.id_number
    pairs = diff(measures_for(before, "organization-dept", NOW),
                 measures_for(after, "organization-dept", NOW))
    assert actions(pairs) == {(c, old_id, "lifted") for c in ("C1", "C5", "C6")} | {
        (c, new_id, "applied") for c in ("C1", "C5", "C6")}
    assert [a for _, a in pairs][:3] == [MeasureAction.lifted] * 3  # lifts first


def test_diff_on_a_period_correction_reapplies_with_the_new_end():
    before = b.state_of(b.list_data())
    after = b.state_of(b.list_data(), b.correct_data(changes={"period_end": "2029-03-02"}))
    pairs = diff(measures_for(before, "customs", NOW), measures_for(after, "customs", NOW))
    assert pairs and all(a is MeasureAction.applied for _, a in pairs)
    assert {m.until for m, _ in pairs} == {date(2029, 3, 2)}
