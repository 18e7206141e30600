"""The audit side end to end through the real pipeline: `hub court submit` (store + signed
relay + checkpoints), `hub agency run --until-idle` for two units, then every `hub audit`
command on what they wrote; finally an administrator writes a forged record and a second
copy of an earlier record into the court topic and `hub audit verify` names both."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hub import codec, kafka
from hub.config import Settings
from hub.domain.decisions import meta_for, parse_lines, to_event
from hub.domain.listing import apply, status_at
from hub.ledger import GENESIS_HASH
from tests.integration.test_audit_helpers import raw_records
from tests.support import make_decisions, run_hub, submit

pytestmark = pytest.mark.e2e

RAN = ("rail-air-operators", "finance")


def _json(s: Settings, *args: str) -> Any:
    return json.loads(run_hub(s, *args, "--format", "json").stdout)


def _local_history(decisions: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Each listing's events, built here from the decisions by the domain alone (the
    expected side of `hub audit state`)."""
    parsed, errors = parse_lines(json.dumps(d, ensure_ascii=False) for d in decisions)
    assert not errors, errors
    out: dict[str, list[Any]] = defaultdict(list)
    for i, d in enumerate(parsed, 1):
        meta = meta_for(d, court_seq=i, prev_hash=GENESIS_HASH, recorded_at=d.decided_at)
        out[d.listing_id].append(to_event(d, meta))
    return out


def _expected_state(events: list[Any], at: datetime) -> dict[str, Any]:
    state = None
    for ev in events:
        if ev.meta.decided_at <= at:
            state = apply(state, ev)
    assert state is not None
    return {"status": status_at(state, at), "under_verification": state.under_verification,
            "public": state.public,
            "period_end": state.period_end.isoformat() if state.period_end else None,
            "subject": state.subject.model_dump(mode="json"),
            "related": [p.model_dump(mode="json") for p in state.related]}


def _pick_listing(history: dict[str, list[Any]]) -> tuple[str, datetime, datetime]:
    """A listing with two decisions at different times, preferring one whose status
    changes between them: (listing, a time between the two, a time after both)."""
    best = None
    for lid, evs in sorted(history.items()):
        if len(evs) < 2 or evs[1].meta.decided_at <= evs[0].meta.decided_at:
            continue
        t = evs[0].meta.decided_at + (evs[1].meta.decided_at - evs[0].meta.decided_at) / 2
        end = evs[-1].meta.decided_at
        changes = _expected_state(evs, t)["status"] != _expected_state(evs, end)["status"]
        if best is None or (changes and not best[3]):
            best = (lid, t, end, changes)
    assert best is not None, "the generator made no listing with a later decision"
    return best[0], best[1], best[2]


def test_audit_over_the_real_pipeline(hub_settings: Settings, tmp_path: Path) -> None:
    s = hub_settings
    decisions = make_decisions(40, seed=2606)
    res = submit(s, decisions)
    assert res["accepted"] == len(decisions) and res["published"] == len(decisions), res
    for unit in RAN:
        run_hub(s, "agency", "run", "--unit", unit, "--until-idle")

    # verify: the whole log, in the default checkpoint mode
    doc = _json(s, "audit", "verify")
    assert doc["ok"] is True and doc["failures"] == [], doc
    assert doc["mode"] == "checkpoint"
    assert doc["events_checked"] == len(decisions)
    assert doc["acks_checked"] > 0
    assert doc["checkpoints_checked"] >= 1
    sig = doc["event_signatures"]
    assert sig["covered_by_checkpoint"] + sig["checked_individually"] >= len(decisions)
    full = _json(s, "audit", "verify", "--all-signatures")
    assert full["ok"] is True and full["mode"] == "all-signatures"
    assert full["event_signatures"]["checked_individually"] == len(decisions)

    # compliance: the units that ran acknowledged everything; one that never ran, nothing
    comp = _json(s, "audit", "compliance")
    units = {u["unit"]: u for u in comp["units"]}
    for unit in RAN:
        assert units[unit]["concerned"] > 0 and units[unit]["missing"] == 0, units[unit]
        assert units[unit]["acked"] == units[unit]["concerned"]
    idle = [u for name, u in units.items() if name not in RAN and u["concerned"] > 0]
    assert idle, "no concerned unit besides the two that ran"
    for u in idle:
        assert u["missing"] == u["concerned"] and u["acked"] == 0, u

    # state as of a time between two decisions of one listing, and after both
    history = _local_history(decisions)
    lid, between, after = _pick_listing(history)
    for at in (between, after):
        rows = _json(s, "audit", "state", "--as-of", at.isoformat(), "--listing", lid)
        assert len(rows) == 1 and rows[0]["listing_id"] == lid
        got = {k: rows[0][k] for k in ("status", "under_verification", "public",
                                       "period_end", "subject", "related")}
        assert got == _expected_state(history[lid], at), at

    # trail: every event of the listing, acknowledged by the units that ran
    trail = _json(s, "audit", "trail", lid)
    assert [e["event_id"] for e in trail["events"]] == [
        e.meta.event_id for e in history[lid]]
    acked = {u["unit"] for e in trail["events"] for u in e["units"] if u["acknowledged"]}
    concerned = {u["unit"] for e in trail["events"] for u in e["units"]}
    assert acked == concerned & set(RAN) and acked, trail
    for e in trail["events"]:
        for u in e["units"]:
            assert u["acknowledged"] == (u["unit"] in RAN)
            if u["acknowledged"]:
                assert u["latency_s"] is not None and u["latency_s"] >= 0

    # proof of a real event, checked offline
    event_id = history[lid][0].meta.event_id
    proof = run_hub(s, "audit", "proof", "--event", event_id).stdout
    path = tmp_path / "proof.json"
    path.write_text(proof, encoding="utf-8")
    checked = _json(s, "audit", "check-proof", str(path))
    assert checked["ok"] is True and all(c["status"] == "pass" for c in checked["checks"]), checked

    # an administrator writes into the court topic: a forged record (valid Avro, the
    # genuine signature of another value) and a byte-for-byte copy of an earlier record
    recs = sorted(raw_records(s, s.court_topic), key=lambda r: (r.partition, r.offset))
    genuine = recs[-1]
    event = codec.decode(genuine.value)
    forged_event = event.model_copy(update={"meta": event.meta.model_copy(
        update={"decision_no": event.meta.decision_no + "X"})})
    forged = codec.encode(forged_event)
    assert codec.decode(forged).meta.court_seq == event.meta.court_seq  # valid Avro
    earlier = recs[0]
    prod = kafka.producer(s, "test-admin")
    md_forged = prod.send(s.court_topic, key=genuine.key, value=forged,
                          headers=list(genuine.headers), partition=0).get(timeout=30)
    md_copy = prod.send(s.court_topic, key=earlier.key, value=earlier.value,
                        headers=list(earlier.headers), partition=earlier.partition
                        ).get(timeout=30)
    prod.close()
    for extra in ((), ("--all-signatures",)):
        proc = run_hub(s, "audit", "verify", "--format", "json", *extra, check=False)
        assert proc.returncode != 0, proc.stderr[-2000:]
        bad = json.loads(proc.stdout)
        assert bad["ok"] is False
        where = {(f["topic"], f["partition"], f["offset"]): f["rule"] for f in bad["failures"]}
        assert where == {
            (s.court_topic, md_forged.partition, md_forged.offset): "signature",
            (s.court_topic, md_copy.partition, md_copy.offset): "duplicate",
        }, bad["failures"]
        assert f"{s.court_topic}[{md_copy.partition}]@{md_copy.offset} duplicate" in proc.stderr
        assert f"{s.court_topic}[{md_forged.partition}]@{md_forged.offset} signature" in \
            proc.stderr
        assert bad["events_checked"] == len(decisions)  # the genuine log itself still holds
