"""The unit's acknowledgement log (issue #19): signed batches, a hash chain and signed
Merkle checkpoints, like the court's own log.

Every transaction that acknowledges something (a polled batch, a period sweep, a kept
measure) writes ONE `UnitAckBatch` record with one entry per acknowledgement, signed once,
instead of one signed `UnitAcknowledged` per acknowledgement. The batches of a unit are
numbered 1, 2, 3 … (`batch_seq`), each names the SHA-256 of the previous batch's value
(`prev_hash`), and their values are the leaves of an RFC 9162 Merkle tree. Every so often
(`Settings.unit_checkpoint_every` batches or `unit_checkpoint_seconds`, and when a unit
goes idle or stops) the unit signs a `UnitCheckpoint`: the tree's size and root, and per
court the largest signed court checkpoint whose events it had all applied. What the unit
knew and when is then proven by its own signature.

Ordering and exactly-once: the log head (`ack_log`, one row) is locked FOR UPDATE in the
transaction that writes the projection, so the processes of one unit (`--processes N`) and
`hub agency keep` append one after the other, and each batch reaches the outbox in the same
transaction as the state that caused it. Records are keyed by the unit's slug: one
partition, log order = batch order. Ack ids (UUID5, deterministic) are claimed in `acked`,
which a rebuild keeps: a re-folded event's acknowledgement is never queued twice.

Lock order (no deadlock between writers): projection rows, then `ack_log`, then the outbox
writers' advisory lock (hub/outbox.py `enqueue`). Callers take `ack_log` only through
`AckLog.append` / `AckLog.checkpoint`, before `outbox.enqueue`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.agency.acks import Ack
from consumers.agency.fastcodec import FastEncoder
from hub import db
from hub.config import Settings
from hub.domain.events import UnitAckBatch, UnitCheckpoint, batch_id_for
from hub.ledger import MerkleAccumulator, SigningKey, chain_hash, leaf_hash
from hub.outbox import OutboxRecord
from hub.signed import sign

MIGRATION_SQL = """
CREATE TABLE {schema}.acked (ack_id uuid PRIMARY KEY);
INSERT INTO {schema}.acked (ack_id)
    SELECT substr(dedupe_id, 5)::uuid FROM {schema}.outbox WHERE dedupe_id LIKE 'ack:%'
    ON CONFLICT DO NOTHING;
CREATE TABLE {schema}.ack_log (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    batch_seq bigint NOT NULL,
    last_hash bytea NOT NULL,
    tree text NOT NULL,
    checkpoint_size bigint NOT NULL,
    checkpoint_at timestamptz NOT NULL,
    court_prefix jsonb NOT NULL);
INSERT INTO {schema}.ack_log VALUES
    (true, 0, '\\x0000000000000000000000000000000000000000000000000000000000000000',
     '[]', 0, now(), '{{}}');
"""

# A batch past this many encoded bytes is split into several chained records (Kafka's
# default max.message.bytes is 1 MiB).
MAX_BATCH_BYTES = 512 * 1024


def migration(version: int) -> db.Migration:
    return db.Migration(version, "acknowledgement log: batches, chain, checkpoints",
                        MIGRATION_SQL)


@functools.cache
def _encoder(name: str) -> FastEncoder:
    return FastEncoder(name)


def entry_of(ack: Ack) -> dict[str, Any]:
    """An AckEntry record from a `consumers.agency.acks.build` dict (the unit is the batch's)."""
    return {k: v for k, v in ack.items() if k != "unit"}


@dataclass
class Head:
    """The row of `ack_log`: where the unit's acknowledgement log stands."""

    batch_seq: int
    last_hash: bytes
    tree: MerkleAccumulator
    checkpoint_size: int
    checkpoint_at: datetime
    court_prefix: dict[str, int]
    records: list[OutboxRecord] = field(default_factory=list)
    last_batch_id: str = ""


CourtRefs = Callable[[Any, str, dict[str, int]], list[dict[str, Any]]]


class AckLog:
    """Appends a unit's acknowledgements to its log, in the caller's transaction.

    `court_refs(cursor, schema, court_prefix)` returns the CourtReference records of a new
    checkpoint (and may advance `court_prefix`, the contiguous applied court_seq per court,
    in place); None = no court references (tests, tools that have no checkpoint reader)."""

    def __init__(self, s: Settings, unit: str, key: SigningKey,
                 court_refs: CourtRefs | None = None) -> None:
        self.s = s
        self.unit = unit
        self.key = key
        self.topic = s.ack_topic(unit)
        self.kafka_key = unit.encode()
        self.court_refs = court_refs
        self.every = max(1, s.unit_checkpoint_every)
        self.seconds = s.unit_checkpoint_seconds
        self._batch = _encoder(UnitAckBatch.AVRO_NAME)
        self._checkpoint = _encoder(UnitCheckpoint.AVRO_NAME)

    # ------------------------------------------------------------------ the head row
    @staticmethod
    def claim_and_lock(cur: Any, sch: str, acks: Sequence[Ack]) -> tuple[list[Ack], Head]:
        """The acks not acknowledged before (by id), now claimed in `acked`, and the log's
        head locked FOR UPDATE; one round trip."""
        cur.execute(
            f"WITH c AS (INSERT INTO {sch}.acked (ack_id) SELECT unnest(%s::uuid[])"
            " ON CONFLICT DO NOTHING RETURNING ack_id)"
            " SELECT (SELECT array_agg(ack_id::text) FROM c), batch_seq, last_hash, tree,"
            f" checkpoint_size, checkpoint_at, court_prefix FROM {sch}.ack_log FOR UPDATE",
            ([a["ack_id"] for a in acks],))
        claimed, seq, last, tree, cp_size, cp_at, prefix = cur.fetchone()
        fresh = set(claimed or ())
        out = []
        for a in acks:
            i = a["ack_id"]
            if i in fresh:
                fresh.discard(i)  # an id twice in one call: its first ack only
                out.append(a)
        return out, Head(int(seq), bytes(last), MerkleAccumulator.from_state_json(tree),
                         int(cp_size), cp_at, dict(prefix or {}))

    @staticmethod
    def store(cur: Any, sch: str, h: Head) -> None:
        cur.execute(
            f"UPDATE {sch}.ack_log SET batch_seq = %s, last_hash = %s, tree = %s,"
            " checkpoint_size = %s, checkpoint_at = %s, court_prefix = %s",
            (h.batch_seq, h.last_hash, h.tree.state_json(), h.checkpoint_size,
             h.checkpoint_at, orjson.dumps(h.court_prefix).decode()))

    # ------------------------------------------------------------------ writing
    def _chunks(self, entries: list[dict[str, Any]], now: datetime,
                h: Head) -> list[bytes]:
        """Encoded batch values for `entries`, split so that none passes MAX_BATCH_BYTES."""
        pending, out = [entries], []
        seq, prev = h.batch_seq, h.last_hash
        while pending:
            part = pending.pop(0)
            value = self._batch.encode({
                "batch_id": batch_id_for(self.unit, seq + 1), "unit": self.unit,
                "batch_seq": seq + 1, "prev_hash": prev, "entries": part, "created_at": now})
            if len(value) > MAX_BATCH_BYTES and len(part) > 1:
                half = len(part) // 2
                pending[:0] = [part[:half], part[half:]]
                continue
            seq += 1
            prev = chain_hash(value)
            out.append(value)
        return out

    def _add(self, h: Head, value: bytes) -> None:
        h.batch_seq += 1
        h.last_hash = chain_hash(value)
        h.tree.append(leaf_hash(value))
        h.last_batch_id = batch_id_for(self.unit, h.batch_seq)
        h.records.append(OutboxRecord(
            dedupe_id=f"ackbatch:{self.unit}:{h.batch_seq}", topic=self.topic,
            key=self.kafka_key, value=value, headers=sign(self.key, value)))

    def _seal(self, cur: Any, sch: str, h: Head, now: datetime) -> None:
        """Append a signed UnitCheckpoint over batches 1..batch_seq."""
        courts = self.court_refs(cur, sch, h.court_prefix) if self.court_refs else []
        value = self._checkpoint.encode({
            "unit": self.unit, "tree_size": h.batch_seq, "root_hash": h.tree.root(),
            "last_batch_id": batch_id_for(self.unit, h.batch_seq), "courts": courts,
            "issued_at": now})
        h.records.append(OutboxRecord(
            dedupe_id=f"ackcheckpoint:{self.unit}:{h.batch_seq}", topic=self.topic,
            key=self.kafka_key, value=value, headers=sign(self.key, value)))
        h.checkpoint_size = h.batch_seq
        h.checkpoint_at = now

    def append(self, cur: Any, sch: str, acks: Sequence[Ack],
               now: datetime | None = None, *, seal: bool = False) -> list[OutboxRecord]:
        """Claim `acks`, append the new ones as batch(es), seal a checkpoint when one is
        due (or `seal`); return the outbox records to enqueue in this transaction (after
        any other outbox records of it is fine: each record names its place)."""
        if not acks and not seal:
            return []
        fresh, h = self.claim_and_lock(cur, sch, acks)
        if not fresh and not seal:
            return []
        now = now or datetime.now(UTC)
        if fresh:
            for value in self._chunks([entry_of(a) for a in fresh], now, h):
                self._add(h, value)
        if h.batch_seq > h.checkpoint_size and (
                seal or h.batch_seq - h.checkpoint_size >= self.every
                or (now - h.checkpoint_at).total_seconds() >= self.seconds):
            self._seal(cur, sch, h, now)
        if h.records:
            self.store(cur, sch, h)
        return h.records

    def seal_pending(self, cur: Any, sch: str, now: datetime | None = None) -> list[OutboxRecord]:
        """A checkpoint over the batches not sealed yet, if any (the idle loop: a quiet unit
        does not wait for its next batch to sign what it did)."""
        cur.execute(f"SELECT batch_seq > checkpoint_size FROM {sch}.ack_log")
        if not cur.fetchone()[0]:
            return []
        return self.append(cur, sch, (), now, seal=True)


@contextmanager
def unit_log(s: Settings, unit: str, key: SigningKey) -> Iterator[AckLog]:
    """The unit's AckLog with its court references, for one command (keep, sweep)."""
    from consumers.agency.courtrefs import CourtCheckpoints
    from hub.keys import load_trust

    refs = CourtCheckpoints(s, unit, lambda: load_trust(s))
    try:
        yield AckLog(s, unit, key, refs.references)
    finally:
        refs.close()
