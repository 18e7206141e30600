"""Running the relay (`producers.court.relay.Relay`): `hub court relay` (long-running,
woken by NOTIFY), `drain` (publish everything now) and the drain that ends a submit.
Only one relay publishes at a time: the PostgreSQL advisory lock of `relay.lock_key`."""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence

from hub import db
from hub.config import Settings
from hub.db import Connection
from producers.court import store
from producers.court.relay import Relay, RelayBusy, RelayResult, Row, lock_key, try_lock


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
) -> RelayResult:
    """Relay until the outbox is empty (`once`) or forever. Only one relay publishes at a
    time (PostgreSQL advisory lock): a second one waits (`wait`) or raises RelayBusy.
    `preloaded`: rows just committed by this process's submit (`Relay.usable`)."""
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
                    return RelayResult(note="stopped while waiting for the relay lock")
                time.sleep(poll_seconds)
        relay = Relay(s, conn)
        listener = None if once else _listen(s)
        try:
            relay.recover()
            while True:
                relay.publish(progress, preloaded)
                preloaded = ()
                # A drain that ends (--once, or a stop request) ends covered by a checkpoint.
                stopping = once or bool(should_stop and should_stop())
                relay.issue_checkpoints(final=stopping)
                if stopping:
                    break
                _wait_for_rows(listener, poll_seconds)
            return relay.result
        finally:
            relay.close()
            if listener is not None:
                listener.close()
    finally:
        conn.close()  # ends the session: releases the advisory lock


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
    preloaded: Sequence[Row] = (),
) -> RelayResult:
    """`submit`'s own drain (`preloaded`: the outbox rows it just committed, published
    without reading them back when nothing else is pending). If another relay holds the
    lock, it will publish our rows: wait until the outbox is empty or the lock frees, up
    to `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return run(s, once=True, wait=False, progress=progress, preloaded=preloaded)
        except RelayBusy:
            if unsent(s) == 0:
                return RelayResult(note="published by the running relay")
            if time.monotonic() > deadline:
                return RelayResult(note="left for the running relay")
            time.sleep(0.2)
