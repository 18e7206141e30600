"""Ed25519 checks of record signatures, inline or in a process pool.

One Ed25519 verify costs ~150 µs here, several times the rest of the auditor's per-record
work, so `hub audit verify` hands batches to worker processes (both cores) while the main
process reads Kafka and checks order, chain and Merkle tree; results come back in order."""

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


def _verify_batch(items: list[tuple[str, bytes, bytes]]) -> list[tuple[int, str]]:
    assert _trust is not None
    out: list[tuple[int, str]] = []
    for i, (signer, value, sig) in enumerate(items):
        try:
            _trust.verify(signer, value, sig)
        except SignatureError as e:
            out.append((i, str(e)))
    return out


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

    def __init__(self, trust_path: Path, jobs: int = 0) -> None:
        self.jobs = jobs
        self._trust = TrustStore.load(trust_path)
        self._pool = None
        if jobs > 0:
            ctx = multiprocessing.get_context("fork")
            self._pool = ctx.Pool(jobs, initializer=_init, initargs=(str(trust_path),))

    def close(self) -> None:
        if self._pool is not None:
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
