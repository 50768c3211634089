"""Byte sizes as users write them (781kB, 2MB, 128KiB, 4096) and as the tool prints them.

One convention in everything printed: decimal units, 1 kB = 1000 bytes and 1 MB = 1000 kB
(as the paper's budget counts). Board limits are binary sizes on the datasheets (512 KB =
524,288 bytes); they are printed in the same decimal kB (524.3 kB). KiB/MiB are only read.
"""

from __future__ import annotations

import re

from .errors import UsageError

_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "kib": 1024, "mib": 1024**2}
UNIT_NOTE = "kB = 1000 bytes (board limits too: 512 KiB = 524.3 kB)"


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
    """A short human form in decimal kB: 464 -> '464 B', 524288 -> '524.3 kB'."""
    return fmt_kb(n) if n >= 1000 else f"{n} B"


def fmt_kb(n: int) -> str:
    """Always decimal kB, for table columns: 464 -> '0.5 kB', 2097152 -> '2,097.2 kB'."""
    return f"{n / 1000:,.1f} kB"
