"""Fixtures of the fault-injection suite: the figures it writes to
`bench/results/reliability.json`, and the 3-broker KRaft cluster (deploy/cluster) for the
broker-kill test, started here when it is not running and stopped only if started here."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from tests.conftest import _cleanup

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "reliability.json"
CLUSTER = ROOT / "deploy" / "cluster" / "cluster.sh"
FIGURES = ("faults_injected", "events_checked", "lost", "duplicated", "dead_lettered")


class Report:
    """Counters per test; totals and a bench-compatible list written at session end."""

    def __init__(self) -> None:
        self.tests: dict[str, dict[str, Any]] = {}
        self.started = time.time()

    def add(self, name: str, **figures: Any) -> None:
        entry = self.tests.setdefault(name, dict.fromkeys(FIGURES, 0))
        for k, v in figures.items():
            entry[k] = entry.get(k, 0) + v if isinstance(v, int) and k in FIGURES else v

    def doc(self) -> dict[str, Any]:
        totals = {k: sum(int(t.get(k, 0)) for t in self.tests.values()) for k in FIGURES}
        benchmarks = [
            {"name": f"reliability {k.replace('_', ' ')}", "value": totals[k], "unit": "count",
             "baseline": None, "ratio": None, "target": 0 if k in ("lost", "duplicated") else None}
            for k in FIGURES
        ]
        return {
            "suite": "reliability",
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - self.started, 1),
            "totals": totals,
            "tests": self.tests,
            "benchmarks": benchmarks,
        }


@pytest.fixture(scope="session")
def reliability_report() -> Iterator[Report]:
    report = Report()
    yield report
    if report.tests:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(report.doc(), indent=2, ensure_ascii=False) + "\n")


def cluster(*args: str, timeout: float = 180) -> str:
    proc = subprocess.run(["bash", str(CLUSTER), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        raise AssertionError(f"cluster.sh {' '.join(args)} exited {proc.returncode}: "
                             f"{proc.stderr[-2000:]}")
    return proc.stdout


def cluster_running() -> bool:
    return cluster("status").count("running") == 3


@pytest.fixture(scope="session")
def cluster_base(base_settings: Settings) -> Iterator[Settings]:
    """Settings of the 3-broker cluster (RF 3, min ISR 2, SCRAM as printed by
    `cluster.sh env`), the cluster started if needed."""
    started = False
    if not cluster_running():
        cluster("start")
        started = True
    env = dict(line.split("=", 1) for line in cluster("env").splitlines() if "=" in line)
    s = base_settings.model_copy(update={
        "kafka_bootstrap": env["HUB_KAFKA_BOOTSTRAP"],
        "kafka_username": env["HUB_KAFKA_USERNAME"],
        "kafka_password": env["HUB_KAFKA_PASSWORD"],
        "topic_replication_factor": int(env["HUB_TOPIC_REPLICATION_FACTOR"]),
        "topic_min_insync_replicas": int(env["HUB_TOPIC_MIN_INSYNC_REPLICAS"]),
    })
    try:
        yield s
    finally:
        if started:
            cluster("stop")


@pytest.fixture()
def cluster_settings(cluster_base: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Like `hub_settings`, on the cluster: unique prefixes, own state dir; cleaned up."""
    tag = "t" + uuid.uuid4().hex[:10]
    s = cluster_base.model_copy(
        update={"topic_prefix": f"{tag}.", "db_prefix": tag, "state_dir": tmp_path / "state"}
    )
    yield s
    _cleanup(s, tag)
