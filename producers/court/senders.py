"""The court relay's sender processes (`hub.senders`): a large batch is published by one
kafka-python idempotent producer per core, each owning a fixed share of the partitions
(issue #4: one producer publishes ~25-30k records/s here, two ~45k/s). Exactly-once holds
as with one producer (relay.py's docstring): each partition is written by one producer, so
what reaches it is a prefix of what it was asked to send, in order, and the relay marks a
batch sent only once every sender has confirmed its share."""

from __future__ import annotations

import os
from collections.abc import Iterable

from hub.config import Settings
from hub.senders import SenderPool, Sent

POOL_FROM = 4_000  # rows to publish from which sender processes are worth starting (~0.35 s)
SENDERS_ENV = "HUB_RELAY_SENDERS"  # sender processes, overriding the choice (tests; 0: none)


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
