"""`hub catalogue measures|units`: print the packaged catalogue (design.md, "Catalogue").

`--format json` writes exactly one JSON document on stdout; `table` renders with rich.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hub.domain.catalogue import Catalogue, CatalogueError, default_catalogue
from hub.errors import ConfigError

_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json (one document on stdout) for programs",
)


def _catalogue() -> Catalogue:
    try:
        return default_catalogue()
    except CatalogueError as e:
        raise ConfigError(f"catalogue: {e}") from e


def measures_document(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [
        {
            "code": m.code,
            "name_zh": m.name_zh,
            "name_en": m.name_en,
            "group": m.group,
            "mode": m.mode,
            "modes": list(m.modes),
            "binds": list(m.binds),
            "units": list(m.units),
        }
        for m in catalogue.measures.values()
    ]


def units_document(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [
        {"slug": u.slug, "name_zh": u.name_zh, "name_en": u.name_en, "measures": list(u.measures)}
        for u in catalogue.units.values()
    ]


def _emit_json(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@click.group()
def catalogue() -> None:
    """The forty punishment measures and the units that enforce them."""


@catalogue.command()
@_FORMAT
def measures(fmt: str) -> None:
    """List the measures A1 … L1 (policy part 二)."""
    cat = _catalogue()
    if fmt == "json":
        _emit_json(measures_document(cat))
        return
    table = Table(title=f"{len(cat.measures)} punishment measures")
    for column in ("code", "measure", "mode", "binds", "units"):
        table.add_column(column, overflow="fold")
    for m in cat.measures.values():
        mode = " + ".join(m.modes) + (f"\n{m.mode_note}" if m.mode_note else "")
        table.add_row(
            m.code,
            f"{m.name_zh}\n{m.name_en}",
            mode,
            ", ".join(m.binds),
            ", ".join(m.units) or "-",
        )
    Console().print(table)


@catalogue.command()
@_FORMAT
def units(fmt: str) -> None:
    """List the punishment units and the measures each enforces."""
    cat = _catalogue()
    if fmt == "json":
        _emit_json(units_document(cat))
        return
    table = Table(title=f"{len(cat.units)} punishment units")
    for column in ("slug", "unit", "measures"):
        table.add_column(column, overflow="fold")
    for u in cat.units.values():
        table.add_row(u.slug, f"{u.name_zh}\n{u.name_en}", " ".join(u.measures))
    Console().print(table)
