"""The floor under one unit's apply rate (issues #5, #19): what the operations the
contract requires for every event cost on this machine, with the libraries the stack
mandates, measured in one run beside the bare kafka-python consumer the target is relative
to.

Since #19 a unit acknowledges in signed batches: per event it must at least consume the
record (kafka-python) and verify its Ed25519 signature (libsodium, as the consumer does:
apply-by-checkpoint is not built yet), and encode its entry of the batch; per batch of
BATCH events (a catch-up poll) it signs one record and publishes it (kafka-python's
idempotent producer, acks=all). The per-batch costs are divided by BATCH. Decoding, the
fold, the projection's PostgreSQL writes, the broker and the database server all come on
top and are left out, so the bound is generous: with C cores perfectly used,

    rate <= C / (consume + verify + encode + (sign + produce) / BATCH)   (CPU s per event)

The same figures for the per-event contract before #19 (one signed record per ack) are
reported beside it.

If that bound is below 0.5x the bare consumer's rate, the target cannot be met on this
machine by any implementation that keeps those four operations and libraries.

    python -m bench.floor [N]        (default 100000; writes bench/results/floor.json)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import TopicPartition
from nacl.bindings import crypto_sign, crypto_sign_open

from bench import agency
from bench.common import write_results
from consumers.agency import acks
from consumers.agency.acklog import entry_of
from consumers.agency.fastcodec import FastEncoder
from hub import kafka
from hub.domain.events import AckTrigger, UnitAckBatch, UnitAcknowledged, batch_id_for
from hub.keys import court_signer, ensure_key, unit_signer
from hub.ledger import SIG_HEADER, SIGNER_HEADER, chain_hash

TARGET_RATIO = 0.3  # issue #19: one unit >= 0.3x the bare consumer


def consume(s: Any, n: int) -> tuple[float, float, list[tuple[bytes, bytes]]]:
    """(wall rate, CPU s per record, (signature + value) of each record) of a bare consumer
    reading the court topic from the beginning (bench.common.bare_consume_rate's settings)."""
    c = kafka.consumer(s, client_id="bench-floor", group_id=None)
    parts = [TopicPartition(s.court_topic, p) for p in sorted(c.partitions_for_topic(s.court_topic))]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    records: list[Any] = []
    cpu, start = time.process_time(), time.perf_counter()
    while len(records) < n:
        for recs in c.poll(timeout_ms=1000).values():
            records.extend(recs)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    c.close()
    signed = [(dict(r.headers)[SIG_HEADER] + r.value, r.value) for r in records]
    return len(records) / wall, cpu / len(records), signed


def verify_cpu(signed: list[tuple[bytes, bytes]], public: bytes) -> float:
    cpu = time.process_time()
    for message, _ in signed:
        crypto_sign_open(message, public)
    return (time.process_time() - cpu) / len(signed)


BATCH = 2000  # entries per UnitAckBatch in a catch-up (the consumer's poll size)


def ack_dicts(n: int) -> list[dict[str, Any]]:
    """n real acknowledgements (two measures applied), as the fold builds them."""
    out = []
    for i in range(n):
        measures = [{"code": code, "role": "debtor", "id_number": agency.person(i),
                     "action": "applied", "until": None, "reason": None}
                    for code in ("G1", "G2")]
        out.append(acks.build(agency.UNIT, AckTrigger.court_event, f"e-{i:032d}",
                              f"B{i:07d}", agency.COURT, i + 1, measures,
                              processed_at=datetime.now(UTC)))
    return out


def ack_values(made: list[dict[str, Any]]) -> tuple[float, list[tuple[bytes, bytes]]]:
    """(CPU s per ack, (key, value) of old one-record UnitAcknowledged values)."""
    enc = FastEncoder(UnitAcknowledged.AVRO_NAME)
    cpu = time.process_time()
    out = [(a["listing_id"].encode(), enc.encode(a)) for a in made]
    return (time.process_time() - cpu) / len(made), out


def batch_values(made: list[dict[str, Any]]) -> tuple[float, list[tuple[bytes, bytes]]]:
    """(CPU s per ack, (key, value) of UnitAckBatch values of BATCH entries each)."""
    enc = FastEncoder(UnitAckBatch.AVRO_NAME)
    out = []
    prev = bytes(32)
    cpu = time.process_time()
    for seq, i in enumerate(range(0, len(made), BATCH), start=1):
        value = enc.encode({"batch_id": batch_id_for(agency.UNIT, seq), "unit": agency.UNIT,
                            "batch_seq": seq, "prev_hash": prev,
                            "entries": [entry_of(a) for a in made[i:i + BATCH]],
                            "created_at": datetime.now(UTC)})
        prev = chain_hash(value)
        out.append((agency.UNIT.encode(), value))
    return (time.process_time() - cpu) / len(made), out


def sign_cpu(values: list[tuple[bytes, bytes]], secret: bytes) -> tuple[float, list[bytes]]:
    cpu = time.process_time()
    sigs = [crypto_sign(v, secret)[:64] for _, v in values]
    return (time.process_time() - cpu) / len(values), sigs


def produce_cpu(s: Any, values: list[tuple[bytes, bytes]], sigs: list[bytes]) -> float:
    """CPU s per record of the hub's producer (idempotent, acks=all), partitions given (the
    cheapest way to call `send`), both of its threads counted."""
    topic = s.ack_topic(agency.UNIT)
    p = kafka.producer(s, client_id="bench-floor")
    n_parts = len(p.partitions_for(topic))
    signer = unit_signer(agency.UNIT).encode()
    cpu = time.process_time()
    for i, ((key, value), sig) in enumerate(zip(values, sigs, strict=True)):
        p.send(topic, key=key, value=value, partition=i % n_parts,
               headers=[(SIG_HEADER, sig), (SIGNER_HEADER, signer),
                        ("hub-outbox-id", f"ack:{i:032d}".encode())])
    p.flush()
    used = time.process_time() - cpu
    p.close()
    return used / len(values)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = sys.argv[1:] if argv is None else argv
    n = int(args[0]) if args else 100_000
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        s = agency._settings(Path(tmp))
        try:
            agency.publish(s, n)
            court_key, _ = ensure_key(s, court_signer(agency.COURT))
            bare, consume_s, signed = consume(s, n)
            verify_s = verify_cpu(signed, court_key.public_bytes())
            made = ack_dicts(n)
            encode_old_s, values = ack_values(made)
            encode_s, batches = batch_values(made)
            unit_key, _ = ensure_key(s, unit_signer(agency.UNIT))
            sign_old_s, sigs = sign_cpu(values, unit_key.sodium_secret())
            produce_old_s = produce_cpu(s, values, sigs)
            sign_b, bsigs = sign_cpu(batches, unit_key.sodium_secret())
            produce_b = produce_cpu(s, batches, bsigs)
        finally:
            agency.cleanup(s)
    # per event: the batch's signature and record shared by its BATCH entries
    share = len(batches) / n
    parts = {"consume": consume_s, "verify": verify_s, "encode_entry": encode_s,
             "sign_batch_share": sign_b * share, "produce_batch_share": produce_b * share}
    old = {"consume": consume_s, "verify": verify_s, "encode_ack": encode_old_s,
           "sign_ack": sign_old_s, "produce_ack": produce_old_s}
    bound = cores / sum(parts.values())
    bound_old = cores / sum(old.values())
    target = TARGET_RATIO * bare

    def line(p: dict[str, float]) -> str:
        return ", ".join(f"{k} {v * 1e6:.1f} µs" for k, v in p.items())

    doc = {"benchmarks": [
        {"id": "floor.apply", "name": f"unit apply floor, signed batches of {BATCH}: {cores} "
                                      f"cores / CPU of the required operations ({line(parts)})",
         "value": round(bound), "unit": "events/s", "baseline": round(bare),
         "ratio": round(bound / bare, 3),
         "target": f">= {TARGET_RATIO}x bare = {round(target)} events/s:"
                   f" {'within' if bound >= target else 'beyond'} this floor"},
        {"id": "floor.apply.per_ack", "name": f"the same floor under the per-event contract "
                                              f"before #19 ({line(old)})",
         "value": round(bound_old), "unit": "events/s", "baseline": round(bare),
         "ratio": round(bound_old / bare, 3)},
    ], "per_event_cpu_us": {k: round(v * 1e6, 2) for k, v in parts.items()},
        "per_event_cpu_us_before": {k: round(v * 1e6, 2) for k, v in old.items()},
        "events": n, "batch": BATCH, "cores": cores}
    write_results("floor", doc)
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return doc


if __name__ == "__main__":
    main()
