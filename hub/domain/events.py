"""The hub's events, field by field as `docs/events.md` (the authoritative contract).

Events are facts: frozen pydantic models with past-tense names. Every model that is an Avro
record names its full Avro name in `AVRO_NAME`; every enum has exactly the symbols of the
contract (`AVRO_ENUM_NAMES` gives their Avro names). Field order is the contract's order,
so the codec and the `.avsc` files can be compared to these models mechanically.

Times are timezone-aware (naive datetimes are rejected) and normalised to UTC, as the codec
returns them (`timestamp-micros`); court dates are plain dates in China Standard Time.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = [
    "ACK_BATCH_NAMESPACE",
    "AVRO_ENUM_NAMES",
    "COURT_EVENT_TYPES",
    "EVENT_ID_NAMESPACE",
    "AckEntry",
    "AckTrigger",
    "AwareDatetime",
    "BoundRole",
    "CourtCheckpoint",
    "CourtEvent",
    "ComplaintAnswered",
    "ComplaintFinding",
    "ComplaintReceived",
    "CourtReference",
    "CreditRepairDecided",
    "DebtorListed",
    "DecisionServed",
    "EmployerNotified",
    "FormalNotice",
    "FormalTalk",
    "PROCEDURE_EVENT_TYPES",
    "ProcedureEvent",
    "ReconsiderationApplied",
    "ReconsiderationDecided",
    "ReconsiderationOutcome",
    "RiskNoticeIssued",
    "DeletionConfirmed",
    "DeletionNotice",
    "DeletionReason",
    "EventMeta",
    "Ground",
    "ListingChanges",
    "ListingCorrected",
    "ListingRevoked",
    "ListingShielded",
    "MeasureAction",
    "MeasureOutcome",
    "Performance",
    "RelatedPerson",
    "RevokeReason",
    "Role",
    "ShieldReason",
    "Subject",
    "SubjectKind",
    "UnitAckBatch",
    "UnitAcknowledged",
    "UnitCheckpoint",
    "VerificationClosed",
    "VerificationOpened",
    "VerificationOutcome",
    "acknowledgements",
    "batch_id_for",
    "deletion_notice_id",
    "event_id_for",
    "supervision_id",
]

# Fixed namespace of event ids (docs/events.md: event_id = UUID5 of `court_code/decision_no`).
# Never change it: event ids are how a resubmitted decision is recognised.
EVENT_ID_NAMESPACE = uuid.UUID("6f1c7a52-3c1e-5b8e-9d0a-2f6e4b7c9a31")


# The hex digit of a UUID's variant nibble (10xx) from the hash's digit there.
_VARIANT = {f"{v:x}": f"{(v & 0x3) | 0x8:x}" for v in range(16)}


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))` as RFC 4122 section 4.3 defines it (SHA-1 of
    namespace + name, version 5, variant 10xx), without building UUID objects: ids are
    computed once per event on the court's and the units' hot paths."""
    return _uuid5_text(namespace.bytes, name)


def _uuid5_text(namespace: bytes, name: str) -> str:
    h = hashlib.sha1(namespace + name.encode("utf-8"), usedforsecurity=False).hexdigest()  # noqa: S324 - UUID5 is SHA-1 by definition
    # The version nibble (hex digit 12) is 5, the variant's top bits (digit 16) are 10.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_EVENT_ID_NAMESPACE = EVENT_ID_NAMESPACE.bytes


def event_id_for(court_code: str, decision_no: str) -> str:
    """Deterministic event id of a court decision (same decision → same id)."""
    return _uuid5_text(_EVENT_ID_NAMESPACE, f"{court_code}/{decision_no}")


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware (naive times are ambiguous)")
    return value.astimezone(UTC)


# A timezone-aware datetime, normalised to UTC. The annotation stays `datetime`.
AwareDatetime = Annotated[datetime, AfterValidator(_aware_utc)]

# Hashes (prev_hash, root_hash) read as hex in JSON dumps (CLI `--format json`, tests).
_FROZEN = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="hex", val_json_bytes="hex")


# --- credithub.common ----------------------------------------------------------------------


class SubjectKind(StrEnum):
    person = "person"
    organisation = "organisation"


class Role(StrEnum):
    """Related persons of an organisation debtor (domain README, "Subjects")."""

    legal_representative = "legal_representative"
    principal = "principal"
    actual_controller = "actual_controller"
    directly_responsible = "directly_responsible"
    director = "director"
    supervisor = "supervisor"
    senior_manager = "senior_manager"


class Subject(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.common.Subject"

    kind: SubjectKind
    name: str
    id_number: str


class RelatedPerson(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.common.RelatedPerson"

    role: Role
    name: str
    id_number: str


# --- credithub.court -----------------------------------------------------------------------


class Ground(StrEnum):
    """Provisions art. 1, items 1–6."""

    refuses_despite_ability = "refuses_despite_ability"
    obstructs_enforcement = "obstructs_enforcement"
    evades_enforcement = "evades_enforcement"
    breaches_property_reporting = "breaches_property_reporting"
    breaches_consumption_restriction = "breaches_consumption_restriction"
    refuses_settlement = "refuses_settlement"


class Performance(StrEnum):
    none = "none"
    partial = "partial"


class ShieldReason(StrEnum):
    """Exit grounds, policy 四(二)4 / Provisions art. 10, plus the end of a fixed period."""

    obligation_performed = "obligation_performed"
    settlement_performed = "settlement_performed"
    creditor_request = "creditor_request"
    no_assets_found = "no_assets_found"
    enforcement_suspended = "enforcement_suspended"
    non_enforcement_ruling = "non_enforcement_ruling"
    enforcement_terminated = "enforcement_terminated"
    period_expired = "period_expired"


class RevokeReason(StrEnum):
    wrongly_listed = "wrongly_listed"
    objection_upheld = "objection_upheld"


class VerificationOutcome(StrEnum):
    dismissed = "dismissed"
    upheld = "upheld"


class EventMeta(BaseModel):
    """Envelope shared by every court event (first field, `meta`)."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.EventMeta"

    event_id: str
    listing_id: str
    court_code: str
    court_seq: int
    decision_no: str
    decided_at: AwareDatetime
    triggered_at: AwareDatetime | None = None
    recorded_at: AwareDatetime
    prev_hash: bytes


class DebtorListed(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.DebtorListed"

    meta: EventMeta
    court_name: str
    case_no: str
    filed_on: date
    basis_authority: str
    basis_doc_no: str
    obligation: str
    performance: Performance
    ground: Ground
    conduct: str
    period_end: date | None = None
    public: bool
    subject: Subject
    related: list[RelatedPerson]


class ListingShielded(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.ListingShielded"

    meta: EventMeta
    reason: ShieldReason


class ListingRevoked(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.ListingRevoked"

    meta: EventMeta
    reason: RevokeReason
    note: str | None = None


class ListingChanges(BaseModel):
    """What a correction changes; every field None = unchanged."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.ListingChanges"

    subject_name: str | None = None
    subject_id_number: str | None = None
    related: list[RelatedPerson] | None = None
    obligation: str | None = None
    performance: Performance | None = None
    conduct: str | None = None
    case_no: str | None = None
    period_end: date | None = None
    public: bool | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)


class ListingCorrected(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.ListingCorrected"

    meta: EventMeta
    changes: ListingChanges
    reason: str


class VerificationOpened(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.VerificationOpened"

    meta: EventMeta
    objection_received_on: date


class VerificationClosed(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.VerificationClosed"

    meta: EventMeta
    outcome: VerificationOutcome


class ReconsiderationOutcome(StrEnum):
    upheld = "upheld"
    overturned = "overturned"


# Procedures (issue #21): facts of the listing's due process that change no measure.
class DecisionServed(BaseModel):
    """送達: a decision of the listing was served on the debtor."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.DecisionServed"

    meta: EventMeta
    served_decision_no: str
    served_on: date


class ReconsiderationApplied(BaseModel):
    """復議 applied for at the higher court, after an objection was dismissed."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.ReconsiderationApplied"

    meta: EventMeta
    higher_court: str
    received_on: date


class ReconsiderationDecided(BaseModel):
    """復議 decided by the higher court."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.ReconsiderationDecided"

    meta: EventMeta
    outcome: ReconsiderationOutcome


class EmployerNotified(BaseModel):
    """通報其所在單位: the employer of a non-public debtor was notified (policy 三(一))."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.EmployerNotified"

    meta: EventMeta
    employer: str
    notified_on: date


class RiskNoticeIssued(BaseModel):
    """風險提示: the risk notice that preceded the listing (policy 四(二)3)."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.RiskNoticeIssued"

    meta: EventMeta
    issued_on: date


ProcedureEvent = (
    DecisionServed | ReconsiderationApplied | ReconsiderationDecided | EmployerNotified
    | RiskNoticeIssued
)

PROCEDURE_EVENT_TYPES: tuple[type[BaseModel], ...] = (
    RiskNoticeIssued,
    DecisionServed,
    ReconsiderationApplied,
    ReconsiderationDecided,
    EmployerNotified,
)

CourtEvent = (
    DebtorListed
    | ListingShielded
    | ListingRevoked
    | ListingCorrected
    | VerificationOpened
    | VerificationClosed
    | DecisionServed
    | ReconsiderationApplied
    | ReconsiderationDecided
    | EmployerNotified
    | RiskNoticeIssued
)

COURT_EVENT_TYPES: tuple[type[BaseModel], ...] = (
    DebtorListed,
    ListingShielded,
    ListingRevoked,
    ListingCorrected,
    VerificationOpened,
    VerificationClosed,
    *PROCEDURE_EVENT_TYPES,
)


class CourtCheckpoint(BaseModel):
    """Signed summary of a court's log (topic court.checkpoints.v1, key = court_code)."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.court.CourtCheckpoint"

    court_code: str
    tree_size: int
    root_hash: bytes
    last_event_id: str
    issued_at: AwareDatetime


# --- credithub.unit ------------------------------------------------------------------------


class AckTrigger(StrEnum):
    court_event = "court_event"
    period_expired = "period_expired"
    kept_measure = "kept_measure"


class BoundRole(StrEnum):
    """Who a measure binds: the debtor itself or one of the related-person roles."""

    debtor = "debtor"
    legal_representative = "legal_representative"
    principal = "principal"
    actual_controller = "actual_controller"
    directly_responsible = "directly_responsible"
    director = "director"
    supervisor = "supervisor"
    senior_manager = "senior_manager"


class MeasureAction(StrEnum):
    applied = "applied"
    lifted = "lifted"
    suspended = "suspended"
    resumed = "resumed"
    kept_until = "kept_until"
    not_applicable = "not_applicable"


class MeasureOutcome(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.unit.MeasureOutcome"

    code: str
    role: BoundRole
    id_number: str
    action: MeasureAction
    until: date | None = None
    reason: str | None = None


class UnitAcknowledged(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.unit.UnitAcknowledged"

    ack_id: str
    unit: str
    trigger: AckTrigger
    event_id: str
    listing_id: str
    court_code: str
    court_seq: int
    measures: list[MeasureOutcome]
    processed_at: AwareDatetime


class AckEntry(BaseModel):
    """One acknowledgement inside a UnitAckBatch: UnitAcknowledged without the unit."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.unit.AckEntry"

    ack_id: str
    trigger: AckTrigger
    event_id: str
    listing_id: str
    court_code: str
    court_seq: int
    measures: list[MeasureOutcome]
    processed_at: AwareDatetime


class UnitAckBatch(BaseModel):
    """The acknowledgements of one unit transaction, signed once, chained by prev_hash
    (issue #19; replaces one UnitAcknowledged per acknowledgement)."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.unit.UnitAckBatch"

    batch_id: str
    unit: str
    batch_seq: int
    prev_hash: bytes
    entries: list[AckEntry]
    created_at: AwareDatetime

    def acknowledgements(self) -> list[UnitAcknowledged]:
        """The entries in the old one-record form (what trail and compliance read)."""
        return [UnitAcknowledged(unit=self.unit, **e.model_dump()) for e in self.entries]


class CourtReference(BaseModel):
    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.unit.CourtReference"

    court_code: str
    tree_size: int
    root_hash: bytes


class UnitCheckpoint(BaseModel):
    """Signed Merkle tree head of a unit's acknowledgement batches 1..tree_size."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.unit.UnitCheckpoint"

    unit: str
    tree_size: int
    root_hash: bytes
    last_batch_id: str
    courts: list[CourtReference]
    issued_at: AwareDatetime


# Fixed forever: a batch's id names its place in its unit's log.
ACK_BATCH_NAMESPACE = uuid.UUID("9c2e4f61-7a3b-5d08-8e1f-4b6a2c9d7e35")


def batch_id_for(unit: str, batch_seq: int) -> str:
    """UnitAckBatch.batch_id of the batch at `batch_seq` in `unit`'s log."""
    return uuid5_text(ACK_BATCH_NAMESPACE, f"{unit}/{batch_seq}")


def acknowledgements(record: BaseModel) -> list[UnitAcknowledged]:
    """The acknowledgements a record of `acks.<unit>.v1` carries, in the one-record form:
    an old UnitAcknowledged itself, a UnitAckBatch's entries, nothing for a checkpoint."""
    if isinstance(record, UnitAckBatch):
        return record.acknowledgements()
    if isinstance(record, UnitAcknowledged):
        return [record]
    return []



# ------------------------------------------------------------------ republication (四(二)7)
class DeletionReason(StrEnum):
    """Why a listing stopped being public, so that republishers must delete it."""

    shielded = "shielded"
    revoked = "revoked"
    made_non_public = "made_non_public"


class DeletionNotice(BaseModel):
    """Signed by the court: a registered republishing site must delete a listing that
    stopped being public, within 3 working days (policy 四(二)7)."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.republish.DeletionNotice"

    notice_id: str
    site: str
    court_code: str
    listing_id: str
    event_id: str
    decision_no: str
    reason: DeletionReason
    stopped_at: AwareDatetime
    due_on: str
    issued_at: AwareDatetime


class DeletionConfirmed(BaseModel):
    """Signed by the republishing site: it deleted the listing of a DeletionNotice."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.republish.DeletionConfirmed"

    notice_id: str
    site: str
    listing_id: str
    deleted_at: AwareDatetime
    confirmed_at: AwareDatetime


# Fixed forever: one notice per (site, court event), whoever issues it and however often.
DELETION_NOTICE_NAMESPACE = uuid.UUID("3b7d2e90-5c4a-5f1e-a6b8-0d9c8e7f6a52")


def deletion_notice_id(site: str, event_id: str) -> str:
    return uuid5_text(DELETION_NOTICE_NAMESPACE, f"{site}/{event_id}")



# ------------------------------------------------------------------ supervision (四(二)8, 四(四))
class ComplaintFinding(StrEnum):
    unfounded = "unfounded"
    should_have_acted = "should_have_acted"


class FormalNotice(BaseModel):
    """通報 of a unit by the supervising body (policy 四(四))."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.supervision.FormalNotice"

    notice_id: str
    body: str
    ref: str
    unit: str
    reason: str
    event_ids: list[str]
    issued_on: date
    recorded_at: AwareDatetime


class FormalTalk(BaseModel):
    """約談 of a unit by the supervising body (policy 四(四))."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.supervision.FormalTalk"

    talk_id: str
    body: str
    ref: str
    unit: str
    reason: str
    held_on: date
    recorded_at: AwareDatetime


class ComplaintReceived(BaseModel):
    """投訴舉報 received by a unit (policy 四(二)8)."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.supervision.ComplaintReceived"

    complaint_id: str
    unit: str
    ref: str
    listing_id: str | None = None
    about: str
    received_on: date
    recorded_at: AwareDatetime


class ComplaintAnswered(BaseModel):
    """A unit's answer to a complaint (policy 四(二)8)."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.supervision.ComplaintAnswered"

    complaint_id: str
    unit: str
    finding: ComplaintFinding
    acted_on: date | None = None
    answered_on: date
    recorded_at: AwareDatetime


class CreditRepairDecided(BaseModel):
    """信用修復 decided by a unit, after a shield or revoke (policy 四(二)6)."""

    model_config = _FROZEN
    AVRO_NAME: ClassVar[str] = "credithub.supervision.CreditRepairDecided"

    repair_id: str
    unit: str
    listing_id: str
    court_code: str
    granted: bool
    applied_on: date
    decided_on: date
    recorded_at: AwareDatetime


# Fixed forever: a supervision record's id names its document (`body/ref`, `unit/ref`).
SUPERVISION_NAMESPACE = uuid.UUID("7e4a1c93-2b5d-5e6f-9a08-c1d2e3f4a5b6")


def supervision_id(owner: str, ref: str) -> str:
    return uuid5_text(SUPERVISION_NAMESPACE, f"{owner}/{ref}")


# Avro full names of the enums (an enum class cannot carry AVRO_NAME without it becoming a
# member).
AVRO_ENUM_NAMES: dict[type[StrEnum], str] = {
    SubjectKind: "credithub.common.SubjectKind",
    Role: "credithub.common.Role",
    Ground: "credithub.court.Ground",
    Performance: "credithub.court.Performance",
    ShieldReason: "credithub.court.ShieldReason",
    RevokeReason: "credithub.court.RevokeReason",
    VerificationOutcome: "credithub.court.VerificationOutcome",
    ReconsiderationOutcome: "credithub.court.ReconsiderationOutcome",
    AckTrigger: "credithub.unit.AckTrigger",
    BoundRole: "credithub.unit.BoundRole",
    MeasureAction: "credithub.unit.MeasureAction",
    DeletionReason: "credithub.republish.DeletionReason",
    ComplaintFinding: "credithub.supervision.ComplaintFinding",
}
