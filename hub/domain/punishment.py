"""Which measures a unit applies for a listing, and what a unit's check answers.

measures.md, Notes: the unit × measure matrix is the hub's routing table; a measure binds
the debtor and, for an organisation debtor, related persons or officers as its "applies to"
column says (`catalogue.binds_role`). Measures bind only while the listing is current:
shielded, revoked or expired listings bind nothing (policy 四(二)5). While the court
verifies an objection the measures are suspended, not lifted (policy 四(二)3, last
paragraph).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from hub.domain.catalogue import Catalogue, Unit, binds_role, default_catalogue
from hub.domain.events import BoundRole, MeasureAction
from hub.domain.listing import ListingState, bound_persons, status_at

__all__ = [
    "ActiveMeasure",
    "Verdict",
    "concerns",
    "concerns_any",
    "decide",
    "diff",
    "measures_for",
    "measures_for_person",
]


class Verdict(StrEnum):
    """What a unit's pre-review check answers (policy 三(二)2: automatic interception)."""

    block = "block"
    review = "review"
    clear = "clear"


class ActiveMeasure(BaseModel):
    """One measure of one unit binding one person because of one listing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    mode: str  # catalogue Measure.mode: block | review | monitor | assist
    listing_id: str
    role: BoundRole
    id_number: str
    suspended: bool = False
    until: date | None = None  # the listing's period_end, if any

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.listing_id, self.code, self.id_number, self.role.value)


def _unit(unit: Unit | str, catalogue: Catalogue) -> Unit:
    return catalogue.unit(unit) if isinstance(unit, str) else unit


# (id(catalogue), unit slug, debtor kind, role) -> the unit's (code, mode) binding that role
# (measures.md, "applies to"; `catalogue.binds_role`),
# in the unit's measure order. Catalogues are immutable and long-lived; the entry keeps its
# catalogue alive so the id cannot be reused. A unit consumer asks this several times per
# event (issue #5: the fold is the consumer's hot path).
_ROUTES: dict[tuple[int, str, str, str], tuple[Catalogue, tuple[tuple[str, str], ...]]] = {}


def _routes(catalogue: Catalogue, unit: Unit, kind: str, role: str) -> tuple[tuple[str, str], ...]:
    key = (id(catalogue), unit.slug, kind, role)
    hit = _ROUTES.get(key)
    if hit is None or hit[0] is not catalogue:
        codes = tuple(
            (code, catalogue.measure(code).mode)
            for code in unit.measures
            if binds_role(catalogue.measure(code), kind, role)
        )
        hit = _ROUTES[key] = (catalogue, codes)
    return hit[1]


def _bindings(
    state: ListingState, unit: Unit, catalogue: Catalogue
) -> Iterable[tuple[str, str, BoundRole, str]]:
    """(code, mode, role, id_number) in the unit's measure order, then the persons' order."""
    kind = state.subject.kind.value
    people = [(p, _routes(catalogue, unit, kind, p.role.value)) for p in bound_persons(state)]
    for code in unit.measures:
        for person, routes in people:
            for route_code, mode in routes:
                if route_code == code:
                    yield code, mode, person.role, person.id_number


def measures_for(
    state: ListingState, unit: Unit | str, at: datetime, catalogue: Catalogue | None = None
) -> list[ActiveMeasure]:
    """The measures `unit` must apply for `state` at `at` (empty unless the listing is
    current: listed and not past its period)."""
    if status_at(state, at) != "listed":
        return []
    cat = catalogue or default_catalogue()
    make = ActiveMeasure  # (model_construct is slower than validating these seven fields)
    suspended, until, listing_id = state.under_verification, state.period_end, state.listing_id
    return [
        make(code=code, mode=mode, listing_id=listing_id, role=role, id_number=id_number,
             suspended=suspended, until=until)
        for code, mode, role, id_number in _bindings(state, _unit(unit, cat), cat)
    ]


def concerns(state: ListingState, unit: Unit | str, catalogue: Catalogue | None = None) -> bool:
    """Does an event about this listing concern `unit` (measures.md, Notes)? True when the
    unit enforces at least one measure binding at least one of the listing's persons,
    whatever the listing's status (a shield or revoke concerns the units that applied)."""
    cat = catalogue or default_catalogue()
    return next(iter(_bindings(state, _unit(unit, cat), cat)), None) is not None


def concerns_any(
    states: Iterable[ListingState], unit: Unit | str, catalogue: Catalogue | None = None
) -> bool:
    """`concerns` over several versions of a listing, e.g. before and after a correction
    (a unit bound only the wrong person must still lift its measures)."""
    return any(concerns(s, unit, catalogue) for s in states)


def decide(measures: Iterable[ActiveMeasure], measure: str | None = None) -> Verdict:
    """block if an unsuspended block-mode measure binds; review if any other unsuspended
    measure binds (review, monitor, assist: a human looks); clear otherwise. `measure`
    restricts the answer to one code (the act being checked)."""
    live = [m for m in measures if not m.suspended and (measure is None or m.code == measure)]
    if any(m.mode == "block" for m in live):
        return Verdict.block
    if live:
        return Verdict.review
    return Verdict.clear


def measures_for_person(
    states: Iterable[ListingState],
    unit: Unit | str,
    id_number: str,
    at: datetime,
    catalogue: Catalogue | None = None,
) -> list[ActiveMeasure]:
    """Every measure `unit` applies at `at` to the person or organisation `id_number`,
    over all its listings (as debtor or related person)."""
    wanted = id_number.strip().upper()
    return [
        m
        for state in states
        for m in measures_for(state, unit, at, catalogue)
        if m.id_number.upper() == wanted
    ]


def diff(
    before: Iterable[ActiveMeasure], after: Iterable[ActiveMeasure]
) -> list[tuple[ActiveMeasure, MeasureAction]]:
    """Actions that take a unit from `before` to `after`, keyed by (listing, code, person,
    role): new → applied (suspended if it starts suspended), gone → lifted, unsuspended →
    suspended → `suspended`, suspended → unsuspended → `resumed`; a changed end date is
    re-`applied` (or re-`suspended`). Lifted ones come first, in `before` order, then
    the rest in `after` order. A corrected ID number: lifted for the old, applied for the
    new person."""
    old = {m.key: m for m in before}
    new = {m.key: m for m in after}
    out: list[tuple[ActiveMeasure, MeasureAction]] = [
        (m, MeasureAction.lifted) for k, m in old.items() if k not in new
    ]
    for k, m in new.items():
        prev = old.get(k)
        if prev is None:
            out.append((m, MeasureAction.suspended if m.suspended else MeasureAction.applied))
        elif prev.suspended != m.suspended:
            out.append((m, MeasureAction.suspended if m.suspended else MeasureAction.resumed))
        elif prev.until != m.until:
            out.append((m, MeasureAction.suspended if m.suspended else MeasureAction.applied))
    return out
