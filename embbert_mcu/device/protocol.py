"""Host side of the serial protocol of firmware/harness (mirrors emb_proto.h byte for byte).

Frame, little-endian: sync 0xEB 0x42, type u8, seq u8, len u16, payload, CRC-32 (zlib) of
type..payload. A reply has the request's type | 0x80 and its seq; an error reply is type
0x7F with (code, detail, request type). The host drops replies whose seq is stale, so a
recovered link never pairs a request with an old answer.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ..errors import ProtocolError

SYNC = b"\xeb\x42"
HEADER = struct.Struct("<2sBBH")  # sync, type, seq, len
CRC = struct.Struct("<I")
OVERHEAD = HEADER.size + CRC.size
PROTO_VERSION = 1

HELLO, INFER, STATS, STAGES, SHUTDOWN, ECHO = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
TEXT = 0x07  # UTF-8 in; the device tokenizes, infers, and returns logits and the ids
REPLY, ERROR = 0x80, 0x7F
ERROR_CODES = {1: "bad CRC", 2: "oversized frame", 3: "unknown request type",
               4: "wrong payload length", 5: "model error"}
MODEL_STATUS = {1: "EMB_ERR_ARG", 2: "EMB_ERR_LENGTH", 3: "EMB_ERR_TOKEN", 4: "EMB_ERR_ARENA"}
TICK_UNITS = {0: "cycles", 1: "instructions", 2: "nanoseconds"}

_HELLO_FIXED = struct.Struct("<HHHHIIIIIIIBB")
_INFER_FIXED = struct.Struct("<HHQ")
_STATS = struct.Struct("<7I")
_U16, _U64 = struct.Struct("<H"), struct.Struct("<Q")
_TEXT_FIXED = struct.Struct("<HHQQ")


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    body = bytes([msg_type & 0xFF, seq & 0xFF]) + struct.pack("<H", len(payload)) + payload
    return SYNC + body + CRC.pack(crc32(body))


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


class FrameReader:
    """Incremental scanner: feed bytes, take whole frames. Noise and bad frames are skipped
    the way the device skips them (drop one byte after a bad sync, rescan)."""

    def __init__(self, max_payload: int = 0xFFFF):
        self.buf = bytearray()
        self.max_payload = max_payload
        self.bad_frames = 0

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        frames = []
        while True:
            start = self.buf.find(SYNC[:1])
            if start < 0:
                self.buf.clear()
                return frames
            del self.buf[:start]
            if len(self.buf) < 2 or (self.buf[1] == SYNC[1] and len(self.buf) < HEADER.size):
                return frames
            frame, used = self._take()
            if used == 0:
                return frames
            del self.buf[:used]
            if frame is not None:
                frames.append(frame)

    def _take(self) -> tuple[Frame | None, int]:
        """(frame or None, bytes to drop); (None, 0) when more bytes are needed."""
        if self.buf[1] != SYNC[1]:
            return None, 1
        _, msg_type, seq, length = HEADER.unpack_from(self.buf)
        if length > self.max_payload:
            self.bad_frames += 1
            return None, 1
        total = OVERHEAD + length
        if len(self.buf) < total:
            return None, 0
        body = bytes(self.buf[2:HEADER.size + length])
        if crc32(body) != CRC.unpack_from(self.buf, total - CRC.size)[0]:
            self.bad_frames += 1
            return None, 1
        return Frame(msg_type, seq, body[4:]), total


@dataclass(frozen=True)
class DeviceInfo:
    proto_version: int
    max_len: int
    n_classes: int
    n_stages: int
    arena_bytes: int
    vocab_size: int
    clock_hz: int
    tick_scale: int
    stack_bytes: int
    max_payload: int
    static_bytes: int
    tick_unit: str
    stack_guard: bool
    board: str
    port: str
    model_sha256: str
    prefix: str


@dataclass(frozen=True)
class InferResult:
    n: int
    logits: list[float]
    ticks: int


@dataclass(frozen=True)
class Stats:
    stack_peak_bytes: int
    stack_bytes: int
    arena_bytes: int
    static_bytes: int
    n_infer: int
    n_errors: int
    n_dropped: int


HINT = "the device is not running this version of the harness: flash it (embbert-mcu flash)"


def _short(what: str, need: int, payload: bytes) -> ProtocolError:
    return ProtocolError(f"malformed {what} reply: needs {need} bytes, got {len(payload)}",
                         hint=HINT)


def _fixed(layout: struct.Struct, payload: bytes, offset: int, what: str) -> tuple:
    if len(payload) < offset + layout.size:
        raise _short(what, offset + layout.size, payload)
    return layout.unpack_from(payload, offset)


def _strings(payload: bytes, offset: int, count: int, what: str) -> tuple[list[str], int]:
    """``count`` length-prefixed ASCII strings from ``offset``; (strings, end offset)."""
    out = []
    for _ in range(count):
        if offset >= len(payload):
            raise _short(what, offset + 1, payload)
        n = payload[offset]
        if offset + 1 + n > len(payload):
            raise _short(what, offset + 1 + n, payload)
        out.append(payload[offset + 1:offset + 1 + n].decode("ascii", "replace"))
        offset += 1 + n
    return out, offset


def _exact(what: str, end: int, payload: bytes) -> None:
    if end != len(payload):
        raise ProtocolError(f"malformed {what} reply: {len(payload) - end} bytes beyond its "
                            f"{end}-byte content", hint=HINT)


def decode_hello(payload: bytes) -> DeviceInfo:
    fixed = list(_fixed(_HELLO_FIXED, payload, 0, "HELLO"))
    fixed[11] = TICK_UNITS.get(fixed[11], f"unit{fixed[11]}")
    fixed[12] = bool(fixed[12] & 1)
    strings, end = _strings(payload, _HELLO_FIXED.size, 4, "HELLO")
    _exact("HELLO", end, payload)
    return DeviceInfo(*fixed, *strings)


def encode_infer(ids: list[int]) -> bytes:
    return struct.pack(f"<H{len(ids)}H", len(ids), *ids)


def decode_infer(payload: bytes, n_classes: int | None = None) -> InferResult:
    """An INFER reply; ``n_classes`` (from HELLO) is checked when given."""
    n, count, ticks = _fixed(_INFER_FIXED, payload, 0, "INFER")
    if n_classes is not None and count != n_classes:
        raise ProtocolError(f"malformed INFER reply: {count} logits, the model has {n_classes}",
                            hint=HINT)
    end = _INFER_FIXED.size + 4 * count
    if len(payload) < end:
        raise _short("INFER", end, payload)
    _exact("INFER", end, payload)
    logits = struct.unpack_from(f"<{count}f", payload, _INFER_FIXED.size)
    return InferResult(n=n, logits=list(logits), ticks=ticks)


def decode_stats(payload: bytes) -> Stats:
    fields = _fixed(_STATS, payload, 0, "STATS")
    _exact("STATS", _STATS.size, payload)
    return Stats(*fields)


def decode_stages(payload: bytes) -> list[tuple[str, int]]:
    (count,) = _fixed(_U16, payload, 0, "STAGES")
    offset, stages = 2, []
    for _ in range(count):
        (ticks,) = _fixed(_U64, payload, offset, "STAGES")
        (name,), offset = _strings(payload, offset + 8, 1, "STAGES")
        stages.append((name, ticks))
    _exact("STAGES", offset, payload)
    return stages


# The device's side of the replies, as emb_proto.c writes them: used by the fake device
# that the host-side fuzzer (tests, `make fuzz`) plays against the link.
def _pack_strings(*texts: str) -> bytes:
    out = b""
    for text in texts:
        raw = text.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out


def encode_hello(info: DeviceInfo) -> bytes:
    unit = {v: k for k, v in TICK_UNITS.items()}.get(info.tick_unit, 0)
    fixed = _HELLO_FIXED.pack(info.proto_version, info.max_len, info.n_classes, info.n_stages,
                              info.arena_bytes, info.vocab_size, info.clock_hz, info.tick_scale,
                              info.stack_bytes, info.max_payload, info.static_bytes, unit,
                              int(info.stack_guard))
    return fixed + _pack_strings(info.board, info.port, info.model_sha256, info.prefix)


def encode_infer_reply(result: InferResult) -> bytes:
    return _INFER_FIXED.pack(result.n, len(result.logits), result.ticks) + struct.pack(
        f"<{len(result.logits)}f", *result.logits)


def encode_stats(stats: Stats) -> bytes:
    return _STATS.pack(stats.stack_peak_bytes, stats.stack_bytes, stats.arena_bytes,
                       stats.static_bytes, stats.n_infer, stats.n_errors, stats.n_dropped)


def encode_stages(stages: list[tuple[str, int]]) -> bytes:
    return _U16.pack(len(stages)) + b"".join(_U64.pack(t) + _pack_strings(name)
                                             for name, t in stages)


def describe_error(payload: bytes) -> str:
    code, detail, req = (list(payload) + [0, 0, 0])[:3]
    text = ERROR_CODES.get(code, f"error {code}")
    if code == 5:
        text += f" {MODEL_STATUS.get(detail, detail)}"
    return f"{text} (request type 0x{req:02x})"


@dataclass(frozen=True)
class TextResult:
    ids: list[int]  # what the device's tokenizer made of the text
    logits: list[float]
    ticks: int  # the model's run
    tokenizer_ticks: int


def encode_text(text: str | bytes) -> bytes:
    """A TEXT request's payload: the text's UTF-8 bytes (bytes are sent as they are)."""
    return text if isinstance(text, bytes) else text.encode("utf-8")


def decode_text(payload: bytes) -> TextResult:
    from ..errors import DeviceError

    if len(payload) < _TEXT_FIXED.size:
        raise DeviceError(f"a TEXT reply of {len(payload)} bytes is shorter than its header",
                          hint="the device and this tool speak different protocol versions")
    n, n_classes, ticks, tok_ticks = _TEXT_FIXED.unpack_from(payload)
    if len(payload) != _TEXT_FIXED.size + 4 * n_classes + 2 * n:
        raise DeviceError(f"a TEXT reply of {len(payload)} bytes does not hold {n_classes} "
                          f"logits and {n} ids", hint="re-flash: embbert-mcu flash")
    logits = struct.unpack_from(f"<{n_classes}f", payload, _TEXT_FIXED.size)
    ids = struct.unpack_from(f"<{n}H", payload, _TEXT_FIXED.size + 4 * n_classes)
    return TextResult(ids=list(ids), logits=list(logits), ticks=ticks, tokenizer_ticks=tok_ticks)
