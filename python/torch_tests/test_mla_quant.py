"""Multi-head latent attention + output quant through Inductor with
VllmOptPass as its post-grad custom pass (needs torch; run by
scripts/torch-tests): vLLM main's MLA attention fusion, static FP8 and
NVFP4. `vllm::unified_mla_attention_with_output` is defined here with
vLLM's (0.11) schema and a stand-in CPU body: any deterministic function of
its inputs with the FP8 or NVFP4 epilogue serves, since the test checks
that the fused graph computes what eager does with the quant outside. The
model reads the attention output as vLLM's MLA layer does: `[T, H*V]` rows
straight into the quant.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import define_ops  # noqa: E402
from mla import LAYER, compiled_and_eager, stand_in  # noqa: E402
from mla import inputs as mla_inputs  # noqa: E402
from mla import static_fp8 as _fp8  # noqa: E402
from nvfp4 import SCALED_FP4_QUANT, nvfp4, quant, scaled_fp4_quant  # noqa: E402

H, DQK, DKV, DPE, DV = 4, 48, 32, 16, 32


def _mla(q, kv_c_normed, k_pe):
    return stand_in(q, kv_c_normed, k_pe, DV)


def unified_mla_attention_with_output(q, kv_c_normed, k_pe, output, layer_name, output_scale=None,
                                      output_block_scale=None):
    o = _mla(q, kv_c_normed, k_pe)
    if output_scale is None:
        output.copy_(o)
    elif output_block_scale is None:
        output.copy_(_fp8(o, output_scale))
    else:
        packed, sf = nvfp4(o, output_scale)
        output.copy_(packed)
        output_block_scale.view(torch.uint8).copy_(sf.view(torch.uint8).reshape(output_block_scale.shape))


def static_scaled_fp8_quant(result, input, scale):
    result.copy_(_fp8(input, scale))


LIB_C = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB_C, (SCALED_FP4_QUANT, "static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale) -> ()"),
           {"scaled_fp4_quant": scaled_fp4_quant, "static_scaled_fp8_quant": static_scaled_fp8_quant})
LIB_VLLM = torch.library.Library("vllm", "FRAGMENT")
define_ops(LIB_VLLM, ("unified_mla_attention_with_output(Tensor q, Tensor kv_c_normed, Tensor k_pe, Tensor! output, "
                      "str layer_name, Tensor? output_scale=None, Tensor!? output_block_scale=None) -> ()",),
           {"unified_mla_attention_with_output": unified_mla_attention_with_output})


def mla(q, kv, pe):
    out = torch.empty(q.shape[0], H * DV, dtype=q.dtype)
    torch.ops.vllm.unified_mla_attention_with_output(q, kv, pe, out, LAYER)
    return out


def mla_fp8(q, kv, pe, scale):
    y = mla(q, kv, pe)
    r = torch.empty(y.shape, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(r, y, scale)
    return r


def mla_nvfp4(q, kv, pe, g):
    packed, scales = quant(mla(q, kv, pe), g)
    return packed, scales.view(torch.float8_e4m3fn)


def inputs(t, seed):
    return mla_inputs(t, seed, H, DQK, DKV, DPE)


class MlaQuantFusion(unittest.TestCase):
    def check(self, fn, extra, symbolic):
        got, want, seen = compiled_and_eager(fn, inputs(150, 7), extra, symbolic)
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0].count("vllm.unified_mla_attention_with_output.default"), 1, seen[0])
        for gone in ("_C.static_scaled_fp8_quant.default", "_C.scaled_fp4_quant.default", "auto_functionalized"):
            self.assertNotIn(gone, seen[0])
        return got, want

    def test_static_fp8_fuses_into_the_attention(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                got, want = self.check(mla_fp8, torch.tensor(0.01), symbolic)
                self.assertTrue(torch.equal(got.view(torch.uint8), want.view(torch.uint8)))

    def test_nvfp4_fuses_into_the_attention(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                (got_q, got_sf), (want_q, want_sf) = self.check(mla_nvfp4, torch.tensor(448.0 * 6.0 / 4.0), symbolic)
                self.assertEqual(tuple(got_sf.shape), (256, 8))
                self.assertTrue(torch.equal(got_q, want_q))
                self.assertTrue(torch.equal(got_sf[:150].view(torch.uint8), want_sf[:150].view(torch.uint8)))


if __name__ == "__main__":
    unittest.main()
