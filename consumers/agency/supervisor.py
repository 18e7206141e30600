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
