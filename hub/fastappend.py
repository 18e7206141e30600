"""Many records into a kafka-python producer at once (issue #4: the court relay's publish).

`KafkaProducer.send` costs ~20-30 µs of Python per record: argument checks, a partitioner
call, a size estimate, a lock, kafka-python's generic record encoder, and a
`FutureRecordMetadata` per record that its network thread completes one by one. The
relay publishes tens of thousands of records whose partition it already knows and needs
only, per partition, the offset after the last one (`relay._store_offsets`). `append`
writes such a run of records straight into the producer's own batches: the same
accumulator, the same network thread, the same idempotent sequence numbers, retries and
acks that `send` leads to; only the per-record work in between is replaced by one encoder
pass (Kafka's record format v2, "Record" in the protocol guide: zigzag varints) and one
future per batch (the batch's `FutureProduceResult`, whose base offset plus a record's
position is its offset).

It touches kafka-python's internals (`_accumulator`, `ProducerBatch`,
`DefaultRecordBatchBuilder`), so `usable` checks for exactly the attributes it uses,
`tests/unit/test_fastappend.py` checks the batches it writes against kafka-python's own
encoder, byte for byte, and `tests/integration/test_fastappend_kafka.py` against the
broker; where anything is missing, callers fall back to `send`. A batch without per-record futures cannot be split on MESSAGE_TOO_LARGE (a
batch is at most `batch_size`, 256 KiB, far below the broker's 1 MiB limit): its future
would then never complete, and the caller's wait fails with a timeout, as for any lost
acknowledgement."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from kafka import TopicPartition
from kafka.errors import IllegalStateError, KafkaTimeoutError, MessageSizeTooLargeError
from kafka.producer.producer_batch import ProducerBatch
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecordsBuilder

from hub import kafka_internals
from hub.varint import SMALL, varint

# Where a run of records went: partition, the batch's produce future (resolves to
# (base_offset, …)) and the position in that batch of the run's last record.
Landing = tuple[int, Any, int]

_HEADER_SIZE = DefaultRecordBatchBuilder.HEADER_STRUCT.size
# A record's fields before its key (DefaultRecordBatchBuilder.MAX_RECORD_OVERHEAD).
_OVERHEAD = DefaultRecordBatchBuilder.MAX_RECORD_OVERHEAD


_HEADER_KEYS: dict[str, bytes] = {}


def record_tail(key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> bytes:
    """A record's key, value and headers ((str, bytes) pairs, as `send` takes them) as
    record format v2 writes them: everything after the record's offset delta."""
    small = SMALL
    parts = [b"\x01"] if key is None else [varint(len(key)), key]
    parts += (varint(len(value)), value, small[len(headers)])
    for h_key, h_value in headers:
        k = _HEADER_KEYS.get(h_key)
        if k is None:
            raw = h_key.encode("utf-8")
            k = _HEADER_KEYS[h_key] = varint(len(raw)) + raw
        parts += (k, varint(len(h_value)), h_value)
    return b"".join(parts)


def usable(producer: Any) -> bool:
    """Whether this producer has the internals `append` writes into (kafka-python 3.x,
    record format v2, not transactional)."""
    if not kafka_internals.checked():
        return False
    acc = getattr(producer, "_accumulator", None)
    return (
        acc is not None
        and all(hasattr(acc, a) for a in ("_batches", "_tp_lock", "_incomplete",
                                          "_appends_in_progress", "_closed", "config"))
        and acc.config.get("message_version") == 2
        and not getattr(producer, "config", {}).get("transactional_id")
        and all(hasattr(producer, a) for a in ("_sender", "_metadata", "_wait_on_metadata"))
        and set(DefaultRecordBatchBuilder.__slots__) >= {
            "_buffer", "_batch_size", "_first_timestamp", "_max_timestamp",
            "_last_offset", "_num_records"}
        and set(MemoryRecordsBuilder.__slots__) >= {"_builder", "_next_offset", "_closed"}
    )


def append(producer: Any, topic: str, partition: int, tails: Sequence[bytes]) -> list[Landing]:
    """Queue records (`record_tail`s), in order, for `partition` of `topic`; where each
    run of them landed (one entry per batch used). The network thread sends them as it
    sends what `send` queues. Raises what `send` would raise for a closed producer or a
    record larger than max_request_size, before queueing anything."""
    if producer._closed:
        raise IllegalStateError("KafkaProducer already closed!")
    if producer._metadata.partitions_for_topic(topic) is None:
        producer._wait_on_metadata(topic, producer.config["max_block_ms"])
    _check_sizes(producer, tails)
    acc = producer._accumulator
    tp = TopicPartition(topic, partition)

    def new_batch(now: float) -> Any:
        batch = ProducerBatch(tp, MemoryRecordsBuilder(
            acc.config["message_version"], acc.config["compression_attrs"],
            acc.config["batch_size"]), now=now)
        acc._incomplete.add(batch)
        return batch

    acc._appends_in_progress.increment()
    try:
        with acc._tp_lock(tp):
            if acc._closed:
                raise IllegalStateError("RecordAccumulator is closed")
            runs = queue(acc._batches[tp], tails, int(time.time() * 1000), new_batch)
    finally:
        acc._appends_in_progress.decrement()
    producer._sender.wakeup()
    return [(partition, future, last) for future, last in runs]


def build(producer: Any, topic: str, partition: int, tails: Sequence[bytes]) -> list[Any]:
    """Records (`record_tail`s), in order, in new batches for `partition` of `topic` that
    are not queued: `enqueue` queues them later. (The court's submit writes its records'
    batches while PostgreSQL takes its COPYs, and queues them once its transaction has
    committed.) Raises what `append` raises for a record too large, building nothing."""
    _check_sizes(producer, tails)
    config = producer._accumulator.config
    tp = TopicPartition(topic, partition)

    def new_batch(now: float) -> Any:
        return ProducerBatch(tp, MemoryRecordsBuilder(
            config["message_version"], config["compression_attrs"], config["batch_size"]),
            now=now)

    batches: list[Any] = []
    queue(batches, tails, int(time.time() * 1000), new_batch)
    return batches


def enqueue(producer: Any, topic: str, built: dict[int, list[Any]]) -> list[Landing]:
    """Queue batches made by `build` (per partition, in order) behind whatever the
    partitions hold, as if appended now: their records are timestamped now, and their
    delivery timeout starts now. Where each batch's records landed, as `append` says."""
    if producer._closed:
        raise IllegalStateError("KafkaProducer already closed!")
    acc = producer._accumulator
    now = time.monotonic()
    ts = int(time.time() * 1000)
    landings: list[Landing] = []
    acc._appends_in_progress.increment()
    try:
        for partition, batches in built.items():
            tp = TopicPartition(topic, partition)
            with acc._tp_lock(tp):
                if acc._closed:
                    raise IllegalStateError("RecordAccumulator is closed")
                dq = acc._batches[tp]
                for batch in batches:
                    # Every record's timestamp delta is 0 (`build` gives them one time): the
                    # batch's base timestamp is theirs.
                    b = batch.records._builder
                    b._first_timestamp = b._max_timestamp = ts
                    batch.created = batch.last_attempt = batch.last_append = now
                    acc._incomplete.add(batch)
                    dq.append(batch)
                    landings.append((partition, batch.produce_future,
                                     batch.records._next_offset - 1))
    finally:
        acc._appends_in_progress.decrement()
    producer._sender.wakeup()
    return landings


def _check_sizes(producer: Any, tails: Sequence[bytes]) -> None:
    largest = max(map(len, tails), default=0) + _HEADER_SIZE + _OVERHEAD
    if largest > producer.config["max_request_size"]:
        raise MessageSizeTooLargeError(
            f"The message is {largest} bytes when serialized which is larger than the"
            " maximum request size you have configured with the max_request_size"
            " configuration")


def queue(dq: Any, tails: Sequence[bytes], ts: int,
          new_batch: Callable[[float], Any]) -> list[tuple[Any, int]]:
    """Append `tails` to the partition's deque of batches: into its last batch while it is
    open and has room, then into new ones (`new_batch(now)`); per batch used, its produce
    future and the position of the last record put there. All records get timestamp `ts`."""
    now = time.monotonic()
    runs: list[tuple[Any, int]] = []
    batch = dq[-1] if dq else None
    i, n = 0, len(tails)
    while i < n:
        if batch is None or batch.records._closed:
            batch = new_batch(now)
            dq.append(batch)
        start = i
        i = _fill(batch, tails, i, ts, now)
        if i > start:
            runs.append((batch.produce_future, batch.records._next_offset - 1))
        if i < n:
            batch = None
    return runs


def _fill(batch: Any, tails: Sequence[bytes], i: int, ts: int, now: float) -> int:
    """Append tails[i:] to `batch` while they fit (DefaultRecordBatchBuilder.append's
    rules: the first record of a batch always does); the index of the first left out."""
    mrb = batch.records
    b = mrb._builder
    buf = b._buffer
    room = b._batch_size
    offset = start = mrb._next_offset
    base = ts if b._first_timestamp is None else b._first_timestamp
    head = b"\x00" + varint(ts - base)  # attributes, timestamp delta
    biggest = batch.max_record_size
    first = b._num_records == 0
    small = SMALL
    join = b"".join
    n = len(tails)
    while i < n:
        tail = tails[i]
        od = small[offset] if offset < 16384 else varint(offset)
        body = len(head) + len(od) + len(tail)
        length = small[body] if body < 16384 else varint(body)
        size = len(length) + body
        if len(buf) + size > room and not first:
            break
        buf += join((length, head, od, tail))
        first = False
        offset += 1
        if size > biggest:
            biggest = size
        i += 1
    if offset > start:  # timestamps too change only once a record is in (as kafka-python)
        if b._first_timestamp is None:
            b._first_timestamp = b._max_timestamp = ts
        elif ts > b._max_timestamp:
            b._max_timestamp = ts
        b._num_records += offset - start
        b._last_offset = offset - 1
        mrb._next_offset = offset
        batch.max_record_size = biggest
        batch.last_append = now
    return i


def settle(landings: Sequence[Landing], timeout: float) -> dict[int, int]:
    """Wait for the batches; per partition, the offset after the last record. Raises the
    batch's error, or KafkaTimeoutError if one is not acknowledged within `timeout`
    seconds (each)."""
    out: dict[int, int] = {}
    for partition, future, last in landings:
        if not future.wait(timeout):
            raise KafkaTimeoutError(f"no acknowledgement within {timeout:.0f} s")
        if future.failed():
            raise future.exception
        end = future.value[0] + last + 1
        if end > out.get(partition, -1):
            out[partition] = end
    return out
