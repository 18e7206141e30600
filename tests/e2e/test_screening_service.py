"""The screening service as an agency's approval system meets it: real `hub agency serve`
under the unit's own account, API keys made with the CLI, questions in the body, every
answer recorded, no false clear, non-public listings guarded, problem+json errors."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from consumers.agency import schema
from hub import accounts, db
from hub.config import Settings
from tests.integration.test_agency_feed import hub_cli
from tests.support import api_key, serving, submit
from tests.unit.builders import bad_check, list_data, person_id, subject_person, when

pytestmark = pytest.mark.e2e

UNIT = "rail-air-operators"  # G1 (train and flight tickets): block, binds the debtor
PUBLIC_ID, HIDDEN_ID, NOBODY = person_id(11), person_id(12), person_id(13)


@pytest.fixture()
def unit_side(provisioned: Settings) -> Settings:
    """A public and a non-public listing in the unit's projection; the unit's account."""
    submit(provisioned, [
        list_data("PUB", kind="person", subject=subject_person(11), decided_at=when(0)),
        list_data("HID", kind="person", subject=subject_person(12), public=False, decided_at=when(1)),
    ])
    u = accounts.settings_as(provisioned, accounts.unit_account(UNIT))
    hub_cli(u, "agency", "run", "--unit", UNIT, "--until-idle")
    return u


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _recorded(u: Settings) -> list[dict[str, Any]]:
    out = hub_cli(u, "agency", "queries", "--unit", UNIT, "--format", "json")
    return list(json.loads(out.stdout)["queries"])


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_callers_scopes_answers_and_the_record(unit_side: Settings, tmp_path: Path) -> None:
    u = unit_side
    check_key = api_key(u, UNIT, "loan-desk", "check")
    listings_key = api_key(u, UNIT, "inspector", "listings")
    clear_key = api_key(u, UNIT, "court-liaison", "clear-ids")
    metrics_key = api_key(u, UNIT, "prometheus", "metrics")
    doomed = api_key(u, UNIT, "old-system", "check")
    dup = hub_cli(u, "agency", "api-keys", "create", "--unit", UNIT, "--name", "loan-desk", check=False)
    assert dup.returncode == 2 and "exists" in dup.stderr
    listed = json.loads(hub_cli(u, "agency", "api-keys", "list", "--unit", UNIT, "--format", "json").stdout)
    assert {k["name"]: k["scope"] for k in listed["keys"]}["loan-desk"] == "check"
    assert check_key not in json.dumps(listed)

    answered = 0  # subjects answered (each must be recorded once)
    log = tmp_path / "serve.log"
    with serving(u, UNIT, log) as (base, _proc), httpx.Client(base_url=base, timeout=10) as c:
        assert c.get("/healthz").status_code == 200
        # no credential, a wrong one, a revoked one: 401
        _problem(c.post("/v1/checks", json={"id_number": PUBLIC_ID}), 401)
        _problem(c.post("/v1/checks", json={"id_number": PUBLIC_ID}, headers=_bearer("hubk_nope")), 401)
        assert c.post("/v1/checks", json={"id_number": PUBLIC_ID}, headers=_bearer(doomed)).status_code == 200
        answered += 1
        hub_cli(u, "agency", "api-keys", "revoke", "--unit", UNIT, "--name", "old-system")
        _problem(c.post("/v1/checks", json={"id_number": PUBLIC_ID}, headers=_bearer(doomed)), 401)
        _problem(c.get("/v1/listings/PUB"), 401)
        _problem(c.get("/metrics"), 401)

        h = _bearer(check_key)
        r = c.post("/v1/checks", json={"id_number": PUBLIC_ID}, headers=h)
        assert r.status_code == 200 and r.json()["decision"] == "block", r.text
        assert r.json()["measures"][0]["code"] == "G1" and r.json()["position"]["court_seq"]
        for code in ("g1", "G1"):
            r = c.post("/v1/checks", json={"id_number": HIDDEN_ID, "measure": code}, headers=h)
            assert r.json()["decision"] == "block", (code, r.text)  # non-public still binds
        assert c.post("/v1/checks", json={"id_number": NOBODY}, headers=h).json()["decision"] == "clear"
        answered += 4
        # no false clear: unknown or foreign measure codes, impossible numbers
        for code in ("ZZ9", "M1", "A1"):
            body = _problem(c.post("/v1/checks", json={"id_number": PUBLIC_ID, "measure": code},
                                   headers=h), 422)
            assert "G1" in body["detail"], body
        body = _problem(c.post("/v1/checks", json={"id_number": bad_check(PUBLIC_ID)}, headers=h), 422)
        assert "check" in body["detail"] and PUBLIC_ID not in json.dumps(body)
        _problem(c.post("/v1/checks", json={"id_number": ""}, headers=h), 422)
        # batches: one answer per subject, in order, one position
        r = c.post("/v1/checks:batch", headers=h, json={"subjects": [
            {"id_number": PUBLIC_ID}, {"id_number": NOBODY}, {"id_number": HIDDEN_ID, "measure": "g1"}]})
        assert r.status_code == 200, r.text
        assert [a["decision"] for a in r.json()["results"]] == ["block", "clear", "block"]
        assert "position" in r.json() and all("position" not in a for a in r.json()["results"])
        answered += 3
        body = _problem(c.post("/v1/checks:batch", headers=h, json={"subjects": [
            {"id_number": NOBODY}, {"id_number": bad_check(NOBODY)}]}), 422)
        assert "subjects[1]" in body["detail"]
        _problem(c.post("/v1/checks:batch", headers=h,
                        json={"subjects": [{"id_number": NOBODY}] * 1001}), 422)
        # the deprecated GET answers the same, and says it is deprecated
        r = c.get("/v1/check", params={"id_number": PUBLIC_ID, "measure": "g1"}, headers=h)
        assert r.status_code == 200 and r.json()["decision"] == "block"
        answered += 1
        assert c.get("/openapi.json").json()["paths"]["/v1/check"]["get"]["deprecated"] is True
        # non-public data: the listings scope, ID numbers masked unless clear-ids
        _problem(c.get("/v1/listings/HID", headers=h), 403)
        _problem(c.get("/metrics", headers=h), 403)
        masked = c.get("/v1/listings/HID", headers=_bearer(listings_key))
        assert masked.status_code == 200 and masked.json()["public"] is False
        assert HIDDEN_ID not in masked.text and HIDDEN_ID[:6] in masked.text
        clear = c.get("/v1/listings/HID", headers=_bearer(clear_key))
        assert HIDDEN_ID in clear.text
        _problem(c.get("/v1/listings/NOPE", headers=_bearer(listings_key)), 404)
        m = c.get("/metrics", headers=_bearer(metrics_key))
        assert m.status_code == 200 and 'hub_screening_checks_total{decision="block"}' in m.text
        assert "hub_unit_projection_lag_events 0.0" in m.text and "hub_unit_dead_letters" in m.text

    # the service stopped (SIGTERM): every answered subject is in the record, once
    rows = _recorded(u)
    assert len(rows) == answered
    assert {r["key"] for r in rows} == {"old-system", "loan-desk"}
    about = json.loads(hub_cli(u, "agency", "queries", "--unit", UNIT, "--id-number", HIDDEN_ID,
                               "--format", "json").stdout)
    assert about["count"] == 3 and {q["decision"] for q in about["queries"]} == {"block"}
    before = json.loads(hub_cli(u, "agency", "queries", "--unit", UNIT, "--id-number", PUBLIC_ID,
                                "--to", "2000-01-01", "--format", "json").stdout)
    assert before["count"] == 0
    csv_out = hub_cli(u, "agency", "queries", "--unit", UNIT, "--key", "old-system", "--format", "csv").stdout
    assert len(csv_out.strip().splitlines()) == 2

    # no clear ID number in the query log, in the service's log, the access log included
    conn = db.connect(u.pg_dsn)
    with conn.cursor() as cur:
        cur.execute(f"SELECT q::text FROM {schema.schema_name(u, UNIT)}.queries q")
        stored = "\n".join(r[0] for r in cur.fetchall())
    conn.close()
    text = log.read_text(encoding="utf-8")
    assert '"path": "/v1/check"' in text  # the access log is there
    for number in (PUBLIC_ID, HIDDEN_ID, NOBODY):
        assert number not in stored and number not in text

    # the CLI: same refusals, exit 2; lowercase codes accepted
    bad = hub_cli(u, "agency", "check", "--unit", UNIT, "--id-number", PUBLIC_ID, "--measure", "zz9", check=False)
    assert bad.returncode == 2 and "unknown measure code" in bad.stderr and "G1" in bad.stderr
    bad = hub_cli(u, "agency", "check", "--unit", UNIT, "--id-number", bad_check(PUBLIC_ID), check=False)
    assert bad.returncode == 2 and "check" in bad.stderr
    ok = hub_cli(u, "agency", "check", "--unit", UNIT, "--id-number", PUBLIC_ID, "--measure", "g1",
                 "--format", "json")
    assert json.loads(ok.stdout)["decision"] == "block"


def test_a_stop_under_load_loses_no_recorded_question(unit_side: Settings) -> None:
    u = unit_side
    key = api_key(u, UNIT, "load", "check")
    answered: list[int] = []
    stop = threading.Event()

    def caller() -> None:
        with httpx.Client(headers=_bearer(key), timeout=10) as c:
            while not stop.is_set():
                try:
                    r = c.post(f"{base}/v1/checks:batch", json={"subjects": [
                        {"id_number": PUBLIC_ID}, {"id_number": NOBODY}, {"id_number": HIDDEN_ID}]})
                except httpx.HTTPError:
                    return  # the server is gone: nothing more is answered
                if r.status_code == 200:
                    answered.append(len(r.json()["results"]))
                elif r.status_code >= 500:
                    return

    # Written only at the stop: without the stop's flush, every answer would be missing.
    with serving(u, UNIT, env={"HUB_QUERY_FLUSH_SECONDS": "600"}) as (base, proc):
        threads = [threading.Thread(target=caller) for _ in range(6)]
        for t in threads:
            t.start()
        while sum(answered) < 600:
            threading.Event().wait(0.05)
        proc.send_signal(signal.SIGTERM)
        # uvicorn stops gracefully (last requests answered, lifespan shutdown: the record
        # flushed), then re-raises the signal: the exit status says "terminated"
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert sum(answered) >= 600
    assert len(_recorded(u)) == sum(answered)
