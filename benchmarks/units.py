"""Number formats of the docs: decimal kB (1 kB = 1000 B, as the 781 kB budget counts),
thousands separators, percentages with two decimals, one-digit scientific notation."""

from __future__ import annotations


def comma(n: float) -> str:
    return f"{int(n):,}"


def kb(n_bytes: float) -> str:
    """One decimal, except a whole number of kB (a budget such as 781 kB) shows none."""
    if n_bytes % 1000 == 0:
        return f"{n_bytes // 1000:,} kB"
    return f"{n_bytes / 1000:,.1f} kB"


def mega(n: float, digits: int = 1) -> str:
    return f"{n / 1e6:.{digits}f} M"


def pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def sci(x: float) -> str:
    """1.9e-3 rather than Python's 1.9e-03; 0 stays 0."""
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def seconds_text(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    minutes, rest = divmod(round(s), 60)
    return f"{minutes} min {rest} s"
