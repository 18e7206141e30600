"""The `hub` console script: one root group, subcommand groups loaded on demand.

The CLI is the composition root: it is the only place where `hub` names the producer and
consumer packages, and it imports each group lazily so `hub court …` never pays for the
audit side's imports (and a missing optional part cannot break the others).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

import click

from hub.errors import HubError

# group name -> "module:attribute" of a click.Group
GROUPS: dict[str, str] = {
    "status": "hub.status_cli:status",
    "catalogue": "hub.catalogue_cli:catalogue",
    "schemas": "hub.schemas_cli:schemas",
    "court": "producers.court.cli:court",
    "agency": "consumers.agency.cli:agency",
    "audit": "consumers.audit.cli:audit",
    "accounts": "hub.accounts_cli:accounts_group",
    "supervise": "hub.supervise_cli:supervise",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in GROUPS if _importable(GROUPS[name]))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = GROUPS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and module_name.startswith(e.name):
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command


def _importable(target: str) -> bool:
    module_name = target.split(":")[0]
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:
        return False


@click.group(cls=LazyGroup)
def cli() -> None:
    """credit-hub: the dishonest judgment debtor list as an auditable event stream."""


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; project errors become one line on stderr and a non-zero exit."""
    try:
        rv = cli.main(args=argv, standalone_mode=False)
        # Non-standalone click returns the code of ctx.exit(n) instead of exiting.
        if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
            sys.exit(rv)
        return rv
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except HubError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
