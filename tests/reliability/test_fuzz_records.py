"""Fuzzing the court topic (issue 8): random byte strings and mutated Avro records (valid
signed values with flipped bytes; headers kept, dropped or altered) written into the court
topic between two valid events. Every bad record is dead-lettered (design.md "Fail loudly,
dead-letter precisely"), the consumer stays alive, and the valid event after them is
still applied."""

from __future__ import annotations

import json
import random

import pytest

from hub import kafka
from hub.config import Settings
from hub.ledger import SIG_HEADER, SIGNER_HEADER
from hub.signed import sign
from tests.integration.test_agency_feed import CourtFeed
from tests.integration.test_agency_recovery import dump
from tests.reliability.checks import hub
from tests.unit.builders import list_data, shield_data, when

pytestmark = pytest.mark.reliability

UNIT = "rail-air-operators"
N_RANDOM = 10_000
N_MUTATED = 10_000


def random_record(rng: random.Random) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    value = rng.randbytes(rng.choice([0, 1, 2, 5, 16, 64, 200, 600]))
    if rng.random() < 0.3:  # looks like our framing: the Avro single-object marker
        value = b"\xc3\x01" + value
    key = rng.choice([None, b"", rng.randbytes(8), f"L{rng.randrange(100)}".encode()])
    headers = rng.choice([
        [],
        [(SIG_HEADER, rng.randbytes(64)), (SIGNER_HEADER, b"court:350402")],
        [(SIG_HEADER, rng.randbytes(rng.randrange(100))), (SIGNER_HEADER, rng.randbytes(10))],
        [("x-junk", rng.randbytes(5))],
    ])
    return key, value, headers


def mutated_record(feed: CourtFeed, rng: random.Random, n: int
                   ) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """A valid event (listing M<n>, next court_seq) with a flipped byte or two; headers
    kept (signature no longer matches), dropped, or altered (bad signature, unknown or
    wrong signer, signature over the original by the right key but value changed)."""
    data = list_data(f"M{n}", decision_no=f"M{n}-list", decided_at=when(5))
    event, value = feed.build(data)
    headers = sign(feed.key, value)
    choice = rng.random()
    if choice < 0.85:
        flipped = bytearray(value)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(flipped))
            flipped[i] ^= rng.randrange(1, 256)
        value = bytes(flipped)
        if choice < 0.15:
            headers = []
        elif choice < 0.25:
            headers = [(SIG_HEADER, rng.randbytes(64)), (SIGNER_HEADER, b"court:999999")]
    else:  # value intact, headers altered
        sig = dict(headers)
        headers = rng.choice([
            [(SIG_HEADER, bytes(b ^ 1 for b in sig[SIG_HEADER][:1]) + sig[SIG_HEADER][1:]),
             (SIGNER_HEADER, sig[SIGNER_HEADER])],
            [(SIGNER_HEADER, sig[SIGNER_HEADER])],
            [(SIG_HEADER, sig[SIG_HEADER]), (SIGNER_HEADER, b"unit:public-security")],
        ])
    return event.meta.listing_id.encode(), value, headers


def test_garbage_on_the_court_topic_is_dead_lettered(hub_settings: Settings,
                                                    reliability_report) -> None:
    s = hub_settings
    rng = random.Random(806)
    feed = CourtFeed(s, [UNIT])
    first = feed.publish(list_data("V1", kind="person", decision_no="V1-list",
                                   decided_at=when(0)))
    bad = 0
    for _ in range(N_RANDOM):
        key, value, headers = random_record(rng)
        feed.producer.send(s.court_topic, key=key, value=value, headers=headers)
        bad += 1
    # Mutations of the next events in the chain (built, never published intact).
    seq, prev = feed.seq, feed.prev
    for n in range(N_MUTATED):
        feed.seq, feed.prev = seq, prev  # every mutant claims the same next position
        key, value, headers = mutated_record(feed, rng, n)
        feed.producer.send(s.court_topic, key=key, value=value, headers=headers)
        bad += 1
    feed.seq, feed.prev = seq, prev
    last = feed.publish(shield_data("V1", decision_no="V1-shield", decided_at=when(30)))
    feed.close()

    run = hub(s, "agency", "run", "--unit", UNIT, "--until-idle", "--format", "json",
              timeout=600)
    stats = json.loads(run.stdout)
    dlq = json.loads(hub(s, "agency", "dlq", "--unit", UNIT, "--format", "json").stdout)
    assert len(dlq["dead_letters"]) == bad, (len(dlq["dead_letters"]), bad)
    assert all(d["reason"] for d in dlq["dead_letters"])
    tables = dump(s, UNIT)
    assert [row[2] for row in tables["chain"]] == [first.meta.event_id, last.meta.event_id]
    states = {lid: json.loads(st) for lid, st, _ in tables["listings"]}
    assert list(states) == ["V1"] and states["V1"]["status"] == "shielded"
    # Every dead letter reached the unit's DLQ topic.
    published = sum(kafka.end_offsets(s, [s.dlq_topic(UNIT)]).values())
    assert published >= bad
    reliability_report.add("fuzz_court_records", faults_injected=bad, events_checked=bad + 2,
                           dead_lettered=len(dlq["dead_letters"]), lost=0, duplicated=0,
                           consumer_stats={k: stats.get(k) for k in ("applied", "dead")})
