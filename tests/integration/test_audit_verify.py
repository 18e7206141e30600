"""`hub audit verify` on a clean log, and after an administrator writes into
court.listings.v1 a forged record or a second copy of an earlier event."""

from __future__ import annotations

import json

import pytest

from hub import kafka
from hub.generate import generate
from hub.keys import court_signer
from hub.ledger import generate_key
from hub.signed import sign
from tests.integration.test_audit_helpers import publish_acks, publish_court_log, raw_records
from tests.support import run_hub

pytestmark = pytest.mark.integration


def _verify(s):  # type: ignore[no-untyped-def]
    proc = run_hub(s, "audit", "verify", "--format", "json", check=False)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_clean_log_verifies(hub_settings):  # type: ignore[no-untyped-def]
    events = publish_court_log(hub_settings, generate(12, seed=3), checkpoint_every=5)
    publish_acks(hub_settings, "finance", [e for e, _ in events])
    code, doc, err = _verify(hub_settings)
    assert code == 0, err
    assert doc["ok"] is True and doc["failures"] == []
    assert doc["events_checked"] == len(events)
    assert doc["acks_checked"] == len(events)
    assert doc["checkpoints_checked"] >= len(events) // 5


def test_forged_and_duplicated_records_are_named(hub_settings):  # type: ignore[no-untyped-def]
    s = hub_settings
    events = publish_court_log(s, generate(6, seed=4), checkpoint_every=3)
    first = next(r for r in raw_records(s, s.court_topic) if r.offset == 0)
    prod = kafka.producer(s, "test-admin")
    # (1) a valid Avro record under the court's name, signed with someone else's key
    _, genuine = events[-1]
    forged_value = genuine.replace(b"\x00", b"\x01", 1) if b"\x00" in genuine[10:] else genuine
    forger = generate_key(court_signer(events[0][0].meta.court_code))
    md_forged = prod.send(s.court_topic, key=b"forged", value=forged_value,
                          headers=sign(forger, forged_value), partition=0).get(timeout=30)
    # (2) a byte-for-byte second copy of an earlier event, same headers
    md_copy = prod.send(s.court_topic, key=first.key, value=first.value,
                        headers=list(first.headers), partition=first.partition).get(timeout=30)
    prod.close()

    code, doc, err = _verify(s)
    assert code == 1, (doc, err[-2000:])
    assert doc["ok"] is False
    where = {(f["partition"], f["offset"]): f["rule"] for f in doc["failures"]}
    assert where[(md_forged.partition, md_forged.offset)] == "signature"
    assert where[(md_copy.partition, md_copy.offset)] == "duplicate"
    assert all(f["topic"] == s.court_topic for f in doc["failures"])
    assert f"@{md_copy.offset} duplicate" in err
    assert doc["events_checked"] == len(events)  # the genuine log itself still holds


def test_broken_chain_gap_and_bad_checkpoint(hub_settings):  # type: ignore[no-untyped-def]
    s = hub_settings
    publish_court_log(s, generate(4, seed=5), checkpoint_every=2)
    recs = sorted(raw_records(s, s.court_topic), key=lambda r: r.offset)
    # An administrator deletes nothing, but a court's checkpoint lies about its root.
    from hub import codec
    from hub.domain.events import CourtCheckpoint
    from hub.keys import ensure_key

    cps = raw_records(s, s.checkpoint_topic)
    cp = codec.decode(cps[0].value)
    assert isinstance(cp, CourtCheckpoint)
    bad = cp.model_copy(update={"tree_size": cp.tree_size + 1000, "root_hash": bytes(32)})
    key, _ = ensure_key(s, court_signer(cp.court_code))
    value = codec.encode(bad)
    prod = kafka.producer(s, "test-admin")
    md = prod.send(s.checkpoint_topic, key=cp.court_code.encode(), value=value,
                   headers=sign(key, value)).get(timeout=30)
    prod.close()
    code, doc, err = _verify(s)
    assert code == 1, (doc, err[-2000:])
    rules = {(f["topic"], f["offset"], f["rule"]) for f in doc["failures"]}
    assert (s.checkpoint_topic, md.offset, "checkpoint_beyond_log") in rules
    assert len(recs) > 0
