"""Two processes of one unit rebalanced at random moments during 50k events (issue #19): kill
-9 and rejoin move partitions between them mid-batch; afterwards the projection equals a
rebuild, every event is applied once and acknowledged by exactly one effective entry."""

from __future__ import annotations

import json

import pytest

from hub.config import Settings
from tests.integration.test_agency_feed import CourtFeed, hub_cli
from tests.integration.test_agency_recovery import (
    UNIT,
    check_against_rebuild,
    feed_events,
    rebalance_at_random,
)

pytestmark = pytest.mark.reliability


def test_two_processes_rebalanced_at_random_during_50k_events(hub_settings: Settings,
                                                             reliability_report) -> None:
    s = hub_settings
    feed = CourtFeed(s, [UNIT])
    total = 0
    start = 0
    while total < 50_000:
        total += feed_events(feed, 2_000, start)
        start += 2_000
    feed.close()
    kills = rebalance_at_random(s, UNIT, total, kills=8, seed=1950)
    assert kills >= 3
    out = hub_cli(s, "agency", "run", "--unit", UNIT, "--processes", "2", "--until-idle",
                  "--format", "json", timeout=600)
    assert json.loads(out.stdout)["done"] is True
    check_against_rebuild(s, total)
    reliability_report.add("unit_rebalance_50k", faults_injected=kills, events_checked=total)
