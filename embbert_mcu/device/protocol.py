"""Host side of the serial protocol of firmware/harness (emb_proto.h).

Frame, little-endian: sync 0xEB 0x42, type u8, seq u8, len u16, payload, CRC-32 (zlib) of
type..payload. A reply has the request's type | 0x80 and its seq; an error reply is type
0x7F with (code, detail, request type). The host drops replies whose seq is stale, so a
recovered link never pairs a request with an old answer.

Every code and every message layout comes from firmware/runtime/emb_contract.h through
``embbert_mcu.contract``: this module holds no copy of an offset, a code or a format.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from ..contract import CONTRACT as _C
from ..errors import ProtocolError

SYNC = bytes([_C.value("EMB_PROTO_SYNC0"), _C.value("EMB_PROTO_SYNC1")])
HEADER = _C.layout("PROTO_HEADER")
CRC = _C.layout("PROTO_CRC")
OVERHEAD = HEADER.size + CRC.size
_CRC_FROM = HEADER.offset("type")  # the CRC covers type..payload
_SYNC1_AT = HEADER.offset("sync1")
PROTO_VERSION = _C.value("EMB_PROTO_VERSION")

_MSG = _C.names("MESSAGE", "EMB_MSG_")
HELLO, INFER, STATS, STAGES = _MSG["hello"], _MSG["infer"], _MSG["stats"], _MSG["stages"]
SHUTDOWN, ECHO = _MSG["shutdown"], _MSG["echo"]
TEXT = _MSG["text"]  # UTF-8 in; the device tokenizes, infers, and returns logits and the ids
REPLY, ERROR = _C.value("EMB_PROTO_REPLY"), _MSG["error"]
ERROR_CODES = {c.value: c.text for c in _C.codes("PROTO_ERROR")}
PE_MODEL = _C.value("EMB_PE_MODEL")  # its detail is an emb_status_t
MODEL_STATUS = {c.value: c.name for c in _C.codes("STATUS") if c.name != "EMB_OK"}
_UNIT_IDS = _C.names("TICK_UNIT", "EMB_TICK_")  # {"cycles": 0, ...}
TICK_UNITS = {v: k for k, v in _UNIT_IDS.items()}

_HELLO_FIXED = _C.layout("HELLO")
_HELLO_TEXTS = ("board", "port", "model_sha256", "prefix")  # its strings, in order
_INFER_REQ = _C.layout("INFER_REQ")
_INFER_FIXED = _C.layout("INFER")
_TEXT_FIXED = _C.layout("TEXT")
_STATS = _C.layout("STATS")
_STAGES, _STAGE = _C.layout("STAGES"), _C.layout("STAGE")
_ERROR = _C.layout("ERROR")
_STR, _TOKEN, _LOGIT = _C.layout("STR"), _C.layout("TOKEN"), _C.layout("LOGIT")


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_frame(msg_type: int, seq: int, payload: bytes = b"") -> bytes:
    head = HEADER.pack(sync0=SYNC[0], sync1=SYNC[1], type=msg_type & 0xFF, seq=seq & 0xFF,
                       len=len(payload))
    body = head[_CRC_FROM:] + payload
    return head[:_CRC_FROM] + body + CRC.pack(crc32=crc32(body))


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
            if len(self.buf) < len(SYNC) or (self.buf[_SYNC1_AT] == SYNC[1]
                                             and len(self.buf) < HEADER.size):
                return frames
            frame, used = self._take()
            if used == 0:
                return frames
            del self.buf[:used]
            if frame is not None:
                frames.append(frame)

    def _take(self) -> tuple[Frame | None, int]:
        """(frame or None, bytes to drop); (None, 0) when more bytes are needed."""
        if self.buf[_SYNC1_AT] != SYNC[1]:
            return None, 1
        head = HEADER.unpack(self.buf)
        if head["len"] > self.max_payload:
            self.bad_frames += 1
            return None, 1
        total = OVERHEAD + head["len"]
        if len(self.buf) < total:
            return None, 0
        body = bytes(self.buf[_CRC_FROM:total - CRC.size])
        if crc32(body) != CRC.unpack(self.buf, total - CRC.size)["crc32"]:
            self.bad_frames += 1
            return None, 1
        return Frame(head["type"], head["seq"], body[HEADER.size - _CRC_FROM:]), total


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


def _fixed(layout, payload: bytes, offset: int, what: str) -> dict:
    """The fields of ``layout`` (a contract Layout) at ``offset``, by name."""
    if len(payload) < offset + layout.size:
        raise _short(what, offset + layout.size, payload)
    return layout.unpack(payload, offset)


def _strings(payload: bytes, offset: int, count: int, what: str) -> tuple[list[str], int]:
    """``count`` length-prefixed ASCII strings from ``offset``; (strings, end offset)."""
    out = []
    for _ in range(count):
        n = _fixed(_STR, payload, offset, what)["len"]
        offset += _STR.size
        if offset + n > len(payload):
            raise _short(what, offset + n, payload)
        out.append(payload[offset:offset + n].decode("ascii", "replace"))
        offset += n
    return out, offset


def _exact(what: str, end: int, payload: bytes) -> None:
    if end != len(payload):
        raise ProtocolError(f"malformed {what} reply: {len(payload) - end} bytes beyond its "
                            f"{end}-byte content", hint=HINT)


def decode_hello(payload: bytes) -> DeviceInfo:
    fixed = _fixed(_HELLO_FIXED, payload, 0, "HELLO")
    fixed["tick_unit"] = TICK_UNITS.get(fixed["tick_unit"], f"unit{fixed['tick_unit']}")
    fixed["stack_guard"] = bool(fixed["stack_guard"] & 1)
    strings, end = _strings(payload, _HELLO_FIXED.size, _C.value("EMB_HELLO_STRINGS"), "HELLO")
    _exact("HELLO", end, payload)
    return DeviceInfo(**fixed, **dict(zip(_HELLO_TEXTS, strings)))


def encode_infer(ids: list[int]) -> bytes:
    return _INFER_REQ.pack(n=len(ids)) + _TOKEN.array(len(ids)).pack(*ids)


def decode_infer(payload: bytes, n_classes: int | None = None) -> InferResult:
    """An INFER reply; ``n_classes`` (from HELLO) is checked when given."""
    head = _fixed(_INFER_FIXED, payload, 0, "INFER")
    count = head["n_classes"]
    if n_classes is not None and count != n_classes:
        raise ProtocolError(f"malformed INFER reply: {count} logits, the model has {n_classes}",
                            hint=HINT)
    end = _INFER_FIXED.size + _LOGIT.size * count
    if len(payload) < end:
        raise _short("INFER", end, payload)
    _exact("INFER", end, payload)
    logits = _LOGIT.array(count).unpack_from(payload, _INFER_FIXED.size)
    return InferResult(n=head["n"], logits=list(logits), ticks=head["ticks"])


def decode_stats(payload: bytes) -> Stats:
    fields = _fixed(_STATS, payload, 0, "STATS")
    _exact("STATS", _STATS.size, payload)
    return Stats(**fields)


def decode_stages(payload: bytes) -> list[tuple[str, int]]:
    count = _fixed(_STAGES, payload, 0, "STAGES")["count"]
    offset, stages = _STAGES.size, []
    for _ in range(count):
        ticks = _fixed(_STAGE, payload, offset, "STAGES")["ticks"]
        (name,), offset = _strings(payload, offset + _STAGE.size, 1, "STAGES")
        stages.append((name, ticks))
    _exact("STAGES", offset, payload)
    return stages


# The device's side of the replies, as emb_proto.c writes them: used by the fake device
# that the host-side fuzzer (tests, `make fuzz`) plays against the link.
def _pack_strings(*texts: str) -> bytes:
    out = b""
    for text in texts:
        raw = text.encode("ascii")
        out += _STR.pack(len=len(raw)) + raw
    return out


def encode_hello(info: DeviceInfo) -> bytes:
    values = {f.name: getattr(info, f.name) for f in _HELLO_FIXED.fields}
    values["tick_unit"] = _UNIT_IDS.get(info.tick_unit, _UNIT_IDS["cycles"])
    values["stack_guard"] = int(info.stack_guard)
    return _HELLO_FIXED.pack(**values) + _pack_strings(*(getattr(info, t) for t in _HELLO_TEXTS))


def encode_infer_reply(result: InferResult) -> bytes:
    count = len(result.logits)
    return (_INFER_FIXED.pack(n=result.n, n_classes=count, ticks=result.ticks)
            + _LOGIT.array(count).pack(*result.logits))


def encode_stats(stats: Stats) -> bytes:
    return _STATS.pack(**{f.name: getattr(stats, f.name) for f in _STATS.fields})


def encode_stages(stages: list[tuple[str, int]]) -> bytes:
    return _STAGES.pack(count=len(stages)) + b"".join(_STAGE.pack(ticks=t) + _pack_strings(name)
                                                      for name, t in stages)


def describe_error(payload: bytes) -> str:
    err = _ERROR.unpack(payload[:_ERROR.size].ljust(_ERROR.size, b"\0"))  # missing bytes: 0
    text = ERROR_CODES.get(err["code"], f"error {err['code']}")
    if err["code"] == PE_MODEL:
        text += f" {MODEL_STATUS.get(err['detail'], err['detail'])}"
    return f"{text} (request type 0x{err['request_type']:02x})"


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
    head = _TEXT_FIXED.unpack(payload)
    n, n_classes = head["n"], head["n_classes"]
    ids_at = _TEXT_FIXED.size + _LOGIT.size * n_classes
    if len(payload) != ids_at + _TOKEN.size * n:
        raise DeviceError(f"a TEXT reply of {len(payload)} bytes does not hold {n_classes} "
                          f"logits and {n} ids", hint="re-flash: embbert-mcu flash")
    logits = _LOGIT.array(n_classes).unpack_from(payload, _TEXT_FIXED.size)
    ids = _TOKEN.array(n).unpack_from(payload, ids_at)
    return TextResult(ids=list(ids), logits=list(logits), ticks=head["ticks"],
                      tokenizer_ticks=head["tokenizer_ticks"])
