"""`hub court republishers …`: republishing sites and their deletion notices (policy 四(二)7:
a shielded or revoked listing is deleted by every site that republished it within 3 working
days)."""

from __future__ import annotations

from typing import Any

import click

from hub.config import settings
from hub.output import aware_time, format_option, print_json, print_table


@click.group()
def republishers() -> None:
    """Sites that republish the list: register them, send their deletion notices, record
    their confirmations."""


@republishers.command("add")
@click.option("--site", required=True, help="Slug of the site, e.g. credit-news.")
@click.option("--name", required=True, help="Name of the site or its operator.")
@click.option("--url", help="Where the site republishes the list.")
@format_option()
def add(site: str, name: str, url: str | None, fmt: str) -> None:
    """Register a site and make its signing key (republisher:<site>); it is notified of every
    listing that stops being public from now on."""
    from producers.court.republish import add_site

    doc = add_site(settings(), site, name, url)
    if fmt == "json":
        print_json(doc)
        return
    click.echo(f"{'registered' if doc['added'] else 'already registered'}: {site}"
               f" ({doc['name']}) since {doc['registered_at'].isoformat()}")
    click.echo(f"signer {doc['signer']}, public key {doc['public_key']}"
               f"{' (new key)' if doc['key_created'] else ''}")


@republishers.command("list")
@format_option()
def list_(fmt: str) -> None:
    """Sites, with their deletion notices: confirmed, open, overdue, confirmed late."""
    from producers.court.republish import list_sites

    rows = list_sites(settings())
    if fmt == "json":
        print_json(rows)
        return
    cols = ["site", "name", "url", "registered_at", "notices", "confirmed", "open", "overdue",
            "late"]
    print_table("republishing sites", cols, [[r[c] for c in cols] for r in rows])


@republishers.command("notify")
@format_option()
def notify(fmt: str) -> None:
    """Issue and publish the deletion notices due now (the court relay also does this after
    each publish)."""
    from producers.court.republish import notify as run

    doc = run(settings())
    if fmt == "json":
        print_json(doc)
    else:
        click.echo(f"notices issued: {doc['issued']}, records published: {doc['published']}")


@republishers.command("notices")
@click.option("--site", required=True)
@click.option("--open", "open_only", is_flag=True, help="Only the notices not yet confirmed.")
@format_option()
def notices(site: str, open_only: bool, fmt: str) -> None:
    """A site's deletion notices: what it must delete, and by when."""
    from producers.court.republish import notices as read

    rows = read(settings(), site, pending_only=open_only)
    if fmt == "json":
        print_json(rows)
        return
    cols = ["notice_id", "listing_id", "reason", "stopped_at", "due_on", "deleted_at"]
    print_table(f"deletion notices of {site}", cols,
                [[_text(r[c]) for c in cols] for r in rows])


def _text(v: Any) -> Any:
    return v.isoformat() if hasattr(v, "isoformat") else ("" if v is None else v)


@republishers.command("confirm")
@click.option("--site", required=True)
@click.option("--notice", "notice_ids", multiple=True, help="A notice to confirm (repeatable).")
@click.option("--listing", help="Confirm every open notice of this listing.")
@click.option("--deleted-at", help="When the site deleted it (ISO 8601 with zone; default now).")
@format_option()
def confirm(site: str, notice_ids: tuple[str, ...], listing: str | None, deleted_at: str | None,
            fmt: str) -> None:
    """Record the site's deletion, signed with the site's key, and publish it."""
    from producers.court.republish import confirm as run

    doc = run(settings(), site, notice_ids, listing, aware_time(deleted_at, "--deleted-at"))
    if fmt == "json":
        print_json(doc)
        return
    click.echo(f"{site}: confirmed {len(doc['confirmed'])} notice(s)"
               + (f", {len(doc['already_confirmed'])} already confirmed"
                  if doc["already_confirmed"] else ""))
