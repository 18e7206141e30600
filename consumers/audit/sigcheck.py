"""Ed25519 checks of record signatures, inline or in a process pool.

One Ed25519 verify costs ~56 µs here (libsodium), more than the rest of the auditor's
per-record work, so `hub audit verify` hands batches to worker processes (both cores) while
the main process reads Kafka and checks order, chain and Merkle tree. `SigChecker` gives
results back in order (acknowledgements, checkpoints); `SigPool` is fire-and-forget with
failures collected later (court events that no checkpoint covers, sampled ones)."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hub.ledger import SignatureError, TrustStore, read_signature_headers

BATCH = 1000
_trust: TrustStore | None = None


def _init(path: str) -> None:
    global _trust
    _trust = TrustStore.load(path)


def _verify_with(trust: TrustStore, items: list[tuple[str, bytes, bytes]]
                 ) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for i, (signer, value, sig) in enumerate(items):
        try:
            trust.verify(signer, value, sig)
        except SignatureError as e:
            out.append((i, str(e)))
    return out


def _verify_batch(items: list[tuple[str, bytes, bytes]]) -> list[tuple[int, str]]:
    assert _trust is not None
    return _verify_with(_trust, items)


def make_pool(trust_path: Path, jobs: int) -> Any:
    """`jobs` worker processes holding the trust store (None when jobs is 0)."""
    if jobs <= 0:
        return None
    ctx = multiprocessing.get_context("fork")
    return ctx.Pool(jobs, initializer=_init, initargs=(str(trust_path),))


def signer_of(record: Any) -> tuple[str, bytes] | str:
    """(signer, signature) from the headers, or the reason they are unusable."""
    if record.value is None:
        return "record has no value"
    try:
        found = read_signature_headers(record.headers)
    except SignatureError as e:
        return str(e)
    if found is None:
        return "record is not signed (no hub-sig / hub-signer headers)"
    return found


class SigChecker:
    """`checked(records)` yields (record, signer, error or None) in input order."""

    def __init__(self, trust_path: Path, jobs: int = 0, pool: Any = None) -> None:
        """With `pool` (from make_pool), share it: the caller closes it."""
        self.jobs = max(jobs, 1) if pool is not None else jobs
        self._trust = TrustStore.load(trust_path)
        self._owned = pool is None
        self._pool = pool if pool is not None else make_pool(trust_path, jobs)

    def close(self) -> None:
        if self._pool is not None and self._owned:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> SigChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def checked(self, records: Iterable[Any]) -> Iterator[tuple[Any, str, str | None]]:
        if self._pool is None:
            for r in records:
                found = signer_of(r)
                if isinstance(found, str):
                    yield r, "?", found
                    continue
                try:
                    self._trust.verify(found[0], r.value, found[1])
                    yield r, found[0], None
                except SignatureError as e:
                    yield r, found[0], str(e)
            return
        inflight: deque[tuple[list[Any], list[Any], Any]] = deque()
        batch: list[Any] = []

        def submit() -> None:
            meta: list[Any] = []  # per record: (signer, early error)
            items: list[tuple[str, bytes, bytes]] = []
            index: list[int] = []
            for j, r in enumerate(batch):
                found = signer_of(r)
                if isinstance(found, str):
                    meta.append(("?", found))
                else:
                    meta.append((found[0], None))
                    index.append(j)
                    items.append((found[0], r.value, found[1]))
            assert self._pool is not None
            inflight.append((list(batch), [meta, index], self._pool.apply_async(
                _verify_batch, (items,))))
            batch.clear()

        def drain_one() -> Iterator[tuple[Any, str, str | None]]:
            recs, (meta, index), result = inflight.popleft()
            errors = {index[i]: reason for i, reason in result.get()}
            for j, r in enumerate(recs):
                signer, early = meta[j]
                yield r, signer, early or errors.get(j)

        for r in records:
            batch.append(r)
            if len(batch) >= BATCH:
                submit()
                while len(inflight) > 2 * self.jobs + 1:
                    yield from drain_one()
        if batch:
            submit()
        while inflight:
            yield from drain_one()


class SigPool:
    """Unordered, asynchronous signature checks: `add` items as they come, collect the
    failures with `failures()` / `finish()`. Used by checkpoint-mode `hub audit verify` for
    the events that no valid checkpoint covers and for the sampled covered ones, so the main
    process never waits on a verify unless the workers fall behind (then it blocks: bounded
    memory)."""

    def __init__(self, trust_path: Path, jobs: int = 0, pool: Any = None) -> None:
        self.jobs = max(jobs, 1)
        self._trust = TrustStore.load(trust_path)
        self._pool = pool
        self._batch: list[tuple[str, bytes, bytes]] = []
        self._tags: list[Any] = []
        self._inflight: deque[tuple[list[Any], Any]] = deque()
        self._failed: list[tuple[Any, str]] = []
        self.submitted = 0

    def add(self, tag: Any, signer: str, value: bytes, sig: bytes) -> None:
        self.submitted += 1
        self._batch.append((signer, value, sig))
        self._tags.append(tag)
        if len(self._batch) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._batch:
            return
        items, tags = self._batch, self._tags
        self._batch, self._tags = [], []
        if self._pool is None:
            self._failed.extend((tags[i], reason) for i, reason in _verify_with(self._trust,
                                                                               items))
            return
        self._inflight.append((tags, self._pool.apply_async(_verify_batch, (items,))))
        while len(self._inflight) > 2 * self.jobs + 1:
            self._collect_one()
        while self._inflight and self._inflight[0][1].ready():
            self._collect_one()

    def _collect_one(self) -> None:
        tags, result = self._inflight.popleft()
        self._failed.extend((tags[i], reason) for i, reason in result.get())

    def failures(self) -> list[tuple[Any, str]]:
        """(tag, reason) of the failed checks finished so far; each is returned once."""
        out, self._failed = self._failed, []
        return out

    def finish(self) -> list[tuple[Any, str]]:
        self.flush()
        while self._inflight:
            self._collect_one()
        return self.failures()

    def check_now(self, items: list[tuple[str, bytes, bytes]]) -> list[tuple[int, str]]:
        """Check `items` at once, split over the workers; (index, reason) of the failures."""
        if self._pool is None or len(items) < 64:
            return _verify_with(self._trust, items)
        size = -(-len(items) // (2 * self.jobs))
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        out: list[tuple[int, str]] = []
        for k, failed in enumerate(self._pool.map(_verify_batch, chunks)):
            out.extend((k * size + i, reason) for i, reason in failed)
        return out
