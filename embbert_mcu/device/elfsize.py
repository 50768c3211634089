"""Flash and RAM of a firmware ELF from its section headers (ARM or Xtensa alike).

Counts what `arm-none-eabi-size -A` lists, grouped by the section flags rather than by
names (vendor startup files name sections differently):
  flash = allocated sections with contents (code, constants, the .data image),
  ram   = allocated writable sections (.data, .bss, reserved stack and heap).
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import BuildError

SHF_WRITE, SHF_ALLOC = 0x1, 0x2
SHT_NOBITS = 8


def sections(elf: str | Path) -> list[dict]:
    """[{name, size, flash, ram}] for every allocated section of a 32-bit little-endian ELF."""
    data = Path(elf).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise BuildError(f"{elf} is not a 32-bit little-endian ELF file")
    shoff = struct.unpack_from("<I", data, 0x20)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [struct.unpack_from("<10I", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    out = []
    for name_off, sh_type, flags, _addr, _off, size, *_ in headers:
        if not flags & SHF_ALLOC or size == 0:
            continue
        end = data.index(b"\0", strtab + name_off)
        out.append({"name": data[strtab + name_off:end].decode(), "size": size,
                    "flash": sh_type != SHT_NOBITS, "ram": bool(flags & SHF_WRITE)})
    return out


def firmware_sizes(elf: str | Path) -> dict:
    secs = sections(elf)
    return {
        "flash_bytes": sum(s["size"] for s in secs if s["flash"]),
        "ram_static_bytes": sum(s["size"] for s in secs if s["ram"]),
        "sections": {s["name"]: s["size"] for s in secs},
        "elf": str(elf),
    }
