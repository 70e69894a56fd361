"""vLLM main's NVFP4 quant call through Inductor with VllmOptPass (needs
torch; run by scripts/torch-tests).

After 0.11 vLLM moved the in-place `_C.scaled_fp4_quant` to the `.out`
overload, `scaled_fp4_quant.out(input, input_scale, is_sf_swizzled_layout,
*, output, output_scale)`, and zero-fills the swizzled block-scale buffer.
The ops are defined here with vLLM main's schemas and CPU bodies with its
kernels' math (nvfp4.py). With swizzled scales, vllm-opt must fuse SiLU-and-mul
and the quant into one `_C.silu_and_mul_nvfp4_quant` (as vLLM main's
SiluMulNvfp4QuantPattern does) and give eager's bytes, padding included;
with row-major scales (`is_sf_swizzled_layout=False`) nothing fuses, and the
quant comes back as the `.out` call with buffers of the right size. The
graphs Inductor captured are lit inputs (tests/pipeline/inputs/), so CI
checks the import and the fusion without torch.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import compile_with_pass, define_ops, dump_post_grad  # noqa: E402
from nvfp4 import (SCALED_FP4_QUANT_OUT, SILU_AND_MUL, SILU_AND_MUL_NVFP4_QUANT, quant_main,  # noqa: E402
                    scaled_fp4_quant_out, silu_and_mul, silu_and_mul_nvfp4_quant)


LIB = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB, (SILU_AND_MUL, SCALED_FP4_QUANT_OUT, SILU_AND_MUL_NVFP4_QUANT),
           {"silu_and_mul": silu_and_mul, "scaled_fp4_quant.out": scaled_fp4_quant_out,
            "silu_and_mul_nvfp4_quant": silu_and_mul_nvfp4_quant})


def mlp_act(x, global_scale):
    """The MLP's activation as vLLM main's model holds it."""
    y = torch.empty(x.shape[0], x.shape[1] // 2, dtype=x.dtype)
    torch.ops._C.silu_and_mul(y, x)
    return quant_main(y, global_scale)


def mlp_act_row_major(x, global_scale):
    y = torch.empty(x.shape[0], x.shape[1] // 2, dtype=x.dtype)
    torch.ops._C.silu_and_mul(y, x)
    return quant_main(y, global_scale, swizzled=False)


class MainSchemaNvfp4(unittest.TestCase):
    def inputs(self, seed, symbolic):
        x = (4 * torch.randn(200, 256, generator=torch.Generator().manual_seed(seed))).to(torch.bfloat16)
        if symbolic:
            torch._dynamo.mark_dynamic(x, 0)
        return x, torch.tensor(448.0 * 6.0 / 20.0)

    def test_swizzled_quant_fuses_with_the_silu(self):
        for symbolic, v2 in ((True, False), (False, False), (True, True)):
            with self.subTest(symbolic=symbolic, v2=v2):
                compiled, seen = compile_with_pass(mlp_act, {"enable_fusion": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=v2)
                x, g = self.inputs(3, symbolic)
                if symbolic and not v2:
                    dump_post_grad(mlp_act, (x, g), "swizzled")
                got_q, got_sf = compiled(x, g)
                want_q, want_sf = mlp_act(x, g)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("_C.silu_and_mul_nvfp4_quant.default"), 1, seen[0])
                for gone in ("_C.silu_and_mul.default", "_C.scaled_fp4_quant.out", "auto_functionalized"):
                    self.assertNotIn(gone, seen[0])
                self.assertEqual(tuple(got_sf.shape), (256, 2))
                self.assertTrue(torch.equal(got_q, want_q))
                # vLLM main zero-fills the scales, so the padding rows compare too.
                self.assertTrue(torch.equal(got_sf, want_sf))

    def test_row_major_scales_do_not_fuse(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(mlp_act_row_major, {"enable_fusion": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=False)
                x, g = self.inputs(5, symbolic)
                if symbolic:
                    dump_post_grad(mlp_act_row_major, (x, g), "row_major")
                got_q, got_sf = compiled(x, g)
                want_q, want_sf = mlp_act_row_major(x, g)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("_C.scaled_fp4_quant.out"), 1, seen[0])
                self.assertNotIn("_C.silu_and_mul_nvfp4_quant.default", seen[0])
                self.assertNotIn("auto_functionalized", seen[0])
                self.assertEqual(tuple(got_sf.shape), (200, 8))
                self.assertTrue(torch.equal(got_q, want_q))
                self.assertTrue(torch.equal(got_sf, want_sf))


if __name__ == "__main__":
    unittest.main()
