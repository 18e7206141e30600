"""Helpers of the fault-injection suite: running and killing `hub` processes, and the checks
made after every fault (issue 8): no lost events, no duplicate effects, projections equal
to a rebuild, `hub audit verify` passes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from consumers.agency.batch import Inbound
from consumers.agency.projection import Folder
from hub import accounts, codec
from hub.config import Settings
from hub.domain.catalogue import default_catalogue
from hub.domain.events import acknowledgements
from hub.keys import ensure_key, load_trust, unit_signer
from hub.signed import verify_record
from tests.conftest import hub_env
from tests.integration.test_agency_feed import read_topic
from tests.integration.test_agency_recovery import dump
from tests.support import write_jsonl

UNITS = ("rail-air-operators", "public-security")


def as_unit(s: Settings, unit: str) -> Settings:
    """The settings of a unit's own account (the test hub `provisioned` it)."""
    return accounts.settings_as(s, accounts.unit_account(unit))


def env_for(s: Settings, **extra: str) -> dict[str, str]:
    """`hub_env` plus the topic replication settings (the cluster runs RF 3, min ISR 2)."""
    return hub_env(s) | {
        "HUB_TOPIC_REPLICATION_FACTOR": str(s.topic_replication_factor),
        "HUB_TOPIC_MIN_INSYNC_REPLICAS": str(s.topic_min_insync_replicas),
    } | extra


def hub(s: Settings, *args: str, check: bool = True, timeout: float = 300,
        **extra: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "hub", *args], env=env_for(s, **extra),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"hub {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def spawn(s: Settings, *args: str, log_name: str, **extra: str) -> subprocess.Popen[bytes]:
    """A long-running `hub` process; its stderr appended to a log beside the state dir."""
    log = open(s.state_dir.parent / f"{log_name}.log", "ab")  # noqa: SIM115 - owned by Popen
    try:
        return subprocess.Popen([sys.executable, "-m", "hub", *args], env=env_for(s, **extra),
                                stdout=subprocess.DEVNULL, stderr=log)
    finally:
        log.close()


def kill9(proc: subprocess.Popen[bytes]) -> bool:
    """kill -9; True if it was still running (a real crash, not an exit)."""
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return alive


def stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill9(proc)


def chunks(decisions: list[dict[str, Any]], n: int) -> list[list[dict[str, Any]]]:
    """`n` consecutive slices (the court's order is kept: each file follows the previous)."""
    size = -(-len(decisions) // n)
    return [decisions[i:i + size] for i in range(0, len(decisions), size)]


def submit_file(s: Settings, decisions: list[dict[str, Any]], *extra: str,
                check: bool = True) -> subprocess.CompletedProcess[str]:
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False,
                                     dir=s.state_dir.parent) as fh:
        path = Path(fh.name)
    write_jsonl(path, decisions)
    return hub(s, "court", "submit", str(path), "--format", "json", *extra, check=check)


def wait_for(pred: Any, timeout: float, what: str, every: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# ---------------------------------------------------------------------------- checks

def court_records(s: Settings) -> list[Any]:
    return read_topic(s, s.court_topic, timeout=120)


def check_court_log(s: Settings, decisions: list[dict[str, Any]]) -> dict[str, int]:
    """Each decision exactly one signed record on the court topic."""
    trust = load_trust(s)
    seen: Counter[tuple[str, str]] = Counter()
    for r in court_records(s):
        meta = verify_record(trust, r.value, r.headers).model.meta
        seen[(meta.court_code, meta.decision_no)] += 1
    expected = {(d["court_code"], d["decision_no"]) for d in decisions}
    lost = expected - set(seen)
    extra = set(seen) - expected
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    assert not lost, f"{len(lost)} decisions never reached the court topic: {sorted(lost)[:5]}"
    assert not extra, f"records of unknown decisions on the court topic: {sorted(extra)[:5]}"
    assert duplicated == 0, f"{duplicated} duplicate records on the court topic"
    return {"events_checked": len(expected), "lost": len(lost), "duplicated": duplicated}


def reference_acks(s: Settings, unit: str, records: list[Any]) -> dict[str, str]:
    """ack_id → event_id of the court-event acks a clean, single pass of the whole log
    yields for `unit` (the projection's fold, in memory, no faults)."""
    key, _ = ensure_key(s, unit_signer(unit))
    folder = Folder(s, unit, key, default_catalogue(), lambda: load_trust(s))
    inbound = [Inbound(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers or ()))
               for r in records]
    ch = folder.fold_batch(folder.decode(inbound, {}), {}, {}, {}, {})
    assert not ch.dead, f"the reference fold dead-lettered {len(ch.dead)} records"
    return {a["ack_id"]: a["event_id"] for a in ch.acks if a["trigger"] == "court_event"}


def check_acks(s: Settings, unit: str, records: list[Any]) -> dict[str, int]:
    """Exactly one effective acknowledgement (distinct ack_id) per concerned event."""
    want = reference_acks(s, unit, records)
    per_event: dict[str, set[str]] = defaultdict(set)
    raw = 0
    entries: dict[str, int] = defaultdict(int)
    for r in read_topic(s, s.ack_topic(unit), timeout=120):
        raw += 1
        for ack in acknowledgements(codec.decode(r.value)):  # old records, batch entries
            entries[ack.ack_id] += 1
            if ack.trigger.value == "court_event":
                per_event[ack.event_id].add(ack.ack_id)
    got = {a: e for e, ids in per_event.items() for a in ids}
    lost = set(want) - set(got)
    duplicated = sum(len(ids) - 1 for ids in per_event.values()) + len(set(got) - set(want))
    assert not lost, f"{unit}: {len(lost)} concerned events without an acknowledgement"
    assert duplicated == 0, f"{unit}: {duplicated} extra acknowledgements"
    # readers deduplicate on ack_id; how often they had to is reported, not asserted
    repeated = sum(n - 1 for n in entries.values())
    return {"events_checked": len(want), "lost": len(lost), "duplicated": duplicated,
            "ack_records": raw, "ack_entries_repeated": repeated}


def _sorted(tables: dict[str, list[Any]]) -> dict[str, list[Any]]:
    # dump()'s ORDER BY is not total for every table (e.g. history rows of one event and
    # person differ only by measure code): compare the rows as multisets.
    return {name: sorted(rows, key=repr) for name, rows in tables.items()}


def check_rebuild_equals(s: Settings, unit: str) -> None:
    """The projection after the faults equals one rebuilt from offset 0 (consumer stopped)."""
    before = _sorted(dump(s, unit))
    out = hub(s, "agency", "rebuild", "--unit", unit, "--format", "json")
    assert json.loads(out.stdout)["applied"] == len(before["chain"])
    after = _sorted(dump(s, unit))
    for table in before:
        if before[table] != after[table]:
            only_b = [r for r in before[table] if r not in after[table]][:5]
            only_a = [r for r in after[table] if r not in before[table]][:5]
            raise AssertionError(f"{unit}: {table} differs from a rebuild: only before "
                                 f"{only_b}; only after {only_a}")


def check_audit(s: Settings) -> dict[str, Any]:
    proc = hub(s, "audit", "verify", "--format", "json", check=False)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0 and doc["ok"], f"hub audit verify failed: {proc.stderr[-2000:]}"
    return dict(doc)


def check_all(s: Settings, decisions: list[dict[str, Any]], units: tuple[str, ...] = UNITS
              ) -> dict[str, int]:
    """Every check of issue 8 after a fault; returns the figures for the report."""
    figures = check_court_log(s, decisions)
    records = court_records(s)
    for unit in units:
        a = check_acks(s, unit, records)
        figures["events_checked"] += a["events_checked"]
        check_rebuild_equals(s, unit)
    check_audit(s)
    return figures
