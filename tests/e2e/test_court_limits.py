"""The courts' statutory limits in `hub audit compliance`, from decisions submitted as a
court does: met, missed, and not assessable (no start time) — in JSON, CSV and the table."""

from __future__ import annotations

import json

import pytest

from hub.config import Settings
from tests.conftest import hub_env
from tests.support import run_hub, submit
from tests.unit.builders import close_data, list_data, open_data, revoke_data, shield_data, when

pytestmark = pytest.mark.e2e


def test_court_limits_met_missed_and_not_assessable(hub_settings: Settings) -> None:
    s = hub_settings
    submit(s, [
        list_data("OK", decided_at=when(0)), shield_data("OK", decided_at=when(2), triggered_at=when(0)),
        list_data("LATE", decided_at=when(0)),
        shield_data("LATE", decided_at=when(9), triggered_at=when(0)),
        list_data("NOSTART", decided_at=when(0)), revoke_data("NOSTART", decided_at=when(2)),
        list_data("OBJ", decided_at=when(0)),
        open_data("OBJ", decided_at=when(20), objection_received_on="2026-03-20"),
        close_data("OBJ", decided_at=when(45)),
    ])
    doc = json.loads(run_hub(s, "audit", "compliance", "--format", "json").stdout)
    status = {(r["listing_id"], r["rule"]): r["status"] for r in doc["limits"]}
    assert status == {("OK", "shield"): "on_time", ("LATE", "shield"): "late",
                      ("NOSTART", "revoke"): "not_assessable",
                      ("OBJ", "verification_review"): "late",
                      ("OBJ", "objection"): "not_assessable"}  # no service recorded
    [court] = doc["courts"]
    assert (court["actions"], court["on_time"], court["late"], court["not_assessable"]) == (5, 1, 2, 2)
    assert all(r["clause"].startswith(("policy", "Provisions")) for r in doc["limits"])
    assert isinstance(doc["calendar_complete"], bool)
    csv = run_hub(s, "audit", "compliance", "--format", "csv").stdout
    assert "court_code,listing_id,decision_no,rule,status" in csv and "not_assessable" in csv
    table = run_hub(s, "audit", "compliance", env=hub_env(s) | {"COLUMNS": "250"}).stdout
    assert "not recorded" in table and "not_assessable" in table
