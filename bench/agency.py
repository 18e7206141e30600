"""Benchmark of one unit's consumer (`hub agency run`) over N signed DebtorListed events
(default 200k; `python -m bench.agency 20000 100000` for a quick run), beside a bare
kafka-python consumer reading the same topic in the same run; then the screening check's
latency with P persons bound in the projection (default 1M, bulk-loaded with COPY),
in-process and over HTTP. Writes bench/results/agency.json. Not a test."""

from __future__ import annotations

import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg2.extensions

from bench.common import bare_consume_rate, write_results
from hub import codec, db, kafka
from hub.config import Settings, load_settings
from hub.domain.deadlines import CST
from hub.domain.events import DebtorListed, EventMeta, Subject, event_id_for
from hub.domain.identity import make_resident_id
from hub.keys import court_signer, ensure_key
from hub.ledger import GENESIS_HASH, chain_hash
from hub.signed import sign

UNIT = "rail-air-operators"  # concerned by every listing: the worst case
COURT = "350402"


def _settings(tmp: Path) -> Settings:
    tag = "b" + uuid.uuid4().hex[:8]
    return load_settings(topic_prefix=f"{tag}.", db_prefix=tag, state_dir=tmp / "state")


def person(i: int) -> str:
    return make_resident_id("350402", date(1950, 1, 1) + timedelta(days=i % 18000), i % 997)


def publish(s: Settings, n: int) -> float:
    key, _ = ensure_key(s, court_signer(COURT))
    kafka.ensure_topics(s, kafka.topic_specs(s, [UNIT]))
    producer = kafka.producer(s, client_id="bench-court")
    t0 = datetime(2026, 3, 2, 9, 30, tzinfo=CST)
    prev = GENESIS_HASH
    start = time.perf_counter()
    for i in range(n):
        lid = f"B{i:07d}"
        dno = f"(2026)閩0402執{i}號"
        ev = DebtorListed(
            meta=EventMeta(event_id=event_id_for(COURT, dno), listing_id=lid, court_code=COURT,
                           court_seq=i + 1, decision_no=dno, decided_at=t0, recorded_at=t0,
                           prev_hash=prev),
            court_name="三明市三元區人民法院", case_no=f"(2026)閩0402執{i}號",
            filed_on=date(2026, 1, 15), basis_authority="三明市三元區人民法院",
            basis_doc_no="(2025)閩0402民初456號", obligation="償還借款人民幣200000元及利息",
            performance="none", ground="refuses_despite_ability", conduct="有能力履行而拒不履行",
            period_end=None, public=True,
            subject=Subject(kind="person", name="張某", id_number=person(i)), related=[],
        )
        value = codec.encode(ev)
        prev = chain_hash(value)
        producer.send(s.court_topic, key=lid.encode(), value=value, headers=sign(key, value))
    producer.flush()
    producer.close()
    return time.perf_counter() - start


def bare_consumer(s: Settings, n: int) -> float:
    return bare_consume_rate(s, s.court_topic, n)


class _CountingCursor(psycopg2.extensions.cursor):  # type: ignore[misc]
    """Counts the round trips of the unit consumer's own connection (one per execute,
    executemany or COPY; execute_values sends one per page)."""

    calls = 0

    def execute(self, *a: Any, **kw: Any) -> Any:
        _CountingCursor.calls += 1
        return super().execute(*a, **kw)

    def executemany(self, *a: Any, **kw: Any) -> Any:
        _CountingCursor.calls += 1
        return super().executemany(*a, **kw)

    def copy_expert(self, *a: Any, **kw: Any) -> Any:
        _CountingCursor.calls += 1
        return super().copy_expert(*a, **kw)


def _wal_lsn(s: Settings) -> str:
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute("SELECT pg_current_wal_lsn()::text")
            return str(uow.cursor.fetchone()[0])
    finally:
        conn.close()


def _wal_bytes(s: Settings, since: str) -> int:
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)",
                               (since,))
            return int(uow.cursor.fetchone()[0])
    finally:
        conn.close()


def unit_consumer(s: Settings, n: int) -> dict[str, float]:
    """Events/s of the unit consumer, with the WAL it made (the whole server's: the bench
    runs alone on its services; the ack relay's writes included) and the round trips of
    its own connection, per batch and per event."""
    from consumers.agency import schema
    from consumers.agency.consumer import UnitConsumer

    c = UnitConsumer(s, UNIT, sweep_seconds=3600)
    c.conn = db.connect(s.pg_dsn, f"hub-agency-{UNIT}")
    c.conn.cursor_factory = _CountingCursor
    schema.ensure_schema(c.conn, s, UNIT)
    lsn = _wal_lsn(s)
    _CountingCursor.calls = 0
    start = time.perf_counter()
    stats = c.run(until_idle=True)
    elapsed = time.perf_counter() - start
    wal = _wal_bytes(s, lsn)
    assert stats.applied == n, stats  # noqa: S101 - a wrong count would make the figure meaningless
    batches = max(stats.batches, 1)
    return {"rate": n / elapsed, "batches": stats.batches,
            "wal_bytes_per_event": wal / n, "wal_bytes_per_batch": wal / batches,
            "round_trips_per_batch": _CountingCursor.calls / batches}


def _cli_env(s: Settings) -> dict[str, str]:
    """Environment for `python -m hub` with these settings (the admin's credentials)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(HUB_KAFKA_BOOTSTRAP=s.kafka_bootstrap, HUB_PG_DSN=s.pg_dsn,
               HUB_TOPIC_PREFIX=s.topic_prefix, HUB_DB_PREFIX=s.db_prefix,
               HUB_STATE_DIR=str(s.state_dir), HUB_ENV_FILE=str(s.state_dir / "none.env"))
    if s.kafka_username:
        env.update(HUB_KAFKA_USERNAME=s.kafka_username, HUB_KAFKA_PASSWORD=s.kafka_password or "")
    return env


def group_consumer(s: Settings, n: int, processes: int) -> dict[str, float]:
    """Events/s of `hub agency run --processes N --until-idle` over a fresh log of n events,
    process start-up included (wall time of the command)."""
    start = time.perf_counter()
    proc = subprocess.run(  # nosec B603 - our own CLI
        [sys.executable, "-m", "hub", "agency", "run", "--unit", UNIT, "--processes",
         str(processes), "--until-idle", "--format", "json"],
        env=_cli_env(s), capture_output=True, text=True, timeout=1800, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"hub agency run --processes {processes}: {proc.stderr[-2000:]}")
    doc = json.loads(proc.stdout)
    assert doc["done"] and doc["restarts"] == 0, doc  # noqa: S101 - else the figure lies
    return {"rate": n / elapsed, "elapsed": elapsed}


def load_persons(s: Settings, n_persons: int) -> list[str]:
    """Bulk-load `n_persons` bound persons (one open G1 span each) with COPY."""
    from consumers.agency import schema

    conn = db.connect(s.pg_dsn)
    sch = schema.ensure_schema(conn, s, UNIT)
    # unique numbers: vary the region code as well as birth date and sequence
    ids = [make_resident_id(f"{350000 + (i // 18000) % 1000:06d}",
                            date(1950, 1, 1) + timedelta(days=i % 18000), i % 997)
           for i in range(n_persons)]
    buf = io.StringIO()
    for i, number in enumerate(ids):
        buf.write(f"P{i}\tG1\tdebtor\t{number}\tblock\tf\t2026-03-02 09:30:00+08\t\\N\t\\N\t\\N\t\\N\tbench\n")
    buf.seek(0)
    with db.unit_of_work(conn) as uow:
        uow.cursor.copy_expert(
            f"COPY {sch}.measures (listing_id, code, role, id_number, mode, suspended, valid_from,"
            " valid_to, until, kept_until, reason, event_id) FROM STDIN", buf)
        uow.commit()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"ANALYZE {sch}.measures")
    conn.close()
    return ids


def check_latency(s: Settings, ids: list[str], n: int = 5000) -> dict[str, float]:
    from consumers.agency import schema, screening

    conn = db.connect(s.pg_dsn)
    conn.autocommit = True
    sch = schema.schema_name(s, UNIT)
    step = max(len(ids) // n, 1)
    times = []
    with conn.cursor() as cur:
        for number in ids[::step][:200]:
            screening.check(cur, sch, number)  # warm-up
        for number in ids[::step][:n]:
            t = time.perf_counter()
            doc = screening.check(cur, sch, number)
            times.append(time.perf_counter() - t)
            assert doc["decision"] == "block"  # noqa: S101
    conn.close()
    return _percentiles(times)


def _percentiles(times: list[float]) -> dict[str, float]:
    times.sort()
    return {"p50": statistics.median(times) * 1000, "p99": times[int(len(times) * 0.99)] * 1000}


def http_latency(s: Settings, ids: list[str], n: int = 2000) -> dict[str, float]:
    import logging

    import httpx
    import uvicorn

    logging.getLogger("httpx").setLevel(logging.WARNING)

    from consumers.agency.api import create_app

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(s, UNIT), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    times = []
    step = max(len(ids) // n, 1)
    key = bench_api_key(s, UNIT)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                      headers={"Authorization": f"Bearer {key}"}) as client:
        for number in ids[::step][:100]:
            client.post("/v1/checks", json={"id_number": number})
        for number in ids[::step][:n]:
            t = time.perf_counter()
            r = client.post("/v1/checks", json={"id_number": number})
            times.append(time.perf_counter() - t)
            assert r.status_code == 200  # noqa: S101
    server.should_exit = True
    thread.join(timeout=10)
    return _percentiles(times)


def bench_api_key(s: Settings, unit: str, scopes: tuple[str, ...] = ("check",)) -> str:
    """An API key of the unit's screening service (the service refuses anonymous callers)."""
    from consumers.agency import apikeys, schema
    from consumers.agency.unitsecret import unit_secret

    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            key = apikeys.create(uow.cursor, schema.schema_name(s, unit), unit_secret(s, unit),
                                 f"bench-{uuid.uuid4().hex[:8]}", list(scopes))
            uow.commit()
    finally:
        conn.close()
    return key


def cleanup(s: Settings) -> None:
    tag = s.db_prefix
    try:
        with kafka.admin_client(s) as client:
            mine = [t for t in client.list_topics() if t.startswith(s.topic_prefix)]
            if mine:
                client.delete_topics(mine)
    except Exception:  # noqa: BLE001, S110 - best effort
        pass
    conn = db.connect(s.pg_dsn)
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (tag + "%",))
        for (name,) in uow.cursor.fetchall():
            uow.cursor.execute(f"DROP SCHEMA IF EXISTS {db.ident(name)} CASCADE")
        uow.commit()
    conn.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = sys.argv[1:] if argv is None else argv
    n_events = int(args[0]) if args else 200_000
    n_persons = int(args[1]) if len(args) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        s = _settings(Path(tmp))
        try:
            pub = publish(s, n_events)
            print(f"published {n_events} events in {pub:.1f}s", file=sys.stderr)
            bare = bare_consumer(s, n_events)
            u = unit_consumer(s, n_events)
            unit = u["rate"]
            print(f"bare {bare:.0f}/s unit {unit:.0f}/s; {u['batches']} batches,"
                  f" {u['round_trips_per_batch']:.1f} round trips/batch,"
                  f" {u['wal_bytes_per_event']:.0f} WAL bytes/event", file=sys.stderr)
            s3 = _settings(Path(tmp) / "group")
            try:
                publish(s3, n_events)
                bare2 = bare_consumer(s3, n_events)
                g = group_consumer(s3, n_events, 2)
            finally:
                cleanup(s3)
            print(f"bare {bare2:.0f}/s unit with 2 processes {g['rate']:.0f}/s", file=sys.stderr)
            s2 = _settings(Path(tmp) / "persons")
            try:
                ids = load_persons(s2, n_persons)
                inproc = check_latency(s2, ids)
                http = http_latency(s2, ids)
            finally:
                cleanup(s2)
        finally:
            cleanup(s)
    doc = {"benchmarks": [
        {"id": "agency.apply.p1",
         "name": f"agency apply rate, one process ({n_events} DebtorListed, unit {UNIT})",
         "value": round(unit),
         "unit": "events/s", "baseline": round(bare), "ratio": round(unit / bare, 3),
         "target": ">= 15000 events/s and >= 0.3x bare kafka-python consumer",
         "batches": u["batches"], "round_trips_per_batch": round(u["round_trips_per_batch"], 1),
         "wal_bytes_per_batch": round(u["wal_bytes_per_batch"]),
         "wal_bytes_per_event": round(u["wal_bytes_per_event"], 1)},
        {"id": "agency.apply.p2",
         "name": f"agency apply rate, 2 processes in the unit's group ({n_events} DebtorListed,"
                 " `hub agency run --processes 2 --until-idle`, start-up included)",
         "value": round(g["rate"]), "unit": "events/s", "baseline": round(bare2),
         "ratio": round(g["rate"] / bare2, 3), "target": ">= 25000 events/s"},
        {"name": f"agency check p99 in-process ({n_persons} persons)",
         "value": round(inproc["p99"], 3), "unit": "ms", "baseline": None, "ratio": None,
         "target": "<= 2 ms", "p50": round(inproc["p50"], 3)},
        {"name": f"agency check p99 over HTTP ({n_persons} persons)",
         "value": round(http["p99"], 3), "unit": "ms", "baseline": None, "ratio": None,
         "target": "<= 10 ms", "p50": round(http["p50"], 3)},
    ]}
    write_results("agency", doc)
    print(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
