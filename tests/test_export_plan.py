"""The static arena plan: no two live buffers overlap, in-place reuse, and the size of the
base preset's arena at l = 256 (a regression threshold, as tflite-micro's arena test)."""

import pytest

from embbert_mcu.config import preset
from embbert_mcu.export.graph import build_ir
from embbert_mcu.export.lower import lower_graph
from embbert_mcu.export.plan import plan_arena
from embbert_mcu.model import build_classifier

# Committed figures: the planned peak may shrink, never grow. int8 storage: the two l x d
# buffers X and H (2 x 32 KiB) + their row scales + l scores and a few d-vectors of scratch.
BASE_L256_INT8_BYTES = 69_632
BASE_L256_F32_BYTES = 264_192


def _plan(cfg, act):
    model = build_classifier(cfg)
    sched = lower_graph(build_ir(model, cfg.max_len), model, "embbert", act)
    return sched, plan_arena(sched)


@pytest.fixture(scope="module")
def base_int8():
    return _plan(preset("base"), "int8")


def test_base_arena_at_l256_does_not_grow(base_int8):
    _, plan = base_int8
    assert plan.arena_bytes <= BASE_L256_INT8_BYTES
    # it holds X and H in int8 (64 KiB) and fits the STM32F446's 128 KiB with room for stack
    assert plan.arena_bytes >= 2 * 256 * 128
    assert plan.arena_bytes < 128 * 1024 - 32 * 1024


def test_base_arena_f32_activations_does_not_grow():
    _, plan = _plan(preset("base"), "f32")
    assert plan.arena_bytes <= BASE_L256_F32_BYTES


def test_live_buffers_never_overlap(base_int8):
    sched, plan = base_int8
    placed = list(plan.placements.values())
    aliases = {(out, inp) for op in sched.flat_ops() for out, inp in op.inplace}
    for i, a in enumerate(placed):
        assert a.offset % 8 == 0 and a.offset + a.nbytes <= plan.arena_bytes
        for b in placed[i + 1:]:
            live_together = not (a.last < b.first or b.last < a.first)
            overlap = a.offset < b.offset + b.nbytes and b.offset < a.offset + a.nbytes
            shared = (a.name, b.name) in aliases or (b.name, a.name) in aliases
            assert not (live_together and overlap and not shared), (a, b)


def test_inplace_ops_reuse_their_input(base_int8):
    _, plan = base_int8
    p = plan.placements
    assert p["b0_h"].offset == p["b0_x"].offset  # RMSNorm writes over the row it read
    assert plan.arena_bytes < plan.naive_bytes


def test_buffers_alive_across_a_loop_cover_the_whole_loop(base_int8):
    sched, plan = base_int8
    p = plan.placements
    # X is read by the last block's norm loop, whose scratch must not overwrite X meanwhile
    last = sched.stages[-2].name[len("block"):]
    norm_x = p[f"b{last}_x"]
    assert p["act_x_q8"].last >= norm_x.last


def test_arena_scales_with_l_not_l_squared():
    small = _plan(preset("nano", max_len=64), "int8")[1].arena_bytes
    large = _plan(preset("nano", max_len=128), "int8")[1].arena_bytes
    assert large < 2.2 * small  # l^2 scores would quadruple it
