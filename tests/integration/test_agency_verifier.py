"""The agency consumer's signature worker process (consumers/agency/verifier.py): the same
answers as an in-process check, in submission order, and a fallback when it is gone."""

from __future__ import annotations

import pytest
from nacl.bindings import crypto_sign_open

from consumers.agency.verifier import Verifier, failures, signatures
from hub.ledger import generate_key

pytestmark = pytest.mark.integration


def _items(n: int, bad: set[int]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    key = generate_key("court:350402")
    pub = key.public_bytes()
    items = []
    for i in range(n):
        value = f"event {i}".encode()
        sig = key.sign(value)
        if i in bad:
            sig = bytes(64 - 1) + b"\x01"
        items.append((pub, sig + value))
    return items, key.sodium_secret()


def test_worker_matches_in_process_and_keeps_order() -> None:
    items, secret = _items(300, {0, 7, 299})
    v = Verifier(min_remote=1)
    try:
        first = v.submit(items)
        signing = v.submit_sign(secret, [b"a", b"b"])
        second = v.submit(items[:10])
        # collected out of submission order: the sign answer first (as the consumer does)
        sigs = v.collect(signing)
        assert [crypto_sign_open(s + m, items[1][0]) for s, m in zip(sigs, [b"a", b"b"], strict=True)] == [b"a", b"b"]
        assert v.collect(second) == [0, 7]
        assert v.collect(first) == [0, 7, 299] == failures(items)
        assert first.remote and second.remote
        assert sigs == signatures(secret, [b"a", b"b"])
    finally:
        v.close()


def test_dead_worker_falls_back_to_in_process() -> None:
    items, _ = _items(20, {3})
    v = Verifier(min_remote=1)
    try:
        v.submit(items[:1])
        v._proc.kill()  # noqa: SLF001 - simulate a crashed worker
        v._proc.wait()  # noqa: SLF001
        t = v.submit(items)
        assert v.collect(t) == [3]
    finally:
        v.close()
