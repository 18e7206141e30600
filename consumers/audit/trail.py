"""`hub audit trail LISTING_ID`: the listing's court events and, for each, every concerned
unit's acknowledgement (or its absence) with its latency (processed_at - recorded_at)."""

from __future__ import annotations

from typing import Any

from consumers.audit import history
from consumers.audit.concern import with_concerns
from hub.config import Settings
from hub.domain.events import AckTrigger


def trail(s: Settings, listing_id: str, progress: bool = True) -> dict[str, Any]:
    events = list(history.court_events(s, progress=progress, listing_id=listing_id))
    events.sort(key=lambda e: e.meta.court_seq)
    by_event: dict[tuple[str, str], Any] = {}
    for a in history.acks(s, progress=progress, listing_id=listing_id):
        if a.trigger is not AckTrigger.court_event:
            continue
        k = (a.event_id, a.unit)
        if k not in by_event or a.processed_at < by_event[k].processed_at:
            by_event[k] = a
    out = []
    for ev, _state, units in with_concerns(events):
        meta = ev.meta
        rows = []
        for unit in sorted(units):
            a = by_event.get((meta.event_id, unit))
            rows.append({
                "unit": unit,
                "acknowledged": a is not None,
                "processed_at": a.processed_at.isoformat() if a else None,
                "latency_s": round((a.processed_at - meta.recorded_at).total_seconds(), 3)
                if a else None,
                "measures": [m.model_dump(mode="json") for m in a.measures] if a else [],
            })
        out.append({
            "event_id": meta.event_id, "court_code": meta.court_code,
            "court_seq": meta.court_seq, "decision_no": meta.decision_no,
            "type": type(ev).__name__, "decided_at": meta.decided_at.isoformat(),
            "recorded_at": meta.recorded_at.isoformat(), "units": rows,
        })
    return {"listing_id": listing_id, "events": out}
