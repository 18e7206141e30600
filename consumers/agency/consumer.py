"""`hub agency run`: one consumer group per unit reading the court log into the unit's
projection.

Exactly-once effects (design.md, "tracking records"): the projection rows, the outbox rows
(acks, dead letters) and the consumed offsets are written in ONE PostgreSQL transaction per
poll; on assignment the consumer seeks to the stored offsets, and a batch re-checks them
under a row lock, so a record re-delivered after a crash or rebalance is never applied
twice. Kafka's committed offsets are only a hint (for `kafka-consumer-groups` and lag tools).

Faults: PostgreSQL or Kafka down → retry with backoff, logged once per state change; after
a failed batch the consumer seeks back to the stored offsets, so nothing is ever skipped.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kafka import ConsumerRebalanceListener, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from consumers.agency import keep, schema, store
from consumers.agency.acklog import AckLog
from consumers.agency.batch import Inbound, Pending, chain_keys
from consumers.agency.courtrefs import CourtCheckpoints
from consumers.agency.projection import Folder
from hub import db, kafka, kafka_internals, outbox
from hub.config import Settings, check_slug
from hub.domain.catalogue import default_catalogue
from hub.errors import HubError, InputError, ServiceUnavailable
from hub.keys import ensure_key, load_trust, unit_signer
from hub.log import get_logger

log = get_logger("hub.agency")

GC_THRESHOLD = 20_000
# A member out of a stable group membership (or without the partitions it should own) for
# this long is stuck (kafka-python 3.0 can lose its group coordinator after a missed
# heartbeat and never find it again, seen with 8 units starting at once on 2 cores): its
# Kafka clients are made anew.
STUCK_SECONDS = 30.0  # allocations between young-generation collections (default 700)

RETRYABLE = (ServiceUnavailable, KafkaError, db.DatabaseError, OSError)


@dataclass
class Stats:
    applied: int = 0
    dead: int = 0
    acks: int = 0
    skipped: int = 0
    relayed: int = 0
    batches: int = 0
    offsets: dict[str, int] = field(default_factory=dict)


def check_unit(unit: str) -> str:
    check_slug(unit)
    try:
        default_catalogue().unit(unit)
    except KeyError as e:
        raise InputError(str(e)) from e
    return unit


class _Seeker(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: UnitConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        # every applied batch is already committed with its offsets; a batch still in the
        # signature worker is dropped (re-read from the stored offsets)
        self.owner.rebalanced = True

    def on_partitions_assigned(self, assigned: Any) -> None:
        # kafka-python 3 runs a listener on its network thread: no I/O here (a blocking
        # call stops the heartbeats, and the database connection belongs to the main
        # thread). The loop seeks every assigned partition to its stored offset before
        # applying anything (positions from Kafka's commits are never ahead of the stored
        # ones, but a rebuild resets the stored ones to zero).
        self.owner.needs_seek = True
        self.owner.rebalanced = True


class UnitConsumer:
    def __init__(self, s: Settings, unit: str, *, sweep_seconds: float = 60.0,
                 poll_records: int = 2000, backoff_max: float = 10.0,
                 instance: int | None = None) -> None:
        self.s = s
        self.unit = check_unit(unit)
        self.topic = s.court_topic
        self.schema = schema.schema_name(s, unit)
        self.sweep_seconds = sweep_seconds
        self.poll_records = poll_records
        self.backoff_max = backoff_max
        # Static membership: one id per member of the unit's group (`--processes N` gives
        # each process its number); the single-process id is what it always was.
        self.instance_id = f"{unit}-{s.topic_prefix or 'main'}" + (
            "" if instance is None else f"-{instance}")
        self.instance = instance
        self._unassigned_since: float | None = None
        self.stats = Stats()
        self.stop = threading.Event()
        self.conn: db.Connection | None = None
        self.consumer: Any = None
        self.producer: Any = None
        self.relayer: outbox.BackgroundRelay | None = None
        self._state = "starting"
        self._last_sweep = 0.0
        self.needs_seek = False
        self.rebalanced = False
        # Pipelining (issue #5): the batch polled last has its signatures checked in a worker
        # process while this one is folded and written; batches are applied in poll order.
        self._pending: Pending | None = None
        self.on_batch: Any = None  # progress callback (rebuild)
        self._applied: dict[tuple[str, int], int] = {}
        self.key, _ = ensure_key(s, unit_signer(unit))
        self.folder = Folder(s, unit, self.key, default_catalogue(), lambda: load_trust(s))
        self.court_checkpoints = CourtCheckpoints(s, unit, lambda: load_trust(s))
        self.acklog = AckLog(s, unit, self.key, self.court_checkpoints.references)
        self._last_seal_check = time.monotonic()

    # ------------------------------------------------------------------ plumbing
    def _note(self, state: str, **kw: Any) -> None:
        """Log once per state change (not once per retry)."""
        if state != self._state:
            (log.warning if state != "running" else log.info)(
                "unit consumer " + state, unit=self.unit, **kw)
            self._state = state

    def _db(self) -> db.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = db.connect(self.s.pg_dsn, f"hub-agency-{self.unit}")
            schema.ensure_schema(self.conn, self.s, self.unit)
        return self.conn

    def _drop_db(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001, S110 - a dead connection may fail to close
                pass
        self.conn = None

    def _connect(self) -> None:
        if self.consumer is not None:
            return
        kafka.ensure_topics(self.s, kafka.specs_for(
            self.s, [self.topic, self.s.checkpoint_topic, self.s.ack_topic(self.unit),
                     self.s.dlq_topic(self.unit)], [self.unit]))
        recovered = outbox.recover(self._db(), self.schema, self.s)
        if recovered:
            log.info("outbox recovered", unit=self.unit, already_published=recovered)
        self.producer = kafka.producer(
            self.s, client_id=f"hub-unit-{self.unit}-relay", max_block_ms=10_000,
            delivery_timeout_ms=30_000, request_timeout_ms=10_000)
        self.consumer = kafka.consumer(
            self.s, client_id=f"hub-unit-{self.unit}", group_id=self.s.unit_group(self.unit),
            max_poll_records=self.poll_records,
            # Static membership: a restarted unit takes its partitions back at once instead
            # of waiting for the old member's session to time out.
            group_instance_id=self.instance_id,
            session_timeout_ms=10_000, heartbeat_interval_ms=3_000,
        )
        self._await_partitions()
        self.consumer.subscribe([self.topic], listener=_Seeker(self))
        self.relayer = outbox.BackgroundRelay(
            self.s, self.schema, self.producer, f"hub-agency-{self.unit}-relay",
            self._relay_state).start()

    def _drop_kafka(self) -> None:
        """Close the Kafka clients (the next `_connect` makes new ones); the database
        connection and the projection are kept."""
        if self.relayer is not None:
            self.relayer.stop()
            self.stats.relayed += self.relayer.sent
            self.relayer = None
        for client, kwargs in ((self.consumer, {"autocommit": False}),
                               (self.producer, {"timeout": 5})):
            try:
                if client is not None:
                    client.close(**kwargs)
            except Exception:  # noqa: BLE001, S110 - a stuck client may fail to close
                pass
        self.consumer = self.producer = None
        self._pending = None

    def _stuck(self) -> bool:
        """True once this member has been out of a stable group membership, or without a
        partition it should own (the only member, or one of no more members than
        partitions), for STUCK_SECONDS. Membership is read from kafka-python's coordinator
        (`hub.kafka_internals.group_stable`: where it cannot be known, only the assignment
        counts)."""
        stable = kafka_internals.group_stable(self.consumer) is not False
        parts = self.consumer.partitions_for_topic(self.topic) or ()
        should_own = self.instance is None or self.instance < len(parts)
        if stable and (self.consumer.assignment() or not should_own):
            self._unassigned_since = None
            return False
        now = time.monotonic()
        if self._unassigned_since is None:
            self._unassigned_since = now
        if now - self._unassigned_since < STUCK_SECONDS:
            return False
        self._unassigned_since = None
        return True

    def _await_partitions(self, timeout: float = 30.0) -> None:
        """Subscribe only once this client's metadata knows the court topic's partitions.
        A static member (group_instance_id) that joins while the topic is still unknown to
        it is assigned nothing, and its restarts get that cached empty assignment back
        without a rebalance: the unit would then poll forever and read nothing (seen in
        the kill -9 reliability test when a consumer started as the topic was created)."""
        deadline = time.monotonic() + timeout
        while not self.consumer.partitions_for_topic(self.topic):
            if time.monotonic() > deadline:
                raise ServiceUnavailable("Kafka", self.s.kafka_bootstrap,
                                         f"no partition metadata for {self.topic}")
            self.stop.wait(0.2)

    def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        with db.unit_of_work(self._db()) as uow:
            stored = store.load_offsets(uow.cursor, self.schema, self.topic)
        for tp in partitions:
            nxt = stored.get((tp.topic, tp.partition))
            if nxt is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, nxt)

    def close(self) -> None:
        self.folder.close()
        self.court_checkpoints.close()
        self._drop_kafka()
        self._drop_db()

    # ------------------------------------------------------------------ work
    @staticmethod
    def _inbound(polled: dict[TopicPartition, list[Any]]) -> list[Inbound]:
        return [
            Inbound(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or ()))
            for tp in sorted(polled, key=lambda t: t.partition) for r in polled[tp]
        ]

    def apply(self, polled: dict[TopicPartition, list[Any]]) -> None:
        """Apply one polled batch now (no pipelining)."""
        self._apply(self.folder.submit(self._inbound(polled)))

    def _apply(self, pending: Pending) -> None:
        records = pending.records
        with db.unit_of_work(self._db()) as uow:
            cur = uow.cursor
            stored = store.load_offsets(cur, self.schema, self.topic, lock=True)
            decoded = self.folder.finish(pending, stored)
            states, flags = store.load_states(cur, self.schema, decoded)
            recorded = store.recorded_seqs(
                cur, self.schema, {d.event.meta.court_code for d in decoded if d.event is not None})
            wanted, ids = chain_keys(decoded, recorded)
            links, known = store.load_chain(cur, self.schema, wanted, ids)
            ch = self.folder.fold_batch(decoded, states, flags, links, known)
            store.write(cur, self.schema, ch)
            # one signed UnitAckBatch for the batch's acks (after the rows: lock order)
            acked = self.acklog.append(cur, self.schema, ch.acks)
            store.write_outbox(cur, self.schema, ch, acked)
            uow.commit()
        st = self.stats
        st.applied += ch.applied
        st.dead += len(ch.dead)
        st.acks += len(ch.acks)
        st.skipped += ch.skipped + (len(records) - len(decoded))
        st.batches += 1
        for (_, p), o in ch.offsets.items():
            st.offsets[str(p)] = o
        self._applied = ch.offsets
        if self.on_batch is not None:
            self.on_batch(st)
        for rec, kind, reason in ch.dead:
            log.warning("dead letter", unit=self.unit, partition=rec.partition,
                        offset=rec.offset, kind=kind, reason=reason)

    def relay(self) -> None:
        """Publish the outbox now, in this thread (start-up, end of --until-idle)."""
        self.stats.relayed += outbox.relay(self._db(), self.schema, self.producer)

    def _kick_relay(self) -> None:
        if self.relayer is not None:
            self.relayer.kick()
        else:  # stopped for the final flush of --until-idle, which failed: relay here
            self.relay()

    def _relay_state(self, state: str) -> None:
        (log.info if state == "ok" else log.warning)("ack relay " + state, unit=self.unit)

    def sweep(self, now: datetime | None = None) -> int:
        n = keep.sweep(self._db(), self.s, self.unit, self.folder, now or datetime.now(UTC),
                       self.acklog)
        self._last_sweep = time.monotonic()
        return n

    def seal(self) -> bool:
        """Sign a UnitCheckpoint now if batches were appended since the last one (by this
        process, another one of the unit, or `hub agency keep`/`sweep`)."""
        self._last_seal_check = time.monotonic()
        with db.unit_of_work(self._db()) as uow:
            records = self.acklog.seal_pending(uow.cursor, self.schema)
            if records:
                outbox.enqueue(uow.cursor, self.schema, records)
                uow.commit()
        return bool(records)

    def _recover(self) -> None:
        """After a failure: new DB connection, and every assigned partition back to its
        stored offset (the failed batch was rolled back: re-read it, never skip it)."""
        self._drop_db()
        self.needs_seek = True
        self._pending = None

    def _commit_hint(self) -> None:
        """Commit the applied offsets to Kafka (a hint for lag tools only: the consumer's
        position may be a batch ahead, in the signature worker)."""
        applied, self._applied = self._applied, {}
        if applied:
            try:
                self.consumer.commit_async(offsets={
                    TopicPartition(t, p): OffsetAndMetadata(o, "", -1)
                    for (t, p), o in applied.items()})
            except KafkaError:
                pass

    def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        """--until-idle: every assigned partition read to the end seen at start and, for a
        single process, the stored offsets of EVERY partition there. A group can still list
        members that left without leaving (static members of an earlier `--processes N`
        run, until their session times out): they hold partitions that nobody reads, and
        this process must not stop while those are behind (a rebuild stopped after one
        partition of three). One of `--processes N` only answers for its own partitions:
        its supervisor checks the stored offsets of all."""
        assigned = self.consumer.assignment()
        if not assigned:
            return False
        if not all(self.consumer.position(tp) >= ends.get(tp, 0) for tp in assigned):
            return False
        if self.instance is not None:
            return True
        with db.unit_of_work(self._db()) as uow:
            stored = store.load_offsets(uow.cursor, self.schema, self.topic)
        return all(stored.get((tp.topic, tp.partition), 0) >= end for tp, end in ends.items())

    def run(self, until_idle: bool = False) -> Stats:
        # The fold allocates many short-lived objects and almost no cycles: scan the young
        # generation less often and keep what start-up loaded out of every scan (~10% of
        # the fold's time went to the cyclic collector, issue #5).
        gc.collect()
        gc.freeze()
        if gc.get_threshold()[0] < GC_THRESHOLD:
            gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        backoff = 0.5
        ends: dict[TopicPartition, int] | None = None
        try:
            while not self.stop.is_set():
                try:
                    self._connect()
                    if until_idle and ends is None:
                        ends = kafka.end_offsets(self.s, [self.topic])
                    polled = self.consumer.poll(
                        timeout_ms=0 if self._pending is not None else 500,
                        max_records=self.poll_records)
                    if not polled and self._pending is None and self._stuck():
                        log.warning("unit consumer out of its group; joining it anew",
                                    unit=self.unit, after_s=STUCK_SECONDS)
                        self._drop_kafka()
                        continue
                    if self.rebalanced:
                        self.rebalanced = False
                        if self._pending is not None:  # polled before: maybe not ours now
                            self._pending = None
                            self.needs_seek = True
                    if self.needs_seek:
                        # Whatever this poll returned came from an unchecked position.
                        self._pending = None
                        self.seek_to_stored(list(self.consumer.assignment()))
                        self.needs_seek = False
                        continue
                    nxt = self.folder.submit(self._inbound(polled)) if polled else None
                    if self._pending is not None:
                        self._apply(self._pending)
                        self._pending = None
                        self._kick_relay()
                        self._commit_hint()
                    self._pending = nxt
                    if time.monotonic() - self._last_sweep >= self.sweep_seconds:
                        self.sweep()
                        self._kick_relay()
                    if (self._pending is None and time.monotonic() - self._last_seal_check
                            >= self.acklog.seconds and self.seal()):
                        self._kick_relay()
                    self._note("running")
                    backoff = 0.5
                    if (until_idle and ends is not None and self._pending is None
                            and self._caught_up(ends)):
                        self.sweep()
                        self.seal()
                        if self.relayer is not None:
                            self.relayer.stop()
                            self.stats.relayed += self.relayer.sent
                            self.relayer = None
                        self.relay()  # in this thread: errors are retried by this loop
                        return self.stats
                except RETRYABLE as e:
                    if isinstance(e, db.DatabaseError) and not _transient(e):
                        raise
                    self._note("waiting", cause=f"{type(e).__name__}: {e}"[:300])
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, self.backoff_max)
                    try:
                        self._recover()
                    except RETRYABLE:
                        pass
            return self.stats
        finally:
            self.close()


def _transient(e: HubError) -> bool:
    text = str(e).lower()
    return any(w in text for w in ("connection", "terminat", "server closed", "shutdown",
                                   "could not", "deadlock", "serializ"))
