"""Working days and statutory time limits (policy 四(二)2–4, 7; Provisions art. 10, 12)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.domain.deadlines import (
    CST,
    RULES,
    Deadline,
    add_days,
    add_working_days,
    calendar_known,
    deadline_for,
    is_late,
    is_working_day,
    local_date,
    working_days_between,
)

pytestmark = pytest.mark.unit


def test_national_day_is_not_a_working_day() -> None:
    assert not is_working_day(date(2026, 10, 1))
    assert not is_working_day(date(2026, 10, 7))  # day off moved from Saturday 10 October


def test_adjusted_working_weekends_2026() -> None:
    # State Council notice for 2026: Sunday 20 Sep and Saturday 10 Oct are working days.
    assert date(2026, 9, 20).weekday() == 6
    assert is_working_day(date(2026, 9, 20))
    assert date(2026, 10, 10).weekday() == 5
    assert is_working_day(date(2026, 10, 10))
    assert not is_working_day(date(2026, 10, 11))  # an ordinary Sunday


def test_three_working_days_across_national_day_week() -> None:
    deadline = add_working_days(date(2026, 9, 30), 3)
    # 1–7 Oct off; Thu 8, Fri 9, Sat 10 (adjusted working day).
    assert deadline == Deadline(
        due=date(2026, 10, 10),
        working_days=True,
        calendar_complete=True,
        note="3 working days after 2026-09-30",
    )
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert working_days_between(date(2026, 10, 10), date(2026, 10, 1)) == 0


def test_counting_starts_the_day_after() -> None:
    assert add_working_days(date(2026, 3, 2), 1).due == date(2026, 3, 3)  # Mon -> Tue
    assert add_working_days(date(2026, 3, 6), 1).due == date(2026, 3, 9)  # Fri -> Mon
    assert add_working_days(date(2026, 3, 6), 0).due == date(2026, 3, 6)


def test_calendar_known() -> None:
    assert calendar_known(2026)
    assert calendar_known(2001)
    assert not calendar_known(2099)


def test_unpublished_year_says_calendar_incomplete() -> None:
    deadline = add_working_days(date(2099, 3, 2), 3)
    assert not deadline.calendar_complete
    assert "2099" in deadline.note and "not yet published" in deadline.note
    assert deadline.due == date(2099, 3, 5)


def test_year_without_any_data_falls_back_to_weekends_only() -> None:
    deadline = add_working_days(date(2101, 1, 1), 3)  # Saturday
    assert deadline.due == date(2101, 1, 5)  # Mon 3, Tue 4, Wed 5: no holidays known
    assert not deadline.calendar_complete
    assert "Monday to Friday only" in deadline.note


def test_calendar_days_roll_past_rest_days() -> None:
    # Civil Procedure Law art. 85: a period ending on a rest day ends on the next working day.
    assert add_days(date(2026, 9, 28), 3).due == date(2026, 10, 8)
    assert add_days(date(2026, 9, 28), 3, roll_forward=False).due == date(2026, 10, 1)
    plain = add_days(date(2026, 3, 2), 3)
    assert plain == Deadline(date(2026, 3, 5), False, True, "3 days after 2026-03-02")


@pytest.mark.parametrize(
    ("kind", "start", "due"),
    [
        ("revoke", date(2026, 9, 30), date(2026, 10, 10)),
        ("correct", date(2026, 3, 6), date(2026, 3, 11)),
        ("shield", date(2026, 3, 2), date(2026, 3, 5)),
        ("shield_period_expired", date(2026, 3, 6), date(2026, 3, 11)),
        ("objection", date(2026, 3, 2), date(2026, 3, 12)),
        ("verification_review", date(2026, 3, 2), date(2026, 3, 17)),
        ("reconsideration", date(2026, 3, 2), date(2026, 3, 12)),
        ("reconsideration_decision", date(2026, 3, 2), date(2026, 3, 17)),
        ("republish_delete", date(2026, 3, 6), date(2026, 3, 11)),
    ],
)
def test_deadline_for(kind: str, start: date, due: date) -> None:
    deadline = deadline_for(kind, start)
    assert deadline.due == due
    assert deadline.working_days is RULES[kind].working_days
    assert RULES[kind].citation in deadline.note


def test_is_late() -> None:
    assert not is_late("revoke", date(2026, 9, 30), date(2026, 10, 10))
    assert is_late("revoke", date(2026, 9, 30), date(2026, 10, 12))
    assert not is_late("shield", date(2026, 3, 2), date(2026, 3, 2))


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown deadline kind"):
        deadline_for("appeal", date(2026, 1, 5))


def test_local_date_is_china_standard_time() -> None:
    assert CST.utcoffset(None) == timedelta(hours=8)
    late_utc = datetime(2026, 9, 30, 16, 30, tzinfo=UTC)
    assert local_date(late_utc) == date(2026, 10, 1)
    assert local_date(datetime(2026, 9, 30, 23, 59, tzinfo=CST)) == date(2026, 9, 30)
    with pytest.raises(ValueError):
        local_date(datetime(2026, 9, 30, 12, 0))
