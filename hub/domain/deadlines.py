"""Statutory deadlines: working days under China's public-holiday calendar, and the table
of time limits the courts and units must keep.

Working days: Monday–Friday, minus statutory public holidays and the days off the State
Council's yearly notice (國務院辦公廳關於…部分節假日安排的通知) moves around, plus the weekend
days that notice turns into working days (調休). The calendar comes from the `holidays`
package (`holidays.country_holidays("CN")`, its `weekend_workdays` set).

Completeness: the adjusted working weekends of a year are known only once the State
Council has published that year's notice (late each year for the next). For a year the
package has no notice for, the package still knows the statutory holiday dates (they are
fixed by the 全國年節及紀念日放假辦法; lunar ones are computed) but no adjusted working
weekends: we use what it has, treat every weekend as a rest day, and return
`calendar_complete=False` with a note. For a year with no data at all (outside the
package's range) we fall back to weekends only, and say so.

Times: China Standard Time (UTC+08:00); a deadline is a local calendar date.
Pure: stdlib and `holidays` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

import holidays

__all__ = [
    "CST",
    "RULES",
    "Deadline",
    "Rule",
    "add_days",
    "add_working_days",
    "calendar_known",
    "deadline_for",
    "is_late",
    "is_working_day",
    "local_date",
    "working_days_between",
]

# China Standard Time; China has no daylight-saving time.
CST = timezone(timedelta(hours=8), "CST")


def local_date(dt: datetime) -> date:
    """The calendar date in China Standard Time of an aware datetime.

    Naive datetimes are refused: guessing their zone would shift deadlines by a day.
    """
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("local_date needs a timezone-aware datetime")
    return dt.astimezone(CST).date()


@dataclass(frozen=True)
class Deadline:
    """The last day on which an act is on time (inclusive)."""

    due: date
    working_days: bool  # counted in working days (True) or calendar days (False)
    calendar_complete: bool  # False if a year involved lacks a published holiday schedule
    note: str


@dataclass(frozen=True)
class _YearCalendar:
    holidays: frozenset[date]
    weekend_workdays: frozenset[date]
    published: bool  # the State Council notice for the year is in the package
    has_data: bool  # the package knows any holiday of the year


@lru_cache(maxsize=256)
def _year(year: int) -> _YearCalendar:
    # The next year's notice can turn late-December weekends into working days
    # (e.g. 2001-12-29/30 for New Year 2002), hence years (year, year + 1).
    cn = holidays.country_holidays("CN", years=(year, year + 1))
    days = frozenset(d for d in cn if d.year == year)
    workdays = frozenset(d for d in cn.weekend_workdays if d.year == year)
    return _YearCalendar(
        holidays=days, weekend_workdays=workdays, published=bool(workdays), has_data=bool(days)
    )


def calendar_known(year: int) -> bool:
    """True if the package carries the State Council's holiday notice for `year`
    (every notice since 2001 moves at least one weekend day to a working day)."""
    return _year(year).published


def is_working_day(d: date) -> bool:
    """Working day under the Chinese calendar (best knowledge for unpublished years)."""
    cal = _year(d.year)
    if d.weekday() >= 5:
        return d in cal.weekend_workdays
    return d not in cal.holidays


def _note(years: set[int], counted: str) -> tuple[bool, str]:
    missing = sorted(y for y in years if not _year(y).published)
    if not missing:
        return True, counted
    listed = ", ".join(str(y) for y in missing)
    no_data = [y for y in missing if not _year(y).has_data]
    if no_data:
        return False, (
            f"{counted}; calendar incomplete for {listed}: no holiday data for "
            f"{', '.join(str(y) for y in no_data)}, counted Monday to Friday only"
        )
    return False, (
        f"{counted}; calendar incomplete for {listed}: statutory holidays as known, "
        "adjusted working weekends (調休) not yet published, every weekend treated as a "
        "rest day"
    )


def _years(start: date, end: date) -> set[int]:
    return set(range(start.year, end.year + 1))


def add_working_days(start: date, n: int) -> Deadline:
    """The n-th working day after `start` (counting starts the day after `start`)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    d = start
    counted = 0
    while counted < n:
        d += timedelta(days=1)
        if is_working_day(d):
            counted += 1
    complete, note = _note(_years(start + timedelta(days=1), d), f"{n} working days after {start}")
    return Deadline(due=d, working_days=True, calendar_complete=complete, note=note)


def add_days(start: date, n: int, *, roll_forward: bool = True) -> Deadline:
    """`n` calendar days after `start`, the start day not counted.

    Civil Procedure Law art. 85: the day a period begins is not counted, and when the last
    day falls on a statutory rest day the period ends on the first working day after it
    (`roll_forward=False` gives the bare calendar date).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    raw = start + timedelta(days=n)
    if not roll_forward:
        return Deadline(
            raw, working_days=False, calendar_complete=True, note=f"{n} days after {start}"
        )
    due = raw
    while not is_working_day(due):
        due += timedelta(days=1)
    counted = f"{n} days after {start}"
    if due != raw:
        counted += f", last day {raw} is a rest day, moved to the next working day"
    complete, note = _note(_years(raw, due), counted)
    return Deadline(due=due, working_days=False, calendar_complete=complete, note=note)


def working_days_between(start: date, end: date) -> int:
    """Working days after `start` up to and including `end` (0 if end <= start)."""
    count = 0
    d = start + timedelta(days=1)
    while d <= end:
        if is_working_day(d):
            count += 1
        d += timedelta(days=1)
    return count


@dataclass(frozen=True)
class Rule:
    """A statutory time limit: `n` days (working or calendar) after the trigger date."""

    n: int
    working_days: bool
    trigger: str
    citation: str


# Where the local policy and the Provisions differ, the local policy rules (domain README).
RULES: dict[str, Rule] = {
    # Wrongly listed subject: revoke within 3 working days (policy 四(二)2; Provisions art. 12).
    "revoke": Rule(
        3, True, "the court learns the listing was wrong", "policy 四(二)2; Provisions art. 12"
    ),
    # Inaccurate listing data: correct within 3 working days (policy 四(二)2, 四(二)3).
    "correct": Rule(
        3, True, "the inaccuracy is established", "policy 四(二)2, 四(二)3; Provisions art. 12"
    ),
    # Exit ground arises: shield or revoke within 3 days (policy 四(二)4; Provisions art. 10).
    "shield": Rule(3, False, "an exit ground arises", "policy 四(二)4; Provisions art. 10"),
    # Fixed listing period ends: delete within 3 working days (Provisions art. 10).
    "shield_period_expired": Rule(3, True, "the listing period ends", "Provisions art. 10"),
    # Debtor objects within 10 days of receiving the decision (policy 四(二)3; art. 12).
    "objection": Rule(
        10, False, "the debtor receives the decision", "policy 四(二)3; Provisions art. 12"
    ),
    # The court reviews a written objection within 15 days (policy 四(二)3; art. 12).
    "verification_review": Rule(
        15, False, "the court receives the written objection", "policy 四(二)3; Provisions art. 12"
    ),
    # Reconsideration at the higher court within 10 days of service (policy 四(二)3).
    "reconsideration": Rule(
        10, False, "the rejection decision is served", "policy 四(二)3; Provisions art. 12"
    ),
    # The higher court decides within 15 days (policy 四(二)3; Provisions art. 12).
    "reconsideration_decision": Rule(
        15, False, "the higher court receives the application", "policy 四(二)3; Provisions art. 12"
    ),
    # Republishers delete shielded/revoked listings within 3 working days (policy 四(二)7).
    "republish_delete": Rule(3, True, "the listing is shielded or revoked", "policy 四(二)7"),
}


def _rule(kind: str) -> Rule:
    try:
        return RULES[kind]
    except KeyError:
        raise ValueError(
            f"unknown deadline kind {kind!r}; expected one of {sorted(RULES)}"
        ) from None


def deadline_for(kind: str, start: date) -> Deadline:
    """The deadline of statutory `kind` triggered on `start` (see RULES)."""
    rule = _rule(kind)
    base = add_working_days(start, rule.n) if rule.working_days else add_days(start, rule.n)
    return Deadline(
        due=base.due,
        working_days=base.working_days,
        calendar_complete=base.calendar_complete,
        note=f"{kind}: {base.note} ({rule.trigger}; {rule.citation})",
    )


def is_late(kind: str, start: date, done: date) -> bool:
    """True if an act of `kind` triggered on `start` and done on `done` missed its limit."""
    return done > deadline_for(kind, start).due
