"""PostgreSQL: connections, ordered SQL migrations recorded in a table, and a unit of work
that rolls back unless committed. psycopg2 errors that mean "the server does not answer"
become `ServiceUnavailable`; everything else becomes `DatabaseError`."""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from hub.errors import HubError, ServiceUnavailable

Connection: TypeAlias = psycopg2.extensions.connection


class DatabaseError(HubError):
    """A statement failed for a reason other than the server being unreachable."""


UniqueViolation = psycopg2.errors.UniqueViolation
_KEY_DETAIL = re.compile(r"Key \((?P<columns>.*)\)=\((?P<values>.*)\) already exists")


def duplicate_key(e: BaseException) -> str | None:
    """The key value a unique violation names (its DETAIL, `Key (k)=(v) already exists`)."""
    diag = getattr(e, "diag", None)
    m = _KEY_DETAIL.search(getattr(diag, "message_detail", None) or "")
    return m.group("values") if m else None


def address(dsn: str) -> str:
    """host:port/dbname of a DSN, URL or key=value form (psycopg2's `conn.dsn`), without
    credentials."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}/{parts.path.lstrip('/')}"
    try:
        kv = psycopg2.extensions.parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        return "PostgreSQL"
    return f"{kv.get('host', 'localhost')}:{kv.get('port', 5432)}/{kv.get('dbname', '')}"


def connect(dsn: str, application_name: str = "hub") -> Connection:
    try:
        conn = psycopg2.connect(dsn, application_name=application_name, connect_timeout=10)
    except psycopg2.OperationalError as e:
        raise ServiceUnavailable("PostgreSQL", address(dsn), str(e).strip().splitlines()[0]) from e
    conn.autocommit = False
    return conn


_IDLE: dict[tuple[str, str], Connection] = {}
_IDLE_LOCK = threading.Lock()


def _usable(conn: Connection) -> bool:
    """An idle cached connection still answers (one round trip, against ~9 ms for a new
    SCRAM connection); a server restart since its last use shows here, not mid-call."""
    if conn.closed:
        return False
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        conn.rollback()
        return True
    except psycopg2.Error:
        return False


@contextmanager
def reused(dsn: str, application_name: str = "hub") -> Iterator[Connection]:
    """A connection for one call, kept afterwards for the next call with the same DSN and
    application name in this process (issue #19: the service path of `hub court submit`
    opened a new connection per submit). It goes back only when the call ended without an
    error and with no transaction open; otherwise it is closed."""
    key = (dsn, application_name)
    with _IDLE_LOCK:
        conn = _IDLE.pop(key, None)
    if conn is not None and not _usable(conn):
        conn.close()
        conn = None
    if conn is None:
        conn = connect(dsn, application_name)
    clean = False
    try:
        yield conn
        clean = True
    finally:
        if (clean and not conn.closed
                and conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE):
            with _IDLE_LOCK:
                if key not in _IDLE:
                    _IDLE[key], conn = conn, None
        if conn is not None:
            conn.close()


def is_disconnect(e: BaseException) -> bool:
    return isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError))


class UnitOfWork:
    """One transaction: `commit()` it explicitly, or it rolls back when the block ends."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.cursor = conn.cursor()
        self._committed = False

    def commit(self) -> None:
        self.conn.commit()
        self._committed = True


@contextmanager
def unit_of_work(conn: Connection) -> Iterator[UnitOfWork]:
    uow = UnitOfWork(conn)
    try:
        yield uow
    except psycopg2.OperationalError as e:
        _safe_rollback(conn)
        raise ServiceUnavailable("PostgreSQL", address(conn.dsn), str(e).strip()) from e
    except psycopg2.Error as e:
        _safe_rollback(conn)
        raise DatabaseError(str(e).strip()) from e
    except BaseException:
        _safe_rollback(conn)
        raise
    else:
        if not uow._committed:
            _safe_rollback(conn)
    finally:
        uow.cursor.close()


def _safe_rollback(conn: Connection) -> None:
    try:
        if not conn.closed:
            conn.rollback()
    except psycopg2.Error:
        pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # may use {schema}


_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def ident(name: str) -> str:
    if not _IDENT.match(name):
        raise DatabaseError(f"not a safe SQL identifier: {name!r}")
    return name


def migrate(conn: Connection, schema: str, migrations: Sequence[Migration]) -> list[int]:
    """Apply, in order and once, the migrations a schema has not seen; recorded in
    `<schema>.schema_migrations`. An advisory lock serialises concurrent starters."""
    schema = ident(schema)
    applied_now: list[int] = []
    with unit_of_work(conn) as uow:
        cur = uow.cursor
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(schema.encode()),))
        if not act_as_owner(cur, schema):
            cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute(f"SELECT version FROM {schema}.schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        for m in sorted(migrations, key=lambda m: m.version):
            if m.version in done:
                continue
            cur.execute(m.sql.format(schema=schema))
            cur.execute(
                f"INSERT INTO {schema}.schema_migrations (version, name) VALUES (%s, %s)",
                (m.version, m.name),
            )
            applied_now.append(m.version)
        uow.commit()
    return applied_now


def act_as_owner(cur: Any, schema: str) -> bool:
    """For the rest of the transaction, act as the role that owns `schema` when this login
    is a member of it (the admin, maintaining a unit's schema: what it creates there stays
    the unit's, `hub.db_accounts`). False when the schema does not exist yet. Creating a
    schema needs CREATE on the database, which a unit's own role does not have: its schema
    is made for it by `hub accounts provision`."""
    cur.execute(
        "SELECT pg_get_userbyid(nspowner), pg_get_userbyid(nspowner) <> current_user"
        " AND pg_has_role(current_user, nspowner, 'MEMBER')"
        " FROM pg_namespace WHERE nspname = %s", (schema,))
    row = cur.fetchone()
    if row is None:
        return False
    if row[1]:
        cur.execute(f"SET LOCAL ROLE {ident(row[0])}")
    return True


def drop_schema(conn: Connection, schema: str) -> None:
    with unit_of_work(conn) as uow:
        uow.cursor.execute(f"DROP SCHEMA IF EXISTS {ident(schema)} CASCADE")
        uow.commit()


def execute_values(cur: Any, sql: str, rows: Sequence[Sequence[Any]], page_size: int = 1000) -> None:
    psycopg2.extras.execute_values(cur, sql, rows, page_size=page_size)


def copy_escape(value: str) -> str:
    """A str in PostgreSQL's COPY text format (backslash, tab, newline, carriage return
    escaped). Tested for the rare case first; str.replace, because str.translate is ~10x
    slower on non-ASCII text, which most of this project's text is."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))
    return value
