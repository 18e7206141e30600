"""Where a court submit's time and CPU go: the phases of one end-to-end `hub court submit`
(validation, main loop, each COPY, the commit, the drain, what is left when it returns),
each with its wall time and the CPU its process groups used (this process, its worker
processes, PostgreSQL's and Kafka's), read from /proc around the phase boundaries.

    python -m bench.court_phases [N] [ROUNDS]    (default 200000 1; writes
                                                  bench/results/court_phases.json)

A diagnostic beside bench/court.py (not part of `make bench`): the phases are marked by
wrapping the submit's own functions, which adds nothing measurable to a 200k run. Worker
CPU is counted while the workers live; it is not read again once they have exited."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench.common import write_results
from bench.court import _cleanup, _settings, decisions
from producers.court import service, store
from producers.court import submit as submit_module

_TICK = os.sysconf("SC_CLK_TCK")
GROUPS = ("main", "workers", "postgres", "kafka")


def cpu_by_group() -> dict[str, float]:
    """CPU seconds used so far by this process, its children, PostgreSQL and Kafka."""
    me = os.getpid()
    out = dict.fromkeys(GROUPS, 0.0)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / _TICK
        if int(pid) == me:
            out["main"] += cpu
        elif int(fields[1]) == me:
            out["workers"] += cpu
        elif b"postgres" in cmd:
            out["postgres"] += cpu
        elif b"kafka.Kafka" in cmd:
            out["kafka"] += cpu
    return out


class Marks:
    """(label, time, CPU by group) at each phase boundary."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, dict[str, float]]] = []

    def mark(self, label: str) -> None:
        self.marks.append((label, time.perf_counter(), cpu_by_group()))

    def around(self, owner: Any, name: str, label: Callable[..., str]) -> Callable[[], None]:
        """Mark the start and end of `owner.name` (`label(*args)` names it); returns what
        undoes it."""
        real = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            what = label(*args)
            self.mark(f"{what} starts")
            try:
                return real(*args, **kwargs)
            finally:
                self.mark(f"{what} ends")

        setattr(owner, name, timed)
        return lambda: setattr(owner, name, real)

    def phases(self) -> list[dict[str, Any]]:
        out = []
        for (_, t0, c0), (label, t1, c1) in zip(self.marks, self.marks[1:], strict=False):
            used = {g: round(c1[g] - c0[g], 2) for g in GROUPS if c1[g] >= c0[g]}
            out.append({"until": label, "seconds": round(t1 - t0, 3), "cpu": used,
                        "cores": round(sum(used.values()) / (t1 - t0), 2) if t1 > t0 else None})
        return out


def run_once(lines: list[str]) -> dict[str, Any]:
    marks = Marks()
    undo = [
        marks.around(submit_module, "_prepare_all", lambda *a: "validation"),
        marks.around(submit_module, "_record", lambda *a: "recording"),
        marks.around(store, "copy_binary", lambda cur, table, *a: f"COPY {table.split('.')[-1]}"),
        marks.around(submit_module, "drain_after_submit", lambda *a: "drain"),
    ]
    tag = "p" + uuid.uuid4().hex[:8]
    s = _settings(tag)
    try:
        marks.mark("submit called")
        service.submit(s, lines)
        marks.mark("submit returned")
    finally:
        for u in undo:
            u()
        _cleanup(s, tag)
    total = marks.marks[-1][1] - marks.marks[0][1]
    return {"decisions": len(lines), "seconds": round(total, 3),
            "events_per_second": round(len(lines) / total), "phases": marks.phases()}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    lines = decisions(n)
    runs = [run_once(lines) for _ in range(rounds)]
    for r in runs:
        print(f"{r['decisions']} decisions in {r['seconds']} s ({r['events_per_second']}/s)")
        for p in r["phases"]:
            cpu = " ".join(f"{g}={v:.2f}" for g, v in p["cpu"].items())
            print(f"  {p['seconds']:6.3f} s  until {p['until']:24s} cores={p['cores']}  {cpu}")
    write_results("court_phases", {"runs": runs})


if __name__ == "__main__":
    main()
