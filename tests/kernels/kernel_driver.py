"""Run the C runtime kernels on the host through tests/kernels/driver.c.

Tolerance policy of the kernel tests (compare C output c with the numpy reference r,
embbert_mcu/export/reference.py; vectors from numpy's PCG64 with a fixed seed per case):
- integer paths are bit-exact: fp16 <-> fp32 bits (all 65536 patterns; NaN only as NaN of the
  same sign from float32), round half to even, int8 activation codes and their float scales,
  q8 / f16 / f32 gathers (one exact product per value), act round trips in float32;
- float paths pass when |c - r| <= ATOL + RTOL * m elementwise, where m is the magnitude the
  result was summed from (for a dot product sum_j |w_j x_j| + |b|; for elementwise kernels |r|).
  float32 summation of n terms in any order is off by at most about n * 2^-24 * m, so RTOL
  below is that bound for the longest sum a case makes, rounded up; ATOL covers results near 0.
  The constants are named per case in TOL and quoted by each test.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np

from embbert_mcu.ccompile import compile_c
from embbert_mcu.contract import CONTRACT
from embbert_mcu.quant.blocks import QTensor

HERE = Path(__file__).resolve().parent
RUNTIME = HERE.parents[1] / "firmware" / "runtime"
ENCODING_IDS = CONTRACT.names("ENCODING", "EMB_QT_")  # {"q8": 0, ...} from emb_contract.h
STATUS = {c.name: c.value for c in CONTRACT.codes("STATUS")}  # {"EMB_OK": 0, ...}
PROVENANCE = "numpy.random.default_rng(seed) (PCG64), seed given per case"

# case -> (atol, rtol) for |c - r| <= atol + rtol * magnitude
TOL = {
    "linear": (1e-6, 2e-5),  # sums of up to 256 products: 256 * 6e-8 = 1.5e-5
    "conv1d": (1e-6, 2e-5),  # up to 64 taps
    "rmsnorm": (1e-6, 1e-5),  # a sum of d squares, a sqrt and two products
    "attention": (1e-6, 2e-5),  # exp (libm vs numpy, few ulp), sums over n <= 64 and d
    "silu": (1e-7, 1e-6),  # one expf: libm and numpy agree within a few ulp
    "elementwise": (0.0, 0.0),  # wdiff, add: the same float32 operations, so bit-exact
}


def assert_close(name: str, c: np.ndarray, r: np.ndarray, magnitude: np.ndarray | None = None):
    """The tolerance policy above, with a readable failure naming the worst element."""
    atol, rtol = TOL[name]
    m = np.abs(r) if magnitude is None else np.asarray(magnitude, dtype=np.float64)
    err = np.abs(c.astype(np.float64) - r.astype(np.float64))
    bound = atol + rtol * m
    bad = err > bound
    if bad.any():
        i = int(np.argmax(err - bound))
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {err.size} beyond tolerance; worst at {i}: "
            f"C {c.flat[i]!r} vs reference {r.flat[i]!r} "
            f"(err {err.flat[i]:.3g} > {bound.flat[i]:.3g})"
        )


# AddressSanitizer (the driver poisons the bytes after every buffer it hands a kernel) and
# UndefinedBehaviorSanitizer, including float -> int conversions out of range; any report fails.
SANITIZE_FLAGS = ("-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all",
                  "-fno-omit-frame-pointer", "-g")


def build_driver(out_dir: Path, qblock: int = 32, extra_flags=()) -> Path:
    """Compile driver.c with every runtime kernel and an emb_config.h of EMB_QBLOCK qblock."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "emb_config.h").write_text(f"#define EMB_QBLOCK {qblock}\n")
    sources = [HERE / "driver.c", *sorted(RUNTIME.glob("emb_*.c"))]
    return compile_c(sources, out_dir / f"driver_q{qblock}", [out_dir, RUNTIME],
                     extra_flags=extra_flags)


# ---- wire format: little-endian; arrays are u32 count + elements ----

def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def f32(v: float) -> bytes:
    return struct.pack("<f", v)


def arr(a: np.ndarray | None, dtype) -> bytes:
    if a is None:
        return u32(0)
    a = np.ascontiguousarray(a, dtype=dtype).reshape(-1)
    return u32(a.size) + a.tobytes()


def qtensor(t: QTensor) -> bytes:
    """The emb_qtensor_t of t: blocks as emb_block_q8_t {u16 d; i8 qs[block]} records."""
    rows = t.shape[0]
    n = t.scales.size
    rec = np.zeros(n, dtype=[("d", "<u2"), ("qs", "i1", (t.block,))])
    rec["d"], rec["qs"] = t.scales, t.qs.reshape(n, t.block)
    blocks = u32(n) + rec.tobytes()
    return (u32(ENCODING_IDS[t.encoding]) + u32(rows) + u32(t.numel // rows) + blocks
            + arr(t.f16, "<u2") + arr(t.mask, "u1") + arr(t.f32, "<f4"))


def act(x: np.ndarray, q8: np.ndarray | None = None, scales: np.ndarray | None = None,
        transposed: bool = False) -> bytes:
    """An emb_act_t of rows x d: float rows (q8 None) or int8 rows with scales, and with
    ``transposed`` their codes also as columns (the driver builds t8)."""
    rows, d = x.shape if q8 is None else q8.shape
    if q8 is None:
        return u32(0) + u32(rows) + u32(d) + arr(x, "<f4") + arr(None, "i1") + arr(None, "<f4")
    mode = 2 if transposed else 1
    return u32(mode) + u32(rows) + u32(d) + arr(None, "<f4") + arr(q8, "i1") + arr(scales, "<f4")


class Driver:
    """The compiled driver: call(op, payload) -> stdout bytes, parsed by the helpers below."""

    def __init__(self, exe: Path):
        self.exe = exe

    def call(self, op: str, payload: bytes) -> bytes:
        proc = subprocess.run([str(self.exe), op], input=payload, capture_output=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"driver {op} exited {proc.returncode}: {proc.stderr.decode()}")
        return proc.stdout

    def status_and_floats(self, op: str, payload: bytes, n: int) -> tuple[int, np.ndarray]:
        out = self.call(op, payload)
        assert len(out) == 4 + 4 * n, f"{op}: {len(out)} bytes out"
        return struct.unpack("<i", out[:4])[0], np.frombuffer(out[4:], "<f4")
