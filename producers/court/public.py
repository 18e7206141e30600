"""The public query of the list (policy 四(二)7: anyone may query public listings in real
time, free of charge). Only listings that are current (listed, not shielded, revoked or past
their period) AND public are shown: a non-public listing (Provisions art. 6, `public=false`)
binds units but never appears here. ID numbers are shown masked, related persons' numbers
not at all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub import db
from hub.config import Settings
from hub.domain.identity import mask
from hub.domain.listing import ListingState, status_at
from producers.court.store import listing_state_sql, open_store, schema, state_of


def public_view(state: ListingState) -> dict[str, Any]:
    view: dict[str, Any] = {
        "listing_id": state.listing_id,
        "court_name": state.court_name,
        "case_no": state.case_no,
        "name": state.subject.name,
        "id_number": mask(state.subject.id_number),
        "kind": str(state.subject.kind),
        "ground": str(state.ground),
        "conduct": state.conduct,
        "obligation": state.obligation,
        "performance": str(state.performance),
        "listed_at": state.listed_at,
        "period_end": state.period_end,
    }
    reps = [p.name for p in state.related if str(p.role) == "legal_representative"]
    if reps:
        view["legal_representative"] = reps[0]
    return view


def is_public_now(state: ListingState, at: datetime) -> bool:
    return bool(state.public) and status_at(state, at) == "listed"


def query(s: Settings, id_number: str | None = None, name: str | None = None,
          at: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Current public listings of a debtor, by exact ID number or by name (substring)."""
    conn = open_store(s, "hub-public-query")
    try:
        with db.unit_of_work(conn) as uow:
            return query_with(uow.cursor, schema(s), id_number, name, at, limit)
    finally:
        conn.close()


def query_with(cur: Any, sch: str, id_number: str | None = None, name: str | None = None,
               at: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """`query` on an open cursor of the court store (the public page keeps its connections)."""
    at = at or datetime.now(UTC)
    # Every listing of an ID number; a bounded sample of a name (LIMIT NULL: none).
    args: tuple[str, int | None]
    if id_number:
        where, args = "l.subject_id = %s", (id_number.strip().upper(), None)
    else:
        pattern = (name or "").replace("%", r"\%").replace("_", r"\_")
        where, args = "l.subject_name LIKE %s", (f"%{pattern}%", limit * 4)
    cur.execute(f"SELECT {listing_state_sql(sch)} FROM {sch}.listings l WHERE {where}"
                " ORDER BY l.listing_id LIMIT %s", args)
    states = [state_of(st, value) for st, value in cur.fetchall()]
    return [public_view(st) for st in states if is_public_now(st, at)][:limit]
