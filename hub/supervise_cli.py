"""`hub supervise …`: the supervising body's formal notices (通報) and talks (約談) of the
punishment units (policy 四(四)), as signed records on `supervision.v1`."""

from __future__ import annotations

from typing import Any

import click

from hub.config import settings
from hub.output import format_option, iso_date, print_json, print_table


def _show(doc: dict[str, Any], fmt: str, what: str) -> None:
    if fmt == "json":
        print_json(doc)
    else:
        click.echo(f"{what} {doc['ref']} of {doc['unit']}: "
                   + ("recorded" if doc["recorded"] else "already recorded"))


_body = click.option("--body", default="leading-group", show_default=True,
                     help="Slug of the supervising body (its key signs: supervisor:<body>).")


@click.group()
def supervise() -> None:
    """Formal notices and talks of punishment units (policy 四(四))."""


@supervise.command("notice")
@click.option("--unit", required=True)
@click.option("--ref", required=True, help="The notice document's number.")
@click.option("--reason", required=True, help="What the unit failed to do.")
@click.option("--event", "event_ids", multiple=True, help="A court event it failed on (repeatable).")
@click.option("--on", "on", help="Date of the notice (default today).")
@_body
@format_option()
def notice(unit: str, ref: str, reason: str, event_ids: tuple[str, ...], on: str | None,
           body: str, fmt: str) -> None:
    """Record a formal notice (通報) of a unit: two within a year bar it from honours for a
    year from the last one."""
    from hub.supervision import record_notice

    _show(record_notice(settings(), unit, ref, reason, list(event_ids), iso_date(on, "--on"), body),
          fmt, "notice")


@supervise.command("talk")
@click.option("--unit", required=True)
@click.option("--ref", required=True, help="The talk's record number.")
@click.option("--reason", required=True)
@click.option("--on", "on", help="Date of the talk (default today).")
@_body
@format_option()
def talk(unit: str, ref: str, reason: str, on: str | None, body: str, fmt: str) -> None:
    """Record a formal talk (約談) with a unit's leaders."""
    from hub.supervision import record_talk

    _show(record_talk(settings(), unit, ref, reason, iso_date(on, "--on"), body), fmt, "talk")


@supervise.command("list")
@click.option("--unit", help="Only this unit.")
@format_option()
def list_(unit: str | None, fmt: str) -> None:
    """Notices and talks recorded, oldest first."""
    from hub.supervision import read

    log = read(settings())
    rows = [{"kind": "notice", "ref": n.ref, "unit": n.unit, "body": n.body,
             "on": n.issued_on.isoformat(), "reason": n.reason} for n in log.notices.values()]
    rows += [{"kind": "talk", "ref": t.ref, "unit": t.unit, "body": t.body,
              "on": t.held_on.isoformat(), "reason": t.reason} for t in log.talks.values()]
    rows = sorted((r for r in rows if unit is None or r["unit"] == unit),
                  key=lambda r: (r["on"], r["ref"]))
    if fmt == "json":
        print_json(rows)
        return
    cols = ["on", "kind", "unit", "ref", "body", "reason"]
    print_table("supervision", cols, [[r[c] for c in cols] for r in rows])
