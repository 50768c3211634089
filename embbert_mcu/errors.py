"""Typed errors: raised deep with a message and a hint, caught only by the CLI.

The CLI prints ``error: <message>`` and ``hint: <hint>`` on stderr and exits with the
error's ``exit_code``; no traceback reaches the user.
"""

from __future__ import annotations


class EmbError(Exception):
    """Base class of every error a user can cause."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(EmbError):
    """Bad option values or combinations."""

    exit_code = 2


class ManifestError(UsageError):
    """An export directory whose manifest.json is missing, corrupt, foreign or too new."""


class CheckpointError(EmbError):
    """A checkpoint that is missing, corrupt, truncated or not ours."""

    exit_code = 3


class DataError(EmbError):
    """A dataset that cannot be fetched, parsed or verified."""

    exit_code = 4


class ExportError(EmbError):
    """A model the exporter cannot lower (names the op and the module)."""

    exit_code = 5


class QuantError(EmbError):
    """A tensor the quantizer cannot encode (out of fp16's range, rows not cut into blocks).

    Raised below the exporter, which is where users meet it: it keeps export's exit code."""

    exit_code = 5


class BuildError(EmbError):
    """A compiler, PlatformIO or emulator step that failed."""

    exit_code = 6


class DeviceError(EmbError):
    """An absent, silent or misbehaving serial device."""

    exit_code = 7


class BudgetError(EmbError):
    """A model that does not fit its memory budget or board."""

    exit_code = 8


class VerificationError(EmbError):
    """Device or C outputs that disagree with the reference."""

    exit_code = 9


class ProtocolError(DeviceError):
    """A reply with a valid frame whose payload is short, long or malformed."""
