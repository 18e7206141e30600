"""Kafka producers in helper processes (issue #4).

kafka-python spends ~20-35 µs of one core per record in `send` and its network thread,
under the GIL of the process that calls it. Several helpers spread that over the cores
(the court relay publishes a large batch ~1.7x as fast from two).

Each helper runs one kafka-python idempotent producer (acks=all, `hub.kafka.producer`).
Records keep the guarantees of one producer as long as each partition is only ever written
by one helper: `SenderPool` routes a record by its partition (`partition % helpers`; a
single helper owns every partition). A helper dies with its parent
(SIGKILL on parent death), so a process killed with -9 leaves nobody publishing behind the
back of the process that replaces it (whose recovery scan then finds what was published).

Partitions are chosen as kafka-python's DefaultPartitioner would (`partition_of`, murmur2
of the key), so a key lands on the same partition whichever path published it."""

from __future__ import annotations

import struct
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

from hub import kafka
from hub.config import Settings
from hub.errors import ServiceUnavailable
from hub.workers import child_pipes, receive, spawn, stop

MODULE = "hub.senders"
# One record: topic, partition (`partition_of` its key), key, value, headers.
Item = tuple[str, int, bytes | None, bytes, list[tuple[str, bytes]]]

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


class Sent(NamedTuple):
    """Where a record landed (what kafka-python's RecordMetadata says of it)."""

    topic: str
    partition: int
    offset: int


def send_items(producer: Any, items: list[Item]) -> list[Any]:
    send = producer.send
    return [send(topic, key=key, value=value, partition=part, headers=headers)
            for topic, part, key, value, headers in items]


@dataclass
class _Helper:
    proc: Any
    requests: Any
    answers: Any


class SenderPool:
    """`processes` helpers; partition p is always published by helper p % processes. `send` hands a batch over and
    returns at once; `results` waits for it."""

    def __init__(self, s: Settings, processes: int, client_id: str) -> None:
        self.s = s
        self._helpers: list[_Helper] = []
        self._next = 0
        self._routes: dict[int, list[list[int]]] = {}  # ticket -> item indices per helper
        try:
            for i in range(processes):
                proc, requests, answers = spawn(MODULE)
                self._helpers.append(_Helper(proc, requests, answers))
                requests.send((s, f"{client_id}-{i}"))
        except (OSError, ValueError) as e:
            self.close()
            raise ServiceUnavailable("Kafka", s.kafka_bootstrap, f"sender process: {e}") from e

    def send(self, items: list[Item]) -> int:
        """Queue a batch (each helper gets the items of its partitions); its ticket."""
        n = len(self._helpers)
        shares: list[list[Item]] = [[] for _ in range(n)]
        routes: list[list[int]] = [[] for _ in range(n)]
        for i, item in enumerate(items):
            shares[item[1] % n].append(item)
            routes[item[1] % n].append(i)
        self._next += 1
        self._routes[self._next] = routes
        for helper, share in zip(self._helpers, shares, strict=True):
            try:
                helper.requests.send((self._next, share))
            except (OSError, ValueError) as e:
                raise self._died(f"{type(e).__name__}: {e}") from e
        return self._next

    def results(self, ticket: int, timeout: float) -> list[Sent]:
        """Wait for batch `ticket` (batches are answered in the order they were sent):
        where each of its records landed, in the order of the batch. Raises
        ServiceUnavailable if a helper's producer failed or a helper died."""
        routes = self._routes.pop(ticket)
        out: list[Sent | None] = [None] * sum(map(len, routes))
        for helper, route in zip(self._helpers, routes, strict=True):
            try:
                if not helper.answers.poll(timeout):
                    raise ServiceUnavailable("Kafka", self.s.kafka_bootstrap,
                                             "a sender process did not answer in time")
                got, answer = helper.answers.recv()
            except (OSError, EOFError) as e:
                raise self._died(f"{type(e).__name__}: {e}") from e
            if got != ticket:
                raise RuntimeError(f"sender answered batch {got}, expected {ticket}")
            if isinstance(answer, str):  # the helper's producer failed
                raise ServiceUnavailable("Kafka", self.s.kafka_bootstrap, answer)
            for i, sent in zip(route, answer, strict=True):
                out[i] = Sent(*sent)
        return out  # type: ignore[return-value]

    def _died(self, why: str) -> ServiceUnavailable:
        return ServiceUnavailable("Kafka", self.s.kafka_bootstrap, f"sender process died ({why})")

    def close(self) -> None:
        helpers, self._helpers = self._helpers, []
        self._routes.clear()
        for helper in helpers:
            stop(helper.proc, helper.requests, helper.answers)


def _serve() -> None:
    """A helper: (settings, client id) first, then batches `(ticket,
    items)`; answers `(ticket, [(topic, partition, offset), …])`, or `(ticket, reason)` if
    the producer failed, in the order the batches came. Ends at None or end of input."""
    inbox, outbox = child_pipes(die_with_parent=True)
    first = receive(inbox)
    if first is None:
        return
    s, client_id = first
    failure = ""
    try:
        producer = kafka.producer(s, client_id=client_id)
    except Exception as e:  # noqa: BLE001 - reported with every batch, the parent stops
        producer, failure = None, f"{type(e).__name__}: {e}"[:300]
    pending: deque[tuple[int, list[Any] | str] | None] = deque()
    ready = threading.Condition()
    wait = s.kafka_request_timeout_ms / 1000 * 4

    def answer() -> None:  # waits for the acknowledgements in order, off the sending thread
        while True:
            with ready:
                while not pending:
                    ready.wait()
                job = pending.popleft()
            if job is None:
                return
            ticket, futures = job
            reply: list[tuple[str, int, int]] | str
            if isinstance(futures, str):
                reply = futures
            else:
                try:
                    reply = [(md.topic, md.partition, md.offset)
                             for md in (f.get(timeout=wait) for f in futures)]
                except Exception as e:  # noqa: BLE001 - the parent raises it
                    reply = f"{type(e).__name__}: {e}"[:300]
            outbox.send((ticket, reply))

    answerer = threading.Thread(target=answer, name="sender-acks", daemon=True)
    answerer.start()
    while (msg := receive(inbox)) is not None:
        ticket, items = msg
        job: tuple[int, list[Any] | str]
        if producer is None:
            job = (ticket, failure)
        else:
            try:
                job = (ticket, send_items(producer, items))
            except Exception as e:  # noqa: BLE001 - the parent raises it
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
