"""`hub court submit`: a whole JSON Lines file of court decisions in, one transaction out.

Court-decisions.md "Errors": a file with any invalid line is rejected as a whole and nothing
of it is recorded. Parsing and stateless rules are `hub.domain.decisions`; state rules are
`hub.domain.listing.apply` folded over the store's current states, read inside the same
transaction that holds the court's head row (SELECT … FOR UPDATE), so two submits at once
cannot break the gap-free sequence or validate against stale state."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub import codec, db
from hub.config import Settings
from hub.domain.decisions import Decision, DecisionError, meta_for, parse_lines, to_event
from hub.domain.listing import ListingState, TransitionError, apply
from hub.errors import InputError
from hub.keys import court_signer, ensure_key
from hub.ledger import GENESIS_HASH, SigningKey, chain_hash
from producers.court import store

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


def content_hash(decision: Decision) -> bytes:
    """Same content ⇔ same hash (court-decisions.md: resubmitting a decision is a no-op)."""
    return hashlib.sha256(decision.canonical().encode("utf-8")).digest()


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
    decisions, errors = parse_lines(text)
    if errors:
        raise SubmitRejected(errors)
    # parse_lines skips blank lines but counts them: a valid file's decisions are its
    # non-blank lines, in order.
    line_nos = [i for i, t in enumerate(text, start=1) if t.strip()]
    del text
    result = SubmitResult(courts=sorted({d.court_code for d in decisions}))
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
        _record(s, conn, decisions, line_nos, keys, result, progress)
    finally:
        conn.close()
    if relay:
        from producers.court.relay import drain_after_submit

        r = drain_after_submit(s)
        result.published, result.checkpoints, result.relay_note = (
            r.published, r.checkpoints, r.note,
        )
    return result


def _record(
    s: Settings,
    conn: db.Connection,
    decisions: list[Decision],
    line_nos: list[int],
    keys: dict[str, SigningKey],
    result: SubmitResult,
    progress: Progress | None,
) -> None:
    sch = store.schema(s)
    courts = result.courts
    with db.unit_of_work(conn) as uow:
        cur = uow.cursor
        cur.execute("SELECT now()")
        recorded_at: datetime = cur.fetchone()[0].astimezone(UTC)  # transaction time
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

        seen: dict[tuple[str, str], tuple[bytes, int | None]] = {}
        for code in courts:
            numbers = [d.decision_no for d in decisions if d.court_code == code]
            cur.execute(
                f"SELECT decision_no, content_hash FROM {sch}.decisions"
                " WHERE court_code = %s AND decision_no = ANY(%s)",
                (code, numbers),
            )
            for no, h in cur.fetchall():
                seen[(code, no)] = (bytes(h), None)
        cur.execute(
            f"SELECT listing_id, state FROM {sch}.listings WHERE listing_id = ANY(%s)"
            " ORDER BY listing_id FOR UPDATE",
            (list({d.listing_id for d in decisions}),),
        )
        states: dict[str, ListingState] = {
            lid: ListingState.model_validate(state) for lid, state in cur.fetchall()
        }

        errors: list[DecisionError] = []
        decision_rows: list[tuple[Any, ...]] = []
        outbox_rows: list[tuple[Any, ...]] = []
        changed: set[str] = set()
        for i, (d, line) in enumerate(zip(decisions, line_nos, strict=True)):
            if progress and i % 1000 == 0 and i:
                progress(1000)
            code = d.court_code
            h = content_hash(d)
            prior = seen.get((code, d.decision_no))
            if prior is not None:
                if prior[0] == h:
                    result.skipped += 1
                else:
                    where = "already recorded" if prior[1] is None else f"used on line {prior[1]}"
                    errors.append(DecisionError(
                        line, "decision_no", f"{where} with different content",
                    ))
                continue
            seen[(code, d.decision_no)] = (h, line)
            head = heads[code]
            meta = meta_for(d, court_seq=head.seq + 1, prev_hash=head.hash, recorded_at=recorded_at)
            event = to_event(d, meta)
            try:
                states[d.listing_id] = apply(states.get(d.listing_id), event)
            except TransitionError as e:
                errors.append(DecisionError(line, e.key or "action", str(e)))
                continue
            # StrEnum members are str, which fastavro takes as enum symbols: encode the
            # model's plain dump directly (codec.encode's recursive enum walk is a third of
            # the encoding time).
            value = codec.encode_dict(event.AVRO_NAME, event.model_dump())
            head.seq = meta.court_seq
            head.hash = chain_hash(value)
            changed.add(d.listing_id)
            decision_rows.append((
                code, d.decision_no, d.listing_id, d.action, d.decided_at, head.seq,
                meta.event_id, h, recorded_at,
            ))
            outbox_rows.append((
                code, head.seq, meta.event_id, d.listing_id, value, head.key.sign(value),
                head.key.signer,
            ))
        if progress:
            progress(len(decisions) % 1000 or (1000 if decisions else 0))
        if errors:
            raise SubmitRejected(errors)
        result.accepted = len(outbox_rows)
        if not outbox_rows:
            return
        store.copy_rows(cur, f"{sch}.decisions", DECISION_COLUMNS, decision_rows)
        store.copy_rows(cur, f"{sch}.outbox", OUTBOX_COLUMNS, outbox_rows)
        cur.execute(
            f"CREATE TEMP TABLE _court_listings (LIKE {sch}.listings) ON COMMIT DROP"
        )
        store.copy_rows(
            cur, "_court_listings", ("listing_id", "court_code", "state", "updated_at"),
            ((lid, states[lid].court_code, states[lid].model_dump_json(), recorded_at)
             for lid in changed),
        )
        cur.execute(
            f"INSERT INTO {sch}.listings SELECT * FROM _court_listings"
            " ON CONFLICT (listing_id) DO UPDATE"
            " SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at"
        )
        for code, head in heads.items():
            cur.execute(
                f"UPDATE {sch}.courts SET last_seq = %s, last_hash = %s WHERE court_code = %s",
                (head.seq, head.hash, code),
            )
        uow.commit()
