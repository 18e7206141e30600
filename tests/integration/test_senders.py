"""Sender processes (hub.senders) against the real Kafka: staged batches are published only
when released, in order, and never once dropped or when the pool closes."""

from __future__ import annotations

import time

import pytest

from hub import kafka
from hub.senders import Item, SenderPool, partition_of

pytestmark = pytest.mark.integration


def _published(s, topic: str) -> int:  # type: ignore[no-untyped-def]
    return sum(kafka.end_offsets(s, [topic]).values())


def test_staged_batches_wait_for_release_and_vanish_when_dropped(hub_settings):
    s = hub_settings
    topic = s.topic("senders.test.v1")
    kafka.ensure_topics(s, [kafka.TopicSpec(topic, {})], partitions=4)
    parts = [0, 1, 2, 3]
    items: list[Item] = []
    for i in range(100):
        key = f"K{i}".encode()
        items.append((topic, partition_of(key, parts), key, b"v%d" % i, []))
    pool = SenderPool(s, 2, "test-senders")
    try:
        first, second = pool.stage(items[:50]), pool.stage(items[50:])
        with pytest.raises(RuntimeError):
            pool.send(items[:1])  # nothing goes out while batches wait
        with pytest.raises(RuntimeError):
            pool.release(second)  # only the oldest
        time.sleep(2)
        assert _published(s, topic) == 0
        pool.drop_staged()
        sent = pool.results(pool.send(items[:10]), timeout=30)
        assert [m.partition for m in sent] == [it[1] for it in items[:10]]
        assert _published(s, topic) == 10
        third = pool.stage(items[10:30])
        assert pool.staged == 1
        assert len(pool.results(pool.release(third), timeout=30)) == 20
        assert _published(s, topic) == 30
        pool.stage(items[30:40])
        assert first != second != third
    finally:
        pool.close()  # with a batch still staged: dropped
    time.sleep(1)
    assert _published(s, topic) == 30
