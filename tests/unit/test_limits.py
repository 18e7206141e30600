"""The courts' statutory limits, event by event (`consumers.audit.limits`): in time, late,
overdue, pending, and "not assessable" when the log does not say when a limit started —
never taken as on time; each row cites its clause; incomplete calendars are said."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from consumers.audit.limits import Limits, court_summary
from hub.domain.deadlines import CST
from tests.unit.builders import (
    CourtLog,
    close_data,
    correct_data,
    list_data,
    open_data,
    revoke_data,
    shield_data,
    when,
)

pytestmark = pytest.mark.unit


def _rows(*datas: dict, today: date = date(2026, 12, 31)) -> list:  # type: ignore[type-arg]
    log, limits = CourtLog(), Limits()
    for d in datas:
        limits.add(log.add(d))
    return limits.rows(today)


def test_shield_revoke_correct_run_from_the_trigger() -> None:
    # 2026-03-02 is a Monday: 3 days (shield) and 3 working days (revoke, correct)
    rows = _rows(
        list_data("A", decided_at=when(0)), shield_data("A", decided_at=when(3), triggered_at=when(0)),
        list_data("B", decided_at=when(0)), shield_data("B", decided_at=when(6), triggered_at=when(0)),
        list_data("C", decided_at=when(0)), revoke_data("C", decided_at=when(2)),  # no trigger
        list_data("D", decided_at=when(0)),
        correct_data("D", {"obligation": "x"}, decided_at=when(3), triggered_at=when(0)),
    )
    by = {(r.listing_id, r.rule): r for r in rows}
    assert by["A", "shield"].status == "on_time" and by["A", "shield"].due == "2026-03-05"
    assert by["B", "shield"].status == "late"
    revoke = by["C", "revoke"]
    assert revoke.status == "not_assessable" and revoke.started_on is None and revoke.due is None
    assert by["D", "correct"].status == "on_time" and "四(二)2" in by["D", "correct"].clause
    assert all(r.clause and r.limit for r in rows)
    summary = court_summary(rows)[0]
    assert (summary["actions"], summary["on_time"], summary["late"], summary["not_assessable"]) == (4, 2, 1, 1)
    assert {i["listing_id"] for i in summary["items"]} == {"B", "C"}


def test_an_objection_is_reviewed_within_fifteen_days() -> None:
    opened = open_data("V", decided_at=when(20), objection_received_on="2026-03-20")
    rows = _rows(list_data("V", decided_at=when(0)), opened,
                 close_data("V", decided_at=when(40)))  # 2026-04-11: past 2026-04-04 (+ rest days)
    [review] = [r for r in rows if r.rule == "verification_review"]
    assert review.status == "late" and review.started_on == "2026-03-20" and "四(二)3" in review.clause
    rows = _rows(list_data("W", decided_at=when(0)), open_data("W", decided_at=when(20)),
                 close_data("W", decided_at=when(25)))
    assert [r.status for r in rows if r.rule == "verification_review"] == ["on_time"]


def test_an_objection_still_open_is_overdue_or_pending() -> None:
    datas = (list_data("X", decided_at=when(0)), open_data("X", decided_at=when(20)))
    # (and the debtor's own 10 days cannot be assessed: no service of the listing recorded)
    assert [(r.rule, r.status) for r in _rows(*datas, today=date(2026, 3, 24))] == [
        ("verification_review", "pending"), ("objection", "not_assessable")]
    assert [r.status for r in _rows(*datas, today=date(2026, 6, 1))
            if r.rule == "verification_review"] == ["overdue"]


def test_a_deadline_in_a_year_without_published_workdays_says_so() -> None:
    t = datetime(2099, 12, 28, 10, tzinfo=CST)  # far past any published holiday schedule
    log, limits = CourtLog(), Limits()
    limits.add(log.add(list_data("Y", decided_at=when(0))))
    limits.add(log.add(revoke_data("Y", decided_at=t.isoformat(), triggered_at=t.isoformat())))
    [row] = limits.rows(date(2100, 1, 31))
    assert row.calendar_complete is False and row.status == "on_time"
    assert limits.notes and "calendar incomplete" in next(iter(limits.notes))
