"""The submit's signer (`producers.court.submit._Signer`) with real worker processes: the
thread that encodes the signed chunks' Kafka records ends with the submit, even when the
workers never answer (a submit that fails after its main loop terminates its pool)."""

from __future__ import annotations

import os
import threading
import time

import pytest

from hub.ledger import generate_key
from producers.court import submit as submit_module

pytestmark = pytest.mark.integration


def _records_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "court-records" and t.is_alive()]


def test_the_records_thread_ends_when_the_submit_ends_before_its_workers(hub_settings):
    before = len(_records_threads())
    pool = submit_module._pool(submit_module.POOL_FROM)
    assert pool is not None
    try:
        # Every worker busy for a minute: the signing chunks queue behind.
        busy = [pool.apply_async(time.sleep, (60,)) for _ in range(os.cpu_count() or 1)]
        heads = {"350402": submit_module._Head(0, b"", generate_key("court:350402"))}
        gone = threading.Event()
        signer = submit_module._Signer(hub_settings, heads, pool, gone)
        for i in range(submit_module.SIGN_CHUNK + 500):
            signer.add("350402", b"value %d" % i, f"L{i}", f"E{i}", i)
        signer.flush()
        assert len(_records_threads()) == before + 1
        assert not any(b.ready() for b in busy)
    finally:
        gone.set()  # as `submit` does before terminating its pool
        pool.terminate()
        pool.join()
    deadline = time.monotonic() + 10
    while len(_records_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_records_threads()) == before
    with pytest.raises(RuntimeError, match="ended before its values were signed"):
        list(signer.chunks("350402"))


def test_the_pool_replaces_a_dead_worker_though_results_do_not_wake_its_maintenance():
    """`_Pool`'s maintenance thread waits on the workers and its notifier only (not on the
    results pipe, on which it would spin), and still replaces a worker that died."""
    pool = submit_module._pool(submit_module.POOL_FROM)
    assert isinstance(pool, submit_module._Pool)
    try:
        assert pool._outqueue._reader not in pool._get_sentinels()
        pids = {p.pid for p in pool._pool}
        pool.apply_async(os._exit, (0,))  # a worker dies in the middle of a task
        deadline = time.monotonic() + 10
        while len({p.pid for p in pool._pool} - pids) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len({p.pid for p in pool._pool} - pids) == 1  # a new worker took its place
        assert pool.map(abs, range(-50, 0), chunksize=5) == list(range(50, 0, -1))
    finally:
        pool.terminate()
        pool.join()


def test_terminate_drains_tasks_until_the_task_thread_has_ended():
    """A task thread that starts writing a large task after the pipe was found empty (it
    had taken the task just before `terminate`): the drain goes on until it ends, instead
    of leaving it blocked on a pipe no worker reads (a failed submit hung there)."""
    import multiprocessing

    inqueue = multiprocessing.get_context("fork").SimpleQueue()
    writer = threading.Thread(target=lambda: (time.sleep(0.2), inqueue.put(b"x" * (1 << 20))),
                              daemon=True)
    writer.start()
    try:
        submit_module._Pool._help_stuff_finish(inqueue, writer, 2)
        writer.join(5)
        assert not writer.is_alive()
    finally:
        inqueue._reader.close()  # frees a writer left blocked (only if the drain failed)
        inqueue._rlock.release()
