"""The auditor's checks of one unit's acknowledgement log (issue #19): signed batches in a
hash chain, signed Merkle checkpoints over them, and the court checkpoints each unit
checkpoint names.

Rules (each failure is named by topic, partition, offset):
- `ack_batch_gap`: batch_seq jumps (a batch is missing: torn log);
- `ack_chain`: a batch out of order (batch_seq not the next one, not an identical second
  copy), or a prev_hash that is not the SHA-256 of the previous batch;
- `unit_checkpoint_root`: a unit checkpoint whose tree size is not the number of batches
  before it, or whose root differs from the root over those batches;
- `unit_checkpoint_regression`: a checkpoint smaller than an earlier one;
- `unit_checkpoint_court_ref`: a court reference that is not a court checkpoint the
  auditor verified against the court log (court, tree size and root).
An identical second copy of a batch (same batch_seq, same bytes) is counted and skipped:
entries are deduplicated on ack_id anyway. Old one-record acknowledgements
(UnitAcknowledged) carry no chain and are checked as before."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.domain.events import batch_id_for
from hub.ledger import GENESIS_HASH, MerkleAccumulator, chain_hash, leaf_hash

Loc = tuple[str, int, int]


@dataclass
class UnitLog:
    unit: str
    seq: int = 0
    last_hash: bytes = GENESIS_HASH
    acc: MerkleAccumulator = field(default_factory=MerkleAccumulator)
    broken: bool = False  # after a gap or a bad link no root can match any more
    checkpoint: int = 0
    duplicates: int = 0


class UnitLogs:
    """`batch()` every UnitAckBatch and `checkpoint()` every UnitCheckpoint of a unit, in
    log order; `fail(loc, rule, detail)` reports."""

    def __init__(self, fail: Any, court_roots: dict[tuple[str, int], bytes]) -> None:
        self.fail = fail
        self.court_roots = court_roots
        self.logs: dict[str, UnitLog] = {}
        self.batches = 0
        self.checkpoints = 0

    def log(self, unit: str) -> UnitLog:
        u = self.logs.get(unit)
        if u is None:
            u = self.logs[unit] = UnitLog(unit)
        return u

    def batch(self, loc: Loc, unit: str, value: bytes, rec: dict[str, Any]) -> bool:
        """Check the batch's place in the chain; False = skip its entries (a second copy)."""
        self.batches += 1
        u = self.log(unit)
        seq = rec["batch_seq"]
        link = chain_hash(value)
        if seq == u.seq and link == u.last_hash:
            u.duplicates += 1
            return False
        if seq > u.seq + 1:
            self.fail(loc, "ack_batch_gap", f"unit {unit}: batch {seq} after {u.seq}: "
                      f"{seq - u.seq - 1} batch(es) missing")
            u.broken = True
        elif seq <= u.seq:
            self.fail(loc, "ack_chain", f"unit {unit}: batch {seq} after {u.seq} "
                      "(reordered or rewritten)")
            u.broken = True
            return True
        elif rec["prev_hash"] != u.last_hash:
            self.fail(loc, "ack_chain", f"unit {unit}: batch {seq}: prev_hash is not the hash "
                      f"of batch {u.seq} (a batch altered or missing)")
            u.broken = True
        if rec["batch_id"] != batch_id_for(unit, seq):
            self.fail(loc, "ack_chain", f"unit {unit}: batch {seq}: batch_id "
                      f"{rec['batch_id']} is not the one of this position")
        u.seq, u.last_hash = seq, link
        if not u.broken:
            u.acc.append(leaf_hash(value))
        return True

    def checkpoint(self, loc: Loc, unit: str, rec: dict[str, Any]) -> None:
        self.checkpoints += 1
        u = self.log(unit)
        size = rec["tree_size"]
        if size < u.checkpoint:
            self.fail(loc, "unit_checkpoint_regression",
                      f"unit {unit}: tree_size {size} after {u.checkpoint}")
            return
        if u.broken or size != u.acc.size:
            self.fail(loc, "unit_checkpoint_root",
                      f"unit {unit}: tree_size {size}, but "
                      + ("the log is broken before it" if u.broken
                         else f"{u.acc.size} batches come before it"))
        elif rec["root_hash"] != u.acc.root():
            self.fail(loc, "unit_checkpoint_root", f"unit {unit}: root over batches 1..{size} "
                      "differs from the log's")
        elif size and rec["last_batch_id"] != batch_id_for(unit, size):
            self.fail(loc, "unit_checkpoint_root", f"unit {unit}: last_batch_id is not the "
                      f"id of batch {size}")
        u.checkpoint = max(u.checkpoint, size)
        for ref in rec["courts"]:
            key = (ref["court_code"], ref["tree_size"])
            root = self.court_roots.get(key)
            if root is None:
                self.fail(loc, "unit_checkpoint_court_ref",
                          f"unit {unit}: court {key[0]} tree_size {key[1]} is no verified "
                          "court checkpoint")
            elif root != ref["root_hash"]:
                self.fail(loc, "unit_checkpoint_court_ref",
                          f"unit {unit}: court {key[0]} tree_size {key[1]}: root differs from "
                          "the court's checkpoint")
