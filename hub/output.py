"""Printing data the way every `hub` command does: `--format json` prints one JSON
document on stdout and nothing else; `table` renders with rich. Also the parsers of the
time and date options every command shares (`aware_time`, `iso_date`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from hub.errors import InputError

FORMATS = ("table", "json")


def format_option(*choices: str) -> Callable[[Any], Any]:
    return click.option(
        "--format", "fmt", type=click.Choice(choices or FORMATS), default="table",
        show_default=True, help="Output format.",
    )


def _default(o: Any) -> Any:
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if isinstance(o, bytes):
        return o.hex()
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def to_json(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, default=_default)


def print_json(doc: Any) -> None:
    click.echo(to_json(doc))


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*["" if v is None else str(v) for v in r])
    Console().print(table)


def stderr_console() -> Console:
    return Console(stderr=True)


def aware_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time with an offset given on the command line (None when absent)."""
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError as e:
        raise InputError(f"{option} {value!r}: not an ISO 8601 time") from e
    if when.tzinfo is None:
        raise InputError(f"{option} {value!r}: needs an offset (time zone), e.g. +08:00")
    return when


def iso_date(value: str | None, option: str) -> date | None:
    """A YYYY-MM-DD date given on the command line (None when absent)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise InputError(f"{option}: not a date (YYYY-MM-DD): {value!r}") from e
