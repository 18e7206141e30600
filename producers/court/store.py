"""The court store: PostgreSQL schema `court` (prefixed in tests) holding each court's head
(gap-free sequence, hash chain, relay accumulator), the listings' current states, the
recorded decisions, the outbox of signed event values, the relay's Kafka positions and the
checkpoints issued.

Design.md "Outbox, not dual writes": decisions, listing states and outgoing events are
written in one transaction; the relay reads the outbox and marks rows sent."""

from __future__ import annotations

import io
import itertools
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from hub import codec, db
from hub.config import Settings
from hub.db import Connection, Migration
from hub.domain.listing import ListingState, apply
from producers.court.avrobin import micros

MIGRATIONS = [
    Migration(
        1,
        "court store, outbox, relay positions, checkpoints",
        """
        CREATE TABLE {schema}.courts (
            court_code text PRIMARY KEY,
            last_seq bigint NOT NULL DEFAULT 0,          -- last court_seq assigned
            last_hash bytea NOT NULL,                    -- chain_hash of the last value
            published_seq bigint NOT NULL DEFAULT 0,     -- contiguous published prefix
            acc_state text NOT NULL DEFAULT '[]',        -- MerkleAccumulator over 1..published_seq
            last_published_event_id text,
            checkpoint_seq bigint NOT NULL DEFAULT 0,    -- tree_size of the last checkpoint
            checkpoint_at timestamptz
        );
        CREATE TABLE {schema}.listings (
            listing_id text PRIMARY KEY,
            court_code text NOT NULL,
            state jsonb NOT NULL,
            updated_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.decisions (
            court_code text NOT NULL,
            decision_no text NOT NULL,
            listing_id text NOT NULL,
            action text NOT NULL,
            decided_at timestamptz NOT NULL,
            court_seq bigint NOT NULL,
            event_id text NOT NULL,
            content_hash bytea NOT NULL,                 -- SHA-256 of decision.canonical()
            recorded_at timestamptz NOT NULL,
            PRIMARY KEY (court_code, decision_no)
        );
        CREATE INDEX decisions_listing ON {schema}.decisions (listing_id, court_seq);
        CREATE TABLE {schema}.outbox (
            court_code text NOT NULL,
            court_seq bigint NOT NULL,
            event_id text NOT NULL UNIQUE,
            listing_id text NOT NULL,
            value bytea NOT NULL,
            signature bytea NOT NULL,
            signer text NOT NULL,
            sent_at timestamptz,
            PRIMARY KEY (court_code, court_seq)
        );
        CREATE INDEX outbox_unsent ON {schema}.outbox (court_code, court_seq)
            WHERE sent_at IS NULL;
        CREATE TABLE {schema}.relay_offsets (
            topic text NOT NULL,
            part int NOT NULL,
            next_offset bigint NOT NULL,
            PRIMARY KEY (topic, part)
        );
        CREATE TABLE {schema}.checkpoints (
            court_code text NOT NULL,
            tree_size bigint NOT NULL,
            root_hash bytea NOT NULL,
            last_event_id text NOT NULL,
            issued_at timestamptz NOT NULL,
            value bytea NOT NULL,
            signature bytea NOT NULL,
            PRIMARY KEY (court_code, tree_size)
        );
        """,
    ),    Migration(
        2,
        "public query by the debtor's ID number",
        "CREATE INDEX IF NOT EXISTS listings_subject_id ON {schema}.listings"
        " ((state->'subject'->>'id_number'))",
    ),
    Migration(
        3,
        "sent = covered by the published prefix (UNSENT); the relay reads by primary key",
        "DROP INDEX IF EXISTS {schema}.outbox_unsent",
    ),
    Migration(
        4,
        "the subject's ID number in a column of its own; states as json (kept as written)",
        # Parsing 200k states into jsonb took half of a large submit's COPY (issue #4); a
        # state is only ever read whole, and the public query looks the debtor up here.
        """
        ALTER TABLE {schema}.listings ADD COLUMN subject_id text;
        UPDATE {schema}.listings SET subject_id = state->'subject'->>'id_number';
        ALTER TABLE {schema}.listings ALTER COLUMN subject_id SET NOT NULL;
        DROP INDEX IF EXISTS {schema}.listings_subject_id;
        ALTER TABLE {schema}.listings ALTER COLUMN state TYPE json USING state::json;
        CREATE INDEX listings_subject ON {schema}.listings (subject_id);
        """,
    ),
    Migration(
        5,
        "the outbox without a unique index on event_id; the relay's recovery looks rows up by"
        " primary key",
        # Event ids are random (UUIDv5), so each of a large submit's rows went to a random
        # page of that index: a third of the outbox COPY (issue #4). An event id is a
        # function of (court_code, decision_no) (hub.domain.events.event_id_for), which the
        # decisions table keeps unique,
        # and one decision has one outbox row (same transaction, same court_seq).
        "ALTER TABLE {schema}.outbox DROP CONSTRAINT IF EXISTS outbox_event_id_key",
    ),
    Migration(
        6,
        "listing states as text (JSON written by the hub, read whole, cast where queried)",
        # PostgreSQL checks every json value it is given: ~0.4 s of a 200k submit's listings
        # COPY (2.06 s as json, 1.64 s as text). The hub writes the states itself (orjson,
        # pydantic) and reads them back whole; readers cast (`state::json`).
        "ALTER TABLE {schema}.listings ALTER COLUMN state TYPE text USING state::text",
    ),
    Migration(
        7,
        "a listing's state is written once it changes; NULL: as its listing event left it",
        # A new listing's state is apply(None, event) of the event in its outbox row: writing
        # it out again doubled what a large submit wrote (~1 KB of JSON a listing, in the
        # table and in the WAL: 2.2 KB of 4 KB a decision, issue #4). It is derived where
        # read (`listing_state_sql`, `state_of`) and written in full when a later decision
        # changes the listing. The subject's name gets a column for the public query.
        """
        ALTER TABLE {schema}.listings ALTER COLUMN state DROP NOT NULL;
        ALTER TABLE {schema}.listings ADD COLUMN subject_name text;
        UPDATE {schema}.listings SET subject_name = state::json->'subject'->>'name';
        ALTER TABLE {schema}.listings ALTER COLUMN subject_name SET NOT NULL;
        """,
    ),
    Migration(
        8,
        "republishing sites, their deletion notices and confirmations (policy 四(二)7)",
        # producers/court/republish.py. `republish_scanned`: the (site, court event) pairs
        # already looked at, whether or not they ended a public listing; the partial index
        # finds the decisions that may have.
        """
        CREATE TABLE {schema}.republishers (
            site text PRIMARY KEY,
            name text NOT NULL,
            url text,
            registered_at timestamptz NOT NULL
        );
        CREATE TABLE {schema}.deletion_notices (
            notice_id text PRIMARY KEY,
            site text NOT NULL REFERENCES {schema}.republishers (site),
            court_code text NOT NULL,
            listing_id text NOT NULL,
            event_id text NOT NULL,
            decision_no text NOT NULL,
            reason text NOT NULL,
            stopped_at timestamptz NOT NULL,
            due_on date NOT NULL,
            issued_at timestamptz NOT NULL,
            value bytea NOT NULL,
            signature bytea NOT NULL,
            sent_at timestamptz,
            deleted_at timestamptz,
            confirmed_at timestamptz,
            confirmation bytea,
            confirmation_signature bytea,
            confirmation_sent_at timestamptz
        );
        CREATE INDEX deletion_notices_site ON {schema}.deletion_notices (site, listing_id);
        CREATE TABLE {schema}.republish_scanned (
            site text NOT NULL,
            event_id text NOT NULL,
            PRIMARY KEY (site, event_id)
        );
        CREATE INDEX decisions_ending_publicity ON {schema}.decisions (recorded_at)
            WHERE action IN ('shield', 'revoke', 'correct');
        """,
    ),
]

# An outbox row `o` is unsent (given its court's row `c`) when it is neither marked nor
# covered by the court's contiguous published prefix: the relay advances `published_seq`
# instead of marking every row, and marks `sent_at` only for rows published past a gap.
UNSENT = "o.sent_at IS NULL AND o.court_seq > c.published_seq"

TABLES = ("courts", "listings", "decisions", "outbox", "relay_offsets", "checkpoints")


def schema(s: Settings) -> str:
    return db.ident(s.db_schema("court"))


def outbox_channel(s: Settings) -> str:
    """LISTEN/NOTIFY channel on which a submit tells the relay that the outbox has rows."""
    return f"{schema(s)}_outbox"


def open_store(s: Settings, application_name: str) -> Connection:
    """A connection to the migrated court store."""
    conn = db.connect(s.pg_dsn, application_name)
    db.migrate(conn, schema(s), MIGRATIONS)
    return conn


@contextmanager
def store_connection(s: Settings, application_name: str) -> Iterator[Connection]:
    """`open_store` for one call, the connection reused by the next one in this process
    (hub.db.reused)."""
    with db.reused(s.pg_dsn, application_name) as conn:
        db.migrate(conn, schema(s), MIGRATIONS)
        yield conn


def row_counts(s: Settings) -> dict[str, int]:
    """Rows per table (tests: 'nothing recorded')."""
    conn = open_store(s, "hub-court-counts")
    try:
        sch = schema(s)
        with db.unit_of_work(conn) as uow:
            out = {}
            for table in TABLES:
                uow.cursor.execute(f"SELECT count(*) FROM {sch}.{table}")
                out[table] = int(uow.cursor.fetchone()[0])
            return out
    finally:
        conn.close()


# ------------------------------------------------------------------------------- COPY


class _LineStream(io.IOBase):
    """A file over COPY data (binary rows), read as psycopg2 reads it: the rows are never
    all in memory at once, and the server parses while the client formats."""

    def __init__(self, lines: Iterable[Any]) -> None:
        self._lines = iter(lines)
        self._buf: Any = None
        self.error: BaseException | None = None  # what the rows raised, if they did

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> Any:
        want = size if size is not None and size >= 0 else 1 << 62
        parts = []
        have = 0
        if self._buf is not None:
            parts.append(self._buf)
            have = len(self._buf)
        try:
            for line in self._lines:
                parts.append(line)
                have += len(line)
                if have >= want:
                    break
        except BaseException as e:
            self.error = e  # psycopg2 reports it as the COPY's failure; `copy_binary` raises it
            raise
        if not parts:
            return ""
        out = parts[0][:0].join(parts)
        self._buf = out[want:] if have > want else None
        return out[:want] if have > want else out


COPY_READ = 1 << 20  # bytes a read: fewer, larger COPY messages


# COPY's binary format (PostgreSQL docs, "COPY", "Binary Format"): signature, flags, no
# header extension; then per row a field count and per field its length and bytes; then -1.
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
BINARY_TRAILER = b"\xff\xff"
INT4 = struct.Struct(">i").pack  # a field's length (or -1: NULL)
INT8_FIELD = struct.Struct(">iq").pack  # a bigint field: its length (8), then the value
# A timestamptz travels as microseconds since 2000-01-01 00:00 UTC (int8, integer datetimes).
_PG_EPOCH_US = micros(datetime(2000, 1, 1, tzinfo=UTC))


def binary_field(value: str | int | bytes | datetime | None) -> bytes:
    """One field in COPY binary format: str for text, int for bigint, bytes for bytea or
    for text already in UTF-8 (a text field's binary form), an aware datetime for
    timestamptz."""
    if value is None:
        return INT4(-1)
    if isinstance(value, int):
        return INT8_FIELD(8, value)
    if isinstance(value, datetime):
        return INT8_FIELD(8, micros(value) - _PG_EPOCH_US)
    if isinstance(value, str):
        return text_field(value)
    data = bytes(value)
    return INT4(len(data)) + data


def text_field(value: str) -> bytes:
    """`binary_field` of a str (a text column): its UTF-8 length, then its UTF-8; without
    the type dispatch, for the submit's per-row fields."""
    data = value.encode()
    return INT4(len(data)) + data


def binary_row(row: Sequence[str | int | bytes | datetime | None]) -> bytes:
    """One row in COPY binary format (what `copy_binary` sends a row as)."""
    return struct.pack(">h", len(row)) + b"".join(map(binary_field, row))


def copy_binary(cur: Any, table: str, columns: Sequence[str], rows: Iterable[bytes]) -> None:
    """COPY rows already in binary format (`binary_row`, or the same bytes built faster by
    a caller that knows its columns): no text of times or hex of bytea values for the server
    to parse. `rows` is read as the server takes them (a generator may still be making
    them); an exception it raises ends the COPY and is raised as it is."""
    stream = _LineStream(itertools.chain((BINARY_HEADER,), rows, (BINARY_TRAILER,)))
    try:
        cur.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT binary)",
            stream, size=COPY_READ,
        )
    except Exception:
        if stream.error is not None:  # the rows failed, not the server
            raise stream.error from None
        raise


# ------------------------------------------------------------------------------ reads


def listing_state_sql(sch: str) -> str:
    """The two columns `state_of` reads, for a query over `{sch}.listings l`: the stored
    state, and where none is stored (migration 7) the value of the listing's one event."""
    return (
        "l.state, CASE WHEN l.state IS NULL THEN (SELECT o.value"
        f" FROM {sch}.decisions d JOIN {sch}.outbox o"
        " ON o.court_code = d.court_code AND o.court_seq = d.court_seq"
        " WHERE d.listing_id = l.listing_id ORDER BY d.court_seq LIMIT 1) END"
    )


def state_of(state: str | None, value: Any) -> ListingState:
    """A listing's state from the columns of `listing_state_sql`."""
    if state is not None:
        return ListingState.model_validate_json(state)
    return listed_state(bytes(value))


def listed_state(value: bytes) -> ListingState:
    """The state of a listing that only its listing event (Avro `value`) has touched: the
    fold of the one event (design.md: everything folds the same `apply`)."""
    return apply(None, codec.decode(value))  # type: ignore[arg-type]


def listing_view(s: Settings, listing_id: str) -> dict[str, Any] | None:
    """The listing's current state and decision history, or None if unknown."""
    conn = open_store(s, "hub-court-show")
    sch = schema(s)
    try:
        with db.unit_of_work(conn) as uow:
            cur = uow.cursor
            cur.execute(
                f"SELECT {listing_state_sql(sch)}, l.updated_at FROM {sch}.listings l"
                " WHERE l.listing_id = %s",
                (listing_id,),
            )
            row = cur.fetchone()
            if row is None:
                return None
            state = state_of(row[0], row[1]).model_dump(mode="json")
            cur.execute(
                f"SELECT d.action, d.decision_no, d.decided_at, d.court_seq, d.event_id,"
                f" NOT ({UNSENT}) FROM {sch}.decisions d JOIN {sch}.outbox o"
                " ON o.court_code = d.court_code AND o.court_seq = d.court_seq"
                f" JOIN {sch}.courts c ON c.court_code = d.court_code"
                " WHERE d.listing_id = %s ORDER BY d.court_seq",
                (listing_id,),
            )
            history = [
                {"action": a, "decision_no": no, "decided_at": at, "court_seq": int(seq),
                 "event_id": eid, "published": bool(sent)}
                for a, no, at, seq, eid, sent in cur.fetchall()
            ]
        return {"listing_id": listing_id, "state": state, "updated_at": row[2],
                "history": history}
    finally:
        conn.close()


def checkpoints(s: Settings, court_code: str | None = None) -> list[dict[str, Any]]:
    conn = open_store(s, "hub-court-checkpoints")
    sch = schema(s)
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(
                f"SELECT court_code, tree_size, root_hash, last_event_id, issued_at"
                f" FROM {sch}.checkpoints WHERE %s IS NULL OR court_code = %s"
                " ORDER BY court_code, tree_size",
                (court_code, court_code),
            )
            return [
                {"court_code": c, "tree_size": int(n), "root_hash": bytes(r).hex(),
                 "last_event_id": e, "issued_at": t}
                for c, n, r, e, t in uow.cursor.fetchall()
            ]
    finally:
        conn.close()
