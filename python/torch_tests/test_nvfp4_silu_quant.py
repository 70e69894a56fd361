"""vLLM's SiLU-and-mul + NVFP4 quant through Inductor with VllmOptPass as its
post-grad custom pass (needs torch; run by scripts/torch-tests).

The `_C` ops are defined here with vLLM's schemas and CPU bodies with its
kernels' math (nvfp4.py). `quant` allocates as vLLM's
`ops.scaled_fp4_quant` does, so with a dynamic token count the block-scale
buffer's rows are SymInt arithmetic.
vllm-opt must fuse the pair into one in-place
`_C.silu_and_mul_nvfp4_quant` whose block-scale buffer has the padded rows
(from the graph's arithmetic), and the compiled function must give eager's
bytes. The graph Inductor captured is also a lit input
(tests/pipeline/inputs/silu_nvfp4_inductor.json), so CI checks the fusion
without torch.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import compile_with_pass, define_ops  # noqa: E402
from nvfp4 import (SCALED_FP4_QUANT, SILU_AND_MUL, SILU_AND_MUL_NVFP4_QUANT, nvfp4, quant, scaled_fp4_quant,  # noqa: E402
                    silu_and_mul, silu_and_mul_nvfp4_quant, silu_mul)


LIB = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB, (SILU_AND_MUL, SCALED_FP4_QUANT, SILU_AND_MUL_NVFP4_QUANT),
           {"silu_and_mul": silu_and_mul, "scaled_fp4_quant": scaled_fp4_quant,
            "silu_and_mul_nvfp4_quant": silu_and_mul_nvfp4_quant})


def mlp_act(x, global_scale):
    """The MLP's activation as vLLM's model holds it: silu_and_mul into a fresh buffer, its NVFP4 quant."""
    y = torch.empty(x.shape[0], x.shape[1] // 2, dtype=x.dtype)
    torch.ops._C.silu_and_mul(y, x)
    return quant(y, global_scale)


def mlp_act_native(x, global_scale):
    """The same with vLLM's native SiluAndMul (custom ops off, its default under Inductor)."""
    d = x.shape[-1] // 2
    return quant(torch.nn.functional.silu(x[..., :d]) * x[..., d:], global_scale)


class SiluNvfp4Fusion(unittest.TestCase):
    def test_reference_encodes_what_the_kernel_would(self):
        # One row, one block: max 3.0, g = 448*6/3 -> s = e4m3(448) = 448; out_scale = 1/(448/g) = 2.
        g = torch.tensor(896.0)
        x = torch.tensor([[3.0, -1.5, 0.25, 0.375, 2.5, -0.0, 1.0, 0.0] + [0.0] * 8], dtype=torch.bfloat16)
        q, sf = nvfp4(x, g)
        # 6 -> 7, -3 -> 8|5, 0.5 -> 1, 0.75 -> 2 (tie to even), 5 -> 6 (tie), -0 -> 8, 2 -> 4, 0 -> 0.
        self.assertEqual(q[0, :4].tolist(), [7 | (13 << 4), 1 | (2 << 4), 6 | (8 << 4), 4 | (0 << 4)])
        self.assertEqual(tuple(sf.shape), (128, 1))
        self.assertEqual(sf.view(torch.uint8)[0, 0].item(), torch.tensor(448.0).to(torch.float8_e4m3fn).view(torch.uint8).item())

    def test_inductors_graph_fuses_into_one_in_place_kernel(self):
        dump = os.environ.get("VLLM_OPT_DUMP_GRAPH")
        # v1 is what vLLM gets (it turns auto_functionalized_v2 off); v2 is torch.compile's default.
        for symbolic, v2 in ((True, False), (False, False), (True, True)):
            with self.subTest(symbolic=symbolic, v2=v2):
                compiled, seen = compile_with_pass(mlp_act, {"enable_fusion": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=v2)
                gen = torch.Generator().manual_seed(3)
                x = (4 * torch.randn(200, 256, generator=gen)).to(torch.bfloat16)
                g = torch.tensor(448.0 * 6.0 / 20.0)
                if symbolic:
                    torch._dynamo.mark_dynamic(x, 0)
                if dump and symbolic:
                    import vllm_opt.fx_export as fx_export
                    torch._dynamo.reset()
                    torch.compile(mlp_act, options={"post_grad_custom_post_pass": fx_export.post_grad_dump_pass(
                        os.path.join(dump, "v2" if v2 else "v1")), "force_disable_caches": True,
                        "enable_auto_functionalized_v2": v2})(x, g)
                got_q, got_sf = compiled(x, g)
                want_q, want_sf = mlp_act(x, g)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("_C.silu_and_mul_nvfp4_quant.default"), 1, seen[0])
                for gone in ("_C.silu_and_mul.default", "_C.scaled_fp4_quant.default", "auto_functionalized"):
                    self.assertNotIn(gone, seen[0])
                self.assertEqual(tuple(got_sf.shape), (256, 2))
                self.assertTrue(torch.equal(got_q, want_q))
                # Rows past T are padding, which vLLM leaves unwritten (`empty`): compare the real rows.
                self.assertTrue(torch.equal(got_sf[:200], want_sf[:200]))

    def test_the_decomposed_silu_fuses_too(self):
        # vLLM's pattern needs the custom silu_and_mul; vllm-opt raises the native form first.
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(mlp_act_native, {"enable_fusion": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=False)
                x = (4 * torch.randn(200, 256, generator=torch.Generator().manual_seed(4))).to(torch.bfloat16)
                g = torch.tensor(448.0 * 6.0 / 20.0)
                if symbolic:
                    torch._dynamo.mark_dynamic(x, 0)
                got_q, got_sf = compiled(x, g)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("_C.silu_and_mul_nvfp4_quant.default"), 1, seen[0])
                for gone in ("_C.scaled_fp4_quant.default", "aten.sigmoid.default", "aten.exp.default", "aten.mul.Tensor"):
                    self.assertNotIn(gone, seen[0])
                # The fused kernel's values (its CPU body); torch's own SiLU may round its exp otherwise.
                want_q, want_sf = nvfp4(silu_mul(x), g)
                self.assertTrue(torch.equal(got_q, want_q))
                self.assertTrue(torch.equal(got_sf[:200], want_sf[:200]))


if __name__ == "__main__":
    unittest.main()
