"""The C <-> Python contract, read from firmware/runtime/emb_contract.h at import time.

The header is the one source of the status codes, tensor encoding ids, protocol codes and
message layouts; this module parses its tables (see the header's comment for their form) so
Python holds no second copy:

- ``CONTRACT.codes(table)``: the entries of ``EMB_<TABLE>_CODES`` (name, value, text), in order;
- ``CONTRACT.value(name)``: one code or plain ``#define`` by its C name;
- ``CONTRACT.layout(msg)``: the fields of ``EMB_<MSG>_LAYOUT`` as a little-endian ``Layout``
  that packs and unpacks by field name (the C name in lower case).

Only the standard library is used, so importing it keeps the CLI light.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EmbError

HEADER_NAME = "emb_contract.h"
WIRE_CODES = {"U8": "B", "U16": "H", "U32": "I", "U64": "Q", "F32": "f"}  # struct's letters

_MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)(\([^)]*\))?[ \t]*(.*?)[ \t]*$")
_CODE = re.compile(r'X\(\s*(\w+)\s*,\s*(\w+)\s*,\s*"([^"]*)"\s*\)')
_FIELD = re.compile(r"X\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)")
_INT = re.compile(r"^\(?\s*(0[xX][0-9a-fA-F]+|\d+)[uU]?\s*\)?$")


class ContractError(EmbError):
    """emb_contract.h is missing or does not read as the contract."""


@dataclass(frozen=True)
class Code:
    name: str  # the C name, e.g. EMB_ERR_TOKEN
    value: int
    text: str  # what it means, as the header says


@dataclass(frozen=True)
class Field:
    name: str  # lower case of the C field name, e.g. max_len
    wire: str  # U8 | U16 | U32 | U64 | F32
    offset: int  # bytes from the start of the layout

    @property
    def size(self) -> int:
        return struct.calcsize("<" + WIRE_CODES[self.wire])


@dataclass(frozen=True)
class Layout:
    """A packed little-endian record; gaps between fields (none in a valid header) are padding."""

    name: str
    fields: tuple[Field, ...]  # in offset order
    size: int
    struct: struct.Struct = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        fmt, at = "<", 0
        for f in self.fields:
            if f.offset < at:
                raise ContractError(f"field {f.name} of {self.name} overlaps the one before it",
                                    hint=_HINT)
            fmt += "x" * (f.offset - at) + WIRE_CODES[f.wire]
            at = f.offset + f.size
        if at > self.size:
            raise ContractError(f"the fields of {self.name} end at byte {at}, beyond its "
                                f"{self.size} bytes", hint=_HINT)
        object.__setattr__(self, "struct", struct.Struct(fmt + "x" * (self.size - at)))

    def offset(self, name: str) -> int:
        return self._field(name).offset

    def array(self, count: int) -> struct.Struct:
        """``count`` records of this one-field layout end to end (a payload's logits, ids)."""
        if len(self.fields) != 1 or self.fields[0].size != self.size:
            raise ValueError(f"{self.name} is not a one-field layout")
        return struct.Struct(f"<{count}{WIRE_CODES[self.fields[0].wire]}")

    def unpack(self, data: bytes, offset: int = 0) -> dict[str, int | float]:
        values = self.struct.unpack_from(data, offset)
        return {f.name: v for f, v in zip(self.fields, values)}

    def pack(self, **values: int | float) -> bytes:
        if set(values) != {f.name for f in self.fields}:
            raise ValueError(f"{self.name} takes {[f.name for f in self.fields]}, "
                             f"got {sorted(values)}")
        return self.struct.pack(*(values[f.name] for f in self.fields))

    def put(self, buf: bytearray, name: str, value: int | float, at: int = 0) -> None:
        """Overwrite one field of the record that starts at ``buf[at]``."""
        f = self._field(name)
        struct.pack_into("<" + WIRE_CODES[f.wire], buf, at + f.offset, value)

    def _field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}")


_HINT = "emb_contract.h is damaged: reinstall embbert-mcu or restore it from the repository"


@dataclass(frozen=True)
class Contract:
    defines: dict[str, int]  # plain integer #defines and every code, by C name
    tables: dict[str, tuple[Code, ...]]  # STATUS, ENCODING, MESSAGE, PROTO_ERROR, TICK_UNIT
    layouts: dict[str, Layout]  # PROTO_HEADER, HELLO, INFER, ...

    def codes(self, table: str) -> tuple[Code, ...]:
        if table not in self.tables:
            raise ContractError(f"{HEADER_NAME} has no EMB_{table}_CODES table", hint=_HINT)
        return self.tables[table]

    def value(self, name: str) -> int:
        if name not in self.defines:
            raise ContractError(f"{HEADER_NAME} does not define {name}", hint=_HINT)
        return self.defines[name]

    def layout(self, msg: str) -> Layout:
        if msg not in self.layouts:
            raise ContractError(f"{HEADER_NAME} has no EMB_{msg}_LAYOUT", hint=_HINT)
        return self.layouts[msg]

    def names(self, table: str, prefix: str) -> dict[str, int]:
        """{suffix in lower case: value} of a table whose names share ``prefix``
        (ENCODING, "EMB_QT_" -> {"q8": 0, ...})."""
        return {c.name.removeprefix(prefix).lower(): c.value for c in self.codes(table)}


def _macros(text: str) -> dict[str, tuple[str | None, str]]:
    """{name: (parameter list or None, body)} of every #define, continuation lines joined."""
    joined = re.sub(r"\\[ \t]*\n", " ", re.sub(r"/\*.*?\*/", " ", text, flags=re.S))
    out = {}
    for line in joined.splitlines():
        m = _MACRO.match(line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def _int(text: str, what: str) -> int:
    m = _INT.match(text.strip())
    if not m:
        raise ContractError(f"{what} is {text!r}, not an integer", hint=_HINT)
    return int(m.group(1), 0)


def _layout(msg: str, body: str, defines: dict[str, int]) -> Layout:
    fields = []
    for owner, name, wire, at in _FIELD.findall(body):
        if owner != msg or wire not in WIRE_CODES:
            raise ContractError(f"EMB_{msg}_LAYOUT has the entry X({owner}, {name}, {wire}, "
                                f"{at})", hint=_HINT)
        fields.append(Field(name.lower(), wire, _int(at, f"the offset of {msg}.{name}")))
    if not fields or f"EMB_{msg}_BYTES" not in defines:
        raise ContractError(f"EMB_{msg}_LAYOUT has no fields or no EMB_{msg}_BYTES", hint=_HINT)
    return Layout(msg, tuple(sorted(fields, key=lambda f: f.offset)), defines[f"EMB_{msg}_BYTES"])


def parse(text: str) -> Contract:
    """The contract in the text of an emb_contract.h."""
    macros = _macros(text)
    defines = {name: _int(body, name) for name, (params, body) in macros.items()
               if params is None and _INT.match(body)}
    tables, layouts = {}, {}
    for name, (params, body) in macros.items():
        if params != "(X)":
            continue
        if name.endswith("_CODES"):
            codes = tuple(Code(n, _int(v, n), t) for n, v, t in _CODE.findall(body))
            tables[name[len("EMB_"):-len("_CODES")]] = codes
            defines.update({c.name: c.value for c in codes})
        elif name.endswith("_LAYOUT"):
            msg = name[len("EMB_"):-len("_LAYOUT")]
            layouts[msg] = _layout(msg, body, defines)
    for wire, code in WIRE_CODES.items():  # the struct letters must mean the header's sizes
        if defines.get(f"EMB_WIRE_{wire}") != struct.calcsize("<" + code):
            raise ContractError(f"EMB_WIRE_{wire} is not {struct.calcsize('<' + code)} bytes",
                                hint=_HINT)
    return Contract(defines, tables, layouts)


def header_path() -> Path:
    from .resources import resource_dir

    return resource_dir("firmware") / "runtime" / HEADER_NAME


def load(path: str | Path | None = None) -> Contract:
    """The contract of ``path`` (default: the header shipped with the package)."""
    path = Path(path) if path is not None else header_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"cannot read {path}: {exc.strerror}", hint=_HINT) from None
    return parse(text)


CONTRACT = load()
