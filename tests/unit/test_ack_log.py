"""The acknowledgement log without I/O: batches split past MAX_BATCH_BYTES stay one chain,
and the auditor's UnitLogs names a gap, a reorder, a bad link, a checkpoint over other
batches and an unbacked court reference (consumers/agency/acklog.py,
consumers/audit/unitlog.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from consumers.agency import acklog, acks
from consumers.agency.acklog import AckLog, Head
from consumers.audit.unitlog import UnitLogs
from hub import codec
from hub.config import load_settings
from hub.domain.events import AckTrigger, UnitAckBatch, batch_id_for
from hub.keys import unit_signer
from hub.ledger import GENESIS_HASH, MerkleAccumulator, chain_hash, generate_key, leaf_hash

UNIT = "finance"
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def _acks(n: int, measures: int = 1) -> list[dict[str, Any]]:
    return [acks.build(UNIT, AckTrigger.court_event, f"e-{i}", f"L{i}", "350402", i + 1,
                       [{"code": "B1", "role": "debtor", "id_number": f"{i:018d}",
                         "action": "applied", "until": None, "reason": None}] * measures,
                       processed_at=NOW) for i in range(n)]


def _log() -> AckLog:
    return AckLog(load_settings(), UNIT, generate_key(unit_signer(UNIT)))


def _head() -> Head:
    return Head(0, GENESIS_HASH, MerkleAccumulator(), 0, NOW, {})


def test_a_large_batch_splits_into_chained_records(monkeypatch: Any) -> None:
    monkeypatch.setattr(acklog, "MAX_BATCH_BYTES", 4096)
    made = _acks(200, measures=3)
    values = _log()._chunks([acklog.entry_of(a) for a in made], NOW, _head())
    assert len(values) > 1 and all(len(v) <= 4096 for v in values)
    prev, entries = GENESIS_HASH, []
    for seq, v in enumerate(values, start=1):
        b = codec.decode(v)
        assert isinstance(b, UnitAckBatch)
        assert (b.batch_seq, b.prev_hash, b.batch_id) == (seq, prev, batch_id_for(UNIT, seq))
        prev = chain_hash(v)
        entries += [e.ack_id for e in b.entries]
    assert entries == [a["ack_id"] for a in made]  # all of them, once, in order


def _chain(n: int, per: int = 2) -> list[bytes]:
    head = _head()
    out = []
    log = _log()
    made = _acks(n * per)
    for i in range(n):
        (v,) = log._chunks([acklog.entry_of(a) for a in made[i * per:(i + 1) * per]], NOW, head)
        head.batch_seq += 1
        head.last_hash = chain_hash(v)
        out.append(v)
    return out


def _feed(values: list[bytes], checkpoint: dict[str, Any] | None = None,
          roots: dict[tuple[str, int], bytes] | None = None) -> list[tuple[int, str]]:
    failures: list[tuple[int, str]] = []
    logs = UnitLogs(lambda loc, rule, detail: failures.append((loc[2], rule)), roots or {})
    for off, v in enumerate(values):
        _, rec = codec.decode_dict(v)
        logs.batch(("acks", 0, off), UNIT, v, rec)
    if checkpoint is not None:
        logs.checkpoint(("acks", 0, len(values)), UNIT, checkpoint)
    return failures


def _checkpoint(values: list[bytes], courts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    acc = MerkleAccumulator()
    for v in values:
        acc.append(leaf_hash(v))
    return {"unit": UNIT, "tree_size": len(values), "root_hash": acc.root(),
            "last_batch_id": batch_id_for(UNIT, len(values)), "courts": courts or [],
            "issued_at": NOW}


def test_a_clean_chain_and_its_checkpoint_pass_and_a_second_copy_is_skipped() -> None:
    b = _chain(4)
    assert _feed(b, _checkpoint(b)) == []
    assert _feed([b[0], b[1], b[1], b[2], b[3]]) == []


def test_gap_reorder_bad_link_and_foreign_checkpoint_are_named() -> None:
    b = _chain(4)
    assert _feed([b[0], b[1], b[3]]) == [(2, "ack_batch_gap")]
    assert _feed([b[0], b[2], b[1]]) == [(1, "ack_batch_gap"), (2, "ack_chain")]
    other = _chain(2, per=3)  # batch 2 of another history: its prev_hash is not b[0]'s
    assert _feed([b[0], other[1]]) == [(1, "ack_chain")]
    assert _feed(b[:3], _checkpoint(b)) == [(3, "unit_checkpoint_root")]
    assert _feed(b, _checkpoint(other[:1] + b[1:])) == [(4, "unit_checkpoint_root")]


def test_court_references_must_be_verified_court_checkpoints() -> None:
    b = _chain(2)
    ref = {"court_code": "350402", "tree_size": 6, "root_hash": bytes(range(32))}
    roots = {("350402", 6): bytes(range(32))}
    assert _feed(b, _checkpoint(b, [ref]), roots) == []
    assert _feed(b, _checkpoint(b, [ref]), {}) == [(2, "unit_checkpoint_court_ref")]
    wrong = {**ref, "root_hash": bytes(32)}
    assert _feed(b, _checkpoint(b, [wrong]), roots) == [(2, "unit_checkpoint_court_ref")]
