"""`hub agency complaints …`: complaints and reports (投訴舉報) a unit receives and its answers
(policy 四(二)8), signed with the unit's key on `supervision.v1`."""

from __future__ import annotations

import click

from hub.config import settings
from hub.output import format_option, iso_date, print_json, print_table


@click.group()
def complaints() -> None:
    """Complaints that a unit failed to punish: receive, answer, list."""


@complaints.command("receive")
@click.option("--unit", required=True)
@click.option("--ref", required=True, help="The unit's own number of the complaint.")
@click.option("--about", required=True, help="What is reported (no ID numbers).")
@click.option("--listing", "listing_id", help="The listing it is about.")
@click.option("--on", "on", help="Date received (default today).")
@format_option()
def receive(unit: str, ref: str, about: str, listing_id: str | None, on: str | None,
            fmt: str) -> None:
    """Record a complaint the unit received."""
    from hub.supervision import receive_complaint

    doc = receive_complaint(settings(), unit, ref, about, listing_id, iso_date(on, "--on"))
    if fmt == "json":
        print_json(doc)
    else:
        click.echo(f"complaint {ref} of {unit}: {'recorded' if doc['recorded'] else 'already recorded'}")


@complaints.command("answer")
@click.option("--unit", required=True)
@click.option("--ref", required=True)
@click.option("--finding", required=True, type=click.Choice(["unfounded", "should_have_acted"]))
@click.option("--acted-on", help="When the unit applied the punishment it owed (should_have_acted).")
@click.option("--on", "on", help="Date the reporter was answered (default today).")
@format_option()
def answer(unit: str, ref: str, finding: str, acted_on: str | None, on: str | None,
           fmt: str) -> None:
    """Record the unit's answer after investigating (it punishes first when it should have)."""
    from hub.supervision import answer_complaint

    doc = answer_complaint(settings(), unit, ref, finding, iso_date(acted_on, "--acted-on"),
                           iso_date(on, "--on"))
    if fmt == "json":
        print_json(doc)
    else:
        click.echo(f"complaint {ref} of {unit} answered ({finding}): "
                   + ("recorded" if doc["recorded"] else "already recorded"))


@complaints.command("list")
@click.option("--unit", required=True)
@click.option("--open", "open_only", is_flag=True, help="Only the complaints not yet answered.")
@format_option()
def list_(unit: str, open_only: bool, fmt: str) -> None:
    """The unit's complaints and their answers."""
    from hub.supervision import read

    log = read(settings())
    rows = []
    for c in log.complaints.values():
        if c.unit != unit:
            continue
        a = log.answers.get(c.complaint_id)
        if open_only and a is not None:
            continue
        rows.append({"ref": c.ref, "received_on": c.received_on.isoformat(),
                     "listing_id": c.listing_id, "about": c.about,
                     "finding": a.finding.value if a else None,
                     "acted_on": a.acted_on.isoformat() if a and a.acted_on else None,
                     "answered_on": a.answered_on.isoformat() if a else None})
    if fmt == "json":
        print_json(rows)
        return
    cols = ["ref", "received_on", "listing_id", "finding", "acted_on", "answered_on", "about"]
    print_table(f"complaints of {unit}", cols, [[r[c] or "" for c in cols] for r in rows])
