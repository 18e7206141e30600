"""The unit's pre-review check (policy 三(二)2: automatic comparison and interception).

One indexed query per check (measures by id_number, filtered in valid time), which also
returns the projection's position — offsets per partition and the last court_seq per
court — so every answer can be traced to the log. `at` evaluates the list as known now at
that moment of valid time: a measure binds from its decision to the next one that changed
it, and a fixed-period measure until the end of its `until` day (Provisions art. 2); a kept
measure until its `kept_until` day (policy 四(二)5).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub import db
from hub.domain.deadlines import local_date
from hub.domain.events import BoundRole
from hub.domain.identity import IdentityError, check_resident_id, check_uscc
from hub.domain.punishment import ActiveMeasure, decide
from hub.errors import InputError


def normalise_id(value: str) -> str:
    """A resident ID (GB 11643) or a USCC (GB 32100); InputError naming the problem."""
    try:
        return check_resident_id(value)
    except IdentityError as person:
        try:
            return check_uscc(value)
        except IdentityError:
            raise InputError(f"bad id number: {person}") from None


def _check_sql(schema: str, with_code: bool) -> str:
    return (
        "SELECT (SELECT coalesce(json_agg(json_build_array(code, mode, listing_id, role,"
        " suspended, until, kept_until) ORDER BY listing_id, code, role), '[]')"
        f" FROM {schema}.measures WHERE id_number = %(id)s AND valid_from <= %(at)s"
        " AND (valid_to IS NULL OR valid_to > %(at)s)"
        " AND (until IS NULL OR until >= %(day)s)"
        " AND (kept_until IS NULL OR kept_until >= %(day)s)"
        + (" AND code = %(code)s" if with_code else "")
        + "), (SELECT json_object_agg(topic || ':' || partition, next_offset)"
        f" FROM {schema}.consumer_offsets),"
        f" (SELECT json_object_agg(court_code, last_seq) FROM {schema}.court_positions)"
    )


def check(cur: Any, schema: str, id_number: str, measure: str | None = None,
          at: datetime | None = None) -> dict[str, Any]:
    number = normalise_id(id_number)
    when = at or datetime.now(UTC)
    if when.tzinfo is None:
        raise InputError("--at needs a time with an offset, e.g. 2026-05-01T12:00:00+08:00")
    cur.execute(_check_sql(schema, measure is not None),
                {"id": number, "at": when, "day": local_date(when), "code": measure})
    rows, offsets, courts = cur.fetchone()
    found = [
        ActiveMeasure(code=c, mode=mode, listing_id=lid, role=BoundRole(role),
                      id_number=number, suspended=susp, until=until)
        for c, mode, lid, role, susp, until, _kept in rows
    ]
    measures = [
        {"code": c, "mode": mode, "listing_id": lid, "role": role, "suspended": susp,
         "until": until, "kept_until": kept}
        for c, mode, lid, role, susp, until, kept in rows
    ]
    return {
        "decision": decide(found, measure).value,
        "measures": measures,
        "at": when.isoformat(),
        "position": {"offsets": offsets or {}, "court_seq": courts or {}},
    }


def listing(cur: Any, schema: str, listing_id: str) -> dict[str, Any] | None:
    cur.execute(
        f"SELECT l.state, l.concerned, l.expiry_acked,"
        f" (SELECT coalesce(json_agg(json_build_object('code', code, 'role', role,"
        " 'id_number', id_number, 'mode', mode, 'suspended', suspended, 'since', valid_from,"
        " 'until', until, 'kept_until', kept_until, 'reason', reason)), '[]')"
        f" FROM {schema}.measures m WHERE m.listing_id = l.listing_id AND m.valid_to IS NULL)"
        f" FROM {schema}.listings l WHERE l.listing_id = %s",
        (listing_id,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    state, concerned, expiry_acked, measures = row
    # The unit API is the unit's own: non-public listings still bind it, so they are
    # returned, flagged by `public: false` (policy: not published, still binding).
    return {"listing": state, "public": state.get("public", True), "concerned": concerned,
            "expiry_acknowledged": expiry_acked, "measures": measures}


def dead_letters(conn: db.Connection, schema: str) -> list[dict[str, Any]]:
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(
            f'SELECT id, topic, partition, "offset", kind, reason, at FROM {schema}.dead_letters'
            " ORDER BY id")
        return [
            {"id": i, "topic": t, "partition": p, "offset": o, "kind": k, "reason": r,
             "at": a.isoformat()}
            for i, t, p, o, k, r, a in uow.cursor.fetchall()
        ]
