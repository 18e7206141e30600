"""Court-decisions.md "Errors", one class a test, through `hub court submit`: exit 2, every
problem on stderr with line and key, and the court store records nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from typing import Any

import pytest

from hub.domain.identity import make_resident_id, make_uscc
from producers.court import service, store
from tests.conftest import hub_env
from tests.unit.builders import (
    bad_check,
    correct_data,
    line,
    list_data,
    open_data,
    org_id,
    revoke_data,
    shield_data,
    subject_person,
    when,
)

pytestmark = pytest.mark.e2e


def _other() -> str:
    return line(list_data("OK1", decision_no="OK1-list"))


CASES: dict[str, tuple[list[dict[str, Any]], str, str, str]] = {
    # name: (decisions recorded first, bad line, expected "line 2: <key>", reason fragment)
    "malformed_json": ([], '{"action": "list", "decision_no": ', "line 2", "malformed JSON"),
    "unknown_key": ([], line(list_data("L1", colour="red")), "line 2: colour", "unknown key"),
    "bad_check_character": (
        [], line(list_data("L1", subject={"kind": "organisation", "name": "某公司",
                                          "id_number": bad_check(org_id(7))})),
        "line 2: subject.id_number", "check",
    ),
    "minor": (
        [], line(list_data("L1", kind="person", subject=subject_person(birth=date(2015, 1, 1)))),
        "line 2: subject.id_number", "minor",
    ),
    # Identities to the standard (GB 11643, GB 32100), the subject's and related persons'
    "birth_in_the_future": (
        [], line(list_data("L1", kind="person", subject={
            "kind": "person", "name": "某", "id_number": make_resident_id("350402", date(2099, 1, 1), 11)})),
        "line 2: subject.id_number", "in the future",
    ),
    "letters_in_the_division_code": (
        [], line(list_data("L1", subject={"kind": "organisation", "name": "某公司",
                                          "id_number": make_uscc("9135A402MA0000001")})),
        "line 2: subject.id_number", "positions 3-8",
    ),
    "unknown_registration_authority": (
        [], line(list_data("L1", subject={"kind": "organisation", "name": "某公司",
                                          "id_number": make_uscc("B1350402MA0000001")})),
        "line 2: subject.id_number", "registration authority",
    ),
    "minor_related_person": (
        [], line(list_data("L1", related=[{"role": "legal_representative", "name": "王某",
                                            "id_number": make_resident_id("350402", date(2012, 1, 1), 3)}])),
        "line 2: related[0].id_number", "minor",
    ),
    "inconsistent_period": (
        [], line(list_data("L1", ground="refuses_despite_ability")),
        "line 2: period_end", "",
    ),
    "shield_of_revoked": (
        [list_data("L1"), revoke_data("L1")], line(shield_data("L1", decided_at=when(60))),
        "line 2: action", "revoked",
    ),
    "correct_of_unknown_listing": (
        [], line(correct_data("NOPE")), "line 2: listing_id", "unknown listing",
    ),
    "second_verification": (
        [list_data("L1"), open_data("L1")],
        line(open_data("L1", decision_no="second-open", decided_at=when(22))),
        "line 2: action", "second verification",
    ),
    "reused_decision_no": (
        [list_data("L1", decision_no="D-1")],
        line(list_data("L9", decision_no="D-1")), "line 2: decision_no", "different content",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_is_refused_whole(hub_settings, tmp_path, case):
    s = hub_settings
    first, bad, where, reason = CASES[case]
    if first:
        service.submit(s, [line(d) for d in first], relay=False)
    before = store.row_counts(s)
    path = tmp_path / "bad.jsonl"
    path.write_text(_other() + "\n" + bad + "\n", encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "hub", "court", "submit", str(path)],
                       env=hub_env(s), capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert where in p.stderr and reason.lower() in p.stderr.lower(), p.stderr
    assert "Traceback" not in p.stderr and p.stdout == ""
    assert store.row_counts(s) == before


def test_missing_file_is_one_line(hub_settings, tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "hub", "court", "submit", str(tmp_path / "none.jsonl"),
         "--format", "json"],
        env=hub_env(hub_settings), capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "no such file" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stdout == ""


def test_same_decision_twice_in_one_file(hub_settings):
    """Same content twice in a file: one recorded, one skipped; different content: refused."""
    s = hub_settings
    d = list_data("L1", decision_no="D-1")
    r = service.submit(s, [line(d), line(d)], relay=False)
    assert (r.accepted, r.skipped) == (1, 1)
    with pytest.raises(service.SubmitRejected) as e:
        service.submit(s, [line(list_data("L2", decision_no="D-2")),
                           json.dumps(list_data("L3", decision_no="D-2"))], relay=False)
    assert [(x.line, x.key) for x in e.value.errors] == [(2, "decision_no")]
