"""The foundation talks to the real broker and the real PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from hub import db, kafka
from hub.config import Settings, load_settings
from hub.errors import ServiceUnavailable
from tests.conftest import hub_env

pytestmark = pytest.mark.integration


def test_topics_created_with_explicit_configs(hub_settings: Settings) -> None:
    created = kafka.ensure_topics(hub_settings, kafka.topic_specs(hub_settings, ["finance"]))
    assert hub_settings.court_topic in created
    assert kafka.ensure_topics(hub_settings, kafka.topic_specs(hub_settings, ["finance"])) == []
    from kafka.admin import ConfigResource, ConfigResourceType

    with kafka.admin_client(hub_settings) as admin:
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, hub_settings.court_topic)])
    text = repr(res)
    assert "retention.ms" in text and "-1" in text


def test_produce_and_consume_roundtrip(hub_settings: Settings) -> None:
    kafka.ensure_topics(hub_settings, kafka.topic_specs(hub_settings))
    p = kafka.producer(hub_settings)
    payload = uuid.uuid4().bytes
    p.send(hub_settings.court_topic, key=b"L1", value=payload).get(timeout=30)
    p.close()
    c = kafka.consumer(hub_settings, consumer_timeout_ms=10_000)
    c.subscribe([hub_settings.court_topic])
    seen = [m.value for m in c]
    c.close()
    assert seen == [payload]


def test_migrations_run_once_and_unit_of_work_rolls_back(hub_settings: Settings) -> None:
    conn = db.connect(hub_settings.pg_dsn)
    schema = hub_settings.db_schema("found")
    m = [db.Migration(1, "t", "CREATE TABLE {schema}.t (a int)"),
         db.Migration(2, "u", "ALTER TABLE {schema}.t ADD COLUMN b int")]
    assert db.migrate(conn, schema, m) == [1, 2]
    assert db.migrate(conn, schema, m) == []
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(f"INSERT INTO {schema}.t VALUES (1, 1)")
        # not committed: rolled back at the end of the block
    with pytest.raises(RuntimeError):
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(f"INSERT INTO {schema}.t VALUES (2, 2)")
            raise RuntimeError("boom")
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(f"INSERT INTO {schema}.t VALUES (3, 3)")
        uow.commit()
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute(f"SELECT a FROM {schema}.t")
        assert [r[0] for r in uow.cursor.fetchall()] == [3]
    conn.close()


def test_service_down_is_one_clear_error() -> None:
    s = load_settings(kafka_bootstrap="127.0.0.1:9", pg_dsn="postgresql://x:y@127.0.0.1:9/x")
    with pytest.raises(ServiceUnavailable, match="Kafka at 127.0.0.1:9"):
        kafka.admin(s)
    with pytest.raises(ServiceUnavailable, match="PostgreSQL at 127.0.0.1:9"):
        db.connect(s.pg_dsn)


def test_status_reports_both_services(hub_settings: Settings) -> None:
    kafka.ensure_topics(hub_settings, kafka.topic_specs(hub_settings))
    out = subprocess.run([sys.executable, "-m", "hub", "status", "--format", "json"],
                         env=hub_env(hub_settings), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kafka"]["up"] and doc["postgres"]["up"]
    assert {t["topic"] for t in doc["kafka"]["topics"]} >= {hub_settings.court_topic}


def test_status_with_kafka_down_names_service(hub_settings: Settings) -> None:
    env = hub_env(hub_settings) | {"HUB_KAFKA_BOOTSTRAP": "127.0.0.1:9"}
    out = subprocess.run([sys.executable, "-m", "hub", "status"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "Kafka at 127.0.0.1:9" in out.stderr
    assert "Traceback" not in out.stderr
