"""The serial protocol: host framing, and thousands of malformed frames against the harness
built for the host with AddressSanitizer + UBSan, after which a valid request still works."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import threading

import pytest

from embbert_mcu.contract import CONTRACT
from embbert_mcu.device import protocol as P
from embbert_mcu.errors import DeviceError
from embbert_mcu.device.link import Device, PipeTransport, SerialTransport

from _device_util import tiny_export


def test_frame_roundtrip_and_crc_matches_zlib():
    frame = P.encode_frame(P.INFER, 7, P.encode_infer([2, 10, 11]))
    assert frame[:2] == P.SYNC and frame[2] == P.INFER and frame[3] == 7
    reader = P.FrameReader()
    # Noise before, a corrupted copy, then the good frame: only the good one comes out.
    bad = bytearray(frame)
    bad[8] ^= 0x40
    got = reader.feed(b"\x00\xeb\x13noise" + bytes(bad) + frame)
    assert got == [P.Frame(P.INFER, 7, P.encode_infer([2, 10, 11]))]
    assert reader.bad_frames == 1


def test_reader_waits_for_split_frames():
    frame = P.encode_frame(P.ECHO, 1, b"abc")
    reader = P.FrameReader()
    assert reader.feed(frame[:5]) == []
    assert reader.feed(frame[5:]) == [P.Frame(P.ECHO, 1, b"abc")]


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build the harness for the host")
    from embbert_mcu.device.firmware import build_host_harness

    root = tmp_path_factory.mktemp("proto")
    model = tiny_export(root)
    exe = build_host_harness(model, root / "host", sanitize=True)
    return model, exe


def _start(exe) -> tuple[subprocess.Popen, Device]:
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    return proc, Device(PipeTransport(proc), timeout_s=5.0)


def _malformed(rng: random.Random, i: int, max_payload: int) -> bytes:
    kind = i % 6
    if kind == 0:  # pure noise
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if kind == 1:  # one flipped bit anywhere after the sync
        msg_type = rng.choice([P.HELLO, P.INFER, P.STATS, P.STAGES, P.ECHO])
        frame = bytearray(P.encode_frame(msg_type, i, rng.randbytes(rng.randrange(40))))
        frame[rng.randrange(2, len(frame))] ^= 1 << rng.randrange(8)
        return bytes(frame)
    if kind == 2:  # oversized length field
        return P.HEADER.pack(sync0=P.SYNC[0], sync1=P.SYNC[1], type=P.INFER, seq=i & 0xFF,
                             len=rng.randrange(max_payload + 1, 65536))
    if kind == 3:  # valid CRC, nonsense content: unknown type or wrong INFER length
        msg_type = rng.choice([0x00, 0x2A, P.ERROR, 0xFF, P.INFER])
        return P.encode_frame(msg_type, i, rng.randbytes(rng.randrange(5)))
    if kind == 4:  # INFER with out-of-range tokens or length 0
        ids = [rng.choice([2, 8192, 40000, 65535]) for _ in range(rng.randrange(0, 4))]
        return P.encode_frame(P.INFER, i, P.encode_infer(ids))
    frame = P.encode_frame(P.INFER, i, P.encode_infer([2] * rng.randrange(1, 30)))
    return frame[:rng.randrange(1, len(frame) - 1)]  # truncated


def test_fuzzed_harness_keeps_serving(harness):
    model, exe = harness
    proc, dev = _start(exe)
    try:
        info = dev.hello()
        assert info.port == "host" and info.max_len == 32
        good = dev.infer([2, 100, 200, 300])
        rng = random.Random(1234)
        for i in range(3000):
            dev.t.write(_malformed(rng, i, info.max_payload))
            if i % 500 == 499:  # truncated frames leave the device mid-frame: recover, check
                dev.resync()
                assert dev.infer([2, 100, 200, 300]).logits == good.logits
        dev.resync()
        assert dev.infer([2, 100, 200, 300]).logits == good.logits
        stats = dev.stats()
        assert stats.n_errors > 1000 and stats.n_dropped > 0
    finally:
        dev.close()
        proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]  # no sanitizer report


def test_error_replies_name_the_problem(harness):
    _, exe = harness
    proc, dev = _start(exe)
    try:
        frame = dev.request(P.INFER, P.encode_infer([2, 60000]))
        assert frame.type == P.ERROR and "EMB_ERR_TOKEN" in P.describe_error(frame.payload)
        frame = dev.request(P.INFER, P._INFER_REQ.pack(n=5) + P._TOKEN.pack(id=2))  # 5 ids? 1
        assert frame.type == P.ERROR
        assert P._ERROR.unpack(frame.payload)["code"] == CONTRACT.value("EMB_PE_LENGTH")
        with pytest.raises(DeviceError, match="unknown request type"):
            dev.call(0x2A)
        assert dev.echo(b"still here") == b"still here"
    finally:
        dev.close()
        proc.wait(timeout=10)


def _server(behaviour: str) -> tuple[socket.socket, int]:
    busy = P.encode_frame(P.HELLO | P.REPLY, 1, b"garbage")[:-1] + b"?"  # its CRC is wrong
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.settimeout(3)
            try:
                while conn.recv(4096):
                    if behaviour == "busy":
                        conn.sendall(busy * 4)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


@pytest.mark.parametrize("behaviour,match", [("silent", "silent"), ("busy", "no valid reply")])
def test_silent_or_busy_device_is_a_device_error(behaviour, match):
    srv, port = _server(behaviour)
    dev = Device(SerialTransport(f"socket://127.0.0.1:{port}"), timeout_s=0.5)
    try:
        with pytest.raises(DeviceError, match=match):
            dev.hello(attempts=1)
    finally:
        dev.close()
        srv.close()


def test_absent_port_is_a_device_error():
    with pytest.raises(DeviceError, match="cannot open"):
        SerialTransport("/dev/does-not-exist-embbert")


def test_a_bad_crc_gets_an_error_reply_and_the_frame_is_not_run(harness):
    _, exe = harness
    proc, dev = _start(exe)
    try:
        dev.hello()
        before = dev.stats()
        frame = bytearray(P.encode_frame(P.INFER, 77, P.encode_infer([2, 100, 200, 300])))
        frame[-1] ^= 0x01  # the CRC's last byte
        dev.t.write(bytes(frame))
        reply = dev.wait_reply(P.INFER, 77, 5.0)
        assert reply.type == P.ERROR and P.describe_error(reply.payload).startswith("bad CRC")
        after = dev.stats()
        assert after.n_infer == before.n_infer  # the INFER inside was not executed
        assert after.n_errors > before.n_errors
        assert dev.infer([2, 100, 200, 300]).n == 4  # the link still serves
    finally:
        dev.close()
        proc.wait(timeout=10)
