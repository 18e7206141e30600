"""End-to-end latency: court submit -> every concerned unit acknowledged, at a steady
decision rate with 8 unit consumers (`hub agency run`) and one `hub court relay`, each its
own process, beside a bare kafka-python producer -> consumer round trip at the same rate,
measured in the same run. Writes bench/results/e2e_latency.json. Not a test.

    python -m bench.e2e_latency [RATE ...]      (default: 50 200 1000 decisions/s)
    HUB_BENCH_SECONDS=10 python -m bench.e2e_latency 200     (a quick run)

An event's latency = (Kafka timestamp of the last of its 8 acks, i.e. when the slowest unit
published it) - (the time its batch was due to be submitted). Using the due time, not the
time the submitter got round to it, keeps a submitter that falls behind from hiding the
delay (coordinated omission). The 8 units each bind the debtor of every listing, whatever
its kind, so every court event concerns all of them (measures.md; checked with
hub.domain.punishment.concerns over generated listings)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.common import write_results
from hub import codec, kafka
from hub.config import Settings, load_settings
from hub.domain.events import event_id_for
from hub.generate import generate
from hub.keys import court_signer, ensure_key, unit_signer
from producers.court import service

ROOT = Path(__file__).resolve().parents[1]
UNITS = ("finance", "public-security", "rail-air-operators", "housing-construction",
         "land-resources", "development-reform", "tourism", "education")
COURTS = ("350402", "350403")
BATCH_SECONDS = 0.05  # one submit every 50 ms: 50 decisions at 1,000/s
MAX_BATCH = 2000  # decisions in one submit when catching up
WARM_SECONDS = 3.0  # per rate, submitted but not measured
TARGET_P99_MS = 1000.0


# --------------------------------------------------------------------------- processes

def hub_env(s: Settings) -> dict[str, str]:
    """Environment for a `hub` subprocess with exactly these settings (no .local/hub.env)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_KAFKA_BOOTSTRAP=s.kafka_bootstrap, HUB_PG_DSN=s.pg_dsn,
        HUB_KAFKA_SASL_MECHANISM=s.kafka_sasl_mechanism,
        HUB_TOPIC_PREFIX=s.topic_prefix, HUB_DB_PREFIX=s.db_prefix,
        HUB_STATE_DIR=str(s.state_dir), HUB_ENV_FILE=str(s.state_dir / "none.env"),
        PYTHONUNBUFFERED="1",
    )
    if s.kafka_security_protocol:
        env["HUB_KAFKA_SECURITY_PROTOCOL"] = s.kafka_security_protocol
    if s.kafka_username:
        env.update(HUB_KAFKA_USERNAME=s.kafka_username, HUB_KAFKA_PASSWORD=s.kafka_password or "")
    return env


def spawn(s: Settings, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
    log = open(s.state_dir / log_name, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "hub", *args], env=hub_env(s), cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def stop_all(procs: list[subprocess.Popen[bytes]], grace: float = 15.0) -> None:
    """SIGTERM (they stop cleanly), then SIGKILL whatever is left, children included."""
    family: list[psutil.Process] = []
    for p in procs:
        try:
            family += [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
        except psutil.Error:
            pass
        if p.poll() is None:
            p.terminate()
    _, alive = psutil.wait_procs(family, timeout=grace)
    for q in alive:
        try:
            q.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


def check_alive(s: Settings, procs: dict[str, subprocess.Popen[bytes]],
                restarts: dict[str, int], limit: int = 3) -> None:
    """Restart a process that exited (as a supervisor would: the CLI relay exits when
    PostgreSQL drops it, and other engineers' fault tests restart the shared services);
    every restart is reported with the figures. Past `limit` restarts of one, give up."""
    for name, p in list(procs.items()):
        if p.poll() is None:
            continue
        log = s.state_dir / f"{name}.log"
        tail = log.read_text(errors="replace")[-1500:]
        if restarts.get(name, 0) >= limit:
            raise RuntimeError(f"{name} exited with {p.returncode} {limit + 1} times:\n{tail}")
        restarts[name] = restarts.get(name, 0) + 1
        print(f"{name} exited with {p.returncode}; restarting. Its log ends:\n{tail[-400:]}",
              file=sys.stderr)
        log.rename(log.with_suffix(f".{restarts[name]}.log"))
        procs[name] = spawn(s, [*p.args[3:]], f"{name}.log")  # type: ignore[index]


def cleanup(s: Settings, units: tuple[str, ...] = UNITS) -> None:
    """Drop this run's consumer groups, topics and schemas (best effort)."""
    from kafka.admin import MemberToRemove

    from bench.agency import cleanup as drop_topics_and_schemas

    try:
        with kafka.admin_client(s) as client:
            for unit in units:
                # static members (group.instance.id) stay until removed: remove, then delete
                try:
                    client.remove_group_members(s.unit_group(unit), [MemberToRemove(
                        group_instance_id=f"{unit}-{s.topic_prefix or 'main'}")])
                except Exception:  # noqa: BLE001, S110 - not a member any more
                    pass
            mine = [g["group_id"] for g in client.list_groups()
                    if str(g["group_id"]).startswith(s.topic_prefix)]
            if mine:
                client.delete_groups(mine)
    except Exception as e:  # noqa: BLE001 - cleanup only
        print(f"cleanup: consumer groups left: {e}", file=sys.stderr)
    drop_topics_and_schemas(s)


# --------------------------------------------------------------------------- acks

def partitions(c: KafkaConsumer, topic: str, timeout: float = 30.0) -> list[TopicPartition]:
    """A new topic's partitions (metadata can lag its creation by a moment)."""
    deadline = time.monotonic() + timeout
    while not (found := c.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions after {timeout:.0f} s")
        c.topics()  # forces a metadata refresh
        time.sleep(0.2)
    return [TopicPartition(topic, p) for p in sorted(found)]


class AckReader:
    """Reads the 8 ack topics from the start; keeps, per event id, each unit's ack time
    (the record's CreateTime: when that unit's relay published the ack), and when the court
    relay published the event (CreateTime on the court topic), to split the latency."""

    def __init__(self, s: Settings) -> None:
        self.acks: dict[str, dict[str, float]] = {}
        self.published: dict[str, float] = {}
        self.court_topic = s.court_topic
        self.c = KafkaConsumer(**kafka.common_config(s, "bench-e2e-acks"), group_id=None,
                               enable_auto_commit=False, max_poll_records=5000,
                               fetch_max_wait_ms=100)
        parts = partitions(self.c, s.court_topic)
        for unit in UNITS:
            parts += partitions(self.c, s.ack_topic(unit))
        self.c.assign(parts)
        self.c.seek_to_beginning(*parts)

    def poll(self) -> None:
        for recs in self.c.poll(timeout_ms=200).values():
            for r in recs:
                if r.topic == self.court_topic:
                    _, ev = codec.decode_dict(r.value)
                    self.published[ev["meta"]["event_id"]] = r.timestamp / 1000
                    continue
                name, rec = codec.decode_dict(r.value)
                # a signed batch (one record per unit transaction) or an old single ack
                entries = rec["entries"] if name == "credithub.unit.UnitAckBatch" else (
                    [rec] if name == "credithub.unit.UnitAcknowledged" else [])
                for ack in entries:
                    if ack["trigger"] == "court_event":
                        self.acks.setdefault(ack["event_id"], {})[rec["unit"]] = (
                            r.timestamp / 1000)

    def done(self, event_id: str) -> float | None:
        """When the last of the 8 units acknowledged it, or None if one has not yet."""
        got = self.acks.get(event_id)
        return max(got.values()) if got and len(got) == len(UNITS) else None

    def wait(self, ids: list[str], timeout: float, alive: Any) -> bool:
        deadline = time.monotonic() + timeout
        pending = [i for i in ids if self.done(i) is None]
        while pending and time.monotonic() < deadline:
            alive()
            self.poll()
            pending = [i for i in pending if self.done(i) is None]
        return not pending

    def close(self) -> None:
        self.c.close()


# --------------------------------------------------------------------------- load

def percentiles(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    if not xs:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}
    return {"p50": statistics.median(xs), "p99": xs[min(len(xs) - 1, int(len(xs) * 0.99))],
            "max": xs[-1]}


def submit_steady(s: Settings, lines: list[str], ids: list[str], rate: float,
                  alive: Any) -> dict[str, Any]:
    """Hand `lines` to the court at `rate`: decision i is due at start + i / rate, in
    batches due every BATCH_SECONDS. Each submit takes every decision already due (a court
    system that fell behind sends what has piled up in one file), at most MAX_BATCH.
    Returns when each decision was due and when its submit call started."""
    due_at: dict[str, float] = {}
    called_at: dict[str, float] = {}
    calls: list[float] = []
    per = max(1, round(rate * BATCH_SECONDS))
    start = time.time() + 0.1
    give_up = start + len(lines) / rate * 2 + 5  # the court cannot take this rate: stop
    k, n_calls = 0, 0
    while k < len(lines) and time.time() < give_up:
        first_due = start + (k // per) * per / rate
        if (wait := first_due - time.time()) > 0:
            time.sleep(wait)
        now = time.time()
        # every whole batch due by now
        upto = min(len(lines), k + MAX_BATCH, (int((now - start) * rate) // per + 1) * per)
        upto = max(upto, min(len(lines), k + per))
        for i in range(k, upto):
            due_at[ids[i]] = start + (i // per) * per / rate
            called_at[ids[i]] = now
        if n_calls % 20 == 0:
            alive()
        t = time.perf_counter()
        service.submit(s, lines[k:upto], relay=False)
        calls.append(time.perf_counter() - t)
        n_calls += 1
        k = upto
    return {"due_at": due_at, "called_at": called_at, "start": start, "end": time.time(),
            "calls": calls, "batch": k / max(1, n_calls), "submitted": k}


def run_rate(s: Settings, reader: AckReader, stream: list[tuple[str, str]], rate: float,
             seconds: float, alive: Any) -> dict[str, Any]:
    n_warm = int(rate * WARM_SECONDS)
    n = n_warm + int(rate * seconds)
    chunk = stream[:n]
    lines = [line for line, _ in chunk]
    ids = [eid for _, eid in chunk]
    sub = submit_steady(s, lines, ids, rate, alive)
    # What was not submitted stays first in the stream: later decisions may be about its
    # listings (a shield needs its listing), so the stream must stay a prefix.
    del stream[:sub["submitted"]]
    measured = ids[n_warm:sub["submitted"]]
    if not measured:
        raise RuntimeError(f"@{rate:.0f}/s: the warm-up alone outlasted the run; nothing measured")
    first_due = sub["due_at"][measured[0]]
    drained = reader.wait(measured, timeout=max(120.0, 4 * seconds), alive=alive)
    lat, from_call, not_acked, last = [], [], 0, sub["end"]
    court_part, unit_part = [], []
    for eid in measured:
        t = reader.done(eid)
        if t is None:
            not_acked += 1
            continue
        lat.append(max(0.0, t - sub["due_at"][eid]) * 1000)
        from_call.append(max(0.0, t - sub["called_at"][eid]) * 1000)
        if (pub := reader.published.get(eid)) is not None:
            court_part.append(max(0.0, pub - sub["due_at"][eid]) * 1000)
            unit_part.append(max(0.0, t - pub) * 1000)
        last = max(last, t)
    # Backlog when the last batch was submitted: events not yet acknowledged by all units.
    at_end = sum(1 for eid in measured if (reader.done(eid) or float("inf")) > sub["end"])
    achieved = len(measured) / (sub["end"] - first_due)
    calls = percentiles([c * 1000 for c in sub["calls"]])
    return {"rate": rate, "events": len(measured), "achieved": achieved,
            "held": achieved >= 0.95 * rate, "latency": percentiles(lat),
            "not_acked": not_acked, "backlog_at_end": at_end, "drained": drained,
            "drain_s": last - sub["end"], "submit_call_ms": calls,
            "from_submit_call": percentiles(from_call), "mean_batch": sub["batch"],
            "court_part": percentiles(court_part), "unit_part": percentiles(unit_part),
            "planned": n - n_warm}


# --------------------------------------------------------------------------- baseline

def bare_round_trip(s: Settings, rate: float, seconds: float, size: int = 700) -> dict[str, float]:
    """A bare kafka-python producer (acks=all) sending `size`-byte records at `rate`/s in
    batches every BATCH_SECONDS, and a consumer in another thread: receive time - due time."""
    topic = s.topic(f"bench.bare.{int(rate)}.v1")
    kafka.ensure_topics(s, [kafka.TopicSpec(topic, {})])
    c = KafkaConsumer(**kafka.common_config(s, "bench-bare-c"), group_id=None,
                      enable_auto_commit=False, fetch_max_wait_ms=100)
    parts = partitions(c, topic)
    c.assign(parts)
    c.seek_to_end(*parts)
    for tp in parts:
        c.position(tp)  # resolve now, before anything is sent
    p = KafkaProducer(**kafka.common_config(s, "bench-bare-p"), acks="all", linger_ms=0)
    per = max(1, round(rate * BATCH_SECONDS))
    total = int(rate * (seconds + WARM_SECONDS))
    lat: list[float] = []
    stop = threading.Event()

    def consume() -> None:
        seen = 0
        while seen < total and not stop.is_set():
            for recs in c.poll(timeout_ms=200).values():
                now = time.time()
                for r in recs:
                    i, due = r.value[:40].split(b" ")[:2]
                    if int(i) >= rate * WARM_SECONDS:
                        lat.append((now - float(due)) * 1000)
                    seen += 1

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    pad = b"x" * size
    start = time.time() + 0.1
    for k in range(0, total, per):
        due = start + (k // per) * BATCH_SECONDS
        if (w := due - time.time()) > 0:
            time.sleep(w)
        for i in range(k, min(k + per, total)):
            p.send(topic, key=str(i).encode(), value=f"{i} {due:.6f} ".encode() + pad)
    p.flush()
    th.join(timeout=60)
    stop.set()
    th.join(timeout=5)
    p.close()
    c.close()
    return percentiles(lat)


# --------------------------------------------------------------------------- main

def make_stream(n: int, seed: int = 8) -> list[tuple[str, str]]:
    """(JSON line, event id) of about n decisions: listings and their later lifecycle."""
    out: list[tuple[str, str]] = []
    docs = generate(int(n / 1.3) + 100, seed=seed, courts=COURTS)
    for d in docs:
        out.append((json.dumps(d, ensure_ascii=False), event_id_for(d["court_code"], d["decision_no"])))
    return out[:n]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = sys.argv[1:] if argv is None else argv
    rates = [float(a) for a in args] or [50.0, 200.0, 1000.0]
    seconds = float(os.environ.get("HUB_BENCH_SECONDS", "30"))
    tag = "b" + uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    s = load_settings().model_copy(update={"topic_prefix": f"{tag}.", "db_prefix": tag,
                                           "state_dir": tmp})
    print(f"topics {s.topic_prefix}*, schemas {s.db_prefix}_*, logs in {tmp}", file=sys.stderr)
    stream = make_stream(int(sum(r * (seconds + WARM_SECONDS) for r in rates)) + 100)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    results: list[dict[str, Any]] = []
    bare: dict[float, dict[str, float]] = {}
    reader: AckReader | None = None
    restarts: dict[str, int] = {}
    try:
        kafka.ensure_topics(s, kafka.topic_specs(s, UNITS))
        for code in COURTS:  # create keys now: no two processes race on the trust store
            ensure_key(s, court_signer(code))
        for unit in UNITS:
            ensure_key(s, unit_signer(unit))
        # The bare baseline first, while only other engineers' work loads the machine.
        for rate in rates:
            bare[rate] = bare_round_trip(s, rate, min(seconds, 10.0))
            print(f"bare round trip @{rate:.0f}/s: {bare[rate]}", file=sys.stderr)
        procs["relay"] = spawn(s, ["court", "relay"], "relay.log")
        for unit in UNITS:
            procs[unit] = spawn(s, ["agency", "run", "--unit", unit], f"{unit}.log")

        def alive() -> None:
            check_alive(s, procs, restarts)

        reader = AckReader(s)
        # Ready: one small batch acknowledged by all 8 (process start-up, group joins).
        ready = stream[:20]
        del stream[:20]
        service.submit(s, [line for line, _ in ready], relay=False)
        if not reader.wait([eid for _, eid in ready], timeout=180, alive=alive):
            missing = sorted({u for _, eid in ready for u in UNITS
                              if u not in reader.acks.get(eid, {})})
            raise RuntimeError("the units did not acknowledge the first batch within 180 s: "
                               f"{', '.join(missing)} (logs in {tmp})")
        for rate in rates:
            before = dict(restarts)
            r = run_rate(s, reader, stream, rate, seconds, alive)
            r["restarts"] = {k: v - before.get(k, 0) for k, v in restarts.items()
                             if v != before.get(k, 0)}
            r["loadavg_1m"] = round(os.getloadavg()[0], 1)  # the machine is shared: context
            print(f"@{rate:.0f}/s: {json.dumps(r)}", file=sys.stderr)
            results.append(r)
    finally:
        stop_all(list(procs.values()))
        if reader is not None:
            reader.close()
        cleanup(s)
    doc = {"benchmarks": rows(results, bare, seconds)}
    write_results("e2e_latency", doc)
    print(json.dumps(doc, indent=2))
    return doc


def rows(results: list[dict[str, Any]], bare: dict[float, dict[str, float]],
         seconds: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in results:
        rate, lat, b = r["rate"], r["latency"], bare[r["rate"]]
        where = f"@{rate:.0f} decisions/s, 8 units, {seconds:.0f} s"
        detail = {"events": r["events"], "rate_target": rate, "rate_achieved": round(r["achieved"]),
                  "rate_held": r["held"], "backlog_at_end": r["backlog_at_end"],
                  "not_acked_after_wait": r["not_acked"], "drain_s": round(r["drain_s"], 2),
                  "restarted_processes": r["restarts"], "loadavg_1m": r.get("loadavg_1m"),
                  "max_ms": round(lat["max"]), "mean_batch": round(r["mean_batch"], 1),
                  "submit_call_ms": {k: round(v, 1) for k, v in r["submit_call_ms"].items()},
                  # the same, timed from when the submit call started (not when due)
                  "from_submit_call_ms": {k: round(v) for k, v in r["from_submit_call"].items()},
                  # due -> court relay published it; published -> last unit's ack published
                  "court_part_ms": {k: round(v) for k, v in r["court_part"].items()},
                  "units_part_ms": {k: round(v) for k, v in r["unit_part"].items()},
                  "events_planned": r["planned"]}
        for q, target in (("p99", f"<= {TARGET_P99_MS:.0f} ms"), ("p50", None)):
            out.append({"id": f"e2e.{q}.{rate:.0f}",
                        "name": f"e2e latency {q}, court submit -> all units acked {where}",
                        "value": round(lat[q]), "unit": "ms", "baseline": round(b[q], 1),
                        "ratio": round(lat[q] / b[q], 1) if b[q] else None, "target": target,
                        **detail})
        out.append({"id": f"e2e.rate.{rate:.0f}",
                    "name": f"e2e decision rate achieved {where} (backlog at end: "
                            f"{r['backlog_at_end']} events)",
                    "value": round(r["achieved"]), "unit": "decisions/s", "baseline": None,
                    "ratio": round(r["achieved"] / rate, 3), "target": rate})
        out.append({"id": f"e2e.backlog.{rate:.0f}",
                    "name": f"e2e events not yet acknowledged by all units at the end {where}",
                    "value": r["backlog_at_end"], "unit": "events", "baseline": None,
                    "ratio": None, "target": 0})
    return out


if __name__ == "__main__":
    main()
