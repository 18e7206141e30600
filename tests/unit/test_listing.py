"""hub.domain.listing: one test per row of the lifecycle table (domain README) and one per
TransitionError."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.domain.deadlines import CST
from hub.domain.events import BoundRole, EventMeta
from hub.domain.listing import (
    ListingState,
    Status,
    TransitionError,
    Verification,
    apply,
    bound_persons,
    fold,
    status_at,
)

try:
    from tests.unit import builders as b
except ImportError:  # tests/ is not a package: pytest puts tests/unit on sys.path
    import builders as b  # type: ignore[no-redef]

pytestmark = pytest.mark.unit


def run(*datas: dict) -> tuple[b.CourtLog, ListingState]:
    log = b.CourtLog()
    state: ListingState | None = None
    for data in datas:
        state = apply(state, log.add(data))
    assert state is not None
    return log, state


def rejected(state: ListingState | None, data: dict, log: b.CourtLog | None = None) -> TransitionError:
    event = (log or b.CourtLog()).add(data)
    with pytest.raises(TransitionError) as info:
        apply(state, event)
    return info.value


# --- lifecycle rows -------------------------------------------------------------------------


def test_listed():
    log, s = run(b.list_data())
    e = log.events[0]
    assert s.status is Status.listed and s.verification is Verification.none
    assert not s.under_verification
    assert (s.listing_id, s.court_code, s.court_name) == ("L1", b.COURT, b.COURT_NAME)
    assert s.subject == e.subject and list(s.related) == e.related
    assert s.listed_at == s.last_decided_at == b.T0
    assert s.period_end == date(2028, 3, 2) and s.public is True
    assert (s.last_event_id, s.last_court_seq, s.decisions) == (e.meta.event_id, 1, 1)


def test_shielded():
    _, s = run(b.list_data(), b.shield_data(reason="settlement_performed"))
    assert s.status is Status.shielded and s.shield_reason == "settlement_performed"
    assert s.decisions == 2 and s.last_court_seq == 2


def test_shielded_at_the_end_of_the_period():
    _, s = run(b.list_data(), b.shield_data(reason="period_expired",
                                            decided_at="2028-03-03T10:00:00+08:00"))
    assert s.status is Status.shielded and s.shield_reason == "period_expired"


def test_revoked_from_listed_and_from_shielded():
    _, s = run(b.list_data(), b.revoke_data(note="錯列"))
    assert s.status is Status.revoked and s.revoke_reason == "wrongly_listed"
    _, s = run(b.list_data(), b.shield_data(decided_at=b.when(5)),
               b.revoke_data(decided_at=b.when(6)))
    assert s.status is Status.revoked and s.shield_reason == "obligation_performed"


def test_corrected_fields():
    _, s = run(b.list_data(), b.correct_data(changes={
        "obligation": "償還借款人民幣100000元", "performance": "partial", "conduct": "隱匿財產",
        "case_no": "(2026)閩0402執124號", "period_end": "2029-03-02", "public": False,
        "subject.name": "三明某某商貿有限公司"}))
    assert s.status is Status.listed
    assert (s.obligation, s.performance, s.conduct, s.case_no) == (
        "償還借款人民幣100000元", "partial", "隱匿財產", "(2026)閩0402執124號")
    assert s.period_end == date(2029, 3, 2) and s.public is False
    assert s.subject.name == "三明某某商貿有限公司" and s.subject.id_number == b.org_id()
    assert len(s.related) == 2  # unchanged


def test_corrected_identity_change():
    _, s = run(b.list_data(), b.correct_data(changes={
        "subject.id_number": b.org_id(2).lower(), "related": [b.related(seq=150)]}))
    assert s.subject.id_number == b.org_id(2)  # normalised
    assert [p.id_number for p in s.related] == [b.person_id(150)]


def test_corrected_while_shielded_stays_shielded():
    _, s = run(b.list_data(), b.shield_data(decided_at=b.when(5)),
               b.correct_data(decided_at=b.when(6)))
    assert s.status is Status.shielded


def test_verification_opened():
    _, s = run(b.list_data(), b.open_data())
    assert s.verification is Verification.open and s.under_verification
    assert s.status is Status.listed


def test_verification_closed_dismissed():
    _, s = run(b.list_data(), b.open_data(), b.close_data(outcome="dismissed"))
    assert s.verification is Verification.none and not s.under_verification


def test_verification_closed_upheld_stays_suspended_until_the_court_follows_up():
    _, s = run(b.list_data(), b.open_data(), b.close_data(outcome="upheld"))
    assert s.verification is Verification.upheld and s.under_verification
    _, corrected = run(b.list_data(), b.open_data(), b.close_data(outcome="upheld"),
                       b.correct_data(decided_at=b.when(26)))
    assert corrected.verification is Verification.none
    _, revoked = run(b.list_data(), b.open_data(), b.close_data(outcome="upheld"),
                     b.revoke_data("L1", "objection_upheld", decided_at=b.when(26)))
    assert revoked.verification is Verification.none and revoked.status is Status.revoked


def test_shield_clears_an_open_verification():
    _, s = run(b.list_data(), b.open_data(), b.shield_data(decided_at=b.when(21)))
    assert s.status is Status.shielded and s.verification is Verification.none


def test_correct_keeps_an_open_verification_open():
    _, s = run(b.list_data(), b.open_data(), b.correct_data(decided_at=b.when(21)))
    assert s.verification is Verification.open


def test_a_new_listing_of_the_same_debtor():
    log = b.CourtLog()
    states = fold([log.add(b.list_data("L1")), log.add(b.shield_data("L1")),
                   log.add(b.list_data("L2", decided_at=b.when(40)))])
    assert states["L1"].status is Status.shielded and states["L2"].status is Status.listed
    assert states["L1"].subject == states["L2"].subject


# --- TransitionError ------------------------------------------------------------------------


def test_listing_twice_is_refused():
    log, s = run(b.list_data())
    err = rejected(s, b.list_data(decision_no="another"), log)
    assert "already exists" in str(err) and "new listing_id" in err.rule


def test_anything_but_list_on_an_unknown_listing():
    for data in (b.shield_data(), b.revoke_data(), b.correct_data(), b.open_data(),
                 b.close_data()):
        err = rejected(None, data)
        assert "unknown listing" in err.message and err.key == "listing_id"


@pytest.mark.parametrize("data", [
    b.shield_data(decided_at=b.when(40)),
    b.revoke_data(decided_at=b.when(40)),
    b.correct_data(decided_at=b.when(40)),
    b.open_data(decided_at=b.when(40)),
    b.close_data(decided_at=b.when(40)),
], ids=["shield", "revoke", "correct", "open", "close"])
def test_nothing_follows_a_revoke(data):
    log, s = run(b.list_data(), b.revoke_data())
    err = rejected(s, data, log)
    assert "Provisions art. 11" in err.rule and "revoked" in err.message


def test_shielding_a_shielded_listing():
    log, s = run(b.list_data(), b.shield_data())
    err = rejected(s, b.shield_data(decided_at=b.when(31)), log)
    assert "already shielded" in err.message and "Provisions art. 10" in err.rule


def test_period_expired_needs_a_period_that_has_ended():
    log, s = run(b.list_data(ground="refuses_despite_ability", period_end=None))
    assert "no fixed period" in rejected(s, b.shield_data(reason="period_expired"), log).message
    log, s = run(b.list_data())
    err = rejected(s, b.shield_data(reason="period_expired",
                                    decided_at="2028-03-01T10:00:00+08:00"), log)
    assert "runs until 2028-03-02" in err.message


def test_correction_with_a_bad_check_character():
    log, s = run(b.list_data())
    err = rejected(s, b.correct_data(changes={"subject.id_number": b.bad_check(b.org_id(2))}), log)
    assert err.key == "changes.subject.id_number" and "bad check character" in err.message


def test_correction_to_a_resident_id_for_an_organisation():
    log, s = run(b.list_data())
    err = rejected(s, b.correct_data(changes={"subject.id_number": b.person_id(3)}), log)
    assert err.key == "changes.subject.id_number"


def test_correction_to_a_minor():
    log, s = run(b.list_data(kind="person"))
    minor = b.person_id(3, birth=date(2010, 1, 1))
    err = rejected(s, b.correct_data(changes={"subject.id_number": minor}), log)
    assert "minor" in err.message


def test_correction_of_the_period_is_checked_against_the_listing_day():
    log, s = run(b.list_data())
    err = rejected(s, b.correct_data(changes={"period_end": "2031-03-03"},
                                     decided_at=b.when(400)), log)
    assert err.key == "changes.period_end" and "more than five years" in err.message
    _, ok = run(b.list_data(), b.correct_data(changes={"period_end": "2031-03-02"},
                                              decided_at=b.when(400)))
    assert ok.period_end == date(2031, 3, 2)


def test_correction_adding_related_persons_to_a_person_debtor():
    log, s = run(b.list_data(kind="person"))
    err = rejected(s, b.correct_data(changes={"related": [b.related()]}), log)
    assert err.key == "changes.related"


def test_empty_correction_event():
    log, s = run(b.list_data())
    event = log.add(b.correct_data())
    empty = event.model_copy(update={"changes": event.changes.model_copy(
        update={"obligation": None})})
    with pytest.raises(TransitionError, match="must change something"):
        apply(s, empty)


def test_verification_on_a_shielded_listing():
    log, s = run(b.list_data(), b.shield_data(decided_at=b.when(10)))
    assert "nothing to verify" in rejected(s, b.open_data(), log).message


def test_second_verification_while_open_or_upheld():
    log, s = run(b.list_data(), b.open_data())
    assert "second verification" in rejected(s, b.open_data(decided_at=b.when(21)), log).message
    log, s = run(b.list_data(), b.open_data(), b.close_data(outcome="upheld"))
    err = rejected(s, b.open_data(decided_at=b.when(26)), log)
    assert "second verification" in err.message and "upheld" in err.message


def test_closing_without_an_open_verification():
    log, s = run(b.list_data())
    assert "no verification is open" in rejected(s, b.close_data(), log).message
    log, s = run(b.list_data(), b.open_data(), b.close_data())
    assert "no verification is open" in rejected(s, b.close_data(decided_at=b.when(26)),
                                                 log).message


def test_decisions_out_of_order():
    log, s = run(b.list_data(), b.shield_data(decided_at=b.when(30)))
    err = rejected(s, b.revoke_data(decided_at=b.when(29)), log)
    assert err.key == "decided_at" and "precedes" in err.message
    # the same instant is in order
    _, same = run(b.list_data(), b.correct_data(decided_at=b.when(0)))
    assert same.decisions == 2


def test_event_for_another_listing_or_court():
    log, s = run(b.list_data())
    assert rejected(s, b.shield_data("L2"), log).key == "listing_id"
    foreign = b.CourtLog("350403").add(b.shield_data())
    with pytest.raises(TransitionError) as info:
        apply(s, foreign)
    assert info.value.key == "court_code"


def test_an_invalid_listing_event_is_refused():
    event = b.event(b.list_data())
    bad = event.model_copy(update={"period_end": date(2027, 1, 1)})
    with pytest.raises(TransitionError, match="period_end"):
        apply(None, bad)


def test_state_rejects_naive_times():
    with pytest.raises(ValueError):
        EventMeta(event_id="e", listing_id="L", court_code="c", court_seq=1, decision_no="d",
                  decided_at=datetime(2026, 1, 1), recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
                  prev_hash=bytes(32))


# --- status_at, bound persons, fold ---------------------------------------------------------


def test_status_at_expires_the_day_after_period_end():
    _, s = run(b.list_data())  # period_end 2028-03-02
    assert status_at(s, datetime(2028, 3, 2, 23, 59, 59, tzinfo=CST)) == "listed"
    assert status_at(s, datetime(2028, 3, 3, 0, 0, tzinfo=CST)) == "expired"
    assert status_at(s, datetime(2028, 3, 2, 16, 0, tzinfo=UTC)) == "expired"  # 00:00 CST
    assert status_at(s, datetime(2028, 3, 2, 15, 59, tzinfo=UTC)) == "listed"


def test_status_at_without_a_period_never_expires():
    _, s = run(b.list_data(ground="refuses_despite_ability", period_end=None))
    assert status_at(s, datetime(2099, 1, 1, tzinfo=UTC)) == "listed"


def test_status_at_shielded_and_revoked():
    _, s = run(b.list_data(), b.shield_data())
    assert status_at(s, datetime(2026, 6, 1, tzinfo=UTC)) == "shielded"
    _, s = run(b.list_data(), b.revoke_data())
    assert status_at(s, datetime(2030, 6, 1, tzinfo=UTC)) == "revoked"


def test_status_at_needs_an_aware_time():
    _, s = run(b.list_data())
    with pytest.raises(ValueError):
        status_at(s, datetime(2026, 6, 1))


def test_bound_persons():
    _, s = run(b.list_data())
    assert bound_persons(s) == [
        (BoundRole.debtor, "三明某某貿易有限公司", b.org_id()),
        (BoundRole.legal_representative, "王某", b.person_id(101)),
        (BoundRole.director, "李某", b.person_id(102)),
    ]
    _, p = run(b.list_data(kind="person"))
    assert [x.role for x in bound_persons(p)] == [BoundRole.debtor]


def test_fold_over_several_listings():
    log = b.CourtLog()
    events = [log.add(d) for d in (b.list_data("L1"), b.list_data("L2", kind="person"),
                                   b.open_data("L2"), b.revoke_data("L1"))]
    states = fold(events)
    assert states["L1"].status is Status.revoked
    assert states["L2"].verification is Verification.open
    assert [e.meta.court_seq for e in events] == [1, 2, 3, 4]
