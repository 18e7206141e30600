"""`hub agency run-all`: one `hub agency run` process per unit, restarted when it crashes
(with backoff), all stopped on Ctrl-C / SIGTERM. A unit's failure never stops the others:
each has its own consumer group, schema and outbox. Each unit runs as its own account (its
broker user and database role, policy 一(二)) once `hub accounts provision` made them;
before that, under the caller's settings."""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404 - runs our own CLI with a fixed argv
import sys
import time
from dataclasses import dataclass
from typing import Any

from hub import accounts
from hub.config import Settings
from hub.errors import ConfigError
from hub.log import get_logger

log = get_logger("hub.agency.supervisor")


@dataclass
class Child:
    unit: str
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    done: bool = False


def _argv(unit: str, until_idle: bool) -> list[str]:
    return [sys.executable, "-m", "hub", "agency", "run", "--unit", unit] + (
        ["--until-idle"] if until_idle else [])


def _env(s: Settings, unit: str) -> dict[str, str]:
    try:
        own = accounts.account_env(s, accounts.unit_account(unit))
    except ConfigError:
        log.warning("unit has no account of its own yet; running under the caller's", unit=unit)
        own = {}
    return {**os.environ, **own}


def supervise(s: Settings, units: list[str], until_idle: bool, poll: float = 0.5,
              max_backoff: float = 30.0) -> dict[str, Any]:
    children = [Child(u) for u in units]
    envs = {u: _env(s, u) for u in units}
    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            now = time.monotonic()
            for c in children:
                if c.done:
                    continue
                if c.proc is None:
                    if now >= c.next_start:
                        # stdout is this command's own (one JSON document): children write to stderr
                        c.proc = subprocess.Popen(_argv(c.unit, until_idle),  # nosec B603
                                                  stdout=sys.stderr, env=envs[c.unit])
                        log.info("unit started", unit=c.unit, pid=c.proc.pid, restarts=c.restarts)
                    continue
                rc = c.proc.poll()
                if rc is None:
                    continue
                c.proc = None
                if until_idle and rc == 0:
                    c.done = True
                    log.info("unit caught up", unit=c.unit)
                    continue
                c.restarts += 1
                delay = min(2 ** min(c.restarts, 5) * 0.5, max_backoff)
                c.next_start = now + delay
                log.warning("unit exited; restarting", unit=c.unit, returncode=rc, delay=delay)
            if all(c.done for c in children):
                break
            time.sleep(poll)
    finally:
        for c in children:
            if c.proc is not None and c.proc.poll() is None:
                c.proc.terminate()
        deadline = time.monotonic() + 15
        for c in children:
            if c.proc is not None:
                try:
                    c.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    c.proc.kill()
                    c.proc.wait()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return {
        "units": [{"unit": c.unit, "restarts": c.restarts, "done": c.done} for c in children],
        "interrupted": stopping,
    }


def run_group(s: Settings, unit: str, processes: int, until_idle: bool, poll: float = 0.5,
              max_backoff: float = 30.0) -> dict[str, Any]:
    """`hub agency run --unit S --processes N`: N consumers of the unit in its one consumer
    group (Kafka's own way past one core: each owns some partitions). They share the unit's
    projection; a batch re-checks the stored offsets under their row lock in its
    transaction, so a batch of a partition taken away by a rebalance is applied whole by
    one process and skipped whole by the other, never half (consumers.agency.consumer).

    A crashed process is restarted. With `until_idle`, the group is done once the stored
    offsets reach the log's end at start and no acknowledgement waits in the outbox; the
    processes are then stopped, and one last in-process pass (nothing to apply) sweeps and
    relays whatever a stopped process left."""
    from consumers.agency import schema, store
    from consumers.agency.consumer import UnitConsumer
    from hub import db, kafka, outbox

    env = _env(s, unit)
    run_as = s.model_copy(update={k[4:].lower(): v for k, v in env.items()
                                  if k in ("HUB_KAFKA_USERNAME", "HUB_KAFKA_PASSWORD", "HUB_PG_DSN")})
    argv = [sys.executable, "-m", "hub", "agency", "run", "--unit", unit]
    children = [Child(f"{unit}#{i}") for i in range(processes)]
    # each member its own static id in the group: one shared id would fence the others
    ends = kafka.end_offsets(run_as, [run_as.court_topic]) if until_idle else None
    sch = schema.schema_name(run_as, unit)
    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    def caught_up() -> bool:
        assert ends is not None  # noqa: S101 - only called with until_idle
        conn = db.connect(run_as.pg_dsn, f"hub-agency-{unit}-group")
        try:
            with db.unit_of_work(conn) as uow:
                uow.cursor.execute("SELECT to_regclass(%s)", (f"{sch}.consumer_offsets",))
                if uow.cursor.fetchone()[0] is None:
                    return False
                stored = store.load_offsets(uow.cursor, sch, run_as.court_topic)
            done = all(stored.get((tp.topic, tp.partition), 0) >= end for tp, end in ends.items())
            return done and outbox.pending(conn, sch) == 0
        finally:
            conn.close()

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    finished = False
    try:
        while not stopping:
            now = time.monotonic()
            for i, c in enumerate(children):
                if c.proc is None and now >= c.next_start:
                    c.proc = subprocess.Popen(  # nosec B603
                        [*argv, "--instance", str(i)], stdout=sys.stderr, env=env)
                    log.info("unit process started", unit=unit, child=c.unit, pid=c.proc.pid)
                elif c.proc is not None and c.proc.poll() is not None:
                    rc, c.proc = c.proc.returncode, None
                    c.restarts += 1
                    delay = min(2 ** min(c.restarts, 5) * 0.5, max_backoff)
                    c.next_start = now + delay
                    log.warning("unit process exited; restarting", child=c.unit, returncode=rc,
                                delay=delay)
            if until_idle and caught_up():
                finished = True
                break
            time.sleep(poll)
    finally:
        for c in children:
            if c.proc is not None and c.proc.poll() is None:
                c.proc.terminate()
        for c in children:
            if c.proc is not None:
                try:
                    c.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    c.proc.kill()
                    c.proc.wait()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    stats = UnitConsumer(run_as, unit).run(until_idle=True) if finished else None
    return {"unit": unit, "processes": processes, "done": finished,
            "restarts": sum(c.restarts for c in children),
            "final_pass_applied": stats.applied if stats else 0, "interrupted": stopping}
