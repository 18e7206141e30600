"""`hub.fastappend` against the real Kafka: records written straight into an idempotent
producer's batches arrive complete, in order, beside records `send` queued on the same
partitions, at the offsets `settle` reports; bad calls queue nothing."""

from __future__ import annotations

import json
import os

import pytest
from kafka.errors import IllegalStateError, MessageSizeTooLargeError

from hub import fastappend, kafka
from tests.e2e.test_court_e2e import read_topic

pytestmark = pytest.mark.integration


def _topic(s, name: str = "fastappend.v1") -> str:  # type: ignore[no-untyped-def]
    topic = s.topic(name)
    kafka.ensure_topics(s, [kafka.TopicSpec(topic, {})], partitions=2)
    return topic


def test_appended_records_arrive_in_order_beside_sent_ones(hub_settings):
    s = hub_settings
    topic = _topic(s)
    p = kafka.producer(s, client_id="test-fastappend")
    assert fastappend.usable(p)
    expected: dict[int, list[tuple[bytes, bytes, list[tuple[str, bytes]]]]] = {0: [], 1: []}
    landings = []
    try:
        for round_ in range(4):  # several batches per partition (256 KiB each), mixed
            for part in (0, 1):
                records = [(f"k{part}-{round_}-{i}".encode(), os.urandom(900 + i % 200),
                            [("sig", os.urandom(64)), ("signer", b"court:350402")])
                           for i in range(700)]
                landings += fastappend.append(
                    p, topic, part, [fastappend.record_tail(*r) for r in records])
                expected[part] += records
                sent = (f"send{part}-{round_}".encode(), b"by send", [("h", b"1")])
                p.send(topic, key=sent[0], value=sent[1], headers=sent[2], partition=part)
                expected[part].append(sent)
        p.flush()
        offsets = fastappend.settle(landings, timeout=30)
    finally:
        p.close()
    got = read_topic(s, topic)
    for part in (0, 1):
        mine = [r for r in got if r.partition == part]
        assert [r.offset for r in mine] == list(range(len(expected[part])))
        assert [(r.key, r.value, list(r.headers)) for r in mine] == expected[part]
        # settle: the offset after the last appended record (a sent one follows it)
        assert offsets[part] == len(expected[part]) - 1
    assert len({id(f) for _, f, _ in landings}) > 8  # records spread over many batches


def test_a_record_too_large_queues_nothing_of_its_call(hub_settings):
    s = hub_settings
    topic = _topic(s)
    p = kafka.producer(s, client_id="test-fastappend", max_request_size=20_000)
    try:
        ok = fastappend.record_tail(b"a", b"x" * 100, [])
        huge = fastappend.record_tail(b"b", b"x" * 30_000, [])
        with pytest.raises(MessageSizeTooLargeError):
            fastappend.append(p, topic, 0, [ok, huge])
        landed = fastappend.append(p, topic, 0, [ok])
        p.flush()
        assert fastappend.settle(landed, timeout=30) == {0: 1}
    finally:
        p.close()
    assert [(r.key, r.offset) for r in read_topic(s, topic)] == [(b"a", 0)]
    with pytest.raises(IllegalStateError):
        fastappend.append(p, topic, 0, [ok])


def test_built_batches_arrive_when_queued_timestamped_then(hub_settings):
    """`build` writes batches that nothing sends until `enqueue` queues them (the court's
    submit builds them before its commit); they land behind what the partition already
    holds, in order, at the offsets the landings give, timestamped when queued."""
    import time

    s = hub_settings
    topic = _topic(s, "fastappend.built.v1")
    p = kafka.producer(s, client_id="test-fastappend")
    records = {part: [(f"b{part}-{i}".encode(), os.urandom(700), [("sig", os.urandom(64))])
                      for i in range(900)] for part in (0, 1)}
    try:
        built = {part: fastappend.build(p, topic, part, [fastappend.record_tail(*r) for r in rs])
                 for part, rs in records.items()}
        assert sum(len(b) for b in built.values()) > 4  # several batches a partition
        p.send(topic, key=b"first", value=b"sent before", partition=0)
        p.flush()
        time.sleep(1.0)
        assert [r.key for r in read_topic(s, topic)] == [b"first"]  # built: not sent
        queued_at = int(time.time() * 1000)
        landings = fastappend.enqueue(p, topic, built)
        offsets = fastappend.settle(landings, timeout=30)
    finally:
        p.close()
    assert offsets == {0: 901, 1: 900}
    got = read_topic(s, topic)
    for part in (0, 1):
        mine = [r for r in got if r.partition == part and r.key != b"first"]
        assert [(r.key, r.value, list(r.headers)) for r in mine] == records[part]
        assert [r.offset for r in mine] == list(range(part == 0, 900 + (part == 0)))
        assert all(r.timestamp >= queued_at for r in mine)


def test_on_an_unchecked_kafka_python_the_relay_publishes_through_send(hub_settings, monkeypatch):  # type: ignore[no-untyped-def]
    """issue #22: kafka-python internals only on a version they were checked against."""
    from hub import kafka_internals
    from hub.generate import generate
    from tests.conftest import hub_env
    from tests.support import run_hub, write_jsonl

    s = hub_settings
    p = kafka.producer(s, client_id="test-fastappend-unchecked")
    try:
        assert fastappend.usable(p)
        monkeypatch.setattr(kafka_internals, "CHECKED", frozenset({"0.0.1"}))
        assert not fastappend.usable(p)
        assert kafka_internals.group_stable(object()) is None
    finally:
        p.close()
    path = s.state_dir.parent / "unchecked.jsonl"
    decisions = generate(50, seed=22)
    write_jsonl(path, decisions)
    env = hub_env(s) | {"HUB_KAFKA_INTERNALS": "off"}
    out = run_hub(s, "court", "submit", str(path), "--format", "json", env=env)
    assert json.loads(out.stdout)["published"] == len(decisions)
    assert out.stderr.count("kafka-python internals turned off") == 1
    assert len(read_topic(s, s.court_topic)) == len(decisions)
