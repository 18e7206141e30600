"""Credit repair (信用修復, issue #21, policy 四(二)6) end to end: only after a shield or
revoke, decided by the unit, named in its screening answers, kept by a rebuild, published
signed, counted by the auditor; the public query never shows the listing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub import codec
from hub.config import Settings
from hub.domain.events import CreditRepairDecided
from hub.keys import load_trust
from hub.signed import verify_record
from tests.integration.test_agency_feed import read_topic
from tests.support import run_hub, submit
from tests.unit.builders import list_data, person_id, shield_data, when

pytestmark = pytest.mark.e2e

UNIT = "rail-air-operators"


def _json(s: Settings, *args: str) -> Any:
    return json.loads(run_hub(s, *args, "--format", "json").stdout)


def test_credit_repair_after_a_shield(hub_settings: Settings) -> None:
    s = hub_settings
    who = person_id(1)
    submit(s, [list_data("R1", kind="person", decided_at=when(0))])
    run_hub(s, "agency", "run", "--unit", UNIT, "--until-idle")
    bad = run_hub(s, "agency", "repair", "--unit", UNIT, "--listing", "R1", "--granted",
                  "--applied-on", "2026-04-01", check=False)
    assert bad.returncode == 2 and "still listed" in bad.stderr
    bad = run_hub(s, "agency", "repair", "--unit", UNIT, "--listing", "NOPE", "--granted",
                  "--applied-on", "2026-04-01", check=False)
    assert bad.returncode == 2 and "unknown listing" in bad.stderr

    submit(s, [shield_data("R1", decided_at=when(10))])
    run_hub(s, "agency", "run", "--unit", UNIT, "--until-idle")
    bad = run_hub(s, "agency", "repair", "--unit", UNIT, "--listing", "R1", "--granted",
                  "--applied-on", "2026-03-05", check=False)  # before the shield (12 March)
    assert bad.returncode == 2 and "before the listing was shielded" in bad.stderr
    before = _json(s, "agency", "check", "--unit", UNIT, "--id-number", who, "--measure", "G1")
    assert before["decision"] == "clear" and before["credit_repairs"] == []
    doc = _json(s, "agency", "repair", "--unit", UNIT, "--listing", "R1", "--granted",
                "--applied-on", "2026-04-01", "--on", "2026-04-03")
    assert doc["recorded"] is True and doc["relayed"] is True
    again = _json(s, "agency", "repair", "--unit", UNIT, "--listing", "R1", "--granted",
                  "--applied-on", "2026-04-01", "--on", "2026-04-03")
    assert again["recorded"] is False
    bad = run_hub(s, "agency", "repair", "--unit", UNIT, "--listing", "R1", "--refused",
                  "--applied-on", "2026-04-01", "--on", "2026-04-03", check=False)
    assert bad.returncode == 2 and "already decided" in bad.stderr

    after = _json(s, "agency", "check", "--unit", UNIT, "--id-number", who, "--measure", "G1")
    assert after["decision"] == "clear"
    assert after["credit_repairs"] == [{"listing_id": "R1", "decided_on": "2026-04-03"}]
    earlier = _json(s, "agency", "check", "--unit", UNIT, "--id-number", who,
                    "--at", "2026-04-02T12:00:00+08:00")
    assert earlier["credit_repairs"] == []  # not yet decided at that moment
    # a rebuild keeps the unit's own decision
    run_hub(s, "agency", "rebuild", "--unit", UNIT)
    rebuilt = _json(s, "agency", "check", "--unit", UNIT, "--id-number", who)
    assert rebuilt["credit_repairs"] == after["credit_repairs"]

    # published, signed by the unit
    trust = load_trust(s)
    models = [verify_record(trust, r.value, r.headers).model
              for r in read_topic(s, s.supervision_topic)]
    [rec] = [m for m in models if isinstance(m, CreditRepairDecided)]
    assert (rec.unit, rec.listing_id, rec.granted) == (UNIT, "R1", True)
    assert codec.decode(codec.encode(rec)) == rec
    sup = {r["unit"]: r for r in _json(s, "audit", "compliance")["supervision"]}
    assert sup[UNIT]["repairs_granted"] == 1
    # never on the public query
    assert _json(s, "court", "public-query", "--id-number", who) == []
