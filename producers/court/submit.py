"""`hub court submit`: a whole JSON Lines file of court decisions in, one transaction out.

Court-decisions.md "Errors": a file with any invalid line is rejected as a whole and nothing
of it is recorded. Parsing and stateless rules are `hub.domain.decisions`; state rules are
`hub.domain.listing.apply` folded over the store's current states, read inside the same
transaction that holds the court's head row (SELECT … FOR UPDATE), so two submits at once
cannot break the gap-free sequence or validate against stale state."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub import codec, db
from hub.config import Settings
from hub.domain.decisions import DecisionError, meta_for, parse_line, to_event
from hub.domain.events import CourtEvent
from hub.domain.listing import ListingState, TransitionError, apply
from hub.errors import InputError
from hub.keys import court_signer, ensure_key
from hub.ledger import GENESIS_HASH, SigningKey, chain_hash
from producers.court import store
from producers.court.prepare import (
    SEQ_PLACEHOLDER,
    Prepared,
    content_hash,  # noqa: F401 - part of this module's API
    micros,
    prepare_chunk,
    sign_chunk,
    splice,
)

Progress = Callable[[int], None]

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


@dataclass
class SubmitResult:
    accepted: int = 0
    skipped: int = 0
    published: int = 0
    checkpoints: int = 0
    courts: list[str] = field(default_factory=list)
    keys_created: list[str] = field(default_factory=list)
    relay_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Head:
    seq: int
    hash: bytes
    key: SigningKey


POOL_FROM = 4_000  # lines: below this, starting worker processes costs more than it saves
CHUNK = 2_000  # lines a worker task
SIGN_CHUNK = 5_000  # values a signing task


def _pool(n_lines: int) -> Any:
    """Worker processes for the stateless work, on every core (2-core target machine).
    Forked: the children inherit the imported modules and schemas, and only ever run
    `producers.court.prepare`, which touches no lock another thread may hold."""
    cores = os.cpu_count() or 1
    if n_lines < POOL_FROM or cores < 2:
        return None
    return multiprocessing.get_context("fork").Pool(processes=cores)


def _prepare_all(
    pool: Any, text: list[str], progress: Progress | None
) -> tuple[list[Prepared], list[DecisionError]]:
    chunks = [
        [(i, t) for i, t in enumerate(text[k : k + CHUNK], start=k + 1)]
        for k in range(0, len(text), CHUNK)
    ]
    results = pool.imap(prepare_chunk, chunks) if pool else map(prepare_chunk, chunks)
    prepared: list[Prepared] = []
    errors: list[DecisionError] = []
    for chunk, (items, errs) in zip(chunks, results, strict=True):
        errors.extend(DecisionError(*e) for e in errs)
        if not errors:
            prepared.extend(items)
        if progress:
            progress(len(chunk))
    return prepared, errors


def submit(
    s: Settings,
    lines: Iterable[str],
    *,
    relay: bool = True,
    progress: Progress | None = None,
    on_key_created: Callable[[str], None] | None = None,
) -> SubmitResult:
    """Validate and record a whole file of decisions; then drain the outbox unless
    `relay=False`. Raises SubmitRejected (InputError, exit 2) listing every problem."""
    text = list(lines)
    pool = _pool(len(text))
    try:
        prepared, errors = _prepare_all(pool, text, progress)
        if errors:
            raise SubmitRejected(errors)
        result = SubmitResult(courts=sorted({p.court_code for p in prepared}))
        keys: dict[str, SigningKey] = {}
        for code in result.courts:
            key, created = ensure_key(s, court_signer(code))
            keys[code] = key
            if created:
                result.keys_created.append(code)
                if on_key_created:
                    on_key_created(code)

        conn = store.open_store(s, "hub-court-submit")
        try:
            _record(s, conn, text, prepared, keys, result, pool)
        finally:
            conn.close()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    if relay:
        from producers.court.relay import drain_after_submit

        r = drain_after_submit(s)
        result.published, result.checkpoints, result.relay_note = (
            r.published, r.checkpoints, r.note,
        )
    return result


def _slow_event(
    text: list[str], p: Prepared, seq: int, prev_hash: bytes, recorded_at: datetime
) -> CourtEvent:
    """The event built the plain way (decisions that change an existing listing)."""
    d = parse_line(text[p.line - 1], p.line)
    return to_event(d, meta_for(d, court_seq=seq, prev_hash=prev_hash, recorded_at=recorded_at))


def _check_fast_path(
    text: list[str], p: Prepared, seq: int, prev_hash: bytes, recorded_at: datetime,
    value: bytes, state_json: str,
) -> None:
    """Once a submit: the spliced value and provisional state equal the plain ones."""
    event = _slow_event(text, p, seq, prev_hash, recorded_at)
    if value != codec.encode_dict(event.AVRO_NAME, event.model_dump()):
        raise RuntimeError("spliced event value differs from the codec's encoding")
    if state_json != apply(None, event).model_dump_json():
        raise RuntimeError("provisional listing state differs from apply()")


def _record(
    s: Settings,
    conn: db.Connection,
    text: list[str],
    prepared: list[Prepared],
    keys: dict[str, SigningKey],
    result: SubmitResult,
    pool: Any,
) -> None:
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
        for p in prepared:
            numbers.setdefault(p.court_code, []).append(p.decision_no)
        seen: dict[tuple[str, str], tuple[bytes, int | None]] = {}
        for code in courts:
            cur.execute(
                f"SELECT decision_no, content_hash FROM {sch}.decisions"
                " WHERE court_code = %s AND decision_no = ANY(%s)",
                (code, numbers[code]),
            )
            for no, h in cur.fetchall():
                seen[(code, no)] = (bytes(h), None)
        cur.execute(
            f"SELECT listing_id, state FROM {sch}.listings WHERE listing_id = ANY(%s)"
            " ORDER BY listing_id FOR UPDATE",
            (list({p.listing_id for p in prepared}),),
        )
        # A state is a model, or the JSON of a listing new in this file (fast path).
        states: dict[str, ListingState | str] = {
            lid: ListingState.model_validate(state) for lid, state in cur.fetchall()
        }

        errors: list[DecisionError] = []
        decision_rows: list[tuple[Any, ...]] = []
        outbox_rows: dict[str, list[tuple[int, str, str, bytes]]] = {c: [] for c in courts}
        changed: dict[str, str] = {}  # listing_id -> court_code
        checked = False
        for p in prepared:
            code = p.court_code
            h = p.content_hash
            prior = seen.get((code, p.decision_no))
            if prior is not None:
                if prior[0] == h:
                    result.skipped += 1
                else:
                    where = "already recorded" if prior[1] is None else f"used on line {prior[1]}"
                    errors.append(DecisionError(
                        p.line, "decision_no", f"{where} with different content",
                    ))
                continue
            seen[(code, p.decision_no)] = (h, p.line)
            head = heads[code]
            seq = head.seq + 1
            lid = p.listing_id
            state = states.get(lid)
            if state is None and p.new_state is not None:
                # A new listing: apply(None, event) depends on the event alone, computed by
                # the worker but for the sequence number.
                value = splice(p, seq, recorded_us, head.hash)
                new = p.new_state.replace(SEQ_PLACEHOLDER, f'"last_court_seq":{seq},', 1)
                if not checked:
                    _check_fast_path(text, p, seq, head.hash, recorded_at, value, new)
                    checked = True
                states[lid] = new
            else:
                event = _slow_event(text, p, seq, head.hash, recorded_at)
                if isinstance(state, str):
                    state = ListingState.model_validate_json(state)
                try:
                    states[lid] = apply(state, event)
                except TransitionError as e:
                    errors.append(DecisionError(p.line, e.key or "action", str(e)))
                    continue
                value = codec.encode_dict(event.AVRO_NAME, event.model_dump())
            head.seq = seq
            head.hash = chain_hash(value)
            changed[lid] = code
            decision_rows.append((
                code, p.decision_no, lid, p.action, p.decided_at, seq, p.event_id, h,
                recorded_at,
            ))
            outbox_rows[code].append((seq, p.event_id, lid, value))
        if errors:
            raise SubmitRejected(errors)
        result.accepted = len(decision_rows)
        if not decision_rows:
            return
        signatures = _sign(s, heads, outbox_rows, pool)
        store.copy_rows(cur, f"{sch}.decisions", DECISION_COLUMNS, decision_rows)
        cur.execute(
            f"CREATE TEMP TABLE _court_listings (LIKE {sch}.listings) ON COMMIT DROP"
        )
        store.copy_rows(
            cur, "_court_listings", ("listing_id", "court_code", "state", "updated_at"),
            _listing_rows(states, changed, recorded_at),
        )
        cur.execute(
            f"INSERT INTO {sch}.listings SELECT * FROM _court_listings"
            " ON CONFLICT (listing_id) DO UPDATE"
            " SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at"
        )
        for code, rows in outbox_rows.items():
            signer = heads[code].key.signer
            sigs = signatures[code]()
            store.copy_rows(
                cur, f"{sch}.outbox", OUTBOX_COLUMNS,
                ((code, seq, eid, lid, value, sig, signer)
                 for (seq, eid, lid, value), sig in zip(rows, sigs, strict=True)),
            )
        for code, head in heads.items():
            cur.execute(
                f"UPDATE {sch}.courts SET last_seq = %s, last_hash = %s WHERE court_code = %s",
                (head.seq, head.hash, code),
            )
        # Wakes a waiting relay the moment this transaction commits (delivered on commit
        # only), instead of at its next poll.
        cur.execute("SELECT pg_notify(%s, '')", (store.outbox_channel(s),))
        uow.commit()


def _listing_rows(
    states: dict[str, ListingState | str], changed: dict[str, str], recorded_at: datetime
) -> Iterable[tuple[Any, ...]]:
    # A listing's court is the court of each of its decisions (apply: RULE_IDENTITY).
    for lid, code in changed.items():
        st = states[lid]
        yield lid, code, st if isinstance(st, str) else st.model_dump_json(), recorded_at


def _sign(
    s: Settings, heads: dict[str, _Head], outbox_rows: dict[str, list[tuple[int, str, str, bytes]]],
    pool: Any,
) -> dict[str, Callable[[], list[bytes]]]:
    """Sign every value; with workers, in the background while the main process copies
    the decisions and listings (each court's signatures are collected when needed)."""
    out: dict[str, Callable[[], list[bytes]]] = {}
    for code, rows in outbox_rows.items():
        values = [r[3] for r in rows]
        if pool is None or len(values) < SIGN_CHUNK:
            sign = heads[code].key.sign
            sigs = [sign(v) for v in values]
            out[code] = lambda sigs=sigs: sigs
            continue
        pending = pool.map_async(
            sign_chunk,
            [(s, code, values[k : k + SIGN_CHUNK]) for k in range(0, len(values), SIGN_CHUNK)],
        )
        out[code] = lambda pending=pending: [sig for part in pending.get() for sig in part]
    return out
