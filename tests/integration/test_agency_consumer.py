"""The unit consumer against real Kafka and PostgreSQL (in-process consumer, stand-in court)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from consumers.agency import schema, screening
from consumers.agency.consumer import UnitConsumer
from hub import codec, db
from hub.config import Settings
from hub.domain.deadlines import CST
from hub.domain.events import DebtorListed
from hub.keys import court_signer, ensure_key
from hub.ledger import generate_key
from hub.signed import sign
from tests.integration.test_agency_feed import CourtFeed, read_ack_entries, read_acks, read_topic
from tests.unit.builders import (
    close_data,
    correct_data,
    list_data,
    open_data,
    org_id,
    person_id,
    shield_data,
    when,
)

pytestmark = pytest.mark.integration

UNIT = "rail-air-operators"  # G1, block, binds the debtor and related persons


def run_unit(s: Settings, unit: str = UNIT) -> Any:
    return UnitConsumer(s, unit, sweep_seconds=3600).run(until_idle=True)


def check(s: Settings, id_number: str, unit: str = UNIT, **kw: Any) -> dict[str, Any]:
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            return screening.check(uow.cursor, schema.schema_name(s, unit), id_number, **kw)
    finally:
        conn.close()


def test_lifecycle_measures_and_acks(hub_settings: Settings) -> None:
    s = hub_settings
    feed = CourtFeed(s, [UNIT])
    old_id, new_id = person_id(1), person_id(2)
    steps: list[tuple[dict[str, Any], str, str]] = [
        (list_data("L1", kind="person", decided_at=when(0)), "block", "clear"),
        (open_data("L1", decided_at=when(20)), "clear", "clear"),
        (close_data("L1", decided_at=when(25)), "block", "clear"),
        (correct_data("L1", {"subject.id_number": new_id}, decided_at=when(28)), "clear", "block"),
        (shield_data("L1", decided_at=when(40)), "clear", "clear"),
    ]
    for data, want_old, want_new in steps:
        feed.publish(data)
        feed.flush()
        stats = run_unit(s)
        assert stats.dead == 0
        assert check(s, old_id)["decision"] == want_old, data["action"]
        assert check(s, new_id)["decision"] == want_new, data["action"]
    feed.close()
    acks = read_acks(s, UNIT)
    got = [[(m.code, m.role.value, m.id_number, m.action.value) for m in a.measures] for a in
           sorted(acks, key=lambda a: a.court_seq)]
    assert got == [
        [("G1", "debtor", old_id, "applied")],
        [("G1", "debtor", old_id, "suspended")],
        [("G1", "debtor", old_id, "resumed")],
        [("G1", "debtor", old_id, "lifted"), ("G1", "debtor", new_id, "applied")],
        [("G1", "debtor", new_id, "lifted")],
    ]
    # valid time: before the shield the new id was blocked, before the listing nothing
    assert check(s, new_id, at=datetime(2026, 4, 5, tzinfo=CST))["decision"] == "block"
    assert check(s, old_id, at=datetime(2026, 3, 5, tzinfo=CST))["decision"] == "block"
    assert check(s, old_id, at=datetime(2026, 3, 1, tzinfo=CST))["decision"] == "clear"
    doc = check(s, new_id, at=datetime(2026, 4, 5, tzinfo=CST))
    assert doc["measures"][0]["code"] == "G1" and doc["position"]["court_seq"] == {"350402": 5}


def test_dead_letters_and_consumer_goes_on(hub_settings: Settings) -> None:
    s = hub_settings
    feed = CourtFeed(s, [UNIT])
    feed.publish(list_data("L1", decided_at=when(0)))
    key = feed.key
    # 1 garbage bytes (signed, so they pass the signature and fail to decode)
    feed.send("L1", b"\x00garbage", sign(key, b"\x00garbage"))
    # 2 unknown fingerprint
    unknown = b"\xc3\x01" + b"\x11" * 8 + b"\x00"
    feed.send("L1", unknown, sign(key, unknown))
    # 3 bad signature: a valid next event signed by another key
    event, value = feed.build(shield_data("L1", decided_at=when(30)))
    other = generate_key(court_signer("350402"))
    feed.send("L1", value, sign(other, value))
    # 4 broken chain: seq 2 with a wrong prev_hash
    good = codec.decode(value)
    assert isinstance(good.meta.court_seq, int)
    bad_meta = good.meta.model_copy(update={"prev_hash": b"\x01" * 32})
    broken = codec.encode(good.model_copy(update={"meta": bad_meta}))
    feed.send("L1", broken, sign(key, broken))
    # 5 unknown listing (validly chained as seq 2)
    feed.publish(shield_data("NOPE", decided_at=when(30)))
    # then a valid event (seq 3) about L1
    feed.publish(shield_data("L1", decided_at=when(31)))
    feed.close()
    stats = run_unit(s)
    assert stats.dead == 5
    conn = db.connect(s.pg_dsn)
    try:
        dead = screening.dead_letters(conn, schema.schema_name(s, UNIT))
    finally:
        conn.close()
    assert [d["kind"] for d in dead] == ["decode", "decode", "signature", "chain", "transition"]
    assert "unknown listing" in dead[4]["reason"]
    dlq = read_topic(s, s.dlq_topic(UNIT))
    assert len(dlq) == 5
    headers = dict(dlq[0].headers)
    assert headers["hub-dlq-topic"] == s.court_topic.encode() and "hub-dlq-reason" in headers
    # the valid event after them was applied: L1 is shielded, its measures lifted
    acks = sorted(read_acks(s, UNIT), key=lambda a: a.court_seq)
    assert [a.measures[0].action.value for a in acks] == ["applied", "lifted"]
    assert ensure_key(s, court_signer("350402"))[0].signer == "court:350402"
    assert isinstance(feed.events[0], DebtorListed)


def test_period_end_lifts_without_court_event_and_sweep_acks_once(hub_settings: Settings) -> None:
    s = hub_settings
    feed = CourtFeed(s, [UNIT])
    decided = "2024-01-02T10:00:00+08:00"  # two-year period: ended 2026-01-02
    feed.publish(list_data("OLD", kind="person", decided_at=decided, period_end="2026-01-02"))
    feed.close()
    c = UnitConsumer(s, UNIT, sweep_seconds=3600)
    c.run(until_idle=True)  # sweeps once before stopping
    debtor = feed.events[0].subject.id_number
    assert check(s, debtor)["decision"] == "clear"
    assert check(s, debtor, at=datetime(2025, 6, 1, tzinfo=CST))["decision"] == "block"
    assert check(s, debtor, at=datetime(2026, 1, 2, 23, 59, tzinfo=CST))["decision"] == "block"
    assert check(s, debtor, at=datetime(2026, 1, 3, 0, 0, tzinfo=CST))["decision"] == "clear"
    UnitConsumer(s, UNIT, sweep_seconds=0).run(until_idle=True)  # sweeps again: no new ack
    acks = sorted(read_acks(s, UNIT), key=lambda a: a.trigger.value)
    assert [(a.trigger.value, a.measures[0].action.value) for a in acks] == [
        ("court_event", "applied"), ("period_expired", "lifted")]
    assert len(read_ack_entries(s, UNIT)) == 2


def test_database_connection_lost_mid_run_resumes_exactly(hub_settings: Settings) -> None:
    """PostgreSQL drops the consumer's connections repeatedly: it retries with backoff and
    resumes from the stored offsets — every event applied once, one ack each."""
    import threading
    import time

    s = hub_settings
    feed = CourtFeed(s, [UNIT])
    n = 600
    for i in range(n):
        feed.publish(list_data(f"L{i}", decided_at=when(0), decision_no=f"L{i}-list",
                               subject={"kind": "organisation", "name": "某公司",
                                        "id_number": org_id(i + 1)}))
    feed.close()
    c = UnitConsumer(s, UNIT, sweep_seconds=3600, poll_records=50, backoff_max=0.5)
    result: list[Any] = []
    t = threading.Thread(target=lambda: result.append(c.run(until_idle=True)))
    t.start()
    admin = db.connect(s.pg_dsn)
    admin.autocommit = True
    try:
        for _ in range(6):
            time.sleep(0.3)
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name LIKE %s AND pid <> pg_backend_pid()",
                            (f"hub-agency-{UNIT}%",))
    finally:
        admin.close()
    t.join(timeout=120)
    assert result and result[0].dead == 0
    acks = read_acks(s, UNIT)
    assert len({a.event_id for a in acks}) == n == len(acks)
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            sch = schema.schema_name(s, UNIT)
            uow.cursor.execute(f"SELECT count(*), count(DISTINCT event_id) FROM {sch}.chain")
            assert uow.cursor.fetchone() == (n, n)
            uow.cursor.execute(f"SELECT count(*) FROM {sch}.measure_history")
            assert uow.cursor.fetchone()[0] == 2 * n  # debtor + legal representative (G1)
    finally:
        conn.close()


def test_not_applicable_and_unconcerned_events(hub_settings: Settings) -> None:
    s = hub_settings
    person_only = "establishment-office"  # C2: binds natural-person debtors only
    feed = CourtFeed(s, [UNIT, person_only])
    feed.publish(list_data("ORG", decided_at=when(0)))  # organisation debtor
    feed.publish(correct_data("ORG", {"obligation": "償還借款人民幣1元"}, decided_at=when(5)))
    feed.close()
    run_unit(s)
    run_unit(s, person_only)
    acks = sorted(read_acks(s, UNIT), key=lambda a: a.court_seq)
    assert [sorted((m.role.value, m.action.value) for m in a.measures) for a in acks] == [
        [("debtor", "applied"), ("legal_representative", "applied")],
        [("debtor", "not_applicable"), ("legal_representative", "not_applicable")],
    ]
    # the organisation's listing does not concern the person-only unit: tracked, not acked
    assert read_acks(s, person_only) == []
    conn = db.connect(s.pg_dsn)
    try:
        found = screening.listing(conn.cursor(), schema.schema_name(s, person_only), "ORG")
    finally:
        conn.close()
    assert found is not None and found["concerned"] is False and found["measures"] == []
    assert found["listing"]["obligation"] == "償還借款人民幣1元"
