"""kill -9 of the court relay while courts keep submitting (issue 8, fault 1).

A long-running `hub court relay` (small batches, so a kill lands mid-publish) is killed
at random moments and restarted while `hub court submit --no-relay` files keep arriving;
once more deterministically between publishing and marking sent (HUB_FAULT). Afterwards:
every decision exactly once on the court topic, acks exactly once, projections equal to a
rebuild, the audit verification passes."""

from __future__ import annotations

import random
import threading
import time

import pytest

from hub.config import Settings
from producers.court.drain import unsent
from tests.reliability.checks import (
    UNITS,
    check_all,
    chunks,
    hub,
    kill9,
    spawn,
    submit_file,
    wait_for,
)
from tests.support import make_decisions

pytestmark = pytest.mark.reliability


def test_relay_killed_at_random_while_courts_submit(hub_settings: Settings,
                                                    reliability_report) -> None:
    s = hub_settings
    rng = random.Random(801)
    decisions = make_decisions(500, seed=801)
    files = chunks(decisions, 8)
    failures: list[str] = []

    def court() -> None:  # the courts' submissions, independent of the relay's fate
        for part in files:
            p = submit_file(s, part, "--no-relay", check=False)
            if p.returncode != 0:
                failures.append(p.stderr[-6000:])
                (s.state_dir.parent / f"submit-{len(failures)}.err").write_text(p.stderr)
            time.sleep(rng.uniform(0.1, 0.8))

    submitter = threading.Thread(target=court, daemon=True)
    submitter.start()
    kills = 0
    relay_env = {"HUB_RELAY_BATCH": "20"}
    while submitter.is_alive() or kills < 6:
        relay = spawn(s, "court", "relay", log_name="relay", **relay_env)
        time.sleep(rng.uniform(0.4, 2.5))  # start-up, recovery scan, mid-batch or idle
        kills += kill9(relay)
        if kills >= 40:
            break
    submitter.join(timeout=300)
    assert not failures, failures

    # One crash exactly between publishing and marking sent (design.md "Outbox").
    more = make_decisions(30, seed=802, courts=("350481",))
    submit_file(s, more, "--no-relay")
    crashed = hub(s, "court", "relay", "--once", check=False,
                  HUB_FAULT="relay-after-publish", HUB_RELAY_BATCH="10")
    assert crashed.returncode == 137, crashed.stderr[-2000:]
    kills += 1
    decisions += more

    # A restarted long-running relay drains the rest.
    relay = spawn(s, "court", "relay", log_name="relay")
    try:
        wait_for(lambda: unsent(s) == 0, 120, "the relay to drain the outbox")
    finally:
        kill9(relay)
    hub(s, "court", "relay", "--once")  # final checkpoints after the last kill

    for unit in UNITS:
        hub(s, "agency", "run", "--unit", unit, "--until-idle")
    figures = check_all(s, decisions)
    reliability_report.add("relay_kill", faults_injected=kills, **figures)
