"""`embbert-mcu boards`, `flash` and `bench`: the model on a board (or its emulator)."""

from __future__ import annotations

import sys

import click

from ..units import fmt_bytes, parse_bytes
from . import cli, emit_json, info
from .options import COUNT, number


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def boards(as_json):
    """The boards flash and bench know (boards/*.json)."""
    from ..device.boards import all_boards, board_summary

    rows = [board_summary(b) for b in all_boards()]
    if as_json:
        emit_json({"boards": rows})
        return
    for r in rows:
        kind = "emulated" if r["emulated"] else f"PlatformIO {r['platformio_board']}"
        info(f"{r['id']:<14} {r['mcu']:<24} {r['core']:<11} {r['clock_hz'] / 1e6:>5.0f} MHz  "
             f"flash {fmt_bytes(r['flash_bytes']):>10}  RAM {fmt_bytes(r['ram_bytes']):>9}  {kind}")


@cli.command()
@click.option("--board", "board_id", required=True, help="Board id (see `embbert-mcu boards`).")
@click.option("--model", "model_dir", default="build/model", show_default=True,
              type=click.Path(file_okay=False), help="Export directory.")
@click.option("--project-dir", type=click.Path(file_okay=False),
              help="Where the PlatformIO project goes [default: build/fw/<board>].")
@click.option("--no-upload", is_flag=True, help="Build only (emulated boards: do not start QEMU).")
@click.option("--generate-only", is_flag=True, help="Write the PlatformIO project, do not build.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def flash(board_id, model_dir, project_dir, no_upload, generate_only, as_json):
    """Generate a PlatformIO project for BOARD and the export, build it and upload it."""
    from ..device.boards import load_board
    from ..device.session import flash_board, project_for

    board = load_board(board_id)
    project = project_for(board, project_dir)
    if not generate_only:
        info(f"building {board.id} in {project} ...")
    r = flash_board(board, model_dir, project, upload=not no_upload,
                    generate_only=generate_only)
    if r.sizes:
        info(f"flash {fmt_bytes(r.sizes['flash_bytes'])} of {fmt_bytes(board.flash_bytes)}, "
             f"static RAM {fmt_bytes(r.sizes['ram_static_bytes'])} of "
             f"{fmt_bytes(board.ram_bytes)} (arena, buffers and reserved stack)")
    if as_json:
        emit_json(r.to_dict())
    elif r.url:
        click.echo(r.url)  # the serial URL is the command's result
        info(f"QEMU runs in the background; bench it with: embbert-mcu bench --port {r.url}")
        where = f"--project-dir {project}" if project_dir else f"--board {board.id}"
        info(f"stop it with: embbert-mcu stop {where}")
    else:
        info(f"project: {project}")


@cli.command()
@click.option("--board", "board_id", help="The emulator of this board's default project "
              "(build/fw/<board>).")
@click.option("--project-dir", type=click.Path(file_okay=False),
              help="The emulator of this PlatformIO project (as given to flash).")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def stop(board_id, project_dir, as_json):
    """Stop an emulator that `flash` left running [default: every one under build/fw]."""
    from ..device.session import stop_emulators

    search = stop_emulators(board_id, project_dir)
    if as_json:
        emit_json({"emulators": [r.to_dict() for r in search.results]})
        return
    if not search.results:
        info(f"no emulator started by flash is running (no state file in {search.where})"
             + ("" if search.explicit else "; pass --project-dir if flash was given one"))
    for r in search.results:
        info(r.describe())


@cli.command()
@click.option("--port", help="Serial port or URL (/dev/ttyACM0, socket://127.0.0.1:PORT).")
@click.option("--board", "board_id", help="Emulated board: flash, bench and stop QEMU in one go.")
@click.option("--model", "model_dir", default="build/model", show_default=True,
              type=click.Path(file_okay=False), help="Export directory.")
@click.option("--test", "test_file", type=click.Path(dir_okay=False),
              help="CSV/JSONL test file [default: the export's testset.jsonl].")
@click.option("--limit", type=COUNT, help="Only the first N samples.")
@click.option("--budget", help="Fail if flash + peak RAM exceeds this (e.g. 781kB).")
@click.option("--elf", type=click.Path(dir_okay=False), help="Firmware ELF to measure flash from.")
@click.option("--project-dir", type=click.Path(file_okay=False),
              help="PlatformIO project [default: build/fw/<board>].")
@click.option("--baud", type=number(int, 300, 100_000_000), default=115200, show_default=True, help="Baud rate of a real port.")
@click.option("--text", "as_text", is_flag=True,
              help="Send raw text: the device tokenizes (the export's C tokenizer) and infers.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False),
              help="Also write a report folder: report.json, report.md and PNG plots.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def bench(port, board_id, model_dir, test_file, limit, budget, elf, project_dir, baud, as_text,
          report_dir, as_json):
    """Run the test set on the device; compare with the host C build; check memory."""
    from ..device import session

    session.check_target(port, board_id)
    budget_bytes = parse_bytes(budget) if budget else None
    samples = session.bench_samples(model_dir, test_file, limit, text=as_text)
    target = _report_target(report_dir)  # refused or unwritable: before the long work
    try:
        report = session.bench_device(samples, model_dir, port, board_id, budget_bytes, elf,
                                      project_dir, baud, as_text, _progress_bar, info)
    except BaseException:
        if target is not None:
            from ..device.report import discard
            discard(target)
        raise
    if as_json:
        emit_json(report)
    else:
        from ..device.bench import format_report

        info(format_report(report))
        if as_text:
            from ..device.textbench import format_text_lines

            info(format_text_lines(report))
    if target is not None:
        info(f"writing the report to {target.out} ...")
        files = session.write_bench_report(target, report, model_dir)
        plots = [f.name for f in files if f.suffix == ".png"]
        info(f"report: {target.out / 'report.md'} (with report.json and {len(plots)} plots: "
             f"{', '.join(plots)})")
    session.check_bench(report)


def _report_target(report_dir):
    if not report_dir:
        return None
    from ..device.report import prepare

    return prepare(report_dir)


def _progress_bar(samples):
    """tqdm on stderr (stdout may carry --json); in a log (no terminal) a redraw per sample
    is hundreds of lines: redraw every 10 s."""
    from tqdm import tqdm

    interval = 0.1 if sys.stderr.isatty() else 10.0
    return tqdm(samples, desc="bench", unit="sample", file=sys.stderr, mininterval=interval)
