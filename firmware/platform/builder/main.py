"""SCons builder of the local platform, run by PlatformIO, for two kinds of board.

Toolchain: arm-none-eabi-* from PATH (Debian's gcc-arm-none-eabi + newlib).
- Emulated boards (QEMU MPS2): the board file names the compile and link flags (written from
  embbert_mcu/ccompile.py, the one flags table) and the QEMU machine; the
  project's ld/ folder holds emb_memory.ld (the real board's flash/RAM sizes) and
  mps2_sections.ld. `pio run -t upload` starts QEMU in the background and prints the URL.
- Real STM32 boards: flags, linker script (board_build.ldscript) and link flags come from the
  project (platformio.ini and its extra script), the same as in the env for PlatformIO's
  official platform. `pio run -t upload` programs the board with openocd (ST-Link).
"""

import os

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
emulated = board.get("upload.protocol", "") == "qemu"
cc_flags = list(board.get("build.emb_cc_flags", []))
link_flags = list(board.get("build.emb_link_flags", []))
ld_dir = os.path.join(env.subst("$PROJECT_DIR"), "ld")

env.Replace(
    AR="arm-none-eabi-gcc-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb",
    OBJCOPY="arm-none-eabi-objcopy",
    RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size",
    PROGNAME="firmware",
    PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data|\.rodata|\.ARM\.exidx)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss|\.stack)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -A -d $SOURCES",
)
if emulated:
    env.Append(
        CCFLAGS=cc_flags + ["-O2"],
        LINKFLAGS=link_flags + [
            "-L", ld_dir,
            # before the script: its DEFINED() test sees only symbols defined earlier
            "-Wl,--defsym=__emb_stack_bytes=%d" % int(board.get("build.emb_stack_bytes")),
            "-Wl,-T,mps2_sections.ld",
        ],
        LIBS=["m"],
    )

target_elf = env.BuildProgram()
AlwaysBuild(env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Sizes")))
if emulated:
    upload_action = env.VerboseAction(
        '"$PYTHONEXE" -m embbert_mcu.device.emulator start --elf "$SOURCE" --machine %s --cpu %s'
        % (board.get("build.emb_qemu_machine"), board.get("build.emb_qemu_cpu")),
        "Starting QEMU %s" % board.get("build.emb_qemu_machine"),
    )
else:
    upload_action = env.VerboseAction(
        'openocd %s -c "program {$SOURCE} verify reset exit"'
        % " ".join(board.get("upload.emb_openocd_args")),
        "Programming with openocd (ST-Link)",
    )
upload = env.Alias("upload", target_elf, upload_action)
AlwaysBuild(upload)
Default([target_elf])
