"""Acknowledgements (應用反饋, policy 四(二)8): what the unit did for each court event that
concerns it, for each expired period and for each measure kept after a removal.

The ack id is a UUID5 of `unit/event_id/trigger[/measure]`: replaying the log (a retried
batch, a rebuild) yields the same ids, the acknowledgement log claims each id once
(`acked`, consumers/agency/acklog.py, which turns a transaction's acks into one signed
UnitAckBatch), and readers of `acks.<unit>.v1` deduplicate on it.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from consumers.agency.fastcodec import FastEncoder
from hub.domain.events import (
    AckTrigger,
    MeasureAction,
    UnitAcknowledged,
    uuid5_text,
)
from hub.domain.punishment import ActiveMeasure

# Fixed forever: ack ids must stay the same across releases and rebuilds.
ACK_NAMESPACE = uuid.UUID("3b0d9a8e-5f7c-5e21-9c4b-7a1e2d3f4b5c")


def ack_id_for(unit: str, event_id: str, trigger: AckTrigger, measure: str | None = None) -> str:
    parts = [unit, event_id, trigger.value] + ([measure] if measure else [])
    return uuid5_text(ACK_NAMESPACE, "/".join(parts))


Ack = dict[str, Any]  # a UnitAcknowledged as a plain Avro record (hot path: no pydantic)


def outcome(
    m: ActiveMeasure, action: MeasureAction, until: date | None = None, reason: str | None = None
) -> dict[str, Any]:
    """A MeasureOutcome record; `until` defaults to the measure's end (none once lifted)."""
    if until is None and action is not MeasureAction.lifted and action is not MeasureAction.not_applicable:
        until = m.until
    return {"code": m.code, "role": m.role.value, "id_number": m.id_number,
            "action": action.value, "until": until, "reason": reason}


def build(
    unit: str,
    trigger: AckTrigger,
    event_id: str,
    listing_id: str,
    court_code: str,
    court_seq: int,
    measures: Iterable[dict[str, Any]],
    measure: str | None = None,
    processed_at: datetime | None = None,
) -> Ack:
    return {
        "ack_id": ack_id_for(unit, event_id, trigger, measure),
        "unit": unit,
        "trigger": trigger.value,
        "event_id": event_id,
        "listing_id": listing_id,
        "court_code": court_code,
        "court_seq": court_seq,
        "measures": list(measures),
        "processed_at": processed_at or datetime.now(UTC),
    }


@functools.cache
def _encoder() -> FastEncoder:
    return FastEncoder(UnitAcknowledged.AVRO_NAME)
