"""A stand-in court and stand-in units for the audit tests: signed court events (gap-free
court_seq, hash chain), signed checkpoints and signed acknowledgements published straight
to Kafka with the hub's own building blocks (no producers/ or consumers.agency import)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from hub import codec, kafka
from hub.config import Settings
from hub.domain.decisions import meta_for, parse_lines, to_event
from hub.domain.events import AckTrigger, CourtCheckpoint, UnitAcknowledged
from hub.keys import court_signer, ensure_key, unit_signer
from hub.ledger import GENESIS_HASH, MerkleAccumulator, chain_hash, leaf_hash
from hub.signed import sign


def publish_court_log(s: Settings, decisions: list[dict[str, Any]],
                      checkpoint_every: int = 4) -> list[tuple[Any, bytes]]:
    """Publish the decisions as signed court events + checkpoints; returns (event, value)."""
    kafka.ensure_topics(s, kafka.topic_specs(s, []))
    parsed, errors = parse_lines(json.dumps(d, ensure_ascii=False) for d in decisions)
    assert not errors, errors
    prod = kafka.producer(s, "test-court")
    prev: dict[str, bytes] = {}
    accs: dict[str, MerkleAccumulator] = {}
    out: list[tuple[Any, bytes]] = []
    last: dict[str, str] = {}
    for d in parsed:
        code = d.court_code
        acc = accs.setdefault(code, MerkleAccumulator())
        meta = meta_for(d, court_seq=acc.size + 1, prev_hash=prev.get(code, GENESIS_HASH),
                        recorded_at=d.decided_at + timedelta(minutes=1))
        event = to_event(d, meta)
        value = codec.encode(event)
        key, _ = ensure_key(s, court_signer(code))
        prod.send(s.court_topic, key=meta.listing_id.encode(), value=value,
                  headers=sign(key, value))
        prev[code] = chain_hash(value)
        acc.append(leaf_hash(value))
        last[code] = meta.event_id
        out.append((event, value))
        if acc.size % checkpoint_every == 0:
            publish_checkpoint(s, prod, code, acc, last[code], meta.recorded_at)
    for code, acc in accs.items():
        if acc.size % checkpoint_every:
            publish_checkpoint(s, prod, code, acc, last[code], datetime.now().astimezone())
    prod.flush()
    prod.close()
    return out


def publish_checkpoint(s: Settings, prod: Any, code: str, acc: MerkleAccumulator,
                       last_event_id: str, at: datetime) -> None:
    cp = CourtCheckpoint(court_code=code, tree_size=acc.size, root_hash=acc.root(),
                         last_event_id=last_event_id, issued_at=at)
    value = codec.encode(cp)
    key, _ = ensure_key(s, court_signer(code))
    prod.send(s.checkpoint_topic, key=code.encode(), value=value, headers=sign(key, value))


def publish_acks(s: Settings, unit: str, events: list[Any],
                 delay: timedelta = timedelta(minutes=5)) -> int:
    """Acknowledge every given event as `unit` (processed_at = recorded_at + delay)."""
    kafka.ensure_topics(s, kafka.topic_specs(s, [unit]))
    prod = kafka.producer(s, "test-unit")
    key, _ = ensure_key(s, unit_signer(unit))
    for ev in events:
        m = ev.meta
        ack = UnitAcknowledged(
            ack_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{unit}/{m.event_id}")), unit=unit,
            trigger=AckTrigger.court_event, event_id=m.event_id, listing_id=m.listing_id,
            court_code=m.court_code, court_seq=m.court_seq, measures=[],
            processed_at=m.recorded_at + delay)
        value = codec.encode(ack)
        prod.send(s.ack_topic(unit), key=m.listing_id.encode(), value=value,
                  headers=sign(key, value))
    prod.flush()
    prod.close()
    return len(events)


def raw_records(s: Settings, topic: str) -> list[Any]:
    from consumers.audit import replay

    return list(replay.read(s, [topic], progress=False))
