"""Every question the screening service answered, in the unit's PostgreSQL (X-Road keeps
every query in its message log): when, which key, a keyed fingerprint of the subject
(never the clear number: `consumers.agency.unitsecret`), the measure asked, the decision,
the measures behind it and the log position. An inspector can tell whether a unit checked
before it approved, and find misuse of the list.

Answers are recorded off the request path: `Recorder.record` appends to a buffer that a
thread writes every `flush_seconds` (one COPY a flush), so recording adds no round trip to
a check. A clean stop (SIGTERM, Ctrl-C) flushes the buffer after the last request has been
answered: nothing is lost. A crash (kill -9, power) loses at most the answers of the last
`flush_seconds` (0.2 s by default); PostgreSQL down: the buffer is kept and written when it
answers again (the checks themselves fail meanwhile, so it does not grow). Rows older than
`HUB_QUERY_RETENTION_DAYS` are deleted at start and hourly."""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from hub import db
from hub.errors import HubError
from hub.log import get_logger

log = get_logger("hub.agency.querylog")

MIGRATION_SQL = """
CREATE TABLE {schema}.queries (
    id bigserial PRIMARY KEY, at timestamptz NOT NULL, key_name text NOT NULL,
    subject_fp bytea NOT NULL, measure text, asked_at timestamptz NOT NULL,
    decision text NOT NULL, measures json NOT NULL, position json NOT NULL);
CREATE INDEX queries_subject ON {schema}.queries (subject_fp, at);
CREATE INDEX queries_at ON {schema}.queries (at);
"""

_COLUMNS = "at, key_name, subject_fp, measure, asked_at, decision, measures, position"


def migration(version: int) -> db.Migration:
    return db.Migration(version, "screening query log", MIGRATION_SQL)


class Query(NamedTuple):
    at: datetime
    key_name: str
    subject_fp: bytes
    measure: str | None
    asked_at: datetime
    decision: str
    measures: list[dict[str, Any]]
    position: dict[str, Any]


def _copy_line(q: Query) -> str:
    measures = json.dumps([{k: m[k] for k in ("code", "listing_id", "role", "mode", "suspended")}
                           for m in q.measures], separators=(",", ":"), default=str)
    fields = [q.at.isoformat(), q.key_name, "\\\\x" + q.subject_fp.hex(),
              q.measure if q.measure is not None else "\\N", q.asked_at.isoformat(), q.decision,
              measures, json.dumps(q.position, separators=(",", ":"), sort_keys=True)]
    return "\t".join(f if f == "\\N" or f.startswith("\\\\x") else db.copy_escape(f)
                     for f in fields) + "\n"


class Recorder:
    """The buffer and its writer thread; `close()` writes what is left."""

    def __init__(self, dsn: str, schema: str, retention_days: int, flush_seconds: float = 0.2,
                 application_name: str = "hub-agency-querylog") -> None:
        self.dsn, self.schema = dsn, schema
        self.retention = timedelta(days=retention_days)
        self.flush_seconds = flush_seconds
        self.application_name = application_name
        self._rows: list[Query] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: db.Connection | None = None
        self._next_purge = 0.0
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="querylog", daemon=True)
        self._thread.start()

    def record(self, queries: list[Query]) -> None:
        with self._lock:
            self._rows.extend(queries)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def _connection(self) -> db.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = db.connect(self.dsn, self.application_name)
        return self._conn

    def flush(self) -> int:
        """Write the buffer in one transaction; on failure the rows go back, first in line."""
        with self._lock:
            rows, self._rows = self._rows, []
        if not rows:
            return 0
        try:
            conn = self._connection()
            with db.unit_of_work(conn) as uow:
                uow.cursor.copy_expert(f"COPY {self.schema}.queries ({_COLUMNS}) FROM STDIN",
                                       io.StringIO("".join(_copy_line(q) for q in rows)))
                uow.commit()
        except (HubError, OSError) as e:
            with self._lock:
                self._rows[:0] = rows
            self._conn = None
            raise HubError(f"query log: {len(rows)} answers not yet recorded: {e}") from e
        self.written += len(rows)
        return len(rows)

    def _purge(self) -> None:
        if time.monotonic() < self._next_purge:
            return
        conn = self._connection()
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(f"DELETE FROM {self.schema}.queries WHERE at < %s",
                               (datetime.now(UTC) - self.retention,))
            deleted = uow.cursor.rowcount
            uow.commit()
        if deleted:
            log.info("query log rows past retention deleted", rows=deleted)
        self._next_purge = time.monotonic() + 3600

    def _run(self) -> None:
        backoff = self.flush_seconds
        while not self._stop.wait(backoff):
            try:
                self._purge()
                self.flush()
                backoff = self.flush_seconds
            except HubError as e:
                backoff = min(backoff * 2, 5.0)
                log.warning("query log write failed; retrying", error=str(e), retry_in=backoff)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the thread and write what is left, retrying until `timeout`; what still
        cannot be written is named in the log (count only)."""
        self._stop.set()
        self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.flush()
                break
            except HubError as e:
                if time.monotonic() >= deadline:
                    log.error("query log: answers lost at stop", rows=self.pending, error=str(e))
                    break
                time.sleep(0.5)
        if self._conn is not None and not self._conn.closed:
            self._conn.close()


def search(cur: Any, schema: str, *, since: datetime | None = None, until: datetime | None = None,
           key: str | None = None, subject_fp: bytes | None = None,
           limit: int = 10_000) -> list[dict[str, Any]]:
    """Recorded answers, oldest first, filtered by time (at >= since, at < until), key and
    subject fingerprint."""
    where, args = [], []
    for cond, value in (("at >= %s", since), ("at < %s", until), ("key_name = %s", key),
                        ("subject_fp = %s", subject_fp)):
        if value is not None:
            where.append(cond)
            args.append(value)
    sql = (f"SELECT id, at, key_name, subject_fp, measure, asked_at, decision, measures, position"
           f" FROM {schema}.queries" + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY at, id LIMIT %s")
    cur.execute(sql, [*args, limit])
    return [{"id": i, "at": at.isoformat(), "key": k, "subject": bytes(fp).hex()[:16],
             "measure": m, "asked_at": asked.isoformat(), "decision": d, "measures": ms,
             "position": pos}
            for i, at, k, fp, m, asked, d, ms, pos in cur.fetchall()]
