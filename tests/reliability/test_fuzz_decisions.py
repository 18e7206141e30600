"""Fuzzing the court's input (issue 8): 10 000 random one-line mutations of a small valid
decision file (every action, two courts) are each refused with a message naming the line,
and nothing is recorded (court-decisions.md "Errors": a file with any invalid line is
rejected as a whole). The 10 000 go through the court service's Python API (10 000 CLI
processes would take an hour on two cores); a sample of 50 through `hub court submit`."""

from __future__ import annotations

import json
import random
import string
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from producers.court import service, store
from tests.e2e.test_court_e2e import scenario
from tests.integration.test_agency_feed import read_topic
from tests.reliability.checks import hub
from tests.unit.builders import line

pytestmark = pytest.mark.reliability

N_API = 10_000
N_CLI = 50

# Keys every decision of an action must carry (court-decisions.md); dropping one of these
# is always an error, whereas dropping an optional key (triggered_at, public, related,
# note) may leave a valid line.
REQUIRED = {"action", "decision_no", "court_code", "listing_id", "decided_at"}
REQUIRED_BY_ACTION = {
    "list": {"court_name", "case_no", "filed_on", "basis_authority", "basis_doc_no",
             "obligation", "performance", "ground", "conduct", "subject"},
    "shield": {"reason"},
    "revoke": {"reason"},
    "correct": {"changes", "reason"},
    "open_verification": {"objection_received_on"},
    "close_verification": {"outcome"},
}
ACTIONS = tuple(REQUIRED_BY_ACTION)
BAD_TIMES = ("2026-13-01T09:00:00+08:00", "2026-02-30T09:00:00+08:00", "yesterday", "",
             "2026/03/02 09:30", "T09:00:00+08:00", "2026-03-02T25:00:00+08:00")
BAD_DATES = ("2026-02-30", "2026-13-01", "not a date", "", "02/03/2026", "2026-00-10")
DATE_KEYS = {"filed_on", "period_end", "objection_received_on"}
TIME_KEYS = {"decided_at", "triggered_at"}
WRONG_TYPES: tuple[Any, ...] = ([], {}, [1, 2], {"a": 1}, [[]])


def _check_char_changed(id_number: str, rng: random.Random) -> str:
    alphabet = "0123456789X" if id_number[:-1].isdigit() else string.digits + "ABCDEFGHJKLMNPQRTUWXY"
    return id_number[:-1] + rng.choice([c for c in alphabet if c != id_number[-1]])


def mutate(lines: list[str], rng: random.Random) -> tuple[list[str], set[int], str]:
    """One mutation of one line; returns the new lines, the 1-based line numbers an error
    may name, and the mutation's kind."""
    out = list(lines)
    i = rng.randrange(len(lines))
    d: dict[str, Any] = json.loads(lines[i])
    kinds = ["drop_key", "unknown_key", "wrong_type", "truncate", "swap_action", "bad_time",
             "not_an_object", "bad_enum"]
    if d["action"] == "list":
        kinds += ["check_char"] * 2
    if any(k in d for k in DATE_KEYS):
        kinds.append("bad_date")
    # Mutations that parse and fail only against the store's state cost a database round
    # trip (~35 ms): one file in twenty.
    stateful = (["reused_decision_no"] if i > 0 else []) + (
        ["unknown_listing"] if d["action"] != "list" else [])
    kind = rng.choice(stateful if stateful and rng.random() < 0.05 else kinds)
    where = {i + 1}
    if kind == "drop_key":
        d.pop(rng.choice(sorted((REQUIRED | REQUIRED_BY_ACTION[d["action"]]) & set(d))))
    elif kind == "unknown_key":
        d["x_" + "".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 8)))] = rng.choice(
            [None, 1, "v", [], {}])
    elif kind == "wrong_type":
        key = rng.choice(sorted(d))
        d[key] = ("x" if isinstance(d[key], dict | list) else rng.choice(WRONG_TYPES))
    elif kind == "truncate":
        text = line(d)
        out[i] = text[: rng.randint(1, len(text) - 1)]
        return out, where, kind
    elif kind == "swap_action":
        d["action"] = rng.choice([a for a in ACTIONS if a != d["action"]] + ["delete", "LIST"])
    elif kind == "bad_time":
        d[rng.choice(sorted(TIME_KEYS & set(d)))] = rng.choice(BAD_TIMES)
    elif kind == "bad_date":
        d[rng.choice(sorted(DATE_KEYS & set(d)))] = rng.choice(BAD_DATES)
    elif kind == "not_an_object":
        out[i] = rng.choice(["[]", '"list"', "42", "null", "{}", json.dumps([d], ensure_ascii=False)])
        return out, where, kind
    elif kind == "bad_enum":
        enums = {"ground", "performance", "outcome"} | ({"reason"} if d["action"] != "correct" else set())
        key = rng.choice(sorted(enums & set(d)) or ["action"])  # correct's reason is free text
        d[key] = d[key] + "_x" if isinstance(d[key], str) else "nope"
    elif kind == "check_char":
        d["subject"] = dict(d["subject"], id_number=_check_char_changed(d["subject"]["id_number"], rng))
    elif kind == "reused_decision_no":
        j = rng.randrange(i)
        other = json.loads(lines[j])
        d["decision_no"], d["court_code"] = other["decision_no"], other["court_code"]
        if d.get("court_name") is not None and "court_name" in other:
            d["court_name"] = other["court_name"]
        where = {i + 1, j + 1}
    elif kind == "unknown_listing":
        d["listing_id"] = "NOPE-" + str(rng.randrange(10**6))
    out[i] = line(d)
    return out, where, kind


def test_ten_thousand_mutated_files_are_refused(hub_settings: Settings, tmp_path: Path,
                                                reliability_report) -> None:
    s = hub_settings
    valid = [line(d) for d in scenario()]
    rng = random.Random(805)
    kinds: Counter[str] = Counter()
    for n in range(N_API):
        lines, where, kind = mutate(valid, rng)
        kinds[kind] += 1
        try:
            service.submit(s, lines, relay=False)
        except service.SubmitRejected as e:
            named = {err.line for err in e.errors}
            assert named & where, f"#{n} {kind}: errors name lines {named}, not {where}"
            assert all(str(err) for err in e.errors)
            continue
        raise AssertionError(f"#{n} {kind}: accepted a mutated file:\n" + "\n".join(lines))
    assert set(store.row_counts(s).values()) == {0}, "something was recorded"

    # A sample through the CLI: exit 2, one message per problem naming file and line.
    samples = []
    for n in range(N_CLI):
        lines, where, kind = mutate(valid, rng)
        path = tmp_path / f"mutated-{n}.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        samples.append((path, where, kind))

    def run(sample: tuple[Path, set[int], str]) -> tuple[Any, ...]:
        path, where, kind = sample
        return sample, hub(s, "court", "submit", str(path), check=False)

    with ThreadPoolExecutor(2) as pool:
        for (path, where, kind), proc in pool.map(run, samples):
            assert proc.returncode == 2, f"{kind}: exit {proc.returncode}: {proc.stderr[-1000:]}"
            assert "Traceback" not in proc.stderr
            assert any(f"{path}: line {w}" in proc.stderr for w in where), (kind, proc.stderr)
            assert proc.stdout == ""
    assert set(store.row_counts(s).values()) == {0}, "something was recorded"
    assert read_topic(s, s.court_topic, timeout=5) == [] if _topic_exists(s) else True
    reliability_report.add("fuzz_decision_files", faults_injected=N_API + N_CLI,
                           events_checked=N_API + N_CLI, refused=N_API + N_CLI,
                           mutation_kinds=dict(sorted(kinds.items())))


def _topic_exists(s: Settings) -> bool:
    from hub import kafka

    with kafka.admin_client(s) as admin:
        return s.court_topic in admin.list_topics()
