"""One unit, one database account (policy 一(二), as on the broker: `hub.accounts`).

Every unit gets a PostgreSQL role that owns its schema (`unit_<slug>`) and has no right on
any other schema, the court store included; the court store (`court`) has a role of its
own. The role has the schema's name, so a test hub (`db_prefix`) gets its own roles. The
admin (the `HUB_PG_DSN` of `make up`, a CREATEROLE role) creates them, is made a member of
each (to create the schema for it and to run maintenance), and keeps the passwords in the
accounts file under the state dir (0600), beside the broker's.

Objects a schema already held (a projection built before this, under the admin) are handed
to the new owner, so the unit's role can read and write all of it."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from hub import db
from hub.config import Settings

_KEY_PREFIX = "pg:"  # entries of the accounts file that are database roles


def unit_role(s: Settings, unit: str) -> str:
    return db.ident(s.unit_schema(unit))


def court_role(s: Settings) -> str:
    return db.ident(s.db_schema("court"))


def secret_key(role: str) -> str:
    """The role's entry in the accounts file (beside the broker's SCRAM users)."""
    return _KEY_PREFIX + role


def dsn_for(s: Settings, role: str, password: str) -> str:
    """`HUB_PG_DSN` with another role's credentials (same host, port and database)."""
    parts = urlsplit(s.pg_dsn)
    if not parts.scheme:
        raise db.DatabaseError("HUB_PG_DSN must be a postgresql:// URL to derive account DSNs")
    host = parts.hostname or "localhost"
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# Owner transfer: relations first (a table takes its indexes and the sequences of its
# columns with it), then free-standing sequences and functions.
_HAND_OVER = """
DO $$
DECLARE r record;
BEGIN
  EXECUTE format('ALTER SCHEMA %I OWNER TO %I', {schema!r}, {role!r});
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
           WHERE c.relnamespace = {schema!r}::regnamespace AND c.relkind IN ('r','p','v','m','f')
             AND pg_get_userbyid(c.relowner) <> {role!r} LOOP
    EXECUTE format(CASE WHEN r.relkind IN ('v') THEN 'ALTER VIEW %I.%I OWNER TO %I'
                        WHEN r.relkind = 'm' THEN 'ALTER MATERIALIZED VIEW %I.%I OWNER TO %I'
                        WHEN r.relkind = 'f' THEN 'ALTER FOREIGN TABLE %I.%I OWNER TO %I'
                        ELSE 'ALTER TABLE %I.%I OWNER TO %I' END, {schema!r}, r.relname, {role!r});
  END LOOP;
  FOR r IN SELECT c.relname FROM pg_class c
           WHERE c.relnamespace = {schema!r}::regnamespace AND c.relkind = 'S'
             AND pg_get_userbyid(c.relowner) <> {role!r}
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a','i')) LOOP
    EXECUTE format('ALTER SEQUENCE %I.%I OWNER TO %I', {schema!r}, r.relname, {role!r});
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
           WHERE p.pronamespace = {schema!r}::regnamespace AND pg_get_userbyid(p.proowner) <> {role!r} LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.sig, {role!r});
  END LOOP;
END $$;
"""


def ensure_role(cur: Any, role: str, password: str | None) -> str:
    """Create `role` (LOGIN, no other attribute) with its own schema, or bring an existing
    one to that shape; returns its password (a new one when `password` is None)."""
    role = db.ident(role)
    password = password or secrets.token_urlsafe(24)
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    # (Only a superuser may name SUPERUSER at all, even to deny it; a new role has none and
    # a CREATEROLE admin cannot grant it.)
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(f"{verb} ROLE {role} LOGIN NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %s",
                (password,))
    cur.execute(f"GRANT {role} TO current_user")
    cur.execute("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = %s", (role,))
    row = cur.fetchone()
    if row is None:
        cur.execute(f"CREATE SCHEMA {role} AUTHORIZATION {role}")
    else:
        cur.execute(_HAND_OVER.format(schema=role, role=role))
    # Nothing in the database is anyone's by default but its owner's; say so for this
    # schema too, in case an older set-up granted it.
    cur.execute(f"REVOKE ALL ON SCHEMA {role} FROM PUBLIC")
    return password


def provision(s: Settings, units: list[str], stored: dict[str, str]) -> list[str]:
    """Create (idempotently) the court store's role and one role per unit, their passwords
    kept in `stored` (the accounts file's mapping, updated in place); returns the roles
    created or re-keyed."""
    roles = [court_role(s)] + [unit_role(s, u) for u in units]
    changed: list[str] = []
    conn = db.connect(s.pg_dsn, "hub-accounts")
    try:
        with db.unit_of_work(conn) as uow:
            # Serialise concurrent provisioners (roles are cluster-wide).
            uow.cursor.execute("SELECT pg_advisory_xact_lock(hashtext('hub-accounts'))")
            for role in roles:
                key = secret_key(role)
                known = stored.get(key)
                stored[key] = ensure_role(uow.cursor, role, known)
                if known is None:
                    changed.append(role)
            uow.commit()
    finally:
        conn.close()
    return changed


def drop_roles(conn: db.Connection, prefix: str) -> None:
    """Drop every role whose name starts with `prefix` and what it owns (tests' cleanup)."""
    with db.unit_of_work(conn) as uow:
        uow.cursor.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",))
        for (role,) in uow.cursor.fetchall():
            role = db.ident(role)
            uow.cursor.execute(f"DROP OWNED BY {role} CASCADE")
            uow.cursor.execute(f"DROP ROLE {role}")
        uow.commit()
