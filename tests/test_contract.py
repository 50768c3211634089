"""The C <-> Python contract (firmware/runtime/emb_contract.h, embbert_mcu/contract.py): what
gcc compiles from the header is what Python parsed from it, and an edit of the header reaches
Python (or, when it breaks a layout, fails to compile)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from embbert_mcu.ccompile import compile_c
from embbert_mcu.contract import CONTRACT, ContractError, header_path, parse
from embbert_mcu.errors import BuildError

# Walks every table and layout through the header's own lists (EMB_CODE_TABLES,
# EMB_WIRE_LAYOUTS), so a table Python fails to parse still shows up on the C side.
PRINTER = r"""
#include <stdio.h>
#include "emb_contract.h"

#define PRINT_CODE(name, value, what) \
    printf("code %s %s %ld %s\n", table, #name, (long)(name), what);
#define PRINT_TABLE(t) table = #t; EMB_##t##_CODES(PRINT_CODE)
#define PRINT_FIELD(msg, field, type, at)                                        \
    printf("field %s %s %s %ld %lu\n", #msg, #field, #type, (long)EMB_##msg##_##field, \
           (unsigned long)sizeof(((emb_wire_##msg##_t *)0)->emb_##field));
#define PRINT_LAYOUT(m)                                                            \
    printf("size %s %lu\n", #m, (unsigned long)sizeof(emb_wire_##m##_t));         \
    EMB_##m##_LAYOUT(PRINT_FIELD)

int main(void);
int main(void)
{
    const char *table;
    EMB_CODE_TABLES(PRINT_TABLE)
    EMB_WIRE_LAYOUTS(PRINT_LAYOUT)
@DEFINES@
    return 0;
}
"""


def python_view(contract) -> list[str]:
    """The lines PRINTER prints, as Python's parse of the header predicts them."""
    lines, coded = [], set()
    for table, codes in contract.tables.items():
        lines += [f"code {table} {c.name} {c.value} {c.text}" for c in codes]
        coded |= {c.name for c in codes}
    for msg, layout in contract.layouts.items():
        lines.append(f"size {msg} {layout.size}")
        lines += [f"field {msg} {f.name.upper()} {f.wire} {f.offset} {f.size}"
                  for f in layout.fields]
    lines += [f"define {name} {value}" for name, value in contract.defines.items()
              if name not in coded]
    return sorted(lines)


def c_view(contract, folder, header_text: str | None = None) -> list[str]:
    """Compile PRINTER against the header (or ``header_text``) and run it."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to compile the contract header")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "emb_contract.h").write_text(header_text or header_path().read_text())
    defines = "\n".join(f'    printf("define {n} %lu\\n", (unsigned long)({n}));'
                        for n in contract.defines if not any(
                            n == c.name for codes in contract.tables.values() for c in codes))
    (folder / "main.c").write_text(PRINTER.replace("@DEFINES@", defines))
    exe = compile_c([folder / "main.c"], folder / "printer", [folder],
                    extra_flags=("-pedantic",))
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return sorted(out.splitlines())


def test_gcc_and_python_read_the_same_contract(tmp_path):
    c = c_view(CONTRACT, tmp_path)
    assert c == python_view(CONTRACT)
    # the tables the harness, runtime, exporter and tests rely on are all there
    assert {"STATUS", "ENCODING", "MESSAGE", "PROTO_ERROR", "TICK_UNIT"} <= set(CONTRACT.tables)
    assert len(c) > 100


def _edited(old: str, new: str) -> str:
    text = header_path().read_text()
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_a_renumbered_code_and_a_moved_field_reach_python(tmp_path):
    text = _edited("X(EMB_ERR_TOKEN, 3,", "X(EMB_ERR_TOKEN, 9,")
    # swap the two lines, each with its new offset: a consistent edit of the layout
    lines = text.splitlines(keepends=True)
    i = next(k for k, line in enumerate(lines) if "X(HELLO, MAX_LEN, U16, 2)" in line)
    assert "X(HELLO, N_CLASSES, U16, 4)" in lines[i + 1]
    lines[i], lines[i + 1] = (lines[i + 1].replace("U16, 4", "U16, 2"),
                              lines[i].replace("U16, 2", "U16, 4"))
    text = "".join(lines)
    edited = parse(text)
    assert edited.value("EMB_ERR_TOKEN") == 9 and CONTRACT.value("EMB_ERR_TOKEN") == 3
    hello, old = edited.layout("HELLO"), CONTRACT.layout("HELLO")
    assert (hello.offset("max_len"), hello.offset("n_classes")) == (4, 2)
    values = {f.name: i + 1 for i, f in enumerate(old.fields)}
    got = hello.unpack(old.pack(**values))  # bytes of the old layout, read by the new one
    assert (got["max_len"], got["n_classes"]) == (values["n_classes"], values["max_len"])
    assert c_view(edited, tmp_path, text) == python_view(edited)  # and gcc agrees


@pytest.mark.parametrize("old,new,check", [
    ("X(HELLO, MAX_LEN, U16, 2)", "X(HELLO, MAX_LEN, U16, 3)", "HELLO_MAX_LEN_offset"),
    ("X(INFER, TICKS, U64, 4)", "X(INFER, TICKS, U32, 4)", "INFER_bytes"),  # resized alone
    ("#define EMB_STATS_BYTES 28u", "#define EMB_STATS_BYTES 32u", "STATS_bytes"),
])
def test_a_layout_edit_that_breaks_the_table_fails_to_compile(tmp_path, old, new, check):
    with pytest.raises(BuildError, match=f"emb_static_assert_{check}"):
        c_view(CONTRACT, tmp_path, _edited(old, new))


def test_python_rejects_overlapping_fields():
    text = _edited("X(HELLO, MAX_LEN, U16, 2)", "X(HELLO, MAX_LEN, U16, 1)")
    with pytest.raises(ContractError, match="overlaps"):
        parse(text)


def test_python_mirrors_match_the_contract():
    from embbert_mcu.device import protocol as P
    from embbert_mcu.export.exporter import runtime_files
    from embbert_mcu.export.weights import ENC_MACRO
    from embbert_mcu.quant.blocks import ENCODINGS

    assert set(ENC_MACRO) == set(ENCODINGS)
    info_fields = {f.name for f in dataclasses.fields(P.DeviceInfo)}
    assert {f.name for f in P._HELLO_FIXED.fields} | set(P._HELLO_TEXTS) == info_fields
    assert len(P._HELLO_TEXTS) == CONTRACT.value("EMB_HELLO_STRINGS")
    assert [f.name for f in dataclasses.fields(P.Stats)] == [f.name for f in P._STATS.fields]
    assert "emb_contract.h" in runtime_files()  # every export carries it
