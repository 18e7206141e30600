"""Bounded readers of the hub's topics for the auditor.

The auditor has its own consumer and no group: it assigns every partition, seeks to the
beginning and stops at the end offsets taken when it started (design.md, "auditor: replays
court.* and acks.* from offset 0"), so a replay is a snapshot and commits nothing."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from typing import Any

from kafka import TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hub import kafka
from hub.config import Settings
from hub.output import stderr_console

# Below this many records a progress bar only flickers.
PROGRESS_MIN = 5000


def ack_topics(s: Settings) -> list[str]:
    """Every `acks.<unit>.v1` topic of this hub (topic_prefix + acks.*.v1)."""
    pattern = re.compile(re.escape(s.topic_prefix) + r"acks\.([a-z0-9][a-z0-9-]*)\.v1$")
    with kafka.admin_client(s) as client:
        try:
            names = client.list_topics()
        except kafka.UNAVAILABLE as e:
            raise kafka.unavailable(s, e) from e
    return sorted(t for t in names if pattern.match(t))


def unit_of_ack_topic(s: Settings, topic: str) -> str:
    return topic[len(s.topic_prefix) + len("acks."):-len(".v1")]


def _progress(total: int, label: str, show: bool) -> Any:
    if not show or total < PROGRESS_MIN:
        return nullcontext(None)
    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr_console(), transient=True,
    )


def read(s: Settings, topics: Iterable[str], *, progress: bool = True,
         label: str = "replay", client_id: str = "hub-audit") -> Iterator[Any]:
    """Every record of `topics` from offset 0 up to the end offsets of now (ConsumerRecords,
    in partition order within each partition, partitions interleaved)."""
    c = kafka.consumer(s, client_id=client_id, group_id=None, max_poll_records=5000)
    try:
        parts = [TopicPartition(t, p) for t in topics
                 for p in sorted(c.partitions_for_topic(t) or ())]
        if not parts:
            return
        c.assign(parts)
        end = c.end_offsets(parts)
        begin = c.beginning_offsets(parts)
        todo = {tp for tp in parts if end[tp] > begin[tp]}
        total = sum(end[tp] - begin[tp] for tp in todo)
        c.seek_to_beginning(*parts)
        with _progress(total, label, progress) as bar:
            task = bar.add_task(label, total=total) if bar else None
            while todo:
                batch = c.poll(timeout_ms=1000)
                n = 0
                for tp, records in batch.items():
                    limit = end[tp]
                    for r in records:
                        if r.offset < limit:
                            n += 1
                            yield r
                for tp in list(todo):
                    # position, not the last offset: transaction markers take offsets too.
                    if c.position(tp) >= end[tp]:
                        todo.discard(tp)
                        c.pause(tp)
                if bar is not None and n:
                    bar.advance(task, n)
    except kafka.UNAVAILABLE as e:
        raise kafka.unavailable(s, e) from e
    finally:
        c.close()
