"""A hostile device on loopback TCP, played against the real link and bench code.

The fake device speaks the frame format of ``protocol`` and answers like the harness until,
at a random request, it turns hostile in one of ``CASES``: valid frames with wrong payloads,
wrong lengths, wrong sequence numbers or types, a slow drip, an early close, garbage, an
oversized length field. The host side is the real ``SerialTransport`` (``socket://``),
``Device`` and ``bench.check_identity``/``run_device``. Every session must end in a
``DeviceError`` (or a subclass) within its time limit: a hang, a success or any other
exception is a finding.

    python -m embbert_mcu.device.fuzz --seconds 60     # `make fuzz`
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

from . import protocol as P
from ..errors import DeviceError
from ..export.manifest import Manifest

CASES = ("wrong_payload", "short_payload", "long_payload", "bad_count", "wrong_seq",
         "wrong_type", "error_reply", "slow_drip", "early_close", "half_frame_close",
         "garbage", "oversized_length")
SHA = "5a" * 32
INFO = P.DeviceInfo(P.PROTO_VERSION, 32, 2, 2, 4096, 8192, 25_000_000, 1, 8192, 1024, 2048,
                    "instructions", True, "qemu_h743", "mps2", SHA, "embbert")
# What check_identity compares with the device's HELLO: the hash, max_len and n_classes.
MANIFEST = Manifest(prefix="embbert", model_sha256=SHA, arena_bytes=4096, weights_bytes=0,
                    max_len=32, n_classes=2, vocab_size=8192, d_model=16, n_layers=1,
                    labels=("0", "1"), act_dtype="f32", stages=("embedder", "head"),
                    version="fuzz", quant={}, macs_at_max_len=0, test_split=None)
SAMPLES = [{"ids": [2, 10, 11, 12], "label": 0}, {"ids": [2, 40], "label": 1},
           {"ids": [2, 7, 7, 7, 7, 7], "label": 0}]


def good_reply(msg_type: int, payload: bytes) -> bytes:
    """What the harness would answer (for this fixed fake model)."""
    if msg_type == P.HELLO:
        return P.encode_hello(INFO)
    if msg_type == P.INFER:
        n = P._INFER_REQ.unpack(payload)["n"] if len(payload) >= P._INFER_REQ.size else 0
        return P.encode_infer_reply(P.InferResult(n, [0.25 * n, -0.25 * n], 1000 + 17 * n))
    if msg_type == P.STAGES:
        return P.encode_stages([("embed", 100), ("block0", 900)])
    if msg_type == P.STATS:
        return P.encode_stats(P.Stats(512, 8192, 4096, 2048, 3, 0, 0))
    return payload  # ECHO, SHUTDOWN


def hostile_payload(case: str, msg_type: int, good: bytes, rng: random.Random) -> bytes:
    """A payload that fits the frame but not the reply's layout."""
    if case == "short_payload":
        return good[:rng.randrange(len(good))]
    if case == "long_payload":
        return good + rng.randbytes(rng.randrange(1, 16))
    if case == "bad_count":  # a count or string length inside the payload that lies
        data = bytearray(good)
        if msg_type == P.HELLO:  # the board name claims 255 bytes
            P._STR.put(data, "len", 255, at=P._HELLO_FIXED.size)
        elif msg_type == P.INFER:
            P._INFER_FIXED.put(data, "n_classes", rng.choice([0, 3, 7, 1000]))
        elif msg_type == P.STAGES:
            P._STAGES.put(data, "count", rng.choice([3, 40, 65535]))
        else:
            data = data[:-1]
        return bytes(data)
    n = rng.randrange(0, 64)  # wrong_payload: random bytes of any length but the right one
    if n == len(good):
        n += 1
    return rng.randbytes(n)


@dataclass
class Session:
    case: str
    target: int  # the request index at which the device turns hostile
    seed: int
    outcome: str = ""  # the error's class name, "hang" or "no error"
    detail: str = ""  # the error message
    seconds: float = 0.0


class FakeDevice:
    """A loopback TCP server thread answering frames like the harness, until ``target``."""

    def __init__(self, session: Session, drip_s: float):
        self.s = session
        self.rng = random.Random(session.seed)
        self.drip_s = drip_s
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(1)
        self.srv.settimeout(10)
        self.port = self.srv.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(0.05)
            reader, index = P.FrameReader(), 0
            while not self.stop.is_set():
                try:
                    data = conn.recv(4096)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                for frame in reader.feed(data):
                    try:
                        if not self._answer(conn, frame, index):
                            return
                    except OSError:  # the host hung up: its side is what is under test
                        return
                    index += 1

    def _answer(self, conn: socket.socket, frame: P.Frame, index: int) -> bool:
        """Send the reply to one request; False ends the connection."""
        good = good_reply(frame.type, frame.payload)
        reply_type, seq = frame.type | P.REPLY, frame.seq
        case, rng = self.s.case, self.rng
        if index < self.s.target:
            conn.sendall(P.encode_frame(reply_type, seq, good))
            return True
        if case in ("wrong_payload", "short_payload", "long_payload", "bad_count"):
            payload = hostile_payload(case, frame.type, good, rng)
            conn.sendall(P.encode_frame(reply_type, seq, payload))
        elif case == "wrong_seq":
            conn.sendall(P.encode_frame(reply_type, (seq + rng.randrange(1, 256)) & 0xFF, good))
        elif case == "wrong_type":
            other = rng.choice([t for t in (P.HELLO, P.INFER, P.STATS, P.STAGES, P.ECHO)
                                if t != frame.type])
            conn.sendall(P.encode_frame(other | P.REPLY, seq, good))
        elif case == "error_reply":
            conn.sendall(P.encode_frame(P.ERROR, seq, rng.randbytes(rng.randrange(0, 5))))
        elif case == "slow_drip":  # the right reply, one byte at a time, slower than the wait
            for byte in P.encode_frame(reply_type, seq, good):
                if self.stop.wait(self.drip_s):
                    return False
                conn.sendall(bytes([byte]))
        elif case == "early_close":
            return False
        elif case == "half_frame_close":
            whole = P.encode_frame(reply_type, seq, good)
            conn.sendall(whole[:rng.randrange(1, len(whole))])
            return False
        elif case == "garbage":
            conn.sendall(rng.randbytes(rng.randrange(1, 200)))
        elif case == "oversized_length":  # a header promising 64 KiB, then a trickle
            conn.sendall(P.HEADER.pack(sync0=P.SYNC[0], sync1=P.SYNC[1], type=reply_type, seq=seq,
                                       len=0xFFFF) + rng.randbytes(rng.randrange(0, 64)))
        return True

    def close(self) -> None:
        self.stop.set()
        self.srv.close()
        self.thread.join(timeout=5)


def client(port: int, timeout_s: float) -> None:
    """The real host side: open the port, check the identity, run the samples, read stats."""
    from .bench import check_identity, run_device
    from .link import Device, SerialTransport

    device = Device(SerialTransport(f"socket://127.0.0.1:{port}", connect_s=2.0),
                    timeout_s=timeout_s, infer_timeout_s=timeout_s)
    try:
        check_identity(device, MANIFEST)
        run_device(device, SAMPLES)
        device.stats()
    finally:
        device.close()


def play(session: Session, timeout_s: float, limit_s: float) -> Session:
    """One session against a fresh fake device; fills in its outcome."""
    fake = FakeDevice(session, drip_s=timeout_s / 4)
    result: list[tuple[str, str]] = []

    def run() -> None:
        try:
            client(fake.port, timeout_s)
            result.append(("no error", ""))
        except DeviceError as exc:
            result.append((type(exc).__name__, exc.message))
        except Exception as exc:  # a finding: the link let something untyped through
            result.append((f"untyped {type(exc).__name__}", str(exc)))

    start = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit_s)
    session.seconds = time.monotonic() - start
    session.outcome, session.detail = result[0] if result else ("hang", "")
    fake.close()
    return session


# Requests in one session: HELLO, then INFER + STAGES per sample, then STATS.
N_REQUESTS = 1 + 2 * len(SAMPLES) + 1


def fuzz(seconds: float = 5.0, seed: int = 0, timeout_s: float = 0.3,
         limit_s: float | None = None, max_sessions: int | None = None) -> list[Session]:
    """Sessions round-robin over CASES (each hostile from a random request) for ``seconds``."""
    rng = random.Random(seed)
    # hello: 3 attempts and 2 resyncs (0.5 s each); every other request one wait
    limit_s = limit_s or 3 * timeout_s + 1.0 + N_REQUESTS * timeout_s + 2.0
    sessions: list[Session] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end or len(sessions) < len(CASES):
        if max_sessions is not None and len(sessions) >= max_sessions:
            break
        case = CASES[len(sessions) % len(CASES)]
        session = Session(case, rng.randrange(N_REQUESTS), rng.randrange(1 << 30))
        sessions.append(play(session, timeout_s, limit_s))
    return sessions


def findings(sessions: list[Session]) -> list[Session]:
    """Sessions that did not end in a typed device error."""
    from .. import errors

    typed = {c.__name__ for c in vars(errors).values()
             if isinstance(c, type) and issubclass(c, DeviceError)}
    return [s for s in sessions if s.outcome not in typed]


def summary(sessions: list[Session]) -> str:
    rows = []
    for case in CASES:
        mine = [s for s in sessions if s.case == case]
        if not mine:
            continue
        outcomes = Counter(s.outcome for s in mine)
        rows.append(f"{case:<18} {len(mine):>5}  max {max(s.seconds for s in mine):5.2f} s  "
                    + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    bad = findings(sessions)
    rows.append(f"{'total':<18} {len(sessions):>5}  findings {len(bad)}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=0.3, help="Device wait per request (s).")
    args = parser.parse_args(argv)
    sessions = fuzz(args.seconds, args.seed, args.timeout)
    print(f"{'case':<18} {'runs':>5}  slowest   outcomes (error class: count)")
    print(summary(sessions))
    for s in findings(sessions)[:20]:
        print(f"finding: {s.case} from request {s.target} (seed {s.seed}): {s.outcome} "
              f"{s.detail[:200]}", file=sys.stderr)
    return 1 if findings(sessions) else 0


if __name__ == "__main__":
    sys.exit(main())
