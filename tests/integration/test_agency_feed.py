"""Helpers (no tests here) for the agency tests and benchmark-style feeds: a stand-in court
that publishes signed, hash-chained events straight to the court topic, and readers of
the unit's topics. The real court side (`hub court submit`) is used by the e2e tests."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

from kafka import TopicPartition

from hub import codec, kafka
from hub.config import Settings
from hub.domain.decisions import meta_for, to_event
from hub.domain.events import CourtEvent, acknowledgements
from hub.keys import court_signer, ensure_key
from hub.ledger import GENESIS_HASH, chain_hash
from hub.signed import sign
from tests.conftest import hub_env
from tests.unit.builders import COURT, decision


class CourtFeed:
    """Numbers, chains, signs and publishes court events like the court relay does."""

    def __init__(self, s: Settings, units: list[str], court_code: str = COURT) -> None:
        self.s = s
        self.court_code = court_code
        self.key, _ = ensure_key(s, court_signer(court_code))
        self.seq = 0
        self.prev = GENESIS_HASH
        kafka.ensure_topics(s, kafka.topic_specs(s, units))
        self.producer = kafka.producer(s, client_id="test-court-feed")
        self.events: list[CourtEvent] = []

    def build(self, data: dict[str, Any]) -> tuple[CourtEvent, bytes]:
        d = decision(dict(data, court_code=self.court_code))
        meta = meta_for(d, court_seq=self.seq + 1, prev_hash=self.prev,
                        recorded_at=d.decided_at + timedelta(minutes=1))
        event = to_event(d, meta)
        return event, codec.encode(event)

    def publish(self, data: dict[str, Any]) -> CourtEvent:
        event, value = self.build(data)
        self.seq += 1
        self.prev = chain_hash(value)
        self.send(event.meta.listing_id, value, sign(self.key, value))
        self.events.append(event)
        return event

    def send(self, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.producer.send(self.s.court_topic, key=key.encode(), value=value, headers=headers)

    def flush(self) -> None:
        self.producer.flush()

    def close(self) -> None:
        self.producer.flush()
        self.producer.close()


def read_topic(s: Settings, topic: str, timeout: float = 20.0) -> list[Any]:
    """Every record of `topic`, from offset 0 to the end offsets at call time."""
    c = kafka.consumer(s, client_id="test-reader", group_id=None)
    try:
        deadline = time.monotonic() + timeout
        parts: set[int] = set()
        while not parts and time.monotonic() < deadline:
            parts = c.partitions_for_topic(topic) or set()
            if not parts:
                time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        ends = c.end_offsets(tps)
        out: list[Any] = []
        while any(c.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                out.extend(recs)
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        c.close()


def read_acks(s: Settings, unit: str) -> list[Any]:
    """Decoded acknowledgements of `unit` (old records and batch entries), deduplicated by
    ack_id (first wins)."""
    seen: dict[str, Any] = {}
    for ack in read_ack_entries(s, unit):
        seen.setdefault(ack.ack_id, ack)
    return list(seen.values())


def read_ack_entries(s: Settings, unit: str) -> list[Any]:
    """Every acknowledgement on the unit's topic, duplicates included, in log order."""
    return [ack for r in read_topic(s, s.ack_topic(unit))
            for ack in acknowledgements(codec.decode(r.value))]


def hub_cli(s: Settings, *args: str, timeout: float = 120.0,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "hub", *args], env=hub_env(s), capture_output=True, text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"hub {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc
