"""Due process (issue #21): service, reconsideration and the employer notice — what each may
follow in a listing's history (hub.domain.procedures, listing.apply), what the decision file
refuses on its own, and the limits the auditor assesses from them (consumers.audit.limits)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from consumers.audit.limits import Limits
from hub.domain.decisions import DecisionError, parse_line
from hub.domain.listing import ListingState, TransitionError, apply
from hub.domain.procedures import Procedures
from tests.unit.builders import (
    apply_reconsideration_data,
    close_data,
    decide_reconsideration_data,
    event,
    line,
    list_data,
    notify_employer_data,
    number_of,
    open_data,
    risk_notice_data,
    serve_data,
    when,
)

pytestmark = pytest.mark.unit


def _fold(*datas: dict[str, Any]) -> tuple[ListingState | None, Procedures]:
    """Apply and check every decision in order; raises the first TransitionError."""
    state: ListingState | None = None
    proc = Procedures("L1")
    for seq, data in enumerate(datas, 1):
        ev = event(data, seq)
        state = apply(state, ev)
        proc.check(ev)
        proc.add(ev)
    return state, proc


def _refused(*datas: dict[str, Any]) -> TransitionError:
    with pytest.raises(TransitionError) as info:
        _fold(*datas)
    return info.value


def test_a_decision_of_the_listing_is_served_once_after_it_is_made() -> None:
    state, proc = _fold(list_data(decided_at=when(0)), serve_data(served_on="2026-03-04"))
    assert proc.served_on == {number_of("L1", "list"): date(2026, 3, 4)}
    assert state is not None and state.decisions == 1  # the listing itself is unchanged
    e = _refused(list_data(decided_at=when(0)), serve_data(served="shield"))
    assert e.key == "served_decision_no" and "has no decision" in str(e)
    e = _refused(list_data(decided_at=when(0)), serve_data(served_on="2026-03-01"))
    assert e.key == "served_on" and "before the decision was made (2026-03-02)" in str(e)
    e = _refused(list_data(decided_at=when(0)), serve_data(),
                 serve_data(decision_no="second service", decided_at=when(4)))
    assert e.key == "served_decision_no" and "already served" in str(e)


def test_reconsideration_follows_a_dismissal_and_is_decided_once() -> None:
    base = [list_data(decided_at=when(0)), open_data(decided_at=when(5)),
            close_data(decided_at=when(10), outcome="dismissed")]
    _, proc = _fold(*base, apply_reconsideration_data(decided_at=when(15)),
                    decide_reconsideration_data(decided_at=when(25)))
    assert proc.pending is None and proc.reconsidered == {number_of("L1", "close_verification")}
    e = _refused(list_data(decided_at=when(0)), apply_reconsideration_data(decided_at=when(3)))
    assert e.key == "action" and "no dismissed objection" in str(e)
    e = _refused(base[0], base[1], close_data(decided_at=when(10), outcome="upheld"),
                 apply_reconsideration_data(decided_at=when(15)))
    assert "no dismissed objection" in str(e)
    e = _refused(*base, decide_reconsideration_data(decided_at=when(15)))
    assert e.key == "action" and "no reconsideration application is pending" in str(e)
    e = _refused(*base, apply_reconsideration_data(decided_at=when(15)),
                 apply_reconsideration_data(decision_no="again", decided_at=when(16)))
    assert "already pending" in str(e)
    e = _refused(*base, apply_reconsideration_data(decided_at=when(15), received_on="2026-03-10"))
    assert e.key == "received_on" and "before the dismissal" in str(e)
    e = _refused(*base, apply_reconsideration_data(decided_at=when(15), received_on="2026-03-16"),
                 decide_reconsideration_data(decided_at=when(13)))
    assert e.key == "decided_at"


def test_the_employer_is_notified_only_of_a_listing_not_published() -> None:
    _fold(list_data(decided_at=when(0), public=False), notify_employer_data(decided_at=when(2)))
    e = _refused(list_data(decided_at=when(0)), notify_employer_data(decided_at=when(2)))
    assert e.key == "action" and "is published" in str(e)
    e = _refused(list_data(decided_at=when(0), public=False),
                 notify_employer_data(decided_at=when(2), notified_on="2026-03-01"))
    assert e.key == "notified_on"
    e = _refused(list_data(decided_at=when(5), public=False),
                 notify_employer_data(decided_at=when(2)))
    assert e.key == "decided_at" and "precedes the listing" in str(e)


@pytest.mark.parametrize(("data", "key"), [
    (serve_data(decided_at=when(3), served_on="2026-03-06"), "served_on"),
    (serve_data(served_decision_no="(x)"), "served_decision_no"),
    (apply_reconsideration_data(decided_at=when(3), received_on="2026-03-09"), "received_on"),
    (notify_employer_data(decided_at=when(3), notified_on="2026-03-09"), "notified_on"),
    (decide_reconsideration_data(outcome="maybe"), "outcome"),
    (apply_reconsideration_data(drop=["higher_court"]), "higher_court"),
])
def test_the_decision_file_refuses_what_is_wrong_on_its_face(data: dict[str, Any], key: str) -> None:
    if key == "served_decision_no":
        data["served_decision_no"] = data["decision_no"]
    result = parse_line_errors(data)
    assert key in {e.key for e in result}, result


def parse_line_errors(data: dict[str, Any]) -> list[DecisionError]:
    try:
        parse_line(line(data), 7)
    except DecisionError as e:
        return [e]
    return []


def _limits(*datas: dict[str, Any], today: date = date(2026, 12, 31)) -> dict[str, str]:
    limits = Limits()
    for seq, data in enumerate(datas, 1):
        limits.add(event(data, seq))
    return {r.rule: r.status for r in limits.rows(today) if r.rule != "verification_review"}


def test_the_auditor_assesses_the_due_process_limits() -> None:
    listed = list_data(decided_at=when(0))
    # objection 5 days after service: on time; without a service: not assessable
    assert _limits(listed, serve_data(served_on="2026-03-03", decided_at=when(1)),
                   open_data(decided_at=when(6))) == {"objection": "on_time"}
    assert _limits(listed, open_data(decided_at=when(6))) == {"objection": "not_assessable"}
    assert _limits(listed, serve_data(served_on="2026-03-03", decided_at=when(1)),
                   open_data(decided_at=when(20))) == {"objection": "late"}
    # reconsideration: applied 12 days after the dismissal was served (late), decided in 10
    # days (on time); one never decided is overdue
    dismissed = [listed, open_data(decided_at=when(5)), close_data(decided_at=when(10))]
    served = serve_data(served="close_verification", served_on="2026-03-12", decided_at=when(10.1))
    got = _limits(*dismissed, served, apply_reconsideration_data(decided_at=when(22)),
                  decide_reconsideration_data(decided_at=when(32)))
    assert got == {"objection": "not_assessable", "reconsideration": "late",
                   "reconsideration_decision": "on_time"}
    got = _limits(*dismissed, served, apply_reconsideration_data(decided_at=when(14)))
    assert got["reconsideration"] == "on_time" and got["reconsideration_decision"] == "overdue"
    got = _limits(*dismissed, apply_reconsideration_data(decided_at=when(14)),
                  today=date(2026, 3, 17))
    assert got["reconsideration"] == "not_assessable"
    assert got["reconsideration_decision"] == "pending"


def test_the_risk_notice_precedes_the_listing_and_is_recorded_once() -> None:
    _, proc = _fold(list_data(decided_at=when(0)), risk_notice_data(issued_on="2026-02-20"))
    assert proc.risk_notice_on == date(2026, 2, 20)
    e = _refused(list_data(decided_at=when(0)), risk_notice_data(issued_on="2026-03-03",
                                                                decided_at=when(2)))
    assert e.key == "issued_on" and "precedes it" in str(e)
    e = _refused(list_data(decided_at=when(0)), risk_notice_data(),
                 risk_notice_data(decision_no="again", decided_at=when(1)))
    assert e.key == "action" and "already recorded" in str(e)
    limits = Limits()
    for seq, data in enumerate([list_data("A", decided_at=when(0)), risk_notice_data("A"),
                                list_data("B", decided_at=when(0))], 1):
        limits.add(event(data, seq))
    [court] = limits.risk_notices()
    assert (court["listings"], court["with_risk_notice"], court["without_risk_notice"]) == (2, 1, ["B"])
