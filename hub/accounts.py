"""One unit, one account (一單位、一賬戶): SCRAM-SHA-512 users and ACLs on the broker.

Accounts: `admin` (created when the storage is formatted), `court-<code>` per court,
`unit-<slug>` per unit of the catalogue, `auditor`. What each may do:
- court   → write (and read back, for relay recovery) `court.*`;
- unit    → read `court.*`; write only `acks.<slug>.v1` and `dlq.<slug>.v1`; its own
            consumer group and transactional ids;
- auditor → read every topic; write nothing.
Anything else is denied (`allow.everyone.if.no.acl.found=false`). The same provisioning
creates the database accounts (`hub.db_accounts`): one PostgreSQL role per unit, owning its
schema only, and one for the court store. Passwords are generated once and kept under the
state dir in a 0600 file, never in git and never logged."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from hub import db_accounts, kafka
from hub.config import Settings
from hub.errors import ConfigError, HubError, ServiceUnavailable

MECHANISM = ScramMechanism.SCRAM_SHA_512
LITERAL, PREFIXED = ACLResourcePatternType.LITERAL, ACLResourcePatternType.PREFIXED
ALLOW = ACLPermissionType.ALLOW
Op = ACLOperation


@dataclass(frozen=True)
class Account:
    kind: str  # "court" | "unit" | "auditor"
    ident: str  # court code, unit slug, or "" for the auditor

    def name(self, s: Settings) -> str:
        """SCRAM user name; a test hub (db_prefix set) gets its own users."""
        base = f"{self.kind}-{self.ident}" if self.ident else self.kind
        return f"{s.db_prefix}-{base}" if s.db_prefix else base


def court_account(code: str) -> Account:
    return Account("court", code)


def unit_account(slug: str) -> Account:
    return Account("unit", slug)


AUDITOR = Account("auditor", "")
ADMIN = "admin"


@dataclass(frozen=True)
class Grant:
    op: ACLOperation
    resource: ResourceType
    name: str
    pattern: ACLResourcePatternType = LITERAL


def grants_for(s: Settings, account: Account) -> list[Grant]:
    p = s.topic_prefix
    if account.kind == "court":
        return [
            Grant(Op.WRITE, ResourceType.TOPIC, f"{p}court.", PREFIXED),
            Grant(Op.READ, ResourceType.TOPIC, f"{p}court.", PREFIXED),
            Grant(Op.DESCRIBE, ResourceType.TOPIC, f"{p}court.", PREFIXED),
            # the supervising body's records are written with the court's tools; each is
            # believed only under its own signer's key (hub.signed)
            *[Grant(op, ResourceType.TOPIC, s.supervision_topic)
              for op in (Op.WRITE, Op.READ, Op.DESCRIBE)],
            Grant(Op.IDEMPOTENT_WRITE, ResourceType.CLUSTER, "kafka-cluster"),
        ]
    if account.kind == "unit":
        slug = account.ident
        # supervision.v1: its complaints (signed by the unit: another unit's key would not
        # be believed there)
        own = [s.ack_topic(slug), s.dlq_topic(slug), s.supervision_topic]
        return [
            Grant(Op.READ, ResourceType.TOPIC, f"{p}court.", PREFIXED),
            Grant(Op.DESCRIBE, ResourceType.TOPIC, f"{p}court.", PREFIXED),
            *[Grant(op, ResourceType.TOPIC, t) for t in own for op in (Op.WRITE, Op.READ, Op.DESCRIBE)],
            Grant(Op.READ, ResourceType.GROUP, s.unit_group(slug)),
            Grant(Op.WRITE, ResourceType.TRANSACTIONAL_ID, s.unit_group(slug), PREFIXED),
            Grant(Op.DESCRIBE, ResourceType.TRANSACTIONAL_ID, s.unit_group(slug), PREFIXED),
            Grant(Op.IDEMPOTENT_WRITE, ResourceType.CLUSTER, "kafka-cluster"),
        ]
    if account.kind == "auditor":
        if p:
            topics = [Grant(op, ResourceType.TOPIC, p, PREFIXED) for op in (Op.READ, Op.DESCRIBE)]
        else:
            topics = [Grant(op, ResourceType.TOPIC, "*") for op in (Op.READ, Op.DESCRIBE)]
        return [*topics, Grant(Op.READ, ResourceType.GROUP, f"{p}audit", PREFIXED)]
    raise ConfigError(f"unknown kind of account: {account!r}")


def acls_for(s: Settings, account: Account) -> list[ACL]:
    return [
        ACL(f"User:{account.name(s)}", "*", g.op, ALLOW, ResourcePattern(g.resource, g.name, g.pattern))
        for g in grants_for(s, account)
    ]


# --- secrets ---------------------------------------------------------------------------

def secrets_path(s: Settings) -> Path:
    return s.state_dir / "accounts.json"


def load_secrets(s: Settings) -> dict[str, str]:
    path = secrets_path(s)
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _save_secrets(s: Settings, values: dict[str, str]) -> None:
    path = secrets_path(s)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(values, fh, indent=1, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def credentials(s: Settings, account: Account) -> tuple[str, str]:
    name = account.name(s)
    pw = load_secrets(s).get(name)
    if not pw:
        raise ConfigError(f"no credentials for account {name!r}: run `hub accounts provision`")
    return name, pw


def db_role(s: Settings, account: Account) -> str | None:
    """The PostgreSQL role of an account: a unit's own, the court store's; the auditor
    reads only Kafka and has none."""
    if account.kind == "unit":
        return db_accounts.unit_role(s, account.ident)
    if account.kind == "court":
        return db_accounts.court_role(s)
    return None


def pg_dsn_for(s: Settings, account: Account) -> str | None:
    """`HUB_PG_DSN` of the account's own database role, once provisioned."""
    role = db_role(s, account)
    pw = load_secrets(s).get(db_accounts.secret_key(role)) if role else None
    return db_accounts.dsn_for(s, role, pw) if role and pw else None


def account_env(s: Settings, account: Account) -> dict[str, str]:
    """The `HUB_*` settings that make a process run as this account (`hub accounts env`,
    the units `hub agency run-all` starts)."""
    user, pw = credentials(s, account)
    env = {"HUB_KAFKA_USERNAME": user, "HUB_KAFKA_PASSWORD": pw}
    dsn = pg_dsn_for(s, account)
    if dsn:
        env["HUB_PG_DSN"] = dsn
    return env


def settings_as(s: Settings, account: Account) -> Settings:
    """Settings of one account: its broker credentials and, where it has one, its database
    role."""
    user, pw = credentials(s, account)
    update: dict[str, object] = {"kafka_username": user, "kafka_password": pw}
    dsn = pg_dsn_for(s, account)
    if dsn:
        update["pg_dsn"] = dsn
    return s.model_copy(update=update)


# --- provisioning ----------------------------------------------------------------------

@dataclass
class ProvisionResult:
    created_users: list[str]
    existing_users: list[str]
    acls: int
    topics_created: list[str]
    db_roles_created: list[str]


def wait_for_login(s: Settings, seconds: float) -> None:
    """SCRAM credentials are replayed from the metadata log after start-up: retry until
    the admin logs in (or the time is up)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with kafka.admin_client(s) as client:
                client.list_topics()
            return
        except (ServiceUnavailable, *kafka.UNAVAILABLE, *kafka.AUTH_FAILED) as e:
            if time.monotonic() >= deadline:
                raise ServiceUnavailable("Kafka", s.kafka_bootstrap, f"cannot log in as {s.kafka_username}: {e}") from e
            time.sleep(1)


def provision(s: Settings, courts: Iterable[str], units: Iterable[str]) -> ProvisionResult:
    """Create, idempotently, topics, the SCRAM users and their ACLs, and the database roles.
    Runs as the admin of both."""
    units = list(units)
    all_accounts = [court_account(c) for c in courts] + [unit_account(u) for u in units] + [AUDITOR]
    accounts = [a.name(s) for a in all_accounts]
    stored = load_secrets(s)
    topics_created = kafka.ensure_topics(s, kafka.topic_specs(s, units))
    with kafka.admin_client(s) as client:
        described = client.describe_user_scram_credentials(accounts)
        existing = {u for u, info in described.items() if info.get("credential_infos")}
        created, upserts = [], []
        for account in accounts:
            if account in existing and account in stored:
                continue
            # A user without a stored secret is unusable from here: (re)set its password.
            stored[account] = stored.get(account) or secrets.token_urlsafe(24)
            upserts.append(UserScramCredentialUpsertion(account, MECHANISM, stored[account]))
            created.append(account)
        _save_secrets(s, stored)
        if upserts:
            failed = {u: err for u, err in client.alter_user_scram_credentials(upserts).items() if err}
            if failed:
                raise HubError(f"could not create SCRAM users: {failed}")
        acls = [acl for account in all_accounts for acl in acls_for(s, account)]
        client.create_acls(acls)
    roles_created = db_accounts.provision(s, units, stored)
    _save_secrets(s, stored)
    return ProvisionResult(created, sorted(set(accounts) - set(created)), len(acls), topics_created,
                           roles_created)

