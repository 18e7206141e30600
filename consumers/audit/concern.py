"""Which units a court event concerns: those enforcing a measure that binds a person of the
listing before or after the event (hub.domain.punishment.concerns_any; measures.md Notes:
a unit that bound only the wrong person must still lift its measures after a correction)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hub.domain.catalogue import default_catalogue
from hub.domain.events import PROCEDURE_EVENT_TYPES
from hub.domain.listing import ListingState, TransitionError, apply
from hub.domain.punishment import concerns


def concerned_units(states: list[ListingState]) -> set[str]:
    out: set[str] = set()
    for st in states:
        # Only the debtor's kind and the related roles decide (binds_role): cache on them.
        roles = frozenset(p.role.value for p in st.related)
        key = (st.subject.kind.value, roles)
        out.update(_by_key(key, st))
    return out


_cache: dict[tuple[str, frozenset[str]], tuple[str, ...]] = {}


def _by_key(key: tuple[str, frozenset[str]], st: ListingState) -> tuple[str, ...]:
    got = _cache.get(key)
    if got is None:
        cat = default_catalogue()
        got = _cache[key] = tuple(slug for slug in cat.units if concerns(st, slug, cat))
    return got


def with_concerns(events: Any) -> Iterator[tuple[Any, ListingState | None, set[str]]]:
    """(event, state after, concerned units) for every applicable event, in log order."""
    states: dict[str, ListingState] = {}
    for ev in events:
        lid = ev.meta.listing_id
        before = states.get(lid)
        try:
            after = apply(before, ev)
        except TransitionError:
            yield ev, before, set()
            continue
        states[lid] = after
        if isinstance(ev, PROCEDURE_EVENT_TYPES):  # changes no measure: concerns no unit
            yield ev, after, set()
            continue
        yield ev, after, concerned_units([s for s in (before, after) if s is not None])
