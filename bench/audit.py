"""Benchmark of `hub audit verify`'s logic over N court events (default 100k; `1000000`
as argument for the full figure), beside a bare kafka-python consumer reading the same topic
in the same run. Writes bench/results/audit.json. Not a test: no assertion on timing."""

from __future__ import annotations

import json
import multiprocessing
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from hub import codec, kafka
from hub.config import Settings, load_settings
from hub.domain.events import CourtCheckpoint
from hub.generate import generate
from hub.keys import court_signer, ensure_key, key_path
from hub.ledger import GENESIS_HASH, MerkleAccumulator, chain_hash, leaf_hash, load_key
from hub.signed import sign

RESULTS = Path(__file__).resolve().parent / "results"
COURT = "350402"
TARGET = 30_000


def _zz(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _str(x: str) -> bytes:
    b = x.encode()
    return _zz(len(b)) + b


def _template() -> tuple[bytes, bytes, Any]:
    """(header, body after meta) of one real DebtorListed encoded by the codec."""
    import json as _json

    from hub.domain.decisions import meta_for, parse_lines, to_event

    d = next(x for x in generate(1, seed=1) if x["action"] == "list")
    parsed, _ = parse_lines([_json.dumps(d, ensure_ascii=False)])
    meta = meta_for(parsed[0], court_seq=1, prev_hash=GENESIS_HASH,
                    recorded_at=parsed[0].decided_at)
    ev = to_event(parsed[0], meta)
    value = codec.encode(ev)
    meta_bytes = codec.encode_dict  # noqa: F841 - documentation: meta is the body prefix
    prefix = _meta(ev.meta.event_id, ev.meta.listing_id, 1, ev.meta.decision_no, 0, GENESIS_HASH)
    assert value[10:10 + len(prefix)] != b""  # layout sanity
    return value[:10], value[10 + _meta_len(ev):], ev


def _meta_len(ev: Any) -> int:
    m = ev.meta
    us = int(m.decided_at.timestamp() * 1_000_000)
    rec = int(m.recorded_at.timestamp() * 1_000_000)
    return len(_str(m.event_id) + _str(m.listing_id) + _str(m.court_code) + _zz(m.court_seq)
               + _str(m.decision_no) + _zz(us) + _zz(0) + _zz(rec) + _zz(32) + m.prev_hash)


def _meta(event_id: str, listing_id: str, seq: int, decision_no: str, t_us: int,
          prev: bytes) -> bytes:
    return (_str(event_id) + _str(listing_id) + _str(COURT) + _zz(seq) + _str(decision_no)
            + _zz(t_us) + _zz(0) + _zz(t_us + 60_000_000) + _zz(32) + prev)


_KEY: Any = None


def _init(path: str) -> None:
    global _KEY
    _KEY = load_key(path, court_signer(COURT))


def _sign_batch(values: list[bytes]) -> list[bytes]:
    return [_KEY.sign(v) for v in values]


def generate_log(s: Settings, n: int) -> float:
    """Publish n signed DebtorListed events of one court + a checkpoint every 1000."""
    kafka.ensure_topics(s, kafka.topic_specs(s, []))
    key, _ = ensure_key(s, court_signer(COURT))
    header, body, _ = _template()
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    prev = GENESIS_HASH
    values: list[bytes] = []
    keys: list[bytes] = []
    acc = MerkleAccumulator()
    cps: list[bytes] = []
    for i in range(1, n + 1):
        lid = f"{COURT}-B-{i:08d}"
        t_us = int((t0 + timedelta(seconds=i)).timestamp() * 1_000_000)
        v = header + _meta(str(uuid.UUID(int=i)), lid, i, f"D{i}", t_us, prev) + body
        prev = chain_hash(v)
        acc.append(leaf_hash(v))
        values.append(v)
        keys.append(lid.encode())
        if i % 1000 == 0 or i == n:
            cp = CourtCheckpoint(court_code=COURT, tree_size=i, root_hash=acc.root(),
                                 last_event_id=str(uuid.UUID(int=i)),
                                 issued_at=t0 + timedelta(seconds=i))
            cps.append(codec.encode(cp))
    with multiprocessing.get_context("fork").Pool(
            2, initializer=_init, initargs=(str(key_path(s, court_signer(COURT))),)) as pool:
        chunks = [values[i:i + 5000] for i in range(0, n, 5000)]
        sigs = [sg for part in pool.map(_sign_batch, chunks) for sg in part]
    prod = KafkaProducer(**kafka.common_config(s, "bench-audit"), acks=1, linger_ms=20,
                         batch_size=1 << 20, max_request_size=8 << 20)
    signer = court_signer(COURT).encode()
    for k, v, sg in zip(keys, values, sigs, strict=True):
        prod.send(s.court_topic, key=k, value=v, headers=[("hub-sig", sg), ("hub-signer", signer)])
    for cp in cps:
        prod.send(s.checkpoint_topic, key=COURT.encode(), value=cp, headers=sign(key, cp))
    prod.flush()
    prod.close()
    return acc.size


def bare_consumer(s: Settings, topic: str, n: int) -> float:
    c = KafkaConsumer(**kafka.common_config(s, "bench-bare"), group_id=None,
                      enable_auto_commit=False, max_poll_records=5000,
                      fetch_max_bytes=16 << 20, max_partition_fetch_bytes=4 << 20)
    parts = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic))]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    got = 0
    t = time.perf_counter()
    while got < n:
        for recs in c.poll(timeout_ms=1000).values():
            got += len(recs)
    dt = time.perf_counter() - t
    c.close()
    return got / dt


def verify_rate(s: Settings, n: int, jobs: int, signatures: bool) -> tuple[float, dict[str, Any]]:
    from consumers.audit import verify as v

    if signatures:
        t = time.perf_counter()
        report = v.run(s, jobs=jobs, progress=False)
        dt = time.perf_counter() - t
    else:
        # Order, hash chain, Merkle root against every checkpoint and each checkpoint's
        # signature; per-event Ed25519 signatures not checked (they are what costs).
        from consumers.audit import replay
        from consumers.audit.sigcheck import SigChecker

        t = time.perf_counter()
        ver = v.Verifier(s.court_topic)
        with SigChecker(s.trust_store_path, 0) as sc:
            for r, signer, err in sc.checked(replay.read(s, [s.checkpoint_topic],
                                                         progress=False)):
                ver.checkpoint(r, signer, err)
        signer = court_signer(COURT)
        for r in replay.read(s, [s.court_topic], progress=False):
            ver.event(r, signer, None)
        ver.finish_court()
        dt = time.perf_counter() - t
        report = ver.report
    assert report.ok and report.events_checked == n, report.doc()
    return n / dt, report.doc()


def main(n: int | None = None) -> dict[str, Any]:
    n = n or (int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
    tag = "b" + uuid.uuid4().hex[:8]
    s = load_settings(topic_prefix=f"{tag}.", db_prefix=tag,
                      state_dir=Path(tempfile.mkdtemp(prefix="bench-audit-")))
    try:
        t = time.perf_counter()
        generate_log(s, n)
        gen = time.perf_counter() - t
        bare = bare_consumer(s, s.court_topic, n)
        structural, _ = verify_rate(s, n, 0, signatures=False)
        full, _ = verify_rate(s, min(n, n), 2, signatures=True)
    finally:
        try:
            with kafka.admin_client(s) as client:
                client.delete_topics([t for t in client.list_topics() if t.startswith(tag)])
        except Exception:  # noqa: BLE001 - cleanup only
            pass
    doc = {"benchmarks": [
        {"name": f"audit verify, order+chain+Merkle+checkpoint signatures ({n} events)",
         "value": round(structural), "unit": "events/s", "baseline": round(bare),
         "ratio": round(structural / bare, 3), "target": TARGET},
        {"name": f"audit verify, plus every event's Ed25519 signature (2 workers, {n} events)",
         "value": round(full), "unit": "events/s", "baseline": round(bare),
         "ratio": round(full / bare, 3), "target": TARGET},
        {"name": "bench log generation (sign in 2 processes + bare produce)",
         "value": round(n / gen), "unit": "events/s", "baseline": None, "ratio": None,
         "target": None},
    ]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
