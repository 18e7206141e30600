"""Court store and relay against the real PostgreSQL and Kafka: whole-file refusal at scale,
concurrent submits, one relay at a time, checkpoints every N events."""

from __future__ import annotations

import json
import threading
import time

import pytest

from hub import db, fastappend
from producers.court import drain, relay, service, store
from tests.e2e.test_court_e2e import check_court_log, read_topic
from tests.unit.builders import bad_check, line, list_data

pytestmark = pytest.mark.integration


def many_lines(n: int, prefix: str = "L") -> list[str]:
    """n valid `list` lines, fast: one template, distinct listing ids and decision numbers."""
    template = line(list_data("@@LID@@", decision_no="@@DNO@@"))
    return [template.replace("@@LID@@", f"{prefix}{i}").replace("@@DNO@@", f"{prefix}-{i}")
            for i in range(n)]


def test_100k_file_with_one_bad_line_records_nothing(hub_settings):
    s = hub_settings
    lines = many_lines(100_000)
    bad = json.loads(lines[50_000])
    bad["subject"]["id_number"] = bad_check(bad["subject"]["id_number"])
    lines[50_000] = json.dumps(bad, ensure_ascii=False)
    with pytest.raises(service.SubmitRejected) as e:
        service.submit(s, lines, relay=False)
    assert [(x.line, x.key) for x in e.value.errors] == [(50_001, "subject.id_number")]
    assert set(store.row_counts(s).values()) == {0}


def test_concurrent_submits_keep_the_sequence_gap_free(hub_settings):
    s = hub_settings
    files = [many_lines(400, "A"), many_lines(400, "B")]
    errors: list[BaseException] = []

    def run(lines: list[str]) -> None:
        try:
            service.submit(s, lines, relay=True)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(f,)) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    service.drain(s)  # a submit's drain may have left rows to the other one's relay
    check_court_log(s, [json.loads(x) for f in files for x in f])


def test_checkpoint_every_n_events_and_one_relay_at_a_time(hub_settings):
    s = hub_settings.model_copy(update={"checkpoint_every": 100})
    service.submit(s, many_lines(250), relay=False)

    # A second relay is refused while the first holds the lock.
    conn = store.open_store(s, "test-lock-holder")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (relay.lock_key(s),))
        with pytest.raises(relay.RelayBusy):
            drain.run(s, once=True, wait=False)
    finally:
        conn.close()

    r = service.drain(s)
    assert (r.published, r.checkpoints) == (250, 3)
    sizes = [c["tree_size"] for c in store.checkpoints(s)]
    assert sizes == [100, 200, 250]
    assert len(read_topic(s, s.checkpoint_topic)) == 3
    # Nothing new: no new checkpoint either.
    assert service.drain(s).checkpoints == 0


def test_acknowledged_batches_are_marked_together_with_checkpoints_between_them(
    hub_settings, monkeypatch
):
    """A submit's rows go to the producer all at once, in batches; a mark takes the oldest
    batch and every one behind it already acknowledged, in one transaction, and folds them
    a checkpoint interval at a time (checkpoints every 70: inside batches and across)."""
    s = hub_settings.model_copy(update={"checkpoint_every": 70})
    groups: list[int] = []
    real = relay.Relay._mark

    def mark(self, rows, offsets, folds=None):  # type: ignore[no-untyped-def]
        groups.append(len(rows))
        return real(self, rows, offsets, folds)

    def all_acknowledged_first(self, queued, failed):  # type: ignore[no-untyped-def]
        if not groups:  # the first mark starts once all five are queued and acknowledged
            deadline = time.monotonic() + 30
            while len(queued) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)
            for _, sent, _ in list(queued):
                fastappend.settle(sent.landings, 30)
        return real_queued(self, queued, failed)

    real_queued = relay.Relay._mark_queued
    monkeypatch.setattr(relay.Relay, "_mark", mark)
    monkeypatch.setattr(relay.Relay, "_mark_queued", all_acknowledged_first)
    monkeypatch.setenv("HUB_RELAY_BATCH", "100")
    lines = many_lines(450)
    r = service.submit(s, lines)
    assert r.accepted == r.published == 450
    assert groups == [450]  # five batches of 100 and 50, one mark
    assert [c["tree_size"] for c in store.checkpoints(s)] == [70 * k for k in range(1, 7)] + [450]
    check_court_log(s, [json.loads(x) for x in lines])


def test_after_a_failed_mark_no_later_batch_is_marked_and_the_next_relay_recovers(
    hub_settings, monkeypatch
):
    """A batch published whose acknowledgement is lost: its mark fails, and the marks
    queued behind it mark nothing (offsets stored past it would hide it from the recovery
    scan); the next relay finds every published record and publishes the rest, once."""
    from kafka.errors import KafkaTimeoutError

    s = hub_settings
    lines = many_lines(450)
    service.submit(s, lines, relay=False)
    monkeypatch.setenv("HUB_RELAY_BATCH", "100")
    real = relay.Relay._settle
    calls: list[int] = []

    def lost_first(self, sent):  # type: ignore[no-untyped-def]
        calls.append(1)
        offsets = real(self, sent)
        if len(calls) == 1:
            raise KafkaTimeoutError("acknowledgement lost")
        return offsets

    monkeypatch.setattr(relay.Relay, "_settle", lost_first)
    with pytest.raises(KafkaTimeoutError):
        drain.drain(s)
    assert drain.unsent(s) == 450
    monkeypatch.setattr(relay.Relay, "_settle", real)
    again = drain.drain(s)
    assert again.recovered >= 100 and again.recovered + again.published == 450
    check_court_log(s, [json.loads(x) for x in lines])


def test_accumulator_state_is_small_and_persistent(hub_settings):
    s = hub_settings
    service.submit(s, many_lines(300), relay=True)
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(f"SELECT published_seq, acc_state FROM {store.schema(s)}.courts")
            (published, acc), = uow.cursor.fetchall()
    finally:
        conn.close()
    assert published == 300
    assert len(json.loads(acc)) == bin(300).count("1")  # O(log n) frontier


def test_long_running_relay_publishes_new_rows(hub_settings):
    s = hub_settings.model_copy(update={"checkpoint_seconds": 0.5})
    stop = threading.Event()
    out: list[relay.RelayResult] = []
    t = threading.Thread(target=lambda: out.append(
        drain.run(s, once=False, poll_seconds=0.1, should_stop=stop.is_set)))
    t.start()
    try:
        r = service.submit(s, many_lines(50), relay=True)  # the running relay publishes
        assert r.accepted == 50
        deadline = time.monotonic() + 30
        while drain.unsent(s) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert drain.unsent(s) == 0
    finally:
        stop.set()
        t.join(30)
    assert out and out[0].published == 50
    assert store.checkpoints(s)[-1]["tree_size"] == 50


def test_relay_publishes_through_send_where_fastappend_cannot_be_used(hub_settings,
                                                                      monkeypatch):
    """The relay's fallback, for a kafka-python without the internals hub.fastappend writes
    into: the same log, record by record through `send`."""
    from hub import fastappend

    monkeypatch.setattr(fastappend, "usable", lambda producer: False)
    s = hub_settings
    lines = many_lines(250)
    r = service.submit(s, lines, relay=False)
    monkeypatch.setenv("HUB_RELAY_BATCH", "100")
    assert drain.drain(s).published == r.accepted == 250
    check_court_log(s, [json.loads(x) for x in lines])


def test_submit_starts_its_relay_while_recording_and_falls_back_if_it_fails(hub_settings,
                                                                           monkeypatch):
    """The relay that ends a submit takes the lock and recovers while the file is being
    recorded (drain.EarlyRelay); if that fails, the drain starts one the usual way."""
    s = hub_settings
    where: list[str] = []
    real = relay.Relay.recover

    def recover(self):  # type: ignore[no-untyped-def]
        where.append(threading.current_thread().name)
        return real(self)

    monkeypatch.setattr(relay.Relay, "recover", recover)
    first = many_lines(40, prefix="E")
    assert service.submit(s, first).published == 40
    assert where == ["court-early-relay"]

    def failing(self):  # type: ignore[no-untyped-def]
        where.append(threading.current_thread().name)
        if threading.current_thread().name == "court-early-relay":
            raise ConnectionError("broker gone for a moment")
        return real(self)

    monkeypatch.setattr(relay.Relay, "recover", failing)
    where.clear()
    more = many_lines(40, prefix="F")
    assert service.submit(s, more).published == 40
    assert where == ["court-early-relay", "MainThread"]
    check_court_log(s, [json.loads(x) for x in first + more])


def test_crash_with_several_batches_in_flight_publishes_nothing_twice(hub_settings):
    """Pipelined batches: the relay dies after the first batch is acknowledged while the
    next may already be on the broker; the restart finds both and publishes the rest."""
    import subprocess
    import sys

    from tests.conftest import hub_env

    s = hub_settings
    lines = many_lines(450)
    service.submit(s, lines, relay=False)
    env = hub_env(s) | {"HUB_RELAY_BATCH": "100"}
    crashed = subprocess.run([sys.executable, "-m", "hub", "court", "relay", "--once"],
                             env=env | {"HUB_FAULT": "relay-after-publish"},
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 137, crashed.stderr
    assert 100 <= len(read_topic(s, s.court_topic)) < 450
    again = subprocess.run([sys.executable, "-m", "hub", "court", "relay", "--once", "--format",
                            "json"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["recovered"] + doc["published"] == 450 and doc["recovered"] >= 100
    check_court_log(s, [json.loads(x) for x in lines])


def test_submit_publishes_its_rows_from_memory_only_when_nothing_is_pending(
    hub_settings, monkeypatch
):
    """A submit's drain hands the rows it committed to the relay (no read-back); rows an
    earlier `--no-relay` submit left unsent must still go first, each row exactly once."""
    s = hub_settings
    read_back: list[int] = []
    fetch = relay.Relay._fetch

    def counting(self, after):  # type: ignore[no-untyped-def]
        rows = fetch(self, after)
        read_back.append(len(rows))
        return rows

    monkeypatch.setattr(relay.Relay, "_fetch", counting)
    first, second, third = many_lines(30, "P"), many_lines(20, "Q"), many_lines(10, "R")
    service.submit(s, first, relay=False)
    r = service.submit(s, second)  # the older rows are pending: read from the outbox
    assert r.published == 50 and sum(read_back) == 50
    read_back.clear()
    r = service.submit(s, third)  # nothing pending: published from memory
    assert r.published == 10 and sum(read_back) == 0
    # As `hub court submit` runs it: record, then drain with the rows the submit kept.
    fourth = many_lines(5, "S")
    r = service.submit(s, fourth, relay=False)
    assert [row[1] for row in r.committed] == [61, 62, 63, 64, 65]
    assert "committed" not in r.as_dict()
    assert service.drain_after_submit(s, preloaded=r.committed).published == 5
    assert sum(read_back) == 0
    assert service.drain(s).published == 0
    conn = store.open_store(s, "test")
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(f"SELECT published_seq FROM {store.schema(s)}.courts")
            assert [int(x) for (x,) in uow.cursor.fetchall()] == [65]
    finally:
        conn.close()
    assert store.listing_view(s, "R9")["history"][0]["published"] is True
    check_court_log(s, [json.loads(x) for x in first + second + third + fourth])


def test_public_query_follows_a_corrected_subject_id(hub_settings):
    """The subject's ID number has its own column (migration 4): a `correct` that changes
    it moves the listing from the old number to the new one, in the same submit or later."""
    from producers.court import public
    from tests.unit.builders import correct_data, person_id, when

    s = hub_settings
    old, new, later = person_id(41), person_id(42), person_id(43)
    subject = {"kind": "person", "name": "林某", "id_number": old}
    first = [list_data("P1", kind="person", subject=subject),
             correct_data("P1", {"subject.id_number": new}, decided_at=when(10))]
    service.submit(s, [line(d) for d in first])
    assert [r["listing_id"] for r in public.query(s, id_number=new)] == ["P1"]
    assert public.query(s, id_number=old) == []
    service.submit(s, [line(correct_data("P1", {"subject.id_number": later},
                                         decision_no="P1-c2", decided_at=when(20)))])
    assert [r["listing_id"] for r in public.query(s, id_number=later)] == ["P1"]
    assert public.query(s, id_number=new) == []


def test_a_listing_stores_its_state_once_a_later_decision_changes_it(hub_settings):
    """Migration 7: a listing only its listing event touched stores no state; it reads (show,
    public query, the next submit's rules) as that event folds, and a later decision, in the
    same file or another, stores the state it leads to."""
    from producers.court import public
    from tests.unit.builders import person_id, shield_data, state_of, when

    s = hub_settings
    sch = store.schema(s)
    who = person_id(45)
    n1 = list_data("N1", decision_no="N1-1", kind="person",
                   subject={"kind": "person", "name": "陳某", "id_number": who})
    n2 = list_data("N2")
    service.submit(s, [line(n1), line(n2), line(shield_data("N2", decided_at=when(10)))])

    def stored() -> dict[str, bool]:
        conn = db.connect(s.pg_dsn)
        try:
            with db.unit_of_work(conn) as uow:
                uow.cursor.execute(f"SELECT listing_id, state IS NOT NULL FROM {sch}.listings")
                return dict(uow.cursor.fetchall())
        finally:
            conn.close()

    assert stored() == {"N1": False, "N2": True}
    expected = state_of(n1).model_dump(mode="json")
    shown = store.listing_view(s, "N1")["state"]
    assert shown.pop("last_court_seq") == 1 and expected.pop("last_court_seq") == 1
    assert shown == expected
    assert store.listing_view(s, "N2")["state"]["status"] == "shielded"
    assert [r["listing_id"] for r in public.query(s, name="陳")] == ["N1"]
    assert [r["listing_id"] for r in public.query(s, id_number=who)] == ["N1"]
    # A second `list` of N1 is refused by the derived state (already listed) ...
    with pytest.raises(service.SubmitRejected):
        service.submit(s, [line(list_data("N1", decision_no="N1-again"))])
    # ... and a shield is applied to it, storing the state it leads to.
    service.submit(s, [line(shield_data("N1", decision_no="N1-shield", decided_at=when(20)))])
    assert stored() == {"N1": True, "N2": True}
    assert store.listing_view(s, "N1")["state"]["status"] == "shielded"
    assert public.query(s, name="陳") == []  # shielded: no longer public


def test_a_file_large_enough_for_worker_processes_publishes_a_valid_log(hub_settings):
    """With worker processes (validation, signing, key hashes and Merkle leaves computed
    there) and the relay started while recording: every record on its default-partitioner
    partition, signatures valid, checkpoint roots matching the events."""
    from producers.court import submit as submit_module

    s = hub_settings
    n = submit_module.POOL_FROM + submit_module.SIGN_CHUNK  # a full signing chunk + the rest
    lines = many_lines(n, prefix="W")
    r = service.submit(s, lines)
    assert r.accepted == r.published == n
    check_court_log(s, [json.loads(x) for x in lines])


def test_listings_copied_in_binary_read_back_as_recorded(hub_settings):
    """Listings go in through COPY's binary format (new ones straight, changed ones through
    a temporary table): each row reads back with its decision's recording time and its
    subject's ID number and name. A listing only its listing event touched stores no state
    (migration 7): its state is the fold of that event; a changed one stores its JSON."""
    from tests.unit.builders import correct_data

    s = hub_settings
    lines = many_lines(5_000)
    service.submit(s, lines, relay=False)  # worker processes: the fast path
    service.submit(s, [line(correct_data("L7"))], relay=False)
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            sch = store.schema(s)
            uow.cursor.execute(
                f"SELECT l.listing_id, l.updated_at = max(d.recorded_at), l.state IS NULL,"
                f" {store.listing_state_sql(sch)}, l.subject_id, l.subject_name"
                f" FROM {sch}.listings l JOIN {sch}.decisions d USING (listing_id)"
                " GROUP BY l.listing_id")
            rows = uow.cursor.fetchall()
            uow.cursor.execute(
                f"SELECT state::json->>'obligation', updated_at > (SELECT min(updated_at)"
                f" FROM {sch}.listings) FROM {sch}.listings WHERE listing_id = 'L7'")
            l7 = uow.cursor.fetchone()
    finally:
        conn.close()
    assert len(rows) == 5_000
    assert {r[1] for r in rows} == {True}
    assert [r[0] for r in rows if not r[2]] == ["L7"]
    submitted = {d["listing_id"]: d for d in map(json.loads, lines)}
    for lid, _, _, state, value, subject_id, subject_name in rows:
        st = store.state_of(state, value)
        assert (st.listing_id, st.subject.id_number, st.subject.name) == (
            lid, subject_id, subject_name)
        if lid != "L7":
            assert st.obligation == submitted[lid]["obligation"]
            assert st.status == "listed" and st.decisions == 1
    assert l7 == ("償還借款人民幣100000元", True)  # the correction, recorded later


def test_migration_4_keeps_a_stores_listings_and_their_lookup(hub_settings):
    """A store written before migration 4 (jsonb states, expression index) is migrated in
    place: same states (text since migration 6), subject ID numbers and names filled in,
    the public query still finds them, by ID number and by name."""
    from producers.court import public
    from tests.unit.builders import person_id

    s = hub_settings
    sch = store.schema(s)
    who = person_id(44)
    service.submit(s, [line(list_data("M1", kind="person", subject={
        "kind": "person", "name": "林某", "id_number": who}))], relay=False)
    conn = db.connect(s.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(f"SELECT {store.listing_state_sql(sch)} FROM {sch}.listings l")
            state = store.state_of(*uow.cursor.fetchone()).model_dump_json()
        db.drop_schema(conn, sch)
        db.migrate(conn, sch, [m for m in store.MIGRATIONS if m.version < 4])
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(
                f"INSERT INTO {sch}.listings (listing_id, court_code, state, updated_at)"
                " VALUES ('M1', '350402', %s::jsonb, now())", (state,))
            uow.commit()
        store.open_store(s, "test-migrate").close()  # applies migrations 4 to 7
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(f"SELECT subject_id, subject_name, pg_typeof(state)::text,"
                               f" state::jsonb = %s::jsonb FROM {sch}.listings", (state,))
            # text since migration 6, the name in a column since migration 7
            assert uow.cursor.fetchall() == [(who, "林某", "text", True)]
    finally:
        conn.close()
    assert [r["listing_id"] for r in public.query(s, id_number=who)] == ["M1"]
    assert [r["listing_id"] for r in public.query(s, name="林")] == ["M1"]


def test_migration_5_drops_the_event_id_index_and_recovery_still_finds_rows(hub_settings):
    """A store from before migration 5 (unique index on outbox.event_id) loses that index
    and keeps its rows; a relay that died after publishing is recovered by primary key."""
    import subprocess
    import sys

    from tests.conftest import hub_env

    s = hub_settings
    sch = store.schema(s)
    conn = db.connect(s.pg_dsn)
    try:
        db.migrate(conn, sch, [m for m in store.MIGRATIONS if m.version < 5])
        service.submit(s, many_lines(30), relay=False)  # applies migration 5
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = %s"
                               " AND tablename = 'outbox'", (sch,))
            assert [d for (d,) in uow.cursor.fetchall() if "event_id" in d] == []
            uow.cursor.execute(f"SELECT count(*) FROM {sch}.outbox")
            assert uow.cursor.fetchone()[0] == 30
    finally:
        conn.close()
    crashed = subprocess.run([sys.executable, "-m", "hub", "court", "relay", "--once"],
                             env=hub_env(s) | {"HUB_FAULT": "relay-after-publish"},
                             capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 137, crashed.stderr
    assert drain.drain(s).recovered == 30
    check_court_log(s, [json.loads(x) for x in many_lines(30)])


@pytest.mark.parametrize("relay", [False, True])
def test_a_listing_recorded_by_a_concurrent_submit_refuses_the_file_clearly(hub_settings, relay):
    """Two courts list the same listing_id at the same moment: the one that commits second
    is refused as a whole with a message naming the listing, not a database error. Even
    with its drain to follow, none of its rows is published."""
    from producers.court.submit import ConcurrentListing

    s = hub_settings
    service.submit(s, many_lines(1, prefix="warm"), relay=False)  # the store exists
    sch = store.schema(s)
    other = db.connect(s.pg_dsn)  # a submit of another court, holding L-race uncommitted
    cur = other.cursor()
    cur.execute(f"INSERT INTO {sch}.listings (listing_id, court_code, state, updated_at,"
                " subject_id, subject_name) VALUES ('L-race', '350403', '{}', now(), 'x', 'y')")
    errors: list[BaseException] = []

    def mine() -> None:
        try:
            service.submit(s, many_lines(300, prefix="R") + [
                line(list_data("L-race", decision_no="race-1"))], relay=relay)
        except BaseException as e:  # noqa: BLE001 - checked below
            errors.append(e)

    t = threading.Thread(target=mine)
    t.start()
    watch = db.connect(s.pg_dsn)
    watch.autocommit = True
    deadline = time.monotonic() + 60
    with watch.cursor() as w:  # until our COPY waits on the other transaction's key
        while time.monotonic() < deadline:
            w.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                      " 'hub-court-submit' AND wait_event_type = 'Lock'")
            if w.fetchone()[0]:
                break
            time.sleep(0.05)
    watch.close()
    other.commit()
    t.join(60)
    other.close()
    assert len(errors) == 1 and isinstance(errors[0], ConcurrentListing), errors
    assert "listing_id L-race was recorded by another submit" in str(errors[0])
    assert store.row_counts(s)["decisions"] == 1  # nothing of the refused file
    if relay:
        from hub import kafka

        assert sum(kafka.end_offsets(s, [s.court_topic]).values()) == 0


def test_copy_raises_what_its_rows_raised_and_records_nothing(hub_settings):
    """Rows made while the COPY runs (the outbox's, as the workers sign them): a failure
    there is raised as it is, not as psycopg2's "error in .read() call", and the COPY's
    transaction records nothing."""
    s = hub_settings
    conn = db.connect(s.pg_dsn)
    try:
        cur = conn.cursor()
        cur.execute("CREATE TEMP TABLE copied (n bigint)")
        conn.commit()

        def rows():
            for n in range(5_000):
                yield store.binary_row((n,))
            raise RuntimeError("court 350402: 7 values left unsigned")

        with pytest.raises(RuntimeError, match="left unsigned"):
            store.copy_binary(cur, "copied", ("n",), rows())
        conn.rollback()
        cur.execute("SELECT count(*) FROM copied")
        assert cur.fetchone()[0] == 0
    finally:
        conn.close()


def test_a_submit_writes_its_events_batches_before_its_commit(hub_settings, monkeypatch):
    """With worker processes and its relay started while recording, a submit writes its
    events into producer batches during its COPYs (relay.Staged) and folds them into its
    court's Merkle accumulator, and the drain queues them and marks them as they are; if
    they do not hold exactly the rows committed, they are dropped and the rows sent record
    by record: the same log either way, each event once, checkpoints every 70 events
    (inside and across relay batches) with roots that match it."""
    from producers.court import submit as submit_module

    s = hub_settings.model_copy(update={"checkpoint_every": 70})
    n = submit_module.POOL_FROM + 600
    sent: list[int] = []
    real_send = relay.Relay._send
    monkeypatch.setattr(relay.Relay, "_send",
                        lambda self, rows: sent.append(len(rows)) or real_send(self, rows))
    monkeypatch.setenv("HUB_RELAY_BATCH", "1000")
    folded: list[bool] = []
    real_folded = relay.Relay._folded
    monkeypatch.setattr(relay.Relay, "_folded", lambda self, cur, folds: folded.append(
        real_folded(self, cur, folds)) or folded[-1])
    first = many_lines(n, prefix="S")
    r = service.submit(s, first)
    assert r.accepted == r.published == n
    assert sent == []  # every batch was staged
    assert folded and all(folded)  # and every mark took the submit's folds
    monkeypatch.setattr(relay.Staged, "matches", lambda self, rows: False)
    second = many_lines(n, prefix="T")
    r = service.submit(s, second)
    assert r.accepted == r.published == n
    assert sum(sent) == n  # dropped: sent the usual way
    # The relay started while recording fails: nothing is written for it, and the drain's
    # own relay sends the rows.
    real_recover = relay.Relay.recover

    def failing(self):  # type: ignore[no-untyped-def]
        if threading.current_thread().name == "court-early-relay":
            raise ConnectionError("broker gone for a moment")
        return real_recover(self)

    monkeypatch.setattr(relay.Relay, "recover", failing)
    sent.clear()
    third = many_lines(n, prefix="U")
    r = service.submit(s, third)
    assert r.accepted == r.published == n
    assert sum(sent) == n
    check_court_log(s, [json.loads(x) for x in first + second + third])


def test_a_submit_runs_without_the_cyclic_collector_and_restores_it(hub_settings):
    """The cyclic garbage collector is off while a submit runs, and as it was afterwards,
    also when the file is refused."""
    import gc

    s = hub_settings
    during: list[bool] = []
    assert gc.isenabled()
    service.submit(s, many_lines(5, prefix="G"), progress=lambda n: during.append(gc.isenabled()))
    assert during == [False] and gc.isenabled()
    bad = json.loads(many_lines(1, prefix="H")[0])
    bad["subject"]["id_number"] = bad_check(bad["subject"]["id_number"])
    with pytest.raises(service.SubmitRejected):
        service.submit(s, [json.dumps(bad, ensure_ascii=False)])
    assert gc.isenabled()
    gc.disable()
    try:
        service.submit(s, many_lines(3, prefix="K"))
        assert not gc.isenabled()  # as it was
    finally:
        gc.enable()


def test_submits_of_one_process_reuse_their_connection(hub_settings):
    """The service path reuses its PostgreSQL connection from one submit to the next (no
    new SCRAM handshake per call), and a connection the server dropped in between is
    replaced, not handed out."""
    s = hub_settings
    key = (s.pg_dsn, "hub-court-submit")
    service.submit(s, many_lines(3, prefix="R"), relay=False)
    first = db._IDLE[key].get_backend_pid()
    service.submit(s, many_lines(3, prefix="S"), relay=False)
    assert db._IDLE[key].get_backend_pid() == first
    admin = db.connect(s.pg_dsn, "test-terminate")
    try:
        with db.unit_of_work(admin) as uow:
            uow.cursor.execute("SELECT pg_terminate_backend(%s)", (first,))
            uow.commit()
    finally:
        admin.close()
    service.submit(s, many_lines(3, prefix="T"), relay=False)  # not an error
    assert db._IDLE[key].get_backend_pid() != first
    assert store.row_counts(s)["decisions"] == 9
