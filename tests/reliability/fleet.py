"""The moving parts of a fault test: long-running `hub` processes (relay, unit consumers)
kept alive like a supervisor would, and a court thread submitting files meanwhile."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from typing import Any

from hub.config import Settings
from tests.reliability.checks import chunks, kill9, spawn, stop, submit_file


class Fleet:
    """Named `hub` processes; `tend()` restarts the ones that exited on their own."""

    def __init__(self, s: Settings) -> None:
        self.s = s
        self.settings: dict[str, Settings] = {}  # the account each process runs as
        self.specs: dict[str, tuple[str, ...]] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills = 0
        self.exits: dict[str, int] = {}  # exited on their own (then restarted)

    def start(self, name: str, *args: str, as_: Settings | None = None) -> None:
        """Start `hub ARGS` as `name`, under the settings `as_` (an account's) or the fleet's."""
        self.specs[name] = args
        self.settings[name] = as_ or self.s
        self._spawn(name)

    def _spawn(self, name: str) -> None:
        self.procs[name] = spawn(self.settings[name], *self.specs[name],
                                 log_name=name.replace(" ", "-"))

    def kill(self, name: str) -> None:
        """kill -9, then restart (as a supervisor would)."""
        self.kills += kill9(self.procs[name])
        self._spawn(name)

    def tend(self) -> None:
        for name, p in list(self.procs.items()):
            if p.poll() is not None:
                self.exits[name] = self.exits.get(name, 0) + 1
                self._spawn(name)

    def stop_all(self) -> None:
        for p in self.procs.values():
            stop(p)


class Court(threading.Thread):
    """Submits `decisions` as `files` consecutive files, with pauses; a file refused for
    want of a service is retried (the file is atomic: recorded whole or not at all)."""

    def __init__(self, s: Settings, decisions: list[dict[str, Any]], files: int, seed: int,
                 extra: tuple[str, ...] = (), pause: tuple[float, float] = (0.1, 0.6)) -> None:
        super().__init__(daemon=True)
        self.s, self.files, self.extra, self.pause = s, chunks(decisions, files), extra, pause
        self.rng = random.Random(seed)
        self.retries = 0
        self.errors: list[str] = []

    def run(self) -> None:
        for part in self.files:
            for attempt in range(30):
                p = submit_file(self.s, part, *self.extra, check=False)
                if p.returncode == 0:
                    break
                if p.returncode == 2:  # refused as invalid: a real failure, no retry
                    self.errors.append(p.stderr[-3000:])
                    return
                self.retries += 1
                time.sleep(1 + attempt)
            else:
                self.errors.append(f"gave up after retries: {p.stderr[-3000:]}")
                return
            time.sleep(self.rng.uniform(*self.pause))
