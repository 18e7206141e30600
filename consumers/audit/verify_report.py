"""The result of `hub audit verify` and the small record helpers its hot path shares:
failures named by topic, partition and offset; how each court event was authenticated."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from hub.ledger import (
    SIG_HEADER,
    SIGNATURE_SIZE,
    SIGNER_HEADER,
    SignatureError,
    read_signature_headers,
)

MAX_FAILURES = 1000
CHECKPOINT_MODE = "checkpoint"
ALL_MODE = "all-signatures"

Loc = tuple[str, int, int]


def fp64(data: bytes) -> int:
    return int.from_bytes(data[:8], "big")


def id_fp(event_id: str) -> int:
    return fp64(hashlib.blake2b(event_id.encode(), digest_size=8).digest())


def loc_of(r: Any) -> Loc:
    return (r.topic, r.partition, r.offset)


_SIGNERS: dict[bytes, str] = {}


def signature_of(r: Any) -> tuple[str, bytes] | str:
    """(signer, signature) from a record's headers, or why they are unusable."""
    return signature_in(r.value, r.headers)


def signature_in(value: bytes | None, h: Any) -> tuple[str, bytes] | str:
    """signature_of from a value and its headers. The usual two-header layout takes a fast
    path (validated signer names are memoised); anything else goes through
    hub.ledger.read_signature_headers."""
    if value is None:
        return "record has no value"
    if h and len(h) == 2 and h[0][0] == SIG_HEADER and h[1][0] == SIGNER_HEADER:
        sig, raw = h[0][1], h[1][1]
        signer = _SIGNERS.get(raw)
        if signer is not None and isinstance(sig, bytes) and len(sig) == SIGNATURE_SIZE:
            return signer, sig
    try:
        found = read_signature_headers(h)
    except SignatureError as e:
        return str(e)
    if found is None:
        return "record is not signed (no hub-sig / hub-signer headers)"
    if h and len(h) == 2 and h[1][0] == SIGNER_HEADER and len(_SIGNERS) < 10_000:
        _SIGNERS[bytes(h[1][1])] = found[0]
    return found


@dataclass
class Report:
    mode: str = CHECKPOINT_MODE
    sample_rate: float = 0.0
    events_checked: int = 0
    acks_checked: int = 0  # acknowledgements: old records and batch entries
    ack_batches_checked: int = 0
    unit_checkpoints_checked: int = 0
    checkpoints_checked: int = 0
    # How each court event's signature was established (checkpoint mode): covered by a
    # signed checkpoint whose root matched, checked one by one, and sampled covered ones.
    covered_by_checkpoint: int = 0
    signatures_checked: int = 0
    sampled: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    failures_total: int = 0

    @property
    def ok(self) -> bool:
        return self.failures_total == 0

    def fail(self, loc: Loc, rule: str, detail: str) -> None:
        self.failures_total += 1
        if len(self.failures) < MAX_FAILURES:
            self.failures.append({"topic": loc[0], "partition": loc[1], "offset": loc[2],
                                  "rule": rule, "detail": detail})

    def doc(self) -> dict[str, Any]:
        self.failures.sort(key=lambda f: (f["topic"], f["partition"], f["offset"]))
        out: dict[str, Any] = {
            "ok": self.ok, "mode": self.mode, "events_checked": self.events_checked,
            "acks_checked": self.acks_checked, "ack_batches_checked": self.ack_batches_checked,
            "unit_checkpoints_checked": self.unit_checkpoints_checked,
            "checkpoints_checked": self.checkpoints_checked,
            "event_signatures": {
                "covered_by_checkpoint": self.covered_by_checkpoint,
                "checked_individually": self.signatures_checked,
                "sampled": self.sampled, "sample_rate": self.sample_rate},
            "failures": self.failures}
        if self.failures_total > len(self.failures):
            out["failures_total"] = self.failures_total
        return out
