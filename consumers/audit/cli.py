"""`hub audit …`: replay, verification with proofs, state as of any time, listing trails,
compliance reports (design.md, consumers/audit)."""

from __future__ import annotations

import base64
import binascii
import csv
import dataclasses
import io
import json
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import click

from hub.config import check_slug, settings
from hub.domain.deadlines import CST
from hub.errors import HubError, InputError
from hub.keys import load_trust
from hub.ledger import LedgerError, TrustStore, check_proof_document
from hub.output import format_option, iso_date, print_json, print_table, to_json


def _time(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        if len(value) == 10:  # a date: as of the end of that day, China Standard Time
            return datetime.combine(date.fromisoformat(value), time.max, tzinfo=CST)
        t = datetime.fromisoformat(value)
    except ValueError as e:
        raise InputError(f"--as-of: not an ISO 8601 time: {value!r}") from e
    return t if t.tzinfo is not None else t.replace(tzinfo=CST)


def _progress() -> bool:
    return sys.stderr.isatty()


@click.group()
def audit() -> None:
    """Replay and verify the court log and the acknowledgements; reports for auditors."""


@audit.command()
@format_option()
@click.option("--jobs", type=int, default=2, show_default=True,
              help="Processes verifying Ed25519 signatures (0: in the main process).")
@click.option("--all-signatures", is_flag=True,
              help="Check every court event's own Ed25519 signature too (mode "
                   "'all-signatures'; several times slower).")
@click.option("--sample-rate", type=click.FloatRange(0.0, 1.0), default=0.0,
              show_default=True,
              help="Checkpoint mode: also check the own signature of this random fraction "
                   "of the events a checkpoint covers, in the worker processes.")
def verify(fmt: str, jobs: int, all_signatures: bool, sample_rate: float) -> None:
    """Check every signature, sequence, hash chain, checkpoint and acknowledgement.

    \b
    Default mode 'checkpoint': court events covered by a signed checkpoint whose root
    equals the Merkle root recomputed from the log (in court_seq order) are authenticated
    by that checkpoint's signature; every other event (after the last checkpoint, in a
    range whose root differs, a second copy of a court_seq) has its own signature checked.
    Checkpoint and acknowledgement signatures are always all checked. The JSON output
    gives 'mode' and 'event_signatures' (how many were covered, checked, sampled)."""
    from consumers.audit.verify import run

    report = run(settings(), jobs=jobs, progress=_progress(), all_signatures=all_signatures,
                 sample_rate=sample_rate)
    doc = report.doc()
    if fmt == "json":
        print_json(doc)
    else:
        print_table(f"audit verify ({report.mode} mode)", ["checked", "count"], [
            ["court events", report.events_checked],
            ["  covered by a checkpoint", report.covered_by_checkpoint],
            ["  own signature checked", report.signatures_checked],
            ["  sampled", report.sampled],
            ["checkpoints", report.checkpoints_checked],
            ["acknowledgements", report.acks_checked],
            ["  in signed batches", report.ack_batches_checked],
            ["unit checkpoints", report.unit_checkpoints_checked],
            ["failures", report.failures_total]])
        if report.failures:
            print_table("failures", ["topic", "partition", "offset", "rule", "detail"],
                        [[f["topic"], f["partition"], f["offset"], f["rule"], f["detail"]]
                         for f in report.failures])
    if not report.ok:
        for f in report.failures[:20]:
            click.echo(f"FAIL {f['topic']}[{f['partition']}]@{f['offset']} {f['rule']}: "
                       f"{f['detail']}", err=True)
        # a HubError, not click's Exit: `python -m hub` ignores main()'s return value
        raise HubError(f"verify: {report.failures_total} failure(s)")


@audit.command()
@click.option("--event", "event_id", required=True, help="event_id of the court event.")
@click.option("--unit", help="Prove this unit's signed acknowledgement of the event instead "
                             "(its batch in a signed unit checkpoint).")
def proof(event_id: str, unit: str | None) -> None:
    """Print an offline inclusion proof (JSON) of one court event, or of a unit's
    acknowledgement of it (--unit)."""
    if unit is not None:
        from consumers.audit.ackproofs import build as build_ack

        check_slug(unit)
        click.echo(to_json(build_ack(settings(), event_id, unit, progress=_progress())))
        return
    from consumers.audit.proofs import build

    click.echo(to_json(build(settings(), event_id, progress=_progress())))


@audit.command("check-proof")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--public-key", help="Base64 Ed25519 public key of the court (instead of the "
                                   "trust store).")
@click.option("--signer", help="Its signer, e.g. court:350402 (with --public-key).")
@format_option()
def check_proof(path: Path, public_key: str | None, signer: str | None, fmt: str) -> None:
    """Check a proof document offline; exit 0 only when every check passes."""
    from consumers.audit.proofs import checkpoint_fields

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read proof {path}: {e}") from e
    if public_key is not None or signer is not None:
        if not (public_key and signer):
            raise InputError("--public-key and --signer go together")
        trust = TrustStore()
        try:
            trust.add(signer, base64.b64decode(public_key, validate=True))
        except (binascii.Error, ValueError, LedgerError) as e:
            raise InputError(f"--public-key/--signer: {e}") from e
    else:
        trust = load_trust(settings())
    try:
        result = check_proof_document(doc, trust, checkpoint_fields=checkpoint_fields)
    except LedgerError as e:
        raise HubError(f"proof invalid: {e}") from e
    if "acknowledgement" in doc:  # a unit's acknowledgement: the batch must hold the entry
        from consumers.audit.ackproofs import entry_check

        leaf = base64.b64decode(doc["event"]["value"])
        result = dataclasses.replace(result, checks=(*result.checks, entry_check(doc, leaf)))
    checks = [{"check": c.name, "status": c.status, "detail": c.detail} for c in result.checks]
    if fmt == "json":
        print_json({"ok": result.ok, "leaf_index": result.leaf_index,
                    "tree_size": result.tree_size, "checks": checks})
    else:
        print_table("proof " + ("valid" if result.ok else "INVALID"), ["check", "status",
                    "detail"], [[c["check"], c["status"], c["detail"]] for c in checks])
    if not result.ok:
        raise HubError("proof invalid: failed " + ", ".join(
            f"{c.name} ({c.detail})" for c in result.failures))


@audit.command()
@click.option("--as-of", "as_of", help="ISO 8601 time (default now); a bare date means the "
                                       "end of that day, China Standard Time.")
@click.option("--listing", "listing_id", help="Only this listing.")
@format_option()
def state(as_of: str | None, listing_id: str | None, fmt: str) -> None:
    """The state of every listing (or one) as of any time."""
    from consumers.audit.state import state_as_of

    at = _time(as_of)
    rows = state_as_of(settings(), at, listing_id, progress=_progress())
    if listing_id is not None and not rows:
        raise InputError(f"no listing {listing_id!r} as of {at.isoformat()}")
    if fmt == "json":
        print_json(rows)
        return
    print_table(f"listings as of {at.isoformat()}", ["listing", "court", "status",
                "verification", "subject", "related", "period end"],
                [[r["listing_id"], r["court_code"], r["status"],
                  "open" if r["under_verification"] else "", r["subject"]["name"],
                  len(r["related"]), r["period_end"]] for r in rows])


@audit.command()
@click.argument("listing_id")
@format_option()
def trail(listing_id: str, fmt: str) -> None:
    """A listing's court events and every concerned unit's acknowledgement."""
    from consumers.audit.trail import trail as build

    doc = build(settings(), listing_id, progress=_progress())
    if not doc["events"]:
        raise InputError(f"no court event for listing {listing_id!r}")
    if fmt == "json":
        print_json(doc)
        return
    rows = []
    for ev in doc["events"]:
        rows.append([ev["court_seq"], ev["type"], ev["decided_at"], "", "", ""])
        for u in ev["units"]:
            rows.append(["", "", "", u["unit"], "yes" if u["acknowledged"] else "MISSING",
                         u["latency_s"]])
    print_table(f"trail of {listing_id}", ["court_seq", "event", "decided at", "unit", "ack",
                                          "latency s"], rows)


UNIT_COLUMNS = ["unit", "concerned", "acked", "late", "missing", "p50_s", "p95_s", "notice_due",
                "calendar_complete", "failures_found"]
COURT_COLUMNS = ["court_code", "actions", "on_time", "late", "overdue", "pending", "not_assessable"]
LIMIT_COLUMNS = ["court_code", "listing_id", "decision_no", "rule", "status", "started_on",
                 "done_on", "due", "limit", "clause", "calendar_complete", "site"]
SUPERVISION_COLUMNS = ["unit", "notices", "second_notice_within_year", "honours_barred_until",
                       "talks", "noticed_after_talk", "complaints", "complaints_open",
                       "should_have_acted"]


def _cell(v: Any) -> Any:
    return "" if v is None else v


SHOW_ITEMS = 20  # rows of a table of items; JSON and CSV have them all
SITE_COLUMNS = ["site", "notices", "on_time", "late", "overdue", "pending", "flagged",
                "calendar_complete"]


@audit.command()
@click.option("--from", "start", help="First day (YYYY-MM-DD, CST) of the period.")
@click.option("--to", "end", help="Last day (YYYY-MM-DD, CST) of the period.")
@click.option("--sla-working-days", type=int, help="Acknowledgement limit in working days "
                                                   "(default HUB_ACK_SLA_WORKING_DAYS).")
@format_option("table", "json", "csv", "html")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of stdout.")
def compliance(start: str | None, end: str | None, sla_working_days: int | None, fmt: str,
               output: Path | None) -> None:
    """Per unit: concerned, acknowledged, late, missing; per court: late actions."""
    from consumers.audit.compliance import compliance as build
    from consumers.audit.report_html import render

    doc = build(settings(), iso_date(start, "--from"), iso_date(end, "--to"), sla_working_days,
                progress=_progress())
    backlog = doc.pop("_backlog")
    text: str | None = None
    if fmt == "json":
        text = to_json(doc)
    elif fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(UNIT_COLUMNS)
        for u in doc["units"]:
            w.writerow([u[c] for c in UNIT_COLUMNS])
        # The courts' statutory limits follow as a second table, after an empty line.
        w.writerow([])
        w.writerow(LIMIT_COLUMNS)
        for r in doc["limits"]:
            w.writerow([r[c] for c in LIMIT_COLUMNS])
        text = buf.getvalue()
    elif fmt == "html":
        period = f"{start or 'start'} – {end or 'now'}"
        text = render(doc, backlog, f"credit-hub compliance report, {period}")
    if text is not None:
        if output is not None:
            output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        else:
            click.echo(text)
        return
    _compliance_table(doc)


def _compliance_table(doc: dict[str, Any]) -> None:
    print_table("units", UNIT_COLUMNS, [[u[c] for c in UNIT_COLUMNS] for u in doc["units"]])
    print_table("courts: acts with a statutory limit", COURT_COLUMNS,
                [[c[k] for k in COURT_COLUMNS] for c in doc["courts"]])
    items = [i for c in doc["courts"] for i in c["items"]]
    if items:
        print_table("limits not met or not assessable",
                    ["listing_id", "rule", "status", "started_on", "done_on", "due", "clause"],
                    [[i["listing_id"], i["rule"], i["status"], i["started_on"] or "not recorded",
                      i["done_on"] or "", i["due"] or "", i["clause"]] for i in items])
    missing = [(c["court_code"], c["listings"], len(c["without_risk_notice"]))
               for c in doc["risk_notices"] if c["without_risk_notice"]]
    if missing:
        print_table("listings without a recorded risk notice (風險提示, policy 四(二)3)",
                    ["court_code", "listings", "without risk notice"], missing)
    if doc["supervision"]:
        print_table("supervision: formal notices (通報), talks (約談), complaints (policy 四(二)8, 四(四))",
                    SUPERVISION_COLUMNS, [[_cell(r[c]) for c in SUPERVISION_COLUMNS]
                                          for r in doc["supervision"]])
    if doc["republishers"]:
        print_table("republishing sites: deletions within 3 working days (policy 四(二)7)",
                    SITE_COLUMNS, [[d[c] for c in SITE_COLUMNS] for d in doc["republishers"]])
        late = [i for d in doc["republishers"] for i in d["items"]]
        if late:
            shown = late[:SHOW_ITEMS]
            print_table("deletions late or overdue"
                        + (f" (first {len(shown)} of {len(late)}; all in --format json|csv)"
                           if len(late) > len(shown) else ""),
                        ["site", "listing_id", "status", "started_on", "done_on", "due"],
                        [[i["site"], i["listing_id"], i["status"], i["started_on"],
                          i["done_on"] or "", i["due"]] for i in shown])
    for n in doc["notes"]:
        click.echo(f"note: {n}")
    if not doc["calendar_complete"]:
        click.echo("note: some deadlines above rest on an incomplete holiday calendar (see the notes)")
