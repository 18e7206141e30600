"""`make demo`: a few hundred realistic decisions through the whole hub.

Generates decisions (valid IDs, organisations with related persons, lifecycle changes),
submits them as a court would, runs a dozen units until they are idle (each as its own
broker user and database role), then shows per unit
the measures applied and lifted (from its signed acknowledgements), a few screening
answers, and the auditors' verification and compliance report. Re-running it is safe:
the same decisions are recognised as already recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console

from hub import accounts, codec, kafka
from hub.config import settings
from hub.domain.deadlines import CST
from hub.domain.events import acknowledgements
from hub.generate import generate
from hub.output import print_table

UNITS = (
    "finance", "public-security", "rail-air-operators", "housing-construction",
    "land-resources", "pboc-sanming", "commercial-banks", "human-resources",
    "development-reform", "tourism", "education", "industry-commerce",
)
console = Console(stderr=True)


def hub(*args: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "-m", "hub", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        console.print(f"[red]hub {' '.join(args)} failed ({proc.returncode})[/red]\n{proc.stderr[-2000:]}")
        sys.exit(proc.returncode)
    return proc.stdout


def ack_actions(unit: str) -> Counter[str]:
    s = settings()
    c = kafka.consumer(s, client_id="hub-demo", consumer_timeout_ms=3000)
    c.subscribe([s.ack_topic(unit)])
    seen: dict[str, Any] = {}
    for msg in c:
        for ack in acknowledgements(codec.decode(msg.value)):  # old records and batches
            seen[ack.ack_id] = ack  # deduplicated by the deterministic ack id
    c.close()
    counts: Counter[str] = Counter()
    for ack in seen.values():
        for m in ack.measures:
            counts[str(m.action)] += 1
    return counts


def serve_demo(as_unit: dict[str, str], id_number: str | None) -> None:
    """The screening service as an approval system calls it: a key made for the demo, one
    real call, and the curl line to make it again."""
    import socket
    import time

    import httpx

    unit = "rail-air-operators"
    name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    key = json.loads(hub("agency", "api-keys", "create", "--unit", unit, "--name", name,
                         "--scope", "check", "--format", "json", env=as_unit))["key"]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "hub", "agency", "serve", "--unit", unit,  # noqa: S603
                             "--port", str(port)], env={**os.environ, **as_unit},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    body = json.dumps({"id_number": id_number or "350402198005010015", "measure": "G1"})
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        r = httpx.post(f"{base}/v1/checks", content=body, timeout=10,
                       headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        console.print(f"POST /v1/checks with API key {name!r}: {r.status_code} {r.json().get('decision')}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    console.print("Try it (after `hub agency serve --unit rail-air-operators --port 8701`):")
    console.print(f"  curl -s -X POST http://127.0.0.1:8701/v1/checks -H 'Authorization: Bearer {key}' "
                  f"-H 'Content-Type: application/json' -d '{body}'", soft_wrap=True, markup=False)
    console.print(f"  every answer is recorded: hub agency queries --unit {unit} --key {name}", markup=False)


def _day(at: str, days: int) -> str:
    return (datetime.fromisoformat(at).astimezone(CST) + timedelta(days=days)).date().isoformat()


def _at(at: str, days: float) -> str:
    return (datetime.fromisoformat(at) + timedelta(days=days)).isoformat()


def due_process(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A listing's due process (issue #21) on one generated listing that nothing else
    touches: risk notice, service, an objection reviewed late (20 days, the limit is 15),
    the dismissal served, reconsideration applied for and decided."""
    touched = {d["listing_id"] for d in decisions if d["action"] != "list"}
    lst = next(d for d in decisions if d["action"] == "list" and d["listing_id"] not in touched)
    lid, t, no = lst["listing_id"], lst["decided_at"], lst["decision_no"]
    common = {"court_code": lst["court_code"], "listing_id": lid}
    steps = [
        {"action": "risk_notice", "decision_no": f"{no}風險提示", "decided_at": _at(t, 0.1),
         "issued_on": _day(t, -7)},
        {"action": "serve", "decision_no": f"{no}送達", "decided_at": _at(t, 1),
         "served_decision_no": no, "served_on": _day(t, 1)},
        {"action": "open_verification", "decision_no": f"{no}異議", "decided_at": _at(t, 6),
         "objection_received_on": _day(t, 5)},
        {"action": "close_verification", "decision_no": f"{no}駁回", "decided_at": _at(t, 25),
         "outcome": "dismissed"},
        {"action": "serve", "decision_no": f"{no}駁回送達", "decided_at": _at(t, 27),
         "served_decision_no": f"{no}駁回", "served_on": _day(t, 27)},
        {"action": "apply_reconsideration", "decision_no": f"{no}復議", "decided_at": _at(t, 30),
         "higher_court": "三明市中級人民法院", "received_on": _day(t, 30)},
        {"action": "decide_reconsideration", "decision_no": f"{no}復議決定",
         "decided_at": _at(t, 40), "outcome": "upheld"},
    ]
    return [common | step for step in steps]


def remedies(decisions: list[dict[str, Any]], as_unit: dict[str, str]) -> None:
    """A credit repair of a shielded listing, a complaint found founded, two formal notices."""
    unit = "rail-air-operators"
    shields = {d["listing_id"]: d for d in decisions if d["action"] == "shield"}
    repaired = next((d for d in decisions if d["action"] == "list" and d["listing_id"] in shields
                     and d["subject"]["kind"] == "person"), None)
    if repaired is not None:
        shield = shields[repaired["listing_id"]]
        hub("agency", "repair", "--unit", unit, "--listing", repaired["listing_id"], "--granted",
            "--applied-on", _day(shield["decided_at"], 2), "--on", _day(shield["decided_at"], 5),
            env=as_unit)
        doc = json.loads(hub("agency", "check", "--unit", unit, "--id-number",
                             repaired["subject"]["id_number"], "--format", "json", env=as_unit))
        console.print(f"credit repair of {repaired['listing_id']}: the unit's answer is now "
                      f"{doc['decision']} with credit_repairs={doc['credit_repairs']}")
    hub("agency", "complaints", "receive", "--unit", unit, "--ref", "DEMO-TS-1", "--about",
        "名單內人員仍購得車票", "--on", "2026-06-01", env=as_unit)
    hub("agency", "complaints", "answer", "--unit", unit, "--ref", "DEMO-TS-1", "--finding",
        "should_have_acted", "--acted-on", "2026-06-03", "--on", "2026-06-04", env=as_unit)
    for ref, on in (("(2026)通報1號", "2026-02-10"), ("(2026)通報7號", "2026-09-01")):
        hub("supervise", "notice", "--unit", "finance", "--ref", ref, "--reason",
            "未依規定實施聯合懲戒", "--on", on)
    sys.stdout.write(hub("supervise", "list"))


def main() -> None:
    s = settings()
    work = s.state_dir / "demo"
    work.mkdir(parents=True, exist_ok=True)
    decisions = generate(300, seed=2026)
    decisions += due_process(decisions)
    path = work / "decisions.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in decisions), encoding="utf-8")
    console.rule("1. the courts submit their decisions")
    # two sites republish the list (policy 四(二)7); registered first, they are sent a deletion
    # notice for every public listing the decisions shield or revoke
    for site, name in (("credit-news", "Credit News (demo)"), ("slow-mirror", "Slow Mirror (demo)")):
        hub("court", "republishers", "add", "--site", site, "--name", name)
    summary = json.loads(hub("court", "submit", str(path), "--format", "json"))
    console.print(f"{len(decisions)} decisions: {summary}")

    console.rule(f"2. {len(UNITS)} punishment units consume the list")
    hub("agency", "run-all", "--units", ",".join(UNITS), "--until-idle")
    rows = []
    for unit in UNITS:
        c = ack_actions(unit)
        rows.append([unit, sum(c.values()), c["applied"], c["lifted"], c["suspended"], c["resumed"]])
    print_table("measures per unit (from signed acknowledgements)",
                ["unit", "outcomes", "applied", "lifted", "suspended", "resumed"], rows)

    console.rule("3. screening at the counter (rail-air-operators, measure G1)")
    by_status: dict[str, str] = {}
    for d in decisions:
        if d["action"] == "list" and d["subject"]["kind"] == "person":
            by_status.setdefault(d["listing_id"], d["subject"]["id_number"])
    shielded = {d["listing_id"] for d in decisions if d["action"] in ("shield", "revoke")}
    verifying = {d["listing_id"] for d in decisions if d["action"] == "open_verification"}
    picks: list[tuple[str, str, str]] = []
    for lid, idn in by_status.items():
        tag = "shielded/revoked" if lid in shielded else "objection" if lid in verifying else "listed"
        if tag not in {p[0] for p in picks}:
            picks.append((tag, lid, idn))
    answers = []
    # The unit asks as itself: its broker user and its database role (hub accounts env).
    as_unit = accounts.account_env(s, accounts.unit_account("rail-air-operators"))
    for tag, lid, idn in picks:
        doc = json.loads(hub("agency", "check", "--unit", "rail-air-operators", "--id-number", idn,
                             "--measure", "G1", "--format", "json", env=as_unit))
        answers.append([tag, lid, doc["decision"], len(doc["measures"])])
    print_table("screening answers", ["listing history", "listing", "decision", "measures"], answers)
    serve_demo(as_unit, picks[0][2] if picks else None)

    console.rule("4. republishing sites delete what stopped being public")
    open_notices = json.loads(hub("court", "republishers", "notices", "--site", "credit-news",
                                  "--open", "--format", "json"))
    for n in open_notices[:3]:  # credit-news deletes the day after; slow-mirror never answers
        stopped = datetime.fromisoformat(n["stopped_at"])
        deleted = min(stopped + timedelta(days=1), datetime.now(UTC))
        hub("court", "republishers", "confirm", "--site", "credit-news", "--notice", n["notice_id"],
            "--deleted-at", deleted.isoformat())
    sys.stdout.write(hub("court", "republishers", "list"))

    console.rule("5. remedies and accountability: credit repair, a complaint, formal notices")
    remedies(decisions, as_unit)

    console.rule("6. the auditors verify the log and report compliance")
    verify = json.loads(hub("audit", "verify", "--format", "json", check=False))
    console.print(f"verify: ok={verify.get('ok')} events={verify.get('events_checked')} "
                  f"acks={verify.get('acks_checked')} failures={len(verify.get('failures', []))}")
    sys.stdout.write(hub("audit", "compliance", "--format", "table"))
    html = work / "compliance.html"
    hub("audit", "compliance", "--format", "html", "--output", str(html))
    console.print(f"HTML report: {html}")


if __name__ == "__main__":
    main()
