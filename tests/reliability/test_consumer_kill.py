"""kill -9 of unit consumers while events flow (issue 8, fault 2): two units' long-running
`hub agency run` processes are killed at random moments and restarted while courts
submit (and publish); afterwards every concerned event has exactly one effective
acknowledgement per unit and each projection equals a rebuild."""

from __future__ import annotations

import random
import time

import pytest

from hub.config import Settings
from tests.reliability.checks import UNITS, as_unit, check_all, hub
from tests.reliability.fleet import Court, Fleet
from tests.support import make_decisions

pytestmark = pytest.mark.reliability


def test_unit_consumers_killed_at_random_while_events_flow(provisioned: Settings,
                                                          reliability_report) -> None:
    s = provisioned  # each unit runs as its own account: broker user, database role
    rng = random.Random(802)
    decisions = make_decisions(1200, seed=802)
    # The first file creates the topics the consumers subscribe to.
    court = Court(s, decisions, files=12, seed=802)
    court.start()
    fleet = Fleet(s)
    time.sleep(2)
    for unit in UNITS:
        fleet.start(unit, "agency", "run", "--unit", unit, as_=as_unit(s, unit))
    try:
        while court.is_alive() or fleet.kills < 10:
            time.sleep(rng.uniform(0.3, 2.0))  # mid-batch, mid-ack-relay, idle, start-up
            fleet.tend()
            fleet.kill(rng.choice(UNITS))
            if fleet.kills >= 40:
                break
        court.join(timeout=300)
        assert not court.errors, court.errors
    finally:
        fleet.stop_all()
    for unit in UNITS:
        hub(as_unit(s, unit), "agency", "run", "--unit", unit, "--until-idle")
    figures = check_all(s, decisions)
    reliability_report.add("unit_consumer_kill", faults_injected=fleet.kills, **figures)
