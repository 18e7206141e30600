"""A listing's due process (issue #21): service of its decisions (送達), reconsideration at
the higher court (復議) and the notice to a non-public debtor's employer (通報其所在單位).

These events change no measure and no listing state (`listing.apply` passes them through
after its identity checks); what they may follow is a matter of the listing's history,
which `Procedures` folds, one listing at a time, in log order:
- `serve`: the served decision is one of the listing's, recorded before; it is served once,
  on or after the day it was made and no later than the day of the record (policy 四(二)2);
- `apply_reconsideration`: only after the court dismissed an objection (close_verification
  with outcome `dismissed`), once per dismissal, received on or after the dismissal's day
  (policy 四(二)3);
- `decide_reconsideration`: only while an application is pending, on or after the day the
  higher court received it;
- `notify_employer`: only for a current listing that is not published (policy 三(一)), on or
  after the day it was listed;
- `risk_notice`: recorded once on the listing, issued on or before the day it was listed
  (policy 四(二)3: the notice precedes the listing).
The court store checks them before it records a decision file (`producers.court.submit`);
the auditor folds the same class to assess the limits (`consumers.audit.limits`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from hub.domain.deadlines import local_date
from hub.domain.events import (
    DecisionServed,
    EmployerNotified,
    ReconsiderationApplied,
    ReconsiderationDecided,
    RiskNoticeIssued,
    VerificationClosed,
    VerificationOutcome,
)
from hub.domain.listing import TransitionError

RULE_SERVE = "policy 四(二)2: a decision of the listing is served once, after it is made"
RULE_RECONSIDERATION = ("policy 四(二)3: reconsideration follows a dismissed objection; the"
                        " higher court decides a pending application")
RULE_EMPLOYER = "policy 三(一): the employer is notified of a listing that is not published"
RULE_RISK = "policy 四(二)3: the risk notice precedes the listing, once"


def _fail(message: str, rule: str, listing_id: str, key: str) -> TransitionError:
    return TransitionError(message, rule, listing_id=listing_id, key=key)


@dataclass
class Procedures:
    """The due-process history of one listing. `check(event)` raises TransitionError (with
    the decision-file key at fault) if the event may not follow; `add(event)` records it
    (call both, in log order, for every event of the listing)."""

    listing_id: str
    decided_on: dict[str, date] = field(default_factory=dict)  # decision_no -> day made
    served_on: dict[str, date] = field(default_factory=dict)  # decision_no -> day served
    listed_on: date | None = None
    dismissal: str | None = None  # the last dismissal not yet taken to reconsideration
    dismissal_on: date | None = None
    pending: tuple[str, date] | None = None  # (dismissal decision_no, received_on)
    reconsidered: set[str] = field(default_factory=set)  # dismissals taken to the higher court
    risk_notice_on: date | None = None

    def check(self, event: Any) -> None:
        meta = event.meta
        day = local_date(meta.decided_at)
        lid = self.listing_id
        if isinstance(event, DecisionServed):
            made = self.decided_on.get(event.served_decision_no)
            if made is None:
                raise _fail(f"listing {lid!r} has no decision {event.served_decision_no!r}"
                            " recorded before this one", RULE_SERVE, lid, "served_decision_no")
            if event.served_decision_no in self.served_on:
                raise _fail(f"decision {event.served_decision_no!r} was already served on"
                            f" {self.served_on[event.served_decision_no].isoformat()}",
                            RULE_SERVE, lid, "served_decision_no")
            if event.served_on < made:
                raise _fail(f"served on {event.served_on.isoformat()}, before the decision was"
                            f" made ({made.isoformat()})", RULE_SERVE, lid, "served_on")
            if event.served_on > day:
                raise _fail(f"served on {event.served_on.isoformat()}, after the day of"
                            f" decided_at ({day.isoformat()})", RULE_SERVE, lid, "served_on")
        elif isinstance(event, ReconsiderationApplied):
            if self.pending is not None:
                raise _fail("a reconsideration application is already pending",
                            RULE_RECONSIDERATION, lid, "action")
            if self.dismissal is None or self.dismissal_on is None:
                raise _fail(f"listing {lid!r} has no dismissed objection to reconsider",
                            RULE_RECONSIDERATION, lid, "action")
            if event.received_on < self.dismissal_on:
                raise _fail(f"received on {event.received_on.isoformat()}, before the dismissal"
                            f" ({self.dismissal_on.isoformat()})", RULE_RECONSIDERATION, lid,
                            "received_on")
            if event.received_on > day:
                raise _fail(f"received on {event.received_on.isoformat()}, after the day of"
                            f" decided_at ({day.isoformat()})", RULE_RECONSIDERATION, lid,
                            "received_on")
        elif isinstance(event, ReconsiderationDecided):
            if self.pending is None:
                raise _fail("no reconsideration application is pending",
                            RULE_RECONSIDERATION, lid, "action")
            if day < self.pending[1]:
                raise _fail(f"decided on {day.isoformat()}, before the application was received"
                            f" ({self.pending[1].isoformat()})", RULE_RECONSIDERATION, lid,
                            "decided_at")
        elif isinstance(event, RiskNoticeIssued):
            if self.risk_notice_on is not None:
                raise _fail(f"the risk notice of listing {lid!r} is already recorded (issued"
                            f" {self.risk_notice_on.isoformat()})", RULE_RISK, lid, "action")
            if self.listed_on is not None and event.issued_on > self.listed_on:
                raise _fail(f"issued on {event.issued_on.isoformat()}, after the listing"
                            f" ({self.listed_on.isoformat()}): a risk notice precedes it",
                            RULE_RISK, lid, "issued_on")
        elif isinstance(event, EmployerNotified):
            if self.listed_on is not None and event.notified_on < self.listed_on:
                raise _fail(f"notified on {event.notified_on.isoformat()}, before the listing"
                            f" ({self.listed_on.isoformat()})", RULE_EMPLOYER, lid, "notified_on")
            if event.notified_on > day:
                raise _fail(f"notified on {event.notified_on.isoformat()}, after the day of"
                            f" decided_at ({day.isoformat()})", RULE_EMPLOYER, lid, "notified_on")

    def decided(self, decision_no: str, decided_at: datetime) -> None:
        """A decision that is not a procedure (what `add` records of a list, shield…)."""
        day = local_date(decided_at)
        if self.listed_on is None:
            self.listed_on = day
        self.decided_on[decision_no] = day

    def add(self, event: Any) -> None:
        meta = event.meta
        if isinstance(event, DecisionServed):
            self.served_on[event.served_decision_no] = event.served_on
            return
        if isinstance(event, ReconsiderationApplied):
            assert self.dismissal is not None
            self.pending = (self.dismissal, event.received_on)
            self.reconsidered.add(self.dismissal)
            self.dismissal = self.dismissal_on = None
            return
        if isinstance(event, ReconsiderationDecided):
            self.pending = None
            return
        if isinstance(event, EmployerNotified):
            return
        if isinstance(event, RiskNoticeIssued):
            self.risk_notice_on = event.issued_on
            return
        self.decided(meta.decision_no, meta.decided_at)
        day = local_date(meta.decided_at)
        if isinstance(event, VerificationClosed):
            if event.outcome is VerificationOutcome.dismissed:
                self.dismissal, self.dismissal_on = meta.decision_no, day
            else:
                self.dismissal = self.dismissal_on = None
