"""`hub.fastappend` writes the bytes kafka-python's own encoder writes: whole record
batches, header and CRC included, compared byte for byte (no I/O: batches are built in
memory, as the producer's accumulator builds them)."""

from __future__ import annotations

from collections import deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.producer.producer_batch import ProducerBatch
from kafka.record import MemoryRecords
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.record.util import encode_varint

from hub import fastappend
from hub.varint import varint

TP = TopicPartition("t", 0)

headers_st = st.lists(st.tuples(st.text(max_size=12), st.binary(max_size=80)), max_size=3)
record_st = st.tuples(st.one_of(st.none(), st.binary(max_size=40)), st.binary(max_size=3000),
                      headers_st)
# Runs of records, each queued in one call with its own timestamp (ms after a base).
runs_st = st.lists(st.tuples(st.lists(record_st, min_size=1, max_size=25), st.integers(-5000, 5000)),
                   min_size=1, max_size=4)


def _batch_maker(batch_size: int) -> Any:
    def make(now: float) -> ProducerBatch:
        return ProducerBatch(TP, MemoryRecordsBuilder(2, 0, batch_size), now=now)
    return make


def _closed(dq: deque[ProducerBatch]) -> list[tuple[bytes, int, int]]:
    out = []
    for b in dq:
        b.records.close()
        out.append((bytes(b.records.buffer()), b.record_count, b.max_record_size))
    return out


@settings(deadline=None, max_examples=150)
@given(runs_st, st.integers(64, 20_000))
def test_batches_equal_kafka_pythons_byte_for_byte(runs: list[Any], batch_size: int) -> None:
    base = 1_790_000_000_000
    make = _batch_maker(batch_size)
    # kafka-python: RecordAccumulator.append's rule, record by record.
    theirs: deque[ProducerBatch] = deque()
    for records, delta in runs:
        for key, value, headers in records:
            if not theirs or theirs[-1].try_append(base + delta, key, value, headers) is None:
                theirs.append(make(0.0))
                assert theirs[-1].try_append(base + delta, key, value, headers) is not None
    ours: deque[ProducerBatch] = deque()
    positions = []
    for records, delta in runs:
        tails = [fastappend.record_tail(k, v, h) for k, v, h in records]
        positions += fastappend.queue(ours, tails, base + delta, make)
    assert _closed(ours) == _closed(theirs)
    # One entry per batch a run used, naming the position of the run's last record there.
    assert len(positions) >= len(runs)
    by_future = {id(b.produce_future): b for b in ours}
    for future, last in positions:
        assert 0 <= last < by_future[id(future)].record_count


@settings(deadline=None, max_examples=50)
@given(st.lists(record_st, min_size=1, max_size=10))
def test_batches_read_back_as_the_records(records: list[Any]) -> None:
    dq: deque[ProducerBatch] = deque()
    fastappend.queue(dq, [fastappend.record_tail(*r) for r in records], 1_790_000_000_000,
                     _batch_maker(1 << 20))
    (buf, _, _), = _closed(dq)
    batch = MemoryRecords(buf).next_batch()
    assert batch.validate_crc()
    got = [(r.key, r.value, r.headers) for r in batch]
    assert got == [(k, v, [(hk, hv) for hk, hv in h]) for k, v, h in records]


def test_a_batch_already_being_sent_is_not_appended_to() -> None:
    make = _batch_maker(1 << 16)
    dq: deque[ProducerBatch] = deque([make(0.0)])
    dq[0].try_append(1, b"k", b"v", [])
    dq[0].records.close()  # drained by the network thread
    runs = fastappend.queue(dq, [fastappend.record_tail(b"k2", b"v2", [])], 2, make)
    assert len(dq) == 2 and dq[0].record_count == 1 and dq[1].record_count == 1
    assert runs == [(dq[1].produce_future, 0)]


@given(st.integers(-(1 << 40), 1 << 40))
def test_hub_varint_is_kafkas_zigzag_varint(value: int) -> None:
    out = bytearray()
    encode_varint(value, out.append)
    assert varint(value) == bytes(out)
