"""Court decisions as the court's case system hands them over: JSON Lines, one decision a line
(shared domain reference `court-decisions.md`).

Parsing validates everything that needs no state: keys (unknown and missing keys are errors:
typos must not pass silently), types, check characters, minors, the period rule. What
depends on the listing's current state (shielding a revoked listing, a second verification)
is `hub.domain.listing.check_decision`'s job.

The listing rules themselves (`listing_problems`, `period_problem`) live in
`hub.domain.rules`, shared with the state machine, which applies them to corrections.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from hub.domain.deadlines import local_date
from hub.domain.events import (
    CourtEvent,
    DebtorListed,
    DecisionServed,
    EmployerNotified,
    EventMeta,
    Ground,
    ListingChanges,
    ListingCorrected,
    ListingRevoked,
    ListingShielded,
    Performance,
    ReconsiderationApplied,
    ReconsiderationDecided,
    ReconsiderationOutcome,
    RelatedPerson,
    RevokeReason,
    RiskNoticeIssued,
    Role,
    ShieldReason,
    Subject,
    SubjectKind,
    VerificationClosed,
    VerificationOpened,
    VerificationOutcome,
    event_id_for,
)
from hub.domain.rules import add_years, check_id_number, listing_problems, period_problem

__all__ = [
    "ACTIONS",
    "CHANGE_KEYS",
    "MAX_LISTING_ID",
    "PROCEDURE_ACTIONS",
    "ApplyReconsiderationDecision",
    "CloseVerificationDecision",
    "DecideReconsiderationDecision",
    "NotifyEmployerDecision",
    "RiskNoticeDecision",
    "ServeDecision",
    "CorrectDecision",
    "Decision",
    "DecisionError",
    "ListDecision",
    "OpenVerificationDecision",
    "RelatedIn",
    "RevokeDecision",
    "ShieldDecision",
    "SubjectIn",
    "add_years",
    "check_id_number",
    "listing_problems",
    "meta_for",
    "parse_line",
    "parse_lines",
    "parse_numbered",
    "period_problem",
    "to_event",
]

MAX_LISTING_ID = 64
# court-decisions.md, `correct`: the keys a correction may change.
CHANGE_KEYS: tuple[str, ...] = (
    "subject.name",
    "subject.id_number",
    "related",
    "obligation",
    "performance",
    "conduct",
    "case_no",
    "period_end",
    "public",
)


class DecisionError(ValueError):
    """A bad decision line: `line` (1-based, None if unknown), `key` (dotted path, None for
    the whole line) and `reason`."""

    def __init__(self, line: int | None, key: str | None, reason: str) -> None:
        self.line = line
        self.key = key
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.key:
            parts.append(self.key)
        parts.append(self.reason)
        return ": ".join(parts)

    def __repr__(self) -> str:
        return f"DecisionError(line={self.line!r}, key={self.key!r}, reason={self.reason!r})"


class _KeyedProblems(ValueError):
    """Raised inside model validators to report problems under precise keys (pydantic puts
    model-level errors at the model's location only)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{k}: {r}" for k, r in self.problems))


# --- field types ---------------------------------------------------------------------------

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _parse_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "expected a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date_value", "not a calendar date") from None


def _parse_time(value: Any) -> Any:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and _TIME.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("time_value", "not a valid time") from None
    else:
        raise PydanticCustomError(
            "time_format", "expected an ISO 8601 time with an offset, e.g. 2026-03-02T09:30:00+08:00"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise PydanticCustomError("time_offset", "time must carry an offset")
    # One representation per instant, so that canonical() compares content, not spelling.
    return parsed.astimezone(UTC)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be blank")
    return value


def _resident_id(value: str) -> str:
    try:
        return check_id_number(SubjectKind.person, value)
    except ValueError as e:
        raise PydanticCustomError("id_number", str(e)) from None


InDate = Annotated[date, BeforeValidator(_parse_date)]
InTime = Annotated[datetime, BeforeValidator(_parse_time)]
Text = Annotated[str, Strict(), AfterValidator(_not_blank)]
ListingId = Annotated[str, Strict(), Field(max_length=MAX_LISTING_ID), AfterValidator(_not_blank)]
ResidentId = Annotated[str, Strict(), AfterValidator(_resident_id)]

_IN = ConfigDict(frozen=True, extra="forbid")


class SubjectIn(BaseModel):
    model_config = _IN

    kind: SubjectKind
    name: Text
    id_number: StrictStr

    @field_validator("id_number")
    @classmethod
    def _check_characters(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("kind")
        if kind is None:  # the kind itself is wrong; reported on its own
            return value
        try:
            return check_id_number(kind, value)
        except ValueError as e:
            raise PydanticCustomError("id_number", str(e)) from None


class RelatedIn(BaseModel):
    model_config = _IN

    role: Role
    name: Text
    id_number: ResidentId


class _DecisionBase(BaseModel):
    model_config = _IN

    decision_no: Text
    court_code: Text
    court_name: Text | None = None
    listing_id: ListingId
    decided_at: InTime
    triggered_at: InTime | None = None

    def _common_problems(self) -> list[tuple[str, str]]:
        if self.triggered_at is not None and self.triggered_at > self.decided_at:
            return [("triggered_at", "after decided_at")]
        return []

    @model_validator(mode="after")
    def _check(self) -> _DecisionBase:
        problems = self._common_problems() + self._problems()
        if problems:
            raise _KeyedProblems(problems)
        return self

    def _problems(self) -> list[tuple[str, str]]:
        return []

    def canonical(self) -> str:
        """Canonical JSON of the decision's content: same content ⇔ same string (defaults
        filled in, times in UTC, identity numbers normalised)."""
        data = self.model_dump(mode="json", by_alias=True)
        return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class ListDecision(_DecisionBase):
    """`list` — 納入 (Provisions art. 6 lists what a listing carries)."""

    action: Literal["list"] = "list"
    court_name: Text  # required on list only
    case_no: Text
    filed_on: InDate
    basis_authority: Text
    basis_doc_no: Text
    obligation: Text
    performance: Performance
    ground: Ground
    conduct: Text
    period_end: InDate | None  # key required; null for refuses_despite_ability
    public: StrictBool = True
    subject: SubjectIn
    related: list[RelatedIn] = Field(default_factory=list)

    def _problems(self) -> list[tuple[str, str]]:
        return listing_problems(
            self.subject.kind,
            self.subject.id_number,
            self.related,
            self.ground,
            self.period_end,
            local_date(self.decided_at),
        )


class ShieldDecision(_DecisionBase):
    """`shield` — 屏蔽 (policy 四(二)4, Provisions art. 10)."""

    action: Literal["shield"] = "shield"
    reason: ShieldReason


class RevokeDecision(_DecisionBase):
    """`revoke` — 撤銷: the listing is void and final."""

    action: Literal["revoke"] = "revoke"
    reason: RevokeReason
    note: Text | None = None


class ChangesIn(BaseModel):
    """`correct.changes`: only the keys that change, spelled as in court-decisions.md."""

    model_config = _IN

    subject_name: Text | None = Field(default=None, alias="subject.name")
    subject_id_number: StrictStr | None = Field(default=None, alias="subject.id_number")
    related: list[RelatedIn] | None = None
    obligation: Text | None = None
    performance: Performance | None = None
    conduct: Text | None = None
    case_no: Text | None = None
    period_end: InDate | None = None
    public: StrictBool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # A change to null cannot be told apart from "unchanged" in ListingChanges
        # (docs/events.md), so it is refused rather than silently dropped.
        if isinstance(data, dict):
            nulls = [k for k, v in data.items() if v is None and k in CHANGE_KEYS]
            if nulls:
                raise _KeyedProblems(
                    [(k, "null is not a change (omit the key to keep the value)") for k in nulls]
                )
            if not data:
                raise _KeyedProblems([("", "no change given")])
        return data


class CorrectDecision(_DecisionBase):
    """`correct` — 更正; the corrected listing is checked in `listing.apply`."""

    action: Literal["correct"] = "correct"
    changes: ChangesIn
    reason: Text


class OpenVerificationDecision(_DecisionBase):
    """`open_verification` — 異議核實 (policy 四(二)3; Provisions art. 11)."""

    action: Literal["open_verification"] = "open_verification"
    objection_received_on: InDate

    def _problems(self) -> list[tuple[str, str]]:
        if self.objection_received_on > local_date(self.decided_at):
            return [("objection_received_on", "after the day of decided_at")]
        return []


class CloseVerificationDecision(_DecisionBase):
    """`close_verification`: dismissed (measures resume) or upheld (court follows up)."""

    action: Literal["close_verification"] = "close_verification"
    outcome: VerificationOutcome


class _ProcedureBase(_DecisionBase):
    """A due-process record (hub.domain.procedures): `decision_no` numbers the record (the
    court's document of the act: proof of service, the higher court's ruling…)."""

    def _check_day(self, key: str, day: date) -> list[tuple[str, str]]:
        if day > local_date(self.decided_at):
            return [(key, "after the day of decided_at")]
        return []


class RiskNoticeDecision(_ProcedureBase):
    """`risk_notice` — 風險提示 sent before the listing (policy 四(二)3), recorded on it."""

    action: Literal["risk_notice"] = "risk_notice"
    issued_on: InDate

    def _problems(self) -> list[tuple[str, str]]:
        return self._check_day("issued_on", self.issued_on)


class ServeDecision(_ProcedureBase):
    """`serve` — 送達: a decision of the listing served on the debtor (policy 四(二)2)."""

    action: Literal["serve"] = "serve"
    served_decision_no: Text
    served_on: InDate

    def _problems(self) -> list[tuple[str, str]]:
        if self.served_decision_no == self.decision_no:
            return [("served_decision_no", "names this record itself")]
        return self._check_day("served_on", self.served_on)


class ApplyReconsiderationDecision(_ProcedureBase):
    """`apply_reconsideration` — 復議 applied for at the higher court (policy 四(二)3)."""

    action: Literal["apply_reconsideration"] = "apply_reconsideration"
    higher_court: Text
    received_on: InDate

    def _problems(self) -> list[tuple[str, str]]:
        return self._check_day("received_on", self.received_on)


class DecideReconsiderationDecision(_ProcedureBase):
    """`decide_reconsideration` — the higher court's 復議 decision (policy 四(二)3)."""

    action: Literal["decide_reconsideration"] = "decide_reconsideration"
    outcome: ReconsiderationOutcome


class NotifyEmployerDecision(_ProcedureBase):
    """`notify_employer` — 通報其所在單位, for a listing not published (policy 三(一))."""

    action: Literal["notify_employer"] = "notify_employer"
    employer: Text
    notified_on: InDate

    def _problems(self) -> list[tuple[str, str]]:
        return self._check_day("notified_on", self.notified_on)


Decision = (
    ListDecision
    | ShieldDecision
    | RevokeDecision
    | CorrectDecision
    | OpenVerificationDecision
    | CloseVerificationDecision
    | RiskNoticeDecision
    | ServeDecision
    | ApplyReconsiderationDecision
    | DecideReconsiderationDecision
    | NotifyEmployerDecision
)

_MODELS: dict[str, type[_DecisionBase]] = {
    "list": ListDecision,
    "shield": ShieldDecision,
    "revoke": RevokeDecision,
    "correct": CorrectDecision,
    "open_verification": OpenVerificationDecision,
    "close_verification": CloseVerificationDecision,
    "risk_notice": RiskNoticeDecision,
    "serve": ServeDecision,
    "apply_reconsideration": ApplyReconsiderationDecision,
    "decide_reconsideration": DecideReconsiderationDecision,
    "notify_employer": NotifyEmployerDecision,
}
PROCEDURE_ACTIONS = frozenset(
    {"risk_notice", "serve", "apply_reconsideration", "decide_reconsideration", "notify_employer"})
ACTIONS: tuple[str, ...] = tuple(_MODELS)


# --- parsing -------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _join(prefix: str, key: str) -> str:
    if not key:
        return prefix
    if not prefix or key.startswith("["):
        return prefix + key
    return f"{prefix}.{key}"


def _path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path = _join(path, f"[{part}]" if isinstance(part, int) else str(part))
    return path


def _errors_from(e: ValidationError, line: int | None) -> list[DecisionError]:
    out: list[DecisionError] = []
    for err in e.errors():
        where = _path(tuple(err["loc"]))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _KeyedProblems):
            out.extend(DecisionError(line, _join(where, k) or None, r) for k, r in cause.problems)
            continue
        kind = err["type"]
        if kind == "missing":
            reason = "missing key"
        elif kind == "extra_forbidden":
            reason = "unknown key"
        else:
            reason = str(err["msg"]).removeprefix("Value error, ")
        out.append(DecisionError(line, where or None, reason))
    return out


def _parse(text: str, line_no: int | None) -> Decision | list[DecisionError]:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as e:
        return [DecisionError(line_no, e.key, "duplicate key")]
    except json.JSONDecodeError as e:
        return [DecisionError(line_no, None, f"malformed JSON: {e.msg} (column {e.colno})")]
    if not isinstance(data, dict):
        return [DecisionError(line_no, None, "expected a JSON object")]
    if "action" not in data:
        return [DecisionError(line_no, "action", "missing key")]
    action = data["action"]
    model = _MODELS.get(action) if isinstance(action, str) else None
    if model is None:
        return [
            DecisionError(line_no, "action", f"unknown action {action!r}; one of {list(ACTIONS)}")
        ]
    try:
        return model.model_validate(data)  # type: ignore[return-value]
    except ValidationError as e:
        return _errors_from(e, line_no)


def parse_numbered(text: str, line_no: int | None) -> Decision | list[DecisionError]:
    """One line's decision, or every problem of the line (for callers that parse lines
    elsewhere than `parse_lines`, e.g. in worker processes)."""
    return _parse(text, line_no)


def parse_line(text: str, line_no: int) -> Decision:
    """One validated decision, or DecisionError (the first problem of the line)."""
    result = _parse(text, line_no)
    if isinstance(result, list):
        raise result[0]
    return result


def parse_lines(lines: Iterable[str]) -> tuple[list[Decision], list[DecisionError]]:
    """Parse a whole JSON Lines file; every problem of every bad line is collected (a file
    with any bad line is rejected as a whole — court-decisions.md, "Errors"). Blank lines
    are skipped but counted, so line numbers match the file."""
    decisions: list[Decision] = []
    errors: list[DecisionError] = []
    for line_no, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        result = _parse(text, line_no)
        if isinstance(result, list):
            errors.extend(result)
        else:
            decisions.append(result)
    return decisions, errors


# --- decisions → events --------------------------------------------------------------------

# meta_for and to_event's check ask for the same decision's id back to back: a uuid5 each
# was a tenth of the cost of building an event.
_event_id = functools.lru_cache(maxsize=1024)(event_id_for)


def meta_for(
    decision: Decision, *, court_seq: int, prev_hash: bytes, recorded_at: datetime
) -> EventMeta:
    """The EventMeta of a decision, given what the court store assigns."""
    return EventMeta(
        event_id=_event_id(decision.court_code, decision.decision_no),
        listing_id=decision.listing_id,
        court_code=decision.court_code,
        court_seq=court_seq,
        decision_no=decision.decision_no,
        decided_at=decision.decided_at,
        triggered_at=decision.triggered_at,
        recorded_at=recorded_at,
        prev_hash=prev_hash,
    )


def _check_meta(decision: Decision, meta: EventMeta) -> None:
    expected = {
        "event_id": _event_id(decision.court_code, decision.decision_no),
        "listing_id": decision.listing_id,
        "court_code": decision.court_code,
        "decision_no": decision.decision_no,
        "decided_at": decision.decided_at,
        "triggered_at": decision.triggered_at,
    }
    wrong = [k for k, v in expected.items() if getattr(meta, k) != v]
    if wrong:
        raise ValueError(f"event meta does not match the decision: {', '.join(wrong)}")


def _related(people: Iterable[RelatedIn]) -> list[RelatedPerson]:
    return [RelatedPerson(role=p.role, name=p.name, id_number=p.id_number) for p in people]


def to_event(decision: Decision, meta: EventMeta) -> CourtEvent:
    """The court event recording `decision` (meta from the court store: seq, hash, time)."""
    _check_meta(decision, meta)
    if isinstance(decision, ListDecision):
        s = decision.subject
        return DebtorListed(
            meta=meta,
            court_name=decision.court_name,
            case_no=decision.case_no,
            filed_on=decision.filed_on,
            basis_authority=decision.basis_authority,
            basis_doc_no=decision.basis_doc_no,
            obligation=decision.obligation,
            performance=decision.performance,
            ground=decision.ground,
            conduct=decision.conduct,
            period_end=decision.period_end,
            public=decision.public,
            subject=Subject(kind=s.kind, name=s.name, id_number=s.id_number),
            related=_related(decision.related),
        )
    if isinstance(decision, ShieldDecision):
        return ListingShielded(meta=meta, reason=decision.reason)
    if isinstance(decision, RevokeDecision):
        return ListingRevoked(meta=meta, reason=decision.reason, note=decision.note)
    if isinstance(decision, CorrectDecision):
        c = decision.changes
        changes = ListingChanges(
            subject_name=c.subject_name,
            subject_id_number=c.subject_id_number,
            related=_related(c.related) if c.related is not None else None,
            obligation=c.obligation,
            performance=c.performance,
            conduct=c.conduct,
            case_no=c.case_no,
            period_end=c.period_end,
            public=c.public,
        )
        return ListingCorrected(meta=meta, changes=changes, reason=decision.reason)
    if isinstance(decision, OpenVerificationDecision):
        return VerificationOpened(meta=meta, objection_received_on=decision.objection_received_on)
    if isinstance(decision, CloseVerificationDecision):
        return VerificationClosed(meta=meta, outcome=decision.outcome)
    if isinstance(decision, RiskNoticeDecision):
        return RiskNoticeIssued(meta=meta, issued_on=decision.issued_on)
    if isinstance(decision, ServeDecision):
        return DecisionServed(meta=meta, served_decision_no=decision.served_decision_no,
                              served_on=decision.served_on)
    if isinstance(decision, ApplyReconsiderationDecision):
        return ReconsiderationApplied(meta=meta, higher_court=decision.higher_court,
                                      received_on=decision.received_on)
    if isinstance(decision, DecideReconsiderationDecision):
        return ReconsiderationDecided(meta=meta, outcome=decision.outcome)
    if isinstance(decision, NotifyEmployerDecision):
        return EmployerNotified(meta=meta, employer=decision.employer,
                                notified_on=decision.notified_on)
    raise TypeError(f"not a decision: {type(decision).__name__}")
