"""Boards are data: one JSON manifest per board in boards/ (sizes in bytes, clock, core,
port, PlatformIO settings, and where the figures come from)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import UsageError
from ..resources import resource_dir

REQUIRED = ("id", "name", "mcu", "core", "clock_hz", "flash_bytes", "ram_bytes", "stack_bytes",
            "emulated", "port", "tick_unit", "platformio", "source")


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    mcu: str
    core: str
    clock_hz: int
    flash_bytes: int
    ram_bytes: int  # the RAM region the firmware links .data/.bss/stack into
    stack_bytes: int
    emulated: bool
    port: str  # firmware/ports/<port>
    tick_unit: str  # "cycles" (real boards) or "instructions" (emulator)
    platformio: dict
    source: str
    extra: dict = field(default_factory=dict)  # cflags, qemu, origins, serial, ...

    @property
    def qemu(self) -> dict:
        return self.extra.get("qemu", {})


def board_ids() -> list[str]:
    return sorted(p.stem for p in resource_dir("boards").glob("*.json"))


def load_board(board_id: str) -> Board:
    path = resource_dir("boards") / f"{board_id}.json"
    if not path.is_file():
        raise UsageError(f"unknown board {board_id!r}",
                         hint=f"choose one of: {', '.join(board_ids())}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UsageError(f"board manifest {path} is not valid JSON: {exc}") from None
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise UsageError(f"board manifest {path} lacks {', '.join(missing)}")
    extra = {k: v for k, v in data.items() if k not in REQUIRED}
    return Board(**{k: data[k] for k in REQUIRED}, extra=extra)


def all_boards() -> list[Board]:
    return [load_board(b) for b in board_ids()]


def board_summary(board: Board) -> dict:
    """What `embbert-mcu boards --json` prints for one board."""
    return {"id": board.id, "name": board.name, "mcu": board.mcu, "core": board.core,
            "clock_hz": board.clock_hz, "flash_bytes": board.flash_bytes,
            "ram_bytes": board.ram_bytes, "emulated": board.emulated, "port": board.port,
            "platformio_board": board.platformio.get("board"), "source": board.source}

