"""The floor under one unit's apply rate (issue #5): what the operations the contract
requires for every event cost on this machine, with the libraries the stack mandates,
measured in one run beside the bare kafka-python consumer the target is relative to.

Per event, a unit must at least: consume the record (kafka-python), verify its Ed25519
signature (libsodium, as the consumer does), sign its acknowledgement (Ed25519) and publish
that acknowledgement (kafka-python's idempotent producer, acks=all). Decoding, the fold,
the projection's PostgreSQL writes, the broker and the database server all come on top and
are left out, so the bound is generous: with C cores perfectly used,

    rate <= C / (consume + verify + sign + produce)   (CPU seconds per event)

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
from hub import kafka
from hub.domain.events import AckTrigger
from hub.keys import court_signer, ensure_key, unit_signer
from hub.ledger import SIG_HEADER, SIGNER_HEADER

TARGET_RATIO = 0.5


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


def ack_values(s: Any, n: int) -> list[tuple[bytes, bytes]]:
    """(listing_id, value) of n real UnitAcknowledged values (two measures applied)."""
    out = []
    for i in range(n):
        lid = f"B{i:07d}"
        measures = [{"code": code, "role": "debtor", "id_number": agency.person(i),
                     "action": "applied", "until": None, "reason": None}
                    for code in ("G1", "G2")]
        ack = acks.build(agency.UNIT, AckTrigger.court_event, f"e-{i:032d}", lid,
                         agency.COURT, i + 1, measures, processed_at=datetime.now(UTC))
        out.append((lid.encode(), acks.to_outbox(s, None, ack).value))
    return out


def sign_cpu(values: list[tuple[bytes, bytes]], secret: bytes) -> tuple[float, list[bytes]]:
    cpu = time.process_time()
    sigs = [crypto_sign(v, secret)[:64] for _, v in values]
    return (time.process_time() - cpu) / len(values), sigs


def produce_cpu(s: Any, values: list[tuple[bytes, bytes]], sigs: list[bytes]) -> float:
    """CPU s per ack of the hub's producer (idempotent, acks=all), partitions given (the
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
            values = ack_values(s, n)
            unit_key, _ = ensure_key(s, unit_signer(agency.UNIT))
            sign_s, sigs = sign_cpu(values, unit_key.sodium_secret())
            produce_s = produce_cpu(s, values, sigs)
        finally:
            agency.cleanup(s)
    per_event = consume_s + verify_s + sign_s + produce_s
    bound = cores / per_event
    target = TARGET_RATIO * bare
    parts = {"consume": consume_s, "verify": verify_s, "sign_ack": sign_s, "produce_ack": produce_s}
    doc = {"benchmarks": [
        {"name": f"unit apply floor: {cores} cores / CPU of the required per-event operations"
                 f" ({', '.join(f'{k} {v * 1e6:.1f} µs' for k, v in parts.items())})",
         "value": round(bound), "unit": "events/s", "baseline": round(bare),
         "ratio": round(bound / bare, 3),
         "target": f"the #5 target needs >= {TARGET_RATIO}x bare = {round(target)} events/s:"
                   f" {'within' if bound >= target else 'beyond'} this floor"},
    ], "per_event_cpu_us": {k: round(v * 1e6, 2) for k, v in parts.items()}, "events": n,
        "cores": cores}
    write_results("floor", doc)
    print(json.dumps(doc, indent=2, ensure_ascii=False))
    return doc


if __name__ == "__main__":
    main()
