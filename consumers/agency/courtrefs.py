"""What a unit checkpoint says the unit had applied: per court, the largest signed court
checkpoint all of whose events (court_seq 1..tree_size) are in the unit's projection.

The court checkpoints come from `court.checkpoints.v1`, read by an assign-only consumer
(no group: every process of a unit reads them all) and believed only when their signature
verifies against their own court (hub.signed.verify_record). A checkpoint that does not
verify, or that gives an already known tree size another root, is refused with the reason
logged; the consumer goes on.

The contiguous applied prefix per court (`ack_log.court_prefix`) moves forward from where
it stood, over the `chain` table (one row per applied event); a rebuild resets it
(schema.drop_projection)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from kafka import TopicPartition

from hub import kafka
from hub.codec import CodecError
from hub.config import Settings
from hub.domain.events import CourtCheckpoint
from hub.ledger import LedgerError, TrustStore
from hub.log import get_logger
from hub.signed import verify_record

log = get_logger("hub.agency")

# How far one checkpoint moves a court's prefix at most (the rest: at the next one).
SCAN_LIMIT = 200_000


class CourtCheckpoints:
    def __init__(self, s: Settings, unit: str, trust: Callable[[], TrustStore]) -> None:
        self.s = s
        self.unit = unit
        self._load_trust = trust
        self._trust: TrustStore | None = None
        self._consumer: Any = None
        self.sizes: dict[str, list[int]] = {}  # court -> verified tree sizes, ascending
        self.roots: dict[tuple[str, int], bytes] = {}
        self.refused = 0

    def close(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close(autocommit=False)
            except Exception:  # noqa: BLE001, S110 - closing after a failure must not mask it
                pass
            self._consumer = None

    # ------------------------------------------------------------------ reading
    def _open(self) -> Any:
        if self._consumer is None:
            c = kafka.consumer(self.s, client_id=f"hub-unit-{self.unit}-checkpoints",
                               group_id=None)
            parts = [TopicPartition(self.s.checkpoint_topic, p)
                     for p in sorted(c.partitions_for_topic(self.s.checkpoint_topic) or ())]
            c.assign(parts)
            c.seek_to_beginning(*parts)
            self._consumer = c
        return self._consumer

    def refresh(self, max_polls: int = 50) -> None:
        """Read every checkpoint published so far (from where the last call stopped)."""
        c = self._open()
        parts = list(c.assignment())
        if not parts:
            self.close()  # the topic had no metadata yet: try again next time
            return
        ends = c.end_offsets(parts)
        for _ in range(max_polls):
            if all(c.position(tp) >= ends.get(tp, 0) for tp in parts):
                return
            for records in c.poll(timeout_ms=200, max_records=5000).values():
                for r in records:
                    self._take(r)

    def _verified(self, r: Any) -> CourtCheckpoint:
        if self._trust is None:
            self._trust = self._load_trust()
        try:
            model = verify_record(self._trust, r.value, r.headers).model
        except LedgerError:
            self._trust = self._load_trust()  # a court's key added after we started
            model = verify_record(self._trust, r.value, r.headers).model
        if not isinstance(model, CourtCheckpoint):
            raise CodecError(f"{type(model).__name__} on the checkpoint topic")
        return model

    def _take(self, r: Any) -> None:
        try:
            cp = self._verified(r)
        except (LedgerError, CodecError) as e:
            self._refuse(r, str(e))
            return
        key = (cp.court_code, cp.tree_size)
        known = self.roots.get(key)
        if known is not None:
            if known != cp.root_hash:
                self._refuse(r, f"court {cp.court_code}: tree_size {cp.tree_size} signed "
                                "with two different roots")
            return
        self.roots[key] = cp.root_hash
        bisect.insort(self.sizes.setdefault(cp.court_code, []), cp.tree_size)

    def _refuse(self, r: Any, reason: str) -> None:
        self.refused += 1
        log.warning("court checkpoint refused", unit=self.unit, partition=r.partition,
                    offset=r.offset, reason=reason)

    # ------------------------------------------------------------------ references
    def references(self, cur: Any, sch: str, prefix: dict[str, int]) -> list[dict[str, Any]]:
        """CourtReference records for a unit checkpoint sealed in the caller's transaction;
        advances `prefix` in place."""
        try:
            self.refresh()
        except Exception as e:  # noqa: BLE001 - a reference is a claim; no claim beats none
            log.warning("court checkpoints not read", unit=self.unit, cause=str(e)[:200])
        out = []
        for court in sorted(self.sizes):
            p = advance(cur, sch, court, prefix.get(court, 0))
            prefix[court] = p
            sizes = self.sizes[court]
            i = bisect.bisect_right(sizes, p)
            if i:
                size = sizes[i - 1]
                out.append({"court_code": court, "tree_size": size,
                            "root_hash": self.roots[(court, size)]})
        return out


def advance(cur: Any, sch: str, court: str, prefix: int) -> int:
    """The largest n >= prefix such that court_seq 1..n are all in `chain`, given that
    1..prefix are."""
    cur.execute(f"SELECT 1 FROM {sch}.chain WHERE court_code = %s AND court_seq = %s",
                (court, prefix + 1))
    if cur.fetchone() is None:
        return prefix
    cur.execute(
        "SELECT max(court_seq) FROM (SELECT court_seq,"
        " court_seq - row_number() OVER (ORDER BY court_seq) AS g"
        f" FROM (SELECT court_seq FROM {sch}.chain WHERE court_code = %s AND court_seq > %s"
        " ORDER BY court_seq LIMIT %s) s) t WHERE g = %s",
        (court, prefix, SCAN_LIMIT, prefix))
    got = cur.fetchone()[0]
    return prefix if got is None else int(got)
