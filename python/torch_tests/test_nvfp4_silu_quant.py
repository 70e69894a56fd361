"""vLLM's SiLU-and-mul + NVFP4 quant through Inductor with VllmOptPass as its
post-grad custom pass (needs torch; run by scripts/torch-tests).

The `_C` ops are defined here with vLLM's schemas and CPU bodies with its
kernels' math (nvfp4_utils.cuh: per 16 elements an e4m3 scale
`e4m3(g * (max|x| / 6))`, values `e2m1(x / (s / g))`, two to a byte, the
scales swizzled four to an int32 in `[round_up(T, 128), ceil(n / 64)]`
rows). `quant` allocates as vLLM's `ops.scaled_fp4_quant` does, so with a
dynamic token count the block-scale buffer's rows are SymInt arithmetic.
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



def _silu_mul(x):
    """vLLM's silu_and_mul: rT(rT(silu(a)) * b)."""
    d = x.shape[-1] // 2
    a, b = x[..., :d].float(), x[..., d:]
    return ((a / (1 + torch.exp(-a))).to(x.dtype) * b).to(x.dtype)


def _e2m1(q):
    """cvt.rn.satfinite.e2m1x2.f32: nearest of ±{0, .5, 1, 1.5, 2, 3, 4, 6}, ties to even, NaN -> +6."""
    a = q.abs()
    code = ((a > 0.25).int() + (a >= 0.75).int() + (a > 1.25).int() + (a >= 1.75).int() + (a > 2.5).int()
            + (a >= 3.5).int() + (a > 5.0).int())
    code = code | (torch.signbit(q).int() << 3)
    return torch.where(torch.isnan(q), 7, code)


def _nvfp4(x, g):
    m, n = x.shape
    xf = x.float().reshape(m, n // 16, 16)
    vmax = xf.abs().amax(-1)
    s8 = (g * (vmax * torch.tensor(1.0 / 6.0))).clamp(max=448.0).to(torch.float8_e4m3fn)
    s = s8.float()
    out_scale = torch.where(s != 0, 1.0 / (s * (1.0 / g)), torch.zeros_like(s))
    codes = _e2m1(xf * out_scale[..., None]).reshape(m, n)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).to(torch.uint8)
    rows, tiles = (m + 127) // 128 * 128, (n + 63) // 64
    mi, ki = torch.arange(m)[:, None], torch.arange(n // 16)[None, :]
    off = ((mi // 128) * tiles + ki // 4) * 512 + (mi % 32) * 16 + ((mi // 32) % 4) * 4 + ki % 4
    sf = torch.zeros(rows * tiles * 4, dtype=torch.uint8)
    sf[off.flatten()] = s8.view(torch.uint8).flatten()
    return packed, sf.view(torch.int32).reshape(rows, tiles)


def silu_and_mul(result, input):
    result.copy_(_silu_mul(input))


def scaled_fp4_quant(output, input, output_scale, input_scale):
    q, sf = _nvfp4(input, input_scale)
    output.copy_(q)
    output_scale.copy_(sf)


def silu_and_mul_nvfp4_quant(result, result_block_scale, input, input_global_scale):
    scaled_fp4_quant(result, _silu_mul(input), result_block_scale, input_global_scale)


LIB = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB, ("silu_and_mul(Tensor! result, Tensor input) -> ()",
                 "scaled_fp4_quant(Tensor! output, Tensor input, Tensor! output_scale, Tensor input_scale) -> ()",
                 "silu_and_mul_nvfp4_quant(Tensor! result, Tensor! result_block_scale, Tensor input, "
                 "Tensor input_global_scale) -> ()"),
           {"silu_and_mul": silu_and_mul, "scaled_fp4_quant": scaled_fp4_quant,
            "silu_and_mul_nvfp4_quant": silu_and_mul_nvfp4_quant})


def quant(y, global_scale):
    """vLLM's `ops.scaled_fp4_quant`: allocates the outputs, calls the op."""
    m, n = y.shape
    out = torch.empty((m, n // 2), dtype=torch.uint8)
    rounded_m = (m + 128 - 1) // 128 * 128
    rounded_n = (n // 16 + 4 - 1) // 4 * 4
    scale = torch.empty((rounded_m, rounded_n // 4), dtype=torch.int32)
    torch.ops._C.scaled_fp4_quant(out, y, scale, global_scale)
    return out, scale


def mlp_act(x, global_scale):
    """The MLP's activation as vLLM's model holds it: silu_and_mul into a fresh buffer, its NVFP4 quant."""
    y = torch.empty(x.shape[0], x.shape[1] // 2, dtype=x.dtype)
    torch.ops._C.silu_and_mul(y, x)
    return quant(y, global_scale)


class SiluNvfp4Fusion(unittest.TestCase):
    def test_reference_encodes_what_the_kernel_would(self):
        # One row, one block: max 3.0, g = 448*6/3 -> s = e4m3(448) = 448; out_scale = 1/(448/g) = 2.
        g = torch.tensor(896.0)
        x = torch.tensor([[3.0, -1.5, 0.25, 0.375, 2.5, -0.0, 1.0, 0.0] + [0.0] * 8], dtype=torch.bfloat16)
        q, sf = _nvfp4(x, g)
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


if __name__ == "__main__":
    unittest.main()
