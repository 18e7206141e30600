"""Ed25519 checks of a polled batch in a worker process, so they use the second core while
this process folds and writes the previous batch (issue #5; a verify costs ~56 µs, about a
third of the per-event work).

The worker only answers "which of these (public key, signature + value) fail": choosing
the key (trust store, unknown signer), the header checks and the decode stay in the
consumer (`projection.Folder`), so a record is believed on exactly the same terms as
`hub.signed.verify_record` (signature over the exact value bytes, trusted signer, decode,
signer matches the record's court). Results come back in submission order. If the worker
cannot be started or dies, the check runs in this process: slower, never skipped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from nacl.bindings import crypto_sign, crypto_sign_open
from nacl.exceptions import BadSignatureError

from hub.log import get_logger
from hub.workers import child_pipes, receive, spawn, stop

log = get_logger("hub.agency")

Item = tuple[bytes, bytes]  # (raw public key, signature + value: libsodium's signed message)


def failures(items: list[Item]) -> list[int]:
    """Indices of the items whose signature does not verify."""
    failed: list[int] = []
    for i, (key, signed) in enumerate(items):
        try:
            crypto_sign_open(signed, key)
        except (BadSignatureError, ValueError):
            failed.append(i)
    return failed


def signatures(secret: bytes, values: list[bytes]) -> list[bytes]:
    """Ed25519 signatures of `values` (libsodium secret key, as hub.ledger.SigningKey)."""
    return [crypto_sign(v, secret)[:64] for v in values]


def _work(kind: str, payload: Any) -> Any:
    if kind == "sign":
        return signatures(*payload)
    return failures(payload)


def _serve() -> None:
    """The worker process (`python -m consumers.agency.verifier`): requests on stdin,
    answers on stdout (`hub.workers`)."""
    inbox, outbox = child_pipes()
    while (msg := receive(inbox)) is not None:
        ticket, kind, payload = msg
        outbox.send((ticket, _work(kind, payload)))


@dataclass
class Ticket:
    id: int
    items: Any  # verify: list[Item]; sign: (secret, values)
    remote: bool
    result: Any = None
    kind: str = "verify"


@dataclass
class Verifier:
    """Submit batches, then collect their results in the same order (`collect`)."""

    min_remote: int = 256  # smaller batches are checked here: IPC would cost more than it saves
    _proc: Any = None
    _conn: Any = None  # requests
    _answers: Any = None
    _broken: bool = False
    _next: int = 0
    _waiting: deque[int] = field(default_factory=deque)
    _done: dict[int, Any] = field(default_factory=dict)

    def _worker(self) -> Any:
        if self._broken:
            return None
        if self._proc is None:
            try:
                self._proc, self._conn, self._answers = spawn("consumers.agency.verifier")
            except Exception as e:  # noqa: BLE001 - fall back to checking here
                self._give_up(e)
                return None
        return self._conn

    def _give_up(self, cause: BaseException) -> None:
        log.warning("signature worker unavailable; verifying in process",
                    cause=f"{type(cause).__name__}: {cause}"[:200])
        self._broken = True
        self.close()

    def submit(self, items: list[Item]) -> Ticket:
        return self._submit("verify", items, len(items))

    def submit_sign(self, secret: bytes, values: list[bytes]) -> Ticket:
        """Signatures of acks, made in the worker while the projection is written."""
        return self._submit("sign", (secret, values), len(values))

    def _submit(self, kind: str, payload: Any, size: int) -> Ticket:
        self._next += 1
        t = Ticket(self._next, payload, remote=False, kind=kind)
        conn = self._worker() if size >= self.min_remote else None
        if conn is not None:
            try:
                conn.send((t.id, kind, payload))
                t.remote = True
                self._waiting.append(t.id)
            except (OSError, ValueError, EOFError) as e:
                self._give_up(e)
        return t

    def collect(self, t: Ticket) -> Any:
        if t.result is not None:
            return t.result
        if t.remote and t.id in self._done:
            t.result = self._done.pop(t.id)
            return t.result
        if t.remote and self._answers is not None:
            try:
                while self._waiting:
                    tid, answer = self._answers.recv()
                    self._waiting.popleft()
                    if tid == t.id:
                        t.result = answer
                        return answer
                    # a ticket submitted earlier, collected later (a batch's verification
                    # while the previous batch's acks are signed) or abandoned (a batch
                    # dropped after a rebalance): keep a few
                    self._done[tid] = answer
                    while len(self._done) > 8:
                        del self._done[min(self._done)]
            except (OSError, EOFError, ValueError) as e:
                self._give_up(e)
        t.result = _work(t.kind, t.items)
        return t.result

    def close(self) -> None:
        conn, answers, proc = self._conn, self._answers, self._proc
        self._conn = self._answers = self._proc = None
        self._waiting.clear()
        self._done.clear()
        stop(proc, conn, answers)

if __name__ == "__main__":
    _serve()
