"""vLLM main's per-group FP8 quant through Inductor with VllmOptPass (needs
torch; run by scripts/torch-tests).

vLLM main's `_C.per_token_group_fp8_quant` takes two more arguments than
vLLM 0.11's, `dummy_is_scale_transposed` and `dummy_is_tma_aligned`: the
kernel reads the scales' layout from `output_s`'s strides, the flags only
let patterns see it. `QuantFP8` allocates the scales row-major, column-major
(`empty([G, T]).permute(1, 0)`, for CUTLASS) or column-major with rows padded
to a multiple of 4 (TMA, for DeepGEMM). vllm-opt must fuse each with the
norm or SiLU-and-mul before it into `rms_norm_per_block_quant` /
`silu_and_mul_per_block_quant` (`is_scale_transposed` as the quant's) and
give the fused op a buffer of the same layout (`empty_strided` with the
padded stride for TMA: vLLM's fused kernel reads the padding from the
strides). The compiled function must give eager's bytes and eager's strides.
vLLM main's IR norms (functional) feeding the quants fuse the same way.
The graphs are lit inputs (tests/pipeline/inputs/per_group_main_inductor.json,
which tests/all/numerics.rs also interprets, and per_group_ir_inductor.json).
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from fp8 import EPS, RMS_NORM, per_group, rms  # noqa: E402
from inductor_pass import assert_same_outputs, compile_with_pass, define_ops, dump_post_grad  # noqa: E402
import ir_ops  # noqa: E402, F401 (registers vLLM IR's ops)

G = 128
SCHEMAS = (
    RMS_NORM,
    "fused_add_rms_norm(Tensor! input, Tensor! residual, Tensor weight, float epsilon) -> ()",
    "silu_and_mul(Tensor! result, Tensor input) -> ()",
    "per_token_group_fp8_quant(Tensor input, Tensor! output_q, Tensor! output_s, int group_size, float eps, "
    "float fp8_min, float fp8_max, bool scale_ue8m0, bool dummy_is_scale_transposed, bool dummy_is_tma_aligned) -> ()",
    "rms_norm_per_block_quant(Tensor! result, Tensor input, Tensor weight, Tensor! scale, float epsilon, "
    "Tensor? scale_ub, Tensor!? residual, int group_size, bool is_scale_transposed) -> ()",
    "silu_and_mul_per_block_quant(Tensor! out, Tensor input, Tensor! scales, int group_size, Tensor? scale_ub=None, "
    "bool is_scale_transposed=False) -> ()",
)


def silu_mul(x):
    d = x.shape[-1] // 2
    return (torch.nn.functional.silu(x[..., :d].float()) * x[..., d:].float()).to(x.dtype)


def fused_add(input, residual, weight, epsilon):
    z = (input + residual).to(input.dtype)
    return z, rms(z, weight, epsilon)


# CPU bodies: each writes its outputs by logical index (copy_), whatever their strides.
def rms_norm(result, input, weight, epsilon):
    result.copy_(rms(input, weight, epsilon))


def fused_add_rms_norm(input, residual, weight, epsilon):
    z, y = fused_add(input, residual, weight, epsilon)
    residual.copy_(z)
    input.copy_(y)


def silu_and_mul(result, input):
    result.copy_(silu_mul(input))


def per_token_group_fp8_quant(input, output_q, output_s, group_size, eps, fp8_min, fp8_max, scale_ue8m0,
                              dummy_is_scale_transposed, dummy_is_tma_aligned):
    q, s = per_group(input, group_size, eps, fp8_max, scale_ue8m0)
    output_q.copy_(q)
    output_s.copy_(s)


def rms_norm_per_block_quant(result, input, weight, scale, epsilon, scale_ub, residual, group_size, is_scale_transposed):
    if residual is not None:
        z, y = fused_add(input, residual, weight, epsilon)
        residual.copy_(z)
    else:
        y = rms(input, weight, epsilon)
    q, s = per_group(y, group_size)
    result.copy_(q)
    scale.copy_(s)


def silu_and_mul_per_block_quant(out, input, scales, group_size, scale_ub=None, is_scale_transposed=False):
    q, s = per_group(silu_mul(input), group_size)
    out.copy_(q)
    if is_scale_transposed:
        # vLLM's kernel writes group g of row t at g * T + t, whatever the strides (no TMA padding).
        torch.as_strided(scales, s.shape, (1, s.shape[0])).copy_(s)
    else:
        scales.copy_(s)


LIB = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB, SCHEMAS, {"rms_norm": rms_norm, "fused_add_rms_norm": fused_add_rms_norm, "silu_and_mul": silu_and_mul,
                          "per_token_group_fp8_quant": per_token_group_fp8_quant,
                          "rms_norm_per_block_quant": rms_norm_per_block_quant,
                          "silu_and_mul_per_block_quant": silu_and_mul_per_block_quant})


def group_quant(y, layout):
    """vLLM main's `per_token_group_quant_fp8`: the scales allocated in `layout`, then the `_C` call."""
    t, h = y.shape
    q = torch.empty(y.shape, dtype=torch.float8_e4m3fn)
    if layout == "row":
        s = torch.empty((t, h // G), dtype=torch.float32)
    elif layout == "col":
        s = torch.empty((h // G, t), dtype=torch.float32).permute(-1, -2)
    else:  # "tma": column-major, rows padded to a multiple of 4
        s = torch.empty_strided((t, h // G), (1, (t + 3) // 4 * 4), dtype=torch.float32)
    torch.ops._C.per_token_group_fp8_quant(y, q, s, G, 1e-10, -448.0, 448.0, False, layout != "row", layout == "tma")
    return q, s


def untransposed_and_transposed(x, residual, w, gate_up):
    """The layers with row-major and column-major scales."""
    y = torch.empty_like(x)
    torch.ops._C.rms_norm(y, x, w, EPS)
    q1, s1 = group_quant(y, "row")
    h = x * 2
    torch.ops._C.fused_add_rms_norm(h, residual, w, EPS)
    q2, s2 = group_quant(h, "col")
    a = torch.empty((gate_up.shape[0], gate_up.shape[1] // 2), dtype=gate_up.dtype)
    torch.ops._C.silu_and_mul(a, gate_up)
    q3, s3 = group_quant(a, "col")
    return q1, s1, q2, s2, residual, q3, s3


def layers(x, residual, w, gate_up):
    """A norm + row-major group quant, an add-norm + column-major one, SiLU-and-mul + column-major, a
    norm + TMA-padded one (fuses too: 18 rows pad to 20), and SiLU-and-mul + TMA-padded, which must not
    fuse (vLLM's fused SiLU kernel ignores the padding; the stand-in above writes as it does)."""
    q1, s1, q2, s2, residual, q3, s3 = untransposed_and_transposed(x, residual, w, gate_up)
    y4 = torch.empty_like(x)
    torch.ops._C.rms_norm(y4, x * 3, w, EPS)
    q4, s4 = group_quant(y4, "tma")
    a5 = torch.empty((gate_up.shape[0], gate_up.shape[1] // 2), dtype=gate_up.dtype)
    torch.ops._C.silu_and_mul(a5, gate_up * 2)
    q5, s5 = group_quant(a5, "tma")
    return q1, s1, q2, s2, residual, q3, s3, q4, s4, q5, s5


def ir_layers(x, residual, w):
    """vLLM main's graphs: IR norms (functional) into `_C` group quants (column-major scales)."""
    q1, s1 = group_quant(torch.ops.vllm_ir.rms_norm(x, w, EPS), "col")
    y, z = torch.ops.vllm_ir.fused_add_rms_norm(x * 2, residual, w, EPS)
    q2, s2 = group_quant(y, "col")
    return q1, s1, q2, s2, z


def tensors(seed, gate_up):
    """x, residual, w (and gate_up) for 18 tokens of 256."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(18, 256, generator=g).to(torch.bfloat16)
    residual = torch.randn(18, 256, generator=g).to(torch.bfloat16)
    w = (1 + 0.2 * torch.randn(256, generator=g)).to(torch.bfloat16)
    return (x, residual, w, torch.randn(18, 512, generator=g).to(torch.bfloat16)) if gate_up else (x, residual, w)


class PerGroupMainSchema(unittest.TestCase):
    def compare(self, fn, seed, gate_up, dumps):
        """Compiles `fn` with the pass, symbolic (the token dim of every 2-D input marked dynamic, the graphs
        `dumps` names captured) and static; checks eager's bytes and strides; returns each run's ops."""
        runs = []
        for symbolic in (True, False):
            compiled, seen = compile_with_pass(fn, {"enable_fusion": True, "eliminate_noops": True},
                                               enable_auto_functionalized_v2=False)
            args = tensors(seed, gate_up)

            def copies():
                """Fresh copies (the residual is written in place), 2-D ones marked dynamic when symbolic."""
                out = tuple(t.clone() for t in args)
                for t in out:
                    if symbolic and t.dim() == 2:
                        torch._dynamo.mark_dynamic(t, 0)
                return out

            if symbolic:
                for sub, dumped in dumps:
                    dump_post_grad(dumped, copies(), sub)
            got = compiled(*copies())
            want = fn(*copies())
            self.assertEqual(len(seen), 1)
            assert_same_outputs(self, got, want, f"symbolic={symbolic}", strides=True)
            runs.append(seen[0])
        return runs

    def test_row_major_column_major_and_tma_padded_scales_fuse(self):
        for seen in self.compare(layers, 7, True, [("per_group_main", layers)]):
            self.assertEqual(seen.count("_C.rms_norm_per_block_quant.default"), 3, seen)
            self.assertEqual(seen.count("_C.silu_and_mul_per_block_quant.default"), 1, seen)
            # The TMA-padded scales in buffers vLLM's kernels read the padding from (the norm's, the quant's).
            self.assertEqual(seen.count("aten.empty_strided.default"), 2, seen)
            # SiLU-and-mul + TMA-padded quant: in place, unfused.
            self.assertEqual(seen.count("_C.silu_and_mul.default"), 1, seen)
            self.assertEqual(seen.count("_C.per_token_group_fp8_quant.default"), 1, seen)
            for gone in ("auto_functionalized", "_C.rms_norm.default"):
                self.assertFalse(any(gone in t for t in seen), seen)

    def test_vllm_ir_norms_fuse_with_the_group_quant(self):
        for seen in self.compare(ir_layers, 11, False, [("per_group_ir", ir_layers)]):
            self.assertEqual(seen.count("_C.rms_norm_per_block_quant.default"), 2, seen)
            for gone in ("vllm_ir.", "auto_functionalized", "per_token_group_fp8_quant"):
                self.assertFalse(any(gone in t for t in seen), seen)


if __name__ == "__main__":
    unittest.main()
