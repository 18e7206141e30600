"""Court side end to end, through the `hub court` CLI in a subprocess: decisions in, signed,
numbered, chained events out, with a checkpoint whose Merkle root matches them; a relay
killed between publishing and marking sent publishes nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.partitioner.default import murmur2 as kafka_murmur2

from hub import kafka
from hub.config import Settings
from hub.domain.events import CourtCheckpoint
from hub.keys import load_trust
from hub.ledger import GENESIS_HASH, chain_hash, leaf_hash, merkle_root
from hub.signed import verify_record
from producers.court import store
from tests.conftest import hub_env
from tests.unit.builders import (
    close_data,
    correct_data,
    line,
    list_data,
    open_data,
    revoke_data,
    shield_data,
    when,
)

pytestmark = pytest.mark.e2e

COURT_B = "350403"


def read_topic(s: Settings, topic: str) -> list[Any]:
    """Every record of `topic`, partition by partition, in offset order."""
    c = kafka.consumer(s, client_id="test-court-reader")
    try:
        parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        ends = c.end_offsets(parts)
        out: dict[TopicPartition, list[Any]] = defaultdict(list)
        for _ in range(200):
            if all(c.position(tp) >= ends[tp] for tp in parts):
                break
            for tp, records in c.poll(timeout_ms=500).items():
                out[tp].extend(records)
        return [r for tp in parts for r in out[tp]]
    finally:
        c.close()


def hub(s: Settings, *args: str, extra_env: dict[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    env = hub_env(s) | (extra_env or {})
    p = subprocess.run([sys.executable, "-m", "hub", *args], env=env, capture_output=True,
                       text=True, timeout=180)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def scenario() -> list[dict[str, Any]]:
    """Every action, several listings, two courts (file order = court order)."""
    return [
        list_data("A1"),
        list_data("A2", kind="person", decision_no="A2-list"),
        list_data("B1", court_code=COURT_B, decision_no="B1-list"),
        shield_data("A1"),
        open_data("A2"),
        close_data("A2"),
        correct_data("A2", decided_at=when(40)),
        revoke_data("A2", decided_at=when(50)),
        open_data("B1", court_code=COURT_B, decision_no="B1-open"),
        close_data("B1", outcome="upheld", court_code=COURT_B, decision_no="B1-close"),
        correct_data("B1", court_code=COURT_B, decision_no="B1-correct", decided_at=when(40),
                     changes={"subject.name": "三明某某商貿有限公司", "public": False}),
        list_data("A3", decision_no="A3-list", ground="refuses_despite_ability", period_end=None),
    ]


def write(tmp_path: Path, decisions: list[dict[str, Any]], name: str = "decisions.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(line(d) + "\n" for d in decisions), encoding="utf-8")
    return path


def check_court_log(s: Settings, decisions: list[dict[str, Any]]) -> None:
    """The contract of the court topic and the checkpoints, for `decisions` exactly once."""
    trust = load_trust(s)
    records = read_topic(s, s.court_topic)
    assert len(records) == len(decisions)
    partitions = len(kafka.end_offsets(s, [s.court_topic]))
    events = []
    for r in records:
        v = verify_record(trust, r.value, r.headers)  # signature valid, signer = the court
        assert r.key == v.model.meta.listing_id.encode("utf-8")
        # the partition kafka-python's default partitioner picks for the key
        assert r.partition == (kafka_murmur2(r.key) & 0x7FFFFFFF) % partitions
        events.append((r, v.model))
    ids = {e.meta.event_id for _, e in events}
    assert len(ids) == len(decisions)
    assert {e.meta.decision_no for _, e in events} == {d["decision_no"] for d in decisions}

    # Per listing, the file's order (records of a listing share a partition).
    by_listing: dict[str, list[str]] = defaultdict(list)
    for _, e in events:
        by_listing[e.meta.listing_id].append(e.meta.decision_no)
    expected: dict[str, list[str]] = defaultdict(list)
    for d in decisions:
        expected[d["listing_id"]].append(d["decision_no"])
    assert by_listing == expected

    # Gap-free sequence and unbroken hash chain per court.
    by_court: dict[str, list[tuple[int, bytes, Any]]] = defaultdict(list)
    for r, e in events:
        by_court[e.meta.court_code].append((e.meta.court_seq, r.value, e))
    checkpoints = read_topic(s, s.checkpoint_topic)
    for court, items in by_court.items():
        items.sort(key=lambda t: t[0])
        assert [seq for seq, _, _ in items] == list(range(1, len(items) + 1))
        prev = GENESIS_HASH
        for _, value, e in items:
            assert e.meta.prev_hash == prev
            prev = chain_hash(value)
        # The latest checkpoint of the court covers everything and its root matches.
        mine = [verify_record(trust, c.value, c.headers).model for c in checkpoints
                if c.key == court.encode()]
        assert mine, f"no checkpoint for {court}"
        last = max(mine, key=lambda cp: cp.tree_size)
        assert isinstance(last, CourtCheckpoint)
        assert last.tree_size == len(items)
        assert last.last_event_id == items[-1][2].meta.event_id
        assert last.root_hash == merkle_root([leaf_hash(v) for _, v, _ in items])
        for cp in mine:  # every earlier checkpoint is a prefix of the same log
            assert cp.root_hash == merkle_root([leaf_hash(v) for _, v, _ in items[: cp.tree_size]])


def test_submit_publishes_signed_chained_events_and_a_checkpoint(hub_settings, tmp_path):
    s = hub_settings
    decisions = scenario()
    path = write(tmp_path, decisions)
    p = hub(s, "court", "submit", str(path), "--format", "json")
    summary = json.loads(p.stdout)
    assert summary["accepted"] == summary["published"] == len(decisions)
    assert summary["skipped"] == 0 and summary["checkpoints"] >= 2
    assert "created the signing key of court 350402" in p.stderr
    check_court_log(s, decisions)

    # Keys are in the trust store and listed.
    keys = json.loads(hub(s, "court", "keys", "show", "--format", "json").stdout)
    assert {k["court_code"] for k in keys} == {"350402", COURT_B}
    assert "already exists" in hub(s, "court", "keys", "init", "--court", "350402").stdout

    # Show: current state and history.
    view = json.loads(hub(s, "court", "show", "A2", "--format", "json").stdout)
    assert view["state"]["status"] == "revoked"
    assert [h["action"] for h in view["history"]] == [
        "list", "open_verification", "close_verification", "correct", "revoke"]
    assert all(h["published"] for h in view["history"])
    unknown = hub(s, "court", "show", "NOPE", check=False)
    assert unknown.returncode != 0 and "unknown listing" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1

    # The same file again: nothing new.
    again = json.loads(hub(s, "court", "submit", str(path), "--format", "json").stdout)
    assert again == again | {"accepted": 0, "skipped": len(decisions), "published": 0}
    assert len(read_topic(s, s.court_topic)) == len(decisions)


def test_relay_killed_between_publish_and_mark_publishes_nothing_twice(hub_settings, tmp_path):
    s = hub_settings
    decisions = scenario()
    path = write(tmp_path, decisions)
    first = json.loads(hub(s, "court", "submit", str(path), "--no-relay", "--format", "json").stdout)
    assert first["accepted"] == len(decisions) and first["published"] == 0

    crashed = hub(s, "court", "relay", "--once", check=False,
                  extra_env={"HUB_FAULT": "relay-after-publish"})
    assert crashed.returncode == 137, crashed.stderr
    assert len(read_topic(s, s.court_topic)) == len(decisions)  # published, never marked
    assert store.row_counts(s)["checkpoints"] == 0

    again = json.loads(hub(s, "court", "relay", "--once", "--format", "json").stdout)
    assert again["recovered"] == len(decisions) and again["published"] == 0
    check_court_log(s, decisions)

    # More decisions after the recovery continue the same sequences and chain.
    more = [shield_data("A3", decision_no="A3-shield"),
            shield_data("B1", court_code=COURT_B, decision_no="B1-shield", decided_at=when(45))]
    hub(s, "court", "submit", str(write(tmp_path, more, "more.jsonl")))
    check_court_log(s, decisions + more)
