"""The court relay's sender processes: a large batch is published by one kafka-python
producer per process, each owning a fixed share of the partitions (issue #4).

kafka-python spends ~35 µs of one core per record in `send` (the bare producer of
`bench.court` runs at ~25-30k records/s); two processes publish ~45k/s on the 2-core
target machine. Exactly-once holds as with one producer (relay.py's docstring): each
partition is written by exactly one idempotent producer (acks=all), so what reaches a
partition is a prefix of what it was asked to send, in order, and the relay marks a batch
sent only once every sender has confirmed its share. A sender dies with the relay (SIGKILL
on parent death), so a relay killed with -9 leaves nobody publishing behind the back of the
relay that replaces it; that one's recovery scan then finds what was published.

Partitions are chosen here as kafka-python's DefaultPartitioner would (murmur2 of the key,
`murmur2`), so a listing lands on the same partition whichever path published it."""

from __future__ import annotations

import os
import struct
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from hub import kafka
from hub.config import Settings
from hub.errors import ServiceUnavailable
from hub.ledger import SIG_HEADER, SIGNER_HEADER
from hub.workers import child_pipes, spawn, stop

MODULE = "producers.court.senders"
POOL_FROM = 4_000  # rows to publish from which sender processes are worth starting (~0.35 s)
SENDERS_ENV = "HUB_RELAY_SENDERS"  # sender processes, overriding the choice (tests; 0: none)
# One record to send: partition, key, value, signature, signer (ASCII bytes).
Item = tuple[int, bytes, bytes, bytes, bytes]

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS = [struct.Struct(f"<{q}I").unpack_from for q in range(64)]


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as
    kafka.partitioner.default.murmur2 returns it, at half its cost (tests pin the two)."""
    n = len(data)
    h = 0x9747B28C ^ n
    q = n >> 2
    words = _WORDS[q] if q < len(_WORDS) else struct.Struct(f"<{q}I").unpack_from
    for k in words(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = n & 3
    if rest:
        t = n & ~3
        if rest == 3:
            h ^= data[t + 2] << 16
        if rest >= 2:
            h ^= data[t + 1] << 8
        h = ((h ^ data[t]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_of(key: bytes, partitions: list[int]) -> int:
    """The partition kafka-python's DefaultPartitioner picks for `key` (sorted ids)."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


def offsets_of(futures: list[Any], timeout: float) -> dict[int, int]:
    """Per partition, the offset after the last record of `futures` (raises on error)."""
    out: dict[int, int] = {}
    for f in futures:
        md = f.get(timeout=timeout)
        if md.offset + 1 > out.get(md.partition, -1):
            out[md.partition] = md.offset + 1
    return out


def send_items(producer: Any, topic: str, items: list[Item]) -> list[Any]:
    send = producer.send
    return [send(topic, key=key, value=value, partition=part,
                 headers=[(SIG_HEADER, sig), (SIGNER_HEADER, signer)])
            for part, key, value, sig, signer in items]


@dataclass
class _Sender:
    proc: Any
    requests: Any
    answers: Any


class SenderPool:
    """`processes` sender processes; partition p is always published by sender
    p % processes. `send` hands a batch over and returns at once; `offsets` waits for it."""

    def __init__(self, s: Settings, topic: str, processes: int) -> None:
        self.s = s
        self.topic = topic
        self._senders: list[_Sender] = []
        self._next = 0
        try:
            for _ in range(processes):
                proc, requests, answers = spawn(MODULE)
                self._senders.append(_Sender(proc, requests, answers))
                requests.send((s, topic))
        except (OSError, ValueError) as e:
            self.close()
            raise ServiceUnavailable("Kafka", s.kafka_bootstrap, f"sender process: {e}") from e

    def __len__(self) -> int:
        return len(self._senders)

    def send(self, items: list[Item]) -> int:
        """Queue a batch (each sender gets the items of its partitions); returns its ticket."""
        n = len(self._senders)
        shares: list[list[Item]] = [[] for _ in range(n)]
        for item in items:
            shares[item[0] % n].append(item)
        self._next += 1
        for sender, share in zip(self._senders, shares, strict=True):
            try:
                sender.requests.send((self._next, share))
            except (OSError, ValueError) as e:
                raise self._died(f"{type(e).__name__}: {e}") from e
        return self._next

    def offsets(self, ticket: int, timeout: float) -> dict[int, int]:
        """Wait for every sender's share of batch `ticket` (batches are answered in the
        order they were sent); per partition, the offset after its last record."""
        out: dict[int, int] = {}
        for sender in self._senders:
            try:
                if not sender.answers.poll(timeout):
                    raise ServiceUnavailable("Kafka", self.s.kafka_bootstrap,
                                             "a sender process did not answer in time")
                got, answer = sender.answers.recv()
            except (OSError, EOFError) as e:
                raise self._died(f"{type(e).__name__}: {e}") from e
            if got != ticket:
                raise RuntimeError(f"sender answered batch {got}, expected {ticket}")
            if isinstance(answer, str):  # the sender's producer failed
                raise ServiceUnavailable("Kafka", self.s.kafka_bootstrap, answer)
            out.update(answer)
        return out

    def _died(self, why: str) -> ServiceUnavailable:
        return ServiceUnavailable("Kafka", self.s.kafka_bootstrap, f"sender process died ({why})")

    def close(self) -> None:
        senders, self._senders = self._senders, []
        for sender in senders:
            stop(sender.proc, sender.requests, sender.answers)


def start_senders(s: Settings, rows: int, partitions: int | None = None) -> SenderPool | None:
    """Sender processes for publishing `rows` rows: one per core (at most one per
    partition), on a multi-core machine and for large batches only; HUB_RELAY_SENDERS
    overrides. They start in the background: a submit starts them before recording, so
    that they are connected by the time its drain needs them."""
    cores = os.cpu_count() or 1
    forced = os.environ.get(SENDERS_ENV)
    want = int(forced) if forced else (min(cores, partitions or s.topic_partitions)
                                       if rows >= POOL_FROM and cores >= 2 else 0)
    return SenderPool(s, s.court_topic, want) if want >= 1 else None


def _serve() -> None:
    """A sender process: settings and topic first, then batches `(ticket, items)`; answers
    `(ticket, {partition: next offset})`, or `(ticket, reason)` if the producer failed, in
    the order the batches came. Ends at None or end of input, after flushing."""
    inbox, outbox = child_pipes(die_with_parent=True)
    try:
        first = inbox.recv()
    except (EOFError, OSError):
        return
    if first is None:
        return
    s, topic = first
    failure = ""
    try:
        producer = kafka.producer(s, client_id=f"hub-court-relay-{os.getpid()}")
    except Exception as e:  # noqa: BLE001 - reported with every batch, the relay stops
        producer, failure = None, f"{type(e).__name__}: {e}"[:300]
    timeout = s.kafka_request_timeout_ms / 1000 * 4
    pending: deque[tuple[int, list[Any] | str] | None] = deque()
    ready = threading.Condition()

    def answer() -> None:  # waits for the acknowledgements in order, off the sending thread
        while True:
            with ready:
                while not pending:
                    ready.wait()
                job = pending.popleft()
            if job is None:
                return
            ticket, futures = job
            if not isinstance(futures, str):
                try:
                    futures = offsets_of(futures, timeout)  # type: ignore[assignment]
                except Exception as e:  # noqa: BLE001 - the relay raises it
                    futures = f"{type(e).__name__}: {e}"[:300]
            outbox.send((ticket, futures))

    answerer = threading.Thread(target=answer, name="court-sender-acks", daemon=True)
    answerer.start()
    while True:
        try:
            msg = inbox.recv()
        except (EOFError, OSError):
            msg = None
        if msg is None:
            break
        ticket, items = msg
        if producer is None:
            job: tuple[int, list[Any] | str] = (ticket, failure)
        else:
            try:
                job = (ticket, send_items(producer, topic, items))
            except Exception as e:  # noqa: BLE001 - the relay raises it
                job = (ticket, f"{type(e).__name__}: {e}"[:300])
        with ready:
            pending.append(job)
            ready.notify()
    with ready:
        pending.append(None)
        ready.notify()
    answerer.join()
    if producer is not None:
        producer.close(timeout=10)


if __name__ == "__main__":
    _serve()
