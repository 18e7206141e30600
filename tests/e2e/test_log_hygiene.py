"""Personal data and secrets never reach a log: capture every log line (stderr, DEBUG
level) of an end-to-end run — court submit, two units, auditor — and look for every
password in play and every ID number of the decisions in clear."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from hub import accounts
from hub.config import Settings
from tests.conftest import hub_env
from tests.support import make_decisions, run_hub, submit, write_jsonl

pytestmark = pytest.mark.e2e


def test_no_password_and_no_clear_id_number_in_logs(hub_settings: Settings) -> None:
    decisions = make_decisions(25, seed=7)
    env = hub_env(hub_settings) | {"HUB_LOG_LEVEL": "DEBUG"}
    logs: list[str] = []

    summary = submit(hub_settings, decisions)
    assert summary["accepted"] == len(decisions)
    for args in (
        ("court", "relay", "--once"),
        ("agency", "run", "--unit", "rail-air-operators", "--until-idle"),
        ("agency", "run", "--unit", "finance", "--until-idle"),
        ("audit", "verify", "--format", "json"),
        ("status", "--format", "json"),
    ):
        logs.append(run_hub(hub_settings, *args, env=env).stderr)
    # a failing command logs too: a bad file names lines and keys, never the numbers in clear
    bad = dict(decisions[0], decision_no="x-1", listing_id="bad-1")
    bad["subject"] = dict(bad["subject"], id_number=bad["subject"]["id_number"][:-1] + "Z")
    path = write_jsonl(hub_settings.state_dir.parent / "bad.jsonl", [bad])
    proc = run_hub(hub_settings, "court", "submit", str(path), env=env, check=False)
    assert proc.returncode != 0 and "line 1" in proc.stderr
    logs.append(proc.stderr)

    text = "\n".join(logs)
    assert len(text.splitlines()) > 20, "too little was logged to prove anything"

    secrets = {hub_settings.kafka_password, urlsplit(hub_settings.pg_dsn).password}
    if hub_settings.kafka_username:
        accounts.provision(hub_settings, ["350402"], ["finance"])
        secrets |= set(accounts.load_secrets(hub_settings).values())
    for secret in filter(None, secrets):
        assert secret not in text, "a password appears in the logs"

    numbers = set()
    for d in decisions:
        if d["action"] == "list":
            numbers.add(d["subject"]["id_number"])
            numbers.update(r["id_number"] for r in d.get("related", []))
        for value in (d.get("changes") or {}).values():
            if isinstance(value, str) and re.fullmatch(r"[0-9A-Z]{18}", value):
                numbers.add(value)
    leaked = [n for n in numbers if n in text]
    assert not leaked, f"{len(leaked)} ID numbers appear in clear in the logs"
