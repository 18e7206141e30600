"""Time and unit decisions: the period sweep and kept measures.

- Sweep: a fixed-period listing stops binding at the end of `period_end` with no court
  event (Provisions art. 2; `hub.domain.listing.status_at`). Checks honour that through the
  span's `until`; the sweep only acknowledges it, once per listing, trigger period_expired.
- Keep: after a shield or revoke a unit may keep a measure only with a lawful reason and an
  explicit end date (policy 四(二)5): stored in `kept_measures` (a unit decision, not in the
  court log, so a rebuild keeps it) and acknowledged with trigger kept_measure.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from consumers.agency import acks, schema, store
from consumers.agency.acklog import AckLog
from consumers.agency.projection import Folder, bindings, history_rows, structural
from hub import db, outbox
from hub.config import Settings
from hub.domain.catalogue import default_catalogue
from hub.domain.deadlines import CST, local_date
from hub.domain.events import AckTrigger, MeasureAction
from hub.domain.listing import ListingState, Status
from hub.errors import InputError


def expiry_moment(period_end: date) -> datetime:
    """00:00 CST of the day after the period's last day (hub.domain.listing.status_at)."""
    return datetime.combine(period_end + timedelta(days=1), time(0, 0), CST).astimezone(UTC)


def sweep(conn: db.Connection, s: Settings, unit: str, folder: Folder, now: datetime,
          log: AckLog, batch: int = 5000) -> int:
    """Acknowledge the lifting of every concerned listing whose period ended; returns the
    number of listings acknowledged. Idempotent (flag per listing, deterministic ack id)."""
    sch = schema.schema_name(s, unit)
    done = 0
    while True:
        with db.unit_of_work(conn) as uow:
            cur = uow.cursor
            cur.execute(
                f"SELECT listing_id, state FROM {sch}.listings WHERE status = 'listed'"
                " AND concerned AND NOT expiry_acked AND period_end < %s"
                " ORDER BY listing_id LIMIT %s FOR UPDATE SKIP LOCKED",
                (local_date(now), batch),
            )
            rows = cur.fetchall()
            if not rows:
                return done
            made, history = [], []
            for lid, raw in rows:
                st = ListingState.model_validate(raw)
                measures = structural(st, unit, folder.cat)
                if not measures:
                    continue
                at = expiry_moment(st.period_end) if st.period_end else now
                ack = acks.build(
                    unit, AckTrigger.period_expired, st.last_event_id, lid, st.court_code,
                    st.last_court_seq, [acks.outcome(m, MeasureAction.lifted) for m in measures],
                )
                made.append(ack)
                history.extend(history_rows(ack, at))
            cur.execute(f"UPDATE {sch}.listings SET expiry_acked = true WHERE listing_id = ANY(%s)",
                        ([r[0] for r in rows],))
            store.insert_history(cur, sch, history)
            outbox.enqueue(cur, sch, log.append(cur, sch, made, now))
            uow.commit()
            done += len(rows)
            if len(rows) < batch:
                return done


def insert_kept_spans(cur: Any, sch: str, st: ListingState, unit: str, code: str,
                      until: date, reason: str, event_id: str) -> list[Any]:
    bound = [m for m in bindings(st, unit, default_catalogue()) if m.code == code]
    if bound:
        db.execute_values(
            cur,
            f"INSERT INTO {sch}.measures (listing_id, code, role, id_number, mode, suspended,"
            " valid_from, valid_to, until, kept_until, reason, event_id) VALUES %s",
            [(m.listing_id, m.code, m.role.value, m.id_number, m.mode, False,
              st.last_decided_at, None, None, until, reason, event_id) for m in bound],
        )
    return bound


def keep_measure(conn: db.Connection, s: Settings, unit: str, log: AckLog, listing_id: str,
                 code: str, until: date, reason: str, now: datetime) -> dict[str, Any]:
    """Record and acknowledge a measure kept after a shield or revoke (policy 四(二)5)."""
    reason = reason.strip()
    if not reason:
        raise InputError("a kept measure needs a lawful reason (policy 四(二)5): --reason is empty")
    if code not in default_catalogue().unit(unit).measures:
        raise InputError(f"measure {code} is not enforced by unit {unit}")
    if until < local_date(now):
        raise InputError(f"--until {until.isoformat()} is in the past")
    sch = schema.schema_name(s, unit)
    with db.unit_of_work(conn) as uow:
        cur = uow.cursor
        st = store.locked_state(cur, sch, listing_id)
        if st.status is Status.listed:
            raise InputError(f"listing {listing_id!r} is not shielded or revoked: its measures "
                             "still apply")
        cur.execute(f"SELECT until FROM {sch}.kept_measures WHERE listing_id = %s AND code = %s",
                    (listing_id, code))
        if cur.fetchone() is not None:
            raise InputError(f"measure {code} of listing {listing_id!r} is already kept")
        bound = insert_kept_spans(cur, sch, st, unit, code, until, reason, st.last_event_id)
        if not bound:
            raise InputError(f"measure {code} binds nobody in listing {listing_id!r}")
        cur.execute(
            f"INSERT INTO {sch}.kept_measures (listing_id, code, until, reason, kept_at)"
            " VALUES (%s, %s, %s, %s, %s)", (listing_id, code, until, reason, now))
        ack = acks.build(
            unit, AckTrigger.kept_measure, st.last_event_id, listing_id, st.court_code,
            st.last_court_seq,
            [acks.outcome(m, MeasureAction.kept_until, until=until, reason=reason) for m in bound],
            measure=code,
        )
        store.insert_history(cur, sch, history_rows(ack, now))
        outbox.enqueue(cur, sch, log.append(cur, sch, [ack], now))
        uow.commit()
    return {"ack_id": ack["ack_id"], "listing_id": listing_id, "measure": code,
            "until": until.isoformat(), "persons": len(bound)}


def restore_kept(conn: db.Connection, s: Settings, unit: str) -> int:
    """After a rebuild: re-create the spans of kept measures (unit decisions, not in the log)."""
    sch = schema.schema_name(s, unit)
    n = 0
    with db.unit_of_work(conn) as uow:
        cur = uow.cursor
        cur.execute(
            f"SELECT k.listing_id, k.code, k.until, k.reason, l.state FROM {sch}.kept_measures k"
            f" JOIN {sch}.listings l USING (listing_id)")
        for _lid, code, until, reason, raw in cur.fetchall():
            st = ListingState.model_validate(raw)
            n += len(insert_kept_spans(cur, sch, st, unit, code, until, reason, st.last_event_id))
        uow.commit()
    return n
