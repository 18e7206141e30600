"""Session fixtures: a Kafka bootstrap and a PostgreSQL DSN.

Where they come from, in order: `HUB_KAFKA_BOOTSTRAP` / `HUB_PG_DSN` if set; else
testcontainers when a Docker engine answers (imported lazily: since 4.11 the import itself
contacts Docker); else the local services of `make up` (`.local/hub.env`). Integration tests
never skip for want of a service: they fail, naming what is missing.

Every test gets its own topic prefix and schema prefix, so tests never interfere."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings, _read_env_file, env_file, load_settings


def _docker_answers() -> bool:
    sock = Path("/var/run/docker.sock")
    if not sock.exists() and not os.environ.get("DOCKER_HOST"):
        return False
    try:
        if sock.exists():
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(1)
                s.connect(str(sock))
                s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return b"OK" in s.recv(256)
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    env_k, env_p = os.environ.get("HUB_KAFKA_BOOTSTRAP"), os.environ.get("HUB_PG_DSN")
    if env_k and env_p:
        yield {"kafka": env_k, "pg": env_p, "source": "environment"}
        return
    local = _read_env_file(env_file())
    if local.get("HUB_KAFKA_BOOTSTRAP") and local.get("HUB_PG_DSN"):
        yield {"kafka": local["HUB_KAFKA_BOOTSTRAP"], "pg": local["HUB_PG_DSN"], "source": "make up"}
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer  # lazy: contacts Docker on import
        from testcontainers.postgres import PostgresContainer

        with KafkaContainer("apache/kafka:4.1.1") as k, PostgresContainer("postgres:15") as p:
            dsn = p.get_connection_url().replace("postgresql+psycopg2", "postgresql")
            yield {"kafka": k.get_bootstrap_server(), "pg": dsn, "source": "testcontainers"}
        return
    pytest.fail(
        "no Kafka/PostgreSQL for integration tests: run `make up` (writes .local/hub.env), "
        "or set HUB_KAFKA_BOOTSTRAP and HUB_PG_DSN"
    )


@pytest.fixture(scope="session")
def base_settings(services: dict[str, str]) -> Settings:
    extra: dict[str, Any] = {}
    local = _read_env_file(env_file())
    for key in ("HUB_KAFKA_USERNAME", "HUB_KAFKA_PASSWORD"):
        if key in local and key not in os.environ:
            extra[key[4:].lower()] = local[key]
    return load_settings(kafka_bootstrap=services["kafka"], pg_dsn=services["pg"], **extra)


@pytest.fixture()
def hub_settings(base_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings of one test: unique topic and schema prefixes, its own state dir (keys,
    trust store). Its topics and schemas are removed afterwards."""
    tag = "t" + uuid.uuid4().hex[:10]
    s = base_settings.model_copy(
        update={"topic_prefix": f"{tag}.", "db_prefix": tag, "state_dir": tmp_path / "state"}
    )
    yield s
    _cleanup(s, tag)


# Units that `provisioned` gives accounts of their own (the tests that run them as
# themselves use these).
PROVISIONED_UNITS = ("finance", "public-security", "rail-air-operators")


@pytest.fixture()
def provisioned(hub_settings: Settings) -> Settings:
    """hub_settings (still the admin's) once the test hub has its accounts: broker users
    and ACLs, and database roles, for the court 350402, PROVISIONED_UNITS and the auditor.
    `hub.accounts.settings_as` then gives one account's settings."""
    from hub import accounts

    if not hub_settings.kafka_username:
        pytest.fail("the broker must run with SCRAM authentication (make up provisions it)")
    accounts.provision(hub_settings, ["350402"], PROVISIONED_UNITS)
    return hub_settings


def _cleanup(s: Settings, tag: str) -> None:
    from hub import db, db_accounts, kafka

    try:
        with kafka.admin_client(s) as client:
            mine = [t for t in client.list_topics() if t.startswith(f"{tag}.")]
            if mine:
                client.delete_topics(mine)
    except Exception:  # noqa: BLE001 - cleanup must not mask the test's own result
        pass
    try:
        conn = db.connect(s.pg_dsn)
        with db.unit_of_work(conn) as uow:
            uow.cursor.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (tag + "%",)
            )
            for (name,) in uow.cursor.fetchall():
                uow.cursor.execute(f"DROP SCHEMA IF EXISTS {db.ident(name)} CASCADE")
            uow.commit()
        db_accounts.drop_roles(conn, tag)
        conn.close()
    except Exception:  # noqa: BLE001
        pass


def hub_env(s: Settings) -> dict[str, str]:
    """Environment for running the `hub` CLI as a subprocess with these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_KAFKA_BOOTSTRAP=s.kafka_bootstrap,
        HUB_PG_DSN=s.pg_dsn,
        HUB_TOPIC_PREFIX=s.topic_prefix,
        HUB_DB_PREFIX=s.db_prefix,
        HUB_STATE_DIR=str(s.state_dir),
        HUB_ENV_FILE=str(s.state_dir / "none.env"),
    )
    if s.kafka_username:
        env.update(HUB_KAFKA_USERNAME=s.kafka_username, HUB_KAFKA_PASSWORD=s.kafka_password or "")
    return env
