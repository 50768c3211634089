"""QEMU in the background for the emulated boards: start, find, stop.

The guest's UART0 is a TCP server on 127.0.0.1 (``wait=on``: the guest starts when the host
connects, so nothing is lost). ``-icount shift=0,sleep=off`` makes virtual time count
instructions, which is what the firmware's ticks then measure. State (pid, URL, log, exit
code file) is kept in a JSON file beside the ELF so a later command can stop it.

Also a tiny command line, run by the local PlatformIO platform's upload target:
``python -m embbert_mcu.device.emulator start --elf fw.elf --machine mps2-an500 --cpu cortex-m7``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError, DeviceError
from ..fileio import write_text

FAULTS = {3: "HardFault", 4: "MemManage fault: the stack overflowed into the MPU guard"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(elf: Path, machine: str, cpu: str, port: int, serial_index: int = 0) -> list[str]:
    """serial_index: which of the machine's UARTs is the link (netduinoplus2: USART2 is the
    second -serial); the ones before it are left unconnected."""
    return ["qemu-system-arm", "-M", machine, "-cpu", cpu, "-nographic", "-monitor", "none",
            "-kernel", str(elf), "-icount", "shift=0,sleep=off",
            "-semihosting-config", "enable=on,target=native",
            *["-serial", "null"] * serial_index,
            "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on"]


def start(elf: str | Path, machine: str, cpu: str, state_path: str | Path | None = None,
          serial_index: int = 0) -> dict:
    """Launch QEMU detached (own session); returns and writes the state dict."""
    elf = Path(elf).resolve()
    if not elf.is_file():
        raise BuildError(f"no firmware at {elf}", hint="build it first: embbert-mcu flash")
    if shutil.which("qemu-system-arm") is None:
        raise BuildError("qemu-system-arm is not installed",
                         hint="apt-get install qemu-system-arm (or: make toolchain)")
    state_path = Path(state_path or elf.with_name("emulator.json"))
    stop(state_path)  # one emulator per firmware folder
    port = free_port()
    log, rc_file = elf.with_name("emulator.log"), elf.with_name("emulator.rc")
    rc_file.unlink(missing_ok=True)
    # A shell records QEMU's exit code (the firmware's, through semihosting) for later.
    script = " ".join(_quote(a) for a in qemu_command(elf, machine, cpu, port, serial_index))
    script += f"; echo $? > {_quote(str(rc_file))}"
    with open(log, "wb") as log_f, open(os.devnull, "rb") as null:
        proc = subprocess.Popen(["/bin/sh", "-c", script], stdin=null, stdout=log_f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    state = {"pid": proc.pid, "port": port, "url": f"socket://127.0.0.1:{port}",
             "elf": str(elf), "log": str(log), "rc_file": str(rc_file), "machine": machine}
    write_text(state_path, json.dumps(state, indent=2))
    _wait_listening(state)
    return state


def _wait_listening(state: dict, timeout_s: float = 10.0) -> None:
    """Return once QEMU listens on the state's port, so a client may connect at once (on a
    loaded machine that takes a moment); raise if it exited instead. Read from
    /proc/net/tcp, not by connecting: with ``wait=on`` a first client starts the guest.
    Where /proc/net/tcp does not exist, or after ``timeout_s``, return (clients retry)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if exit_code(state) is not None:
            raise DeviceError(describe_exit(state), hint=f"see {state['log']}")
        if _listening(table, state["port"]):
            return
        time.sleep(0.02)


def _listening(table: Path, port: int) -> bool:
    """A socket in LISTEN state (0A) on ``port``: lines "sl local rem st ..." with the local
    address as hex IP:port."""
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return True  # cannot tell: do not wait
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            return True
    return False


def _quote(arg: str) -> str:
    return "'" + arg.replace("'", "'\\''") + "'"


def load_state(state_path: str | Path) -> dict | None:
    try:
        return json.loads(Path(state_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def running(state: dict) -> bool:
    try:
        os.killpg(state["pid"], 0)
    except (ProcessLookupError, PermissionError):
        return False
    return not Path(state["rc_file"]).exists()


def exit_code(state: dict, timeout_s: float = 0.0) -> int | None:
    """The emulator's exit code once it has exited (waiting up to timeout_s), else None."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return int(Path(state["rc_file"]).read_text().strip())
        except (OSError, ValueError):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


def stop(state_path: str | Path, timeout_s: float = 5.0) -> int | None:
    """Stop the emulator named in state_path (if it runs); returns its exit code if known."""
    return stop_verified(state_path, timeout_s).exit_code


@dataclass(frozen=True)
class StopResult:
    # "stopped"; "exited" (was already gone); "stale" (the pid is no longer ours: untouched);
    # "none" (no state file); "unreadable" (a state file this module did not write: kept)
    status: str
    state_path: Path
    pid: int | None = None
    url: str | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict:
        return {"status": self.status, "state_file": str(self.state_path), "pid": self.pid,
                "url": self.url, "exit_code": self.exit_code}

    def describe(self) -> str:
        """One line saying what was done."""
        if self.status == "stopped":
            return f"stopped the emulator (pid {self.pid}, {self.url})"
        if self.status == "unreadable":
            return (f"{self.state_path} is not an emulator state file this tool wrote: "
                    "nothing stopped")
        if self.status == "stale":
            return (f"pid {self.pid} is no longer our emulator: left it alone and removed the "
                    f"stale {self.state_path}")
        code = "" if self.exit_code is None else f" with code {self.exit_code}"
        return f"the emulator at {self.url} had already exited{code}; removed {self.state_path}"


def stop_verified(state_path: str | Path, timeout_s: float = 5.0) -> StopResult:
    """Stop the emulator of a state file, killing only the process this module started: the
    pid must still run the shell that launched QEMU on this ELF (a pid can be reused)."""
    state_path = Path(state_path)
    if not state_path.exists():
        return StopResult("none", state_path)
    state = load_state(state_path)
    keys = ("pid", "elf", "rc_file")
    if not isinstance(state, dict) or not all(k in state for k in keys) \
            or not isinstance(state["pid"], int) or state["pid"] <= 0:
        return StopResult("unreadable", state_path)
    pid, url = state["pid"], state.get("url")
    code = exit_code(state)
    if code is None and running(state):
        if not is_ours(state):
            state_path.unlink(missing_ok=True)
            return StopResult("stale", state_path, pid, url)
        _kill_group(pid, timeout_s)
        code = exit_code(state, 1.0)
        status = "stopped"
    else:
        status = "exited"
    state_path.unlink(missing_ok=True)
    return StopResult(status, state_path, pid, url, code)


def is_ours(state: dict) -> bool:
    """The state's pid runs the shell ``start`` launched: qemu-system-arm on this ELF."""
    cmd = command_line(state["pid"])
    return (cmd is not None and "qemu-system-arm" in cmd and "-kernel" in cmd
            and (_quote(state["elf"]) in cmd or state["elf"] in cmd))


def command_line(pid: int) -> str | None:
    """The command line of a process (/proc on Linux, ps elsewhere); None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.replace(b"\0", b" ").decode(errors="replace").strip() or None
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return None
    except OSError:
        return None
    try:
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def state_files(project_dirs: list[Path]) -> list[Path]:
    """The emulator state files of these PlatformIO projects (one per built board env)."""
    found = []
    for project in project_dirs:
        found += sorted(Path(project).glob(".pio/build/*/emulator.json"))
    return found


def _kill_group(pid: int, timeout_s: float) -> None:
    """SIGTERM, then SIGKILL, to the session we started (the shell and its QEMU)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            _reap(pid)
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def _reap(pid: int) -> None:
    """Collect the shell if this process started it (else a zombie would look alive)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def describe_exit(state: dict) -> str:
    """Why the emulator is gone, for a DeviceError's message."""
    code = exit_code(state)
    if code is None:
        return "the emulator is still running"
    tail = Path(state["log"]).read_text(errors="replace").strip().splitlines()[-3:]
    return f"the emulator exited with code {code} ({FAULTS.get(code, 'exit')}): " + " | ".join(tail)


def check_alive(state: dict) -> None:
    if exit_code(state) is not None:
        raise DeviceError(describe_exit(state), hint=f"see {state['log']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m embbert_mcu.device.emulator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("--elf", required=True)
    s.add_argument("--machine", required=True)
    s.add_argument("--cpu", required=True)
    s.add_argument("--state")
    t = sub.add_parser("stop")
    t.add_argument("--state", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "stop":
        print(f"emulator stopped (exit code {stop(args.state)})")
        return 0
    state = start(args.elf, args.machine, args.cpu, args.state)
    print(f"emulator running (pid {state['pid']}), serial at {state['url']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
