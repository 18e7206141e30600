"""The unit's own PostgreSQL schema (`Settings.unit_schema(slug)`).

Projection tables (rebuilt from the court log by `hub agency rebuild`):
- `listings`: every listing of the log (state as JSON + key columns), concerned or not;
- `persons`: who each listing binds (debtor, related persons), indexed by id_number;
- `measures`: spans of the unit's measures in valid time (valid_from … valid_to, NULL =
  open) with `until` (the listing's period_end: fixed-period measures end with no court
  event, Provisions art. 2) and `kept_until` (a measure kept after a shield or revoke,
  policy 四(二)5); indexed by id_number so a check is one index lookup;
- `measure_history`: every change of a measure, as acknowledged;
- `chain`: court_seq → event hash, to check the hash chain across partitions;
- `court_positions`: a view, the last court_seq of `chain` per court (answers carry it);
  a table that repeated `chain` until migration 5 (issue #19);
- `dead_letters`; `consumer_offsets` (read by `hub status`), written in the same
  transaction as the projection: exactly-once effects.
Kept (never dropped by a rebuild): `outbox` (acks and dead letters already queued: a
rebuild must not emit them twice), `acked` and `ack_log` (the ids already acknowledged and
the head of the signed acknowledgement log: consumers/agency/acklog.py), `kept_measures`
(unit decisions, not in the log),
`api_keys` and `queries` (the screening service's callers and its record of every answer).
"""

from __future__ import annotations

from consumers.agency import acklog, apikeys, querylog, repairs
from hub import db, outbox
from hub.config import Settings

PROJECTION_TABLES = (
    "listings", "persons", "measures", "measure_history", "chain", "dead_letters",
    "consumer_offsets",
)

PROJECTION_SQL = """
CREATE TABLE IF NOT EXISTS {schema}.consumer_offsets (
    topic text NOT NULL, partition int NOT NULL, next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition));
CREATE TABLE IF NOT EXISTS {schema}.listings (
    listing_id text PRIMARY KEY, court_code text NOT NULL, status text NOT NULL,
    verification text NOT NULL, public boolean NOT NULL, period_end date,
    subject_kind text NOT NULL, subject_id_number text NOT NULL,
    last_event_id text NOT NULL, last_court_seq bigint NOT NULL,
    concerned boolean NOT NULL, expiry_acked boolean NOT NULL DEFAULT false,
    state json NOT NULL);  -- json, not jsonb: written per event, parsed only on read
CREATE INDEX IF NOT EXISTS listings_expiry ON {schema}.listings (period_end)
    WHERE status = 'listed' AND concerned AND NOT expiry_acked AND period_end IS NOT NULL;
CREATE TABLE IF NOT EXISTS {schema}.persons (
    listing_id text NOT NULL, role text NOT NULL, id_number text NOT NULL, name text NOT NULL,
    PRIMARY KEY (listing_id, role, id_number));
CREATE INDEX IF NOT EXISTS persons_id_number ON {schema}.persons (id_number);
CREATE TABLE IF NOT EXISTS {schema}.measures (
    id bigserial PRIMARY KEY, listing_id text NOT NULL, code text NOT NULL,
    role text NOT NULL, id_number text NOT NULL, mode text NOT NULL,
    suspended boolean NOT NULL, valid_from timestamptz NOT NULL, valid_to timestamptz,
    until date, kept_until date, reason text, event_id text NOT NULL);
CREATE INDEX IF NOT EXISTS measures_id_number ON {schema}.measures (id_number);
CREATE INDEX IF NOT EXISTS measures_open ON {schema}.measures (listing_id)
    WHERE valid_to IS NULL;
CREATE TABLE IF NOT EXISTS {schema}.measure_history (
    id bigserial PRIMARY KEY, listing_id text NOT NULL, code text NOT NULL,
    role text NOT NULL, id_number text NOT NULL, action text NOT NULL,
    at timestamptz NOT NULL, trigger text NOT NULL, event_id text NOT NULL,
    court_seq bigint NOT NULL, until date, reason text, ack_id text NOT NULL);
CREATE INDEX IF NOT EXISTS measure_history_listing ON {schema}.measure_history (listing_id);
CREATE TABLE IF NOT EXISTS {schema}.chain (
    court_code text NOT NULL, court_seq bigint NOT NULL, event_id text NOT NULL UNIQUE,
    hash bytea NOT NULL, prev_hash bytea NOT NULL, PRIMARY KEY (court_code, court_seq));
CREATE TABLE IF NOT EXISTS {schema}.dead_letters (
    id bigserial PRIMARY KEY, topic text NOT NULL, partition int NOT NULL,
    "offset" bigint NOT NULL, reason text NOT NULL, kind text NOT NULL,
    key bytea, value bytea, at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset"));
"""

# Migration 1 made court_positions a table, written with every chain row; migration 5
# replaces it by this view (a loose index scan: one primary-key probe per court, not a
# scan of the chain).
COURT_POSITIONS_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS {schema}.court_positions (
    court_code text PRIMARY KEY, last_seq bigint NOT NULL);
"""
COURT_POSITIONS_VIEW_SQL = """
CREATE OR REPLACE VIEW {schema}.court_positions AS
WITH RECURSIVE courts(code) AS (
    (SELECT court_code FROM {schema}.chain ORDER BY court_code LIMIT 1)
    UNION ALL
    SELECT (SELECT c.court_code FROM {schema}.chain c WHERE c.court_code > courts.code
            ORDER BY c.court_code LIMIT 1)
    FROM courts WHERE courts.code IS NOT NULL)
SELECT code AS court_code,
       (SELECT max(c.court_seq) FROM {schema}.chain c WHERE c.court_code = courts.code)
       AS last_seq
FROM courts WHERE code IS NOT NULL;
"""
CURRENT_PROJECTION_SQL = PROJECTION_SQL + COURT_POSITIONS_VIEW_SQL

# Only listings with a fixed period can expire (Provisions art. 2); migration 1's index
# also took every listing of ground (1), which has none: an index entry per event for
# nothing. The sweep's `period_end < day` implies the new predicate.
EXPIRY_INDEX_SQL = """
DROP INDEX IF EXISTS {schema}.listings_expiry;
CREATE INDEX listings_expiry ON {schema}.listings (period_end)
    WHERE status = 'listed' AND concerned AND NOT expiry_acked AND period_end IS NOT NULL;
"""

KEPT_SQL = """
CREATE TABLE {schema}.kept_measures (
    listing_id text NOT NULL, code text NOT NULL, until date NOT NULL, reason text NOT NULL,
    kept_at timestamptz NOT NULL, PRIMARY KEY (listing_id, code));
"""


def migrations() -> list[db.Migration]:
    return [
        db.Migration(1, "projection", PROJECTION_SQL + COURT_POSITIONS_TABLE_SQL),
        outbox.migration(2),
        db.Migration(3, "kept measures", KEPT_SQL),
        outbox.watermark_migration(4),
        db.Migration(5, "court positions derived from the chain",
                     "DROP TABLE IF EXISTS {schema}.court_positions;" + COURT_POSITIONS_VIEW_SQL),
        db.Migration(6, "expiry index: fixed periods only", EXPIRY_INDEX_SQL),
        apikeys.migration(7),
        querylog.migration(8),
        acklog.migration(9),
        repairs.migration(10),
    ]


def schema_name(s: Settings, unit: str) -> str:
    return db.ident(s.unit_schema(unit))


def ensure_schema(conn: db.Connection, s: Settings, unit: str) -> str:
    schema = schema_name(s, unit)
    db.migrate(conn, schema, migrations())
    # A rebuild drops the projection tables: recreate them (idempotent DDL).
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(f"SELECT to_regclass('{schema}.listings')")
        if uow.cursor.fetchone()[0] is None:
            db.act_as_owner(uow.cursor, schema)
            uow.cursor.execute(CURRENT_PROJECTION_SQL.format(schema=schema))
            uow.commit()
    return schema


def drop_projection(conn: db.Connection, schema: str) -> None:
    with db.unit_of_work(conn) as uow:
        db.act_as_owner(uow.cursor, schema)
        uow.cursor.execute(f"DROP VIEW IF EXISTS {schema}.court_positions")
        for table in PROJECTION_TABLES:
            uow.cursor.execute(f"DROP TABLE IF EXISTS {schema}.{table} CASCADE")
        uow.cursor.execute(CURRENT_PROJECTION_SQL.format(schema=schema))
        # the applied court prefix is read from `chain`: it starts again from zero
        uow.cursor.execute(f"UPDATE {schema}.ack_log SET court_prefix = '{{}}'")
        uow.commit()
