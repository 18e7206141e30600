"""Running the relay (`producers.court.relay.Relay`): `hub court relay` (long-running,
woken by NOTIFY), `drain` (publish everything now) and the drain that ends a submit.
Only one relay publishes at a time: the PostgreSQL advisory lock of `relay.lock_key`."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Sequence

from hub import db
from hub.config import Settings
from hub.db import Connection
from hub.log import get_logger
from producers.court import republish, store
from producers.court.relay import (
    Relay,
    RelayBusy,
    RelayResult,
    Row,
    Staged,
    lock_key,
    try_lock,
)

log = get_logger("court.drain")


def run(
    s: Settings,
    *,
    once: bool = True,
    wait: bool = True,
    poll_seconds: float = 0.5,
    progress: Callable[[int], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    preloaded: Sequence[Row] = (),
    early: EarlyRelay | None = None,
) -> RelayResult:
    """Relay until the outbox is empty (`once`) or forever. Only one relay publishes at a
    time (PostgreSQL advisory lock): a second one waits (`wait`) or raises RelayBusy.
    `preloaded`: rows just committed by this process's submit (`Relay.usable`); `early`:
    a relay it started while recording (`EarlyRelay`), used if it got going."""
    started = early.take() if early is not None else None
    if started is not None:
        return _serve(s, *started, once, poll_seconds, progress, should_stop, preloaded)
    conn = store.open_store(s, "hub-court-relay")
    key = lock_key(s)
    try:
        if not try_lock(conn, key):
            if not wait:
                raise RelayBusy("another court relay is running (advisory lock held)")
            if on_wait:
                on_wait()
            while not try_lock(conn, key):
                if should_stop and should_stop():
                    conn.close()
                    return RelayResult(note="stopped while waiting for the relay lock")
                time.sleep(poll_seconds)
        relay = Relay(s, conn)
    except BaseException:
        conn.close()
        raise
    try:
        relay.recover()
    except BaseException:
        relay.close()
        conn.close()
        raise
    return _serve(s, conn, relay, once, poll_seconds, progress, should_stop, preloaded)


def _serve(
    s: Settings, conn: Connection, relay: Relay, once: bool, poll_seconds: float,
    progress: Callable[[int], None] | None, should_stop: Callable[[], bool] | None,
    preloaded: Sequence[Row],
) -> RelayResult:
    """Publish with a relay that holds the lock (on `conn`) and has recovered; closes both
    (closing `conn` ends the session, which releases the advisory lock)."""
    listener = None
    try:
        relay.refresh()
        listener = None if once else _listen(s)
        while True:
            relay.publish(progress, preloaded)
            preloaded = ()
            # A drain that ends (--once, or a stop request) ends covered by a checkpoint.
            stopping = once or bool(should_stop and should_stop())
            relay.issue_checkpoints(final=stopping)
            republish.notify_with(conn, s, relay.producer)  # notices of what stopped being public
            if stopping:
                break
            _wait_for_rows(listener, poll_seconds)
        return relay.result
    finally:
        relay.close()
        if listener is not None:
            listener.close()
        conn.close()


class EarlyRelay:
    """A relay started in the background while a submit records its file: it takes the
    relay lock (without waiting: if another relay runs, that one publishes), connects and
    runs its recovery, so that the submit's drain publishes the moment it commits instead
    of ~0.4 s later (issue #4). Whatever it did not get done, or failed at, the drain does
    the usual way (`take` returns None). `close` releases it unused."""

    def __init__(self, s: Settings) -> None:
        self._s = s
        self._started: tuple[Connection, Relay] | None = None
        self._staged: Staged | None = None
        self._thread = threading.Thread(target=self._start, name="court-early-relay",
                                        daemon=True)
        self._thread.start()

    def _start(self) -> None:
        conn = None
        relay = None
        try:
            conn = store.open_store(self._s, "hub-court-relay")
            if not try_lock(conn, lock_key(self._s)):
                conn.close()
                return
            relay = Relay(self._s, conn)
            relay.recover()
            self._started = (conn, relay)
        except Exception as e:  # noqa: BLE001 - the drain starts again and reports it
            log.info("court.early_relay_failed", error=type(e).__name__)
            if relay is not None:
                relay.close()
            if conn is not None:
                conn.close()

    def stage(self) -> Staged:
        """Batches for the submit's events, written while it records them and queued by
        the drain's publish (`relay.Staged`); they wait for this relay to have started."""
        self._staged = Staged(self._relay_when_started)
        return self._staged

    def _relay_when_started(self, wait: bool) -> Relay | bool | None:
        """The relay once started (None if it did not start); True while it is starting
        and `wait` is False."""
        if not wait and self._thread.is_alive():
            return True
        self._thread.join()
        started = self._started
        return started[1] if started is not None else None

    def take(self) -> tuple[Connection, Relay] | None:
        """The connection (holding the lock) and recovered relay, now the caller's."""
        self._thread.join()
        started, self._started = self._started, None
        if started is not None:
            started[1].staged = self._staged
        return started

    def close(self) -> None:
        started = self.take()
        if started is not None:
            started[1].close()
            started[0].close()


def _listen(s: Settings) -> Connection:
    conn = db.connect(s.pg_dsn, "hub-court-relay-listen")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"LISTEN {store.outbox_channel(s)}")
    return conn


def _wait_for_rows(listener: Connection | None, timeout: float) -> None:
    """Sleep until a submit commits (NOTIFY) or `timeout` passes, whichever comes first; the
    timeout still bounds the wait if a notification is missed."""
    if listener is None:
        time.sleep(timeout)
        return
    if select.select([listener], [], [], timeout)[0]:
        listener.poll()
        listener.notifies.clear()


def drain(s: Settings, progress: Callable[[int], None] | None = None) -> RelayResult:
    """Publish everything in the outbox now, then a final checkpoint per court."""
    return run(s, once=True, wait=True, progress=progress)


def unsent(s: Settings) -> int:
    conn = store.open_store(s, "hub-court-unsent")
    try:
        with db.unit_of_work(conn) as uow:
            sch = store.schema(s)
            uow.cursor.execute(
                f"SELECT count(*) FROM {sch}.outbox o JOIN {sch}.courts c"
                f" ON c.court_code = o.court_code WHERE {store.UNSENT}")
            return int(uow.cursor.fetchone()[0])
    finally:
        conn.close()


def drain_after_submit(
    s: Settings, timeout: float = 60.0, progress: Callable[[int], None] | None = None,
    preloaded: Sequence[Row] = (), early: EarlyRelay | None = None,
) -> RelayResult:
    """`submit`'s own drain (`preloaded`: the outbox rows it just committed, published
    without reading them back when nothing else is pending; `early`: the relay it started
    while recording). If another relay holds the lock, it will publish our rows: wait
    until the outbox is empty or the lock frees, up to `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return run(s, once=True, wait=False, progress=progress, preloaded=preloaded,
                       early=early)
        except RelayBusy:
            early = None  # taken by run
            if unsent(s) == 0:
                return RelayResult(note="published by the running relay")
            if time.monotonic() > deadline:
                return RelayResult(note="left for the running relay")
            time.sleep(0.2)
