"""kill -9 of the broker leading the court topic's partitions (issue 8, fault 3), on the
3-broker KRaft cluster (RF 3, min ISR 2): courts keep submitting, a long-running relay
publishes, two units consume; the leader found with the admin client's describe_topics is
killed (`cluster.sh kill N`), traffic goes on with two brokers, then `cluster.sh restart N`.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from kafka.errors import KafkaError

from hub import kafka
from hub.config import Settings
from hub.errors import HubError
from producers.court.drain import unsent
from tests.reliability.checks import UNITS, check_all, hub, wait_for
from tests.reliability.conftest import cluster
from tests.reliability.fleet import Court, Fleet
from tests.support import make_decisions

pytestmark = pytest.mark.reliability


def describe(s: Settings, topic: str) -> list[dict[str, Any]]:
    """The partitions of `topic` (describe_topics); retried while the admin client picks
    the dead broker to ask."""
    for attempt in range(20):
        try:
            with kafka.admin_client(s) as admin:
                (desc,) = admin.describe_topics([topic])
            return list(desc["partitions"])
        except (KafkaError, HubError):
            time.sleep(0.5 + attempt * 0.2)
    raise AssertionError(f"describe_topics({topic}) kept failing")


def leaders(s: Settings, topic: str) -> dict[int, int]:
    """partition → leader broker id."""
    return {p["partition_index"]: p["leader_id"] for p in describe(s, topic)}


def in_sync(s: Settings, topic: str, broker: int) -> bool:
    return all(broker in p["isr_nodes"] for p in describe(s, topic))


def test_court_topic_leader_killed_while_traffic_flows(cluster_settings: Settings,
                                                      reliability_report) -> None:
    s = cluster_settings
    rng = random.Random(803)
    kafka.ensure_topics(s, kafka.topic_specs(s, UNITS))
    decisions = make_decisions(800, seed=803)
    fleet = Fleet(s)
    fleet.start("relay", "court", "relay")
    for unit in UNITS:
        fleet.start(unit, "agency", "run", "--unit", unit)
    court = Court(s, decisions, files=10, seed=803, extra=("--no-relay",), pause=(0.5, 1.5))
    court.start()
    killed = None
    try:
        time.sleep(rng.uniform(4, 8))  # traffic under way
        before = leaders(s, s.court_topic)
        # The broker leading the most partitions (ties: the leader of partition 0).
        killed = max(set(before.values()),
                     key=lambda b: (Counter(before.values())[b], b == before[0]))
        cluster("kill", str(killed))
        # Traffic goes on with two brokers; the partitions get new leaders.
        wait_for(lambda: killed not in leaders(s, s.court_topic).values(), 60,
                 "new leaders of the court topic")
        time.sleep(rng.uniform(5, 10))
        fleet.tend()
        cluster("restart", str(killed))
        back, killed = killed, None
        wait_for(lambda: in_sync(s, s.court_topic, back), 120, f"broker {back} back in sync")
        court.join(timeout=300)
        assert not court.errors, court.errors
        wait_for(lambda: (fleet.tend(), unsent(s))[1] == 0, 180, "the relay to drain the outbox")
    finally:
        if killed is not None:
            cluster("restart", str(killed))
        fleet.stop_all()
    hub(s, "court", "relay", "--once")
    for unit in UNITS:
        hub(s, "agency", "run", "--unit", unit, "--until-idle")
    figures = check_all(s, decisions)
    reliability_report.add("broker_leader_kill", faults_injected=1,
                           process_restarts=sum(fleet.exits.values()), **figures)
