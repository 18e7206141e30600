"""Peak memory of a unit's consumer (`hub agency run --unit rail-air-operators --until-idle`,
a fresh process, its signature-check worker included) over N signed court events, sampled
every 0.5 s, beside a bare kafka-python consumer process reading the same topic in the same
run. Target: flat (RSS at 90% of the run about RSS at 10%) and <= 250 MB.

    python -m bench.memory [N]      (default 200,000; writes bench/results/memory.json)

The default is 200k, not 1M: on the 2-core machine the unit applies ~1-3k events/s, so 1M
events (plus generating them) take 10-20 minutes. `python -m bench.memory 1000000` for the
full figure; the JSON records the N used (`events`). Not a test."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import psycopg2
from kafka import TopicPartition

from bench.agency import publish
from bench.common import write_results
from bench.e2e_latency import ROOT, cleanup, hub_env, partitions, stop_all
from hub import db, kafka
from hub.config import Settings, load_settings
from hub.keys import ensure_key, unit_signer

UNIT = "rail-air-operators"  # concerned by every listing: the most work per event
DEFAULT_N = 1_000_000  # the ids agency.rss.1m / agency.rebuild.1m (issue #19)
TARGET_MB = 250
SAMPLE_SECONDS = 0.5


def rss_mb(pid: int) -> tuple[float, float, float]:
    """(RSS of the process and all its descendants, RSS of the process alone, PSS of the
    process and its descendants) in MB. The verify worker is forked: the RSS sum counts
    the pages it shares with its parent twice, the PSS sum does not."""
    try:
        p = psutil.Process(pid)
        mem = p.memory_full_info()
        total, own, pss = mem.rss, mem.rss, mem.pss
        for c in p.children(recursive=True):
            try:
                m = c.memory_full_info()
                total += m.rss
                pss += m.pss
            except psutil.Error:
                pass
        return total / 2**20, own / 2**20, pss / 2**20
    except psutil.Error:
        return 0.0, 0.0, 0.0


def watch(proc: subprocess.Popen[bytes], progress: Any, timeout: float) -> list[dict[str, float]]:
    """Sample RSS and progress (0..1) every SAMPLE_SECONDS until the process exits; kill
    it (and its children) past `timeout`."""
    samples: list[dict[str, float]] = []
    start = time.monotonic()
    while proc.poll() is None:
        total, own, pss = rss_mb(proc.pid)
        if total:
            samples.append({"t": time.monotonic() - start, "rss": total, "own": own,
                            "pss": pss, "progress": progress()})
        if time.monotonic() - start > timeout:
            stop_all([proc], grace=5)
            raise RuntimeError(f"{proc.args} still running after {timeout:.0f} s: killed")
        time.sleep(SAMPLE_SECONDS)
    return samples


def at_progress(samples: list[dict[str, float]], share: float) -> float | None:
    """RSS at the first sample at or past `share` of the events (the last sample when the
    run ended between two samples)."""
    for x in samples:
        if x["progress"] >= share:
            return round(x["rss"], 1)
    return round(samples[-1]["rss"], 1) if samples else None


def summary(samples: list[dict[str, float]], n: int, elapsed: float) -> dict[str, Any]:
    return {"peak_mb": round(max((x["rss"] for x in samples), default=0.0), 1),
            "peak_main_process_mb": round(max((x["own"] for x in samples), default=0.0), 1),
            "peak_pss_mb": round(max((x["pss"] for x in samples), default=0.0), 1),
            "rss_at_10pct_mb": at_progress(samples, 0.1),
            "rss_at_50pct_mb": at_progress(samples, 0.5),
            "rss_at_90pct_mb": at_progress(samples, 0.9),
            "events_per_s": round(n / elapsed), "seconds": round(elapsed, 1),
            "samples": len(samples)}


def growth(run: dict[str, Any]) -> float | None:
    a, b = run["rss_at_10pct_mb"], run["rss_at_90pct_mb"]
    return None if a is None or b is None else round(b - a, 1)


# --------------------------------------------------------------------------- the two runs

def run_unit(s: Settings, n: int, timeout: float) -> dict[str, Any]:
    from consumers.agency import schema

    sch = schema.schema_name(s, UNIT)
    conn = db.connect(s.pg_dsn, "bench-memory")
    conn.autocommit = True

    def progress() -> float:
        # the unit stores its consumed offsets with each applied batch (one transaction)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SELECT coalesce(sum(next_offset), 0) FROM {sch}.consumer_offsets")
                return int(cur.fetchone()[0]) / n
        except psycopg2.Error:
            return 0.0  # the table does not exist yet (the process is starting)

    out = s.state_dir / "unit.out"
    with open(out, "wb") as fh, open(s.state_dir / "unit.log", "wb") as log:
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "agency", "run", "--unit", UNIT, "--until-idle",
             "--format", "json"], env=hub_env(s), cwd=ROOT, stdout=fh, stderr=log,
            stdin=subprocess.DEVNULL)
        try:
            samples = watch(proc, progress, timeout)
        finally:
            stop_all([proc], grace=5)
            conn.close()
        elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        tail = (s.state_dir / "unit.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"hub agency run exited with {proc.returncode}:\n{tail}")
    stats = json.loads(out.read_text())
    if stats["applied"] != n:
        raise RuntimeError(f"the unit applied {stats['applied']} of {n} events: {stats}")
    return {**summary(samples, n, elapsed), "acks": stats["acks"]}


def run_bare(s: Settings, n: int, timeout: float) -> dict[str, Any]:
    seen = s.state_dir / "bare.count"
    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "bench.memory", "--bare", str(n), str(seen)],
                            env=hub_env(s), cwd=ROOT, stdin=subprocess.DEVNULL)

    def progress() -> float:
        try:
            return int(seen.read_text() or 0) / n
        except (OSError, ValueError):
            return 0.0

    try:
        samples = watch(proc, progress, timeout)
    finally:
        stop_all([proc], grace=5)
    if proc.returncode != 0:
        raise RuntimeError(f"bare consumer exited with {proc.returncode}")
    return summary(samples, n, time.perf_counter() - t)


def bare_main(n: int, seen: Path) -> None:
    """The baseline process: a bare kafka-python consumer with the unit's consumer settings
    (hub.kafka.consumer: 2000 records a poll, 16 MB fetches), reading and dropping records."""
    s = load_settings()
    c = kafka.consumer(s, client_id="bench-memory-bare", group_id=None)
    parts: list[TopicPartition] = partitions(c, s.court_topic)
    c.assign(parts)
    c.seek_to_beginning(*parts)
    got, last = 0, 0.0
    while got < n:
        for recs in c.poll(timeout_ms=1000).values():
            got += len(recs)
        if time.monotonic() - last > SAMPLE_SECONDS / 2:
            seen.write_text(str(got))
            last = time.monotonic()
    seen.write_text(str(got))
    c.close()


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--bare"]:
        bare_main(int(args[1]), Path(args[2]))
        return {}
    n = int(args[0]) if args else DEFAULT_N
    tag = "b" + uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    s = load_settings().model_copy(update={"topic_prefix": f"{tag}.", "db_prefix": tag,
                                           "state_dir": tmp})
    print(f"topics {s.topic_prefix}*, schemas {s.db_prefix}_*, logs in {tmp}", file=sys.stderr)
    timeout = max(300.0, n / 150)  # far beyond the slowest rate seen on 2 busy cores
    try:
        t = time.perf_counter()
        # bench.agency's generator: one person per listing, no fixed period (a fixed-body
        # generator's period_end falls behind its decided_at after ~60k events, and the
        # unit dead-letters those as invalid listings)
        publish(s, n)
        gen = time.perf_counter() - t
        print(f"generated {n} signed events in {gen:.0f} s", file=sys.stderr)
        ensure_key(s, unit_signer(UNIT))
        bare = run_bare(s, n, timeout)
        print(f"bare consumer: {bare}", file=sys.stderr)
        unit = run_unit(s, n, timeout)
        print(f"unit consumer: {unit}", file=sys.stderr)
    finally:
        cleanup(s, (UNIT,))
    flat, bare_flat = growth(unit), growth(bare)
    name = f"unit consumer peak RSS ({n} events, {UNIT}, incl. its verify worker)"
    note = ("N defaults to 1,000,000 (ids agency.rss.1m, agency.rebuild.1m); "
            "`python -m bench.memory 200000` for a quicker run")
    label = f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"
    doc = {"events": n, "note": note, "benchmarks": [
        {"id": f"agency.rss.{label}", "name": name, "value": unit["peak_mb"], "unit": "MB", "baseline": bare["peak_mb"],
         "ratio": round(unit["peak_mb"] / bare["peak_mb"], 2) if bare["peak_mb"] else None,
         "target": f"<= {TARGET_MB} MB, flat", "events": n,
         "growth_10_to_90pct_mb": flat, "unit_run": unit, "bare_run": bare},
        {"name": f"unit consumer RSS growth from 10% to 90% of the run ({n} events)",
         "value": flat, "unit": "MB", "baseline": bare_flat, "ratio": None,
         "target": "about 0 (flat)"},
        {"id": f"agency.rebuild.{label}",
         "name": f"unit projection built from offset 0 ({n} events: what `hub agency rebuild` "
                 "does after dropping the projection; `hub agency run --until-idle` on an "
                 "empty one, start-up included)",
         "value": unit["seconds"], "unit": "s", "baseline": None, "ratio": None,
         "target": "<= 90 s for 1M events"},
        {"name": f"unit consumer rate during the memory run ({n} events, start-up included)",
         "value": unit["events_per_s"], "unit": "events/s", "baseline": bare["events_per_s"],
         "ratio": round(unit["events_per_s"] / bare["events_per_s"], 3), "target": None},
    ]}
    write_results("memory", doc)
    print(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
