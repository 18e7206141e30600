"""`hub court …`: submit decisions, run the relay, show a listing, manage court keys."""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from hub.config import settings
from hub.errors import InputError, ServiceUnavailable
from hub.keys import court_signer, ensure_key, key_path, load_trust
from hub.log import get_logger
from hub.output import format_option, print_json, print_table, stderr_console
from producers.court.cli_republishers import republishers

PROGRESS_FROM = 5_000  # lines: smaller files finish before a bar is worth drawing


@contextmanager
def _bar(label: str, total: int | None, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=stderr_console(), transient=False,
    ) as p:
        task = p.add_task(label, total=total)
        yield lambda n: p.advance(task, n)


def _read_lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None


log = get_logger("court.relay")


@click.group()
def court() -> None:
    """The court side: decisions in, signed events out."""


@court.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--no-relay", is_flag=True, help="Record only; leave publishing to `hub court relay`.")
@format_option()
def submit(file: str, no_relay: bool, fmt: str) -> None:
    """Validate a JSON Lines FILE of court decisions and record it in one transaction."""
    from producers.court import service

    s = settings()
    lines = _read_lines(file)
    err = click.get_text_stream("stderr")
    big = len(lines) >= PROGRESS_FROM
    try:
        with _bar("validating and recording", len(lines), big) as progress:
            result = service.submit(
                s, lines, relay=False, progress=progress, early_relay=not no_relay,
                on_key_created=lambda c: click.echo(
                    f"created the signing key of court {c} (public key added to the trust store)",
                    err=True,
                ),
            )
    except service.SubmitRejected as e:
        for problem in e.errors:
            err.write(f"{file}: {problem}\n")
        raise
    if not no_relay:
        with _bar("publishing", result.accepted or None, big) as progress:
            r = service.drain_after_submit(s, progress=progress, preloaded=result.committed,
                                           early=result.early)
        result.committed, result.early = [], None
        result.published, result.checkpoints, result.relay_note = (
            r.published, r.checkpoints, r.note,
        )
    doc = {"accepted": result.accepted, "skipped": result.skipped,
           "published": result.published, "checkpoints": result.checkpoints}
    if fmt == "json":
        print_json(doc | {"courts": result.courts, "keys_created": result.keys_created})
    else:
        print_table("court submit", ["accepted", "skipped (already recorded)", "published",
                                     "checkpoints"], [list(doc.values())])
        if result.relay_note:
            click.echo(result.relay_note, err=True)


@court.command()
@click.option("--once", is_flag=True, help="Drain the outbox, issue final checkpoints, exit.")
@format_option()
def relay(once: bool, fmt: str) -> None:
    """Publish the outbox to the court topic (long-running unless --once)."""
    from producers.court.drain import run

    stop = {"flag": False}

    def _stop(*_: Any) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    backoff = 1.0
    down: str | None = None
    while True:
        try:
            r = run(
                settings(), once=once, wait=True,
                on_wait=lambda: click.echo("another court relay is running; waiting for its lock",
                                           err=True),
                should_stop=lambda: stop["flag"],
            )
            break
        except ServiceUnavailable as e:
            # Long-running: a broker or database outage stops nothing for good (design.md
            # "retry with backoff, never skip"); the restart recovers exactly where it was.
            if once or stop["flag"]:
                raise
            if str(e) != down:
                log.warning("court relay waiting for a service", error=str(e))
                down = str(e)
            time.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
    if down:
        log.info("court relay resumed")
    doc = r.as_dict()
    if fmt == "json":
        print_json(doc)
    else:
        print_table("court relay", list(doc), [list(doc.values())])


@court.command()
@click.argument("listing_id")
@format_option()
def show(listing_id: str, fmt: str) -> None:
    """A listing's current state and its decision history."""
    from producers.court.store import listing_view

    view = listing_view(settings(), listing_id)
    if view is None:
        raise InputError(f"unknown listing {listing_id!r}")
    if fmt == "json":
        print_json(view)
        return
    st = view["state"]
    print_table(
        f"listing {listing_id}",
        ["court", "status", "verification", "ground", "period_end", "public", "subject"],
        [[st["court_code"], st["status"], st["verification"], st["ground"], st["period_end"],
          st["public"], st["subject"]["name"]]],
    )
    print_table(
        "decisions",
        ["action", "decision_no", "decided_at", "court_seq", "event_id", "published"],
        [[h["action"], h["decision_no"], h["decided_at"].isoformat(), h["court_seq"],
          h["event_id"], "yes" if h["published"] else "no"] for h in view["history"]],
    )


@court.command("public-query")
@click.option("--id-number", help="The debtor's resident ID or unified social credit code.")
@click.option("--name", help="Part of the debtor's name.")
@format_option()
def public_query(id_number: str | None, name: str | None, fmt: str) -> None:
    """The public query (policy 四(二)7): current PUBLIC listings of a debtor only; shielded,
    revoked, expired and non-public listings never appear. ID numbers are masked."""
    from producers.court.public import query

    if bool(id_number) == bool(name):
        raise InputError("give exactly one of --id-number or --name")
    rows = query(settings(), id_number=id_number, name=name)
    if fmt == "json":
        print_json(rows)
        return
    print_table("public listings", ["listing", "court", "case", "name", "id number", "ground", "since"],
                [[r["listing_id"], r["court_name"], r["case_no"], r["name"], r["id_number"],
                  r["ground"], r["listed_at"]] for r in rows])


@court.command("public-serve")
@click.option("--port", type=int, required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def public_serve(port: int, host: str) -> None:
    """Serve the public query page (HTML, and POST /api/v1/search as JSON): current public
    listings only, ID numbers masked, the free and no-commercial-use terms (policy 三(一),
    四(二)7), a rate limit per client address (HUB_PUBLIC_RATE_PER_MINUTE)."""
    from producers.court.public_web import serve
    from producers.court.store import open_store

    open_store(settings(), "hub-public-web").close()  # the store answers, migrated
    serve(settings(), host, port)


@court.group()
def keys() -> None:
    """Court signing keys."""


@keys.command("init")
@click.option("--court", "court_code", required=True, help="Court code, e.g. 350402.")
def keys_init(court_code: str) -> None:
    """Create the court's key pair (idempotent) and trust its public key."""
    s = settings()
    signer = court_signer(court_code)
    _, created = ensure_key(s, signer)
    path = key_path(s, signer)
    if created:
        click.echo(f"created {signer} key at {path}; public key added to the trust store")
    else:
        click.echo(f"{signer} key already exists at {path}; trust store checked")


@keys.command("show")
@format_option()
def keys_show(fmt: str) -> None:
    """Court public keys in the trust store."""
    s = settings()
    trust = load_trust(s)
    rows = [
        {"signer": signer, "court_code": signer.split(":", 1)[1],
         "public_key": base64.b64encode(trust.public_key(signer)).decode("ascii"),
         "private_key_here": key_path(s, signer).exists()}
        for signer in trust.signers() if signer.startswith("court:")
    ]
    if fmt == "json":
        print_json(rows)
    else:
        print_table("court keys", ["signer", "public key (base64)", "private key here"],
                    [[r["signer"], r["public_key"], r["private_key_here"]] for r in rows])


court.add_command(republishers)
