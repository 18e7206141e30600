"""`hub accounts …`: provision the broker's accounts and ACLs; print one account's
credentials as shell-sourceable settings for local use."""

from __future__ import annotations

import shlex

import click

from hub import accounts
from hub.config import settings
from hub.domain.catalogue import default_catalogue
from hub.errors import InputError
from hub.generate import COURTS
from hub.output import format_option, print_json, print_table


@click.group("accounts")
def accounts_group() -> None:
    """One unit, one account: SCRAM users and ACLs."""


@accounts_group.command("provision")
@click.option("--court", "courts", multiple=True, help="Court code (repeatable; default: the local courts).")
@click.option("--wait", type=float, default=0.0, help="Seconds to wait for the admin to log in.")
@format_option()
def provision(courts: tuple[str, ...], wait: float, fmt: str) -> None:
    """Create the court, unit, auditor accounts and their ACLs (idempotent)."""
    s = settings()
    if wait:
        accounts.wait_for_login(s, wait)
    units = list(default_catalogue().units)
    result = accounts.provision(s, courts or tuple(COURTS), units)
    doc = {"created": result.created_users, "existing": len(result.existing_users),
           "acls": result.acls, "topics_created": len(result.topics_created),
           "db_roles_created": result.db_roles_created}
    if fmt == "json":
        print_json(doc)
    else:
        print_table("accounts", ["created", "already there", "ACL bindings", "topics created",
                                 "database roles created"],
                    [[len(result.created_users), len(result.existing_users), result.acls,
                      len(result.topics_created), len(result.db_roles_created)]])


@accounts_group.command("env")
@click.option("--unit", help="Unit slug.")
@click.option("--court", help="Court code.")
@click.option("--auditor", is_flag=True, help="The auditor's account.")
def env(unit: str | None, court: str | None, auditor: bool) -> None:
    """Print one account's settings, shell-sourceable: `HUB_KAFKA_USERNAME` /
    `HUB_KAFKA_PASSWORD`, and `HUB_PG_DSN` of its own database role (units, courts)."""
    chosen = [x for x in (unit, court, auditor or None) if x]
    if len(chosen) != 1:
        raise InputError("give exactly one of --unit SLUG, --court CODE, --auditor")
    if unit:
        default_catalogue().unit(unit)  # unknown slug: a clear error
        name = accounts.unit_account(unit)
    elif court:
        name = accounts.court_account(court)
    else:
        name = accounts.AUDITOR
    for key, value in accounts.account_env(settings(), name).items():  # name: an Account
        click.echo(f"export {key}={shlex.quote(value)}")

