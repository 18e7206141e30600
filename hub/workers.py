"""Helper processes that speak `multiprocessing.connection` frames over stdin/stdout.

Started as `python -m MODULE PARENT_PID` (not multiprocessing's spawn, which re-runs the
parent's `__main__`, e.g. the `hub` CLI, in the child; not fork, which would copy the
kafka-python threads of a parent that already holds a producer). Used by the agency's
signature worker (`consumers.agency.verifier`)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import Any

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def spawn(module: str) -> tuple[Any, Connection, Connection]:
    """Start `python -m module`; returns (process, requests, answers)."""
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", module, str(os.getpid())],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
    assert proc.stdin is not None and proc.stdout is not None  # noqa: S101 - PIPE
    requests = Connection(os.dup(proc.stdin.fileno()), readable=False)
    answers = Connection(os.dup(proc.stdout.fileno()), writable=False)
    proc.stdin.close()
    proc.stdout.close()
    return proc, requests, answers


def child_pipes(die_with_parent: bool = False) -> tuple[Connection, Connection]:
    """In the child: (requests, answers) on stdin/stdout; stdout then points at stderr, so
    a stray print cannot corrupt the answers. `die_with_parent`: SIGKILL this process the
    moment its parent dies (Linux), e.g. a relay killed with -9 must not leave a sender
    publishing behind the back of the relay that replaces it."""
    if die_with_parent:
        _die_with_parent()
    inbox = Connection(os.dup(0), writable=False)
    outbox = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)
    return inbox, outbox


def receive(inbox: Connection) -> Any:
    """The next request, or None at its end (None sent, or the parent gone)."""
    try:
        return inbox.recv()
    except (EOFError, OSError):
        return None


def _die_with_parent() -> None:
    expected = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the child still ends at EOF on stdin
        pass
    if expected is not None and os.getppid() != expected:
        os._exit(1)  # the parent died before the signal was armed


def stop(proc: Any, *conns: Connection | None) -> None:
    """Ask the child to end (None), close the pipes, wait for it (kill after 2 s)."""
    requests = conns[0] if conns else None
    if requests is not None:
        try:
            requests.send(None)
        except Exception:  # noqa: BLE001, S110 - the child may already be gone
            pass
    for c in conns:
        if c is not None:
            c.close()
    if proc is not None:
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=2)
