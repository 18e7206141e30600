"""One unit, one database account: each unit's PostgreSQL role is confined to its own
projection, the court store has a role of its own, and no connection is trusted without a
password (docs/threat-model.md). Real PostgreSQL, real broker."""

from __future__ import annotations

from pathlib import Path

import psycopg2
import pytest

from consumers.agency import schema, screening
from consumers.agency.consumer import UnitConsumer
from hub import accounts, db, db_accounts
from hub.config import PROJECT_ROOT, Settings
from hub.errors import ServiceUnavailable
from producers.court import store
from tests.integration.test_agency_feed import CourtFeed, read_acks
from tests.unit.builders import list_data, when

pytestmark = pytest.mark.integration

UNIT, OTHER = "rail-air-operators", "finance"


def _as(s: Settings, unit: str) -> Settings:
    return accounts.settings_as(s, accounts.unit_account(unit))


def _fails(dsn: str, sql: str) -> str:
    conn = db.connect(dsn)
    try:
        with conn.cursor() as cur, pytest.raises(psycopg2.errors.InsufficientPrivilege) as e:
            cur.execute(sql)
        return str(e.value)
    finally:
        conn.close()


def test_a_unit_runs_as_its_own_role_and_reaches_nothing_else(provisioned: Settings) -> None:
    s = provisioned
    unit, other = _as(s, UNIT), _as(s, OTHER)
    assert unit.pg_dsn != s.pg_dsn and unit.kafka_username != s.kafka_username
    # The court store, migrated by its own role; another unit's projection, by its role.
    court = accounts.settings_as(s, accounts.court_account("350402"))
    store.open_store(court, "test").close()
    conn = db.connect(other.pg_dsn)
    schema.ensure_schema(conn, other, OTHER)
    conn.close()

    feed = CourtFeed(s, [UNIT])
    listing = list_data("L1", kind="person", decided_at=when(0))
    feed.publish(listing)
    feed.close()
    stats = UnitConsumer(unit, UNIT, sweep_seconds=3600).run(until_idle=True)
    assert stats.applied >= 1
    assert len(read_acks(s, UNIT)) == 1
    conn = db.connect(unit.pg_dsn)
    try:
        with db.unit_of_work(conn) as uow:
            answer = screening.check(uow.cursor, schema.schema_name(s, UNIT),
                                     listing["subject"]["id_number"])
        with conn.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == db_accounts.unit_role(s, UNIT)
    finally:
        conn.close()
    assert answer["decision"] == "block"

    other_schema = schema.schema_name(s, OTHER)
    assert "permission denied" in _fails(unit.pg_dsn, f"SELECT * FROM {other_schema}.listings")
    assert "permission denied" in _fails(unit.pg_dsn, f"SELECT * FROM {store.schema(s)}.outbox")
    assert "permission denied" in _fails(unit.pg_dsn, f"SELECT * FROM {store.schema(s)}.listings")
    assert "permission denied" in _fails(unit.pg_dsn, f"CREATE SCHEMA {s.db_prefix}_mine")
    assert "permission denied" in _fails(court.pg_dsn, f"SELECT * FROM {other_schema}.listings")


def test_objects_the_admin_made_before_are_handed_to_the_unit(hub_settings: Settings) -> None:
    """An older .local: the unit's projection was built under the admin. Provisioning hands
    it over, and what the admin does there afterwards stays the unit's."""
    s = hub_settings
    conn = db.connect(s.pg_dsn)
    sch = schema.ensure_schema(conn, s, UNIT)
    conn.close()
    accounts.provision(s, ["350402"], [UNIT])
    conn = db.connect(s.pg_dsn)
    schema.drop_projection(conn, sch)  # a rebuild by the admin
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = %s", (sch,))
        owners = {r[0] for r in cur.fetchall()}
        cur.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (sch,))
        schema_owner = cur.fetchone()[0]
    conn.close()
    assert owners == {db_accounts.unit_role(s, UNIT)} == {schema_owner}
    conn = db.connect(_as(s, UNIT).pg_dsn)
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {sch}.outbox")
        assert cur.fetchone()[0] == 0
    conn.close()


def test_wrong_database_password_fails(provisioned: Settings) -> None:
    bad = db_accounts.dsn_for(provisioned, db_accounts.unit_role(provisioned, UNIT), "wrong")
    with pytest.raises(ServiceUnavailable, match="password authentication failed"):
        db.connect(bad)


def test_accounts_env_gives_the_units_database_dsn(provisioned: Settings) -> None:
    env = accounts.account_env(provisioned, accounts.unit_account(UNIT))
    assert env["HUB_PG_DSN"] == _as(provisioned, UNIT).pg_dsn
    assert db_accounts.unit_role(provisioned, UNIT) in env["HUB_PG_DSN"]
    assert "HUB_PG_DSN" not in accounts.account_env(provisioned, accounts.AUDITOR)


def test_local_socket_needs_a_password(services: dict[str, str], base_settings: Settings) -> None:
    if services["source"] != "make up":
        pytest.skip("checks the client authentication of `make up`'s cluster only")
    socket_dir = PROJECT_ROOT / ".local" / "pg" / "run"
    assert Path(socket_dir).is_dir()
    with pytest.raises(psycopg2.OperationalError, match="no password supplied|authentication failed"):
        psycopg2.connect(host=str(socket_dir), port=base_settings.pg_dsn.rsplit(":", 1)[1].split("/")[0],
                         dbname="hub", user="hub", connect_timeout=5)
    hba = (PROJECT_ROOT / ".local" / "pg" / "data" / "pg_hba.conf")
    lines = [ln.split() for ln in hba.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines and all("trust" not in ln for ln in lines)
