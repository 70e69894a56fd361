"""vLLM main's MLA attention + output quant through Inductor with VllmOptPass
(needs torch; run by scripts/torch-tests).

vLLM main's `unified_mla_attention_with_output` takes a KV-cache dependency,
per-group output quant arguments (`quant_group_size`, `quant_scale_ue8m0`,
`quant_col_major`, `quant_tma_aligned`) and `q_dcp_replicated`, which its
MLA layer passes (None without decode context parallelism). vllm-opt must
fuse a static FP8 quant of its output (`output_scale`) and a per-group quant
(vLLM main's MLAAttnFp8GroupQuantPattern: the attention writes the values
and the group scales, column-major where the quant's were, UE8M0 where
asked, padded for TMA where they were), the replicated queries of decode
context parallelism kept. The attention is defined here with vLLM main's schema and a stand-in
CPU body (any deterministic function of its inputs with vLLM's quant
epilogues serves); the compiled function must give eager's bytes and strides.
The graph is a lit input (tests/pipeline/inputs/mla_main_inductor.json).
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from fp8 import per_group  # noqa: E402
from inductor_pass import assert_same_outputs, define_ops  # noqa: E402
from mla import LAYER, compiled_and_eager, stand_in  # noqa: E402
from mla import inputs as mla_inputs  # noqa: E402
from mla import static_fp8 as _fp8  # noqa: E402

H, DQK, DKV, DPE, DV = 4, 80, 64, 16, 64


def _mla(q, kv_c_normed, k_pe):
    return stand_in(q, kv_c_normed, k_pe, DV)


def unified_mla_attention_with_output(q, kv_c_normed, k_pe, output, layer_name, output_scale=None,
                                      output_block_scale=None, kv_cache_dummy_dep=None, quant_group_size=None,
                                      quant_scale_ue8m0=None, quant_col_major=None, quant_tma_aligned=None,
                                      q_dcp_replicated=None):
    o = _mla(q, kv_c_normed, k_pe)
    if q_dcp_replicated is not None:
        # Decode context parallelism's replicated queries: mixed in, so that a dropped operand shows.
        o = (o.float() + q_dcp_replicated.float()[..., :DV].reshape(o.shape) * 0.25).to(o.dtype)
    if quant_group_size is not None:
        values, scales = per_group(o, quant_group_size, ue8m0=bool(quant_scale_ue8m0))
        output.copy_(values)
        output_block_scale.copy_(scales)
    elif output_scale is not None:
        output.copy_(_fp8(o, output_scale))
    else:
        output.copy_(o)


def static_scaled_fp8_quant(result, input, scale):
    result.copy_(_fp8(input, scale))


def per_token_group_fp8_quant(input, output_q, output_s, group_size, eps, fp8_min, fp8_max, scale_ue8m0,
                              dummy_is_scale_transposed, dummy_is_tma_aligned):
    values, scales = per_group(input, group_size, eps, fp8_max, scale_ue8m0)
    output_q.copy_(values)
    output_s.copy_(scales)


LIB_C = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB_C, ("static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale) -> ()",
                   "per_token_group_fp8_quant(Tensor input, Tensor! output_q, Tensor! output_s, int group_size, "
                   "float eps, float fp8_min, float fp8_max, bool scale_ue8m0, bool dummy_is_scale_transposed, "
                   "bool dummy_is_tma_aligned) -> ()"),
           {"static_scaled_fp8_quant": static_scaled_fp8_quant, "per_token_group_fp8_quant": per_token_group_fp8_quant})
LIB_VLLM = torch.library.Library("vllm", "FRAGMENT")
define_ops(LIB_VLLM, ("unified_mla_attention_with_output(Tensor q, Tensor kv_c_normed, Tensor k_pe, Tensor! output, "
                      "str layer_name, Tensor? output_scale=None, Tensor!? output_block_scale=None, "
                      "Tensor? kv_cache_dummy_dep=None, int? quant_group_size=None, bool? quant_scale_ue8m0=None, "
                      "bool? quant_col_major=None, bool? quant_tma_aligned=None, Tensor? q_dcp_replicated=None) -> ()",),
           {"unified_mla_attention_with_output": unified_mla_attention_with_output})


def mla(q, kv, pe, q_dcp=None):
    """vLLM main's MLA layer: the output buffer, the call with `q_dcp_replicated` (None: no DCP)."""
    out = torch.empty(q.shape[0], H * DV, dtype=q.dtype)
    torch.ops.vllm.unified_mla_attention_with_output(q, kv, pe, out, LAYER, q_dcp_replicated=q_dcp)
    return out


def group_quant(y, group_size, col_major, ue8m0, tma=False):
    """vLLM main's `per_token_group_quant_fp8`: row-major, column-major or (DeepGEMM's) column-major with the
    rows padded to a multiple of 4."""
    t, h = y.shape
    q = torch.empty(y.shape, dtype=torch.float8_e4m3fn)
    if tma:
        s = torch.empty_strided((t, h // group_size), (1, (t + 3) // 4 * 4), dtype=torch.float32)
    elif col_major:
        s = torch.empty((h // group_size, t), dtype=torch.float32).permute(-1, -2)
    else:
        s = torch.empty((t, h // group_size), dtype=torch.float32)
    torch.ops._C.per_token_group_fp8_quant(y, q, s, group_size, 1e-10, -448.0, 448.0, ue8m0, col_major, tma)
    return q, s


def layers(q, kv, pe, scale):
    """Four MLA layers: static FP8, column-major per-group (128), row-major UE8M0 per-group (64), and with
    decode context parallelism's replicated queries a TMA-padded per-group one (128; 150 rows pad to 152)."""
    r = torch.empty(q.shape[0], H * DV, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(r, mla(q, kv, pe), scale)
    q1, s1 = group_quant(mla(q * 2, kv, pe), 128, True, False)
    q2, s2 = group_quant(mla(q * 3, kv, pe), 64, False, True)
    q3, s3 = group_quant(mla(q * 4, kv, pe, q_dcp=q * 5), 128, True, False, tma=True)
    return r, q1, s1, q2, s2, q3, s3


def inputs(t, seed):
    return mla_inputs(t, seed, H, DQK, DKV, DPE)


class MlaMainSchema(unittest.TestCase):
    def test_static_and_per_group_quants_fuse_into_the_attention(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                got, want, seen = compiled_and_eager(layers, inputs(150, 7), torch.tensor(0.01), symbolic, "mla_main")
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("vllm.unified_mla_attention_with_output.default"), 4, seen[0])
                for gone in ("_C.static_scaled_fp8_quant.default", "_C.per_token_group_fp8_quant.default",
                             "auto_functionalized"):
                    self.assertNotIn(gone, seen[0])
                assert_same_outputs(self, got, want, f"symbolic={symbolic}", strides=True)


if __name__ == "__main__":
    unittest.main()
