"""A Transformers-backend layer boundary through Inductor with VllmOptPass
as its post-grad custom pass (needs torch; run by scripts/torch-tests):
the residual add as a plain tensor add, vLLM's native RMSNorm without a
residual (custom ops off), its native static FP8 quant. vllm-opt must fuse
all three into `_C.fused_add_rms_norm_static_fp8_quant`, in place, and the
compiled function must give eager's bytes (the fusion is bit-identical:
the kernel adds in bf16 and rounds once, as the add does). The `_C` op is
defined here with its schema and a CPU body with vLLM's rounding points.
The graph Inductor captured is also a lit input
(tests/pipeline/inputs/add_rms_norm_inductor.json), so CI checks the fusion
on it without torch.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import compile_with_pass  # noqa: E402

EPS = 1e-6
LIB = torch.library.Library("_C", "FRAGMENT")
try:
    LIB.define("fused_add_rms_norm_static_fp8_quant(Tensor! result, Tensor input, Tensor! residual, Tensor weight, "
               "Tensor scale, float epsilon) -> ()")
except RuntimeError:  # defined by an earlier test module in this process
    pass


def rms_norm_native(x, w):
    """vLLM's RMSNorm.forward_native without a residual."""
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + EPS)
    return xf.to(x.dtype) * w


def quant_native(y, scale):
    """vLLM's QuantFP8.forward_native, static per-tensor."""
    return (y.float() * scale.reciprocal()).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)


def fused_add_rms_norm_static_fp8_quant(result, input, residual, weight, scale, epsilon):
    """vLLM's kernel: z = rT(x + r) (in bf16), residual := z, the norm of z, the static quant; input untouched."""
    z = (input + residual).to(input.dtype)
    residual.copy_(z)
    zf = z.float()
    y = (zf * torch.rsqrt(zf.pow(2).mean(-1, keepdim=True) + epsilon)).to(z.dtype) * weight
    result.copy_(quant_native(y, scale))


LIB.impl("fused_add_rms_norm_static_fp8_quant", fused_add_rms_norm_static_fp8_quant, "CompositeExplicitAutograd")
torch.library.register_fake("_C::fused_add_rms_norm_static_fp8_quant", lambda *a, **k: None, lib=LIB)


def layer_boundary(x, residual, w, scale):
    """hidden = residual + hidden; the next layer's input norm and quant; the sum is the next residual."""
    z = residual + x
    return quant_native(rms_norm_native(z, w), scale), z


class AddRmsNormFusion(unittest.TestCase):
    def test_inductors_graph_fuses_into_one_in_place_kernel(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(layer_boundary, {"enable_fusion": True, "eliminate_noops": True})
                g = torch.Generator().manual_seed(1)
                x = torch.randn(16, 256, generator=g).to(torch.bfloat16)
                r = torch.randn(16, 256, generator=g).to(torch.bfloat16)
                w = (1 + 0.2 * torch.randn(256, generator=g)).to(torch.bfloat16)
                scale = torch.tensor([0.02])
                if symbolic:
                    torch._dynamo.mark_dynamic(x, 0)
                    torch._dynamo.mark_dynamic(r, 0)
                got = compiled(x, r, w, scale)
                want = layer_boundary(x, r, w, scale)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("_C.fused_add_rms_norm_static_fp8_quant.default"), 1, seen[0])
                for gone in ("aten.add.Tensor", "aten.rsqrt.default", "aten.reciprocal.default", "auto_functionalized"):
                    self.assertNotIn(gone, " ".join(seen[0]))
                self.assertTrue(torch.equal(got[0].view(torch.uint8), want[0].view(torch.uint8)))
                self.assertTrue(torch.equal(got[1], want[1]))


if __name__ == "__main__":
    unittest.main()
