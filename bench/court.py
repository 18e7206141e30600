"""Court side benchmark: submit + relay N signed `list` decisions (one listing each), beside a
bare kafka-python producer sending the same value bytes to a fresh topic in the same run.
End-to-end is `hub court submit FILE` as a court runs it (submit, then its own drain, which
publishes the rows it committed without reading them back); the relay is also measured
reading the outbox back after a `--no-relay` submit (the long-running `hub court relay`).
End-to-end and bare runs alternate for several rounds; see `main`.

    python -m bench.court [N]        (default 200000; writes bench/results/court.json)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

from bench.common import write_results
from hub import db, kafka
from hub.config import load_settings
from hub.domain.identity import make_resident_id, make_uscc
from hub.ledger import SIG_HEADER, SIGNER_HEADER
from producers.court import service, store

TARGET_EPS = 10_000
TARGET_RATIO = 0.6


def decisions(n: int) -> list[str]:
    """n valid `list` lines, each its own listing and debtor (persons and organisations)."""
    out = []
    for i in range(n):
        lid = f"350402-2026-{i:07d}"
        common = {
            "action": "list", "decision_no": f"(2026)閩0402執{i}號之一", "court_code": "350402",
            "court_name": "三明市三元區人民法院", "listing_id": lid,
            "decided_at": "2026-03-02T09:30:00+08:00", "case_no": f"(2026)閩0402執{i}號",
            "filed_on": "2026-01-15", "basis_authority": "三明市三元區人民法院",
            "basis_doc_no": f"(2025)閩0402民初{i}號", "obligation": "償還借款人民幣200000元及利息",
            "performance": "none", "ground": "evades_enforcement", "conduct": "轉移財產規避執行",
            "period_end": "2028-03-02", "public": True,
        }
        if i % 2:
            birth = date(1960, 1, 1) + timedelta(days=i % 12000)
            common["subject"] = {"kind": "person", "name": "張某",
                                 "id_number": make_resident_id("350402", birth, i % 999 + 1)}
            common["related"] = []
        else:
            common["subject"] = {"kind": "organisation", "name": "三明某某貿易有限公司",
                                 "id_number": make_uscc(f"91350402MA{i:07d}")}
            birth = date(1970, 1, 1) + timedelta(days=i % 9000)
            common["related"] = [{"role": "legal_representative", "name": "王某",
                                  "id_number": make_resident_id("350403", birth, i % 999 + 1)}]
        out.append(json.dumps(common, ensure_ascii=False))
    return out


def bare_producer(s, values: list[tuple[bytes, bytes, list]]) -> float:  # type: ignore[no-untyped-def]
    topic = s.topic("bench.bare.v1")
    kafka.ensure_topics(s, [kafka.TopicSpec(topic, {})])
    p = kafka.producer(s, client_id="bench-bare")
    t = time.perf_counter()
    for key, value, headers in values:
        p.send(topic, key=key, value=value, headers=headers)
    p.flush()
    elapsed = time.perf_counter() - t
    p.close()
    return len(values) / elapsed


def _settings(tag: str):  # type: ignore[no-untyped-def]
    return load_settings(topic_prefix=f"{tag}.", db_prefix=tag,
                         state_dir=Path(tempfile.mkdtemp(prefix="bench-court-")))


def end_to_end(lines: list[str]) -> float:
    """`hub court submit FILE` as a court runs it (submit, then its own drain): events/s."""
    tag = "b" + uuid.uuid4().hex[:8]
    s = _settings(tag)
    try:
        t0 = time.perf_counter()
        r = service.submit(s, lines)
        eps = len(lines) / (time.perf_counter() - t0)
        assert r.accepted == r.published == len(lines), r
        return eps
    finally:
        _cleanup(s, tag)


def submit_then_relay(lines: list[str]) -> tuple[float, float, list[tuple[bytes, bytes, list]]]:  # type: ignore[type-arg]
    """`submit --no-relay`, then the relay reading the outbox back (events/s each), and the
    records it published (key, value, headers) for the bare producer."""
    n = len(lines)
    tag = "b" + uuid.uuid4().hex[:8]
    s = _settings(tag)
    try:
        t0 = time.perf_counter()
        r = service.submit(s, lines, relay=False)
        t1 = time.perf_counter()
        rr = service.drain(s)
        t2 = time.perf_counter()
        assert r.accepted == n and rr.published == n, (r, rr)
        conn = db.connect(s.pg_dsn)
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(
                f"SELECT listing_id, value, signature, signer FROM {store.schema(s)}.outbox"
                " ORDER BY court_seq")
            values = [(lid.encode(), bytes(v), [(SIG_HEADER, bytes(g)), (SIGNER_HEADER, sg.encode())])
                      for lid, v, g, sg in uow.cursor.fetchall()]
        conn.close()
        return n / (t1 - t0), n / (t2 - t1), values
    finally:
        _cleanup(s, tag)


def bare(values: list[tuple[bytes, bytes, list]]) -> float:  # type: ignore[type-arg]
    tag = "b" + uuid.uuid4().hex[:8]
    s = _settings(tag)
    try:
        return bare_producer(s, values)
    finally:
        _cleanup(s, tag)


def main(n: int | None = None, rounds: int | None = None) -> dict[str, object]:
    """`rounds` (BENCH_COURT_ROUNDS, default 3) rounds of an end-to-end submit and a bare
    producer run back to back: this machine's speed drifts between runs (the bare producer
    alone measured 19k-37k records/s on one day), so the figures are the medians, and the
    ratio is the median of each round's own ratio."""
    n = n or (int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
    rounds = rounds or int(os.environ.get("BENCH_COURT_ROUNDS", "3"))
    lines = decisions(n)
    submit_eps, relay_eps, values = submit_then_relay(lines)
    runs = []
    for _ in range(rounds):
        e2e = end_to_end(lines)
        runs.append({"end_to_end": round(e2e), "bare": round(bare(values))})
    e2e = statistics.median(r["end_to_end"] for r in runs)
    base = statistics.median(r["bare"] for r in runs)
    ratio = statistics.median(r["end_to_end"] / r["bare"] for r in runs)
    relay_bare = runs[0]["bare"]
    doc = {"benchmarks": [
        {"name": f"court end-to-end: hub court submit of {n} signed decisions (one"
                 f" transaction, then its drain), median of {rounds} rounds",
         "value": round(e2e), "unit": "events/s",
         "baseline": round(base), "ratio": round(ratio, 2),
         "target": f">= {TARGET_EPS} events/s and >= {TARGET_RATIO}x bare producer",
         "rounds": runs},
        {"name": f"court submit --no-relay ({n} signed decisions, one transaction)",
         "value": round(submit_eps), "unit": "events/s", "baseline": None, "ratio": None,
         "target": None},
        {"name": "court relay reading the outbox back (acks=all, idempotent)",
         "value": round(relay_eps), "unit": "events/s", "baseline": relay_bare,
         "ratio": round(relay_eps / relay_bare, 2), "target": None},
        {"name": "bare kafka-python producer, same bytes (median)", "value": round(base),
         "unit": "events/s", "baseline": None, "ratio": None, "target": None},
    ]}
    write_results("court", doc)
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return doc


def _cleanup(s, tag: str) -> None:  # type: ignore[no-untyped-def]
    try:
        with kafka.admin_client(s) as client:
            mine = [t for t in client.list_topics() if t.startswith(f"{tag}.")]
            if mine:
                client.delete_topics(mine)
    except Exception:  # noqa: BLE001 - best effort
        pass
    conn = db.connect(s.pg_dsn)
    db.drop_schema(conn, s.db_schema("court"))
    conn.close()


if __name__ == "__main__":
    main()
