"""Boards are data: one JSON manifest per board in boards/ (sizes in bytes, clock, core,
port, PlatformIO settings, and where the figures come from)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..ccompile import target as compile_target
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
    extra: dict = field(default_factory=dict)  # target, qemu, origins, serial, ...

    @property
    def qemu(self) -> dict:
        return self.extra.get("qemu", {})

    @property
    def target(self) -> str | None:
        """The compile target (embbert_mcu.ccompile.TARGETS) this board's C is built for;
        None for boards whose framework brings its own toolchain flags (ESP-IDF)."""
        return self.extra.get("target")

    @property
    def cflags(self) -> list[str]:
        """CPU and float-ABI flags: the target's row of the one flags table."""
        return list(compile_target(self.target).cpu_flags) if self.target else []

    @property
    def image_of(self) -> str | None:
        """An emulated board that runs another board's unmodified image (its id), or None."""
        return self.extra.get("image_of")

    def memory(self) -> list[dict]:
        """Memory regions [{name, origin, bytes, access}] the linker script declares: the
        manifest's map for a real board, FLASH and RAM at the emulator's origins otherwise."""
        if "memory" in self.extra:
            return [{**r, "origin": int(str(r["origin"]), 0)} for r in self.extra["memory"]]
        return [{"name": "FLASH", "origin": int(self.extra.get("flash_origin", 0)),
                 "bytes": self.flash_bytes, "access": "rx"},
                {"name": "RAM", "origin": int(self.extra.get("ram_origin", 0)),
                 "bytes": self.ram_bytes, "access": "rwx"}]

    def region_limits(self) -> dict[str, int]:
        return {r["name"].upper(): r["bytes"] for r in self.memory()}


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
    board = Board(**{k: data[k] for k in REQUIRED}, extra=extra)
    _check_memory(board, path)
    if board.target:
        compile_target(board.target)  # an unknown target fails here, naming the known ones
    return board


def _check_memory(board: Board, path) -> None:
    """The map must hold the sizes the budget check reads: FLASH = flash_bytes, the region
    .data/.bss go to = ram_bytes."""
    if "memory" not in board.extra:
        return
    limits = board.region_limits()
    data_region = board.extra.get("placement", {}).get("data", "RAM").upper()
    if limits.get("FLASH") != board.flash_bytes or limits.get(data_region) != board.ram_bytes:
        raise UsageError(f"board manifest {path}: the memory map disagrees with flash_bytes "
                         f"or ram_bytes")


def all_boards() -> list[Board]:
    return [load_board(b) for b in board_ids()]


def board_summary(board: Board) -> dict:
    """What `embbert-mcu boards --json` prints for one board."""
    return {"id": board.id, "name": board.name, "mcu": board.mcu, "core": board.core,
            "clock_hz": board.clock_hz, "flash_bytes": board.flash_bytes,
            "ram_bytes": board.ram_bytes, "emulated": board.emulated, "port": board.port,
            "platformio_board": board.platformio.get("board"), "source": board.source}

