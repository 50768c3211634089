"""The device commands as plain functions: what `flash`, `bench` and `stop` do, callable from
Python (the CLI only parses options, calls these and prints):

    from embbert_mcu.device import session
    r = session.flash_board("qemu_f446", "build/model", generate_only=True)   # FlashResult
    samples = session.bench_samples("build/model", limit=20)
    report = session.bench_device(samples, "build/model", board_id="qemu_f446")
    session.check_bench(report)                 # raises when device and host C disagree
    for s in session.stop_emulators(): print(s.describe())

``bench_device`` with an emulated board flashes it, starts QEMU, benches and stops QEMU
again; with ``port`` it benches a device that is already flashed. When a bench fails while
the emulator has died, the error names the fault (hard fault, lockup) from its exit code.
``log`` receives the progress lines the CLI prints on stderr.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..errors import DeviceError, EmbError, UsageError
from . import emulator
from .boards import Board, board_ids, load_board
from .emulator import StopResult
from .flash import FlashResult, default_project_dir, firmware_elf, flash, generate_project

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def project_for(board: Board, project_dir: str | Path | None = None) -> Path:
    """The PlatformIO project of ``board``: ``project_dir`` or build/fw/<board>."""
    return Path(project_dir or default_project_dir(board.id))


def flash_board(board: Board | str, model_dir: str | Path = "build/model",
                project_dir: str | Path | None = None, upload: bool = True,
                generate_only: bool = False) -> FlashResult:
    """Write the PlatformIO project of ``board`` for the export; unless ``generate_only``,
    build it and (``upload``) upload it (emulated boards: start QEMU)."""
    board = load_board(board) if isinstance(board, str) else board
    project = project_for(board, project_dir)
    if generate_only:
        generate_project(board, model_dir, project)
        return FlashResult(board.id, project, None, None, None, None, built=False)
    return flash(board, model_dir, project, upload=upload)


@dataclass(frozen=True)
class StopSearch:
    """Which emulators ``stop_emulators`` looked for, and what it did to each."""

    where: Path  # the project folder, or the build/fw/* pattern searched
    explicit: bool  # a project folder was given (no other place to suggest)
    results: list[StopResult]


def stop_emulators(board_id: str | None = None,
                   project_dir: str | Path | None = None) -> StopSearch:
    """Stop the emulators `flash` left running: of ``project_dir``, of ``board_id``'s
    default project, or [default] of every project under build/fw."""
    if project_dir:
        projects = [Path(project_dir)]
    elif board_id:
        projects = [default_project_dir(board_id)]
    else:
        projects = sorted(p for p in Path().glob(str(default_project_dir("*"))) if p.is_dir())
    results = [emulator.stop_verified(p) for p in emulator.state_files(projects)]
    where = Path(project_dir) if project_dir else default_project_dir(board_id or "*")
    return StopSearch(where, bool(project_dir), results)


def check_target(port: str | None, board_id: str | None) -> None:
    """A bench needs a device: a port, or an emulated board to flash."""
    if not port and not board_id:
        raise UsageError("give --port (a flashed device) or --board (an emulated board)")


def bench_samples(model_dir: str | Path = "build/model", test: str | Path | None = None,
                  limit: int | None = None, text: bool = False) -> list[dict]:
    """The samples to bench: the export's test set, or a CSV/JSONL file; ``text`` keeps the
    texts (the device tokenizes) instead of the ids."""
    if text:
        from .textbench import text_samples

        return text_samples(model_dir, test, limit)
    from .bench import load_samples

    return load_samples(model_dir, test, limit)


def check_bench(report: dict) -> None:
    """Raise the bench's verdict: agreement, logit tolerance, budget (and tokenizer ids)."""
    from .bench import check

    check(report)
    if report.get("text"):
        from .textbench import check_text

        check_text(report)


def bench_device(samples: list[dict], model_dir: str | Path = "build/model",
                 port: str | None = None, board_id: str | None = None,
                 budget_bytes: int | None = None, elf: str | Path | None = None,
                 project_dir: str | Path | None = None, baud: int = 115200,
                 text: bool = False, progress: Callable[[Iterable], Iterable] = iter,
                 log: Log = _quiet) -> dict:
    """Bench ``samples`` on a flashed device at ``port``, or flash the emulated ``board_id``
    first (and stop its QEMU after); returns the report (see ``check_bench``)."""
    check_target(port, board_id)
    board = load_board(board_id) if board_id else None
    state_path, sizes = None, None
    if board is not None and not port:
        if not board.emulated:
            raise UsageError(f"{board.id} is a real board: flash it, then pass --port",
                             hint=f"embbert-mcu flash --board {board.id}")
        log(f"flashing {board.id} ...")
        r = flash(board, model_dir, project_for(board, project_dir))
        port, state_path, sizes = r.url, r.state_path, r.sizes
    from .link import Device, SerialTransport

    device = Device(SerialTransport(port, baudrate=baud))
    try:
        return _run(device, samples, model_dir, board, sizes, budget_bytes, elf, project_dir,
                    text, progress, log)
    except EmbError:
        if state_path is not None and emulator.load_state(state_path):
            emulator.check_alive(emulator.load_state(state_path))  # a fault explains more
        raise
    finally:
        close_device(device, state_path)


def _run(device, samples, model_dir, board, sizes, budget_bytes, elf, project_dir, text,
         progress, log) -> dict:
    hello = device.hello()
    if board is None and hello.board in board_ids():
        board = load_board(hello.board)
    if sizes is None:
        sizes = firmware_size(board, elf, project_dir)
    log(f"device: {hello.board} ({hello.port}), {len(samples)} samples")
    if text:
        from .textbench import run_text_bench

        return run_text_bench(device, model_dir, samples, sizes, budget_bytes, board, progress)
    from .bench import run_bench

    return run_bench(device, model_dir, samples, sizes, budget_bytes, board, progress)


def firmware_size(board: Board | None, elf: str | Path | None = None,
                  project_dir: str | Path | None = None) -> dict | None:
    """Flash and static RAM of the firmware: ``elf``, or the board's project build; None
    when there is no ELF to measure."""
    from .elfsize import firmware_sizes

    path = Path(elf) if elf else (
        firmware_elf(project_for(board, project_dir), board) if board else None)
    return firmware_sizes(path) if path and path.is_file() else None


def close_device(device, state_path: Path | None) -> None:
    """Close the link; an emulator we started is asked to exit, then made sure gone."""
    if state_path is not None:
        try:
            device.shutdown()
        except DeviceError:
            pass
    device.close()
    if state_path is not None:
        emulator.stop(state_path)


def write_bench_report(target, report: dict, model_dir: str | Path) -> list[Path]:
    """Write the report folder prepared by ``report.prepare`` (report.md, JSON, plots)."""
    from ..export.manifest import Manifest
    from .report import write_report

    return write_report(target, report, Manifest.load(model_dir).to_dict())
