"""Republishing sites against their 3-working-day limit (policy 四(二)7), from the signed
records of `court.republication.v1`: each court-signed `DeletionNotice` and the site-signed
`DeletionConfirmed` that answers it. A record whose signature does not verify is not
believed (`history`): a forged confirmation cannot make a site look compliant.

Each notice is one limit row (rule `republish_delete`): from the day the listing stopped
being public (China Standard Time) to the day the site says it deleted it, `due` computed
here from the rule, not taken from the notice. A site with a deletion late or overdue is
`flagged`."""

from __future__ import annotations

from datetime import date
from typing import Any

from consumers.audit import history
from consumers.audit.limits import LimitRow, limit_text
from hub.config import Settings
from hub.domain import deadlines
from hub.domain.events import DeletionConfirmed, DeletionNotice

RULE = "republish_delete"


class Republication:
    """Feed it the topic's believed models (`add`), then `rows(today)` and `sites(rows)`."""

    def __init__(self) -> None:
        self.notices: dict[str, DeletionNotice] = {}
        self.confirmations: dict[str, DeletionConfirmed] = {}
        self.notes: set[str] = set()

    def add(self, model: Any) -> None:
        if isinstance(model, DeletionNotice):
            self.notices.setdefault(model.notice_id, model)
        elif isinstance(model, DeletionConfirmed):
            known = self.confirmations.get(model.notice_id)
            if known is None or model.deleted_at < known.deleted_at:
                self.confirmations[model.notice_id] = model

    def rows(self, today: date) -> list[LimitRow]:
        out: list[LimitRow] = []
        for n in sorted(self.notices.values(), key=lambda n: (n.stopped_at, n.notice_id)):
            started = deadlines.local_date(n.stopped_at)
            dl = deadlines.deadline_for(RULE, started)
            if not dl.calendar_complete:
                self.notes.add(dl.note)
            c = self.confirmations.get(n.notice_id)
            # a confirmation signed by another site than the notice's is not an answer to it
            done = deadlines.local_date(c.deleted_at) if c is not None and c.site == n.site else None
            if done is not None:
                status = "late" if done > dl.due else "on_time"
            else:
                status = "overdue" if today > dl.due else "pending"
            out.append(LimitRow(
                court_code=n.court_code, listing_id=n.listing_id, decision_no=n.decision_no,
                rule=RULE, clause=deadlines.RULES[RULE].citation, limit=limit_text(RULE),
                started_on=started.isoformat(), done_on=done.isoformat() if done else None,
                due=dl.due.isoformat(), status=status, calendar_complete=dl.calendar_complete,
                site=n.site))
        return out


def sites(rows: list[LimitRow]) -> list[dict[str, Any]]:
    """Per site: notices, counted by status; flagged when one was late or is overdue."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.site is None:
            continue
        d = out.setdefault(r.site, {"site": r.site, "notices": 0, "on_time": 0, "late": 0,
                                    "overdue": 0, "pending": 0, "calendar_complete": True,
                                    "items": []})
        d["notices"] += 1
        d[r.status] += 1
        d["calendar_complete"] = d["calendar_complete"] and r.calendar_complete
        if r.status in ("late", "overdue"):
            d["items"].append(r.doc())
    for d in out.values():
        d["flagged"] = d["late"] + d["overdue"] > 0
    return [out[k] for k in sorted(out)]


def read(s: Settings, progress: bool = True) -> Republication:
    rep = Republication()
    for model in history.republication(s, progress=progress):
        rep.add(model)
    return rep
