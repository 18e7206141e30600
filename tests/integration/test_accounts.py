"""One unit, one account: real SCRAM users and ACLs on the real broker."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from hub import accounts, kafka
from hub.config import Settings
from hub.errors import HubError
from tests.conftest import PROVISIONED_UNITS, hub_env

pytestmark = pytest.mark.integration

UNITS = list(PROVISIONED_UNITS)


def _send(s: Settings, topic: str) -> None:
    p = kafka.producer(s, max_block_ms=5_000, delivery_timeout_ms=10_000, request_timeout_ms=5_000)
    try:
        p.send(topic, key=b"k", value=b"v").get(timeout=20)
    finally:
        p.close(timeout=5)


def _read(s: Settings, topic: str) -> list[bytes]:
    from kafka import TopicPartition

    c = kafka.consumer(s, consumer_timeout_ms=5000)
    try:
        parts = [TopicPartition(topic, p) for p in range(s.topic_partitions)]
        # kafka-python hides an unauthorised topic from metadata; listing offsets is where
        # the broker's refusal surfaces as TopicAuthorizationFailedError.
        ends = c.end_offsets(parts)
        c.assign(parts)
        c.seek_to_beginning()
        out = []
        for m in c:
            out.append(m.value)
            if sum(c.position(tp) for tp in parts) >= sum(ends.values()):
                break
        return out
    finally:
        c.close()


def test_provision_is_idempotent_and_secrets_are_private(provisioned: Settings) -> None:
    again = accounts.provision(provisioned, ["350402"], UNITS)
    assert again.created_users == []
    path = accounts.secrets_path(provisioned)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_court_writes_court_topic_and_unit_reads_it(provisioned: Settings) -> None:
    court = accounts.settings_as(provisioned, accounts.court_account("350402"))
    _send(court, provisioned.court_topic)
    unit = accounts.settings_as(provisioned, accounts.unit_account("finance"))
    assert _read(unit, provisioned.court_topic) == [b"v"]


def test_unit_cannot_write_court_topic(provisioned: Settings) -> None:
    unit = accounts.settings_as(provisioned, accounts.unit_account("finance"))
    with pytest.raises((TopicAuthorizationFailedError, KafkaError)) as err:
        _send(unit, provisioned.court_topic)
    assert "Authorization" in type(err.value).__name__ or "authoriz" in str(err.value).lower()


def test_unit_writes_own_acks_but_not_another_units(provisioned: Settings) -> None:
    unit = accounts.settings_as(provisioned, accounts.unit_account("finance"))
    _send(unit, provisioned.ack_topic("finance"))
    with pytest.raises(KafkaError):
        _send(unit, provisioned.ack_topic("public-security"))


def test_unit_cannot_read_another_units_acks(provisioned: Settings) -> None:
    other = accounts.settings_as(provisioned, accounts.unit_account("public-security"))
    _send(other, provisioned.ack_topic("public-security"))
    unit = accounts.settings_as(provisioned, accounts.unit_account("finance"))
    with pytest.raises((TopicAuthorizationFailedError, KafkaError)):
        _read(unit, provisioned.ack_topic("public-security"))


def test_unit_cannot_join_another_units_group(provisioned: Settings) -> None:
    unit = accounts.settings_as(provisioned, accounts.unit_account("finance"))
    c = kafka.consumer(unit, group_id=provisioned.unit_group("public-security"), consumer_timeout_ms=5000)
    try:
        c.subscribe([provisioned.court_topic])
        with pytest.raises((GroupAuthorizationFailedError, KafkaError)):
            c.poll(timeout_ms=10_000)
            list(c)
    finally:
        c.close()


def test_auditor_reads_everything_and_writes_nothing(provisioned: Settings) -> None:
    court = accounts.settings_as(provisioned, accounts.court_account("350402"))
    _send(court, provisioned.court_topic)
    unit = accounts.settings_as(provisioned, accounts.unit_account("finance"))
    _send(unit, provisioned.ack_topic("finance"))
    auditor = accounts.settings_as(provisioned, accounts.AUDITOR)
    assert _read(auditor, provisioned.court_topic) == [b"v"]
    assert _read(auditor, provisioned.ack_topic("finance")) == [b"v"]
    for topic in (provisioned.court_topic, provisioned.ack_topic("finance")):
        with pytest.raises(KafkaError):
            _send(auditor, topic)


def test_wrong_password_cannot_connect(provisioned: Settings) -> None:
    name, _ = accounts.credentials(provisioned, accounts.unit_account("finance"))
    bad = provisioned.model_copy(update={"kafka_username": name, "kafka_password": "wrong"})
    with pytest.raises((HubError, KafkaError)):
        with kafka.admin_client(bad) as client:
            client.list_topics()


def test_accounts_env_prints_sourceable_credentials(provisioned: Settings) -> None:
    out = subprocess.run([sys.executable, "-m", "hub", "accounts", "env", "--unit", "finance"],
                         env=hub_env(provisioned), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    name, pw = accounts.credentials(provisioned, accounts.unit_account("finance"))
    assert f"export HUB_KAFKA_USERNAME={name}" in out.stdout
    assert pw in out.stdout
    bad = subprocess.run([sys.executable, "-m", "hub", "accounts", "env", "--unit", "no-such-unit"],
                         env=hub_env(provisioned), capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "no-such-unit" in bad.stderr
