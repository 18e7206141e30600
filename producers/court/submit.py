"""`hub court submit`: a whole JSON Lines file of court decisions in, one transaction out.

Court-decisions.md "Errors": a file with any invalid line is rejected as a whole and nothing
of it is recorded. Parsing and stateless rules are `hub.domain.decisions`; state rules are
`hub.domain.listing.apply` folded over the store's current states, read inside the same
transaction that holds the court's head row (SELECT … FOR UPDATE), so two submits at once
cannot break the gap-free sequence or validate against stale state."""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.pool
import operator
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import orjson

from hub import codec, db
from hub.config import Settings
from hub.domain.decisions import PROCEDURE_ACTIONS, DecisionError, meta_for, parse_line, to_event
from hub.domain.events import CourtEvent
from hub.domain.listing import ListingState, TransitionError, apply
from hub.domain.procedures import Procedures
from hub.errors import InputError
from hub.keys import court_signer, ensure_key
from hub.ledger import GENESIS_HASH, SigningKey, chain_hash, leaf_hash
from hub.log import get_logger
from producers.court import copytext, store
from producers.court.avrobin import avro_long, micros
from producers.court.drain import EarlyRelay, drain_after_submit
from producers.court.prepare import (
    Prepared,
    content_hash,  # noqa: F401 - part of this module's API
    inherit,
    prepare_chunk,  # noqa: F401 - part of this module's API
    prepare_lines,
    prepare_range,
    sign_chunk,
    splice,  # noqa: F401 - part of this module's API (inlined in _record)
)
from producers.court.relay import Row, Staged, record_tail  # outbox rows, their records

log = get_logger("court.submit")

Progress = Callable[[int], None]
# A prepared line as the workers send it (`prepare.prepare_lines`): the fields of
# `Prepared` up to `post`, the subject's listings columns, the key hash, as a plain tuple
# (building 200k named tuples took the main process ~0.5 s while the workers ran).
Item = tuple[Any, ...]
# A court's signatures, Merkle leaf hashes and Kafka records (`relay.record_tail`).
_Signed = tuple[list[bytes], list[bytes], list[bytes]]
_CODE, _NO, _LID, _ACTION = (Prepared._fields.index(f)
                             for f in ("court_code", "decision_no", "listing_id", "action"))

DECISION_COLUMNS = (
    "court_code", "decision_no", "listing_id", "action", "decided_at", "court_seq", "event_id",
    "content_hash", "recorded_at",
)
OUTBOX_COLUMNS = (
    "court_code", "court_seq", "event_id", "listing_id", "value", "signature", "signer",
)


class SubmitRejected(InputError):
    """The file is refused as a whole; `errors` holds every problem (line, key, reason)."""

    def __init__(self, errors: list[DecisionError]) -> None:
        self.errors = errors
        lines = len({e.line for e in errors})
        super().__init__(
            f"{len(errors)} problem(s) on {lines} line(s); the file was refused, nothing recorded"
        )


class ConcurrentListing(InputError):
    """A listing new to this file was recorded by another submit while this one ran (two
    courts used the same listing_id at the same moment; a listing is one court's,
    hub.domain.listing.RULE_IDENTITY). Nothing of the file is recorded; submitted again, it
    is validated against that listing."""

    def __init__(self, listing_id: str | None) -> None:
        self.listing_id = listing_id
        super().__init__(
            f"listing_id {listing_id or '(unknown)'} was recorded by another submit while this"
            " one ran (a listing belongs to one court); the file was refused, nothing"
            " recorded: check that listing and submit the file again"
        )


@dataclass
class SubmitResult:
    accepted: int = 0
    skipped: int = 0
    published: int = 0
    checkpoints: int = 0
    courts: list[str] = field(default_factory=list)
    keys_created: list[str] = field(default_factory=list)
    relay_note: str | None = None
    # The outbox rows this submit committed, for a drain that follows it (`relay=False`,
    # then `drain_after_submit(s, preloaded=result.committed)`): published without being
    # read back when nothing older is pending. Not part of the result's document.
    committed: list[Row] = field(default_factory=list, repr=False, compare=False)
    # The relay started while recording, for that drain (`early_relay=True`), or None.
    early: EarlyRelay | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("committed", "early")}


@dataclass
class _Head:
    seq: int
    hash: bytes
    key: SigningKey


POOL_FROM = 4_000  # lines: below this, starting worker processes costs more than it saves
CHUNK = 2_000  # lines a worker task
SIGN_CHUNK = 5_000  # values a signing task


class _Pool(multiprocessing.pool.Pool):
    """multiprocessing's Pool, with a worker-maintenance thread that results do not wake.

    CPython's Pool wakes that thread (`_handle_workers`) whenever its results pipe is
    readable (`_get_sentinels` lists the pipe's reader, bpo-35493), and the thread does not
    read it: while the result thread takes in a large result, the maintenance thread spins
    on the pipe, and took ~0.5 s of CPU and of the interpreter lock from a 200k submit's
    main process (issue #4). It still wakes when a worker exits (the workers' sentinels) or
    the pool changes state (its change notifier), the only events it acts on."""

    def _get_sentinels(self) -> list[Any]:
        return [self._change_notifier._reader]  # type: ignore[attr-defined]

    @staticmethod
    def _help_stuff_finish(inqueue: Any, task_handler: threading.Thread, size: int) -> None:
        """`terminate` drains the task pipe so that the task thread, which may be blocked
        writing a task no worker will read, can end. CPython's version stops as soon as the
        pipe is empty, and a task thread that had just taken a large task (a signing
        chunk) then blocks on it after the drain, forever: a failed submit hung in
        `terminate`. This one drains until the task thread has ended."""
        inqueue._rlock.acquire()
        while task_handler.is_alive():
            if inqueue._reader.poll(0.01):
                inqueue._reader.recv()


def _pool(n_lines: int) -> Any:
    """Worker processes for the stateless work, on every core (2-core target machine).
    Forked: the children inherit the imported modules and schemas, and only ever run
    `producers.court.prepare`, which touches no lock another thread may hold."""
    cores = os.cpu_count() or 1
    if n_lines < POOL_FROM or cores < 2:
        return None
    fork = multiprocessing.get_context("fork")
    if hasattr(multiprocessing.pool.Pool, "_get_sentinels"):
        return _Pool(processes=cores, context=fork)
    return fork.Pool(processes=cores)  # another Pool: as it is


def _prepare_all(
    pool: Any, text: list[str], progress: Progress | None
) -> tuple[list[Item], list[DecisionError]]:
    bounds = [(k, min(k + CHUNK, len(text))) for k in range(0, len(text), CHUNK)]
    if pool is None:
        results = map(prepare_lines, [(lo + 1, text[lo:hi]) for lo, hi in bounds])
    else:  # the workers inherited `text` (see `submit`)
        results = pool.imap(prepare_range, [(id(text), lo, hi) for lo, hi in bounds])
    prepared: list[Item] = []
    errors: list[DecisionError] = []
    for (lo, hi), (items, errs) in zip(bounds, results, strict=True):
        errors.extend(DecisionError(*e) for e in errs)
        if not errors:
            prepared.extend(items)
        if progress:
            progress(hi - lo)
    return prepared, errors


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a submit runs (then as it was). A submit
    builds millions of acyclic objects (lines, their fields, rows), which reference counting
    frees; the collector found nothing to collect in them, and scanned them ~2,500 times in
    a 200k submit (0.3 s of its main process, and a share of its workers', which are forked
    with it off)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def submit(
    s: Settings,
    lines: Iterable[str],
    *,
    relay: bool = True,
    progress: Progress | None = None,
    on_key_created: Callable[[str], None] | None = None,
    early_relay: bool | None = None,
) -> SubmitResult:
    """Validate and record a whole file of decisions; then drain the outbox unless
    `relay=False`. Raises SubmitRejected (InputError, exit 2) listing every problem.
    `early_relay` (default: `relay`): start the relay while recording (`drain.EarlyRelay`;
    with `relay=False` it is `result.early`, for `drain_after_submit(early=...)`)."""
    with _no_cyclic_gc():
        return _submit(s, lines, relay, progress, on_key_created, early_relay)


def _submit(
    s: Settings,
    lines: Iterable[str],
    relay: bool,
    progress: Progress | None,
    on_key_created: Callable[[str], None] | None,
    early_relay: bool | None,
) -> SubmitResult:
    early: EarlyRelay | None = None
    text = list(lines)
    # Before the fork, and for as long as the workers live (a replaced worker forks again):
    # they read the lines from their own copy instead of receiving them.
    inherit(id(text), text)
    pool = None
    pool_gone = threading.Event()  # set as the workers are terminated
    try:
        pool = _pool(len(text))
        prepared, errors = _prepare_all(pool, text, progress)
        if errors:
            raise SubmitRejected(errors)
        result = SubmitResult(courts=sorted({p[_CODE] for p in prepared}))
        keys: dict[str, SigningKey] = {}
        for code in result.courts:
            key, created = ensure_key(s, court_signer(code))
            keys[code] = key
            if created:
                result.keys_created.append(code)
                if on_key_created:
                    on_key_created(code)

        def start_relay() -> EarlyRelay:  # once the file is known valid, before its COPYs
            nonlocal early
            early = EarlyRelay(s)
            return early

        want_early = relay if early_relay is None else early_relay
        # reused by the next submit of this process (a service, a long-lived caller)
        with store.store_connection(s, "hub-court-submit") as conn:
            published = _record(s, conn, text, prepared, keys, result, pool, pool_gone,
                                start_relay if want_early else None)
            if not relay:
                result.committed, result.early, early = published, early, None
    except BaseException:
        if early is not None:
            early.close()
        raise
    finally:
        if pool is not None:
            pool_gone.set()
            pool.terminate()
            pool.join()
        inherit(id(text), None)
    if relay:
        r = drain_after_submit(s, preloaded=published, early=early)
        result.published, result.checkpoints, result.relay_note = (
            r.published, r.checkpoints, r.note,
        )
    return result


def _procedures(cur: Any, sch: str, listing_ids: set[str]) -> dict[str, Procedures]:
    """`hub.domain.procedures.Procedures` of these listings, from their recorded events."""
    if not listing_ids:
        return {}
    out = {lid: Procedures(lid) for lid in listing_ids}
    cur.execute(
        f"SELECT d.listing_id, o.value FROM {sch}.decisions d JOIN {sch}.outbox o"
        " ON o.court_code = d.court_code AND o.court_seq = d.court_seq"
        " WHERE d.listing_id = ANY(%s) ORDER BY d.listing_id, d.court_seq",
        (sorted(listing_ids),))
    for lid, value in cur.fetchall():
        out[lid].add(codec.decode(bytes(value)))
    return out


def _slow_event(
    text: list[str], line: int, seq: int, prev_hash: bytes, recorded_at: datetime
) -> CourtEvent:
    """The event built the plain way (decisions that change an existing listing)."""
    d = parse_line(text[line - 1], line)
    return to_event(d, meta_for(d, court_seq=seq, prev_hash=prev_hash, recorded_at=recorded_at))


def _check_fast_path(
    text: list[str], line: int, seq: int, prev_hash: bytes, recorded_at: datetime, value: bytes,
) -> None:
    """Once a court a submit (its first new listing): the spliced value equals the plain
    one. (The workers compare the whole `Prepared` of the first fast-path line of every
    chunk with the plain path's: prepare.check_fast.)"""
    event = _slow_event(text, line, seq, prev_hash, recorded_at)
    if value != codec.encode_dict(event.AVRO_NAME, event.model_dump()):
        raise RuntimeError("spliced event value differs from the codec's encoding")


# A large list of keys goes to PostgreSQL as one JSON text, expanded by the server: an array
# parameter is quoted element by element by psycopg2 and parsed as a literal by the server,
# twice the time for a file's 200k keys (~0.35 s against ~0.16 s a query, issue #4).
_JSON_TEXTS = "SELECT json_array_elements_text(%s::json)"


def _json_list(items: Iterable[str]) -> str:
    return orjson.dumps(list(items)).decode()


def _record(
    s: Settings,
    conn: db.Connection,
    text: list[str],
    prepared: list[Item],
    keys: dict[str, SigningKey],
    result: SubmitResult,
    pool: Any,
    pool_gone: threading.Event,
    on_valid: Callable[[], EarlyRelay | None] | None = None,
) -> list[Row]:
    """Record the file in one transaction (`prepared`: its lines, which it consumes);
    returns the outbox rows it committed (the relay publishes them without reading them
    back, `relay.Relay.usable`). `on_valid` is called once every rule has passed, before
    the rows are written; the relay it may start gets the events' producer batches
    written (`relay.Staged`)."""
    sch = store.schema(s)
    courts = result.courts
    with db.unit_of_work(conn) as uow:
        cur = uow.cursor
        cur.execute("SELECT now()")
        recorded_at: datetime = cur.fetchone()[0].astimezone(UTC)  # transaction time
        recorded_us = micros(recorded_at)
        db.execute_values(
            cur,
            f"INSERT INTO {sch}.courts (court_code, last_hash) VALUES %s ON CONFLICT DO NOTHING",
            [(c, GENESIS_HASH) for c in courts],
        )
        # Lock the heads in a fixed order (no deadlock between two submits).
        cur.execute(
            f"SELECT court_code, last_seq, last_hash FROM {sch}.courts"
            " WHERE court_code = ANY(%s) ORDER BY court_code FOR UPDATE",
            (courts,),
        )
        heads = {c: _Head(int(q), bytes(h), keys[c]) for c, q, h in cur.fetchall()}

        numbers: dict[str, list[str]] = {}
        if len(courts) == 1:  # the usual file: one court's decisions, gathered in C
            numbers[courts[0]] = list(map(operator.itemgetter(_NO), prepared))
        else:
            for p in prepared:
                numbers.setdefault(p[_CODE], []).append(p[_NO])
        seen: dict[tuple[str, str], tuple[bytes, int | None]] = {}
        for code in courts:
            cur.execute(
                f"SELECT decision_no, content_hash FROM {sch}.decisions"
                f" WHERE court_code = %s AND decision_no IN ({_JSON_TEXTS})",
                (code, _json_list(numbers[code])),
            )
            for no, h in cur.fetchall():
                seen[(code, no)] = (bytes(h), None)
        cur.execute(
            f"SELECT l.listing_id, {store.listing_state_sql(sch)} FROM {sch}.listings l"
            f" WHERE l.listing_id IN ({_JSON_TEXTS})"
            " ORDER BY l.listing_id FOR UPDATE OF l",
            (_json_list(map(operator.itemgetter(_LID), prepared)),),
        )
        # A state is a model, or for a listing that this file lists, the value of its event
        # (its state is `store.listed_state` of it, derived only if a later line needs it).
        states: dict[str, ListingState | bytes] = {
            lid: store.state_of(state, value) for lid, state, value in cur.fetchall()
        }
        stored = set(states)  # listings that exist (and are locked); the others are new
        # the due-process history of the listings this file records a procedure of
        procedures = _procedures(cur, sch, {p[_LID] for p in prepared
                                            if p[_ACTION] in PROCEDURE_ACTIONS})

        errors: list[DecisionError] = []
        # COPY binary rows, built here with each column's known type (store.binary_row
        # gives the same bytes for the same row; tests/unit/test_court_fastpath.py).
        decision_rows = copytext.Rows()
        # per court: outbox prefix (copytext.outbox_prefix), value, seq, listing_id,
        # event_id, key_hash
        outbox: dict[str, list[tuple[bytes, bytes, int, str, str, int | None]]] = {
            c: [] for c in courts}
        changed: dict[str, str] = {}  # listing_id -> court_code
        fresh: dict[str, bytes] = {}  # the listings row of a listing this file lists
        checked: set[str] = set()  # courts whose first fast-path value was re-derived
        signer = _Signer(s, heads, pool, pool_gone)
        rec_field = store.binary_field(recorded_at)
        rec_avro = avro_long(recorded_us)
        binary_field, text_field = store.binary_field, copytext.text_field
        code_fields = {c: binary_field(c) for c in courts}
        action_fields: dict[str, bytes] = {}
        decided_fields: dict[datetime, bytes] = {}  # a file repeats its decision times
        for p in prepared:
            line, code, no, lid, action, decided_at, h, eid, pre, mid, post, subject_f, kh = p
            prior = seen.get((code, no))
            if prior is not None:
                if prior[0] == h:
                    result.skipped += 1
                else:
                    where = "already recorded" if prior[1] is None else f"used on line {prior[1]}"
                    errors.append(DecisionError(
                        line, "decision_no", f"{where} with different content",
                    ))
                continue
            seen[(code, no)] = (h, line)
            head = heads[code]
            seq = head.seq + 1
            state = states.get(lid)
            code_f, lid_f = code_fields[code], text_field(lid)
            if state is None and subject_f is not None:
                # A new listing, which the worker found its event lists (apply(None, event)
                # depends on the event alone). `splice`, inlined.
                prev = head.hash
                value = b"".join((
                    pre, avro_long(seq), mid, rec_avro, avro_long(len(prev)), prev, post,
                ))
                if code not in checked:
                    _check_fast_path(text, line, seq, prev, recorded_at, value)
                    checked.add(code)
                states[lid] = value
                fresh[lid] = copytext.new_listing_line(lid_f, code_f, rec_field, subject_f)
                if lid in procedures:
                    procedures[lid].decided(no, decided_at)
            else:
                event = _slow_event(text, line, seq, head.hash, recorded_at)
                if isinstance(state, bytes):
                    state = store.listed_state(state)
                try:
                    after = apply(state, event)
                    if lid in procedures:
                        procedures[lid].check(event)
                        procedures[lid].add(event)
                    states[lid] = after
                except TransitionError as e:
                    errors.append(DecisionError(line, e.key or "action", str(e)))
                    continue
                value = codec.encode_dict(event.AVRO_NAME, event.model_dump())
            head.seq = seq
            head.hash = chain_hash(value)
            changed[lid] = code
            if errors:
                continue  # the file is refused: collect the errors only
            decided_f = decided_fields.get(decided_at)
            if decided_f is None:
                decided_f = decided_fields[decided_at] = binary_field(decided_at)
            action_f = action_fields.get(action)
            if action_f is None:
                action_f = action_fields[action] = binary_field(action)
            eid_f = text_field(eid)
            decision_rows.add(copytext.decision_line(
                code_f, no, lid_f, action_f, decided_f, seq, eid_f, h, rec_field))
            outbox[code].append((copytext.outbox_prefix(code_f, seq, eid_f, lid_f), value,
                                 seq, lid, eid, kh))
            signer.add(code, value, lid, eid, kh)
        if errors:
            raise SubmitRejected(errors)
        result.accepted = decision_rows.count
        if not decision_rows.count:
            return []
        early = on_valid() if on_valid else None
        signer.flush(early.stage() if early is not None else None)
        # What only the main loop needed goes now, while the workers sign, rather than all
        # at once when the submit returns (its last part runs on one core; issue #4).
        prepared.clear()
        seen.clear()
        numbers.clear()
        store.copy_binary(cur, f"{sch}.decisions", DECISION_COLUMNS, decision_rows.pieces())
        # New listings go straight into the table; listings already stored (locked above)
        # are updated through a temporary table.
        columns = ("listing_id", "court_code", "state", "updated_at", "subject_id",
                   "subject_name")
        updated = {lid: court for lid in stored if (court := changed.get(lid)) is not None}
        if len(updated) < len(changed):
            try:
                store.copy_binary(
                    cur, f"{sch}.listings", columns,
                    copytext.listing_lines(states, fresh, changed, rec_field, skip=stored),
                )
            except db.UniqueViolation as e:
                raise ConcurrentListing(db.duplicate_key(e)) from e
        if updated:
            cur.execute(
                f"CREATE TEMP TABLE _court_listings (LIKE {sch}.listings) ON COMMIT DROP"
            )
            store.copy_binary(
                cur, "_court_listings", columns,
                copytext.listing_lines(states, fresh, updated, rec_field),
            )
            cur.execute(
                f"UPDATE {sch}.listings l SET state = t.state, updated_at = t.updated_at,"
                " subject_id = t.subject_id, subject_name = t.subject_name"
                " FROM _court_listings t WHERE l.listing_id = t.listing_id"
            )
        states.clear()
        fresh.clear()
        published: list[Row] = []

        def outbox_lines() -> Iterator[bytes]:
            """The outbox rows as their values are signed: the server takes each chunk's
            rows while the workers sign the next ones, instead of all of them once the last
            is signed (~0.6 s of a 200k submit, issue #4)."""
            for code, rows in outbox.items():
                signer_name = heads[code].key.signer
                signer_f = binary_field(signer_name)
                lo = 0
                for sigs, leaves, tails in signer.chunks(code):
                    hi = lo + len(sigs)
                    part = rows[lo:hi]
                    for (prefix, value, *_), sig in zip(part, sigs, strict=True):
                        yield copytext.outbox_line(prefix, value, sig, signer_f)
                    published.extend(
                        (code, seq, lid, eid, value, sig, signer_name, kh, leaf, tail)
                        for (_, value, seq, lid, eid, kh), sig, leaf, tail in zip(
                            part, sigs, leaves, tails, strict=True)
                    )
                    lo = hi
                if lo != len(rows):
                    raise RuntimeError(f"court {code}: {len(rows) - lo} values left unsigned")

        store.copy_binary(cur, f"{sch}.outbox", OUTBOX_COLUMNS, outbox_lines())
        outbox.clear()
        for code, head in heads.items():
            cur.execute(
                f"UPDATE {sch}.courts SET last_seq = %s, last_hash = %s WHERE court_code = %s",
                (head.seq, head.hash, code),
            )
        # Wakes a waiting relay the moment this transaction commits (delivered on commit
        # only), instead of at its next poll.
        cur.execute("SELECT pg_notify(%s, '')", (store.outbox_channel(s),))
        uow.commit()
    return published


class _Signer:
    """Signs each court's values in order. With workers, a chunk of SIGN_CHUNK values goes
    to them as soon as it is full, so that signing overlaps the main loop and the COPY of
    decisions and listings; without workers (small files), signing is inline.

    Once the main loop is over (`flush`), a helper thread also encodes each signed chunk's
    Kafka records (`relay.record_tail`) while the server takes the COPYs, so that the relay
    only appends them: ~0.5 s of a 200k drain's one interpreter lock (issue #4). It does
    not start earlier, where it would compete with the main loop for that lock here. Given
    batches to write (`flush(staged)`), it also writes the records into them, for the
    relay to queue once the submit has committed (`relay.Staged`)."""

    def __init__(self, s: Settings, heads: dict[str, _Head], pool: Any,
                 pool_gone: threading.Event) -> None:
        self._s = s
        self._heads = heads
        self._pool = pool
        self._next = {c: h.seq + 1 for c, h in heads.items()}  # court_seq of the next chunk
        self._values: dict[str, list[bytes]] = {c: [] for c in heads}
        self._lids: dict[str, list[str]] = {c: [] for c in heads}
        self._eids: dict[str, list[str]] = {c: [] for c in heads}
        self._hashes: dict[str, list[int]] = {c: [] for c in heads}
        # per court, per chunk sent: the workers' pending result and the chunk (`_Chunk`);
        # then, once `flush` has started the helper, what it makes of each (`_Signed`)
        self._parts: dict[str, list[tuple[Any, _Chunk]]] = {c: [] for c in heads}
        self._done: dict[str, list[Future[_Signed]]] = {c: [] for c in heads}
        self._pool_gone = pool_gone

    def add(self, code: str, value: bytes, listing_id: str, event_id: str, key_hash: int
            ) -> None:
        values = self._values[code]
        values.append(value)
        self._lids[code].append(listing_id)
        self._eids[code].append(event_id)
        self._hashes[code].append(key_hash)
        if self._pool is not None and len(values) >= SIGN_CHUNK:
            self._send(code)

    def _send(self, code: str) -> None:
        chunk = _Chunk(code, self._next[code], self._values[code], self._lids[code],
                       self._eids[code], self._hashes[code])
        self._values[code], self._lids[code], self._eids[code], self._hashes[code] = (
            [], [], [], [])
        self._next[code] += len(chunk.values)
        self._parts[code].append((
            self._pool.apply_async(sign_chunk, ((self._s, code, chunk.values),)), chunk))

    def flush(self, staged: Staged | None = None) -> None:
        """Send the remainders to the workers (when there are workers), and start encoding
        the records of what they sign (and writing them into `staged`'s batches)."""
        for code, values in self._values.items():
            if self._pool is not None and values:
                self._send(code)
        jobs = []
        for code, parts in self._parts.items():
            for part, chunk in parts:
                done: Future[_Signed] = Future()
                self._done[code].append(done)
                jobs.append((self._heads[code].key.signer, part, chunk, done))
        if jobs:
            threading.Thread(target=self._encode, args=(jobs, staged), name="court-records",
                             daemon=True).start()
        elif staged is not None:
            staged.close(complete=False)

    def _encode(self, jobs: list[tuple[str, Any, _Chunk, Future[_Signed]]],
                staged: Staged | None) -> None:
        # Chunks are handed to the outbox COPY first, then written into `staged`'s batches
        # once its relay has started; until then they wait here (the COPY never waits for
        # the relay's start), and after the last chunk, this thread waits for it.
        staging: bool | None = None if staged is not None else False  # None: not started
        waiting: list[tuple[_Chunk, list[bytes], list[bytes]]] = []  # chunk, tails, leaves
        try:
            for signer, part, chunk, done in jobs:
                try:
                    while not part.ready():
                        if self._pool_gone.is_set():  # a failed submit: no answer will come
                            raise RuntimeError("the submit ended before its values were signed")
                        part.wait(0.1)
                    sigs, leaves = part.get()
                    tails = _records(signer, chunk.lids, chunk.values, sigs)
                    done.set_result((sigs, leaves, tails))
                except BaseException as e:  # noqa: BLE001 - handed to `chunks`
                    done.set_exception(e)
                    staging = False
                    continue
                if staging is not False:
                    waiting.append((chunk, tails, leaves))
                    staging = self._stage(staged, waiting, wait=False)
            if staging is None:
                staging = self._stage(staged, waiting, wait=True)
        finally:
            if staged is not None:
                staged.close(complete=bool(staging))

    @staticmethod
    def _stage(staged: Staged | None, waiting: list[tuple[_Chunk, list[bytes], list[bytes]]],
               wait: bool) -> bool | None:
        """Write the waiting chunks into `staged` if its relay has started: True (done),
        False (no relay to write for: the drain sends them), None (still starting)."""
        assert staged is not None
        try:
            started = staged.started or staged.start(wait)
            if started:
                for chunk, tails, leaves in waiting:
                    staged.add(chunk.code, chunk.first_seq, chunk.hashes, tails, leaves,
                               chunk.eids)
                waiting.clear()
            return started
        except Exception as e:  # noqa: BLE001 - the drain sends them instead
            log.info("court.staging_failed", error=type(e).__name__)
            return False

    def chunks(self, code: str) -> Iterator[_Signed]:
        """`code`'s signatures, Merkle leaf hashes and Kafka records, a chunk at a time as
        the workers finish them, in the order the values were added."""
        for done in self._done.pop(code):
            yield done.result()
        key = self._heads[code].key
        rest = self._values.pop(code)
        if rest:
            signed = [key.sign(v) for v in rest]
            yield signed, [leaf_hash(v) for v in rest], _records(
                key.signer, self._lids.pop(code), rest, signed)


@dataclass
class _Chunk:
    """Values sent to the workers to sign, with what the records and the relay's fold
    need: listing ids, event ids, the ids' key hashes (the partition) and the court_seq of
    the first."""

    code: str
    first_seq: int
    values: list[bytes]
    lids: list[str]
    eids: list[str]
    hashes: list[int]


def _records(signer: str, lids: list[str], values: list[bytes], sigs: list[bytes]
             ) -> list[bytes]:
    """The Kafka records of signed values (`relay.record_tail`)."""
    return [record_tail(lid, v, sig, signer)
            for lid, v, sig in zip(lids, values, sigs, strict=True)]
