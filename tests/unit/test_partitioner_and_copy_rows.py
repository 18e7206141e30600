"""Pure helpers of the court relay: partitions as the default partitioner picks them, and
the binary COPY rows of the outbox and listings."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner
from kafka.partitioner.default import murmur2 as kafka_murmur2

from hub.partitioner import murmur2, partition_of
from producers.court import store


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_murmur2_is_kafka_pythons(data: bytes) -> None:
    assert murmur2(data) == kafka_murmur2(data)


class _Cluster:
    """What DefaultPartitioner reads of the cluster metadata."""

    def __init__(self, partitions: set[int]) -> None:
        self.partitions = partitions

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self.partitions


@settings(deadline=None)
@given(st.text(min_size=1, max_size=40), st.integers(1, 12))
def test_partition_is_the_default_partitioners(listing_id: str, n: int) -> None:
    key = listing_id.encode("utf-8")
    parts = set(range(n))
    expected = DefaultPartitioner().partition("t", listing_id, key, None, None, _Cluster(parts))
    assert partition_of(key, sorted(parts)) == expected


def test_binary_rows_follow_the_copy_binary_format() -> None:
    row = store.binary_row(("350402", 7, b"\x00\xff", None))
    assert row == (struct.pack(">h", 4) + struct.pack(">i", 6) + b"350402"
                   + struct.pack(">iq", 8, 7) + struct.pack(">i", 2) + b"\x00\xff"
                   + struct.pack(">i", -1))
    assert store.binary_field("三明") == struct.pack(">i", 6) + "三明".encode()
    assert store.BINARY_HEADER == b"PGCOPY\n\xff\r\n\x00" + bytes(8)


@pytest.mark.parametrize(("when", "micros"), [
    (datetime(2000, 1, 1, tzinfo=UTC), 0),
    (datetime(2000, 1, 1, 0, 0, 1, 5, tzinfo=UTC), 1_000_005),
    (datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), -1),
    (datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8))), 825_730_200_000_000),
])
def test_timestamptz_fields_count_microseconds_since_2000_utc(when: datetime, micros: int) -> None:
    assert store.binary_field(when) == struct.pack(">iq", 8, micros)
