"""API keys of a unit's screening service: who may ask (X-Road's authenticated members,
payment APIs' keys shown once, stored hashed, scoped, revocable).

A key is 256 random bits, printed once by `hub agency api-keys create` and stored only as a
keyed hash (HMAC-SHA-256 under the unit's secret: `consumers.agency.unitsecret`), so the
database alone proves nothing and lets no one rebuild a key. Scopes:
- `check`     : POST /v1/checks, /v1/checks:batch, GET /v1/check (deprecated);
- `listings`  : also GET /v1/listings/{id}, ID numbers masked (non-public listings bind the
                unit but are never published: policy 三(一));
- `clear-ids` : also the clear ID numbers of a listing;
- `metrics`   : GET /metrics only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub import db
from hub.errors import InputError

SCOPES = ("check", "listings", "clear-ids", "metrics")
# A scope grants what the scopes it implies grant (a listings reader may also check).
_IMPLIES = {"check": {"check"}, "listings": {"check", "listings"},
            "clear-ids": {"check", "listings", "clear-ids"}, "metrics": {"metrics"}}
KEY_PREFIX = "hubk_"
_NAME_MAX = 64


@dataclass(frozen=True)
class Caller:
    """Who asks: the key's name (or a client certificate's subject) and what it may do."""

    name: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def parse_scopes(text: str) -> list[str]:
    """`check`, `listings,clear-ids`, …: InputError naming an unknown scope."""
    wanted = [s.strip().lower() for s in text.split(",") if s.strip()]
    if not wanted:
        raise InputError(f"--scope: give one or more of {', '.join(SCOPES)}")
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise InputError(f"--scope: unknown scope {unknown[0]!r} (valid: {', '.join(SCOPES)})")
    return sorted(set(wanted), key=SCOPES.index)


def granted(scopes: list[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset(g for s in scopes for g in _IMPLIES.get(s, ()))


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > _NAME_MAX or not all(c.isalnum() or c in "-_." for c in name):
        raise InputError(f"--name {name!r}: 1-{_NAME_MAX} letters, digits, '-', '_' or '.'")
    return name


def create(cur: Any, schema: str, secret: bytes, name: str, scopes: list[str]) -> str:
    """A new key (returned once, never stored in clear); InputError if the name is taken."""
    from consumers.agency.unitsecret import keyed_hash

    name = _check_name(name)
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    cur.execute(f"SELECT 1 FROM {schema}.api_keys WHERE name = %s", (name,))
    if cur.fetchone():
        raise InputError(f"an API key named {name!r} exists already (names are never reused)")
    cur.execute(f"INSERT INTO {schema}.api_keys (name, scopes, key_hash) VALUES (%s, %s, %s)",
                (name, scopes, keyed_hash(secret, "api-key", key)))
    return key


def revoke(cur: Any, schema: str, name: str) -> datetime:
    cur.execute(f"UPDATE {schema}.api_keys SET revoked_at = coalesce(revoked_at, now())"
                " WHERE name = %s RETURNING revoked_at", (name,))
    row = cur.fetchone()
    if row is None:
        raise InputError(f"no API key named {name!r}")
    return row[0]  # type: ignore[no-any-return]


def listing(cur: Any, schema: str) -> list[dict[str, Any]]:
    cur.execute(f"SELECT name, scopes, created_at, revoked_at FROM {schema}.api_keys ORDER BY name")
    return [{"name": n, "scope": ",".join(sc), "created_at": c.isoformat(),
             "revoked_at": r.isoformat() if r else None}
            for n, sc, c, r in cur.fetchall()]


def authenticate(cur: Any, schema: str, secret: bytes, key: str) -> Caller | None:
    """The caller a presented key belongs to, or None (unknown, malformed or revoked)."""
    from consumers.agency.unitsecret import keyed_hash

    if not key.startswith(KEY_PREFIX) or len(key) > 128:
        return None
    cur.execute(f"SELECT name, scopes FROM {schema}.api_keys WHERE key_hash = %s"
                " AND revoked_at IS NULL", (keyed_hash(secret, "api-key", key),))
    row = cur.fetchone()
    return Caller(row[0], granted(row[1])) if row else None


MIGRATION_SQL = """
CREATE TABLE {schema}.api_keys (
    name text PRIMARY KEY, scopes text[] NOT NULL, key_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(), revoked_at timestamptz);
"""


def migration(version: int) -> db.Migration:
    return db.Migration(version, "api keys", MIGRATION_SQL)
