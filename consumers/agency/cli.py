"""`hub agency …`: run a unit's consumer, keep measures, screen, serve, dead letters,
rebuild, supervise several units."""

from __future__ import annotations

import signal
import sys
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

import click

from hub import db, kafka
from hub.config import settings
from hub.errors import InputError
from hub.output import aware_time, format_option, print_json, print_table, stderr_console

unit_option = click.option("--unit", "unit", required=True, help="unit slug (units.md)")


def _stop_on_signals(consumer: Any) -> None:
    def handler(signum: int, _frame: Any) -> None:
        consumer.stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _conn(unit: str) -> tuple[db.Connection, str]:
    from consumers.agency import schema
    from consumers.agency.consumer import check_unit

    s = settings()
    check_unit(unit)
    conn = db.connect(s.pg_dsn, f"hub-agency-{unit}")
    return conn, schema.ensure_schema(conn, s, unit)


@click.group("agency")
def agency() -> None:
    """A punishment unit: projection, measures, acknowledgements, screening."""


@agency.command("run")
@unit_option
@click.option("--until-idle", is_flag=True, help="stop once caught up with the log's end at start")
@click.option("--sweep-seconds", type=float, default=60.0, show_default=True, hidden=True)
@click.option("--processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="consumers of the unit in its consumer group (each owns some partitions)")
@click.option("--instance", type=click.IntRange(0, 63), default=None, hidden=True,
              help="this member's number in the unit's group (set by --processes)")
@format_option()
def run(unit: str, until_idle: bool, sweep_seconds: float, processes: int,
        instance: int | None, fmt: str) -> None:
    """Consume the court log into the unit's projection, acknowledge, dead-letter."""
    from consumers.agency.consumer import UnitConsumer, check_unit

    if processes > 1:
        from consumers.agency import supervisor

        doc = supervisor.run_group(settings(), check_unit(unit), processes, until_idle)
        if until_idle:
            _print_stats(unit, doc, fmt)
        if doc["interrupted"]:
            sys.exit(130)
        return
    c = UnitConsumer(settings(), unit, sweep_seconds=sweep_seconds, instance=instance)
    _stop_on_signals(c)
    stats = c.run(until_idle=until_idle)
    if until_idle:
        _print_stats(unit, asdict(stats), fmt)


def _print_stats(unit: str, doc: dict[str, Any], fmt: str) -> None:
    doc = {"unit": unit, **doc}
    if fmt == "json":
        print_json(doc)
    else:
        print_table(f"unit {unit}", ["what", "count"],
                    [[k, v] for k, v in doc.items() if isinstance(v, int)])


@agency.command("rebuild")
@unit_option
@format_option()
def rebuild(unit: str, fmt: str) -> None:
    """Drop the projection and rebuild it from offset 0 (acks already emitted are not
    emitted again: same deterministic ack ids). Stop the unit's consumer first."""
    from rich.progress import Progress

    from consumers.agency import keep, schema
    from consumers.agency.consumer import UnitConsumer

    s = settings()
    conn, sch = _conn(unit)
    try:
        schema.drop_projection(conn, sch)
    finally:
        conn.close()
    total = sum(kafka.end_offsets(s, [s.court_topic]).values())
    c = UnitConsumer(s, unit, sweep_seconds=3600)
    _stop_on_signals(c)
    with Progress(console=stderr_console(), transient=False) as bar:
        task = bar.add_task(f"rebuilding {unit}", total=total or 1)
        c.on_batch = lambda st: bar.update(task, completed=sum(st.offsets.values()))
        stats = c.run(until_idle=True)
        bar.update(task, completed=total or 1)
    conn, _ = _conn(unit)
    try:
        kept = keep.restore_kept(conn, s, unit)
    finally:
        conn.close()
    _print_stats(unit, {**asdict(stats), "kept_spans": kept}, fmt)


@agency.command("keep")
@unit_option
@click.option("--listing", "listing_id", required=True)
@click.option("--measure", "code", required=True)
@click.option("--until", "until", required=True, help="end date YYYY-MM-DD")
@click.option("--reason", required=True, help="the lawful reason (policy 四(二)5)")
@format_option()
def keep_cmd(unit: str, listing_id: str, code: str, until: str, reason: str, fmt: str) -> None:
    """Keep a measure after a shield or revoke, with a reason and an end date."""
    from consumers.agency import keep
    from consumers.agency.acklog import unit_log
    from hub.keys import ensure_key, unit_signer

    try:
        end = date.fromisoformat(until)
    except ValueError as e:
        raise InputError(f"--until {until!r}: expected YYYY-MM-DD") from e
    s = settings()
    conn, sch = _conn(unit)
    try:
        key, _ = ensure_key(s, unit_signer(unit))
        with unit_log(s, unit, key) as log:
            doc = keep.keep_measure(conn, s, unit, log, listing_id, code.upper(), end, reason,
                                    datetime.now(UTC))
        doc["relayed"] = _relay_now(s, conn, sch)
    finally:
        conn.close()
    _print_doc(doc, fmt, "kept measure")


@agency.command("repair")
@unit_option
@click.option("--listing", "listing_id", required=True, help="A shielded or revoked listing.")
@click.option("--granted/--refused", required=True, help="The unit's decision.")
@click.option("--applied-on", required=True, help="Date of the subject's application (YYYY-MM-DD).")
@click.option("--on", "on", help="Date of the decision (default today).")
@format_option()
def repair_cmd(unit: str, listing_id: str, granted: bool, applied_on: str, on: str | None,
               fmt: str) -> None:
    """Decide a credit repair application (信用修復, policy 四(二)6): only after a shield or
    revoke; a granted repair is named in the unit's screening answers."""
    from consumers.agency import repairs
    from hub.keys import ensure_key, unit_signer

    def day(value: str, name: str) -> date:
        try:
            return date.fromisoformat(value)
        except ValueError as e:
            raise InputError(f"{name} {value!r}: expected YYYY-MM-DD") from e

    s = settings()
    kafka.ensure_topics(s, kafka.specs_for(s, [s.supervision_topic]))  # where it is published
    conn, sch = _conn(unit)
    try:
        key, _ = ensure_key(s, unit_signer(unit))
        doc = repairs.decide(conn, s, unit, key, listing_id, granted, day(applied_on, "--applied-on"),
                             day(on, "--on") if on else None)
        doc["relayed"] = _relay_now(s, conn, sch)
    finally:
        conn.close()
    _print_doc(doc, fmt, "credit repair")


def _relay_now(s: Any, conn: db.Connection, sch: str) -> bool:
    """Best effort: the running consumer relays whatever is left."""
    from hub import outbox
    from hub.errors import ServiceUnavailable

    try:
        producer = kafka.producer(s, client_id="hub-agency-cli", max_block_ms=10_000)
    except ServiceUnavailable:
        return False
    try:
        outbox.relay(conn, sch, producer)
        return True
    except Exception:  # noqa: BLE001 - left in the outbox for the consumer
        return False
    finally:
        producer.close(timeout=5)


def _print_doc(doc: dict[str, Any], fmt: str, title: str) -> None:
    if fmt == "json":
        print_json(doc)
    else:
        print_table(title, ["field", "value"], [[k, v] for k, v in doc.items()])


@agency.command("sweep")
@unit_option
@format_option()
def sweep_cmd(unit: str, fmt: str) -> None:
    """Acknowledge the lifting of measures of listings whose fixed period ended."""
    from consumers.agency import keep
    from consumers.agency.acklog import unit_log
    from consumers.agency.projection import Folder
    from hub.domain.catalogue import default_catalogue
    from hub.keys import ensure_key, load_trust, unit_signer

    s = settings()
    conn, sch = _conn(unit)
    try:
        key, _ = ensure_key(s, unit_signer(unit))
        folder = Folder(s, unit, key, default_catalogue(), lambda: load_trust(s))
        with unit_log(s, unit, key) as log:
            n = keep.sweep(conn, s, unit, folder, datetime.now(UTC), log)
        relayed = _relay_now(s, conn, sch)
    finally:
        conn.close()
    _print_doc({"unit": unit, "expired_acknowledged": n, "relayed": relayed}, fmt, "sweep")


@agency.command("check")
@unit_option
@click.option("--id-number", "id_number", required=True)
@click.option("--measure", "code", default=None, help="measure code of the act (A1…L1)")
@click.option("--at", "at", default=None, help="moment of valid time (ISO 8601 with offset)")
@format_option()
def check_cmd(unit: str, id_number: str, code: str | None, at: str | None, fmt: str) -> None:
    """block | review | clear for a person or organisation, with the measures behind it."""
    from consumers.agency import screening
    from consumers.agency.consumer import check_unit

    # A bad number or measure code is an input error (exit 2) before any I/O; codes are
    # case-insensitive, and one the unit does not apply is refused, never answered "clear".
    question = screening.subject(id_number, code, aware_time(at, "--at"), check_unit(unit))
    conn, sch = _conn(unit)
    try:
        with db.unit_of_work(conn) as uow:
            doc = screening.check(uow.cursor, sch, question.id_number, question.measure,
                                  question.at)
    finally:
        conn.close()
    if fmt == "json":
        print_json(doc)
        return
    click.echo(f"decision: {doc['decision']}")
    print_table("measures", ["code", "mode", "listing", "role", "suspended", "until"], [
        [m["code"], m["mode"], m["listing_id"], m["role"], m["suspended"],
         m["kept_until"] or m["until"]] for m in doc["measures"]
    ])
    for r in doc["credit_repairs"]:
        click.echo(f"credit repaired: listing {r['listing_id']} on {r['decided_on']}")
    pos = doc["position"]
    click.echo(f"position: offsets {pos['offsets']} court_seq {pos['court_seq']}")


@agency.command("serve")
@unit_option
@click.option("--port", type=int, required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="server certificate (PEM): serve HTTPS")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None,
              help="its private key (PEM)")
@click.option("--tls-client-ca", type=click.Path(exists=True, dir_okay=False), default=None,
              help="CA of the callers' client certificates: require mutual TLS")
@click.option("--tls-client-scope", default="check", show_default=True,
              help="scope a verified client certificate grants")
def serve_cmd(unit: str, port: int, host: str, tls_cert: str | None, tls_key: str | None,
              tls_client_ca: str | None, tls_client_scope: str) -> None:
    """Serve the screening API (POST /v1/checks, /v1/checks:batch, GET /v1/listings/{id},
    /metrics; /healthz and /openapi.json open). Callers: API keys, or client certificates."""
    from consumers.agency import api, apikeys

    if tls_client_ca and not tls_cert:
        raise InputError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS)")
    if bool(tls_cert) != bool(tls_key):
        raise InputError("--tls-cert and --tls-key go together")
    [scope] = apikeys.parse_scopes(tls_client_scope)[:1]
    conn, _ = _conn(unit)
    conn.close()
    api.serve(settings(), unit, host, port, tls_cert=tls_cert, tls_key=tls_key,
              tls_client_ca=tls_client_ca, tls_client_scope=scope)


@agency.command("dlq")
@unit_option
@format_option()
def dlq_cmd(unit: str, fmt: str) -> None:
    """The unit's dead letters, with reasons and origins."""
    from consumers.agency import screening

    conn, sch = _conn(unit)
    try:
        rows = screening.dead_letters(conn, sch)
    finally:
        conn.close()
    if fmt == "json":
        print_json({"unit": unit, "dead_letters": rows})
        return
    print_table(f"dead letters of {unit}", ["id", "partition", "offset", "kind", "reason"],
                [[r["id"], r["partition"], r["offset"], r["kind"], r["reason"]] for r in rows])


@agency.command("run-all")
@click.option("--units", default=None, help="comma-separated slugs (default: every unit)")
@click.option("--until-idle", is_flag=True)
@format_option()
def run_all(units: str | None, until_idle: bool, fmt: str) -> None:
    """Supervise several units as separate processes; restart crashed ones."""
    from consumers.agency import supervisor
    from consumers.agency.consumer import check_unit
    from hub.domain.catalogue import default_catalogue

    slugs = [u.strip() for u in units.split(",") if u.strip()] if units else list(
        default_catalogue().units)
    for u in slugs:
        check_unit(u)
    doc = supervisor.supervise(settings(), slugs, until_idle)
    if fmt == "json":
        print_json(doc)
    else:
        print_table("units", ["unit", "restarts", "done"],
                    [[u["unit"], u["restarts"], u["done"]] for u in doc["units"]])
    if doc["interrupted"]:
        sys.exit(130)


def _register() -> None:
    from consumers.agency import cli_complaints, cli_screening

    agency.add_command(cli_screening.api_keys)
    agency.add_command(cli_screening.queries)
    agency.add_command(cli_complaints.complaints)


_register()
