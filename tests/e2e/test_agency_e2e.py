"""The agency side end to end: real `hub court submit`, `hub agency run --until-idle`,
`hub agency serve` (HTTP), `hub agency check`, `hub agency keep`, acks read from Kafka."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from consumers.agency import supervisor
from hub import accounts
from hub.config import Settings
from tests.integration.test_agency_feed import hub_cli, read_acks
from tests.support import api_key, serving, submit
from tests.unit.builders import (
    close_data,
    correct_data,
    list_data,
    open_data,
    person_id,
    shield_data,
    when,
)

pytestmark = pytest.mark.e2e

UNIT = "rail-air-operators"  # G1 (train and flight tickets): block, binds the debtor


@pytest.fixture()
def as_unit(provisioned: Settings) -> Settings:
    """The unit's own account (broker user, database role): what the unit runs as."""
    return accounts.settings_as(provisioned, accounts.unit_account(UNIT))


@pytest.fixture()
def api(as_unit: Settings) -> Iterator[httpx.Client]:
    """The unit's screening service, called with an API key that may see everything."""
    key = api_key(as_unit, UNIT, "e2e", "clear-ids")
    with serving(as_unit, UNIT) as (base, _proc), httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=5) as client:
        yield client


def decision_of(api: httpx.Client, id_number: str) -> str:
    r = api.post("/v1/checks", json={"id_number": id_number})
    assert r.status_code == 200, r.text
    return str(r.json()["decision"])


def test_unit_follows_the_court_and_acknowledges(hub_settings: Settings, as_unit: Settings,
                                                 api: httpx.Client) -> None:
    s, u = hub_settings, as_unit
    old_id, new_id = person_id(1), person_id(2)
    steps: list[tuple[dict[str, Any], str, str, list[tuple[str, str]]]] = [
        (list_data("L1", kind="person", decided_at=when(0)), "block", "clear",
         [(old_id, "applied")]),
        (open_data("L1", decided_at=when(20)), "clear", "clear", [(old_id, "suspended")]),
        (close_data("L1", decided_at=when(25)), "block", "clear", [(old_id, "resumed")]),
        (correct_data("L1", {"subject.id_number": new_id}, decided_at=when(28)), "clear",
         "block", [(old_id, "lifted"), (new_id, "applied")]),
        (shield_data("L1", decided_at=when(40)), "clear", "clear", [(new_id, "lifted")]),
    ]
    for data, want_old, want_new, _ in steps:
        submit(s, [data])
        hub_cli(u, "agency", "run", "--unit", UNIT, "--until-idle", "--format", "json")
        assert decision_of(api, old_id) == want_old, data["action"]
        assert decision_of(api, new_id) == want_new, data["action"]

    acks = sorted(read_acks(s, UNIT), key=lambda a: a.court_seq)
    assert [[(m.id_number, m.action.value) for m in a.measures] for a in acks] == [
        want for *_, want in steps
    ]
    assert all(a.trigger.value == "court_event" and a.unit == UNIT for a in acks)
    assert len({a.event_id for a in acks}) == len(steps)

    # the CLI answers the same, in JSON, with the log position behind it
    out = hub_cli(u, "agency", "check", "--unit", UNIT, "--id-number", new_id,
                  "--at", when(30), "--format", "json")
    doc = json.loads(out.stdout)
    assert doc["decision"] == "block" and doc["measures"][0]["code"] == "G1"
    assert doc["position"]["court_seq"] == {"350402": 5}

    # bad input: exit 2 on the CLI, 422 over HTTP
    bad = hub_cli(u, "agency", "check", "--unit", UNIT, "--id-number", "123", check=False)
    assert bad.returncode == 2 and "bad id number" in bad.stderr
    assert api.post("/v1/checks", json={"id_number": "123"}).status_code == 422
    listing = api.get("/v1/listings/L1").json()
    assert listing["listing"]["status"] == "shielded" and listing["public"] is True
    assert api.get("/v1/listings/NOPE").status_code == 404
    assert "/v1/checks" in api.get("/openapi.json").json()["paths"]

    # keeping a measure after the shield: reason and end date (policy 四(二)5)
    until = (date.today() + timedelta(days=30)).isoformat()
    past = (date.today() - timedelta(days=1)).isoformat()
    for args, msg in [
        (["--measure", "G1", "--until", past, "--reason", "x"], "past"),
        (["--measure", "A1", "--until", until, "--reason", "x"], "not enforced"),
        (["--measure", "G1", "--until", until, "--reason", " "], "reason"),
    ]:
        p = hub_cli(u, "agency", "keep", "--unit", UNIT, "--listing", "L1", *args, check=False)
        assert p.returncode == 2 and msg in p.stderr, p.stderr
    hub_cli(u, "agency", "keep", "--unit", UNIT, "--listing", "L1", "--measure", "G1",
            "--until", until, "--reason", "ticket fraud case pending", "--format", "json")
    assert decision_of(api, new_id) == "block"
    kept = [a for a in read_acks(s, UNIT) if a.trigger.value == "kept_measure"]
    assert len(kept) == 1 and kept[0].measures[0].action.value == "kept_until"
    assert kept[0].measures[0].until == date.fromisoformat(until)


def test_run_all_supervises_units_until_idle(provisioned: Settings) -> None:
    """Each unit runs as its own account (provisioned): run-all gives it its own settings."""
    s = provisioned
    submit(s, [list_data("A", decided_at=when(0)), list_data("B", kind="person", decided_at=when(1)),
               shield_data("A", decided_at=when(30))])
    out = hub_cli(s, "agency", "run-all", "--units", f"{UNIT},public-security", "--until-idle",
                  "--format", "json")
    doc = json.loads(out.stdout)
    assert [u["done"] for u in doc["units"]] == [True, True]
    for unit in (UNIT, "public-security"):
        assert len({a.event_id for a in read_acks(s, unit)}) == 3
        own = accounts.settings_as(s, accounts.unit_account(unit))
        dlq = json.loads(hub_cli(own, "agency", "dlq", "--unit", unit, "--format", "json").stdout)
        assert dlq["dead_letters"] == []
        # the environment run-all gives the unit's process is the unit's own account
        child = supervisor._env(s, unit)
        assert (child["HUB_KAFKA_USERNAME"], child["HUB_PG_DSN"]) == (own.kafka_username, own.pg_dsn)
    status = json.loads(hub_cli(s, "status", "--format", "json").stdout)
    lags = {u["unit"]: u["lag"] for u in status["units"]}
    assert lags == {UNIT: 0, "public-security": 0}
