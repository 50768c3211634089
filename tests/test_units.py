"""One unit convention in everything printed: decimal kB (1000 bytes), board limits too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from embbert_mcu.cli import main
from embbert_mcu.device.bench import format_report
from embbert_mcu.units import fmt_bytes, fmt_kb

ROOT = Path(__file__).resolve().parent.parent
SIZE = re.compile(r"\d[\d,.]*\s?(B|kB|MB|KB|KiB|MiB|Kb)\b")


def units_in(text: str) -> set[str]:
    return set(SIZE.findall(text))


def test_sizes_print_in_decimal_kilobytes():
    assert fmt_bytes(464) == "464 B"
    assert fmt_bytes(524_288) == "524.3 kB"  # a board's binary 512 KiB
    assert fmt_bytes(2_097_152) == "2,097.2 kB"
    assert fmt_kb(464) == "0.5 kB"


def test_bench_table_has_one_convention():
    r = {"n": 4, "mean_len": 20.0, "accuracy": 0.5, "host_accuracy": 0.5, "agreement": 1.0,
         "max_logit_diff": 0.0, "tick_unit": "cycles", "stages": {"embed": 1000.0},
         "latency": {"min": 1, "mean": 2, "max": 3}, "latency_us": {"min": 1, "mean": 2, "max": 3},
         "arena_bytes": 69_632, "stack_bytes": 464, "stack_reserved_bytes": 8192,
         "stack_guard": True, "static_buffer_bytes": 1146, "peak_ram_bytes": 71_242,
         "board": "nucleo_f446re", "board_ram_bytes": 131_072, "board_flash_bytes": 524_288,
         "flash_bytes": 440_960, "total_bytes": 512_202, "budget_bytes": 781_000}
    table = format_report(r)
    assert units_in(table) <= {"B", "kB"}, table
    assert "of 131.1 kB on nucleo_f446re" in table and "of 524.3 kB" in table


@pytest.mark.parametrize("argv", [["memory", "--preset", "nano", "--budget", "128KiB"],
                                  ["boards"]])
def test_command_tables_have_one_convention(capsys, argv):
    main(argv)
    err = capsys.readouterr().err
    assert units_in(err) and units_in(err) <= {"B", "kB"}, err


def test_doc_tables_have_one_convention():
    """No table row of the README or docs/ names a binary unit (KiB, MiB, KB)."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("|"):
                binary = units_in(line) & {"KB", "KiB", "MiB", "Kb"}
                assert not binary, f"{path.name}:{number}: {line}"
