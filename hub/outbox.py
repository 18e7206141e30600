"""A transactional outbox (design.md, "Outbox, not dual writes"): outgoing Kafka records are
written to a table in the same PostgreSQL transaction as the state that caused them, and a
relay publishes them with the idempotent producer and moves a sent-up-to watermark
(`outbox_sent.sent_upto`, migration `watermark_migration`): one row updated per relayed
batch, not one `UPDATE … sent_at` per record (issue #19).

Each row carries a `dedupe_id` (e.g. a deterministic ack id): inserting a row whose id is
already there is a no-op, so replaying the same input (a rebuild, a retried batch) never
queues a record twice.

Delivery (the court relay's recovery trick, generalised): the watermark moves past a row
only after `producer.flush()` confirmed it, and the same transaction stores, per topic
partition, the next offset the relay wrote (`outbox_positions`). Every record carries its row's dedupe id
in the header `hub-outbox-id`. A crash between the flush and that commit leaves published
rows above the watermark; `recover()` (run when a relay process starts) reads each
partition from the stored offset to its end and sets `sent_at` on the rows found there
(rare, a few rows), so they are not published again: a row is unsent when its id is above
the watermark and its `sent_at` is NULL. The watermark is safe because the rows a relay
can see are always a prefix of the id order: writers take a transaction-scoped advisory
lock before inserting (`enqueue`), so ids are handed out in commit order. What is left — a record that readers might still see twice — is only a concurrent
writer outside this protocol; readers deduplicate on the deterministic id anyway (acks:
`ack_id`; dead letters: source topic/partition/offset). Concurrent relays of one outbox
(the consumer and `hub agency keep`) never send the same row twice: a relay holds the
watermark row `FOR UPDATE` while it publishes, so the other waits and then starts past it.
"""

from __future__ import annotations

import base64
import io
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from kafka import TopicPartition

from hub import db, kafka
from hub.config import Settings
from hub.errors import ServiceUnavailable

MIGRATION_SQL = """
CREATE TABLE {schema}.outbox (
    id bigserial PRIMARY KEY,
    dedupe_id text NOT NULL UNIQUE,
    topic text NOT NULL,
    key bytea,
    value bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX outbox_unsent ON {schema}.outbox (id) WHERE sent_at IS NULL;
CREATE TABLE {schema}.outbox_positions (
    topic text NOT NULL, partition int NOT NULL, next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition));
"""
# Upgrades an outbox of MIGRATION_SQL: the watermark starts below the oldest unsent row
# (every row under it is sent); rows above it already sent keep their `sent_at` and are
# skipped. The partial index on unsent rows is no longer read, and cost an index entry
# per queued record.
WATERMARK_SQL = """
CREATE TABLE {schema}.outbox_sent (
    one boolean PRIMARY KEY DEFAULT true CHECK (one), sent_upto bigint NOT NULL);
INSERT INTO {schema}.outbox_sent (sent_upto) SELECT coalesce(
    (SELECT min(id) - 1 FROM {schema}.outbox WHERE sent_at IS NULL),
    (SELECT max(id) FROM {schema}.outbox), 0);
DROP INDEX IF EXISTS {schema}.outbox_unsent;
"""
ID_HEADER = "hub-outbox-id"
UNSENT = "o.id > w.sent_upto AND o.sent_at IS NULL"


def migration(version: int) -> db.Migration:
    return db.Migration(version, "outbox", MIGRATION_SQL)


def watermark_migration(version: int) -> db.Migration:
    return db.Migration(version, "outbox sent-up-to watermark", WATERMARK_SQL)


def _writer_lock(schema: str) -> tuple[int, int]:
    """Key of the advisory lock that orders the writers of one outbox (two-int form: its
    own space, apart from `db.migrate`'s one-int lock)."""
    h = zlib.crc32(schema.encode())
    return (h - (1 << 32) if h >= 1 << 31 else h), 1


@dataclass(frozen=True)
class OutboxRecord:
    dedupe_id: str
    topic: str
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()


def _headers_json(headers: Sequence[tuple[str, bytes]]) -> str:
    # orjson: one of these per ack on a unit consumer's hot path (issue #5)
    return orjson.dumps([[k, base64.b64encode(v).decode("ascii")] for k, v in headers]).decode()


def _headers_from(doc: Any) -> list[tuple[str, bytes]]:
    if isinstance(doc, str):
        doc = orjson.loads(doc)
    return [(k, base64.b64decode(v)) for k, v in doc or ()]


def enqueue(cur: Any, schema: str, records: Sequence[OutboxRecord]) -> None:
    """Queue records in the caller's transaction; already-queued dedupe ids are skipped.
    COPY into a per-transaction staging table, then one INSERT … ON CONFLICT DO NOTHING:
    batches of thousands of acks cost one round trip, not thousands."""
    if not records:
        return
    schema = db.ident(schema)
    # Held to commit: a later writer gets its ids only after this one's rows are visible,
    # so no relay can move the watermark past a row still to commit.
    cur.execute(
        "SELECT pg_advisory_xact_lock(%s, %s);"
        " CREATE TEMP TABLE IF NOT EXISTS outbox_in (dedupe_id text, topic text, key bytea,"
        " value bytea, headers jsonb) ON COMMIT DELETE ROWS", _writer_lock(schema))
    buf = io.StringIO()
    for r in records:
        key = "\\N" if r.key is None else "\\\\x" + r.key.hex()
        buf.write(f"{db.copy_escape(r.dedupe_id)}\t{db.copy_escape(r.topic)}\t{key}\t\\\\x{r.value.hex()}\t"
                  f"{db.copy_escape(_headers_json(r.headers))}\n")
    buf.seek(0)
    cur.copy_expert("COPY outbox_in (dedupe_id, topic, key, value, headers) FROM STDIN", buf)
    cur.execute(
        f"INSERT INTO {schema}.outbox (dedupe_id, topic, key, value, headers)"
        " SELECT dedupe_id, topic, key, value, headers FROM outbox_in ORDER BY ctid"
        " ON CONFLICT (dedupe_id) DO NOTHING;"
        # emptied for a second call in this transaction; DELETE, not TRUNCATE: a temp
        # table's rows are not WAL-logged, but TRUNCATE's new relfilenode is (pg_class)
        " DELETE FROM outbox_in")


def pending(conn: db.Connection, schema: str) -> int:
    with db.unit_of_work(conn) as uow:
        sch = db.ident(schema)
        uow.cursor.execute(f"SELECT count(*) FROM {sch}.outbox o, {sch}.outbox_sent w"
                           f" WHERE {UNSENT}")
        return int(uow.cursor.fetchone()[0])


def relay(conn: db.Connection, schema: str, producer: Any, batch: int = 5000) -> int:
    """Publish every unsent row, oldest first; returns how many were sent. Raises the
    producer's error (rows stay unsent) or ServiceUnavailable/DatabaseError."""
    schema = db.ident(schema)
    sent = 0
    while True:
        with db.unit_of_work(conn) as uow:
            # The watermark row, locked to commit: a concurrent relay waits here and then
            # reads the moved watermark. Nothing is marked per row.
            uow.cursor.execute(f"SELECT sent_upto FROM {schema}.outbox_sent FOR UPDATE")
            upto = int(uow.cursor.fetchone()[0])
            uow.cursor.execute(
                f"SELECT o.id, o.dedupe_id, o.topic, o.key, o.value, o.headers::text"
                f" FROM {schema}.outbox o WHERE o.id > %s AND o.sent_at IS NULL"
                " ORDER BY o.id LIMIT %s",
                (upto, batch),
            )
            rows = uow.cursor.fetchall()
            if not rows:
                return sent
            futures = [
                producer.send(
                    topic,
                    key=bytes(key) if key is not None else None,
                    value=bytes(value),
                    headers=[*_headers_from(headers), (ID_HEADER, dedupe_id.encode())],
                )
                for _, dedupe_id, topic, key, value, headers in rows
            ]
            producer.flush()
            ends: dict[tuple[str, int], int] = {}
            for f in futures:
                meta = f.get(timeout=0)  # raises the delivery error of any failed record
                tp = (meta.topic, meta.partition)
                ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
            _store_positions(uow.cursor, schema, ends)
            uow.cursor.execute(f"UPDATE {schema}.outbox_sent SET sent_upto = %s", (rows[-1][0],))
            uow.commit()
            sent += len(rows)
            if len(rows) < batch:
                return sent


def _store_positions(cur: Any, schema: str, ends: dict[tuple[str, int], int]) -> None:
    if ends:
        db.execute_values(
            cur,
            f"INSERT INTO {schema}.outbox_positions (topic, partition, next_offset) VALUES %s"
            " ON CONFLICT (topic, partition) DO UPDATE"
            " SET next_offset = GREATEST(outbox_positions.next_offset, EXCLUDED.next_offset)",
            [(t, p, o) for (t, p), o in sorted(ends.items())],
        )


def recover(conn: db.Connection, schema: str, s: Settings, timeout: float = 60.0) -> int:
    """Mark as sent the unsent rows that a crashed relay had already published (found by
    their `hub-outbox-id` header between the stored positions and the partitions' ends).
    Returns how many rows were recovered."""
    schema = db.ident(schema)
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(f"SELECT DISTINCT o.topic FROM {schema}.outbox o,"
                           f" {schema}.outbox_sent w WHERE {UNSENT}")
        topics = [r[0] for r in uow.cursor.fetchall()]
        if not topics:
            return 0
        uow.cursor.execute(
            f"SELECT topic, partition, next_offset FROM {schema}.outbox_positions"
            " WHERE topic = ANY(%s)", (topics,))
        stored = {(t, p): o for t, p, o in uow.cursor.fetchall()}
    found: set[str] = set()
    c = kafka.consumer(s, client_id="hub-outbox-recover", group_id=None)
    try:
        parts = [TopicPartition(t, p) for t in topics for p in sorted(c.partitions_for_topic(t) or ())]
        if not parts:
            return 0
        c.assign(parts)
        for tp in parts:
            c.seek(tp, stored.get((tp.topic, tp.partition), 0))
        ends = c.end_offsets(parts)
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise ServiceUnavailable("Kafka", s.kafka_bootstrap, "outbox recovery timed out")
            for records in c.poll(timeout_ms=500).values():
                for r in records:
                    for k, v in r.headers or ():
                        if k == ID_HEADER and v is not None:
                            found.add(v.decode("utf-8", "replace"))
    except kafka.UNAVAILABLE as e:
        raise kafka.unavailable(s, e) from e
    finally:
        c.close()
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(
            f"UPDATE {schema}.outbox o SET sent_at = now() FROM {schema}.outbox_sent w"
            f" WHERE {UNSENT} AND o.dedupe_id = ANY(%s)", (sorted(found),))
        recovered = uow.cursor.rowcount
        _store_positions(uow.cursor, schema, {(tp.topic, tp.partition): o for tp, o in ends.items()})
        uow.commit()
    return int(recovered)


class BackgroundRelay:
    """Relays an outbox from a thread of its own (own connection), kicked after each commit,
    so publishing overlaps with the caller's next batch. Failures are retried with backoff
    and reported once through `on_state` ("ok" / "failing: …"); rows stay in the outbox."""

    def __init__(self, s: Settings, schema: str, producer: Any, application_name: str,
                 on_state: Any = None) -> None:
        self.s = s
        self.schema = schema
        self.producer = producer
        self.application_name = application_name
        self.on_state = on_state
        self.sent = 0
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"relay-{schema}", daemon=True)
        self._conn: db.Connection | None = None
        self._state = "ok"

    def start(self) -> BackgroundRelay:
        self._thread.start()
        return self

    def kick(self) -> None:
        self._kick.set()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        self._thread.join(timeout=60)
        if self._conn is not None and not self._conn.closed:
            self._conn.close()

    def _loop(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            self._kick.wait(0.5)
            self._kick.clear()
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = db.connect(self.s.pg_dsn, self.application_name)
                self.sent += relay(self._conn, self.schema, self.producer)
                backoff = 0.2
                self._report("ok")
            except Exception as e:  # noqa: BLE001 - retried: the rows stay unsent
                self._report(f"failing: {type(e).__name__}: {e}"[:300])
                if self._conn is not None and db.is_disconnect(e):
                    self._conn = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _report(self, state: str) -> None:
        if state != self._state:
            self._state = state
            if self.on_state is not None:
                self.on_state(state)
