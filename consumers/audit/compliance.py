"""`hub audit compliance`: per unit, the court events of the period that concerned it,
acknowledged, late, never acknowledged, latency percentiles; per court, every act with a
statutory limit, on time, late, overdue or not assessable, each citing its clause
(`consumers.audit.limits`); per republishing site, its deletions against the 3-working-day
limit (`consumers.audit.republication`, policy 四(二)7; policy 四(二)3, 四(二)4, 四(二)9, 四(四); domain README
"Accountability"). Where a deadline rests on an incomplete holiday calendar, `notes` say
so and `calendar_complete` is false, in every output."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from consumers.audit import history, republication, supervision
from consumers.audit.concern import with_concerns
from consumers.audit.limits import Limits, court_summary
from hub.config import Settings
from hub.domain import deadlines
from hub.domain.events import AckTrigger
from hub.supervision import read as read_supervision

# policy 四(四): a unit notified (通報) twice or more loses honours; each failure (late or
# missing acknowledgement) in the period counts towards a formal notice.
NOTICE_THRESHOLD = 2


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    xs = sorted(values)
    k = (len(xs) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 3)


def _in(d: date, start: date | None, end: date | None) -> bool:
    return (start is None or d >= start) and (end is None or d <= end)


def compliance(s: Settings, start: date | None = None, end: date | None = None,
               sla_working_days: int | None = None, progress: bool = True) -> dict[str, Any]:
    sla = s.ack_sla_working_days if sla_working_days is None else sla_working_days
    notes: set[str] = set()
    first_ack: dict[tuple[str, str], datetime] = {}
    for a in history.acks(s, progress=progress):
        if a.trigger is AckTrigger.court_event:
            k = (a.unit, a.event_id)
            if k not in first_ack or a.processed_at < first_ack[k]:
                first_ack[k] = a.processed_at
    units: dict[str, dict[str, Any]] = {}
    latencies: dict[str, list[float]] = {}
    backlog: list[tuple[datetime, int]] = []  # (+1 at recorded_at, -1 at ack) for charts
    limits = Limits()
    for ev, _state, concerned in with_concerns(history.court_events(s, progress=progress)):
        meta = ev.meta
        limits.add(ev)  # every event: an objection opened before the period may close in it
        if not _in(deadlines.local_date(meta.recorded_at), start, end):
            continue
        if not concerned:
            continue
        due = deadlines.add_working_days(deadlines.local_date(meta.recorded_at), sla)
        if not due.calendar_complete:
            notes.add(due.note)
        for unit in concerned:
            u = units.setdefault(unit, {"unit": unit, "concerned": 0, "acked": 0, "late": 0,
                                        "missing": 0, "calendar_complete": True})
            u["calendar_complete"] = u["calendar_complete"] and due.calendar_complete
            u["concerned"] += 1
            backlog.append((meta.recorded_at, 1))
            done = first_ack.get((unit, meta.event_id))
            if done is None:
                u["missing"] += 1
                continue
            u["acked"] += 1
            backlog.append((done, -1))
            latencies.setdefault(unit, []).append((done - meta.recorded_at).total_seconds())
            if deadlines.local_date(done) > due.due:
                u["late"] += 1
    # complaints found founded by the unit itself count as failures (policy 四(二)8, 四(四))
    supervised = supervision.summary(read_supervision(s), start, end)
    found = {r["unit"]: r["should_have_acted"] for r in supervised}
    rows = []
    for unit in sorted(units):
        u = units[unit]
        lat = latencies.get(unit, [])
        u["p50_s"] = _pct(lat, 0.5)
        u["p95_s"] = _pct(lat, 0.95)
        u["failures_found"] = found.get(unit, 0)
        u["notice_due"] = u["late"] + u["missing"] + u["failures_found"] >= NOTICE_THRESHOLD
        rows.append(u)
    today = deadlines.local_date(datetime.now(UTC))
    limit_rows = [r for r in limits.rows(today)
                  if _in(date.fromisoformat(r.done_on or r.started_on or today.isoformat()), start, end)]
    notes |= limits.notes
    # republishing sites' deletions (policy 四(二)7), in the period by the same rule
    rep = republication.read(s, progress=progress)
    site_rows = [r for r in rep.rows(today)
                 if _in(date.fromisoformat(r.done_on or r.started_on or today.isoformat()), start, end)]
    notes |= rep.notes
    doc: dict[str, Any] = {
        "units": rows,
        "courts": court_summary(limit_rows),
        "republishers": republication.sites(site_rows),
        "supervision": supervised,
        "risk_notices": limits.risk_notices(),
        "limits": [r.doc() for r in limit_rows + site_rows],
        "notes": sorted(notes),
        "calendar_complete": not notes,
    }
    doc["_backlog"] = _daily_backlog(backlog)
    return doc


def _daily_backlog(points: list[tuple[datetime, int]]) -> list[tuple[str, int]]:
    """Unacknowledged (unit, event) pairs at the end of each day (CST)."""
    if not points:
        return []
    points.sort()
    first = deadlines.local_date(points[0][0])
    last = deadlines.local_date(points[-1][0])
    out: list[tuple[str, int]] = []
    level, i, d = 0, 0, first
    while d <= last and len(out) < 3660:
        while i < len(points) and deadlines.local_date(points[i][0]) <= d:
            level += points[i][1]
            i += 1
        out.append((d.isoformat(), level))
        d += timedelta(days=1)
    return out
