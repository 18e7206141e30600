"""Properties of the listing state machine over random decision sequences (hypothesis).

Random actions against a few listings are fed through `apply`, TransitionError caught:
whatever the sequence, no illegal state is reached, a revoked listing never changes, shielded
or revoked listings bind no measure for any unit, and a corrected ID number moves every
active measure to the new person.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hyp_event
from hypothesis import strategies as st

from hub.domain.catalogue import default_catalogue
from hub.domain.deadlines import CST, local_date
from hub.domain.decisions import DecisionError, listing_problems, meta_for, to_event
from hub.domain.events import RevokeReason, ShieldReason
from hub.domain.listing import ListingState, Status, TransitionError, Verification, apply
from hub.domain.punishment import measures_for

try:
    from tests.unit import builders as b
except ImportError:  # tests/ is not a package: pytest puts tests/unit on sys.path
    import builders as b  # type: ignore[no-redef]

pytestmark = pytest.mark.unit

UNITS = list(default_catalogue().units)
# every binding token (debtor, person-only, related, officers) and every mode
SOME_UNITS = ["organization-dept", "industry-commerce", "public-security", "pboc-sanming"]
# (listing_id, subject kind, ground): L3 has no fixed period.
LISTINGS = [
    ("L1", "organisation", "evades_enforcement"),
    ("L2", "person", "obstructs_enforcement"),
    ("L3", "organisation", "refuses_despite_ability"),
]
PERSON_IDS = [b.person_id(s) for s in (1, 2, 3)] + [b.person_id(9, birth=date(2015, 1, 1))]
ORG_IDS = [b.org_id(n) for n in (1, 2, 3)]
# weighted: corrections and verifications are where the interesting states are
ACTIONS = ["list", "shield", "revoke"] + ["correct"] * 4 + ["open"] * 3 + ["close"] * 3

step = st.tuples(
    st.sampled_from(ACTIONS),
    st.integers(0, len(LISTINGS) - 1),
    st.integers(0, 99),  # parameter: reason, outcome, kind of change…
    st.one_of(st.integers(-3, 40), st.integers(-3, 40), st.integers(300, 900)),  # days
)


def _decision_data(action: str, which: int, p: int, at: datetime) -> dict[str, Any]:
    lid, kind, ground = LISTINGS[which]
    stamp = at.isoformat()
    no = f"{lid}-{action}-{stamp}-{p}"
    if action == "list":
        extra: dict[str, Any] = {"ground": ground}
        if ground == "refuses_despite_ability":
            extra["period_end"] = None
        if kind == "person":
            extra["subject"] = b.subject_person(seq=1 + p % 3)
        return b.list_data(lid, kind=kind, decision_no=no, decided_at=stamp, **extra)
    if action == "shield":
        reason = list(ShieldReason)[p % len(ShieldReason)].value
        return b.shield_data(lid, reason, decision_no=no, decided_at=stamp)
    if action == "revoke":
        reason = list(RevokeReason)[p % len(RevokeReason)].value
        return b.revoke_data(lid, reason, decision_no=no, decided_at=stamp)
    if action == "open":
        return b.open_data(lid, decision_no=no, decided_at=stamp)
    if action == "close":
        outcome = "upheld" if p % 2 else "dismissed"
        return b.close_data(lid, outcome, decision_no=no, decided_at=stamp)
    # correct: identity (sometimes of the wrong kind or a minor), period, related, public
    choice = p % 5
    if choice == 0:
        pool = PERSON_IDS if p % 3 else ORG_IDS
        changes: dict[str, Any] = {"subject.id_number": pool[p % len(pool)]}
    elif choice == 1:
        changes = {"subject.id_number": (ORG_IDS if kind == "organisation" else PERSON_IDS)[
            p % 3]}
    elif choice == 2:
        changes = {"period_end": (date(2026, 3, 2) + timedelta(days=30 * p)).isoformat()}
    elif choice == 3:
        changes = {"related": [b.related("legal_representative", 100 + p % 4)][: p % 2]}
    else:
        changes = {"public": bool(p % 2), "obligation": f"義務{p}"}
    return b.correct_data(lid, changes, decision_no=no, decided_at=stamp)


def _assert_legal(s: ListingState) -> None:
    assert listing_problems(s.subject.kind, s.subject.id_number, s.related, s.ground,
                            s.period_end, local_date(s.listed_at)) == []
    assert s.last_decided_at >= s.listed_at
    if s.verification is not Verification.none:
        assert s.status is Status.listed
    assert (s.status is Status.revoked) == (s.revoke_reason is not None)
    if s.status is Status.shielded:
        assert s.shield_reason is not None


def _debtor_codes(s: ListingState, unit: str, id_number: str, at: datetime) -> set[str]:
    # codes only: a correction may also end an upheld objection's suspension
    return {m.code for m in measures_for(s, unit, at)
            if m.id_number == id_number and m.role == "debtor"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=5, max_size=30))
def test_random_decision_sequences_never_reach_an_illegal_state(steps):
    # every listing is listed first (the steps may list them again: an error)
    steps = [("list", i, 0, 0) for i in range(len(LISTINGS))] + steps
    states: dict[str, ListingState] = {}
    accepted: dict[str, int] = {}
    seq = 0
    clock = b.T0
    for action, which, p, days in steps:
        clock = clock + timedelta(days=days, minutes=1)
        data = _decision_data(action, which, p, clock)
        try:
            decision = b.decision(data)
        except DecisionError:
            continue
        lid = decision.listing_id
        before = states.get(lid)
        event = to_event(decision, meta_for(decision, court_seq=seq + 1, prev_hash=bytes(32),
                                            recorded_at=clock))
        try:
            after = apply(before, event)
        except TransitionError as e:
            assert e.rule and e.message
            hyp_event(f"rejected {action}")
            if before is not None and before.status is Status.revoked and action != "list":
                assert "revoked" in e.message  # void and final
            continue
        seq += 1
        hyp_event(f"accepted {action}")
        accepted[lid] = accepted.get(lid, 0) + 1
        states[lid] = after

        # revoked never changes (apply raised above); shield never returns to listed
        assert before is None or before.status is not Status.revoked
        if before is not None and before.status is Status.shielded:
            assert after.status is not Status.listed
        _assert_legal(after)
        assert after.decisions == accepted[lid]
        assert after.last_court_seq == seq

        if after.status is not Status.listed:  # shielded or revoked: nothing binds
            for unit in UNITS:
                assert measures_for(after, unit, clock) == []
        if after.under_verification:
            assert all(m.suspended for unit in SOME_UNITS for m in measures_for(after, unit, clock))

        old_id, new_id = (before.subject.id_number if before else None), after.subject.id_number
        if before is not None and old_id != new_id:
            # A corrected identity moves every active measure to the right subject.
            hyp_event("identity corrected")
            for unit in UNITS:
                moved = _debtor_codes(before, unit, old_id, clock)
                assert _debtor_codes(after, unit, new_id, clock) == moved
                assert _debtor_codes(after, unit, old_id, clock) == set()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(UNITS), st.integers(0, 3), st.sampled_from(["shield", "revoke"]),
       st.integers(0, 2000))
def test_after_shield_or_revoke_no_measure_is_active(unit, verifications, closing, later):
    datas = [b.list_data()]
    if verifications:
        datas.append(b.open_data())
    if verifications > 1:
        datas.append(b.close_data(outcome="upheld" if verifications == 3 else "dismissed"))
    datas.append((b.shield_data if closing == "shield" else b.revoke_data)(
        decided_at=b.when(30)))
    s = b.state_of(*datas)
    assert measures_for(s, unit, datetime(2026, 4, 1, tzinfo=CST) + timedelta(days=later)) == []
