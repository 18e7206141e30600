"""Due process end to end (issue #21) through `hub court submit`, the log, a unit and the
auditor: service, objection, dismissal, reconsideration and the employer notice, with their
limits met and missed; and a file with an illegal procedure refused whole."""

from __future__ import annotations

import json

import pytest

from hub import codec
from hub.config import Settings
from hub.domain.events import PROCEDURE_EVENT_TYPES
from tests.integration.test_agency_feed import read_ack_entries, read_topic
from tests.support import run_hub, submit
from tests.unit.builders import (
    apply_reconsideration_data,
    close_data,
    decide_reconsideration_data,
    list_data,
    notify_employer_data,
    open_data,
    risk_notice_data,
    serve_data,
    when,
)

pytestmark = pytest.mark.e2e

UNIT = "rail-air-operators"


def test_procedures_through_the_log_and_their_limits(hub_settings: Settings) -> None:
    s = hub_settings
    file = [
        # ON: served, objects within 10 days, dismissal served, applies in time, decided in time
        list_data("ON", decided_at=when(0)),
        risk_notice_data("ON", issued_on="2026-02-20"),
        serve_data("ON", served_on="2026-03-03", decided_at=when(1)),
        open_data("ON", decided_at=when(6)),
        close_data("ON", decided_at=when(12)),
        serve_data("ON", served="close_verification", served_on="2026-03-15", decided_at=when(13)),
        apply_reconsideration_data("ON", decided_at=when(20)),
        decide_reconsideration_data("ON", "upheld", decided_at=when(30)),
        # LATE: objects 20 days after service, applies 15 days after the dismissal was
        # served, never decided (overdue)
        list_data("LATE", decided_at=when(0), kind="person"),
        serve_data("LATE", served_on="2026-03-02", decided_at=when(0.2)),
        open_data("LATE", decided_at=when(20)),
        close_data("LATE", decided_at=when(25)),
        serve_data("LATE", served="close_verification", served_on="2026-03-28", decided_at=when(26)),
        apply_reconsideration_data("LATE", decided_at=when(41)),
        # HIDDEN: not published, its employer notified
        list_data("HIDDEN", decided_at=when(0), public=False),
        notify_employer_data("HIDDEN", decided_at=when(2)),
    ]
    out = submit(s, file)
    assert out["accepted"] == len(file) and out["published"] == len(file), out
    doc = json.loads(run_hub(s, "audit", "compliance", "--format", "json").stdout)
    got = {(r["listing_id"], r["rule"]): r["status"] for r in doc["limits"]
           if r["rule"] in ("objection", "reconsideration", "reconsideration_decision")}
    assert got == {
        ("ON", "objection"): "on_time", ("ON", "reconsideration"): "on_time",
        ("ON", "reconsideration_decision"): "on_time",
        ("LATE", "objection"): "late", ("LATE", "reconsideration"): "late",
        ("LATE", "reconsideration_decision"): "overdue",
    }
    assert all(r["clause"].startswith("policy 四(二)3") for r in doc["limits"]
               if r["rule"] in ("objection", "reconsideration", "reconsideration_decision"))

    # the records are court events on the log, signed and chained like any other
    records = [codec.decode(r.value) for r in read_topic(s, s.court_topic)]
    procedures = [m for m in records if isinstance(m, PROCEDURE_EVENT_TYPES)]
    assert len(procedures) == 9
    risk = {c["court_code"]: c for c in doc["risk_notices"]}
    [court] = risk.values()
    assert court["with_risk_notice"] == 1 and sorted(court["without_risk_notice"]) == ["HIDDEN", "LATE"]
    verify = json.loads(run_hub(s, "audit", "verify", "--format", "json").stdout)
    assert verify["ok"] is True, verify["failures"][:3]

    # a unit applies the log without a dead letter, and acknowledges no procedure record
    run = json.loads(run_hub(s, "agency", "run", "--unit", UNIT, "--until-idle",
                             "--format", "json").stdout)
    assert run["dead"] == 0, run
    procedure_ids = {m.meta.event_id for m in procedures}
    entries = read_ack_entries(s, UNIT)
    assert entries and not procedure_ids & {e.event_id for e in entries}
    trail = run_hub(s, "audit", "trail", "ON", "--format", "json").stdout
    assert "decide_reconsideration" in trail or "ReconsiderationDecided" in trail


def test_an_illegal_procedure_refuses_the_whole_file(hub_settings: Settings) -> None:
    s = hub_settings
    submit(s, [list_data("L1", decided_at=when(0)), list_data("PUB", decided_at=when(0), kind="person")])
    before = len(read_topic(s, s.court_topic))
    bad = submit(s, [
        serve_data("L1", served_on="2026-03-01", decided_at=when(1)),  # before the decision
        decide_reconsideration_data("L1", decided_at=when(2)),  # no application
        notify_employer_data("PUB", decided_at=when(2)),  # a published listing
        serve_data("NOPE", decided_at=when(2)),  # unknown listing
        apply_reconsideration_data("L1", decided_at=when(3)),  # no dismissed objection
    ], check=False)
    assert bad["returncode"] == 2
    err = bad["stderr"]
    for needle in ("line 1", "served_on", "line 2", "no reconsideration application is pending",
                   "line 3", "is published", "line 4", "unknown listing", "line 5",
                   "no dismissed objection"):
        assert needle in err, (needle, err[-2000:])
    assert len(read_topic(s, s.court_topic)) == before  # nothing recorded
