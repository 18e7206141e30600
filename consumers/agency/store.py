"""Reading what a batch needs and writing what it changed: one transaction per batch,
a handful of set-based statements whatever the batch size (execute_values, ANY(...))."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from consumers.agency.batch import ChainLink, Changes, Decoded
from hub import db, outbox
from hub.domain.listing import ListingState, bound_persons
from hub.errors import InputError
from hub.outbox import OutboxRecord

LISTING_COLUMNS = (
    "listing_id", "court_code", "status", "verification", "public", "period_end",
    "subject_kind", "subject_id_number", "last_event_id", "last_court_seq", "concerned",
    "expiry_acked", "state",
)


NULL = "\\N"  # COPY text format


def locked_state(cur: Any, schema: str, listing_id: str) -> ListingState:
    """A listing of the projection, locked for the caller's transaction (a unit decision
    about it: keep, repair); InputError if the unit does not know it."""
    cur.execute(f"SELECT state FROM {schema}.listings WHERE listing_id = %s FOR UPDATE",
                (listing_id,))
    row = cur.fetchone()
    if row is None:
        raise InputError(f"unknown listing {listing_id!r} (not in this unit's projection)")
    return ListingState.model_validate(row[0])


def load_offsets(cur: Any, schema: str, topic: str, lock: bool = False) -> dict[tuple[str, int], int]:
    cur.execute(
        f"SELECT partition, next_offset FROM {schema}.consumer_offsets WHERE topic = %s"
        + (" FOR UPDATE" if lock else ""),
        (topic,),
    )
    return {(topic, p): o for p, o in cur.fetchall()}


def load_states(
    cur: Any, schema: str, decoded: Sequence[Decoded]
) -> tuple[dict[str, ListingState], dict[str, tuple[bool, bool]]]:
    """Listing states (and flags: concerned, expiry_acked) of the batch's listings."""
    keys = sorted({d.event.meta.listing_id for d in decoded if d.event is not None})
    states: dict[str, ListingState] = {}
    flags: dict[str, tuple[bool, bool]] = {}
    if keys:
        cur.execute(
            f"SELECT listing_id, state, concerned, expiry_acked FROM {schema}.listings"
            " WHERE listing_id = ANY(%s)",
            (keys,),
        )
        for lid, state, concerned, acked in cur.fetchall():
            states[lid] = ListingState.model_validate(state)
            flags[lid] = (concerned, acked)
    return states, flags


def recorded_seqs(cur: Any, schema: str, courts: Iterable[str]) -> dict[str, int]:
    """The highest court_seq in the chain table per court (what the court_positions view
    says, asked for these courts only: one primary-key probe each)."""
    cur.execute(f"SELECT w.code, (SELECT max(c.court_seq) FROM {schema}.chain c"
                " WHERE c.court_code = w.code) FROM unnest(%s::text[]) AS w(code)",
                (sorted(set(courts)),))
    return {code: int(seq) for code, seq in cur.fetchall() if seq is not None}


def load_chain(
    cur: Any, schema: str, wanted: Sequence[tuple[str, int]], event_ids: Sequence[str]
) -> tuple[dict[tuple[str, int], ChainLink], dict[str, ChainLink]]:
    """Chain rows by (court, seq) and by event id: primary-key and unique-index lookups
    per court (a join against the whole table would read all of it, every batch)."""
    links: dict[tuple[str, int], ChainLink] = {}
    by_id: dict[str, ChainLink] = {}
    if not wanted and not event_ids:
        return links, by_id
    per_court: dict[str, list[int]] = {}
    for code, seq in wanted:
        per_court.setdefault(code, []).append(seq)
    # (`event_id = ANY(...)` plans a sequential scan on a large table; a join on unnest
    # plans index lookups.)
    parts = [f"SELECT c.court_code, c.court_seq, c.event_id, c.hash, c.prev_hash"
             f" FROM unnest(%s::text[]) AS e(id) JOIN {schema}.chain c ON c.event_id = e.id"]
    args: list[Any] = [list(event_ids)]
    for code, seqs in per_court.items():
        parts.append(f"SELECT court_code, court_seq, event_id, hash, prev_hash FROM {schema}.chain"
                     " WHERE court_code = %s AND court_seq = ANY(%s::bigint[])")
        args.extend((code, seqs))
    # Index lookups whatever the statistics say: while a projection fills, its stats lag
    # far behind and the planner's other choices (hash join, or a nested loop over a
    # sequential scan) read the whole table for every batch.
    cur.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off;"
                " SET LOCAL enable_mergejoin = off")
    cur.execute(" UNION ALL ".join(parts), args)
    rows = cur.fetchall()
    cur.execute("SET LOCAL enable_seqscan = on; SET LOCAL enable_hashjoin = on;"
                " SET LOCAL enable_mergejoin = on")
    for code, seq, eid, h, prev in rows:
        link = ChainLink(code, seq, eid, bytes(h), bytes(prev))
        links[(code, seq)] = link
        by_id[eid] = link
    return links, by_id


def copy_text(cur: Any, table: str, columns: Sequence[str], text: str) -> None:
    """COPY rows already in COPY text format."""
    if text:
        cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", io.StringIO(text))


def _listing_text(rows: Iterable[tuple[ListingState, bool, bool]]) -> str:
    # One f-string per row, not a function call per cell: ~40 cells per event (issue #5).
    # Enum values and integers need no COPY escaping; free text does.
    e = db.copy_escape
    return "".join(
        f"{e(st.listing_id)}\t{e(st.court_code)}\t{st.status.value}\t"
        f"{st.verification.value}\t{'t' if st.public else 'f'}\t"
        f"{NULL if st.period_end is None else st.period_end.isoformat()}\t"
        f"{st.subject.kind.value}\t{e(st.subject.id_number)}\t{e(st.last_event_id)}\t"
        f"{int(st.last_court_seq)}\t{'t' if concerned else 'f'}\t{'t' if acked else 'f'}\t"
        f"{e(st.model_dump_json())}\n"
        for st, concerned, acked in rows)


def write(cur: Any, schema: str, ch: Changes) -> None:
    """Every projection row of the batch; then `write_outbox` (after the acknowledgement
    log has turned the batch's acks into its records: consumers/agency/acklog.py)."""
    if ch.listings:
        # Listings new to the projection (most events: a listing's first decision) are
        # COPied straight into the table; the others go through a per-transaction staging
        # table and one upsert. Only this unit's consumer writes its projection, and
        # `ch.existing` was read in this transaction, so "new" cannot be stale.
        fresh = [v for lid, v in ch.listings.items() if lid not in ch.existing]
        known = [v for lid, v in ch.listings.items() if lid in ch.existing]
        copy_text(cur, f"{schema}.listings", LISTING_COLUMNS, _listing_text(fresh))
        if known:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS listings_in"
                        f" (LIKE {schema}.listings) ON COMMIT DELETE ROWS")
            copy_text(cur, "listings_in", LISTING_COLUMNS, _listing_text(known))
            cols = ", ".join(LISTING_COLUMNS)
            cur.execute(
                f"INSERT INTO {schema}.listings ({cols}) SELECT {cols} FROM listings_in"
                " ON CONFLICT (listing_id) DO UPDATE SET "
                + ", ".join(f"{c} = EXCLUDED.{c}" for c in LISTING_COLUMNS[1:])
            )
    if ch.persons_replaced:
        # A listing new to the projection has no person rows yet: nothing to delete.
        stale = [lid for lid in ch.persons_replaced if lid in ch.existing]
        if stale:
            cur.execute(f"DELETE FROM {schema}.persons WHERE listing_id = ANY(%s)", (stale,))
        rows = {
            (lid, p.role.value, p.id_number): p.name
            for lid, st in ch.persons_replaced.items() for p in bound_persons(st)
        }
        e = db.copy_escape
        copy_text(cur, f"{schema}.persons", ("listing_id", "role", "id_number", "name"),
                  "".join(f"{e(lid)}\t{role}\t{e(number)}\t{e(name)}\n"
                          for (lid, role, number), name in rows.items()))
    if ch.spans_closed:
        # Close before inserting: the batch's own new spans must stay open.
        db.execute_values(
            cur,
            f"UPDATE {schema}.measures m SET valid_to = v.at"
            " FROM (VALUES %s) AS v(listing_id, code, id_number, role, at)"
            " WHERE m.listing_id = v.listing_id AND m.code = v.code"
            " AND m.id_number = v.id_number AND m.role = v.role"
            " AND m.valid_to IS NULL AND m.kept_until IS NULL",
            [(*k, at) for k, at in ch.spans_closed.items()],
            page_size=2000,
        )
    spans = [sp for sp in ch.spans_opened if sp.valid_to is None or sp.valid_to > sp.valid_from]
    if spans:
        e = db.copy_escape
        copy_text(
            cur, f"{schema}.measures",
            ("listing_id", "code", "role", "id_number", "mode", "suspended", "valid_from",
             "valid_to", "until", "event_id"),
            "".join(
                f"{e(sp.m.listing_id)}\t{e(sp.m.code)}\t{sp.m.role.value}\t"
                f"{e(sp.m.id_number)}\t{e(sp.m.mode)}\t{'t' if sp.m.suspended else 'f'}\t"
                f"{sp.valid_from.isoformat()}\t{_opt(sp.valid_to)}\t{_opt(sp.m.until)}\t"
                f"{e(sp.event_id)}\n"
                for sp in spans),
        )
    insert_history(cur, schema, ch.history)
    if ch.chain:
        copy_text(cur, f"{schema}.chain",
                  ("court_code", "court_seq", "event_id", "hash", "prev_hash"), "".join(
                      f"{db.copy_escape(c.court_code)}\t{int(c.court_seq)}\t{db.copy_escape(c.event_id)}"
                      f"\t\\\\x{c.hash.hex()}\t\\\\x{c.prev_hash.hex()}\n"
                      for c in ch.chain))
    if ch.dead:
        db.execute_values(
            cur,
            f'INSERT INTO {schema}.dead_letters (topic, partition, "offset", kind, reason,'
            ' key, value) VALUES %s ON CONFLICT DO NOTHING',
            [(r.topic, r.partition, r.offset, kind, reason, r.key, r.value)
             for r, kind, reason in ch.dead],
        )


def write_outbox(cur: Any, schema: str, ch: Changes, acked: Sequence[OutboxRecord] = ()) -> None:
    """Dead letters, the acknowledgement log's records, and the offsets consumed."""
    outbox.enqueue(cur, schema, [*ch.outbox, *acked])
    write_offsets(cur, schema, ch.offsets)


def _opt(v: date | datetime | None) -> str:
    return NULL if v is None else v.isoformat()


def insert_history(cur: Any, schema: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """`projection.history_rows` tuples; role, action and trigger are enum values (no
    escaping needed), one f-string per row (the generic `copy_rows` is ~1 µs a cell)."""
    e = db.copy_escape
    copy_text(cur, f"{schema}.measure_history",
              ("listing_id", "code", "role", "id_number", "action", "at", "trigger",
               "event_id", "court_seq", "until", "reason", "ack_id"), "".join(
                  f"{e(lid)}\t{e(code)}\t{role}\t{e(number)}\t{action}\t{at.isoformat()}\t"
                  f"{trigger}\t{e(eid)}\t{int(seq)}\t{_opt(until)}\t"
                  f"{NULL if reason is None else e(reason)}\t{e(ack)}\n"
                  for lid, code, role, number, action, at, trigger, eid, seq, until, reason, ack
                  in rows))


def write_offsets(cur: Any, schema: str, offsets: dict[tuple[str, int], int]) -> None:
    if offsets:
        db.execute_values(
            cur,
            f"INSERT INTO {schema}.consumer_offsets (topic, partition, next_offset) VALUES %s"
            " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
            [(t, p, o) for (t, p), o in sorted(offsets.items())],
        )


def position(cur: Any, schema: str) -> dict[str, Any]:
    cur.execute(
        f"SELECT (SELECT json_object_agg(topic || ':' || partition, next_offset)"
        f" FROM {schema}.consumer_offsets),"
        f" (SELECT json_object_agg(court_code, last_seq) FROM {schema}.court_positions)"
    )
    offsets, courts = cur.fetchone()
    return {"offsets": offsets or {}, "court_seq": courts or {}}


def dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False)
