"""The rules a listing must satisfy, written once for `list` decisions and for a listing
after a `correct` (court-decisions.md: "The same validation as on `list` applies to the
corrected listing"): check characters, no minors, related persons only for organisations,
and the period of Provisions art. 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from stdnum.cn import ric as _ric
from stdnum.cn import uscc as _uscc

from hub.domain.events import Ground, SubjectKind
from hub.domain.identity import (
    IdentityError,
    birth_date,
    check_resident_id,
    check_uscc,
    is_minor_on,
)

__all__ = [
    "MAX_PERIOD_YEARS",
    "MIN_PERIOD_YEARS",
    "add_years",
    "check_id_number",
    "listing_problems",
    "period_problem",
]

# Provisions art. 2: two years, extendable by one to three years.
MIN_PERIOD_YEARS = 2
MAX_PERIOD_YEARS = 5


class _HasIdNumber(Protocol):
    @property
    def id_number(self) -> str: ...


def add_years(start: date, years: int) -> date:
    """The corresponding day `years` later; 29 February falls back to 28 February (a period
    counted in years ends on the corresponding day, or the month's last day if none)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


def period_problem(ground: Ground | str, period_end: date | None, start: date) -> str | None:
    """Provisions art. 2: ground 1 (refuses despite ability) has no fixed period; grounds
    2–6 list for two years, extendable by one to three: `period_end` (the last day) lies
    between the corresponding days 2 and 5 years after `start` (local date of the listing
    decision), both inclusive. Returns the problem, or None."""
    if Ground(ground) is Ground.refuses_despite_ability:
        if period_end is not None:
            return "must be null for ground refuses_despite_ability (no fixed period)"
        return None
    if period_end is None:
        return f"required for ground {Ground(ground).value} (two to five years)"
    earliest = add_years(start, MIN_PERIOD_YEARS)
    latest = add_years(start, MAX_PERIOD_YEARS)
    if period_end < earliest:
        return (
            f"{period_end.isoformat()} is less than two years after {start.isoformat()} "
            f"(earliest {earliest.isoformat()})"
        )
    if period_end > latest:
        return (
            f"{period_end.isoformat()} is more than five years after {start.isoformat()} "
            f"(latest {latest.isoformat()})"
        )
    return None


def _identity_reason(e: IdentityError, number: str, kind: str) -> str:
    if "check character" in e.problem:
        n = number.strip().upper()
        expected = (
            _ric.calc_check_digit(n) if kind == "resident ID" else _uscc.calc_check_digit(n[:-1])
        )
        return f"bad check character (expected {expected!r})"
    return f"not a valid {kind}: {e.problem}"


def check_id_number(kind: SubjectKind | str, value: str) -> str:
    """Normalised identity number of a subject of `kind` (resident ID for a person, USCC for
    an organisation); raises ValueError with a reason fit for a DecisionError."""
    if SubjectKind(kind) is SubjectKind.person:
        try:
            return check_resident_id(value)
        except IdentityError as e:
            raise ValueError(_identity_reason(e, value, "resident ID")) from e
    try:
        return check_uscc(value)
    except IdentityError as e:
        raise ValueError(_identity_reason(e, value, "USCC")) from e


def _age_problem(who: str, resident_id: str, listed_on: date) -> str | None:
    """Minors are never listed nor bound, whether debtor or related person (court-decisions.md
    "Errors"; Civil Code art. 17); a number born after the listing day cannot be either."""
    born = birth_date(resident_id)
    if born > listed_on:
        return f"{who} born {born.isoformat()}, after the listing date {listed_on.isoformat()}"
    if is_minor_on(resident_id, listed_on):
        return f"{who} is a minor on {listed_on.isoformat()}"
    return None


def listing_problems(
    kind: SubjectKind | str,
    id_number: str,
    related: Sequence[_HasIdNumber],
    ground: Ground | str,
    period_end: date | None,
    listed_on: date,
) -> list[tuple[str, str]]:
    """Every (key, reason) that makes a listing invalid, as of its listing day `listed_on`.

    The same rules for `list` and for a listing after `correct` (court-decisions.md)."""
    problems: list[tuple[str, str]] = []
    try:
        normalised = check_id_number(kind, id_number)
    except ValueError as e:
        problems.append(("subject.id_number", str(e)))
    else:
        if SubjectKind(kind) is SubjectKind.person:
            problem = _age_problem("subject", normalised, listed_on)
            if problem:
                problems.append(("subject.id_number", problem))
    if related and SubjectKind(kind) is SubjectKind.person:
        problems.append(("related", "related persons only for organisation debtors"))
    for i, person in enumerate(related):
        try:
            number = check_resident_id(person.id_number)
        except IdentityError as e:
            reason = _identity_reason(e, person.id_number, "resident ID")
            problems.append((f"related[{i}].id_number", reason))
        else:
            problem = _age_problem("related person", number, listed_on)
            if problem:
                problems.append((f"related[{i}].id_number", problem))
    problem = period_problem(ground, period_end, listed_on)
    if problem:
        problems.append(("period_end", problem))
    return problems
