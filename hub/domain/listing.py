"""The listing lifecycle: `apply(state, event) -> state`, the one function that the court
store, every unit projection and the auditor fold (design.md, "Pure core").

States (domain README, "Listing lifecycle"): listed → shielded (exit grounds) or revoked
(void); corrected in place; a verification (objection) suspends measures while open and
keeps them suspended after an upheld objection until the court corrects or revokes.
An illegal transition raises TransitionError naming the rule it breaks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from hub.domain.deadlines import local_date
from hub.domain.decisions import Decision, meta_for, to_event
from hub.domain.events import (
    PROCEDURE_EVENT_TYPES,
    AwareDatetime,
    BoundRole,
    CourtEvent,
    DebtorListed,
    EmployerNotified,
    Ground,
    ListingCorrected,
    ListingRevoked,
    ListingShielded,
    Performance,
    RelatedPerson,
    RevokeReason,
    ShieldReason,
    Subject,
    VerificationClosed,
    VerificationOpened,
    VerificationOutcome,
)
from hub.domain.rules import check_id_number, listing_problems

__all__ = [
    "BoundPerson",
    "DomainError",
    "ListingState",
    "Status",
    "StatusAt",
    "TransitionError",
    "Verification",
    "apply",
    "bound_persons",
    "check_decision",
    "fold",
    "status_at",
]

StatusAt = Literal["listed", "shielded", "revoked", "expired"]

# Short citations of the rules the state machine keeps.
RULE_NEW_LISTING = "court-decisions.md list: a new listing needs a new listing_id"
RULE_UNKNOWN = "court-decisions.md: listing_id is chosen on list"
RULE_IDENTITY = "court-decisions.md: listing_id and court_code identify the listing"
RULE_ORDER = "court-decisions.md: decisions in the order the court made them"
RULE_REVOKED = "Provisions art. 11: a revoked listing is void and final"
RULE_SHIELD = "Provisions art. 10, policy 四(二)4: only a current listing is shielded"
RULE_PERIOD_EXPIRED = "Provisions art. 2: only a fixed period can expire"
RULE_CORRECT = "court-decisions.md correct: same validation as on list (Provisions art. 2, 6)"
RULE_VERIFICATION = "policy 四(二)3, Provisions art. 11: one verification at a time"
RULE_LIST = "court-decisions.md list; Provisions art. 1, 2, 6"
RULE_PROCEDURE = "court-decisions.md: a procedure record follows the listing it is about"
RULE_EMPLOYER_NOTICE = "policy 三(一): the employer is notified of a listing that is not published"


class DomainError(ValueError):
    """Base of the pure core's rule violations."""


class TransitionError(DomainError):
    """An event the listing's current state does not allow. `rule` cites the rule broken;
    `key` names the offending field when there is one (e.g. `changes.subject.id_number`)."""

    def __init__(
        self, message: str, rule: str, *, listing_id: str | None = None, key: str | None = None
    ) -> None:
        self.message = message
        self.rule = rule
        self.listing_id = listing_id
        self.key = key
        super().__init__(f"{message} ({rule})")


class Status(StrEnum):
    listed = "listed"
    shielded = "shielded"
    revoked = "revoked"


class Verification(StrEnum):
    none = "none"
    open = "open"
    upheld = "upheld"  # objection upheld: measures stay suspended until correct or revoke


class ListingState(BaseModel):
    """A listing as of its last court decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    listing_id: str
    court_code: str
    court_name: str
    status: Status
    verification: Verification = Verification.none
    ground: Ground
    period_end: date | None
    public: bool
    subject: Subject
    related: tuple[RelatedPerson, ...] = ()
    case_no: str
    obligation: str
    performance: Performance
    conduct: str
    filed_on: date
    basis_authority: str
    basis_doc_no: str
    listed_at: AwareDatetime
    last_decided_at: AwareDatetime
    last_event_id: str
    last_court_seq: int
    shield_reason: ShieldReason | None = None
    revoke_reason: RevokeReason | None = None
    decisions: int = 1

    @property
    def under_verification(self) -> bool:
        """Measures are suspended, not lifted (policy 四(二)3, last paragraph)."""
        return self.verification is not Verification.none


class BoundPerson(NamedTuple):
    role: BoundRole
    name: str
    id_number: str


def _fail(
    message: str, rule: str, listing_id: str | None, key: str | None = None
) -> TransitionError:
    return TransitionError(message, rule, listing_id=listing_id, key=key)


def _listed(event: DebtorListed) -> ListingState:
    meta = event.meta
    problems = listing_problems(
        event.subject.kind,
        event.subject.id_number,
        event.related,
        event.ground,
        event.period_end,
        local_date(meta.decided_at),
    )
    if problems:
        key, reason = problems[0]
        raise _fail(f"invalid listing: {key}: {reason}", RULE_LIST, meta.listing_id, key)
    return ListingState(
        listing_id=meta.listing_id,
        court_code=meta.court_code,
        court_name=event.court_name,
        status=Status.listed,
        ground=event.ground,
        period_end=event.period_end,
        public=event.public,
        subject=event.subject,
        related=tuple(event.related),
        case_no=event.case_no,
        obligation=event.obligation,
        performance=event.performance,
        conduct=event.conduct,
        filed_on=event.filed_on,
        basis_authority=event.basis_authority,
        basis_doc_no=event.basis_doc_no,
        listed_at=meta.decided_at,
        last_decided_at=meta.decided_at,
        last_event_id=meta.event_id,
        last_court_seq=meta.court_seq,
    )


def _corrected(state: ListingState, event: ListingCorrected) -> dict[str, object]:
    changes = event.changes
    lid = state.listing_id
    if changes.is_empty():
        raise _fail("a correction must change something", RULE_CORRECT, lid, "changes")
    subject_id = (
        changes.subject_id_number
        if changes.subject_id_number is not None
        else state.subject.id_number
    )
    related = tuple(changes.related) if changes.related is not None else state.related
    period_end = changes.period_end if changes.period_end is not None else state.period_end
    # The corrected listing must be one the court could have listed on its listing day.
    problems = listing_problems(
        state.subject.kind, subject_id, related, state.ground, period_end,
        local_date(state.listed_at),
    )
    if problems:
        key, reason = problems[0]
        raise _fail(f"corrected listing is invalid: {key}: {reason}", RULE_CORRECT, lid,
                    f"changes.{key}")
    subject = Subject(
        kind=state.subject.kind,
        name=changes.subject_name if changes.subject_name is not None else state.subject.name,
        id_number=check_id_number(state.subject.kind, subject_id),
    )
    update: dict[str, object] = {"subject": subject, "related": related, "period_end": period_end}
    for name in ("obligation", "performance", "conduct", "case_no", "public"):
        value = getattr(changes, name)
        if value is not None:
            update[name] = value
    if state.verification is Verification.upheld:
        update["verification"] = Verification.none  # the court followed up the objection
    return update


def _procedure(state: ListingState, event: CourtEvent) -> ListingState:
    """A due-process record (hub.domain.procedures): the listing's state is unchanged; what
    the record may follow in the listing's history is checked by `Procedures`."""
    meta = event.meta
    lid = meta.listing_id
    if meta.decided_at < state.listed_at:
        raise _fail(f"decided_at {meta.decided_at.isoformat()} precedes the listing"
                    f" ({state.listed_at.isoformat()})", RULE_PROCEDURE, lid, "decided_at")
    if isinstance(event, EmployerNotified):
        if state.public:
            raise _fail(f"listing {lid!r} is published: its employer is notified only when it"
                        " is not (public=false)", RULE_EMPLOYER_NOTICE, lid, "action")
        if state.status is not Status.listed:
            raise _fail(f"listing {lid!r} is {state.status.value}", RULE_EMPLOYER_NOTICE, lid,
                        "action")
    return state


def apply(state: ListingState | None, event: CourtEvent) -> ListingState:
    """The listing after `event`; TransitionError if the current state does not allow it."""
    meta = event.meta
    lid = meta.listing_id
    if state is None:
        if not isinstance(event, DebtorListed):
            raise _fail(f"unknown listing {lid!r}", RULE_UNKNOWN, lid, "listing_id")
        return _listed(event)
    if isinstance(event, DebtorListed):
        raise _fail(f"listing {lid!r} already exists", RULE_NEW_LISTING, lid, "listing_id")
    if lid != state.listing_id or meta.court_code != state.court_code:
        raise _fail(
            f"event for {meta.court_code}/{lid} applied to {state.court_code}/{state.listing_id}",
            RULE_IDENTITY, lid, "court_code" if lid == state.listing_id else "listing_id",
        )
    if isinstance(event, PROCEDURE_EVENT_TYPES):
        return _procedure(state, event)
    if state.status is Status.revoked:
        raise _fail(f"listing {lid!r} is revoked", RULE_REVOKED, lid)
    if meta.decided_at < state.last_decided_at:
        raise _fail(
            f"decided_at {meta.decided_at.isoformat()} precedes the listing's last decision "
            f"({state.last_decided_at.isoformat()})", RULE_ORDER, lid, "decided_at",
        )

    update: dict[str, object]
    if isinstance(event, ListingShielded):
        if state.status is not Status.listed:
            raise _fail(f"listing {lid!r} is already shielded", RULE_SHIELD, lid)
        if event.reason is ShieldReason.period_expired:
            if state.period_end is None:
                raise _fail("listing has no fixed period", RULE_PERIOD_EXPIRED, lid, "reason")
            if local_date(meta.decided_at) < state.period_end:
                raise _fail(f"period runs until {state.period_end.isoformat()}",
                            RULE_PERIOD_EXPIRED, lid, "reason")
        update = {"status": Status.shielded, "shield_reason": event.reason,
                  "verification": Verification.none}
    elif isinstance(event, ListingRevoked):
        update = {"status": Status.revoked, "revoke_reason": event.reason,
                  "verification": Verification.none}
    elif isinstance(event, ListingCorrected):
        update = _corrected(state, event)
    elif isinstance(event, VerificationOpened):
        if state.status is not Status.listed:
            raise _fail(f"listing {lid!r} is {state.status.value}: nothing to verify",
                        RULE_VERIFICATION, lid)
        if state.verification is not Verification.none:
            what = "open" if state.verification is Verification.open else "upheld, pending"
            raise _fail(f"second verification: one is already {what}", RULE_VERIFICATION, lid)
        update = {"verification": Verification.open}
    elif isinstance(event, VerificationClosed):
        if state.verification is not Verification.open:
            raise _fail("no verification is open", RULE_VERIFICATION, lid)
        upheld = event.outcome is VerificationOutcome.upheld
        update = {"verification": Verification.upheld if upheld else Verification.none}
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a court event: {type(event).__name__}")

    update.update(
        last_decided_at=meta.decided_at,
        last_event_id=meta.event_id,
        last_court_seq=meta.court_seq,
        decisions=state.decisions + 1,
    )
    return state.model_copy(update=update)


def fold(events: Iterable[CourtEvent]) -> dict[str, ListingState]:
    """Every listing after `events` (in log order); raises TransitionError on the first bad one."""
    states: dict[str, ListingState] = {}
    for event in events:
        lid = event.meta.listing_id
        states[lid] = apply(states.get(lid), event)
    return states


def check_decision(state: ListingState | None, decision: Decision) -> ListingState:
    """Validate `decision` against the listing's current state before the court store builds
    the real event; returns the provisional next state. Raises TransitionError."""
    meta = meta_for(
        decision,
        court_seq=(state.last_court_seq + 1) if state is not None else 1,
        prev_hash=bytes(32),
        recorded_at=decision.decided_at,
    )
    return apply(state, to_event(decision, meta))


def status_at(state: ListingState, at: datetime) -> StatusAt:
    """Status as seen at `at`: a listed listing with a fixed period is `expired` from 00:00
    CST of the day after `period_end` (its last day; Provisions art. 2). Listings without
    a period never expire."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("status_at needs a timezone-aware time")
    if state.status is Status.listed:
        if state.period_end is not None and local_date(at) > state.period_end:
            return "expired"
        return "listed"
    return "shielded" if state.status is Status.shielded else "revoked"


def bound_persons(state: ListingState) -> list[BoundPerson]:
    """The debtor (role `debtor`) and each related person with its role."""
    people = [BoundPerson(BoundRole.debtor, state.subject.name, state.subject.id_number)]
    people.extend(BoundPerson(BoundRole(p.role.value), p.name, p.id_number) for p in state.related)
    return people
