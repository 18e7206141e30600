"""Credit repair (信用修復, policy 四(二)6): a subject whose listing was shielded or revoked
applies to a unit; the unit decides. A decision is the unit's own, not derived from the court
log: it is kept in `repairs` (a rebuild keeps it), named in the unit's screening answers
(`credit_repairs`) and published signed (`CreditRepairDecided` on `supervision.v1`, through
the unit's outbox, in the same transaction) for the public credit system and the auditor."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from consumers.agency import store
from hub import codec, db, outbox
from hub.config import Settings
from hub.domain.deadlines import local_date
from hub.domain.events import CreditRepairDecided, supervision_id
from hub.domain.listing import Status
from hub.errors import InputError
from hub.ledger import SigningKey
from hub.signed import sign


def migration(version: int) -> db.Migration:
    return db.Migration(version, "credit repair decisions (policy 四(二)6)", """
        CREATE TABLE {schema}.repairs (
            listing_id text PRIMARY KEY,
            subject_id text NOT NULL,
            granted boolean NOT NULL,
            applied_on date NOT NULL,
            decided_on date NOT NULL,
            recorded_at timestamptz NOT NULL
        );
        CREATE INDEX repairs_subject ON {schema}.repairs (subject_id) WHERE granted;
    """)


def decide(conn: db.Connection, s: Settings, unit: str, key: SigningKey, listing_id: str,
           granted: bool, applied_on: date, decided_on: date | None = None,
           now: datetime | None = None) -> dict[str, Any]:
    """Record the unit's decision on a repair application; the same decision again is a
    no-op, another decision of the same listing an error."""
    now = now or datetime.now(UTC)
    today = local_date(now)
    decided_on = decided_on or today
    if decided_on > today or applied_on > today:
        raise InputError("--applied-on / --on: in the future")
    if decided_on < applied_on:
        raise InputError(f"--on: {decided_on.isoformat()} is before the application"
                         f" ({applied_on.isoformat()})")
    sch = db.ident(s.unit_schema(unit))
    with db.unit_of_work(conn) as uow:
        cur = uow.cursor
        st = store.locked_state(cur, sch, listing_id)
        if st.status is Status.listed:
            raise InputError(f"--listing: listing {listing_id!r} is still listed: credit repair"
                             " only after a shield or revoke (policy 四(二)6)")
        ended = local_date(st.last_decided_at)
        if applied_on < ended:
            raise InputError(f"--applied-on: {applied_on.isoformat()} is before the listing was"
                             f" {st.status.value} ({ended.isoformat()})")
        cur.execute(f"SELECT granted, applied_on, decided_on FROM {sch}.repairs"
                    " WHERE listing_id = %s", (listing_id,))
        known = cur.fetchone()
        doc = {"unit": unit, "listing_id": listing_id, "granted": granted,
               "applied_on": applied_on.isoformat(), "decided_on": decided_on.isoformat()}
        if known is not None:
            if tuple(known) != (granted, applied_on, decided_on):
                raise InputError(f"--listing: the repair of {listing_id!r} was already decided"
                                 f" ({'granted' if known[0] else 'refused'} on"
                                 f" {known[2].isoformat()})")
            return doc | {"recorded": False}
        record = CreditRepairDecided(
            repair_id=supervision_id(unit, listing_id), unit=unit, listing_id=listing_id,
            court_code=st.court_code, granted=granted, applied_on=applied_on,
            decided_on=decided_on, recorded_at=now)
        value = codec.encode(record)
        cur.execute(
            f"INSERT INTO {sch}.repairs (listing_id, subject_id, granted, applied_on, decided_on,"
            " recorded_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (listing_id, st.subject.id_number, granted, applied_on, decided_on, now))
        outbox.enqueue(cur, sch, [outbox.OutboxRecord(
            dedupe_id=f"repair:{record.repair_id}", topic=s.supervision_topic,
            key=unit.encode(), value=value, headers=sign(key, value))])
        uow.commit()
    return doc | {"recorded": True}
