"""vLLM's custom ops under torch.compile's default functionalization
(auto_functionalized_v2; vLLM turns it off, a plain torch.compile user
does not) through Inductor with VllmOptPass (needs torch; run by
scripts/torch-tests). The norm and the static quant must fuse into one
in-place `_C.rms_norm_static_fp8_quant`, and the compiled function must give
the unfused ops' bytes. The ops and their CPU bodies are test_vllm_opt_pass's.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
import test_vllm_opt_pass  # noqa: E402,F401 - defines the _C ops
from inductor_pass import compile_with_pass  # noqa: E402


def norm_then_quant(x, w, scale):
    n = torch.empty_like(x)
    torch.ops._C.rms_norm(n, x, w, 1e-5)
    q = torch.empty(n.shape, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(q, n, scale)
    return q


class AutoFunctionalizedV2(unittest.TestCase):
    def test_the_default_functionalization_fuses_too(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(norm_then_quant, {"enable_fusion": True, "eliminate_noops": True})
                g = torch.Generator().manual_seed(2)
                x = torch.randn(16, 256, generator=g).to(torch.bfloat16)
                w = (1 + 0.1 * torch.randn(256, generator=g)).to(torch.bfloat16)
                scale = torch.tensor([0.05])
                if symbolic:
                    torch._dynamo.mark_dynamic(x, 0)
                got = compiled(x, w, scale)
                want = norm_then_quant(x, w, scale)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("_C.rms_norm_static_fp8_quant.default"), 1, seen[0])
                self.assertNotIn("auto_functionalized", " ".join(seen[0]))
                self.assertTrue(torch.equal(got.view(torch.uint8), want.view(torch.uint8)))


if __name__ == "__main__":
    unittest.main()
