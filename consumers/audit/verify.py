"""`hub audit verify`: replay the court log, the checkpoints and every acknowledgement
topic from offset 0 and check each rule; name each failure by topic, partition, offset.

Memory stays bounded per court: the reorder window (events of one court are spread over
partitions by listing_id, so they arrive interleaved), a MerkleAccumulator (O(log n)), and
two 8-byte fingerprints per event (value and event_id) so that a later duplicate and every
acknowledgement's reference can be checked: 16 bytes an event, ~16 MB per million."""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from consumers.audit import replay
from consumers.audit.fastmeta import read_meta
from consumers.audit.sigcheck import SigChecker
from hub import codec
from hub.config import Settings
from hub.domain.events import COURT_EVENT_TYPES
from hub.keys import court_signer, unit_signer
from hub.ledger import (
    GENESIS_HASH,
    MerkleAccumulator,
    chain_hash,
    consistency_proof,
    leaf_hash,
    verify_consistency,
)

COURT_RECORDS = {t.AVRO_NAME for t in COURT_EVENT_TYPES}  # type: ignore[attr-defined]
# Events waiting for a missing court_seq; past this many the missing ones are a gap.
MAX_WINDOW = 100_000
# Leaves kept for real RFC 9162 consistency proofs while a court's tree is this small.
LEAF_CAP = 1 << 12
MAX_FAILURES = 1000


def fp64(data: bytes) -> int:
    return int.from_bytes(data[:8], "big")


def id_fp(event_id: str) -> int:
    return fp64(hashlib.blake2b(event_id.encode(), digest_size=8).digest())


Loc = tuple[str, int, int]


@dataclass
class _Checkpoint:
    tree_size: int
    root: bytes
    loc: Loc


@dataclass
class _Court:
    next_seq: int = 1
    pending: dict[int, tuple[Loc, bytes, Any]] = field(default_factory=dict)
    acc: MerkleAccumulator = field(default_factory=MerkleAccumulator)
    prev: bytes = GENESIS_HASH  # chain_hash of the last value in sequence
    value_fp: array = field(default_factory=lambda: array("Q"))
    event_fp: array = field(default_factory=lambda: array("Q"))
    locs: array = field(default_factory=lambda: array("q"))  # partition<<48 | offset
    leaves: list[bytes] | None = field(default_factory=list)
    checkpoints: list[_Checkpoint] = field(default_factory=list)  # ascending tree_size
    last_cp: _Checkpoint | None = None
    part_last: dict[int, int] = field(default_factory=dict)


@dataclass
class Report:
    events_checked: int = 0
    acks_checked: int = 0
    checkpoints_checked: int = 0
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
        out = {"ok": self.ok, "events_checked": self.events_checked,
               "acks_checked": self.acks_checked,
               "checkpoints_checked": self.checkpoints_checked, "failures": self.failures}
        if self.failures_total > len(self.failures):
            out["failures_total"] = self.failures_total
        return out


def _loc(r: Any) -> Loc:
    return (r.topic, r.partition, r.offset)


class Verifier:
    def __init__(self, court_topic: str = "") -> None:
        self.report = Report()
        self.courts: dict[str, _Court] = {}
        self.court_topic = court_topic

    def court(self, code: str) -> _Court:
        c = self.courts.get(code)
        if c is None:
            c = self.courts[code] = _Court()
        return c

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self, r: Any, signer: str, sig_error: str | None) -> None:
        loc = _loc(r)
        if sig_error:
            self.report.fail(loc, "checkpoint_signature", sig_error)
            return
        try:
            name, rec = codec.decode_dict(r.value)
        except codec.CodecError as e:
            self.report.fail(loc, "decode", str(e))
            return
        if name != "credithub.court.CourtCheckpoint":
            self.report.fail(loc, "decode", f"{name} on the checkpoint topic")
            return
        code = rec["court_code"]
        if signer != court_signer(code):
            self.report.fail(loc, "signer_mismatch", f"signed by {signer}, checkpoint of "
                                                     f"{court_signer(code)}")
            return
        c = self.court(code)
        cp = _Checkpoint(rec["tree_size"], rec["root_hash"], loc)
        if c.checkpoints and cp.tree_size < c.checkpoints[-1].tree_size:
            # One court's checkpoints share a partition (key = court_code): log order is
            # issue order, and a log only grows.
            self.report.fail(loc, "checkpoint_regression",
                             f"court {code}: tree_size {cp.tree_size} after "
                             f"{c.checkpoints[-1].tree_size}")
            return
        c.checkpoints.append(cp)

    # ------------------------------------------------------------------ court events
    def event(self, r: Any, signer: str, sig_error: str | None) -> None:
        loc = _loc(r)
        if sig_error:
            self.report.fail(loc, "signature", sig_error)
            return
        try:
            meta = read_meta(r.value)
        except codec.CodecError as e:
            self.report.fail(loc, "decode", str(e))
            return
        if meta.record not in COURT_RECORDS:
            self.report.fail(loc, "decode", f"{meta.record} on the court topic")
            return
        if signer != court_signer(meta.court_code):
            self.report.fail(loc, "signer_mismatch",
                             f"signed by {signer}, event of {court_signer(meta.court_code)}")
            return
        c = self.court(meta.court_code)
        seq = meta.court_seq
        vh = chain_hash(r.value)
        if seq < c.next_seq:
            same = seq >= 1 and c.value_fp[seq - 1] == fp64(vh)
            self._duplicate(loc, meta.court_code, seq, same, c, seq - 1)
            return
        if seq in c.pending:
            same = chain_hash(c.pending[seq][1]) == vh
            self._duplicate(loc, meta.court_code, seq, same, c, None)
            return
        last = c.part_last.get(r.partition)
        if last is not None and seq < last:
            self.report.fail(loc, "reordered", f"court {meta.court_code}: court_seq {seq} "
                                               f"after {last} in the same partition")
        c.part_last[r.partition] = max(seq, last or 0)
        if seq != c.next_seq:
            c.pending[seq] = (loc, r.value, meta)
            if len(c.pending) > MAX_WINDOW:
                self._gap(meta.court_code, c)
            return
        self._in_order(c, meta.court_code, loc, r.value, meta, vh)
        while c.next_seq in c.pending:
            ploc, value, pmeta = c.pending.pop(c.next_seq)
            self._in_order(c, meta.court_code, ploc, value, pmeta, chain_hash(value))

    def _duplicate(self, loc: Loc, code: str, seq: int, same: bool, c: _Court,
                   index: int | None) -> None:
        first = ""
        if index is not None and 0 <= index < len(c.locs):
            packed = c.locs[index]
            first = f" (first at partition {packed >> 48}, offset {packed & ((1 << 48) - 1)})"
        if same:
            self.report.fail(loc, "duplicate", f"court {code}: second copy of court_seq {seq}"
                                               f"{first}")
        else:
            self.report.fail(loc, "duplicate_court_seq",
                             f"court {code}: a different event with court_seq {seq}{first}")

    def _gap(self, code: str, c: _Court) -> None:
        nxt = min(c.pending)
        loc = c.pending[nxt][0]
        self.report.fail(loc, "gap", f"court {code}: court_seq {c.next_seq}..{nxt - 1} missing")
        # The tree can no longer match any checkpoint; keep numbering from what is there.
        while c.next_seq < nxt:
            c.value_fp.append(0)
            c.event_fp.append(0)
            c.locs.append(-1)
            c.next_seq += 1
        c.leaves = None
        c.prev = b""
        while c.next_seq in c.pending:
            ploc, value, pmeta = c.pending.pop(c.next_seq)
            self._in_order(c, code, ploc, value, pmeta, chain_hash(value))

    def _in_order(self, c: _Court, code: str, loc: Loc, value: bytes, meta: Any,
                  vh: bytes) -> None:
        self.report.events_checked += 1
        if c.prev and meta.prev_hash != c.prev:
            self.report.fail(loc, "hash_chain", f"court {code}: prev_hash of court_seq "
                                                f"{meta.court_seq} is not SHA-256 of court_seq "
                                                f"{meta.court_seq - 1}")
        c.prev = vh
        lh = leaf_hash(value)
        c.acc.append(lh)
        if c.leaves is not None:
            c.leaves.append(lh)
            if len(c.leaves) > LEAF_CAP:
                c.leaves = None
        c.value_fp.append(fp64(vh))
        c.event_fp.append(id_fp(meta.event_id))
        c.locs.append((loc[1] << 48) | loc[2])
        c.next_seq += 1
        size = c.acc.size
        while c.checkpoints and c.checkpoints[0].tree_size <= size:
            self._check_checkpoint(c, code, c.checkpoints.pop(0), size)

    def _check_checkpoint(self, c: _Court, code: str, cp: _Checkpoint, size: int) -> None:
        self.report.checkpoints_checked += 1
        if cp.tree_size < size:  # only when a checkpoint of size 0 or a gap skipped it
            if cp.tree_size > 0 or cp.root != hashlib.sha256(b"").digest():
                self.report.fail(cp.loc, "checkpoint_root",
                                 f"court {code}: tree_size {cp.tree_size} never verified")
            return
        root = c.acc.root()
        if root != cp.root:
            self.report.fail(cp.loc, "checkpoint_root", f"court {code}: root over court_seq "
                                                        f"1..{size} differs from the log's")
            return
        old = c.last_cp
        if old is not None and old.tree_size < cp.tree_size:
            # Consistency (RFC 9162 §2.1.4): both roots were recomputed here from one and
            # the same verified leaf sequence (old = its first m leaves), which is exactly
            # what a consistency proof establishes. While the leaves are still in memory
            # (small courts), also build and check the RFC proof itself.
            if c.leaves is not None:
                proof = consistency_proof(old.tree_size, c.leaves[:cp.tree_size])
                if not verify_consistency(old.tree_size, cp.tree_size, old.root, cp.root,
                                          proof):
                    self.report.fail(cp.loc, "checkpoint_consistency",
                                     f"court {code}: {old.tree_size} -> {cp.tree_size}")
        elif old is not None and old.tree_size == cp.tree_size and old.root != cp.root:
            self.report.fail(cp.loc, "checkpoint_consistency", f"court {code}: two roots "
                                                               f"for tree_size {cp.tree_size}")
        c.last_cp = cp

    def finish_court(self) -> None:
        for code, c in self.courts.items():
            if c.pending:
                self._gap(code, c)
            for cp in c.checkpoints:
                self.report.checkpoints_checked += 1
                self.report.fail(cp.loc, "checkpoint_beyond_log",
                                 f"court {code}: tree_size {cp.tree_size} > {c.acc.size} events")
            c.checkpoints = []
            # The same event_id under two court_seqs: sort the fingerprints once at the end
            # rather than keep a set of every id.
            ordered = sorted(range(len(c.event_fp)), key=c.event_fp.__getitem__)
            for a, b in zip(ordered, ordered[1:], strict=False):
                if c.event_fp[a] and c.event_fp[a] == c.event_fp[b]:
                    later = max(a, b)
                    packed = c.locs[later]
                    loc = (self.court_topic, packed >> 48, packed & ((1 << 48) - 1))
                    self.report.fail(loc, "duplicate_event_id", f"court {code}: court_seq "
                                     f"{min(a, b) + 1} and {later + 1} share an event_id")

    # ------------------------------------------------------------------ acknowledgements
    def ack(self, r: Any, unit: str, signer: str, sig_error: str | None) -> None:
        loc = _loc(r)
        self.report.acks_checked += 1
        if sig_error:
            self.report.fail(loc, "ack_signature", sig_error)
            return
        try:
            name, rec = codec.decode_dict(r.value)
        except codec.CodecError as e:
            self.report.fail(loc, "decode", str(e))
            return
        if name != "credithub.unit.UnitAcknowledged":
            self.report.fail(loc, "decode", f"{name} on an acknowledgement topic")
            return
        if signer != unit_signer(rec["unit"]) or rec["unit"] != unit:
            self.report.fail(loc, "signer_mismatch", f"signed by {signer}, ack of unit "
                                                     f"{rec['unit']} on the topic of {unit}")
            return
        c = self.courts.get(rec["court_code"])
        seq = rec["court_seq"]
        if c is None or not 1 <= seq <= len(c.event_fp) or c.event_fp[seq - 1] != id_fp(
                rec["event_id"]):
            self.report.fail(loc, "ack_unknown_event",
                             f"event {rec['event_id']} (court {rec['court_code']}, court_seq "
                             f"{seq}) is not in the court log")


def run(s: Settings, *, jobs: int = 2, progress: bool = True) -> Report:
    v = Verifier(s.court_topic)
    acks = replay.ack_topics(s)
    with SigChecker(s.trust_store_path, jobs) as sc:
        for r, signer, err in sc.checked(replay.read(s, [s.checkpoint_topic], progress=progress,
                                                     label="checkpoints")):
            v.checkpoint(r, signer, err)
        for r, signer, err in sc.checked(replay.read(s, [s.court_topic], progress=progress,
                                                     label="court events")):
            v.event(r, signer, err)
        v.finish_court()
        if acks:
            units = {t: replay.unit_of_ack_topic(s, t) for t in acks}
            recs: Iterable[Any] = replay.read(s, acks, progress=progress, label="acks")
            for r, signer, err in sc.checked(recs):
                v.ack(r, units[r.topic], signer, err)
    return v.report
