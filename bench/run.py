"""`make bench`: run every benchmark module (`bench/<side>.py` with a `main()`), each in
its own process so one's memory does not colour another's, then gather their figures into
`bench/results/latest.json` and print a table.

Every figure sits beside a bare-client baseline measured in the same run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SIDES = ("court", "agency", "floor", "audit", "e2e_latency", "memory", "api")


def machine() -> dict[str, object]:
    mem = 0
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) // 1024
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "memory_mb": mem, "python": platform.python_version(),
            "platform": platform.platform()}


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    args = sys.argv[1:]
    merge_only = "--merge-only" in args  # gather existing figures without measuring again
    args = [a for a in args if a != "--merge-only"]
    only = [] if merge_only else (args or [s for s in SIDES if (HERE / f"{s}.py").exists()])
    failed = []
    for side in only:
        print(f"==> bench {side}", flush=True)
        t = time.time()
        rc = subprocess.call([sys.executable, "-m", f"bench.{side}"], cwd=HERE.parent)
        print(f"    {side}: exit {rc} in {time.time() - t:.0f} s", flush=True)
        if rc:
            failed.append(side)
    benchmarks = []
    for side in SIDES:
        f = RESULTS / f"{side}.json"
        if f.exists():
            for b in json.loads(f.read_text()).get("benchmarks", []):
                benchmarks.append({"side": side, **b})
    doc = {"machine": machine(), "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "benchmarks": benchmarks}
    (RESULTS / "latest.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    table = Table(title="credit-hub benchmarks (bench/results/latest.json)")
    for col in ("name", "value", "unit", "baseline", "ratio", "target"):
        table.add_column(col)
    for b in benchmarks:
        table.add_row(*(str(b.get(k, "")) for k in ("name", "value", "unit", "baseline", "ratio", "target")))
    Console().print(table)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
