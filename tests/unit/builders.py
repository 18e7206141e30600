"""Builders of valid court decisions and events for tests (reuse freely).

- `*_data(...)` return a JSON-ready dict of one decision line (court-decisions.md); pass
  keyword overrides to change or add keys, `drop=("key", ...)` to remove keys.
- `line(data)` → the JSON line; `decision(data)` → the parsed Decision.
- `CourtLog` numbers events gap-free per court (court_seq) and chains a stand-in prev_hash
  (SHA-256 of the previous event's JSON, not of codec bytes).
- Identity numbers are valid (identity.make_resident_id / make_uscc); `bad_check` spoils
  the check character.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from hub.domain.deadlines import CST
from hub.domain.decisions import Decision, add_years, meta_for, parse_line, to_event
from hub.domain.events import CourtEvent
from hub.domain.identity import make_resident_id, make_uscc
from hub.domain.listing import ListingState, apply

COURT = "350402"
COURT_NAME = "三明市三元區人民法院"
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=CST)
ADULT_BIRTH = date(1980, 5, 1)


def person_id(seq: int = 1, birth: date = ADULT_BIRTH, region: str = "350402") -> str:
    return make_resident_id(region, birth, seq)


def org_id(n: int = 1) -> str:
    return make_uscc(f"91350402MA{n:07d}")


def bad_check(number: str) -> str:
    """The same number with a wrong (but well-formed) check character."""
    return number[:-1] + ("0" if number[-1] != "0" else "1")


def when(days: float = 0, base: datetime = T0) -> str:
    return (base + timedelta(days=days)).isoformat()


def _with(data: dict[str, Any], overrides: dict[str, Any], drop: Iterable[str]) -> dict[str, Any]:
    data.update(overrides)
    for key in drop:
        data.pop(key, None)
    return data


def _common(action: str, listing_id: str, decision_no: str | None, decided_at: str) -> dict[str, Any]:
    return {
        "action": action,
        "decision_no": decision_no or f"(2026)閩0402執{listing_id}號-{action}",
        "court_code": COURT,
        "listing_id": listing_id,
        "decided_at": decided_at,
    }


def subject_person(seq: int = 1, birth: date = ADULT_BIRTH, name: str = "張某") -> dict[str, Any]:
    return {"kind": "person", "name": name, "id_number": person_id(seq, birth)}


def subject_org(n: int = 1, name: str = "三明某某貿易有限公司") -> dict[str, Any]:
    return {"kind": "organisation", "name": name, "id_number": org_id(n)}


def related(role: str = "legal_representative", seq: int = 101, name: str = "王某") -> dict[str, Any]:
    return {"role": role, "name": name, "id_number": person_id(seq)}


def list_data(
    listing_id: str = "L1",
    *,
    kind: str = "organisation",
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    """A valid `list` decision; organisation debtors get a legal representative and a
    director, persons none. Ground evades_enforcement, period exactly two years."""
    decided = decided_at or when()
    start = datetime.fromisoformat(decided).astimezone(CST).date()
    data = _common("list", listing_id, decision_no, decided)
    data.update(
        court_name=COURT_NAME,
        case_no="(2026)閩0402執123號",
        filed_on="2026-01-15",
        basis_authority=COURT_NAME,
        basis_doc_no="(2025)閩0402民初456號",
        obligation="償還借款人民幣200000元及利息",
        performance="none",
        ground="evades_enforcement",
        conduct="轉移財產規避執行",
        period_end=add_years(start, 2).isoformat(),
        public=True,
    )
    if kind == "person":
        data.update(subject=subject_person(), related=[])
    else:
        data.update(
            subject=subject_org(),
            related=[related("legal_representative", 101), related("director", 102, "李某")],
        )
    return _with(data, overrides, drop)


def shield_data(
    listing_id: str = "L1",
    reason: str = "obligation_performed",
    *,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    data = _common("shield", listing_id, decision_no, decided_at or when(30))
    data["reason"] = reason
    return _with(data, overrides, drop)


def revoke_data(
    listing_id: str = "L1",
    reason: str = "wrongly_listed",
    *,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    data = _common("revoke", listing_id, decision_no, decided_at or when(30))
    data["reason"] = reason
    return _with(data, overrides, drop)


def correct_data(
    listing_id: str = "L1",
    changes: dict[str, Any] | None = None,
    *,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    data = _common("correct", listing_id, decision_no, decided_at or when(30))
    data["changes"] = changes if changes is not None else {"obligation": "償還借款人民幣100000元"}
    data["reason"] = "記載信息不準確"
    return _with(data, overrides, drop)


def open_data(
    listing_id: str = "L1",
    *,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    decided = decided_at or when(20)
    data = _common("open_verification", listing_id, decision_no, decided)
    data["objection_received_on"] = datetime.fromisoformat(decided).astimezone(CST).date().isoformat()
    return _with(data, overrides, drop)


def close_data(
    listing_id: str = "L1",
    outcome: str = "dismissed",
    *,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    data = _common("close_verification", listing_id, decision_no, decided_at or when(25))
    data["outcome"] = outcome
    return _with(data, overrides, drop)


def number_of(listing_id: str, action: str) -> str:
    """The decision_no the builders give `action` of `listing_id` by default."""
    return f"(2026)閩0402執{listing_id}號-{action}"


def _day(at: str) -> str:
    return datetime.fromisoformat(at).astimezone(CST).date().isoformat()


def serve_data(
    listing_id: str = "L1",
    served: str = "list",
    *,
    served_on: str | None = None,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    """`serve` of the listing's `served` decision (an action name: its default number)."""
    decided = decided_at or when(3)
    data = _common("serve", listing_id, decision_no or number_of(listing_id, f"serve-{served}"),
                   decided)
    data["served_decision_no"] = number_of(listing_id, served)
    data["served_on"] = served_on or _day(decided)
    return _with(data, overrides, drop)


def apply_reconsideration_data(
    listing_id: str = "L1",
    *,
    received_on: str | None = None,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    decided = decided_at or when(30)
    data = _common("apply_reconsideration", listing_id, decision_no, decided)
    data["higher_court"] = "三明市中級人民法院"
    data["received_on"] = received_on or _day(decided)
    return _with(data, overrides, drop)


def decide_reconsideration_data(
    listing_id: str = "L1",
    outcome: str = "upheld",
    *,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    data = _common("decide_reconsideration", listing_id, decision_no, decided_at or when(40))
    data["outcome"] = outcome
    return _with(data, overrides, drop)


def notify_employer_data(
    listing_id: str = "L1",
    *,
    notified_on: str | None = None,
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    decided = decided_at or when(2)
    data = _common("notify_employer", listing_id, decision_no, decided)
    data["employer"] = "三明某某機械廠"
    data["notified_on"] = notified_on or _day(decided)
    return _with(data, overrides, drop)


def risk_notice_data(
    listing_id: str = "L1",
    *,
    issued_on: str = "2026-02-20",
    decision_no: str | None = None,
    decided_at: str | None = None,
    drop: Iterable[str] = (),
    **overrides: Any,
) -> dict[str, Any]:
    data = _common("risk_notice", listing_id, decision_no, decided_at or when(0.5))
    data["issued_on"] = issued_on
    return _with(data, overrides, drop)


def line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


def decision(data: dict[str, Any]) -> Decision:
    return parse_line(line(data), 1)


class CourtLog:
    """A court's log in the making: decisions in, numbered events out (and kept)."""

    def __init__(self, court_code: str = COURT) -> None:
        self.court_code = court_code
        self.events: list[CourtEvent] = []
        self._prev = bytes(32)
        self._n = 0

    def add(self, data: dict[str, Any]) -> CourtEvent:
        self._n += 1
        data = dict(data, court_code=self.court_code)
        if data["decision_no"].endswith(data["action"]):  # default numbers: make them unique
            data["decision_no"] = f"{data['decision_no']}-{self._n}"
        d = decision(data)
        meta = meta_for(
            d,
            court_seq=len(self.events) + 1,
            prev_hash=self._prev,
            recorded_at=d.decided_at + timedelta(minutes=1),
        )
        event = to_event(d, meta)
        self._prev = hashlib.sha256(event.model_dump_json().encode()).digest()
        self.events.append(event)
        return event


def event(data: dict[str, Any], seq: int = 1) -> CourtEvent:
    """One event for a decision, numbered `seq` (no chain)."""
    d = decision(data)
    meta = meta_for(d, court_seq=seq, prev_hash=bytes(32), recorded_at=d.decided_at)
    return to_event(d, meta)


def state_of(*datas: dict[str, Any]) -> ListingState:
    """The listing state after the given decisions (all about the same listing)."""
    log = CourtLog()
    state: ListingState | None = None
    for data in datas:
        state = apply(state, log.add(data))
    assert state is not None
    return state
