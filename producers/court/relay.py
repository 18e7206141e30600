"""The outbox relay: publishes the court store's signed event values to `court.listings.v1`
and signed checkpoints to `court.checkpoints.v1`.

Exactly once across crashes (design.md "Outbox, not dual writes"): the idempotent producer
only dedups within one producer session, so after each flushed batch the relay stores, in
the transaction that marks the rows sent (by advancing each court's contiguous published
prefix, `store.UNSENT`), the next offset of every partition it wrote. On
start (holding the advisory lock, so it is the only writer) it reads every partition from
that offset to its end and marks as sent every outbox row whose event is found there; only
the rest is published. The idempotent producer's writes to a partition are a prefix of what
it was asked to send, so per-listing (per-partition) order holds.

The Merkle accumulator of each court covers the contiguous published prefix and lives in
the `courts` row, updated in the same transaction as the rows it covers."""

from __future__ import annotations

import itertools
import operator
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition

from hub import codec, db, fastappend, kafka
from hub.config import Settings
from hub.domain.events import CourtCheckpoint
from hub.errors import HubError, ServiceUnavailable
from hub.keys import court_signer, ensure_key
from hub.ledger import SIG_HEADER, SIGNER_HEADER, MerkleAccumulator, SigningKey, leaf_hash
from hub.log import get_logger
from hub.partitioner import murmur2, partition_for, partition_of
from producers.court import store

log = get_logger("court.relay")

BATCH = 20_000  # rows a batch; HUB_RELAY_BATCH overrides (tests: several batches)
MAX_UNMARKED = 2  # batches read from the outbox that may wait unmarked
FAULT_ENV = "HUB_FAULT"
FAULT_AFTER_PUBLISH = "relay-after-publish"


# An outbox row: court_code, court_seq, listing_id, event_id, value, signature, signer; rows a
# submit hands over (`preloaded`) add hub.partitioner.murmur2 of the listing_id (KEY_HASH)
# and the value's Merkle leaf hash (LEAF), computed where both cores work, and the event's
# Kafka record as `record_tail` encodes it (TAIL), built by the submit while PostgreSQL takes
# its COPYs.
KEY_HASH, LEAF, TAIL = 7, 8, 9
Row = tuple[Any, ...]


def record_tail(listing_id: str, value: bytes, signature: bytes, signer: str) -> bytes:
    """An event's Kafka record after its offset delta (`hub.fastappend.record_tail`): key =
    listing_id, the value, and its signature headers."""
    return fastappend.record_tail(listing_id.encode("utf-8"), value, [
        (SIG_HEADER, signature), (SIGNER_HEADER, signer.encode("ascii"))])


@dataclass
class _Landed:
    """A batch queued by `hub.fastappend.append`: where its runs of records landed."""

    landings: list[fastappend.Landing]


@dataclass
class _Fold:
    """One court's rows of a relay batch folded into its Merkle accumulator, as a mark's
    `_fold` would fold them (`fold_into`), done by the submit before its commit: the mark
    takes the result as it is when the court's log is where it was then (`Relay._folded`).
    """

    code: str
    start: int  # court_seq of the first row
    end: int  # court_seq of the last row
    before: list[tuple[int, bytes]]  # the accumulator's state before them
    after: list[tuple[int, bytes]] = field(default_factory=list)  # and after them
    due: list[tuple[int, bytes, str]] = field(default_factory=list)  # checkpoints due
    last_event_id: str = ""


@dataclass
class _Built:
    """One relay batch of a `Staged` submit: the first and last (court_code, court_seq) of
    its rows, how many, their records' producer batches per partition
    (`fastappend.build`), and the folds of its rows (None where a court's rows did not
    follow on its published prefix: the mark folds them itself)."""

    first: tuple[str, int]
    last: tuple[str, int]
    count: int
    batches: dict[int, list[Any]]
    folds: list[_Fold] | None


class Staged:
    """A submit's events written into producer batches before its transaction commits
    (`drain.EarlyRelay.stage`), a relay batch of rows at a time, for the `publish` of the
    relay it is handed to (`Relay.staged`) to queue once the transaction has committed:
    what a drain's `_send` did (routing and writing ~200k records, a quarter of a second of
    its interpreter lock) is done while PostgreSQL takes the COPYs (issue #4), and so is
    what its marks' `_fold` did (the Merkle accumulator over the rows, the checkpoints
    due). Nothing reaches the producer before `publish` queues it; if the rows are not
    what `publish` would send (`usable`), the batches are dropped and the rows sent the
    usual way."""

    def __init__(self, relay_of: Callable[[bool], Relay | bool | None]) -> None:
        self._relay_of = relay_of
        self._relay: Relay | None = None
        self.started = False
        self._size = int(os.environ.get("HUB_RELAY_BATCH", BATCH))
        self.partitions: list[int] = []
        self._every = 1
        self._tails: dict[int, list[bytes]] = {}
        self._first: tuple[str, int] | None = None
        self._last: tuple[str, int] = ("", 0)
        self._count = 0
        # per court: the court_seq its accumulator covers (None: this submit's rows do not
        # follow on it) and the accumulator, as the relay's marks will have them
        self._logs: dict[str, tuple[int | None, MerkleAccumulator]] = {}
        self._folds: dict[str, _Fold] = {}  # the current relay batch's, per court
        self._plannable = True  # every court's rows of the current batch were folded
        self.batches: list[_Built] = []
        self.finished = threading.Event()
        self.complete = False

    def start(self, wait: bool) -> bool | None:
        """Find the relay to write for (`relay_of(wait)`): True once found; False if there
        is none, or it cannot write into its producer's batches (`fastappend.usable`);
        None while it is still starting (`wait` False)."""
        relay = self._relay_of(wait)
        if relay is True:
            return None
        if not isinstance(relay, Relay) or not relay._fast:
            return False
        self._relay, self.partitions = relay, relay._partitions()
        self._every = max(1, relay.s.checkpoint_every)
        self._logs = {code: (None if c.pending else c.published_seq,
                             MerkleAccumulator.from_state(c.acc.state()))
                      for code, c in relay.courts.items()}
        self.started = True
        return True

    def add(self, code: str, first_seq: int, key_hashes: Sequence[int],
            tails: Sequence[bytes], leaves: Sequence[bytes], event_ids: Sequence[str]) -> None:
        """One court's next rows, from `first_seq` on: their key hashes, records, Merkle
        leaf hashes and event ids."""
        parts = self.partitions
        i, n = 0, len(tails)
        while i < n:
            j = min(n, i + self._size - self._count)  # the rows the current batch takes
            if self._first is None:
                self._first = (code, first_seq + i)
            for key_hash, tail in zip(key_hashes[i:j], tails[i:j], strict=True):
                run = self._tails.get(part := partition_for(key_hash, parts))
                if run is None:
                    self._tails[part] = [tail]
                else:
                    run.append(tail)
            self._fold(code, first_seq + i, leaves[i:j], event_ids[i:j])
            self._count += j - i
            self._last = (code, first_seq + j - 1)
            if self._count == self._size:
                self._cut()
            i = j

    def _fold(self, code: str, first_seq: int, leaves: Sequence[bytes],
              event_ids: Sequence[str]) -> None:
        published, acc = self._logs.get(code) or (0, MerkleAccumulator())  # a new court
        if published is None or first_seq != published + 1:
            self._logs[code] = (None, acc)  # not what the relay will fold next
            self._plannable = False
            return
        f = self._folds.get(code)
        if f is None:
            f = self._folds[code] = _Fold(code, first_seq, first_seq, acc.state())
        f.due += fold_into(acc, published, leaves, event_ids, self._every)
        f.end, f.last_event_id = first_seq + len(leaves) - 1, event_ids[-1]
        self._logs[code] = (f.end, acc)

    def _cut(self) -> None:
        assert self._first is not None and self._relay is not None
        r = self._relay
        folds = None
        if self._plannable:
            folds = list(self._folds.values())
            for f in folds:
                f.after = self._logs[f.code][1].state()
        self.batches.append(_Built(self._first, self._last, self._count, {
            part: fastappend.build(r.producer, r.topic, part, tails)
            for part, tails in self._tails.items()}, folds))
        self._tails, self._first, self._count = {}, None, 0
        self._folds, self._plannable = {}, True

    def close(self, complete: bool) -> None:
        """No more rows (`complete`: every row of the submit was added)."""
        if complete and self._count:
            self._cut()
        self.complete = complete
        self.finished.set()

    def matches(self, rows: Sequence[Row]) -> bool:
        """Whether the batches hold exactly `rows`, in their order."""
        lo = 0
        for b in self.batches:
            if lo + b.count > len(rows) or tuple(rows[lo][:2]) != b.first or (
                    tuple(rows[lo + b.count - 1][:2]) != b.last):
                return False
            lo += b.count
        return lo == len(rows)


# A batch queued in the producer: its rows, where they landed (or `send`'s futures), and
# the submit's folds of them (`_Fold`, or None).
_Queued = tuple[list[Row], "_Landed | list[Any]", "list[_Fold] | None"]


def _acknowledged(sent: _Landed | list[Any]) -> bool:
    """Whether the broker has answered for every record of a queued batch."""
    if isinstance(sent, _Landed):
        return all(future.is_done for _, future, _ in sent.landings)
    return all(f.is_done for f in sent)


class RelayBusy(HubError):
    """Another relay holds the court store's relay lock."""


@dataclass
class RelayResult:
    published: int = 0
    recovered: int = 0
    checkpoints: int = 0
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"published": self.published, "recovered": self.recovered,
                "checkpoints": self.checkpoints, "note": self.note}


@dataclass
class _Court:
    code: str
    published_seq: int
    acc: MerkleAccumulator
    last_event_id: str | None
    checkpoint_seq: int
    checkpoint_at: float  # monotonic-ish wall time of the last checkpoint
    # sent, not yet folded, in runs of consecutive rows: the run's first court_seq -> (the
    # Merkle leaf hashes of its values, their event ids)
    pending: dict[int, tuple[list[bytes], list[str]]] = field(default_factory=dict)
    due: list[tuple[int, bytes, str]] = field(default_factory=list)  # checkpoints to issue


_SEQ = operator.itemgetter(1)


def _runs(rows: Sequence[Row]) -> list[tuple[str, list[Row]]] | None:
    """Rows split into runs of one court's consecutive court_seq numbers, in order: None if
    that takes more than one run a court (rows out of order, or a gap)."""
    runs: list[tuple[str, list[Row]]] = []
    for code, group in itertools.groupby(rows, key=operator.itemgetter(0)):
        run = list(group)
        first = int(run[0][1])
        if (runs and code <= runs[-1][0]) or list(map(int, map(_SEQ, run))) != list(
                range(first, first + len(run))):
            return None
        runs.append((code, run))
    return runs


def _split(rows: Sequence[Row]) -> list[tuple[str, list[Row]]]:
    """Rows in any order split into runs of one court's consecutive court_seq numbers."""
    runs: list[tuple[str, list[Row]]] = []
    for row in sorted(rows, key=lambda r: (r[0], int(r[1]))):
        if runs and runs[-1][0] == row[0] and int(runs[-1][1][-1][1]) + 1 == int(row[1]):
            runs[-1][1].append(row)
        else:
            runs.append((row[0], [row]))
    return runs


def fold_into(acc: MerkleAccumulator, start: int, leaves: Sequence[bytes],
              event_ids: Sequence[str], every: int) -> list[tuple[int, bytes, str]]:
    """Extend `acc` (a court's log up to court_seq `start`) with the next `leaves`, a
    checkpoint interval at a time (`MerkleAccumulator.extend`); the checkpoints due every
    `every` events among them: (tree size, root, the last event's id)."""
    due = []
    pos = 0
    while pos < len(leaves):
        take = min(len(leaves) - pos, every - (start + pos) % every)
        acc.extend(leaves[pos : pos + take])
        pos += take
        if (start + pos) % every == 0:
            due.append((start + pos, acc.root(), event_ids[pos - 1]))
    return due


def lock_key(s: Settings) -> int:
    return zlib.crc32(f"court-relay:{store.schema(s)}".encode())


def try_lock(conn: db.Connection, key: int) -> bool:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (key,))
        ok = bool(cur.fetchone()[0])
    conn.commit()
    return ok


class Relay:
    """One relay session: holds the advisory lock and one idempotent producer, into whose
    batches events are written directly (`hub.fastappend`; `send` where kafka-python lacks
    what that needs)."""

    def __init__(self, s: Settings, conn: db.Connection) -> None:
        self.s = s
        self.conn = conn
        self.sch = store.schema(s)
        self.topic = s.court_topic
        self.keys: dict[str, SigningKey] = {}
        self.courts: dict[str, _Court] = {}
        kafka.ensure_topics(s, kafka.specs_for(s, [s.court_topic, s.checkpoint_topic]))
        self.producer = kafka.producer(s, client_id="hub-court-relay")
        self._fast = fastappend.usable(self.producer)
        self.result = RelayResult()
        self.staged: Staged | None = None  # a submit's batches for the next publish
        # checkpoints issued, not yet recorded: their records' futures, their rows
        self._checkpoints_in_flight: deque[tuple[list[Any], list[tuple[Any, ...]]]] = deque()

    def close(self) -> None:
        self.producer.close(timeout=10)

    # --------------------------------------------------------------------- state

    def _key(self, code: str) -> SigningKey:
        if code not in self.keys:
            self.keys[code] = ensure_key(self.s, court_signer(code))[0]
        return self.keys[code]

    def refresh(self) -> None:
        """Load the courts created since `recover` (by a submit that committed meanwhile:
        `drain.EarlyRelay`)."""
        with db.unit_of_work(self.conn) as uow:
            self._load_courts(uow.cursor)

    def _load_courts(self, cur: Any) -> None:
        cur.execute(
            f"SELECT court_code, published_seq, acc_state, last_published_event_id,"
            f" checkpoint_seq, extract(epoch FROM checkpoint_at) FROM {self.sch}.courts"
        )
        for code, pub, acc, last, cp_seq, cp_at in cur.fetchall():
            if code not in self.courts:
                self.courts[code] = _Court(
                    code, int(pub), MerkleAccumulator.from_state_json(acc), last, int(cp_seq),
                    float(cp_at) if cp_at is not None else time.time(),
                )

    def _fold(self, cur: Any) -> None:
        """Advance each court's accumulator over its contiguous sent prefix (a checkpoint
        interval at a time, `MerkleAccumulator.extend`); note the checkpoints due every
        `checkpoint_every` events."""
        every = max(1, self.s.checkpoint_every)
        for c in self.courts.values():
            start = c.published_seq
            leaves: list[bytes] = []
            ids: list[str] = []
            while (run := c.pending.pop(start + len(leaves) + 1, None)) is not None:
                leaves += run[0]
                ids += run[1]
            if not leaves:
                continue
            c.due += fold_into(c.acc, start, leaves, ids, every)
            c.published_seq = start + len(leaves)
            c.last_event_id = ids[-1]
            self._store_court(cur, c)

    def _store_court(self, cur: Any, c: _Court) -> None:
        cur.execute(
            f"UPDATE {self.sch}.courts SET published_seq = %s, acc_state = %s,"
            " last_published_event_id = %s WHERE court_code = %s",
            (c.published_seq, c.acc.state_json(), c.last_event_id, c.code),
        )

    def _folded(self, cur: Any, folds: list[_Fold]) -> bool:
        """Take a submit's folds of the rows being marked (`Staged`) as `_fold` would have
        computed them, if each starts where its court's log is (published prefix and
        accumulator): True; else change nothing and return False."""
        at: dict[str, tuple[int, list[tuple[int, bytes]]]] = {}
        for f in folds:
            c = self.courts.get(f.code)
            if c is None or c.pending:
                return False
            published, state = at.get(f.code) or (c.published_seq, c.acc.state())
            if f.start != published + 1 or f.before != state:
                return False
            at[f.code] = (f.end, f.after)
        for f in folds:
            c = self.courts[f.code]
            c.acc = MerkleAccumulator.from_state(f.after)
            c.published_seq, c.last_event_id = f.end, f.last_event_id
            c.due += f.due
        for code in at:
            self._store_court(cur, self.courts[code])
        return True

    def _store_offsets(self, cur: Any, offsets: dict[int, int]) -> None:
        if offsets:
            db.execute_values(
                cur,
                f"INSERT INTO {self.sch}.relay_offsets (topic, part, next_offset) VALUES %s"
                " ON CONFLICT (topic, part) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                [(self.topic, p, o) for p, o in offsets.items()],
            )

    # ------------------------------------------------------------------ recovery

    def recover(self) -> None:
        """Mark as sent what a crashed relay published but did not mark."""
        with db.unit_of_work(self.conn) as uow:
            cur = uow.cursor
            cur.execute(
                f"SELECT part, next_offset FROM {self.sch}.relay_offsets WHERE topic = %s",
                (self.topic,),
            )
            stored = {int(p): int(o) for p, o in cur.fetchall()}
        found, ends = self._scan(stored)
        with db.unit_of_work(self.conn) as uow:
            cur = uow.cursor
            if found:
                codes, seqs, ids = zip(*found, strict=True)
                cur.execute(
                    f"UPDATE {self.sch}.outbox o SET sent_at = now() FROM {self.sch}.courts c,"
                    " unnest(%s::text[], %s::bigint[], %s::text[]) AS f(code, seq, event_id)"
                    " WHERE o.court_code = f.code AND o.court_seq = f.seq"
                    " AND o.event_id = f.event_id AND c.court_code = o.court_code"
                    f" AND {store.UNSENT}",
                    (list(codes), list(seqs), list(ids)),
                )
                self.result.recovered += cur.rowcount
                if cur.rowcount:
                    log.warning("relay.recovered", events=cur.rowcount)
            self._store_offsets(cur, ends)
            self._load_courts(cur)
            # Rows sent beyond a court's folded prefix (found above, or left by a crash of a
            # previous recovery) wait in `pending` until the gap before them is published.
            for c in self.courts.values():
                cur.execute(
                    f"SELECT court_seq, value, event_id FROM {self.sch}.outbox"
                    " WHERE court_code = %s AND court_seq > %s AND sent_at IS NOT NULL",
                    (c.code, c.published_seq),
                )
                for seq, value, event_id in cur.fetchall():
                    c.pending[int(seq)] = ([leaf_hash(bytes(value))], [event_id])
            self._fold(cur)
            uow.commit()

    def _scan(self, stored: dict[int, int]) -> tuple[set[tuple[str, int, str]], dict[int, int]]:
        """The events on the topic past the stored offsets, as (court_code, court_seq,
        event_id), and the partitions' end offsets."""
        consumer = kafka.consumer(self.s, client_id="hub-court-relay-recovery")
        try:
            parts = [TopicPartition(self.topic, p)
                     for p in sorted(consumer.partitions_for_topic(self.topic) or ())]
            if not parts:
                return set(), {}
            consumer.assign(parts)
            ends = consumer.end_offsets(parts)
            begins = consumer.beginning_offsets(parts)
            found: set[tuple[str, int, str]] = set()
            todo = {}
            for tp in parts:
                start = max(stored.get(tp.partition, 0), begins[tp])
                if start < ends[tp]:
                    consumer.seek(tp, start)
                    todo[tp] = ends[tp]
                else:
                    consumer.pause(tp)
            deadline = time.monotonic() + 120
            while todo and time.monotonic() < deadline:
                for tp, records in consumer.poll(timeout_ms=500).items():
                    for r in records:
                        if r.offset < todo.get(tp, 0):
                            meta = codec.decode_dict(r.value)[1]["meta"]
                            found.add((meta["court_code"], meta["court_seq"], meta["event_id"]))
                    if tp in todo and consumer.position(tp) >= todo[tp]:
                        del todo[tp]
                        consumer.pause(tp)
            if todo:
                raise ServiceUnavailable("Kafka", self.s.kafka_bootstrap, "recovery scan timed out")
            return found, {tp.partition: ends[tp] for tp in parts}
        except kafka.UNAVAILABLE as e:
            raise kafka.unavailable(self.s, e) from e
        finally:
            consumer.close()

    # --------------------------------------------------------------- publishing

    def _fetch(self, after: tuple[str, int]) -> list[Row]:
        with db.unit_of_work(self.conn) as uow:
            # Per court, a primary-key range scan from past its published prefix (or past
            # `after` in the court being read): published rows are never walked again.
            uow.cursor.execute(
                f"SELECT o.court_code, o.court_seq, o.listing_id, o.event_id, o.value,"
                f" o.signature, o.signer FROM {self.sch}.courts c CROSS JOIN LATERAL ("
                f"SELECT * FROM {self.sch}.outbox o WHERE o.court_code = c.court_code"
                " AND o.court_seq > GREATEST(c.published_seq,"
                " CASE WHEN c.court_code = %(code)s THEN %(seq)s ELSE 0 END)"
                " AND o.sent_at IS NULL ORDER BY o.court_seq LIMIT %(n)s) o"
                " WHERE c.court_code >= %(code)s"
                " ORDER BY o.court_code, o.court_seq LIMIT %(n)s",
                {"code": after[0], "seq": after[1],
                 "n": int(os.environ.get("HUB_RELAY_BATCH", BATCH))},
            )
            return list(uow.cursor.fetchall())

    def _partitions(self) -> list[int]:
        try:
            return sorted(self.producer.partitions_for(self.topic))
        except kafka.UNAVAILABLE as e:
            raise kafka.unavailable(self.s, e) from e

    def _send(self, rows: list[Row]) -> _Landed | list[Any]:
        """Queue a batch in the producer: where its records landed (`hub.fastappend`), or
        their futures (`send`, where kafka-python lacks what fastappend needs). Partitions
        are chosen as the default partitioner would (`hub.partitioner`)."""
        parts = self._partitions()
        topic = self.topic
        try:
            if self._fast:
                runs: dict[int, list[bytes]] = {}
                for row in rows:
                    if len(row) > TAIL:  # a submit's row: its record is encoded
                        tail, key_hash = row[TAIL], row[KEY_HASH]
                    else:  # read back from the outbox
                        _, _, lid, _, value, sig, signer = row
                        tail = record_tail(lid, value, sig, signer)
                        key_hash = murmur2(lid.encode("utf-8"))
                    part = partition_for(key_hash, parts)
                    run = runs.get(part)
                    if run is None:
                        runs[part] = [tail]
                    else:
                        run.append(tail)
                return _Landed([landing for part, tails in runs.items()
                                for landing in fastappend.append(self.producer, topic, part,
                                                                 tails)])
            futures = []
            for _, _, lid, _, value, sig, signer, *_ in rows:
                key = lid.encode("utf-8")
                futures.append(self.producer.send(
                    topic, key=key, value=bytes(value), partition=partition_of(key, parts),
                    headers=[(SIG_HEADER, bytes(sig)), (SIGNER_HEADER, signer.encode("ascii"))]))
            return futures
        except kafka.UNAVAILABLE as e:
            raise kafka.unavailable(self.s, e) from e

    def usable(self, rows: Sequence[Row]) -> list[Row]:
        """`rows` (outbox rows a submit just committed, still in its memory) if they are
        exactly what this relay would read next: per court, contiguous and starting right
        after the published prefix, with nothing published beyond it. Else [] (the rows
        are read from the outbox as usual)."""
        runs = _runs(rows)
        if runs is None:  # not court by court in order (a submit hands them so): sort
            runs = _runs(sorted(rows, key=lambda r: (r[0], r[1])))
        out: list[Row] = []
        for code, run in runs or ():
            c = self.courts.get(code)
            if c is None or c.pending or int(run[0][1]) != c.published_seq + 1:
                return []
            out += run
        return out

    def publish(self, progress: Callable[[int], None] | None = None,
                preloaded: Sequence[Row] = ()) -> int:
        """Publish every unsent row, pipelined: one helper thread does all PostgreSQL work
        (reading batch k+1, waiting for batch k's acknowledgements and marking it sent)
        while this thread hands batches to the producer, so neither the producer nor the
        database idles. Of the rows read from the outbox, at most MAX_UNMARKED batches wait
        unmarked; `preloaded` rows (see `usable`), published without being read back, are
        queued all at once: they are in memory already. Returns the number published."""
        total = 0
        marks: list[Future[int]] = []
        queued: deque[_Queued] = deque()
        failed = threading.Event()  # a mark failed: the marks queued behind it mark nothing
        size = int(os.environ.get("HUB_RELAY_BATCH", BATCH))
        ready = self.usable(preloaded)
        staged = self._staged_for(ready)
        if staged is not None:  # the submit wrote its rows' batches: cut as it did
            bounds = list(itertools.accumulate((b.count for b in staged.batches), initial=0))
            batches = [ready[lo:hi] for lo, hi in itertools.pairwise(bounds)]
            built = list(staged.batches)
        else:
            batches = [ready[k : k + size] for k in range(0, len(ready), size)]
            built = []

        def next_batch(after: tuple[str, int]) -> tuple[Future[list[Row]], bool]:
            """The next batch to publish, and whether it was read from the outbox."""
            if batches:
                done: Future[list[Row]] = Future()
                done.set_result(batches.pop(0))
                return done, False
            return db_thread.submit(self._fetch, after), True

        def send(rows: list[Row]) -> _Queued:
            if built:
                b = built.pop(0)
                try:
                    landed = _Landed(fastappend.enqueue(self.producer, self.topic, b.batches))
                except kafka.UNAVAILABLE as e:
                    raise kafka.unavailable(self.s, e) from e
                return rows, landed, b.folds
            return rows, self._send(rows), None

        with ThreadPoolExecutor(1, thread_name_prefix="court-relay-db") as db_thread:
            fetching, fetched = next_batch(("", 0))
            while True:
                rows, from_outbox = fetching.result(), fetched
                if not rows:
                    break
                fetching, fetched = next_batch((rows[-1][0], int(rows[-1][1])))
                queued.append(send(rows))
                # One task per batch queued: each marks the oldest batch still queued and
                # those behind it already acknowledged (`_mark_queued`).
                marks.append(db_thread.submit(self._mark_queued, queued, failed))
                while from_outbox and len(marks) > MAX_UNMARKED:
                    done = marks.pop(0).result()
                    total += done
                    if progress and done:
                        progress(done)
            for m in marks:
                done = m.result()
                total += done
                if progress and done:
                    progress(done)
        return total

    def _staged_for(self, rows: list[Row], timeout: float = 30.0) -> Staged | None:
        """The batches a submit wrote for `rows` (`staged`), once it has finished writing
        them, if they hold exactly those rows and the topic's partitions are still the ones
        they were routed to; else None (and they are dropped)."""
        staged, self.staged = self.staged, None
        if staged is None or not rows or not staged.finished.wait(timeout):
            return None
        if not staged.complete or staged.partitions != self._partitions() or (
                not staged.matches(rows)):
            return None
        return staged

    def _mark_queued(self, queued: deque[_Queued], failed: threading.Event) -> int:
        """Wait for the oldest queued batch's acknowledgements, then mark it sent together
        with every batch behind it already acknowledged: one transaction and one round of
        checkpoints for them all. Returns the rows marked (0: an earlier task took this
        one's batch). Once a mark has failed, nothing more is marked: the next relay's
        recovery finds what reached the topic from the offsets stored before it."""
        if not queued or failed.is_set():
            return 0
        try:
            rows, sent, folds = queued.popleft()
            offsets = self._settle(sent)
            while queued and _acknowledged(queued[0][1]):
                more, sent, more_folds = queued.popleft()
                for part, end in self._settle(sent).items():
                    if end > offsets.get(part, -1):
                        offsets[part] = end
                rows = rows + more
                folds = None if folds is None or more_folds is None else folds + more_folds
            return self._mark(rows, offsets, folds)
        except BaseException:
            failed.set()
            raise

    def _settle(self, sent: _Landed | list[Any]) -> dict[int, int]:
        """Wait for a queued batch's acknowledgements; per partition, the offset after its
        last record. Raises the producer's error, if any."""
        timeout = self.s.kafka_request_timeout_ms / 1000 * 4
        try:
            if isinstance(sent, _Landed):
                return fastappend.settle(sent.landings, timeout)
            offsets: dict[int, int] = {}
            for md in (f.get(timeout=timeout) for f in sent):
                if md.offset + 1 > offsets.get(md.partition, -1):
                    offsets[md.partition] = md.offset + 1
            return offsets
        except kafka.UNAVAILABLE as e:
            raise kafka.unavailable(self.s, e) from e

    def _mark(self, rows: list[Row], offsets: dict[int, int],
              folds: list[_Fold] | None = None) -> int:
        """Mark acknowledged `rows` sent and store the partitions' next `offsets`, in one
        transaction (`folds`: the submit's folds of those rows, `_folded`)."""
        if os.environ.get(FAULT_ENV) == FAULT_AFTER_PUBLISH:
            # Fault injection (tests): die like kill -9 between publishing and marking sent.
            os._exit(137)
        with db.unit_of_work(self.conn) as uow:
            cur = uow.cursor
            self._load_courts(cur)
            if folds is not None and self._folded(cur, folds):
                self._store_offsets(cur, offsets)
                uow.commit()
                self.result.published += len(rows)
                self.issue_checkpoints(final=False)
                return len(rows)
            last: dict[str, int] = {}  # per court, the highest court_seq of the rows
            courts = self.courts
            for code, run in _runs(rows) or _split(rows):
                first = int(run[0][1])
                # A submit's rows carry their leaf hash; rows read back do not (a mark may
                # take both kinds of batch, and a run go on from one to the other).
                leaves = [r[LEAF] if len(r) > LEAF else leaf_hash(bytes(r[4])) for r in run]
                courts[code].pending[first] = (leaves, [r[3] for r in run])
                if first + len(run) - 1 > last.get(code, 0):
                    last[code] = first + len(run) - 1
            self._store_offsets(cur, offsets)
            self._fold(cur)
            # A row is sent once its court's contiguous published prefix covers it (the
            # `courts` row just updated by _fold): no per-row UPDATE, which cost the
            # database as much as the relay's reads (issue #4). Only rows published past
            # a gap (after a recovery) are marked one by one.
            for code, top in last.items():
                if top <= courts[code].published_seq:
                    continue
                beyond = [int(r[1]) for r in rows
                          if r[0] == code and int(r[1]) > courts[code].published_seq]
                if beyond:
                    cur.execute(
                        f"UPDATE {self.sch}.outbox SET sent_at = now() WHERE court_code = %s"
                        " AND court_seq = ANY(%s) AND sent_at IS NULL",
                        (code, beyond),
                    )
            uow.commit()
        self.result.published += len(rows)
        self.issue_checkpoints(final=False)
        return len(rows)

    # -------------------------------------------------------------- checkpoints

    def issue_checkpoints(self, final: bool) -> None:
        """Publish the checkpoints due: every N events, every T seconds when new events
        exist, and at the end of a drain (so a drain always ends covered). A checkpoint is
        recorded once acknowledged: a drain's last call (`final`) waits for every one
        issued, the others record those already acknowledged and leave the rest in flight
        (a mark does not wait a round trip for them)."""
        self._record_checkpoints(wait=False)
        now = time.time()
        out: list[tuple[_Court, int, bytes, str]] = []
        for c in self.courts.values():
            for size, root, eid in c.due:
                if size > c.checkpoint_seq:
                    out.append((c, size, root, eid))
            c.due.clear()
            newer = c.published_seq > max([c.checkpoint_seq] + [o[1] for o in out if o[0] is c])
            if newer and c.last_event_id and (
                final or now - c.checkpoint_at >= self.s.checkpoint_seconds
            ):
                out.append((c, c.published_seq, c.acc.root(), c.last_event_id))
        if out:
            issued_at = datetime.now(UTC)
            rows = []
            futures = []
            try:
                for c, size, root, eid in out:
                    cp = CourtCheckpoint(court_code=c.code, tree_size=size, root_hash=root,
                                         last_event_id=eid, issued_at=issued_at)
                    value = codec.encode(cp)
                    key = self._key(c.code)
                    sig = key.sign(value)
                    futures.append(self.producer.send(
                        self.s.checkpoint_topic, key=c.code.encode("utf-8"), value=value,
                        headers=[(SIG_HEADER, sig), (SIGNER_HEADER, key.signer.encode("ascii"))],
                    ))
                    rows.append((c.code, size, root, eid, issued_at, value, sig))
                    # issued: not due again, whether or not it is acknowledged yet
                    c.checkpoint_seq = max(c.checkpoint_seq, size)
                    c.checkpoint_at = now
            except kafka.UNAVAILABLE as e:
                raise kafka.unavailable(self.s, e) from e
            self._checkpoints_in_flight.append((futures, rows))
        if final:
            self._record_checkpoints(wait=True)

    def _record_checkpoints(self, wait: bool) -> None:
        """Record, in the order issued, the checkpoints whose records are acknowledged
        (`wait`: all of them, waiting for each)."""
        rows: list[tuple[Any, ...]] = []
        flight = self._checkpoints_in_flight
        try:
            while flight and (wait or all(f.is_done for f in flight[0][0])):
                # Wait for these records only: flush() would also wait for the event batch
                # already in flight and stall the pipeline.
                for f in flight[0][0]:
                    f.get(timeout=self.s.kafka_request_timeout_ms / 1000 * 4)
                rows += flight.popleft()[1]
        except kafka.UNAVAILABLE as e:
            raise kafka.unavailable(self.s, e) from e
        if not rows:
            return
        with db.unit_of_work(self.conn) as uow:
            db.execute_values(
                uow.cursor,
                f"INSERT INTO {self.sch}.checkpoints (court_code, tree_size, root_hash,"
                " last_event_id, issued_at, value, signature) VALUES %s ON CONFLICT DO NOTHING",
                rows,
            )
            recorded: dict[str, tuple[int, datetime]] = {}
            for code, size, _, _, issued_at, _, _ in rows:
                if size > recorded.get(code, (0, issued_at))[0]:
                    recorded[code] = (size, issued_at)
            for code, (size, issued_at) in recorded.items():
                uow.cursor.execute(
                    f"UPDATE {self.sch}.courts SET checkpoint_seq = GREATEST(checkpoint_seq, %s),"
                    " checkpoint_at = %s WHERE court_code = %s",
                    (size, issued_at, code),
                )
            uow.commit()
        self.result.checkpoints += len(rows)
