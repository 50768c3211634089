"""The ``embbert-mcu`` command line: thin click commands over the library.

Convention for every command: with ``--json`` stdout holds only the JSON document; progress
and human-readable text go to stderr. Library errors (``EmbError``) are printed without a
traceback and exit with the error's code; anything else prints one line and leaves its
traceback in ``~/.cache/embbert-mcu/last-error.log``.
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
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # the last resort: one line here, the traceback in a file
        where = _crash_log(exc)
        click.echo(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                   .rstrip(": "), err=True)
        click.echo(f"hint: this is a bug or an unexpected condition; details in {where}",
                   err=True)
        sys.exit(1)


def _crash_log(exc: BaseException) -> str:
    """Write the traceback to a log file (the user's cache, else the temp folder)."""
    import os
    import tempfile
    import traceback

    text = f"embbert-mcu {__version__}: {' '.join(sys.argv)}\n" + "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__))
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for folder in (os.path.join(cache, "embbert-mcu"), tempfile.gettempdir()):
        path = os.path.join(folder, "last-error.log")
        try:
            os.makedirs(folder, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            return path
        except OSError:
            continue
    return "(no writable log location)"
