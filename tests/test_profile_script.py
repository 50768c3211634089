"""benchmarks/profile.py's instrumentation: every kernel call statement of a generated model.c
is timed into its kernel's slot, other lines stay as they are."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _instrument():
    spec = importlib.util.spec_from_file_location("embbert_bench_profile",
                                                  ROOT / "benchmarks" / "profile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.instrument


def test_kernel_calls_are_timed_once_each_and_the_rest_is_kept():
    model_c = "\n".join([
        "static uint32_t emb_segment_u16(uint16_t id, uint32_t *after_sep)",
        "    for (i = 0; i < n; ++i) {",
        "        emb_act_load_row(&act_x, (uint32_t)i, b0_x);",
        "        mac_scale[0] = emb_quantize_row_q8(b0_h, 128u, mac_codes);",
        "        EMB_TRY(emb_linear_q8(&w, b, mac_codes, mac_scale[0], b0_q));",
        "        EMB_TRY(emb_linear_q8(&w2, b2, mac_codes, mac_scale[0], b0_a));",
        "    }",
    ])
    text, names = _instrument()(model_c)
    assert names == ["emb_act_load_row", "emb_quantize_row_q8", "emb_linear_q8"]
    lines = text.splitlines()
    assert "static uint32_t emb_segment_u16(uint16_t id, uint32_t *after_sep)" in lines
    timed = [line for line in lines if "emb_prof_ticks[" in line and "+=" in line]
    assert len(timed) == 4 and all("emb_bm_ticks() - t0_" in line for line in timed)
    assert timed[3].count("emb_prof_ticks[2]") == 1  # both linears into the linear's slot
    assert "EMB_TRY(emb_linear_q8(&w2, b2, mac_codes, mac_scale[0], b0_a));" in timed[3]
