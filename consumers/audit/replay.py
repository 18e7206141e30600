"""Bounded readers of the hub's topics for the auditor.

The auditor has its own consumer and no group: it assigns every partition, seeks to the
beginning and stops at the end offsets taken when it started (design.md, "auditor: replays
court.* and acks.* from offset 0"), so a replay is a snapshot and commits nothing."""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from typing import Any, NamedTuple

from kafka import TopicPartition
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hub import kafka
from hub.config import Settings
from hub.errors import HubError, ServiceUnavailable
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
         label: str = "replay", client_id: str = "hub-audit",
         balance_ms: int | None = None, **overrides: Any) -> Iterator[Any]:
    """Every record of `topics` from offset 0 up to the end offsets of now (ConsumerRecords,
    in partition order within each partition, partitions interleaved).

    kafka-python's fetcher lets one partition run far ahead of the others; with
    `balance_ms` a partition whose last record is that much newer (record timestamp) than
    the least advanced unfinished partition's is paused until the others catch up, so a
    court's events (spread over partitions by listing_id, produced in court_seq order)
    arrive nearly in order and the auditor's reorder window stays small."""
    c = kafka.consumer(s, client_id=client_id, group_id=None,
                       **({"max_poll_records": 5000} | overrides))
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
        last_ts: dict[Any, int] = {}
        paused: set[Any] = set()
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
                if balance_ms is not None:
                    for tp, records in batch.items():
                        if records:
                            last_ts[tp] = records[-1].timestamp
                    _balance(c, todo, last_ts, paused, balance_ms)
                if bar is not None and n:
                    bar.advance(task, n)
    except kafka.UNAVAILABLE as e:
        raise kafka.unavailable(s, e) from e
    finally:
        c.close()


def _balance(c: Any, todo: set[Any], last_ts: dict[Any, int], paused: set[Any],
             slack_ms: int) -> None:
    if len(todo) < 2:
        if paused & todo:
            c.resume(*(paused & todo))
            paused.clear()
        return
    # a partition not read yet counts as the least advanced: nothing waits on it for long
    low = min(last_ts.get(tp, -1) for tp in todo)
    for tp in todo:
        ahead = last_ts.get(tp, -1) > low + slack_ms
        if ahead and tp not in paused:
            c.pause(tp)
            paused.add(tp)
        elif not ahead and tp in paused:
            c.resume(tp)
            paused.discard(tp)


class Rec(NamedTuple):
    """What the auditor needs of a ConsumerRecord, cheap to pickle."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


BATCH = 2000
# Pausing partitions read ahead (`read(balance_ms=...)`) is off: with kafka-python 3.0.12
# a resumed partition was seen not to be fetched again (the replay hung). Small fetches
# (1 MB a partition) keep the partitions near each other instead.
BALANCE_MS: int | None = None


def _reader(s: Settings, topics: list[str], progress: bool, label: str, conn: Any) -> None:
    """The reading process: fetch and decode Kafka batches, send the records in chunks."""
    try:
        cols: list[Any] = []
        for r in read(s, topics, progress=progress, label=label, balance_ms=BALANCE_MS,
                      max_partition_fetch_bytes=1 << 20):
            cols.append((r.topic, r.partition, r.offset, r.key, r.value, r.headers))
            if len(cols) >= BATCH:
                conn.send(("records", cols))
                cols = []
        conn.send(("records", cols))
        conn.send(("end", None))
    except ServiceUnavailable as e:
        cause = str(e).partition("does not answer: ")[2]
        conn.send(("unavailable", (e.service, e.address, cause)))
    except Exception as e:  # noqa: BLE001 - reported by the parent as one line
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


def read_in_background(s: Settings, topics: Iterable[str], *, progress: bool = True,
                       label: str = "replay", raw: bool = False) -> Iterator[Any]:
    """`read()` in a second process (both cores: kafka-python's fetch decoding is pure
    Python and costs about as much as the auditor's own checks), the same records in the
    same per-partition order (as Rec, or with `raw` as plain tuples in Rec's field order).
    The process starts now, before the first record is asked
    for (so, e.g., before a process pool with its threads exists)."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_reader, args=(s, list(topics), progress, label, child),
                       name="hub-audit-reader", daemon=True)
    proc.start()
    child.close()
    return _receive(parent, proc, raw)


def _receive(parent: Any, proc: Any, raw: bool) -> Iterator[Any]:
    try:
        while True:
            try:
                kind, body = parent.recv()
            except EOFError:
                raise HubError("audit reader process ended unexpectedly") from None
            if kind == "records":
                if raw:  # plain (topic, partition, offset, key, value, headers) tuples
                    yield from body
                else:
                    for t in body:
                        yield Rec(*t)
            elif kind == "end":
                return
            elif kind == "unavailable":
                raise ServiceUnavailable(*body)
            else:
                raise HubError(f"audit reader: {body}")
    finally:
        parent.close()
        if proc.is_alive():
            proc.terminate()
        proc.join()
