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
from hub.domain.events import (
    AckEntry,
    AckTrigger,
    CourtCheckpoint,
    CourtReference,
    UnitAckBatch,
    UnitAcknowledged,
    UnitCheckpoint,
    batch_id_for,
)
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


def ack_batch_values(s: Settings, unit: str, events: list[Any], per_batch: int = 2,
                     delay: timedelta = timedelta(minutes=5)) -> list[bytes]:
    """A well-formed chain of UnitAckBatch values acknowledging `events`, `per_batch`
    entries each (the format of consumers/agency/acklog.py, built from hub pieces)."""
    values: list[bytes] = []
    prev = GENESIS_HASH
    for i in range(0, len(events), per_batch):
        seq = len(values) + 1
        entries = [AckEntry(
            ack_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{unit}/{ev.meta.event_id}")),
            trigger=AckTrigger.court_event, event_id=ev.meta.event_id,
            listing_id=ev.meta.listing_id, court_code=ev.meta.court_code,
            court_seq=ev.meta.court_seq, measures=[],
            processed_at=ev.meta.recorded_at + delay) for ev in events[i:i + per_batch]]
        value = codec.encode(UnitAckBatch(
            batch_id=batch_id_for(unit, seq), unit=unit, batch_seq=seq, prev_hash=prev,
            entries=entries, created_at=entries[-1].processed_at))
        prev = chain_hash(value)
        values.append(value)
    return values


def unit_checkpoint_value(unit: str, batches: list[bytes],
                          courts: list[CourtReference] | None = None) -> bytes:
    """A UnitCheckpoint over `batches` (as they were written, in order)."""
    acc = MerkleAccumulator()
    for v in batches:
        acc.append(leaf_hash(v))
    return codec.encode(UnitCheckpoint(
        unit=unit, tree_size=len(batches), root_hash=acc.root(),
        last_batch_id=batch_id_for(unit, len(batches)), courts=courts or [],
        issued_at=datetime.now().astimezone()))


def publish_unit_records(s: Settings, unit: str, values: list[bytes]) -> list[Any]:
    """Sign each value as `unit` and publish it keyed by the unit; returns the metadata."""
    kafka.ensure_topics(s, kafka.topic_specs(s, [unit]))
    prod = kafka.producer(s, "test-unit")
    key, _ = ensure_key(s, unit_signer(unit))
    futures = [prod.send(s.ack_topic(unit), key=unit.encode(), value=v, headers=sign(key, v))
               for v in values]
    prod.flush()
    out = [f.get(timeout=30) for f in futures]
    prod.close()
    return out
