"""`hub audit verify` in its default checkpoint mode (issue #6): which events a checkpoint
authenticates, which get their own signature checked, and forged records that come before
their genuine copy or break a checkpoint's root."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from hub import codec, kafka
from hub.config import Settings
from hub.domain.decisions import meta_for, parse_lines, to_event
from hub.generate import generate
from hub.keys import court_signer
from hub.ledger import GENESIS_HASH, generate_key
from hub.signed import sign
from tests.integration.test_audit_helpers import publish_court_log
from tests.support import run_hub

pytestmark = pytest.mark.integration


def _verify(s: Settings, *extra: str) -> tuple[int, dict[str, Any]]:
    proc = run_hub(s, "audit", "verify", "--format", "json", *extra, check=False)
    return proc.returncode, json.loads(proc.stdout)


def _rules(doc: dict[str, Any]) -> dict[tuple[str, int, int], str]:
    return {(f["topic"], f["partition"], f["offset"]): f["rule"] for f in doc["failures"]}


def test_covered_and_sampled_events(hub_settings: Settings) -> None:
    s = hub_settings
    events = publish_court_log(s, generate(10, seed=21), checkpoint_every=4)
    code, doc = _verify(s)
    assert code == 0 and doc["mode"] == "checkpoint"
    sig = doc["event_signatures"]
    assert sig["covered_by_checkpoint"] == len(events) and sig["checked_individually"] == 0

    code, doc = _verify(s, "--sample-rate", "1")
    assert code == 0 and doc["event_signatures"]["sampled"] == len(events)


def test_forgery_read_before_its_genuine_copy(hub_settings: Settings) -> None:
    """The forged court_seq 1 sits at offset 0, ahead of the genuine log: it is taken out
    of the order when the root of its segment does not match, and the genuine copy is
    accepted in its place."""
    s = hub_settings
    kafka.ensure_topics(s, kafka.topic_specs(s, []))
    decisions = generate(8, seed=22)
    # court_seq 1 as the court will write it (publish_court_log's recorded_at), altered
    parsed, errors = parse_lines(json.dumps(d, ensure_ascii=False) for d in decisions)
    assert not errors
    d = parsed[0]
    meta = meta_for(d, court_seq=1, prev_hash=GENESIS_HASH,
                    recorded_at=d.decided_at + timedelta(minutes=1))
    ev = to_event(d, meta)
    forged = codec.encode(ev.model_copy(update={"meta": ev.meta.model_copy(
        update={"decision_no": ev.meta.decision_no + "F"})}))
    forger = generate_key(court_signer(d.court_code))
    prod = kafka.producer(s, "test-admin")
    # at offset 0 of every partition: read before the genuine court_seq 1 whatever the
    # interleaving of partitions
    mds = [prod.send(s.court_topic, key=b"forged", value=forged, partition=p,
                     headers=sign(forger, forged)).get(timeout=30)
           for p in sorted(prod.partitions_for(s.court_topic))]
    prod.close()
    events = publish_court_log(s, decisions, checkpoint_every=3)
    assert codec.encode(ev) == next(v for e, v in events if e.meta.event_id == ev.meta.event_id)
    for extra in ((), ("--all-signatures",)):
        code, doc = _verify(s, *extra)
        assert code == 1
        assert _rules(doc) == {(s.court_topic, md.partition, md.offset): "signature"
                               for md in mds}, doc["failures"]
        assert doc["events_checked"] == len(events)
