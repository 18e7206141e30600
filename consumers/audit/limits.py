"""The courts' statutory time limits, checked event by event (`hub audit compliance`).

Each act the law gives a limit becomes one row: the rule and the clause that sets it, when
the limit started and when the act was done, the last day allowed, and a status:
- `on_time` / `late`: done, within or past the limit;
- `overdue`: not done, and the last day has passed; `pending`: not done, still in time;
- `not_assessable`: the log does not say when the limit started (a shield, revoke or
  correction without `triggered_at`): never counted as on time.
`calendar_complete` is false where a deadline rests on a year whose adjusted working days
(調休) are not published yet (`hub.domain.deadlines`).

The limits assessed (`deadlines.RULES`):
- shield / revoke / correct: from `triggered_at` to the decision (policy 四(二)2, 四(二)4;
  Provisions art. 10, 12);
- verification_review: the court reviews a written objection within 15 days of receiving it
  (policy 四(二)3): from `objection_received_on` of `open_verification` to the decision that
  closes it;
- objection: the debtor objects within 10 days of being served the listing decision (from
  the `serve` record of it to `objection_received_on`);
- reconsideration: the debtor applies within 10 days of being served the dismissal (from
  the `serve` record of the dismissing `close_verification` to `received_on`);
- reconsideration_decision: the higher court decides within 15 days of receiving the
  application (`received_on` to `decide_reconsideration`), open ones pending or overdue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from hub.domain import deadlines
from hub.domain.events import (
    DebtorListed,
    ListingCorrected,
    ListingRevoked,
    ListingShielded,
    ReconsiderationApplied,
    ReconsiderationDecided,
    ShieldReason,
    VerificationClosed,
    VerificationOpened,
)
from hub.domain.procedures import Procedures

STATUSES = ("on_time", "late", "overdue", "pending", "not_assessable")


@dataclass
class LimitRow:
    court_code: str
    listing_id: str
    decision_no: str
    rule: str
    clause: str
    limit: str
    started_on: str | None
    done_on: str | None
    due: str | None
    status: str
    calendar_complete: bool
    site: str | None = None  # republish_delete: the republishing site whose limit it is

    def doc(self) -> dict[str, Any]:
        return asdict(self)


def limit_text(kind: str) -> str:
    rule = deadlines.RULES[kind]
    return f"{rule.n} {'working ' if rule.working_days else ''}days from when {rule.trigger}"


def _action_kind(ev: Any) -> str | None:
    if isinstance(ev, ListingShielded):
        return "shield_period_expired" if ev.reason is ShieldReason.period_expired else "shield"
    if isinstance(ev, ListingRevoked):
        return "revoke"
    if isinstance(ev, ListingCorrected):
        return "correct"
    return None


class Limits:
    """Feed it the court log in order (`add`), then `rows(today)`; `notes` gathers what an
    incomplete holiday calendar means for the deadlines it computed."""

    def __init__(self) -> None:
        self._rows: list[LimitRow] = []
        self._open: dict[str, tuple[Any, date]] = {}  # listing -> (opening event, received on)
        self.notes: set[str] = set()
        # due process (hub.domain.procedures), assessed once the whole log is read: a
        # service may be recorded after the objection it starts the limit of
        self._proc: dict[str, Procedures] = {}
        self._listing_no: dict[str, str] = {}  # listing -> decision_no of its listing
        self._court: dict[str, str] = {}  # listing -> court_code
        self._objections: list[Any] = []  # VerificationOpened
        self._applications: list[tuple[Any, str]] = []  # (ReconsiderationApplied, dismissal no)
        self._decided: dict[str, Any] = {}  # application decision_no -> ReconsiderationDecided
        self._pending: dict[str, Any] = {}  # listing -> pending application

    def _row(self, ev: Any, kind: str, started: date | None, done: date | None,
             today: date | None = None) -> LimitRow:
        rule = deadlines.RULES[kind]
        meta = ev.meta
        base = dict(court_code=meta.court_code, listing_id=meta.listing_id,
                    decision_no=meta.decision_no, rule=kind, clause=rule.citation,
                    limit=limit_text(kind))
        if started is None:
            return LimitRow(**base, started_on=None, done_on=done.isoformat() if done else None,
                            due=None, status="not_assessable", calendar_complete=True)
        dl = deadlines.deadline_for(kind, started)
        if not dl.calendar_complete:
            self.notes.add(dl.note)
        if done is not None:
            status = "late" if done > dl.due else "on_time"
        else:
            status = "overdue" if today is not None and today > dl.due else "pending"
        return LimitRow(**base, started_on=started.isoformat(),
                        done_on=done.isoformat() if done else None, due=dl.due.isoformat(),
                        status=status, calendar_complete=dl.calendar_complete)

    def _procedures(self, ev: Any) -> None:
        meta = ev.meta
        lid = meta.listing_id
        p = self._proc.setdefault(lid, Procedures(lid))
        if isinstance(ev, DebtorListed):
            self._listing_no[lid] = meta.decision_no
            self._court[lid] = meta.court_code
        elif isinstance(ev, VerificationOpened):
            self._objections.append(ev)
        elif isinstance(ev, ReconsiderationApplied):
            if p.dismissal is None:
                return  # not believable as such: the court store refuses it
            self._applications.append((ev, p.dismissal))
            self._pending[lid] = ev
        elif isinstance(ev, ReconsiderationDecided):
            applied = self._pending.pop(lid, None)
            if applied is None:
                return
            self._decided[applied.meta.event_id] = ev
        p.add(ev)

    def risk_notices(self) -> list[dict[str, Any]]:
        """Per court: listings, and those without a recorded risk notice (風險提示, policy
        四(二)3: it must precede the listing; `risk_notice` records it)."""
        courts: dict[str, dict[str, Any]] = {}
        for lid in self._listing_no:
            p = self._proc[lid]
            code = self._court[lid]
            c = courts.setdefault(code, {"court_code": code, "listings": 0,
                                         "with_risk_notice": 0, "without_risk_notice": []})
            c["listings"] += 1
            if p.risk_notice_on is not None:
                c["with_risk_notice"] += 1
            else:
                c["without_risk_notice"].append(lid)
        return [courts[k] for k in sorted(courts)]

    def add(self, ev: Any) -> None:
        self._procedures(ev)
        meta = ev.meta
        kind = _action_kind(ev)
        if kind is not None:
            started = deadlines.local_date(meta.triggered_at) if meta.triggered_at else None
            self._rows.append(self._row(ev, kind, started, deadlines.local_date(meta.decided_at)))
        if isinstance(ev, VerificationOpened):
            self._open[meta.listing_id] = (ev, ev.objection_received_on)
        elif isinstance(ev, VerificationClosed) and meta.listing_id in self._open:
            opened, received = self._open.pop(meta.listing_id)
            row = self._row(opened, "verification_review", received, deadlines.local_date(meta.decided_at))
            row.decision_no = meta.decision_no
            self._rows.append(row)

    def rows(self, today: date) -> list[LimitRow]:
        """Every row, objections still under review included (pending or overdue today)."""
        still_open = [self._row(ev, "verification_review", received, None, today)
                      for ev, received in self._open.values()]
        return self._rows + still_open + self._due_process(today)

    def _due_process(self, today: date) -> list[LimitRow]:
        """The debtor's objection within 10 days of being served the listing decision; the
        application for reconsideration within 10 days of being served the dismissal; the
        higher court's decision within 15 days of receiving it (policy 四(二)3). Without a
        recorded service the first two are not assessable."""
        out: list[LimitRow] = []
        for ev in self._objections:
            lid = ev.meta.listing_id
            served = self._proc[lid].served_on.get(self._listing_no.get(lid, ""))
            out.append(self._row(ev, "objection", served, ev.objection_received_on, today))
        for ev, dismissal in self._applications:
            served = self._proc[ev.meta.listing_id].served_on.get(dismissal)
            out.append(self._row(ev, "reconsideration", served, ev.received_on, today))
            decided = self._decided.get(ev.meta.event_id)
            row = self._row(ev, "reconsideration_decision", ev.received_on,
                            deadlines.local_date(decided.meta.decided_at) if decided else None,
                            today)
            if decided is not None:
                row.decision_no = decided.meta.decision_no
            out.append(row)
        return out


def court_summary(rows: list[LimitRow]) -> list[dict[str, Any]]:
    """Per court: acts with a limit, counted by status; the rows that are not on time."""
    courts: dict[str, dict[str, Any]] = {}
    for r in rows:
        c = courts.setdefault(r.court_code, {"court_code": r.court_code, "actions": 0,
                                             **dict.fromkeys(STATUSES, 0), "items": []})
        c["actions"] += 1
        c[r.status] += 1
        if r.status not in ("on_time", "pending"):
            c["items"].append(r.doc())
    return [courts[k] for k in sorted(courts)]
