"""Republishing sites (policy 四(二)7) end to end through the CLI and the log: a listing that
stops being public gets one court-signed deletion notice per registered site, the site
confirms with its own key, and `hub audit compliance` assesses each deletion against the
3-working-day limit: on time, late, and never confirmed (overdue, the site flagged)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hub import codec, kafka
from hub.config import Settings
from hub.domain.events import DeletionConfirmed, DeletionNotice
from hub.keys import load_trust, republisher_signer
from hub.ledger import generate_key
from hub.signed import sign, verify_record
from tests.conftest import hub_env
from tests.integration.test_agency_feed import read_topic
from tests.support import run_hub, submit
from tests.unit.builders import correct_data, list_data, revoke_data, shield_data, when

pytestmark = pytest.mark.e2e


def _json(s: Settings, *args: str) -> Any:
    return json.loads(run_hub(s, *args, "--format", "json").stdout)


def test_deletion_notices_confirmations_and_the_limit(hub_settings: Settings) -> None:
    s = hub_settings
    added = _json(s, "court", "republishers", "add", "--site", "credit-news",
                  "--name", "Credit News", "--url", "https://credit-news.example")
    assert added["added"] is True and added["signer"] == "republisher:credit-news"
    _json(s, "court", "republishers", "add", "--site", "slow-site", "--name", "Slow")
    again = _json(s, "court", "republishers", "add", "--site", "slow-site", "--name", "Slow")
    assert again["added"] is False  # idempotent, registration time kept

    submit(s, [
        list_data("PUB-S", decided_at=when(0)), shield_data("PUB-S", decided_at=when(2)),
        list_data("PUB-R", decided_at=when(0)), revoke_data("PUB-R", decided_at=when(3)),
        list_data("PUB-C", decided_at=when(0)),
        correct_data("PUB-C", {"public": False}, decided_at=when(4)),
        # never public: nothing to delete anywhere
        list_data("HIDDEN", decided_at=when(0), public=False),
        shield_data("HIDDEN", decided_at=when(2)),
        # still public: no notice
        list_data("STAYS", decided_at=when(0)),
    ])
    notices = _json(s, "court", "republishers", "notices", "--site", "credit-news")
    by_listing = {n["listing_id"]: n for n in notices}
    assert set(by_listing) == {"PUB-S", "PUB-R", "PUB-C"}
    assert {k: v["reason"] for k, v in by_listing.items()} == {
        "PUB-S": "shielded", "PUB-R": "revoked", "PUB-C": "made_non_public"}
    assert by_listing["PUB-S"]["due_on"] == "2026-03-09"  # Wed 4 March + 3 working days
    assert len(_json(s, "court", "republishers", "notices", "--site", "slow-site")) == 3
    # issuing again issues nothing new
    assert _json(s, "court", "republishers", "notify")["issued"] == 0

    # the notices are on the topic, signed by the court
    trust = load_trust(s)
    records = read_topic(s, s.republication_topic)
    models = [verify_record(trust, r.value, r.headers).model for r in records]
    assert sorted(m.listing_id for m in models if isinstance(m, DeletionNotice)) == sorted(
        ["PUB-S", "PUB-R", "PUB-C"] * 2)

    # bad confirmations: named, nothing recorded
    bad = run_hub(s, "court", "republishers", "confirm", "--site", "credit-news",
                  "--listing", "PUB-S", "--deleted-at", "2026-03-01T10:00:00+08:00", check=False)
    assert bad.returncode == 2 and "before listing PUB-S stopped being public" in bad.stderr
    bad = run_hub(s, "court", "republishers", "confirm", "--site", "credit-news",
                  "--notice", "no-such-notice", check=False)
    assert bad.returncode == 2 and "no deletion notice no-such-notice" in bad.stderr
    bad = run_hub(s, "court", "republishers", "confirm", "--site", "credit-news",
                  "--notice", by_listing["PUB-S"]["notice_id"], "--deleted-at", "2026-03-05T10:00",
                  check=False)
    assert bad.returncode == 2 and "time zone" in bad.stderr
    slow = {n["listing_id"]: n for n in _json(s, "court", "republishers", "notices", "--site", "slow-site")}
    bad = run_hub(s, "court", "republishers", "confirm", "--site", "credit-news",
                  "--notice", slow["PUB-S"]["notice_id"], check=False)
    assert bad.returncode == 2 and "was sent to site 'slow-site'" in bad.stderr
    assert len(_json(s, "court", "republishers", "notices", "--site", "credit-news", "--open")) == 3

    # credit-news: PUB-S on time, PUB-R late, PUB-C on time
    ok = _json(s, "court", "republishers", "confirm", "--site", "credit-news", "--listing", "PUB-S",
               "--deleted-at", "2026-03-05T10:00:00+08:00")
    assert ok["confirmed"] == [by_listing["PUB-S"]["notice_id"]]
    _json(s, "court", "republishers", "confirm", "--site", "credit-news",
          "--notice", by_listing["PUB-R"]["notice_id"], "--deleted-at", "2026-03-20T10:00:00+08:00")
    _json(s, "court", "republishers", "confirm", "--site", "credit-news",
          "--notice", by_listing["PUB-C"]["notice_id"], "--deleted-at", "2026-03-09T09:00:00+08:00")
    twice = _json(s, "court", "republishers", "confirm", "--site", "credit-news", "--notice",
                  by_listing["PUB-C"]["notice_id"])
    assert twice["confirmed"] == [] and twice["already_confirmed"] == [by_listing["PUB-C"]["notice_id"]]

    # a confirmation forged for slow-site (not signed with its key) is not believed
    forged = DeletionConfirmed(notice_id=slow["PUB-S"]["notice_id"], site="slow-site",
                               listing_id="PUB-S", deleted_at=when_utc("2026-03-05T10:00:00+08:00"),
                               confirmed_at=when_utc("2026-03-05T10:00:00+08:00"))
    value = codec.encode(forged)
    prod = kafka.producer(s, "test-forger")
    prod.send(s.republication_topic, key=b"slow-site", value=value,
              headers=sign(generate_key(republisher_signer("slow-site")), value)).get(timeout=30)
    prod.close()

    sites = {r["site"]: r for r in _json(s, "court", "republishers", "list")}
    assert (sites["credit-news"]["notices"], sites["credit-news"]["confirmed"],
            sites["credit-news"]["late"]) == (3, 3, 1)
    assert (sites["slow-site"]["open"], sites["slow-site"]["overdue"]) == (3, 3)

    doc = _json(s, "audit", "compliance")
    status = {(r["site"], r["listing_id"]): r["status"] for r in doc["limits"]
              if r["rule"] == "republish_delete"}
    assert status == {
        ("credit-news", "PUB-S"): "on_time", ("credit-news", "PUB-R"): "late",
        ("credit-news", "PUB-C"): "on_time",
        ("slow-site", "PUB-S"): "overdue", ("slow-site", "PUB-R"): "overdue",
        ("slow-site", "PUB-C"): "overdue"}
    rep = {d["site"]: d for d in doc["republishers"]}
    assert rep["credit-news"]["flagged"] is True and rep["credit-news"]["late"] == 1
    assert rep["slow-site"]["flagged"] is True and rep["slow-site"]["overdue"] == 3
    assert all(r["clause"] == "policy 四(二)7" for r in doc["limits"] if r["rule"] == "republish_delete")
    # the courts' own summary does not count the sites' deletions
    assert sum(c["actions"] for c in doc["courts"]) == sum(
        1 for r in doc["limits"] if r["rule"] != "republish_delete")
    table = run_hub(s, "audit", "compliance", env=hub_env(s) | {"COLUMNS": "250"}).stdout
    assert "republishing sites" in table and "slow-site" in table
    html = run_hub(s, "audit", "compliance", "--format", "html").stdout
    assert "Republishing sites" in html and "slow-site" in html
    csv = run_hub(s, "audit", "compliance", "--format", "csv").stdout
    assert "republish_delete" in csv and ",slow-site" in csv

    # a site registered now is not notified of what stopped being public before it existed
    _json(s, "court", "republishers", "add", "--site", "late-comer", "--name", "Late")
    assert _json(s, "court", "republishers", "notify")["issued"] == 0
    assert _json(s, "court", "republishers", "notices", "--site", "late-comer") == []
    bad = run_hub(s, "court", "republishers", "notices", "--site", "nobody", check=False)
    assert bad.returncode == 2 and "no republishing site 'nobody'" in bad.stderr


def when_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
