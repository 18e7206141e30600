"""The screening API's request and answer shapes: what `/openapi.json` promises, so that a
caller (and schemathesis, in `make test`) can hold the service to it. Errors are RFC 9457
problem details (`application/problem+json`), declared for every status the service
returns."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from consumers.agency.screening import MAX_BATCH
from hub.domain.catalogue import default_catalogue

# The JSON Schema says what a JSON Schema can: 18 characters of the resident ID's
# (GB 11643) or the USCC's (GB 32100) alphabet, in the `credit-hub-id` format (registered
# with schemathesis in the tests, so that its "valid" numbers are valid). Check characters,
# dates and code tables are the service's to check: a number that fails them is a 422
# naming the rule.
ID_PATTERN = r"^\s*([0-9]{17}[0-9Xx]|[0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy]{18})\s*$"
ID_FORMAT = "credit-hub-id"
ID_FIELD: dict[str, Any] = {
    "pattern": ID_PATTERN, "examples": ["350402198005010015"],
    "json_schema_extra": {"format": ID_FORMAT},
    "description": "resident ID number (GB 11643) or unified social credit code (GB 32100); "
                   "never put in a URL",
}


def _text_only(value: Any) -> Any:
    """A moment is an ISO 8601 text: a bare number (pydantic would read it as a Unix time)
    is refused, as the schema says."""
    if value is not None and not (isinstance(value, str) and _ISO_START.match(value)):
        raise ValueError("a date-time text with an offset, e.g. 2026-05-01T10:00:00+08:00")
    return value


_ISO_START = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


Moment = Annotated[AwareDatetime, BeforeValidator(_text_only)]


def measure_codes(unit: str) -> list[str]:
    """The codes a unit answers for, as the schema lists them (either case)."""
    own = default_catalogue().unit(unit).measures
    return [*own, *(c.lower() for c in own)]


def request_models(unit: str) -> tuple[type[BaseModel], type[BaseModel]]:
    """CheckRequest and BatchRequest of one unit: `measure` is an enum of the codes this
    unit applies (any other answer would be a false clear: policy 三(二)2)."""
    codes = tuple(measure_codes(unit))
    check = create_model(
        "CheckRequest", __config__=ConfigDict(extra="forbid"),
        __doc__="One subject: who, about which act, at which moment of valid time.",
        id_number=(str, Field(**ID_FIELD)),
        measure=(Literal[codes] | None, Field(  # type: ignore[valid-type]
            default=None, description="code of the measure the act falls under, one this "
                                      "unit applies (case-insensitive)")),
        at=(Moment | None, Field(default=None, description="moment of valid time "
                                        "(ISO 8601 with offset); now when absent")),
    )
    batch = create_model(
        "BatchRequest", __config__=ConfigDict(extra="forbid"),
        subjects=(list[check], Field(min_length=1, max_length=MAX_BATCH)),  # type: ignore[valid-type]
    )
    return check, batch


class MeasureOut(BaseModel):
    code: str
    mode: str = Field(description="block | review | monitor | assist")
    listing_id: str
    role: str = Field(description="whom the measure binds: debtor, legal_representative, …")
    suspended: bool = Field(description="suspended while an objection is verified")
    until: date | None = Field(description="last day of a fixed-period measure")
    kept_until: date | None = Field(description="kept after a shield or revoke until (policy 四(二)5)")


class Position(BaseModel):
    """Where in the court log the answer stands: next offset per topic partition, last
    court sequence number per court."""

    offsets: dict[str, int]
    court_seq: dict[str, int]


Decision = Literal["block", "review", "clear"]


class RepairOut(BaseModel):
    listing_id: str = Field(description="a shielded or revoked listing of the subject")
    decided_on: date = Field(description="day the unit granted the credit repair")


class Answer(BaseModel):
    decision: Decision
    measures: list[MeasureOut]
    at: datetime
    credit_repairs: list[RepairOut] = Field(
        default_factory=list,
        description="credit repairs this unit granted the subject (信用修復, policy 四(二)6)")


class CheckAnswer(Answer):
    position: Position


class BatchAnswer(BaseModel):
    results: list[Answer] = Field(description="one answer per subject, in order")
    position: Position = Field(description="one log position behind every answer")


class Health(BaseModel):
    status: Literal["ok"]
    unit: str
    position: Position


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="for 422: each invalid field, where and why")


PROBLEM_TYPE = "application/problem+json"


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these statuses, as problem+json."""
    titles = {400: "Bad request", 401: "Not authenticated", 403: "Not allowed",
              404: "Not found", 422: "Invalid input", 500: "Internal error",
              503: "Service unavailable"}
    return {s: {"description": titles[s], "model": Problem,
                "content": {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for s in statuses}
