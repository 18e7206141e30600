"""Crash safety of the unit consumer: kill -9 at random points, restart, and the projection
equals a fresh rebuild; every event has exactly one effective acknowledgement; a unit that
was down catches up without another unit noticing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from typing import Any

import pytest

from consumers.agency import schema
from consumers.agency.consumer import UnitConsumer
from hub import db
from hub.config import Settings
from hub.domain.identity import make_resident_id
from tests.conftest import hub_env
from tests.integration.test_agency_feed import CourtFeed, hub_cli, read_acks, read_topic
from tests.unit.builders import list_data, open_data, shield_data, when

pytestmark = pytest.mark.integration

UNIT = "rail-air-operators"
OTHER = "public-security"


def feed_events(feed: CourtFeed, n_listings: int, start: int = 0) -> int:
    """n listings of persons; every third shielded, every fifth under verification."""
    sent = 0
    for i in range(start, start + n_listings):
        born = date(1960, 1, 1) + timedelta(days=i % 9000)
        subject = {"kind": "person", "name": "某", "id_number": make_resident_id("350402", born, i % 997)}
        lid = f"L{i}"
        feed.publish(list_data(lid, kind="person", subject=subject, decided_at=when(0),
                               decision_no=f"{lid}-list"))
        sent += 1
        if i % 3 == 0:
            feed.publish(shield_data(lid, decided_at=when(30), decision_no=f"{lid}-shield"))
            sent += 1
        elif i % 5 == 0:
            feed.publish(open_data(lid, decided_at=when(20), decision_no=f"{lid}-open"))
            sent += 1
    feed.flush()
    return sent


def dump(s: Settings, unit: str) -> dict[str, Any]:
    sch = schema.schema_name(s, unit)
    queries = {
        "listings": f"SELECT listing_id, state::text, concerned FROM {sch}.listings ORDER BY 1",
        "persons": f"SELECT listing_id, role, id_number FROM {sch}.persons ORDER BY 1, 2, 3",
        "measures": f"SELECT listing_id, code, role, id_number, suspended, valid_from::text,"
                    f" valid_to::text, until::text FROM {sch}.measures ORDER BY 1, 2, 3, 4, 6",
        "history": f"SELECT listing_id, code, id_number, action, at::text, event_id, ack_id"
                   f" FROM {sch}.measure_history ORDER BY 1, 5, 6, 3",
        "chain": f"SELECT court_code, court_seq, event_id, encode(hash, 'hex')"
                 f" FROM {sch}.chain ORDER BY 1, 2",
        "offsets": f"SELECT topic, partition, next_offset FROM {sch}.consumer_offsets ORDER BY 1, 2",
        "dead": f'SELECT partition, "offset", kind FROM {sch}.dead_letters ORDER BY 1, 2',
    }
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            out = {}
            for name, q in queries.items():
                uow.cursor.execute(q)
                out[name] = uow.cursor.fetchall()
            return out
    finally:
        conn.close()


def applied_offsets(s: Settings, unit: str) -> int:
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute("SELECT to_regclass(%s)",
                               (f"{schema.schema_name(s, unit)}.consumer_offsets",))
            if uow.cursor.fetchone()[0] is None:
                return 0
            uow.cursor.execute(
                f"SELECT coalesce(sum(next_offset), 0) FROM {schema.schema_name(s, unit)}"
                ".consumer_offsets")
            return int(uow.cursor.fetchone()[0])
    finally:
        conn.close()


def kill_at_random(s: Settings, unit: str, total: int, kills: int, seed: int) -> int:
    """Start `hub agency run`, kill -9 it once it has applied some more records; repeat."""
    rng = random.Random(seed)
    done = 0
    for _ in range(kills):
        before = applied_offsets(s, unit)
        if before >= total:
            break
        target = before + rng.randint(1, max((total - before) // 2, 1))
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hub", "agency", "run", "--unit", unit],
            env=hub_env(s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while applied_offsets(s, unit) < target and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.005, 0.05))
        time.sleep(rng.uniform(0, 0.05))  # land anywhere: mid-batch, mid-relay, idle
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        done += 1
    return done


def check_crash_safety(s: Settings, n_listings: int, kills: int, seed: int) -> None:
    feed = CourtFeed(s, [UNIT])
    total = feed_events(feed, n_listings)
    feed.close()
    killed = kill_at_random(s, UNIT, total, kills, seed)
    assert killed >= 1
    hub_cli(s, "agency", "run", "--unit", UNIT, "--until-idle")
    check_against_rebuild(s, total)


def check_against_rebuild(s: Settings, total: int) -> None:
    """Every event applied once and acknowledged once; a rebuild gives the same projection
    and re-emits nothing."""
    survived = dump(s, UNIT)
    assert sum(o for *_, o in survived["offsets"]) == total
    assert len(survived["chain"]) == total and not survived["dead"]

    acks = read_acks(s, UNIT)
    per_event: dict[str, int] = {}
    for a in acks:
        per_event[a.event_id] = per_event.get(a.event_id, 0) + 1
    assert len(per_event) == total and set(per_event.values()) == {1}
    raw_before = len(read_topic(s, s.ack_topic(UNIT)))

    out = hub_cli(s, "agency", "rebuild", "--unit", UNIT, "--format", "json")
    assert json.loads(out.stdout)["applied"] == total
    rebuilt = dump(s, UNIT)
    for table in survived:
        assert survived[table] == rebuilt[table], table
    # the rebuild re-emitted nothing
    assert len(read_topic(s, s.ack_topic(UNIT))) == raw_before


def rebalance_at_random(s: Settings, unit: str, total: int, kills: int, seed: int) -> int:
    """Two `hub agency run` processes of the unit in its consumer group; at random moments
    one of them is killed (kill -9: its partitions move to the other, mid-batch or not) and
    started again (they move back)."""
    rng = random.Random(seed)

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "hub", "agency", "run", "--unit", unit],
            env=hub_env(s), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    group = [start(), start()]
    done = 0
    try:
        for _ in range(kills):
            before = applied_offsets(s, unit)
            if before >= total:
                break
            target = before + rng.randint(1, max((total - before) // 3, 1))
            deadline = time.monotonic() + 60
            while applied_offsets(s, unit) < target and time.monotonic() < deadline:
                time.sleep(rng.uniform(0.005, 0.05))
            k = rng.randrange(2)
            os.kill(group[k].pid, signal.SIGKILL)
            group[k].wait()
            group[k] = start()
            done += 1
    finally:
        for p in group:
            p.kill()
            p.wait()
    return done


def test_two_processes_of_one_unit_rebalanced_at_random(hub_settings: Settings) -> None:
    """A unit scaled by its consumer group (issue 19): kills and rejoins move partitions
    between its two processes while they apply; then `--processes 2 --until-idle` finishes.
    The projection equals a rebuild, one acknowledgement per event."""
    s = hub_settings
    feed = CourtFeed(s, [UNIT])
    total = feed_events(feed, 1500)
    feed.close()
    assert rebalance_at_random(s, UNIT, total, kills=4, seed=19) >= 1
    out = hub_cli(s, "agency", "run", "--unit", UNIT, "--processes", "2", "--until-idle",
                  "--format", "json")
    doc = json.loads(out.stdout)
    assert doc["done"] is True and doc["processes"] == 2
    check_against_rebuild(s, total)


def test_kill_minus_nine_then_rebuild_equals(hub_settings: Settings) -> None:
    check_crash_safety(hub_settings, n_listings=1500, kills=3, seed=7)


@pytest.mark.reliability
def test_kill_minus_nine_ten_times_20k(hub_settings: Settings) -> None:
    check_crash_safety(hub_settings, n_listings=13_400, kills=10, seed=11)


def test_late_unit_catches_up_unnoticed(hub_settings: Settings) -> None:
    s = hub_settings
    feed = CourtFeed(s, [UNIT, OTHER])
    first = feed_events(feed, 40)
    UnitConsumer(s, UNIT, sweep_seconds=3600).run(until_idle=True)
    seen_by_unit = dump(s, UNIT)
    acks_unit = read_topic(s, s.ack_topic(UNIT))
    second = feed_events(feed, 30, start=40)
    feed.close()
    # OTHER was down all along: it starts now and catches up from offset 0
    stats = UnitConsumer(s, OTHER, sweep_seconds=3600).run(until_idle=True)
    assert stats.applied == first + second
    assert len({a.event_id for a in read_acks(s, OTHER)}) == first + second
    # UNIT noticed nothing: same projection, same acks, no records consumed on its behalf
    assert dump(s, UNIT) == seen_by_unit
    assert len(read_topic(s, s.ack_topic(UNIT))) == len(acks_unit)
    UnitConsumer(s, UNIT, sweep_seconds=3600).run(until_idle=True)
    assert len({a.event_id for a in read_acks(s, UNIT)}) == first + second
