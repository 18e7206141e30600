"""Issue #19: a unit's outbox is marked sent by one watermark per relayed batch (no per-row
`UPDATE … sent_at`), and court_positions is a view over the chain. Migrations 4 and 5
upgrade a projection made before them: nothing sent is sent again, nothing unsent is lost,
and the positions read the same."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from consumers.agency import schema
from hub import db, kafka, outbox
from hub.config import Settings
from hub.outbox import OutboxRecord

pytestmark = pytest.mark.integration

UNIT = "finance"


def _records(s: Settings, start: int, n: int) -> list[OutboxRecord]:
    return [OutboxRecord(f"test:{i}", s.dlq_topic(UNIT), f"L{i}".encode(), f"v{i}".encode())
            for i in range(start, start + n)]


def _old_schema(conn: db.Connection, s: Settings) -> str:
    """A unit schema as migrations 1-3 left it."""
    sch = schema.schema_name(s, UNIT)
    db.migrate(conn, sch, [m for m in schema.migrations() if m.version <= 3])
    return sch


def _ids_on_topic(s: Settings) -> list[str]:
    c = kafka.consumer(s, client_id="test-watermark", group_id=None)
    try:
        from kafka import TopicPartition

        parts = [TopicPartition(s.dlq_topic(UNIT), p)
                 for p in sorted(c.partitions_for_topic(s.dlq_topic(UNIT)) or ())]
        c.assign(parts)
        c.seek_to_beginning(*parts)
        ends = c.end_offsets(parts)
        got: list[str] = []
        while any(c.position(tp) < ends[tp] for tp in parts):
            for recs in c.poll(timeout_ms=500).values():
                got += [dict(r.headers)[outbox.ID_HEADER].decode() for r in recs]
        return sorted(got)
    finally:
        c.close()


def _q(conn: db.Connection, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(sql, args)
        return list(uow.cursor.fetchall())


def test_upgrade_keeps_sent_and_unsent_rows_and_positions(hub_settings: Settings) -> None:
    s = hub_settings
    kafka.ensure_topics(s, kafka.topic_specs(s, [UNIT]))
    conn = db.connect(s.pg_dsn)
    try:
        sch = _old_schema(conn, s)
        with db.unit_of_work(conn) as uow:
            cur = uow.cursor
            # what an older relay left: rows 0-4 sent, 5 unsent, 6 sent (recovered), 7-9 unsent
            outbox.enqueue(cur, sch, _records(s, 0, 10))
            cur.execute(f"UPDATE {sch}.outbox SET sent_at = now()"
                        " WHERE dedupe_id = ANY(%s)",
                        ([f"test:{i}" for i in (0, 1, 2, 3, 4, 6)],))
            cur.execute(f"INSERT INTO {sch}.court_positions VALUES ('350402', 7), ('350403', 2)")
            for code, seqs in (("350402", range(1, 8)), ("350403", range(1, 3))):
                for q in seqs:
                    cur.execute(f"INSERT INTO {sch}.chain VALUES (%s, %s, %s, '\\x00', '\\x00')",
                                (code, q, f"{code}-{q}"))
            uow.commit()
    except db.DatabaseError:
        conn.close()
        raise
    try:
        schema.ensure_schema(conn, s, UNIT)
        assert _q(conn, f"SELECT relkind FROM pg_class WHERE oid = '{sch}.court_positions'::regclass") \
            == [("v",)]
        assert _q(conn, f"SELECT court_code, last_seq FROM {sch}.court_positions ORDER BY 1") \
            == [("350402", 7), ("350403", 2)]
        assert outbox.pending(conn, sch) == 4
        producer = kafka.producer(s, client_id="test-watermark")
        try:
            assert outbox.relay(conn, sch, producer) == 4
            assert outbox.relay(conn, sch, producer) == 0  # nothing sent twice
        finally:
            producer.close(timeout=5)
        assert _ids_on_topic(s) == [f"test:{i}" for i in (5, 7, 8, 9)]
        assert outbox.pending(conn, sch) == 0
        # the relay moved the watermark, it did not mark rows
        assert _q(conn, f"SELECT count(*) FROM {sch}.outbox WHERE sent_at IS NULL") == [(4,)]
    finally:
        conn.close()


def test_relay_moves_watermark_once_per_batch(hub_settings: Settings) -> None:
    s = hub_settings
    kafka.ensure_topics(s, kafka.topic_specs(s, [UNIT]))
    conn = db.connect(s.pg_dsn)
    producer = kafka.producer(s, client_id="test-watermark")
    try:
        sch = schema.ensure_schema(conn, s, UNIT)
        for start in (0, 30):
            with db.unit_of_work(conn) as uow:
                outbox.enqueue(uow.cursor, sch, _records(s, start, 30))
                # a second queue in the same transaction, and a replayed id: no duplicates
                outbox.enqueue(uow.cursor, sch, _records(s, start + 25, 5))
                uow.commit()
        assert outbox.pending(conn, sch) == 60
        assert outbox.relay(conn, sch, producer, batch=25) == 60
        top = _q(conn, f"SELECT max(id) FROM {sch}.outbox")[0][0]
        assert _q(conn, f"SELECT sent_upto FROM {sch}.outbox_sent") == [(top,)]
        assert outbox.relay(conn, sch, producer) == 0
        assert _ids_on_topic(s) == sorted(f"test:{i}" for i in range(60))
    finally:
        producer.close(timeout=5)
        conn.close()


def test_watermark_never_passes_a_row_still_to_commit(hub_settings: Settings) -> None:
    """The hazard of a watermark: a writer that took its ids first but commits last. Writers
    are ordered by the outbox's advisory lock, so the later writer waits, and the relay in
    between sees a prefix of the ids (here: nothing) instead of moving past the first's."""
    s = hub_settings
    kafka.ensure_topics(s, kafka.topic_specs(s, [UNIT]))
    first, second, relayer = (db.connect(s.pg_dsn) for _ in range(3))
    producer = kafka.producer(s, client_id="test-watermark")
    try:
        sch = schema.ensure_schema(relayer, s, UNIT)
        cur1 = first.cursor()
        outbox.enqueue(cur1, sch, _records(s, 0, 5))  # ids taken, not committed

        def write_second() -> None:
            with db.unit_of_work(second) as uow:
                outbox.enqueue(uow.cursor, sch, _records(s, 5, 5))
                uow.commit()

        t = threading.Thread(target=write_second)
        t.start()
        t.join(timeout=1.0)
        assert t.is_alive(), "the second writer must wait for the first to commit"
        assert outbox.relay(relayer, sch, producer) == 0
        first.commit()
        t.join(timeout=10)
        assert not t.is_alive()
        assert outbox.relay(relayer, sch, producer) == 10
        assert _ids_on_topic(s) == sorted(f"test:{i}" for i in range(10))
    finally:
        producer.close(timeout=5)
        for c in (first, second, relayer):
            c.close()


def test_expiry_index_holds_fixed_periods_only_and_serves_the_sweep(hub_settings: Settings) -> None:
    s = hub_settings
    conn = db.connect(s.pg_dsn)
    try:
        sch = schema.ensure_schema(conn, s, UNIT)
        with db.unit_of_work(conn) as uow:
            cur = uow.cursor
            cur.execute("SELECT pg_get_indexdef(%s::regclass)", (f"{sch}.listings_expiry",))
            assert "period_end IS NOT NULL" in cur.fetchone()[0]
            # the sweep's query (keep.sweep) is answered from the index
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute(
                f"EXPLAIN SELECT listing_id, state FROM {sch}.listings WHERE status = 'listed'"
                " AND concerned AND NOT expiry_acked AND period_end < %s"
                " ORDER BY listing_id LIMIT 10 FOR UPDATE SKIP LOCKED", ("2027-01-01",))
            plan = "\n".join(r[0] for r in cur.fetchall())
            assert "listings_expiry" in plan, plan
    finally:
        conn.close()
