"""The ``embbert-mcu`` command line: thin click commands over the library.

Convention for every command: with ``--json`` stdout holds only the JSON document; progress
and human-readable text go to stderr. Library errors (``EmbError``) are printed without a
traceback and exit with the error's code.
"""

from __future__ import annotations

import importlib
import json
import sys

import click

from .. import __version__
from ..errors import EmbError

# One module per command; each registers itself on ``cli`` when imported.
COMMAND_MODULES = ("memory", "data", "train", "quantize", "export", "device", "predict")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="embbert-mcu")
def cli() -> None:
    """EmbBERT-Q from PyTorch to a verified C kernel on microcontrollers."""


def info(message: str) -> None:
    """Human-readable progress: always stderr, so stdout stays clean for --json."""
    click.echo(message, err=True)


def emit_json(document: dict) -> None:
    """The one JSON document of a ``--json`` run, on stdout."""
    click.echo(json.dumps(document, indent=2, sort_keys=True))


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def main(argv: list[str] | None = None) -> None:
    _load_commands()
    try:
        cli.main(args=argv, prog_name="embbert-mcu", standalone_mode=False)
    except EmbError as exc:
        click.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
