"""Signed acknowledgement batches (issue #19) under `hub audit verify`: a log mixing old
one-record acknowledgements with batches verifies; a torn, reordered or altered batch chain,
a checkpoint over other batches and a court reference that no court checkpoint backs are
each named by unit, offset and rule; the real unit consumer's log verifies, its
checkpoints name the court checkpoints it applied, and trail/compliance read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hub import codec
from hub.domain.events import AckEntry, CourtReference, UnitAckBatch, UnitCheckpoint
from hub.generate import generate
from hub.ledger import MerkleAccumulator, leaf_hash
from tests.integration.test_audit_helpers import (
    ack_batch_values,
    publish_acks,
    publish_court_log,
    publish_unit_records,
    raw_records,
    unit_checkpoint_value,
)
from tests.support import run_hub

pytestmark = pytest.mark.integration


def _verify(s: Any) -> tuple[int, dict[str, Any], str]:
    proc = run_hub(s, "audit", "verify", "--format", "json", check=False)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def _court_ref(logged: list[tuple[Any, bytes]], size: int) -> CourtReference:
    """The reference to the first court's checkpoint at `size` (publish_court_log issues
    one every 3 events of a court)."""
    code = logged[0][0].meta.court_code
    acc = MerkleAccumulator()
    for ev, value in logged:
        if ev.meta.court_code == code and acc.size < size:
            acc.append(leaf_hash(value))
    return CourtReference(court_code=code, tree_size=size, root_hash=acc.root())


def _drop_an_entry(value: bytes) -> bytes:
    """The same batch (same place, same prev_hash) with its last entry left out."""
    b = codec.decode(value)
    assert isinstance(b, UnitAckBatch) and len(b.entries) > 1
    return codec.encode(b.model_copy(update={"entries": b.entries[:-1]}))


def test_old_and_batched_acks_verify_and_faults_are_named(hub_settings: Any) -> None:
    s = hub_settings
    logged = publish_court_log(s, generate(10, seed=11), checkpoint_every=3)
    events = [e for e, _ in logged]
    # finance: old records for the first events, then signed batches and a checkpoint
    publish_acks(s, "finance", events[:4])
    batches = ack_batch_values(s, "finance", events[4:], per_batch=3)
    publish_unit_records(s, "finance", [
        *batches, unit_checkpoint_value("finance", batches, [_court_ref(logged, 3)])])
    code, doc, err = _verify(s)
    assert code == 0, (doc["failures"], err[-2000:])
    assert doc["acks_checked"] == len(events)
    assert doc["ack_batches_checked"] == len(batches) and doc["unit_checkpoints_checked"] == 1

    # railway: batch 3 of 4 never published (torn log)
    b = ack_batch_values(s, "rail-air-operators", events, per_batch=2)
    torn = publish_unit_records(s, "rail-air-operators", [b[0], b[1], b[3]])
    # civil-aviation: batches 2 and 3 swapped
    b = ack_batch_values(s, "customs", events, per_batch=2)
    swapped = publish_unit_records(s, "customs", [b[0], b[2], b[1]])
    # taxation: batch 2 re-signed without one entry; the checkpoint is over the originals
    b = ack_batch_values(s, "local-tax", events, per_batch=3)
    altered = publish_unit_records(s, "local-tax", [
        b[0], _drop_an_entry(b[1]), b[2], unit_checkpoint_value("local-tax", b[:3])])
    # housing: a checkpoint that covers one batch more than was written, then one whose
    # court reference has a root the court never signed
    b = ack_batch_values(s, "housing-fund", events[:4], per_batch=2)
    bad_ref = _court_ref(logged, 3).model_copy(update={"root_hash": bytes(32)})
    refs = publish_unit_records(s, "housing-fund", [
        b[0], unit_checkpoint_value("housing-fund", b[:2]), b[1],
        unit_checkpoint_value("housing-fund", b[:2], [bad_ref])])

    code, doc, err = _verify(s)
    assert code == 1, err[-2000:]
    got = {(f["topic"], f["offset"]): f for f in doc["failures"]}

    def rule_at(md: Any) -> str:
        f = got[(md.topic, md.offset)]
        assert f["partition"] == md.partition
        return str(f["rule"])

    assert rule_at(torn[2]) == "ack_batch_gap"
    assert "rail-air-operators" in got[(torn[2].topic, torn[2].offset)]["detail"]
    assert rule_at(swapped[1]) == "ack_batch_gap" and rule_at(swapped[2]) == "ack_chain"
    assert rule_at(altered[2]) == "ack_chain"  # batch 3's prev_hash names the original
    assert rule_at(altered[3]) == "unit_checkpoint_root"
    assert rule_at(refs[1]) == "unit_checkpoint_root"  # 2 batches claimed, 1 written
    assert rule_at(refs[3]) == "unit_checkpoint_court_ref"
    # finance's log is still clean, and nothing else was reported
    assert not [f for f in doc["failures"] if f["topic"] == s.ack_topic("finance")]
    assert len(doc["failures"]) == 7, doc["failures"]


def test_unit_consumer_log_verifies_with_court_references(hub_settings: Any,
                                                         tmp_path: Path) -> None:
    from consumers.agency.consumer import UnitConsumer

    s = hub_settings
    unit = "finance"
    logged = publish_court_log(s, generate(12, seed=5), checkpoint_every=4)
    events = [e for e, _ in logged]
    publish_acks(s, unit, events[:3])  # an older release acknowledged these one by one
    UnitConsumer(s, unit, sweep_seconds=3600).run(until_idle=True)

    models = [codec.decode(r.value) for r in raw_records(s, s.ack_topic(unit))]
    batches = [m for m in models if isinstance(m, UnitAckBatch)]
    checkpoints = [m for m in models if isinstance(m, UnitCheckpoint)]
    assert batches and checkpoints
    assert [b.batch_seq for b in batches] == list(range(1, len(batches) + 1))
    last = checkpoints[-1]
    assert last.tree_size == len(batches)
    # every court's events were all applied: the reference is its last checkpoint
    sizes: dict[str, int] = {}
    for ev in events:
        sizes[ev.meta.court_code] = max(sizes.get(ev.meta.court_code, 0), ev.meta.court_seq)
    assert {(c.court_code, c.tree_size) for c in last.courts} == set(sizes.items())
    entries: list[AckEntry] = [e for b in batches for e in b.entries]
    assert len({e.ack_id for e in entries}) == len(entries)

    code, doc, err = _verify(s)
    assert code == 0, (doc["failures"], err[-2000:])
    assert doc["unit_checkpoints_checked"] == len(checkpoints)
    assert doc["acks_checked"] == 3 + len(entries)

    # trail reads the batches: a listing acknowledged only in batch form shows the unit's ack
    for ev in events[3:]:
        doc = json.loads(run_hub(s, "audit", "trail", ev.meta.listing_id,
                                 "--format", "json").stdout)
        rows = [u for e in doc["events"] for u in e["units"] if u["unit"] == unit]
        if rows:
            assert all(r["acknowledged"] for r in rows), rows
            break
    else:
        pytest.fail(f"no event concerned {unit}")

    # an offline proof that the unit acknowledged an event, signed by the unit itself
    target = entries[-1]
    proof = json.loads(run_hub(s, "audit", "proof", "--event", target.event_id,
                               "--unit", unit).stdout)
    assert proof["acknowledgement"]["event_id"] == target.event_id
    path = tmp_path / "ack-proof.json"
    path.write_text(json.dumps(proof))
    checked = json.loads(run_hub(s, "audit", "check-proof", str(path), "--format",
                                 "json").stdout)
    assert checked["ok"] is True
    assert {c["check"]: c["status"] for c in checked["checks"]}["acknowledgement_entry"] == "pass"
    # the same batch and checkpoint cannot be passed off as acknowledging another event
    other = next(e for e in entries if e.event_id != target.event_id)
    proof["acknowledgement"]["event_id"] = other.event_id
    path.write_text(json.dumps(proof))
    bad = run_hub(s, "audit", "check-proof", str(path), "--format", "json", check=False)
    assert bad.returncode != 0
    assert {c["check"]: c["status"] for c in json.loads(bad.stdout)["checks"]}[
        "acknowledgement_entry"] == "fail"
    # an event the unit never acknowledged in a batch: a clear error
    missing = run_hub(s, "audit", "proof", "--event", "no-such-event", "--unit", unit,
                      check=False)
    assert missing.returncode == 1 and "no signed batch" in missing.stderr
