"""Supervision in `hub audit compliance` (policy 四(二)8, 四(四)), from the believed records of
`supervision.v1` (`hub.supervision`), per unit:
- formal notices (通報): how many, and `second_notice_within_year` when one came within a
  year of the one before: the unit loses 文明單位 eligibility and its leaders their honours
  for a year from the last notice (`honours_barred_until`);
- talks (約談), and `noticed_after_talk`: a notice after a talk (its leaders are then held to
  account, 四(四) last paragraph);
- complaints (投訴舉報): received, answered, still open, and `should_have_acted`: failures
  found by the unit's own investigation, which count towards a formal notice like a late or
  missing acknowledgement;
- credit repairs (信用修復, 四(二)6) the unit granted and refused."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hub.domain.events import ComplaintFinding
from hub.supervision import SupervisionLog

YEAR = timedelta(days=365)


def _one_year_after(d: date) -> date:
    try:
        return d.replace(year=d.year + 1)
    except ValueError:  # 29 February
        return d + YEAR


def summary(log: SupervisionLog, start: date | None = None, end: date | None = None,
            ) -> list[dict[str, Any]]:
    """One row per unit named by a record; complaints and findings counted in the period."""
    units: dict[str, dict[str, Any]] = {}

    def row(unit: str) -> dict[str, Any]:
        return units.setdefault(unit, {
            "unit": unit, "notices": 0, "talks": 0, "second_notice_within_year": False,
            "honours_barred_until": None, "noticed_after_talk": False, "complaints": 0,
            "complaints_answered": 0, "complaints_open": 0, "should_have_acted": 0,
            "repairs_granted": 0, "repairs_refused": 0, "notice_refs": []})

    def in_period(d: date) -> bool:
        return (start is None or d >= start) and (end is None or d <= end)

    by_unit: dict[str, list[date]] = {}
    for n in sorted(log.notices.values(), key=lambda n: (n.issued_on, n.ref)):
        if end is not None and n.issued_on > end:
            continue
        r = row(n.unit)
        r["notices"] += 1
        r["notice_refs"].append(n.ref)
        days = by_unit.setdefault(n.unit, [])
        if days and n.issued_on - days[-1] <= YEAR:
            r["second_notice_within_year"] = True
        days.append(n.issued_on)
        if r["second_notice_within_year"]:
            r["honours_barred_until"] = _one_year_after(n.issued_on).isoformat()
    talks: dict[str, list[date]] = {}
    for t in log.talks.values():
        if end is not None and t.held_on > end:
            continue
        row(t.unit)["talks"] += 1
        talks.setdefault(t.unit, []).append(t.held_on)
    for unit, held in talks.items():
        first = min(held)
        row(unit)["noticed_after_talk"] = any(d > first for d in by_unit.get(unit, []))
    for c in log.complaints.values():
        if not in_period(c.received_on):
            continue
        r = row(c.unit)
        r["complaints"] += 1
        a = log.answers.get(c.complaint_id)
        if a is None or (end is not None and a.answered_on > end):
            r["complaints_open"] += 1
            continue
        r["complaints_answered"] += 1
        if a.finding is ComplaintFinding.should_have_acted:
            r["should_have_acted"] += 1
    for rep in log.repairs.values():
        if in_period(rep.decided_on):
            row(rep.unit)["repairs_granted" if rep.granted else "repairs_refused"] += 1
    return [units[k] for k in sorted(units)]
