"""`hub agency api-keys create|list|revoke` (who may call the screening service) and
`hub agency queries` (what it was asked, for the unit's inspectors: "did unit S check
subject X before date D?")."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from hub import db
from hub.config import settings
from hub.errors import InputError
from hub.output import format_option, print_json, print_table

T = TypeVar("T")
unit_option = click.option("--unit", "unit", required=True, help="unit slug (units.md)")


def _in_unit(unit: str, fn: Callable[..., T], *args: Any, commit: bool = False) -> T:
    """`fn(cursor, schema, *args)` in one transaction of the unit's migrated schema."""
    from consumers.agency.cli import _conn

    conn, sch = _conn(unit)
    try:
        with db.unit_of_work(conn) as uow:
            result = fn(uow.cursor, sch, *args)
            if commit:
                uow.commit()
            return result
    finally:
        conn.close()


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as e:
        raise InputError(f"{option} {value!r}: not an ISO 8601 date or time") from e
    if when.tzinfo is None:
        from hub.domain.deadlines import CST

        when = when.replace(tzinfo=CST)  # a date or local time: China Standard Time
    return when


@click.group("api-keys")
def api_keys() -> None:
    """API keys of the unit's screening service (shown once, stored hashed)."""


@api_keys.command("create")
@unit_option
@click.option("--name", required=True, help="the calling system, e.g. loan-desk")
@click.option("--scope", default="check", show_default=True,
              help="check | listings | clear-ids | metrics (comma-separated)")
@format_option()
def create_cmd(unit: str, name: str, scope: str, fmt: str) -> None:
    """Create a key; it is printed once and never again."""
    from consumers.agency import apikeys
    from consumers.agency.unitsecret import unit_secret

    scopes = apikeys.parse_scopes(scope)
    key = _in_unit(unit, apikeys.create, unit_secret(settings(), unit), name, scopes, commit=True)
    doc = {"name": name.strip(), "scope": ",".join(scopes), "key": key}
    if fmt == "json":
        print_json(doc)
    else:
        print_table(f"API key of {unit} (shown once: keep it now)", ["name", "scope", "key"],
                    [[doc["name"], doc["scope"], key]])


@api_keys.command("list")
@unit_option
@format_option()
def list_cmd(unit: str, fmt: str) -> None:
    """Keys by name, scope, creation and revocation (never the keys themselves)."""
    from consumers.agency import apikeys

    keys = _in_unit(unit, apikeys.listing)
    if fmt == "json":
        print_json({"unit": unit, "keys": keys})
    else:
        print_table(f"API keys of {unit}", ["name", "scope", "created", "revoked"],
                    [[k["name"], k["scope"], k["created_at"], k["revoked_at"] or ""] for k in keys])


@api_keys.command("revoke")
@unit_option
@click.option("--name", required=True)
@format_option()
def revoke_cmd(unit: str, name: str, fmt: str) -> None:
    """Revoke a key: from now on it is refused (401)."""
    from consumers.agency import apikeys

    at = _in_unit(unit, apikeys.revoke, name, commit=True)
    doc = {"name": name, "revoked_at": at.isoformat()}
    if fmt == "json":
        print_json(doc)
    else:
        click.echo(f"revoked {name} at {doc['revoked_at']}")


COLUMNS = ("at", "key", "subject", "measure", "decision", "measures", "asked_at")


@click.command("queries")
@unit_option
@click.option("--from", "since", default=None, help="from this date or time (inclusive)")
@click.option("--to", "until", default=None, help="up to this date or time (exclusive)")
@click.option("--key", default=None, help="API key name (or tls:<certificate name>)")
@click.option("--id-number", "id_number", default=None,
              help="only questions about this subject (fingerprinted, never stored in clear)")
@format_option("table", "json", "csv")
def queries(unit: str, since: str | None, until: str | None, key: str | None,
            id_number: str | None, fmt: str) -> None:
    """The screening service's record of what it was asked and answered."""
    from consumers.agency import querylog, screening
    from consumers.agency.unitsecret import keyed_hash, unit_secret

    start, end = _when(since, "--from"), _when(until, "--to")
    fp = (keyed_hash(unit_secret(settings(), unit), "subject", screening.normalise_id(id_number))
          if id_number else None)
    rows = _in_unit(unit, lambda cur, sch: querylog.search(cur, sch, since=start, until=end,
                                                           key=key, subject_fp=fp))
    if fmt == "json":
        print_json({"unit": unit, "count": len(rows), "queries": rows})
        return
    flat = [[r["at"], r["key"], r["subject"], r["measure"] or "", r["decision"],
             " ".join(sorted({m["code"] for m in r["measures"]})), r["asked_at"]] for r in rows]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(COLUMNS)
        w.writerows(flat)
        click.echo(buf.getvalue(), nl=False)
        return
    print_table(f"screening questions answered by {unit} ({len(rows)})", list(COLUMNS), flat)
