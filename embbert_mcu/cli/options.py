"""One check for every numeric option: a finite number of the right kind within its range.

``number(int, 1)`` accepts integers >= 1; ``number(float, 0, open_low=True)`` accepts finite
floats > 0. NaN, infinity, and values out of range are usage errors naming the option and
the range, before any work starts.
"""

from __future__ import annotations

import math

import click


class Number(click.ParamType):
    def __init__(self, kind: type, low: float | None = None, high: float | None = None,
                 open_low: bool = False):
        self.kind, self.low, self.high, self.open_low = kind, low, high, open_low
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, self.kind) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = self.kind(str(value).strip().replace("_", ""))
            except ValueError:
                self.fail(f"{value!r} is not {'an integer' if self.kind is int else 'a number'}",
                          param, ctx)
        if isinstance(number, float) and not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if self.low is not None and (number < self.low or (self.open_low and number == self.low)):
            self.fail(f"{value} is out of range: it must be {self.describe()}", param, ctx)
        if self.high is not None and number > self.high:
            self.fail(f"{value} is out of range: it must be {self.describe()}", param, ctx)
        return number

    def describe(self) -> str:
        low = None if self.low is None else f"{'>' if self.open_low else '>='} {self.low:g}"
        high = None if self.high is None else f"<= {self.high:g}"
        return " and ".join(x for x in (low, high) if x)

    def get_metavar(self, param, ctx=None):  # click 8.1 and 8.2 call this differently
        return "INTEGER" if self.kind is int else "FLOAT"


def number(kind: type = int, low: float | None = None, high: float | None = None,
           open_low: bool = False) -> Number:
    return Number(kind, low, high, open_low)


SEED = number(int, 0, 2**32 - 1)  # numpy and torch take seeds in this range
THREADS = number(int, 1, 256)
COUNT = number(int, 1)  # epochs, steps, batch sizes, limits
LR = number(float, 0, 10.0, open_low=True)
MAX_LEN = number(int, 1, 4096)  # config.MAX_LEN_LIMIT (not imported: keeps --help light)
