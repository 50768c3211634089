"""The export pipeline: checkpoint -> IR -> schedule -> arena plan -> packed weights -> C.

Each stage is its own module and a function from dataclass to dataclass; this one only
chains them and writes the export directory atomically: everything is rendered into a
temporary folder beside the target, then swapped in, so a failed export leaves the
previous one intact.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..checkpoint import Checkpoint, load_checkpoint
from ..errors import CheckpointError, ExportError, UsageError
from ..fileio import sha256_file
from ..quant import checkpoint_policy, conv_blocks_integer, decisions_of, pack_model, tensor_kinds
from ..resources import resource_dir
from .graph import build_ir
from .layout import SRC
from .library import render_library
from .lower import lower_graph
from .manifest import FILE as MANIFEST, Manifest
from .onnx_out import write_onnx
from .outdir import MARKER, check_replaceable, clean_stale, temp_prefix
from .plan import plan_arena, plan_record
from .render import RenderInput, banner, environment, render_sources
from .testset import FILE as TESTSET, checkpoint_tokenizer, testset_jsonl, tokenized_testset
from .tokc import render_tokenizer, tokenizer_sizes
from .tokgen import tokenizer_tables
from .weights import c_tensors, weights_bytes

PREFIX_RE = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")


@dataclass
class ExportResult:
    out_dir: Path
    manifest: Manifest
    arena_bytes: int
    naive_arena_bytes: int
    weights_bytes: int
    macs_at_max_len: int
    macs_at_mean_len: int
    mean_len: float
    n_test: int
    files: list[str] = field(default_factory=list)
    fp16_weights: int = 0  # weights stored as fp16 (fallback blocks, f16 tensors)
    quantized: bool = False  # the checkpoint carries a `quantize` record


def runtime_files() -> dict[str, Path]:
    """The runtime kernels copied beside the generated sources (emb_config.h is generated), by
    the name they get in src/: firmware/runtime/emb_*.[ch] as they are, and the Arm DSP twins
    of firmware/runtime/arm_dsp/ as emb_dsp_*.c (their names clash with the portable files';
    each compiles to nothing on the other kind of core) with their emb_dsp.h."""
    folder = resource_dir("firmware") / "runtime"
    files = {p.name: p for p in sorted(folder.glob("emb_*.[ch]")) if p.name != "emb_config.h"}
    if not any(name.endswith(".c") for name in files):
        raise ExportError(f"no runtime kernels (emb_*.c) in {folder}",
                          hint="run from a full checkout of embbert-mcu")
    for p in sorted((folder / "arm_dsp").glob("emb_*.[ch]")):
        files[p.name if p.suffix == ".h" else "emb_dsp_" + p.name[len("emb_"):]] = p
    return dict(sorted(files.items()))


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix) or prefix.startswith("emb_"):
        raise UsageError(f"prefix {prefix!r} is not a lowercase C identifier",
                         hint="use letters, digits and _, e.g. embbert (emb_ is the runtime's)")
    return prefix


def export_checkpoint(ckpt_path: str | Path, out_dir: str | Path, prefix: str = "embbert",
                      act_dtype: str | None = None, command: str = "embbert-mcu export",
                      mac_dtype: str | None = None,
                      onnx: bool = True, h_columns: bool = True) -> ExportResult:
    """Export ``ckpt_path`` into ``out_dir`` (see docs/export.md for the layout);
    ``h_columns``: on the integer path H also keeps its codes as columns (lower.lower_graph)."""
    check_prefix(prefix)
    check_replaceable(Path(out_dir), Path(ckpt_path))  # before any work: nothing is touched
    ckpt = load_checkpoint(ckpt_path)
    if ckpt.kind != "classifier":
        raise CheckpointError(f"only classifier checkpoints are exported, this is {ckpt.kind!r}",
                              hint="fine-tune it with `embbert-mcu train`")
    policy = checkpoint_policy(ckpt)
    policy = policy.with_(act_dtype=act_dtype, mac_dtype=mac_dtype)
    model = ckpt.model()
    ir = build_ir(model, ckpt.config.max_len)
    conv_q8 = conv_blocks_integer(ckpt.config, policy.block, tensor_kinds(model), decisions_of(ckpt))
    schedule = lower_graph(ir, model, prefix, policy.act_dtype, policy.mac_dtype, conv_q8,
                           h_columns)
    plan = plan_arena(schedule)
    packed = pack_model(ckpt)
    tensors = c_tensors(prefix, packed, model)
    sha = sha256_file(ckpt_path)
    inp = RenderInput(prefix, ckpt.config, schedule, plan, tensors, weights_bytes(tensors), sha,
                      policy.to_dict(), command)
    sources = render_sources(inp)
    tok_tables = tokenizer_tables(checkpoint_tokenizer(ckpt))
    sources.update(render_tokenizer(environment(), prefix, tok_tables,
                                    lambda name: banner(inp, name)))
    runtime = list(runtime_files())
    library = render_library(environment(), prefix, [str(x) for x in ckpt.labels],
                             list(sources) + runtime, lambda name: banner(inp, name),
                             windows=ckpt.config.windows)
    testset = tokenized_testset(ckpt)
    lengths = [len(r["ids"]) for r in testset]
    mean_len = sum(lengths) / len(lengths) if lengths else float(ckpt.config.max_len)
    manifest = _manifest(ckpt, inp, schedule, tokenizer_sizes(tok_tables).to_dict())
    files = _write_dir(Path(out_dir), sources, manifest, testset, ckpt, ir if onnx else None,
                       library)
    manifest = manifest.with_files(files)
    return ExportResult(
        out_dir=Path(out_dir), manifest=manifest, arena_bytes=plan.arena_bytes,
        naive_arena_bytes=plan.naive_bytes, weights_bytes=inp.weights_bytes,
        macs_at_max_len=schedule.macs(ckpt.config.max_len),
        macs_at_mean_len=schedule.macs(max(1, round(mean_len))), mean_len=mean_len,
        n_test=len(testset), files=files,
        fp16_weights=sum(int(q.f16.size) for q in packed.values()), quantized=bool(ckpt.quant),
    )


def _manifest(ckpt: Checkpoint, inp: RenderInput, schedule, tokenizer: dict) -> Manifest:
    cfg, plan = ckpt.config, inp.plan
    return Manifest(
        prefix=inp.prefix, model_sha256=inp.model_sha256,
        arena_bytes=plan.arena_bytes, weights_bytes=inp.weights_bytes,
        max_len=cfg.max_len, n_classes=cfg.n_classes, vocab_size=cfg.vocab_size,
        d_model=cfg.d_model, n_layers=cfg.n_layers,
        labels=tuple(ckpt.labels), act_dtype=schedule.act_dtype,
        mac_dtype=inp.policy["mac_dtype"],
        stages=tuple(s.name for s in schedule.stages), version=__version__,
        quant=inp.policy, macs_at_max_len=schedule.macs(cfg.max_len),
        test_split=(ckpt.test_split or {}).get("name"),
        x_layout={part: plan.placements[buf].offset
                  for part, buf in schedule.acts["act_x"].items()},
        arena_plan=plan_record(schedule, plan),  # for bench reports
        macs_per_stage=schedule.macs_polynomial(),  # [a, b, c]: a + b n + c n^2
        tokenizer=tokenizer, windows=cfg.windows, window_stride=cfg.window_stride,
    )


def _write_dir(out: Path, sources: dict[str, str], manifest: Manifest, testset: list[dict],
               ckpt: Checkpoint, ir, library: dict[str, str] | None = None) -> list[str]:
    """Render everything into a temp dir beside ``out``, then swap it in."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(out.parent, out.name)
        tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out), suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise UsageError(f"cannot write the export beside {out}: {exc.strerror or exc}",
                         hint="choose a writable -o") from None
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700; an export directory is an ordinary folder
    try:
        (tmp / MARKER).write_text("")
        (tmp / SRC).mkdir()
        for name, text in sources.items():
            (tmp / SRC / name).write_text(text, encoding="utf-8")
        for name, src in runtime_files().items():
            shutil.copyfile(src, tmp / SRC / name)
        for rel, text in (library or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")
        (tmp / TESTSET).write_text(testset_jsonl(testset))
        if ckpt.tokenizer_json:
            (tmp / "tokenizer.json").write_text(ckpt.tokenizer_json, encoding="utf-8")
        if ir is not None:
            write_onnx(ir, tmp / "model.onnx")
        files = sorted([p.relative_to(tmp).as_posix() for p in tmp.rglob("*")
                        if p.is_file() and p.name != MARKER] + [MANIFEST])
        # the files listed are what a later export may replace without asking; JSON
        # (manifest, testset, tokenizer) and ONNX cannot hold a comment: no banner
        manifest.with_files(files).write(tmp / MANIFEST)
        (tmp / MARKER).unlink()
        _swap(tmp, out)
        return files
    except OSError as exc:
        raise UsageError(f"cannot write the export to {out}: {exc.strerror or exc}",
                         hint="free some space or choose a writable -o") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _swap(tmp: Path, out: Path) -> None:
    """Put ``tmp`` in place of ``out``; ``out`` was checked to be absent, empty or ours."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=temp_prefix(out), suffix=".old", dir=out.parent))
        os.replace(out, old)  # onto the empty folder just made: one rename
        (old / MARKER).write_text("")
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
