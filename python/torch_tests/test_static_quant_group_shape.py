"""vLLM main's static FP8 quant call through Inductor with VllmOptPass (needs
torch; run by scripts/torch-tests).

vLLM main added `int[]? group_shape=None` to `_C.static_scaled_fp8_quant`
(per-tensor, per-token or group scales) and `ops.scaled_fp8_quant` always
passes it. A per-tensor call (`[-1, -1]`, or None with one scale) is the op
vllm-opt models: it must fuse with the norm before it; a call with per-token
scales must stay as it came. The compiled function must give eager's bytes.
The graph is a lit input (tests/pipeline/inputs/static_quant_group_shape_inductor.json).
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from fp8 import BODIES, EPS, RMS_NORM, RMS_NORM_STATIC_FP8_QUANT  # noqa: E402
from inductor_pass import compile_with_pass, define_ops, dump_post_grad  # noqa: E402

LIB = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB, (RMS_NORM, "static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale, int[]? group_shape=None) -> ()",
                 RMS_NORM_STATIC_FP8_QUANT), BODIES)


def two_quants(x, w, scale, token_scale):
    """A norm and its per-tensor quant, as vLLM main's QuantFP8 calls it; another norm and a per-token one."""
    y = torch.empty_like(x)
    torch.ops._C.rms_norm(y, x, w, EPS)
    q = torch.empty(x.shape, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(q, y, scale, [-1, -1])
    y2 = torch.empty_like(x)
    torch.ops._C.rms_norm(y2, x * 2, w, EPS)
    q2 = torch.empty(x.shape, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(q2, y2, token_scale, None)
    return q, q2


class StaticQuantGroupShape(unittest.TestCase):
    def test_the_per_tensor_call_fuses_and_the_per_token_one_stays(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(two_quants, {"enable_fusion": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=False)
                g = torch.Generator().manual_seed(13)
                x = torch.randn(16, 64, generator=g).to(torch.bfloat16)
                w = (1 + 0.2 * torch.randn(64, generator=g)).to(torch.bfloat16)
                scale = torch.tensor([0.02])
                token_scale = 0.01 + 0.02 * torch.rand(16, 1, generator=g)
                if symbolic:
                    torch._dynamo.mark_dynamic(x, 0)
                    torch._dynamo.mark_dynamic(token_scale, 0)
                    dump_post_grad(two_quants, (x, w, scale, token_scale), "group_shape")
                got = compiled(x, w, scale, token_scale)
                want = two_quants(x, w, scale, token_scale)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("_C.rms_norm_static_fp8_quant.default"), 1, seen[0])
                # The per-token call: kept as vLLM wrote it (functionalized), after its norm in place.
                self.assertEqual(seen[0].count("_C.rms_norm.default"), 1, seen[0])
                self.assertEqual(seen[0].count("auto_functionalized"), 1, seen[0])
                for a, b in zip(got, want):
                    self.assertTrue(torch.equal(a.view(torch.uint8), b.view(torch.uint8)))


if __name__ == "__main__":
    unittest.main()
