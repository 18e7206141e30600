"""Benchmark of `hub audit verify` (the CLI, as a user runs it) over N court events of one
court (default 1,000,000; a smaller N as argument for a quick run), with a signed checkpoint
every 1000, beside a bare kafka-python consumer reading the same topic in the same run:
default checkpoint mode and --all-signatures, events/s and peak RSS.
Writes bench/results/audit.json. Not a test: no assertion on timing."""

from __future__ import annotations

import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from bench.common import bare_consume_rate, write_results
from hub import codec, kafka
from hub.config import Settings, load_settings
from hub.domain.events import CourtCheckpoint
from hub.generate import generate
from hub.keys import court_signer, ensure_key, key_path
from hub.ledger import GENESIS_HASH, MerkleAccumulator, chain_hash, leaf_hash, load_key
from hub.signed import sign

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


PARTITIONS = 3
CHECKPOINT_EVERY = 1000


def _values(n: int, header: bytes, body: bytes) -> Any:
    """(court_seq, listing_id, value) of the n events in order: each value's prev_hash is
    SHA-256 of the one before (docs/events.md), so this part is sequential."""
    t0_us = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp() * 1_000_000)
    prev = GENESIS_HASH
    for i in range(1, n + 1):
        lid = f"{COURT}-B-{i:08d}"
        v = header + _meta(str(uuid.UUID(int=i)), lid, i, f"D{i}", t0_us + i * 1_000_000,
                           prev) + body
        prev = chain_hash(v)
        yield i, lid, v


def _produce_share(s: Settings, n: int, worker: int, workers: int) -> int:
    """One generator process: rebuilds the whole chain (cheap, sequential), signs and
    produces the events of its partitions (partition = court_seq mod PARTITIONS, so each
    partition's events are in court_seq order); worker 0 also issues the checkpoints."""
    header, body, _ = _template()
    key = load_key(key_path(s, court_signer(COURT)), court_signer(COURT))
    prod = KafkaProducer(**kafka.common_config(s, f"bench-audit-{worker}"), acks=1,
                         linger_ms=20, batch_size=1 << 20, max_request_size=8 << 20)
    signer = court_signer(COURT).encode()
    acc = MerkleAccumulator() if worker == 0 else None
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    sent = 0
    for i, lid, v in _values(n, header, body):
        p = i % PARTITIONS
        if p % workers == worker:
            prod.send(s.court_topic, key=lid.encode(), value=v, partition=p,
                      headers=[("hub-sig", key.sign(v)), ("hub-signer", signer)])
            sent += 1
        if acc is not None:
            acc.append(leaf_hash(v))
            if i % CHECKPOINT_EVERY == 0 or i == n:
                cp = codec.encode(CourtCheckpoint(
                    court_code=COURT, tree_size=i, root_hash=acc.root(),
                    last_event_id=str(uuid.UUID(int=i)), issued_at=t0 + timedelta(seconds=i)))
                prod.send(s.checkpoint_topic, key=COURT.encode(), value=cp,
                          headers=sign(key, cp))
    prod.flush()
    prod.close()
    return sent


def generate_log(s: Settings, n: int) -> None:
    """Publish n signed DebtorListed events of one court + a signed checkpoint every 1000,
    from one process per partition (chain, sign, bare producer)."""
    kafka.ensure_topics(s, kafka.topic_specs(s, []), partitions=PARTITIONS)
    ensure_key(s, court_signer(COURT))
    # one process per partition: each walks the chain at the same pace, so the record
    # timestamps of the partitions advance together as a relay's would
    with multiprocessing.get_context("fork").Pool(PARTITIONS) as pool:
        sent = sum(pool.starmap(_produce_share, [(s, n, w, PARTITIONS)
                                                 for w in range(PARTITIONS)]))
    assert sent == n


def bare_consumer(s: Settings, topic: str, n: int) -> float:
    """The bare consumer with the auditor's max_poll_records (consumers/audit/replay.py)."""
    return bare_consume_rate(s, topic, n, max_poll_records=5000)


def verify_cli(s: Settings, n: int, *extra: str) -> tuple[float, float, dict[str, Any]]:
    """`hub audit verify --format json` as a user runs it (a fresh process, start-up
    included): (events/s, peak RSS MB of that process, its JSON document)."""
    from tests.conftest import hub_env

    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "hub", "audit", "verify", "--format",
                             "json", *extra], env=hub_env(s), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = proc.communicate()
    dt = time.perf_counter() - t
    # ru_maxrss of the verify process itself (KB on Linux); its signature workers are
    # forked children of the same size or smaller.
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    doc = json.loads(out)
    assert proc.returncode == 0 and doc["ok"] and doc["events_checked"] == n, (doc, err[-2000:])
    return n / dt, rss, doc


def main(n: int | None = None) -> dict[str, Any]:
    n = n or (int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
    tag = "b" + uuid.uuid4().hex[:8]
    s = load_settings(topic_prefix=f"{tag}.", db_prefix=tag,
                      state_dir=Path(tempfile.mkdtemp(prefix="bench-audit-")))
    try:
        t = time.perf_counter()
        generate_log(s, n)
        gen = time.perf_counter() - t
        print(f"generated {n} events in {gen:.1f}s", file=sys.stderr)
        bare = bare_consumer(s, s.court_topic, n)
        print(f"bare consumer {bare:.0f}/s", file=sys.stderr)
        # Peak RSS: ru_maxrss of RUSAGE_CHILDREN is the largest child so far, so the runs
        # go from the smallest expected footprint up and each is read right after it ends.
        cp_rate, cp_rss, cp_doc = verify_cli(s, n)
        print(f"verify (checkpoint) {cp_rate:.0f}/s, {cp_rss:.0f} MB", file=sys.stderr)
        all_rate, all_rss, _ = verify_cli(s, n, "--all-signatures")
        print(f"verify --all-signatures {all_rate:.0f}/s, {all_rss:.0f} MB", file=sys.stderr)
    finally:
        try:
            with kafka.admin_client(s) as client:
                client.delete_topics([t for t in client.list_topics() if t.startswith(tag)])
        except Exception:  # noqa: BLE001 - cleanup only
            pass
    sig = cp_doc["event_signatures"]
    doc = {"benchmarks": [
        {"name": f"hub audit verify, default checkpoint mode ({n} court events, a signed "
                 f"checkpoint every {CHECKPOINT_EVERY}; {sig['covered_by_checkpoint']} "
                 f"covered, {sig['checked_individually']} checked one by one)",
         "value": round(cp_rate), "unit": "events/s", "baseline": round(bare),
         "ratio": round(cp_rate / bare, 3), "target": TARGET},
        {"name": f"hub audit verify --all-signatures ({n} court events, 2 workers)",
         "value": round(all_rate), "unit": "events/s", "baseline": round(bare),
         "ratio": round(all_rate / bare, 3), "target": None},
        {"name": f"hub audit verify peak RSS, checkpoint mode ({n} events; ~24 B/event of "
                 "fingerprints, the rest bounded)",
         "value": round(cp_rss), "unit": "MB", "baseline": None, "ratio": None,
         "target": None},
        {"name": f"hub audit verify peak RSS, --all-signatures ({n} events)",
         "value": round(all_rss), "unit": "MB", "baseline": None, "ratio": None,
         "target": None},
        {"name": "bench log generation (3 processes: chain, sign, bare produce)",
         "value": round(n / gen), "unit": "events/s", "baseline": None, "ratio": None,
         "target": None},
    ]}
    write_results("audit", doc)
    print(json.dumps(doc, indent=2))
    return doc


if __name__ == "__main__":
    main()
