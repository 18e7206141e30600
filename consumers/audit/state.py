"""`hub audit state`: every listing as of any time, by the same fold the units use
(hub.domain.listing.apply). Valid time is decided_at: an event counts from the moment the
decision took effect; the status as of the time shows expiry (status_at)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from consumers.audit import history
from hub.config import Settings
from hub.domain.listing import ListingState, TransitionError, apply, status_at

log = history.log


def fold_as_of(events: Any, as_of: datetime) -> dict[str, ListingState]:
    states: dict[str, ListingState] = {}
    for ev in events:
        meta = ev.meta
        if meta.decided_at > as_of:
            continue  # not yet in effect; a listing's later events are later still
        current = states.get(meta.listing_id)
        if current is not None and meta.court_seq <= current.last_court_seq:
            continue
        try:
            states[meta.listing_id] = apply(current, ev)
        except TransitionError as e:
            log.warning("event not applicable", listing_id=meta.listing_id,
                        court_seq=meta.court_seq, rule=e.rule)
    return states


def describe(state: ListingState, as_of: datetime) -> dict[str, Any]:
    return {
        "listing_id": state.listing_id,
        "court_code": state.court_code,
        "status": status_at(state, as_of),
        "under_verification": state.under_verification,
        "public": state.public,
        "period_end": state.period_end.isoformat() if state.period_end else None,
        "subject": state.subject.model_dump(mode="json"),
        "related": [p.model_dump(mode="json") for p in state.related],
        "last_court_seq": state.last_court_seq,
        "last_decided_at": state.last_decided_at.isoformat(),
    }


def state_as_of(s: Settings, as_of: datetime, listing_id: str | None = None,
                progress: bool = True) -> list[dict[str, Any]]:
    states = fold_as_of(history.court_events(s, progress=progress, listing_id=listing_id),
                        as_of)
    return [describe(st, as_of) for _, st in sorted(states.items())]
