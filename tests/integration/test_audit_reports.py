"""`hub audit compliance`, `state --as-of`, `trail`, `proof` / `check-proof`."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from hub.domain.listing import fold, status_at
from hub.generate import generate
from hub.keys import court_signer, load_trust
from tests.integration.test_audit_helpers import publish_acks, publish_court_log
from tests.support import run_hub

pytestmark = pytest.mark.integration


def _json(s, *args):  # type: ignore[no-untyped-def]
    return json.loads(run_hub(s, "audit", *args, "--format", "json").stdout)


def test_compliance_missing_and_acknowledged_units(hub_settings, tmp_path):  # type: ignore[no-untyped-def]
    s = hub_settings
    events = [e for e, _ in publish_court_log(s, generate(8, seed=7))]
    publish_acks(s, "finance", events, delay=timedelta(minutes=3))
    publish_acks(s, "transport", events, delay=timedelta(days=30))
    doc = _json(s, "compliance")
    assert set(doc) == {"units", "courts", "limits", "notes", "calendar_complete", "republishers",
                        "supervision", "risk_notices"}
    units = {u["unit"]: u for u in doc["units"]}
    fin = units["finance"]
    assert fin["concerned"] > 0 and fin["missing"] == 0 and fin["acked"] == fin["concerned"]
    assert fin["p50_s"] == 180.0 and fin["notice_due"] is False
    never = units["public-security"]  # its consumer never ran
    assert never["concerned"] > 0 and never["missing"] == never["concerned"]
    assert never["acked"] == 0 and never["notice_due"] is True
    late = units["transport"]  # acknowledges, but 30 days after each event
    assert late["acked"] == late["concerned"] and late["late"] == late["concerned"] > 0
    assert late["missing"] == 0 and late["notice_due"] is True
    html = tmp_path / "report.html"
    run_hub(s, "audit", "compliance", "--format", "html", "--output", str(html))
    text = html.read_text(encoding="utf-8")
    assert "<svg" in text and "<script" not in text and "http://" not in text.replace(
        "http://www.w3.org/2000/svg", "")
    csv = run_hub(s, "audit", "compliance", "--format", "csv").stdout
    assert csv.splitlines()[0].startswith("unit,concerned,acked,late,missing")


def test_state_as_of_between_two_decisions(hub_settings):  # type: ignore[no-untyped-def]
    s = hub_settings
    events = [e for e, _ in publish_court_log(s, generate(10, seed=11))]
    lid = next(e.meta.listing_id for e in events
               if sum(x.meta.listing_id == e.meta.listing_id for x in events) >= 2)
    mine = sorted((e for e in events if e.meta.listing_id == lid), key=lambda e: e.meta.court_seq)
    between = mine[0].meta.decided_at + (mine[1].meta.decided_at - mine[0].meta.decided_at) / 2
    rows = _json(s, "state", "--as-of", between.isoformat(), "--listing", lid)
    expected = fold(e for e in events if e.meta.decided_at <= between)[lid]
    assert len(rows) == 1
    row = rows[0]
    assert row["status"] == status_at(expected, between)
    assert row["under_verification"] == expected.under_verification
    assert row["subject"] == expected.subject.model_dump(mode="json")
    assert row["related"] == [p.model_dump(mode="json") for p in expected.related]
    everything = _json(s, "state", "--as-of", between.isoformat())
    want = fold(e for e in events if e.meta.decided_at <= between)
    assert {r["listing_id"]: r["status"] for r in everything} == {
        k: status_at(v, between) for k, v in want.items()}
    trail = _json(s, "trail", lid)
    assert [e["court_seq"] for e in trail["events"]] == [e.meta.court_seq for e in mine]
    assert all(not u["acknowledged"] for e in trail["events"] for u in e["units"])


def test_proof_round_trip_and_tampering(hub_settings, tmp_path):  # type: ignore[no-untyped-def]
    s = hub_settings
    events = publish_court_log(s, generate(6, seed=13), checkpoint_every=3)
    event = events[4][0]
    proof = run_hub(s, "audit", "proof", "--event", event.meta.event_id).stdout
    path = tmp_path / "proof.json"
    path.write_text(proof, encoding="utf-8")
    ok = _json(s, "check-proof", str(path))
    assert ok["ok"] is True
    # offline, with only the court's public key
    pub = base64.b64encode(load_trust(s).public_key(court_signer(event.meta.court_code)))
    run_hub(s, "audit", "check-proof", str(path), "--public-key", pub.decode(),
            "--signer", court_signer(event.meta.court_code))
    doc = json.loads(proof)
    doc["inclusion_path"][0] = "00" * 32 if doc["inclusion_path"] else doc["inclusion_path"]
    doc["checkpoint"]["root_hash"] = "11" * 32
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    proc = run_hub(s, "audit", "check-proof", str(bad), check=False)
    assert proc.returncode == 1
    assert "checkpoint_fields" in proc.stderr and "inclusion" in proc.stderr
    unknown = run_hub(s, "audit", "proof", "--event", "no-such-event", check=False)
    assert unknown.returncode != 0 and len(unknown.stderr.strip().splitlines()) == 1
    assert unknown.stdout == ""
