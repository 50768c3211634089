"""Byte sizes as users write them: 781kB, 2MB, 128KiB, 4096."""

from __future__ import annotations

import re

from .errors import UsageError

_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "kib": 1024, "mib": 1024**2}


def parse_bytes(text: str | int) -> int:
    """'781kB' -> 781000; kB/MB are decimal (as the paper counts), KiB/MiB binary."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise UsageError(
            f"cannot read {text!r} as a size", hint="write e.g. 781kB, 2MB, 128KiB or 4096"
        )
    return int(round(float(match.group(1)) * _UNITS[unit]))


def fmt_bytes(n: int) -> str:
    """A short human form in decimal kB, the unit the paper's budget uses."""
    return f"{n / 1000:.1f} kB" if n >= 1000 else f"{n} B"
