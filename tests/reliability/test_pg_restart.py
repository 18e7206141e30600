"""A PostgreSQL restart while traffic flows (issue 8, fault 4): a long-running relay and two
unit consumers keep running (restarted if they exit, as a supervisor would) while courts
submit; PostgreSQL is restarted once (`pg_ctl restart -m fast`: every session is cut).

The local PostgreSQL is shared with other engineers: one quick restart per run."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from hub import db
from hub.config import Settings
from hub.errors import ServiceUnavailable
from producers.court.drain import unsent
from tests.reliability.checks import UNITS, as_unit, check_all, hub, wait_for
from tests.reliability.fleet import Court, Fleet
from tests.support import make_decisions

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"


def restart_postgres() -> None:
    pg = ROOT / ".local" / "pg"
    # -l: the new server writes its log where deploy/local/postgres.sh puts it, and holds
    # no pipe of ours (with captured output, run() would wait for the server to exit).
    cmd = [PG_CTL, "-D", str(pg / "data"), "-l", str(pg / "postgres.log"), "restart",
           "-m", "fast", "-w", "-t", "60"]
    if os.geteuid() == 0:  # the server refuses to run as root (deploy/local/postgres.sh)
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=120)
    assert proc.returncode == 0, f"pg_ctl restart exited {proc.returncode}"


def pg_answers(s: Settings) -> bool:
    try:
        db.connect(s.pg_dsn).close()
        return True
    except Exception:  # noqa: BLE001
        return False


def unsent_if_up(s: Settings) -> int | None:
    """Unsent outbox rows, or None while PostgreSQL does not answer (the server was just
    restarted and every process is reconnecting: a slow connect is not the failure this
    test looks for; rows left unsent after 180 s are)."""
    try:
        return unsent(s)
    except ServiceUnavailable:
        return None


def test_postgres_restarted_while_traffic_flows(provisioned: Settings,
                                               reliability_report) -> None:
    s = provisioned  # each unit runs as its own account: broker user, database role
    rng = random.Random(804)
    decisions = make_decisions(800, seed=804)
    court = Court(s, decisions, files=10, seed=804, extra=("--no-relay",), pause=(0.3, 1.0))
    court.start()
    fleet = Fleet(s)
    time.sleep(2)  # the first file creates the court store
    fleet.start("relay", "court", "relay")
    for unit in UNITS:
        fleet.start(unit, "agency", "run", "--unit", unit, as_=as_unit(s, unit))
    try:
        time.sleep(rng.uniform(4, 8))  # traffic under way
        restart_postgres()
        wait_for(lambda: pg_answers(s), 60, "PostgreSQL back")
        court.join(timeout=300)
        assert not court.errors, court.errors
        wait_for(lambda: (fleet.tend(), unsent_if_up(s))[1] == 0, 180,
                 "the relay to drain the outbox")
        time.sleep(2)
        fleet.tend()
    finally:
        fleet.stop_all()
    hub(s, "court", "relay", "--once")
    for unit in UNITS:
        hub(as_unit(s, unit), "agency", "run", "--unit", unit, "--until-idle")
    figures = check_all(s, decisions)
    reliability_report.add("postgres_restart", faults_injected=1, submit_retries=court.retries,
                           process_restarts=sum(fleet.exits.values()), **figures)
