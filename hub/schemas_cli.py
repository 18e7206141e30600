"""`hub schemas …`: inspect the Avro schemas and prove their compatibility."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import click

from hub import codec


@click.group()
def schemas() -> None:
    """Avro schemas of the hub's topics (schemas/avro)."""


@schemas.command("check")
@click.option(
    "--dir",
    "schema_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Schema folder (default: $HUB_SCHEMAS_DIR, else the repository's schemas/avro).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.pass_context
def check(ctx: click.Context, schema_dir: Path | None, output_format: str) -> None:
    """Prove full transitive compatibility of every record's versions on disk."""
    directory = schema_dir.resolve() if schema_dir else codec.schemas_dir()
    try:
        # Loaded here too (check_compatibility loads again) to count records and versions.
        loaded = codec.load_registry(directory)
        problems = codec.check_compatibility(directory)
    except codec.CodecError as e:
        # Caught here rather than left to hub.cli so the command behaves the same when a
        # test drives the group directly.
        click.echo(f"error: {e}", err=True)
        ctx.exit(1)
        return
    records = len(loaded.versions)
    versions = sum(len(v) for v in loaded.versions.values())
    if output_format == "json":
        click.echo(
            json.dumps(
                {
                    "ok": not problems,
                    "records": records,
                    "versions": versions,
                    "incompatibilities": [asdict(p) for p in problems],
                },
                ensure_ascii=False,
            )
        )
    else:
        _print_table(loaded)
        verdict = "compatible" if not problems else f"{len(problems)} incompatibilities"
        click.echo(f"{records} records, {versions} versions: {verdict}")
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        ctx.exit(1)


def _print_table(loaded: codec.Registry) -> None:
    rows = [
        (sv.full_name, f"v{sv.version}", sv.fingerprint.hex(), sv.path.name)
        for versions in loaded.versions.values()
        for sv in versions
    ]
    header = ("record", "version", "fingerprint", "file")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
