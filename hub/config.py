"""Settings: `HUB_*` environment variables, falling back to `.local/hub.env` (written by
`make up`). One settings model for the whole hub; topic and schema names derive from it so
that tests can isolate themselves with a prefix."""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def env_file() -> Path:
    explicit = os.environ.get("HUB_ENV_FILE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("HUB_STATE_DIR", PROJECT_ROOT / ".local")) / "hub.env"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", frozen=True)

    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_username: str | None = None
    kafka_password: str | None = Field(default=None, repr=False)
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_security_protocol: str | None = None  # derived from username when unset
    kafka_request_timeout_ms: int = 30_000
    pg_dsn: str = "postgresql://hub@127.0.0.1:15432/hub"
    state_dir: Path = PROJECT_ROOT / ".local"

    # Prefix of every topic name and database schema: empty in production; tests use a
    # unique one so that they never interfere (`t3f9a.court.listings.v1`, `t3f9a_court`).
    topic_prefix: str = ""
    db_prefix: str = ""

    topic_partitions: int = 3
    topic_replication_factor: int = 1
    topic_min_insync_replicas: int = 1

    checkpoint_every: int = 1000
    checkpoint_seconds: float = 10.0
    # A unit signs a checkpoint of its acknowledgement log every N batches or S seconds
    # (consumers/agency/acklog.py), and whenever it goes idle or stops.
    unit_checkpoint_every: int = Field(default=100, ge=1)
    unit_checkpoint_seconds: float = Field(default=5.0, gt=0)
    ack_sla_working_days: int = 1
    # How long the screening service keeps its record of each answered question.
    query_retention_days: int = Field(default=1825, ge=1)
    # How often its buffered answers are written (what a crash can lose: docs/screening-api.md).
    query_flush_seconds: float = Field(default=0.2, gt=0)
    # Queries a minute one client address may make of the public page (policy 四(二)7).
    public_rate_per_minute: int = Field(default=60, ge=1)

    @field_validator("db_prefix")
    @classmethod
    def _db_prefix_is_identifier(cls, v: str) -> str:
        if v and not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", v):
            raise ValueError("must be lower-case letters, digits and _ (it prefixes schema names)")
        return v

    @property
    def security_protocol(self) -> str:
        if self.kafka_security_protocol:
            return self.kafka_security_protocol
        return "SASL_PLAINTEXT" if self.kafka_username else "PLAINTEXT"

    # --- names derived from the contracts (design.md "Topics") ---
    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def court_topic(self) -> str:
        return self.topic("court.listings.v1")

    @property
    def checkpoint_topic(self) -> str:
        return self.topic("court.checkpoints.v1")

    @property
    def republication_topic(self) -> str:
        """Deletion notices to republishing sites and their confirmations (policy 四(二)7)."""
        return self.topic("court.republication.v1")

    @property
    def supervision_topic(self) -> str:
        """Formal notices and talks of the supervising body, units' complaints (四(二)8, 四(四))."""
        return self.topic("supervision.v1")

    def ack_topic(self, unit: str) -> str:
        return self.topic(f"acks.{unit}.v1")

    def dlq_topic(self, unit: str) -> str:
        return self.topic(f"dlq.{unit}.v1")

    def db_schema(self, name: str) -> str:
        """PostgreSQL schema name: `court`, `audit`, `unit_<slug with _>`."""
        return f"{self.db_prefix}_{name}" if self.db_prefix else name

    def unit_schema(self, unit: str) -> str:
        return self.db_schema("unit_" + unit.replace("-", "_"))

    def unit_group(self, unit: str) -> str:
        return self.topic(f"unit.{unit}")

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def trust_store_path(self) -> Path:
        return self.state_dir / "trust" / "trust.json"


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


def load_settings(**overrides: object) -> Settings:
    """Environment first, then `.local/hub.env`, then defaults; keyword overrides win."""
    file_values = {
        k[4:].lower(): v
        for k, v in _read_env_file(env_file()).items()
        if k.startswith("HUB_") and k not in os.environ
    }
    try:
        loaded = Settings(**{**file_values, **overrides})  # type: ignore[arg-type]
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"setting HUB_{where.upper()}: {first['msg']}") from e
    from hub.log import register_secret  # late: log imports nothing from config

    register_secret(loaded.kafka_password)
    register_secret(urlsplit(loaded.pg_dsn).password)
    return loaded


@cache
def settings() -> Settings:
    return load_settings()


def check_slug(unit: str) -> str:
    if not SLUG_RE.match(unit):
        raise ConfigError(f"unit slug {unit!r} is not a valid slug (lower-case, digits, '-')")
    return unit
