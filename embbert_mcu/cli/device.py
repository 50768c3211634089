"""`embbert-mcu boards`, `flash` and `bench`: the model on a board (or its emulator)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import EmbError, UsageError
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
    from ..device.flash import default_project_dir, flash as do_flash, generate_project

    board = load_board(board_id)
    project = Path(project_dir or default_project_dir(board.id))
    if generate_only:
        generate_project(board, model_dir, project)
        doc = {"board": board.id, "project_dir": str(project), "built": False}
    else:
        info(f"building {board.id} in {project} ...")
        r = do_flash(board, model_dir, project, upload=not no_upload)
        doc = {"board": board.id, "project_dir": str(r.project_dir), "built": True,
               "elf": str(r.elf) if r.elf else None, "url": r.url,
               "emulator_state": str(r.state_path) if r.state_path else None, **(r.sizes or {})}
        if r.sizes:
            info(f"flash {fmt_bytes(r.sizes['flash_bytes'])} of {fmt_bytes(board.flash_bytes)}, "
                 f"static RAM {fmt_bytes(r.sizes['ram_static_bytes'])} of "
                 f"{fmt_bytes(board.ram_bytes)} (arena, buffers and reserved stack)")
    if as_json:
        emit_json(doc)
    elif doc.get("url"):
        click.echo(doc["url"])  # the serial URL is the command's result
        info(f"QEMU runs in the background; bench it with: embbert-mcu bench --port {doc['url']}")
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
    from ..device import emulator
    from ..device.flash import default_project_dir

    if project_dir:
        projects = [Path(project_dir)]
    elif board_id:
        projects = [default_project_dir(board_id)]
    else:
        projects = sorted(p for p in Path().glob(str(default_project_dir("*"))) if p.is_dir())
    results = [emulator.stop_verified(p) for p in emulator.state_files(projects)]
    if as_json:
        emit_json({"emulators": [{"status": r.status, "state_file": str(r.state_path),
                                  "pid": r.pid, "url": r.url, "exit_code": r.exit_code}
                                 for r in results]})
        return
    if not results:
        where = project_dir or default_project_dir(board_id or "*")
        info(f"no emulator started by flash is running (no state file in {where})"
             + ("" if project_dir else "; pass --project-dir if flash was given one"))
    for r in results:
        info(_stop_message(r))


def _stop_message(r) -> str:
    if r.status == "stopped":
        return f"stopped the emulator (pid {r.pid}, {r.url})"
    if r.status == "unreadable":
        return f"{r.state_path} is not an emulator state file this tool wrote: nothing stopped"
    if r.status == "stale":
        return (f"pid {r.pid} is no longer our emulator: left it alone and removed the stale "
                f"{r.state_path}")
    code = "" if r.exit_code is None else f" with code {r.exit_code}"
    return f"the emulator at {r.url} had already exited{code}; removed {r.state_path}"


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
    from ..device.bench import check, format_report, load_samples

    if not port and not board_id:
        raise UsageError("give --port (a flashed device) or --board (an emulated board)")
    budget_bytes = parse_bytes(budget) if budget else None
    if as_text:
        from ..device.textbench import text_samples

        samples = text_samples(model_dir, test_file, limit)
    else:
        samples = load_samples(model_dir, test_file, limit)
    target = _report_target(report_dir)  # refused or unwritable: before the long work
    try:
        report = _bench_device(port, board_id, model_dir, samples, budget_bytes, elf,
                               project_dir, baud, as_text)
    except BaseException:
        if target is not None:
            from ..device.report import discard
            discard(target)
        raise
    if as_json:
        emit_json(report)
    else:
        info(format_report(report))
        if as_text:
            from ..device.textbench import format_text_lines

            info(format_text_lines(report))
    if target is not None:
        _write_report(target, report, model_dir)
    check(report)
    if as_text:
        from ..device.textbench import check_text

        check_text(report)


def _report_target(report_dir):
    if not report_dir:
        return None
    from ..device.report import prepare

    return prepare(report_dir)


def _write_report(target, report, model_dir) -> None:
    from ..device.firmware import read_manifest
    from ..device.report import write_report

    info(f"writing the report to {target.out} ...")
    files = write_report(target, report, read_manifest(model_dir))
    plots = [f.name for f in files if f.suffix == ".png"]
    info(f"report: {target.out / 'report.md'} (with report.json and {len(plots)} plots: "
         f"{', '.join(plots)})")


def _bench_device(port, board_id, model_dir, samples, budget_bytes, elf, project_dir, baud,
                  as_text=False):
    from tqdm import tqdm

    from ..device import emulator
    from ..device.bench import run_bench
    from ..device.boards import board_ids, load_board
    from ..device.elfsize import firmware_sizes
    from ..device.flash import default_project_dir, firmware_elf, flash as do_flash
    from ..device.link import Device, SerialTransport

    board = load_board(board_id) if board_id else None
    state_path, sizes = None, None
    if board is not None and not port:
        if not board.emulated:
            raise UsageError(f"{board.id} is a real board: flash it, then pass --port",
                             hint=f"embbert-mcu flash --board {board.id}")
        info(f"flashing {board.id} ...")
        r = do_flash(board, model_dir, Path(project_dir or default_project_dir(board.id)))
        port, state_path, sizes = r.url, r.state_path, r.sizes
    device = Device(SerialTransport(port, baudrate=baud))
    try:
        hello = device.hello()
        if board is None and hello.board in board_ids():
            board = load_board(hello.board)
        if sizes is None:
            path = Path(elf) if elf else (firmware_elf(
                Path(project_dir or default_project_dir(board.id)), board) if board else None)
            sizes = firmware_sizes(path) if path and path.is_file() else None
        info(f"device: {hello.board} ({hello.port}), {len(samples)} samples")
        # In a log (no terminal) a redraw per sample is hundreds of lines: redraw every 10 s.
        interval = 0.1 if sys.stderr.isatty() else 10.0
        bar = lambda xs: tqdm(xs, desc="bench", unit="sample", file=sys.stderr,  # noqa: E731
                              mininterval=interval)
        if as_text:
            from ..device.textbench import run_text_bench

            report = run_text_bench(device, model_dir, samples, sizes, budget_bytes, board, bar)
        else:
            report = run_bench(device, model_dir, samples, sizes, budget_bytes, board, bar)
    except EmbError:
        if state_path is not None and emulator.load_state(state_path):
            emulator.check_alive(emulator.load_state(state_path))  # a fault explains more
        raise
    finally:
        _close(device, state_path)
    return report


def _close(device, state_path) -> None:
    """Ask an emulator we started to exit, then make sure it is gone."""
    from ..device import emulator
    from ..errors import DeviceError

    if state_path is not None:
        try:
            device.shutdown()
        except DeviceError:
            pass
    device.close()
    if state_path is not None:
        emulator.stop(state_path)
