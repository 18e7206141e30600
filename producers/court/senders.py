"""The court relay's sender processes (`hub.senders`): a large batch is published by one
kafka-python idempotent producer per core, each owning a fixed share of the partitions
(issue #4: one producer publishes ~25-30k records/s here, two ~45k/s). Exactly-once holds
as with one producer (relay.py's docstring): each partition is written by one producer, so
what reaches it is a prefix of what it was asked to send, in order, and the relay marks a
batch sent only once every sender has confirmed its share."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hub import kafka
from hub.config import Settings
from hub.ledger import SIG_HEADER, SIGNER_HEADER
from hub.senders import Item, SenderPool, Sent, partition_of

POOL_FROM = 4_000  # rows to publish from which sender processes are worth starting (~0.35 s)
SENDERS_ENV = "HUB_RELAY_SENDERS"  # sender processes, overriding the choice (tests; 0: none)
BATCH = 20_000  # outbox rows a relay batch; HUB_RELAY_BATCH overrides (tests: several batches)

# An outbox row: court_code, court_seq, listing_id, event_id, value, signature, signer.
Row = tuple[Any, ...]


def batch_size() -> int:
    return int(os.environ.get("HUB_RELAY_BATCH", BATCH))


def items_for(rows: Sequence[Row], topic: str, parts: list[int]) -> list[Item]:
    """The records of outbox rows: key = listing_id, on the partition kafka-python's
    default partitioner would choose (`parts`: the topic's partition ids, sorted), the
    signature and signer in headers."""
    items: list[Item] = []
    for _, _, lid, _, value, sig, signer in rows:
        key = lid.encode("utf-8")
        items.append((topic, partition_of(key, parts), key, bytes(value),
                      [(SIG_HEADER, bytes(sig)), (SIGNER_HEADER, signer.encode("ascii"))]))
    return items


def start_senders(s: Settings, rows: int, partitions: int | None = None) -> SenderPool | None:
    """Sender processes for publishing `rows` rows: one per core (at most one per
    partition), on a multi-core machine and for large batches only; HUB_RELAY_SENDERS
    overrides. They start in the background: a submit starts them before recording, so
    that they are connected by the time its drain needs them."""
    cores = os.cpu_count() or 1
    forced = os.environ.get(SENDERS_ENV)
    want = int(forced) if forced else (min(cores, partitions or s.topic_partitions)
                                       if rows >= POOL_FROM and cores >= 2 else 0)
    return SenderPool(s, want, "hub-court-relay") if want >= 1 else None


def next_offsets(sent: Iterable[Sent]) -> dict[int, int]:
    """Per partition, the offset after the last of these records."""
    out: dict[int, int] = {}
    for md in sent:
        if md.offset + 1 > out.get(md.partition, -1):
            out[md.partition] = md.offset + 1
    return out


@dataclass
class Staged:
    """A submit's outbox rows, handed to its sender processes before its transaction
    commits and held there unpublished (`SenderPool.stage`), in the relay's batches: the
    relay releases them once it holds the relay lock, the rows are committed and they are
    exactly what it would publish next (`matches`); otherwise it drops them. Routing,
    pickling and the pipes then cost the submit's COPY time (PostgreSQL busy on one core,
    the other mostly idle) instead of the drain's."""

    rows: Sequence[Row]
    parts: list[int]  # the topic's partition ids when staged
    tickets: list[tuple[int, int, int]]  # ticket, first row, end row

    def matches(self, batches: Sequence[Sequence[Row]], parts: list[int]) -> bool:
        """True if `batches` (the relay's next ones) are these rows, cut the same way."""
        if parts != self.parts or len(batches) != len(self.tickets):
            return False
        for batch, (_, lo, hi) in zip(batches, self.tickets, strict=True):
            mine = self.rows[lo:hi]
            if len(batch) != len(mine) or any(a is not b for a, b in zip(batch, mine, strict=True)):
                return False
        return True


def stage(s: Settings, pool: SenderPool, rows: Sequence[Row]) -> Staged:
    """Hand `rows` (a submit's outbox rows, in court and sequence order) to `pool`, held."""
    kafka.ensure_topics(s, kafka.topic_specs(s))
    parts = kafka.partition_ids(s, s.court_topic)
    if not parts:
        return Staged(rows, parts, [])  # matches nothing: the relay publishes as usual
    size = batch_size()
    tickets = []
    for lo in range(0, len(rows), size):
        hi = min(lo + size, len(rows))
        tickets.append((pool.stage(items_for(rows[lo:hi], s.court_topic, parts)), lo, hi))
    return Staged(rows, parts, tickets)
