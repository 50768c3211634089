"""Talking to a running harness: transports (serial port, socket:// URL, pipe) and requests.

Every wait has a deadline: a silent, busy or absent device becomes a DeviceError, never a
hang. Replies are matched by sequence number; stale and broken frames are dropped.
"""

from __future__ import annotations

import os
import select
import subprocess
import time

from . import protocol as P
from ..errors import DeviceError

HINT_PORT = "check the port name (embbert-mcu flash prints the emulator's socket:// URL)"


class SerialTransport:
    """A pyserial port or URL (``/dev/ttyACM0``, ``socket://127.0.0.1:4444``)."""

    def __init__(self, port: str, baudrate: int = 115200, connect_s: float = 10.0):
        import serial  # pyserial; imported here so the protocol module stays dependency-free

        deadline = time.monotonic() + connect_s
        while True:
            try:
                self.ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.05,
                                                 write_timeout=10, do_not_open=True)
                if not port.startswith("socket://"):
                    # ESP32 boards wire RTS to EN and DTR to GPIO0: leave both released so
                    # opening the port does not hold the chip in reset or in its bootloader.
                    self.ser.dtr = False
                    self.ser.rts = False
                self.ser.open()
                return
            except (serial.SerialException, OSError, ValueError) as exc:
                # An emulator's TCP port may still be opening: retry until the deadline.
                if not port.startswith("socket://") or time.monotonic() > deadline:
                    raise DeviceError(f"cannot open {port}: {exc}", hint=HINT_PORT) from None
                time.sleep(0.2)

    def write(self, data: bytes) -> None:
        try:
            self.ser.write(data)
        except Exception as exc:  # pyserial raises several types for a vanished port
            raise DeviceError(f"cannot write to the device: {exc}", hint=HINT_PORT) from None

    def read(self) -> bytes:
        try:
            return self.ser.read(max(1, self.ser.in_waiting))
        except Exception as exc:
            raise DeviceError(f"cannot read from the device: {exc}", hint=HINT_PORT) from None

    def close(self) -> None:
        self.ser.close()


class PipeTransport:
    """stdin/stdout of a process running the host build of the harness."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc

    def write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise DeviceError(f"the harness process is gone: {exc}") from None

    def read(self) -> bytes:
        fd = self.proc.stdout.fileno()
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            return b""
        data = os.read(fd, 4096)
        if not data:
            raise DeviceError("the harness process closed its output")
        return data

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class Device:
    """Requests to one harness over a transport."""

    def __init__(self, transport, timeout_s: float = 5.0, infer_timeout_s: float = 120.0):
        self.t = transport
        self.timeout_s = timeout_s
        self.infer_timeout_s = infer_timeout_s
        self.reader = P.FrameReader()
        self.seq = 0
        self.info: P.DeviceInfo | None = None

    def request(self, msg_type: int, payload: bytes = b"", timeout_s: float | None = None) -> P.Frame:
        """Send one request; return its reply or error frame (matched by seq)."""
        self.seq = (self.seq + 1) & 0xFF
        self.t.write(P.encode_frame(msg_type, self.seq, payload))
        return self.wait_reply(msg_type, self.seq, timeout_s or self.timeout_s)

    def wait_reply(self, msg_type: int, seq: int, timeout_s: float) -> P.Frame:
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            data = self.t.read()
            seen += len(data)
            for frame in self.reader.feed(data):
                if frame.seq == seq and frame.type in (msg_type | P.REPLY, P.ERROR):
                    return frame
        what = "sent bytes but no valid reply (busy or not our firmware)" if seen else "is silent"
        raise DeviceError(f"the device {what} after {timeout_s:.0f} s",
                          hint="flash the harness (embbert-mcu flash) and check the port")

    def call(self, msg_type: int, payload: bytes = b"", timeout_s: float | None = None) -> bytes:
        """Like request, but an error reply raises DeviceError."""
        frame = self.request(msg_type, payload, timeout_s)
        if frame.type == P.ERROR:
            raise DeviceError(f"the device answered: {P.describe_error(frame.payload)}")
        return frame.payload

    def resync(self, flush_bytes: int = 2048) -> None:
        """Fill any half-received frame with zeros so the device rescans, then drop replies."""
        self.t.write(bytes(flush_bytes))
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            self.reader.feed(self.t.read())
        self.reader = P.FrameReader()

    def hello(self, attempts: int = 3) -> P.DeviceInfo:
        for attempt in range(attempts):
            try:
                self.info = P.decode_hello(self.call(P.HELLO, timeout_s=min(self.timeout_s, 3.0)))
                return self.info
            except DeviceError:
                if attempt == attempts - 1:
                    raise
                self.resync()
        raise AssertionError("unreachable")

    def infer(self, ids: list[int]) -> P.InferResult:
        payload = self.call(P.INFER, P.encode_infer(ids), self.infer_timeout_s)
        return P.decode_infer(payload, self.info.n_classes if self.info else None)

    def text(self, text: str | bytes) -> P.TextResult:
        """Tokenize and infer on the device (exports with the C tokenizer)."""
        return P.decode_text(self.call(P.TEXT, P.encode_text(text), self.infer_timeout_s))

    def stats(self) -> P.Stats:
        return P.decode_stats(self.call(P.STATS))

    def stages(self) -> list[tuple[str, int]]:
        return P.decode_stages(self.call(P.STAGES))

    def echo(self, payload: bytes) -> bytes:
        return self.call(P.ECHO, payload)

    def shutdown(self) -> None:
        self.call(P.SHUTDOWN)

    def close(self) -> None:
        self.t.close()
