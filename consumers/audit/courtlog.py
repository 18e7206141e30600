"""The court-log half of `hub audit verify`: court_seq order, hash chain, Merkle tree,
checkpoints, second copies, and how each event's signature is established (issue #6).

A court's events are taken in court_seq order and held in an open segment until the court's
next checkpoint is reached. If that checkpoint's signature verified (checked when it was
read) and its root equals the root recomputed from the leaves in order, the segment is
authenticated by that one signature: the root commits to every leaf's exact bytes
(RFC 9162 §2.1), so a changed, missing or extra record changes it. Any segment that no valid
checkpoint covers - after the last checkpoint, a root that differs, a court without
checkpoints, past SEG_CAP - has its events' own Ed25519 signatures checked (both cores)
before it is accepted; a record whose signature fails is named `signature` and taken out of
the order again, so the genuine copy of its court_seq, if one comes later, takes its place.

Memory per court: the reorder window (events of one court are spread over partitions by
listing_id), the open segment (values since the last checkpoint, at most SEG_CAP), a
MerkleAccumulator (O(log n)) and 24 bytes per event in compact arrays: value fingerprint
(a duplicate vs a different event under one court_seq), event_id fingerprint (each
acknowledgement must name an event of the log; a reused event_id) and position (to name the
first copy) - about 24 MB per million events."""

from __future__ import annotations

import hashlib
import random
import secrets
from array import array
from dataclasses import dataclass, field
from typing import Any

from consumers.audit.fastmeta import Meta, read_meta
from consumers.audit.sigcheck import SigPool
from consumers.audit.verify_report import (
    ALL_MODE,
    CHECKPOINT_MODE,
    Loc,
    Report,
    fp64,
    id_fp,
)
from hub import codec
from hub.domain.events import COURT_EVENT_TYPES
from hub.keys import court_signer
from hub.ledger import (
    EMPTY_ROOT,
    GENESIS_HASH,
    MerkleAccumulator,
    SignatureError,
    TrustStore,
    consistency_proof,
    verify_consistency,
)

COURT_RECORDS = {t.AVRO_NAME for t in COURT_EVENT_TYPES}  # type: ignore[attr-defined]
# Events waiting for a missing court_seq; past this many the missing ones are a gap. The
# fetcher can run one partition well ahead of the others (values held: ~1 KB each).
MAX_WINDOW = 300_000
# In-order events held while waiting for the checkpoint that ends their segment; past this
# many (a court that stopped issuing checkpoints) they are checked one by one.
SEG_CAP = 20_000
# Leaves kept for real RFC 9162 consistency proofs while a court's tree is this small.
LEAF_CAP = 1 << 12
_sha256 = hashlib.sha256

# (location, value, signature, signer, envelope) of one court event
Entry = tuple[Loc, bytes, bytes, str, Meta]


@dataclass
class Checkpoint:
    tree_size: int
    root: bytes
    loc: Loc


@dataclass
class Court:
    code: str
    signer: str = ""
    next_seq: int = 1
    pending: dict[int, Entry] = field(default_factory=dict)
    seg: list[Entry] = field(default_factory=list)  # court_seq seg_base .. next_seq-1
    seg_base: int = 1
    verdicts: dict[int, bool] = field(default_factory=dict)  # own signatures known good
    acc: MerkleAccumulator = field(default_factory=MerkleAccumulator)
    broken: bool = False  # after a gap no root can match any more
    prev: bytes = GENESIS_HASH  # chain_hash of the last value in sequence
    value_fp: array = field(default_factory=lambda: array("Q"))
    event_fp: array = field(default_factory=lambda: array("Q"))
    locs: array = field(default_factory=lambda: array("q"))  # partition<<48 | offset
    leaves: list[bytes] | None = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)  # ascending tree_size
    last_cp: Checkpoint | None = None
    part_last: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.signer = court_signer(self.code)


def _unpack(packed: int) -> tuple[int, int]:
    return packed >> 48, packed & ((1 << 48) - 1)


class CourtLog:
    """`event()` every court record (after the checkpoints are known), then
    `finish_court()`. In all-signatures mode the caller passes only records whose own
    signature already verified."""

    def __init__(self, court_topic: str = "", *, trust: TrustStore | None = None,
                 sigs: SigPool | None = None, all_signatures: bool = False,
                 sample_rate: float = 0.0) -> None:
        self.report = Report(mode=ALL_MODE if all_signatures else CHECKPOINT_MODE,
                             sample_rate=0.0 if all_signatures else sample_rate)
        self.courts: dict[str, Court] = {}
        # (court, tree_size) -> root of every checkpoint verified against the log (what
        # unit checkpoints may reference)
        self.court_roots: dict[tuple[str, int], bytes] = {}
        self.court_topic = court_topic
        self.trust = trust or TrustStore()
        self.sigs = sigs
        self.all = all_signatures
        self.sample_rate = 0.0 if all_signatures else sample_rate
        # Which covered events get sampled must not be predictable to a forger: a fresh
        # secret seed per run (the sample is a check, not key material).
        self._rng = random.Random(secrets.randbits(128))  # noqa: S311

    def court(self, code: str) -> Court:
        c = self.courts.get(code)
        if c is None:
            c = self.courts[code] = Court(code)
        return c

    # ------------------------------------------------------------------ arrival
    def event(self, r: Any, found: tuple[str, bytes] | str) -> None:
        """One court record (a ConsumerRecord); `found` = verify_report.signature_of(r)."""
        self.event_at((r.topic, r.partition, r.offset), r.value, found)

    def event_at(self, loc: Loc, value: bytes, found: tuple[str, bytes] | str) -> None:
        if isinstance(found, str):
            self.report.fail(loc, "signature", found)
            return
        try:
            meta = read_meta(value)
        except codec.CodecError as e:
            self.report.fail(loc, "decode", str(e))
            return
        if meta.record not in COURT_RECORDS:
            self.report.fail(loc, "decode", f"{meta.record} on the court topic")
            return
        c = self.courts.get(meta.court_code) or self.court(meta.court_code)
        signer = found[0]
        if signer != c.signer:
            self.report.fail(loc, "signer_mismatch", f"signed by {signer}, event of {c.signer}")
            return
        seq = meta.court_seq
        entry: Entry = (loc, value, found[1], signer, meta)
        if seq < c.next_seq or seq in c.pending:
            self._second_copy(c, seq, entry)
            return
        last = c.part_last.get(loc[1])
        if last is not None and seq < last:
            self.report.fail(loc, "reordered", f"court {c.code}: court_seq {seq} "
                                               f"after {last} in the same partition")
        if last is None or seq > last:
            c.part_last[loc[1]] = seq
        if seq != c.next_seq:
            c.pending[seq] = entry
            if len(c.pending) > MAX_WINDOW:
                self._gap(c)
            return
        c.seg.append(entry)
        c.next_seq += 1
        pending = c.pending
        while pending and c.next_seq in pending:
            c.seg.append(pending.pop(c.next_seq))
            c.next_seq += 1
        if (c.checkpoints and c.checkpoints[0].tree_size < c.next_seq) or len(c.seg) >= SEG_CAP:
            self._close(c)

    def _valid(self, e: Entry) -> bool:
        """A synchronous check of one event's own signature (second copies only: rare)."""
        if self.all:
            return True  # only verified records reach here
        self.report.signatures_checked += 1
        try:
            self.trust.verify(e[3], e[1], e[2])
            return True
        except SignatureError as err:
            self.report.fail(e[0], "signature", str(err))
            return False

    def _second_copy(self, c: Court, seq: int, new: Entry) -> None:
        """Two records claim one court_seq. Their own signatures decide which is the
        court's: a forged copy is named `signature`; of two genuine ones the later read is
        the `duplicate` (same bytes) or `duplicate_court_seq` (a different event)."""
        if not self._valid(new):
            return
        first: Entry | None = None
        if seq in c.pending:
            first = c.pending[seq]
        elif seq >= c.seg_base:
            first = c.seg[seq - c.seg_base]
        if first is not None:
            ok = c.verdicts.get(seq)
            if ok is None:
                ok = c.verdicts[seq] = self._valid(first)
            if not ok:  # the copy in place is the forgery: the genuine one takes its place
                c.verdicts[seq] = True
                if seq in c.pending:
                    c.pending[seq] = new
                else:
                    c.seg[seq - c.seg_base] = new
                return
            same = first[1] == new[1]
            where = f" (first at partition {first[0][1]}, offset {first[0][2]})"
        else:  # folded already: authenticated by a checkpoint or its own signature
            same = 1 <= seq <= len(c.value_fp) and c.value_fp[seq - 1] == fp64(
                _sha256(new[1]).digest())
            where = ""
            if 1 <= seq <= len(c.locs) and c.locs[seq - 1] >= 0:
                where = " (first at partition {}, offset {})".format(*_unpack(c.locs[seq - 1]))
        if same:
            self.report.fail(new[0], "duplicate", f"court {c.code}: second copy of court_seq "
                                                  f"{seq}{where}")
        else:
            self.report.fail(new[0], "duplicate_court_seq",
                             f"court {c.code}: a different event with court_seq {seq}{where}")

    def _gap(self, c: Court) -> None:
        self._close(c, force=True)
        if not c.pending:
            return
        nxt = min(c.pending)
        self.report.fail(c.pending[nxt][0], "gap",
                         f"court {c.code}: court_seq {c.next_seq}..{nxt - 1} missing")
        # The tree can no longer match any checkpoint; keep numbering from what is there.
        while c.next_seq < nxt:
            c.value_fp.append(0)
            c.event_fp.append(0)
            c.locs.append(-1)
            c.next_seq += 1
        c.seg_base = c.next_seq
        c.broken = True
        c.leaves = None
        c.prev = b""
        while c.next_seq in c.pending:
            c.seg.append(c.pending.pop(c.next_seq))
            c.next_seq += 1
        self._close(c)

    # ------------------------------------------------------------------ segments
    def _close(self, c: Court, force: bool = False) -> None:
        """Fold the open segment up to the next checkpoint it reaches and settle it; with
        `force` (or past SEG_CAP) fold the rest as well, checked one by one."""
        while True:
            cp = c.checkpoints[0] if c.checkpoints and \
                c.checkpoints[0].tree_size < c.next_seq else None
            if cp is not None:
                n = min(len(c.seg), max(0, cp.tree_size - (c.seg_base - 1)))
            elif c.seg and (force or len(c.seg) >= SEG_CAP):
                n = len(c.seg)
            else:
                return
            part = c.seg[:n]
            snap = (c.acc.state(), c.prev, c.seg_base, len(c.value_fp),
                    None if c.leaves is None else len(c.leaves))
            chain = self._fold(c, part)
            covered = (cp is not None and not c.broken and c.acc.size == cp.tree_size
                       and c.acc.root() == cp.root)
            if part and not covered and not self.all:
                bad = self._check_now(c, part)
                if bad:
                    self._take_out(c, part, bad, snap)
                    continue
            for loc, rule, detail in chain:
                self.report.fail(loc, rule, detail)
            if c.leaves is not None and len(c.leaves) > LEAF_CAP:
                c.leaves = None
            del c.seg[:n]
            self.report.events_checked += n
            while c.checkpoints and c.checkpoints[0].tree_size <= c.seg_base - 1:
                self._check_checkpoint(c, c.checkpoints.pop(0))
            if covered and not self.all:
                self.report.covered_by_checkpoint += n
                if self.sample_rate > 0 and self.sigs is not None:
                    self._sample(part)
            if not c.seg:
                c.verdicts = {}

    def _fold(self, c: Court, part: list[Entry]) -> list[tuple[Loc, str, str]]:
        """Hash chain, leaves and fingerprints of `part`; chain breaks are returned, to be
        reported only if the part is kept."""
        c.seg_base += len(part)
        # MerkleAccumulator.append inlined over a local frontier (the same binary carry,
        # RFC 9162 §2.1.1 node = SHA-256(0x01 || left || right)): this loop runs once for
        # every event of the log.
        frontier = c.acc.state()
        prev, leaves = c.prev, c.leaves
        out: list[tuple[Loc, str, str]] = []
        vfp, efp, locs = c.value_fp.append, c.event_fp.append, c.locs.append
        sha = _sha256
        for loc, value, _sig, _signer, meta in part:
            if prev and meta.prev_hash != prev:
                out.append((loc, "hash_chain", f"court {c.code}: prev_hash of court_seq "
                                               f"{meta.court_seq} is not SHA-256 of court_seq "
                                               f"{meta.court_seq - 1}"))
            prev = sha(value).digest()
            h = sha(b"\x00" + value).digest()
            if leaves is not None:
                leaves.append(h)
            height = 0
            while frontier and frontier[-1][0] == height:
                h = sha(b"\x01" + frontier.pop()[1] + h).digest()
                height += 1
            frontier.append((height, h))
            vfp(int.from_bytes(prev[:8], "big"))
            efp(id_fp(meta.event_id))
            locs((loc[1] << 48) | loc[2])
        c.acc = MerkleAccumulator.from_state(frontier)
        c.prev = prev
        return out

    def _check_now(self, c: Court, part: list[Entry]) -> list[tuple[int, str]]:
        """Own signatures of the events of `part` not yet known good, in the workers;
        (index in part, reason) of those that fail."""
        todo = [i for i, e in enumerate(part) if not c.verdicts.get(e[4].court_seq)]
        if not todo:
            return []
        items = [(part[i][3], part[i][1], part[i][2]) for i in todo]
        self.report.signatures_checked += len(items)
        if self.sigs is not None:
            failed = self.sigs.check_now(items)
        else:
            failed = []
            for j, (signer, value, sig) in enumerate(items):
                try:
                    self.trust.verify(signer, value, sig)
                except SignatureError as e:
                    failed.append((j, str(e)))
        bad = {todo[j]: reason for j, reason in failed}
        for i in todo:
            if i not in bad:
                c.verdicts[part[i][4].court_seq] = True
        return sorted(bad.items())

    def _take_out(self, c: Court, part: list[Entry], bad: list[tuple[int, str]],
                  snap: tuple[Any, ...]) -> None:
        """Undo the fold of `part`, name its forged records and put the order back to the
        first of them: what follows waits in the reorder window for the genuine copies."""
        state, c.prev, c.seg_base, n_fp, n_leaves = snap
        c.acc = MerkleAccumulator.from_state(state)
        for a in (c.value_fp, c.event_fp, c.locs):
            del a[n_fp:]
        if c.leaves is not None and n_leaves is not None:
            del c.leaves[n_leaves:]
        drop = {i for i, _ in bad}
        for i, reason in bad:
            self.report.fail(part[i][0], "signature", reason)
            c.verdicts.pop(part[i][4].court_seq, None)
        first = bad[0][0]
        rest = [e for i, e in enumerate(part) if i > first and i not in drop]
        rest += c.seg[len(part):]
        c.seg = part[:first]
        c.next_seq = c.seg_base + first
        for e in rest:
            c.pending[e[4].court_seq] = e

    def _sample(self, part: list[Entry]) -> None:
        assert self.sigs is not None
        rnd, rate, add = self._rng.random, self.sample_rate, self.sigs.add
        for e in part:
            if rnd() < rate:
                self.report.sampled += 1
                add(e[0], e[3], e[1], e[2])

    def _check_checkpoint(self, c: Court, cp: Checkpoint) -> None:
        self.report.checkpoints_checked += 1
        size = c.acc.size
        if c.broken or cp.tree_size != size:
            if cp.tree_size > 0 or cp.root != EMPTY_ROOT:
                self.report.fail(cp.loc, "checkpoint_root",
                                 f"court {c.code}: tree_size {cp.tree_size} never verified")
            return
        if c.acc.root() != cp.root:
            self.report.fail(cp.loc, "checkpoint_root", f"court {c.code}: root over "
                                                        f"court_seq 1..{size} differs from "
                                                        "the log's")
            return
        old = c.last_cp
        if old is not None and old.tree_size < cp.tree_size:
            # Consistency (RFC 9162 §2.1.4): both roots were recomputed here from one and
            # the same leaf sequence (old = its first m leaves), which is exactly what a
            # consistency proof establishes. While the leaves are still in memory (small
            # courts), also build and check the RFC proof itself.
            if c.leaves is not None:
                proof = consistency_proof(old.tree_size, c.leaves[:cp.tree_size])
                if not verify_consistency(old.tree_size, cp.tree_size, old.root, cp.root,
                                          proof):
                    self.report.fail(cp.loc, "checkpoint_consistency",
                                     f"court {c.code}: {old.tree_size} -> {cp.tree_size}")
                    return
        c.last_cp = cp
        self.court_roots[(c.code, cp.tree_size)] = cp.root

    # ------------------------------------------------------------------ end of the log
    def finish_court(self) -> None:
        for c in self.courts.values():
            while True:
                self._close(c, force=True)
                if not c.pending:
                    break
                self._gap(c)
            for cp in c.checkpoints:
                self.report.checkpoints_checked += 1
                self.report.fail(cp.loc, "checkpoint_beyond_log",
                                 f"court {c.code}: tree_size {cp.tree_size} > {c.acc.size} "
                                 "events")
            c.checkpoints = []
            # The same event_id under two court_seqs: sort the fingerprints once at the end
            # rather than keep a set of every id.
            ordered = sorted(range(len(c.event_fp)), key=c.event_fp.__getitem__)
            for a, b in zip(ordered, ordered[1:], strict=False):
                if c.event_fp[a] and c.event_fp[a] == c.event_fp[b]:
                    later = max(a, b)
                    loc = (self.court_topic, *_unpack(c.locs[later]))
                    self.report.fail(loc, "duplicate_event_id", f"court {c.code}: court_seq "
                                     f"{min(a, b) + 1} and {later + 1} share an event_id")
            del ordered
        if self.sigs is not None:  # the sampled checks still running in the workers
            for loc, reason in self.sigs.finish():
                self.report.fail(loc, "signature", reason)
