"""Realistic synthetic court decisions for the demo, the benchmarks and the tests: valid
resident IDs and unified social credit codes, organisations with related persons, and
lifecycle changes (shields with an exit ground, revocations, corrections including identity
changes, objections). Deterministic for a seed. Pure: returns dicts of the court's JSON
Lines format (court-decisions.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from hub.domain.deadlines import CST
from hub.domain.identity import make_resident_id, make_uscc
from hub.domain.rules import add_years

COURTS = {
    "350402": "三明市三元區人民法院",
    "350403": "三明市沙縣區人民法院",
    "350481": "永安市人民法院",
}
REGIONS = ("350402", "350403", "350421", "350423", "350424", "350425", "350481", "350102")
SURNAMES = "王李張劉陳楊黃趙吳周徐孫馬朱胡郭何林羅高鄭梁謝宋唐許韓馮鄧曹彭曾蕭田董潘袁蔡蔣余"
GIVEN = "偉芳娜敏靜麗強磊軍洋勇艷傑娟濤明超秀霞平剛桂英華建國志新海峰榮輝鑫"
TRADES = ("貿易", "建材", "物流", "食品", "科技", "置業", "茶業", "林產", "機械", "紡織")
GROUNDS = (
    "refuses_despite_ability", "obstructs_enforcement", "evades_enforcement",
    "breaches_property_reporting", "breaches_consumption_restriction", "refuses_settlement",
)
CONDUCT = {
    "refuses_despite_ability": "有履行能力而拒不履行生效法律文書確定義務",
    "obstructs_enforcement": "以暴力、威脅方法妨礙、抗拒執行",
    "evades_enforcement": "轉移財產規避執行",
    "breaches_property_reporting": "違反財產報告制度",
    "breaches_consumption_restriction": "違反限制消費令",
    "refuses_settlement": "無正當理由拒不履行執行和解協議",
}
SHIELD_REASONS = (
    "obligation_performed", "settlement_performed", "creditor_request", "no_assets_found",
    "enforcement_suspended", "non_enforcement_ruling", "enforcement_terminated",
)
START = datetime(2026, 1, 5, 9, 0, tzinfo=CST)


@dataclass
class _Ids:
    """Unique valid numbers from a counter (no two synthetic people share an ID)."""

    n: int = 0

    def person(self, rng: random.Random) -> str:
        self.n += 1
        k = self.n
        birth = date(1960, 1, 1) + timedelta(days=(k // 1000) % 14_600)
        return make_resident_id(rng.choice(REGIONS), birth, k % 1000)

    def organisation(self, rng: random.Random) -> str:
        self.n += 1
        return make_uscc(f"91{rng.choice(REGIONS)}MA{self.n:07d}")


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def generate(
    n_listings: int,
    seed: int = 0,
    courts: tuple[str, ...] = ("350402", "350403"),
    lifecycle: bool = True,
    org_share: float = 0.35,
    start: datetime = START,
    span_days: float = 200.0,
) -> list[dict[str, Any]]:
    """`n_listings` listings (ground, period, public flag, organisations with related
    persons) and, with `lifecycle`, later decisions about some of them. Decisions are in
    the order the courts made them (by decided_at)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
    ids = _Ids()
    step = timedelta(days=span_days) / max(n_listings, 1)
    out: list[tuple[datetime, int, dict[str, Any]]] = []
    order = 0
    for i in range(n_listings):
        court = courts[i % len(courts)]
        t = start + step * i
        seq = i + 1
        listing_id = f"{court}-{t.year}-{seq:06d}"
        case = f"({t.year})閩{court[2:]}執{seq}號"
        doc = _list(rng, ids, court, listing_id, case, t, org_share)
        out.append((t, order, doc))
        order += 1
        if not lifecycle:
            continue
        for later in _lifecycle(rng, ids, doc, t, case):
            out.append((datetime.fromisoformat(later["decided_at"]), order, later))
            order += 1
    out.sort(key=lambda x: (x[0], x[1]))
    return [d for _, _, d in out]


def _list(rng: random.Random, ids: _Ids, court: str, listing_id: str, case: str,
          t: datetime, org_share: float) -> dict[str, Any]:
    ground = rng.choice(GROUNDS)
    is_org = rng.random() < org_share
    decided = t.astimezone(CST).date()
    period_end = None
    if ground != "refuses_despite_ability":  # Provisions art. 2: fixed period of 2 years (+1..3)
        period_end = add_years(decided, rng.choice((2, 2, 2, 3))).isoformat()
    doc: dict[str, Any] = {
        "action": "list", "decision_no": f"{case}之一", "court_code": court,
        "court_name": COURTS.get(court, f"{court}人民法院"), "listing_id": listing_id,
        "decided_at": _iso(t), "case_no": case,
        "filed_on": (decided - timedelta(days=rng.randint(30, 200))).isoformat(),
        "basis_authority": COURTS.get(court, "人民法院"),
        "basis_doc_no": f"({t.year - 1})閩{court[2:]}民初{rng.randint(100, 9999)}號",
        "obligation": f"償還借款人民幣{rng.randint(2, 500) * 10000}元及利息",
        "performance": rng.choice(("none", "partial")), "ground": ground,
        "conduct": CONDUCT[ground], "period_end": period_end, "public": rng.random() > 0.05,
    }
    if is_org:
        doc["subject"] = {"kind": "organisation",
                          "name": f"三明{_name(rng)}{rng.choice(TRADES)}有限公司",
                          "id_number": ids.organisation(rng)}
        related = [{"role": "legal_representative", "name": _name(rng), "id_number": ids.person(rng)}]
        for role in ("principal", "actual_controller", "directly_responsible", "director",
                     "supervisor", "senior_manager"):
            if rng.random() < 0.25:
                related.append({"role": role, "name": _name(rng), "id_number": ids.person(rng)})
        doc["related"] = related
    else:
        doc["subject"] = {"kind": "person", "name": _name(rng), "id_number": ids.person(rng)}
    return doc


def _lifecycle(rng: random.Random, ids: _Ids, listed: dict[str, Any], t: datetime,
               case: str) -> list[dict[str, Any]]:
    base = {"court_code": listed["court_code"], "listing_id": listed["listing_id"]}
    n = 1
    events: list[dict[str, Any]] = []

    def decision(action: str, at: datetime, **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        doc = {"action": action, "decision_no": f"{case}之{n}", **base, "decided_at": _iso(at), **fields}
        events.append(doc)
        return doc

    now = t
    r = rng.random()
    if r < 0.12:  # objection (異議): opened within 10 days, closed within 15
        now += timedelta(days=rng.uniform(2, 9))
        decision("open_verification", now, objection_received_on=(now.date() - timedelta(days=1)).isoformat(),
                 triggered_at=_iso(now - timedelta(hours=20)))
        now += timedelta(days=rng.uniform(3, 14))
        upheld = rng.random() < 0.3
        decision("close_verification", now, outcome="upheld" if upheld else "dismissed")
        if upheld:
            now += timedelta(days=rng.uniform(0.5, 2))
            if rng.random() < 0.5:
                decision("revoke", now, reason="objection_upheld", triggered_at=_iso(now - timedelta(days=1)))
                return events
            decision("correct", now, changes={"obligation": listed["obligation"] + "(已更正)"},
                     reason="異議成立,更正執行依據內容", triggered_at=_iso(now - timedelta(days=1)))
    elif r < 0.20:  # inaccurate data found: correction, sometimes of the identity
        now += timedelta(days=rng.uniform(1, 30))
        if listed["subject"]["kind"] == "person" and rng.random() < 0.5:
            changes: dict[str, Any] = {"subject.id_number": ids.person(rng)}
        else:
            changes = {"conduct": listed["conduct"] + ",且隱匿收入"}
        decision("correct", now, changes=changes, reason="信息有誤,依法更正",
                 triggered_at=_iso(now - timedelta(days=rng.uniform(0.5, 5))))
    elif r < 0.24:  # wrongly listed
        now += timedelta(days=rng.uniform(1, 20))
        decision("revoke", now, reason="wrongly_listed", note="錯誤納入",
                 triggered_at=_iso(now - timedelta(days=rng.uniform(0.5, 6))))
        return events
    if rng.random() < 0.22:  # exit ground (policy 四(二)4): shield, sometimes late
        now += timedelta(days=rng.uniform(5, 60))
        decision("shield", now, reason=rng.choice(SHIELD_REASONS),
                 triggered_at=_iso(now - timedelta(days=rng.choice((0.5, 1, 2, 2, 5)))))
    return events
