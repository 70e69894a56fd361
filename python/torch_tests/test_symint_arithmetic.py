"""A graph whose sizes are computed from the token count (SymInt arithmetic:
`operator.add`, `operator.floordiv`, `operator.mul` nodes, as a padded
buffer's `round_up(T, 128)` rows trace under Inductor with the token count
dynamic) goes through VllmOptPass: vllm-opt imports the arithmetic as
opaque ops on `index` values, keeps them (a slice_scatter into the padded
rows is not a full overwrite), exports them and the graph loads back
(needs torch; run by scripts/torch-tests). Before, such a graph was
refused at its first arithmetic node.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import compile_with_pass  # noqa: E402


def padded_rows(x):
    """x's first column as int32 in a buffer of round_up(T, 128) rows (vLLM pads
    NVFP4 block scales and MoE token buffers so), with the padding zero."""
    m = x.shape[0]
    s = torch.zeros((m + 127) // 128 * 128, 4, dtype=torch.int32)
    s[:m, 0] = x[:, 0].to(torch.int32)
    return s


class SymIntArithmetic(unittest.TestCase):
    def test_a_padded_buffer_survives_the_pass_and_computes_what_eager_does(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(padded_rows, {"eliminate_noops": True})
                x = 100 * torch.randn(200, 64)
                if symbolic:
                    torch._dynamo.mark_dynamic(x, 0)
                got = compiled(x)
                self.assertEqual(len(seen), 1)
                if symbolic:
                    for op in ("add", "floordiv", "mul"):
                        self.assertIn(f"<built-in function {op}>", seen[0])
                self.assertIn("aten.slice_scatter.default", seen[0])
                self.assertTrue(torch.equal(got, padded_rows(x)))
                self.assertEqual(tuple(got.shape), (256, 4))


if __name__ == "__main__":
    unittest.main()
