"""Supervision end to end (issue #21; policy 四(二)8, 四(四)): formal notices and talks by the
supervising body, complaints received and answered by a unit, through the CLI and the signed
log, and what `hub audit compliance` makes of them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from hub import codec, kafka
from hub.config import Settings
from hub.domain.events import ComplaintAnswered, ComplaintFinding, FormalNotice, supervision_id
from hub.keys import supervisor_signer
from hub.ledger import generate_key
from hub.signed import sign
from tests.conftest import hub_env
from tests.support import run_hub

pytestmark = pytest.mark.e2e

UNIT = "finance"


def _json(s: Settings, *args: str) -> Any:
    return json.loads(run_hub(s, *args, "--format", "json").stdout)


def _refused(s: Settings, *args: str) -> str:
    proc = run_hub(s, *args, check=False)
    assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    return proc.stderr


def test_notices_talks_and_complaints(hub_settings: Settings) -> None:
    s = hub_settings
    first = _json(s, "supervise", "notice", "--unit", UNIT, "--ref", "(2026)通報1號",
                  "--reason", "未依規定實施聯合懲戒", "--on", "2026-02-10")
    assert first["recorded"] is True and first["body"] == "leading-group"
    again = _json(s, "supervise", "notice", "--unit", UNIT, "--ref", "(2026)通報1號",
                  "--reason", "未依規定實施聯合懲戒", "--on", "2026-02-10")
    assert again["recorded"] is False  # the same document: a no-op
    assert "already recorded with other content" in _refused(
        s, "supervise", "notice", "--unit", UNIT, "--ref", "(2026)通報1號", "--reason", "other",
        "--on", "2026-02-10")
    assert "not a unit of the catalogue" in _refused(
        s, "supervise", "notice", "--unit", "nobody", "--ref", "x", "--reason", "r")
    assert "in the future" in _refused(
        s, "supervise", "notice", "--unit", UNIT, "--ref", "y", "--reason", "r", "--on", "2999-01-01")
    _json(s, "supervise", "talk", "--unit", UNIT, "--ref", "約談-1", "--reason", "懲戒不到位",
          "--on", "2026-03-01")
    _json(s, "supervise", "notice", "--unit", UNIT, "--ref", "(2026)通報9號",
          "--reason", "仍未實施", "--on", "2026-09-01")
    _json(s, "supervise", "notice", "--unit", "transport", "--ref", "(2026)通報2號",
          "--reason", "未實施", "--on", "2026-04-01")
    listed = _json(s, "supervise", "list", "--unit", UNIT)
    assert [(r["kind"], r["ref"]) for r in listed] == [
        ("notice", "(2026)通報1號"), ("talk", "約談-1"), ("notice", "(2026)通報9號")]

    # complaints: one unfounded, one founded (acted, then answered), one open
    _json(s, "agency", "complaints", "receive", "--unit", UNIT, "--ref", "TS-1",
          "--about", "名單內企業仍獲財政補貼", "--listing", "350402-2026-000123", "--on", "2026-05-01")
    _json(s, "agency", "complaints", "receive", "--unit", UNIT, "--ref", "TS-2",
          "--about", "懷疑未懲戒", "--on", "2026-05-02")
    _json(s, "agency", "complaints", "receive", "--unit", UNIT, "--ref", "TS-3",
          "--about", "尚待調查", "--on", "2026-05-03")
    assert "looks like an ID number" in _refused(
        s, "agency", "complaints", "receive", "--unit", UNIT, "--ref", "TS-9",
        "--about", "舉報人 350402198005010015")
    assert "punishes first" in _refused(
        s, "agency", "complaints", "answer", "--unit", UNIT, "--ref", "TS-1",
        "--finding", "should_have_acted", "--on", "2026-05-10")
    assert "before the complaint was received" in _refused(
        s, "agency", "complaints", "answer", "--unit", UNIT, "--ref", "TS-1",
        "--finding", "should_have_acted", "--acted-on", "2026-04-01", "--on", "2026-05-10")
    assert "has no complaint" in _refused(
        s, "agency", "complaints", "answer", "--unit", UNIT, "--ref", "TS-404",
        "--finding", "unfounded")
    _json(s, "agency", "complaints", "answer", "--unit", UNIT, "--ref", "TS-1",
          "--finding", "should_have_acted", "--acted-on", "2026-05-05", "--on", "2026-05-06")
    _json(s, "agency", "complaints", "answer", "--unit", UNIT, "--ref", "TS-2",
          "--finding", "unfounded", "--on", "2026-05-08")
    assert "already recorded with other content" in _refused(
        s, "agency", "complaints", "answer", "--unit", UNIT, "--ref", "TS-2",
        "--finding", "should_have_acted", "--acted-on", "2026-05-07", "--on", "2026-05-08")
    opened = _json(s, "agency", "complaints", "list", "--unit", UNIT, "--open")
    assert [r["ref"] for r in opened] == ["TS-3"]

    # forged records (not under the signer's own key) are not believed
    prod = kafka.producer(s, "test-forger")
    forged = FormalNotice(
        notice_id=supervision_id("leading-group", "forged"), body="leading-group", ref="forged",
        unit="transport", reason="x", event_ids=[], issued_on=first_day("2026-04-20"),
        recorded_at=now())
    value = codec.encode(forged)
    prod.send(s.supervision_topic, key=b"transport", value=value,
              headers=sign(generate_key(supervisor_signer("leading-group")), value)).get(timeout=30)
    fake = ComplaintAnswered(complaint_id=supervision_id(UNIT, "TS-3"), unit=UNIT,
                             finding=ComplaintFinding.unfounded, answered_on=first_day("2026-05-04"),
                             recorded_at=now())
    value = codec.encode(fake)
    prod.send(s.supervision_topic, key=UNIT.encode(), value=value,
              headers=sign(generate_key(supervisor_signer("leading-group")), value)).get(timeout=30)
    prod.close()

    doc = _json(s, "audit", "compliance")
    sup = {r["unit"]: r for r in doc["supervision"]}
    fin = sup[UNIT]
    assert (fin["notices"], fin["talks"], fin["second_notice_within_year"],
            fin["honours_barred_until"], fin["noticed_after_talk"]) == (
        2, 1, True, "2027-09-01", True)
    assert (fin["complaints"], fin["complaints_answered"], fin["complaints_open"],
            fin["should_have_acted"]) == (3, 2, 1, 1)
    rail = sup["transport"]
    assert (rail["notices"], rail["second_notice_within_year"], rail["honours_barred_until"]) == (
        1, False, None)  # the forged second notice does not count
    table = run_hub(s, "audit", "compliance", env=hub_env(s) | {"COLUMNS": "250"}).stdout
    assert "supervision" in table and "2027-09-01" in table
    html = run_hub(s, "audit", "compliance", "--format", "html").stdout
    assert "Supervision" in html and "2027-09-01" in html


def first_day(text: str) -> date:
    return date.fromisoformat(text)


def now() -> datetime:
    return datetime.now(UTC)
