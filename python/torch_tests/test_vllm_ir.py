"""vLLM main's IR norms (`vllm.ir.ops.rms_norm`, `fused_add_rms_norm`:
functional `torch.ops.vllm_ir.*` ops that its graphs hold until its own
lowering picks a kernel) through Inductor with VllmOptPass (needs torch; run
by scripts/torch-tests).

The IR ops are registered here as vLLM's `register_op` does (the schema
inferred from the native body, which is also the CPU kernel and the fake);
the `_C` ops with vLLM's schemas and CPU bodies with its kernels' rounding.
vllm-opt must fuse an IR norm and the static FP8 quant after it into
vLLM's fused kernel, as vLLM main's RMSNormQuantFusionPass does, and leave
an IR norm nothing fuses as the functional IR call (vLLM's lowering, after
the pipeline, picks its kernel). The graphs Inductor captured are lit
inputs (tests/pipeline/inputs/vllm_ir_*.json), so CI checks them without torch.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import assert_same_outputs, compile_with_pass, define_ops, dump_post_grad  # noqa: E402
from ir_ops import fused_add_rms_norm, rms_norm, static_quant_fp8  # noqa: E402 (registers vLLM IR's ops)

EPS = 1e-6


def quant(y, scale):
    return (y.float() * scale.reciprocal()).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)


def static_scaled_fp8_quant(result, input, scale):
    result.copy_(quant(input, scale))


def rms_norm_static_fp8_quant(result, input, weight, scale, epsilon):
    result.copy_(quant(rms_norm(input, weight, epsilon), scale))


def fused_add_rms_norm_static_fp8_quant(result, input, residual, weight, scale, epsilon):
    y, z = fused_add_rms_norm(input, residual, weight, epsilon)
    residual.copy_(z)
    result.copy_(quant(y, scale))


def per_token_quant(y):
    """vLLM's per-token kernel: scale = max(absmax / 448, 1 / (448 * 512)), the row divided by it."""
    s = (y.float().abs().amax(-1, keepdim=True) / 448.0).clamp(min=1.0 / (448.0 * 512.0))
    return (y.float() / s).clamp(-448.0, 448.0).to(torch.float8_e4m3fn), s


def rms_norm_dynamic_per_token_quant(result, input, weight, scale, epsilon, scale_ub=None, residual=None):
    if residual is not None:
        y, z = fused_add_rms_norm(input, residual, weight, epsilon)
        residual.copy_(z)
    else:
        y = rms_norm(input, weight, epsilon)
    q, s = per_token_quant(y)
    result.copy_(q)
    scale.copy_(s)


LIB = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB, ("static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale) -> ()",
                 "rms_norm_static_fp8_quant(Tensor! result, Tensor input, Tensor weight, Tensor scale, "
                 "float epsilon) -> ()",
                 "fused_add_rms_norm_static_fp8_quant(Tensor! result, Tensor input, Tensor! residual, "
                 "Tensor weight, Tensor scale, float epsilon) -> ()",
                 "rms_norm_dynamic_per_token_quant(Tensor! result, Tensor input, Tensor weight, Tensor! scale, "
                 "float epsilon, Tensor? scale_ub, Tensor!? residual) -> ()"),
           {"static_scaled_fp8_quant": static_scaled_fp8_quant, "rms_norm_static_fp8_quant": rms_norm_static_fp8_quant,
            "fused_add_rms_norm_static_fp8_quant": fused_add_rms_norm_static_fp8_quant,
            "rms_norm_dynamic_per_token_quant": rms_norm_dynamic_per_token_quant})


def quant_custom(y, scale):
    out = torch.empty(y.shape, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(out, y, scale)
    return out


def layer(x, residual, w, scale, w2):
    """The input norm and its quant, then the residual add + norm and its quant, then a norm nothing fuses."""
    q1 = quant_custom(torch.ops.vllm_ir.rms_norm(x, w, EPS), scale)
    y, r = torch.ops.vllm_ir.fused_add_rms_norm(x, residual, w, EPS)
    q2 = quant_custom(y, scale)
    final = torch.ops.vllm_ir.rms_norm(r, w2, EPS)
    return q1, q2, r, final


def layer_ir_quants(x, residual, w, scale, token_scale):
    """vLLM main's newest form, quants as IR ops too: the input norm and its static quant, the residual add +
    norm and its per-token quant, and a static quant with per-token scales (which no op here models)."""
    fp8 = torch.float8_e4m3fn
    q1 = torch.ops.vllm_ir.static_quant_fp8(torch.ops.vllm_ir.rms_norm(x, w, EPS), scale, fp8)
    y, r = torch.ops.vllm_ir.fused_add_rms_norm(x, residual, w, EPS)
    q2, s2 = torch.ops.vllm_ir.dynamic_quant_fp8(y, True, fp8)
    q3 = torch.ops.vllm_ir.static_quant_fp8(r, token_scale, fp8)
    return q1, q2, s2, r, q3


def add_then_norm(x, residual, w):
    """A Transformers-style boundary on vLLM main: the residual add as a tensor add, then the IR norm; the
    sum is the next residual."""
    z = residual + x
    return torch.ops.vllm_ir.rms_norm(z, w, EPS), z


def _rows_and_weight(seed, symbolic):
    """16 bf16 rows of 256 and a residual (their token count dynamic when `symbolic`), a norm weight, a generator."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 256, generator=g).to(torch.bfloat16)
    r = torch.randn(16, 256, generator=g).to(torch.bfloat16)
    w = (1 + 0.2 * torch.randn(256, generator=g)).to(torch.bfloat16)
    if symbolic:
        torch._dynamo.mark_dynamic(x, 0)
        torch._dynamo.mark_dynamic(r, 0)
    return x, r, w, g


class VllmIrNorms(unittest.TestCase):
    def test_ir_norms_fuse_with_their_quants(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(layer, {"enable_fusion": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=False)
                x, r, w, g = _rows_and_weight(7, symbolic)
                w2 = (1 + 0.2 * torch.randn(256, generator=g)).to(torch.bfloat16)
                scale = torch.tensor([0.02])
                if symbolic:
                    dump_post_grad(layer, (x, r, w, scale, w2), "layer")
                got = compiled(x, r, w, scale, w2)
                want = layer(x, r, w, scale, w2)
                self.assertEqual(len(seen), 1)
                calls = " ".join(seen[0])
                self.assertEqual(seen[0].count("_C.rms_norm_static_fp8_quant.default"), 1, seen[0])
                self.assertEqual(seen[0].count("_C.fused_add_rms_norm_static_fp8_quant.default"), 1, seen[0])
                # The final norm stays the functional IR call (no in-place `_C.rms_norm` exists here).
                self.assertEqual(seen[0].count("vllm_ir.rms_norm.default"), 1, seen[0])
                for gone in ("vllm_ir.fused_add_rms_norm", "_C.static_scaled_fp8_quant", "auto_functionalized"):
                    self.assertNotIn(gone, calls)
                assert_same_outputs(self, got, want, f"symbolic={symbolic}")

    def test_ir_quants_fuse_with_their_norms(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(layer_ir_quants, {"enable_fusion": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=False)
                x, r, w, g = _rows_and_weight(8, symbolic)
                scale = torch.tensor([0.02])
                token_scale = 0.01 + 0.02 * torch.rand(16, 1, generator=g)
                if symbolic:
                    torch._dynamo.mark_dynamic(token_scale, 0)
                    dump_post_grad(layer_ir_quants, (x, r, w, scale, token_scale), "quants")
                q1, q2, s2, r_out, q3 = compiled(x, r, w, scale, token_scale)
                self.assertEqual(len(seen), 1)
                calls = " ".join(seen[0])
                self.assertEqual(seen[0].count("_C.rms_norm_static_fp8_quant.default"), 1, seen[0])
                self.assertEqual(seen[0].count("_C.rms_norm_dynamic_per_token_quant.default"), 1, seen[0])
                # The per-token static quant is not modeled: it stays the IR call, as vLLM wrote it.
                self.assertEqual(seen[0].count("vllm_ir.static_quant_fp8.default"), 1, seen[0])
                for gone in ("vllm_ir.rms_norm", "vllm_ir.fused_add_rms_norm", "vllm_ir.dynamic_quant_fp8",
                             "auto_functionalized"):
                    self.assertNotIn(gone, calls)
                # The fused kernels' values (their CPU bodies); the IR's own quant multiplies by the reciprocal.
                y, z = fused_add_rms_norm(x, r, w, EPS)
                want_q2, want_s2 = per_token_quant(y)
                u8 = lambda t: t.view(torch.uint8)  # noqa: E731
                self.assertTrue(torch.equal(u8(q1), u8(quant(rms_norm(x, w, EPS), scale))))
                self.assertTrue(torch.equal(u8(q2), u8(want_q2)))
                self.assertTrue(torch.equal(s2, want_s2))
                self.assertTrue(torch.equal(r_out, z))
                self.assertTrue(torch.equal(u8(q3), u8(static_quant_fp8(z, token_scale, torch.float8_e4m3fn))))

    def test_an_add_and_an_ir_norm_fuse_into_the_ir_fused_add_norm(self):
        # As vLLM main's AddRMSNormPattern writes it: the IR op, left for vLLM's lowering.
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(add_then_norm, {"fuse_norm_quant": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=False)
                x, r, w, _ = _rows_and_weight(9, symbolic)
                if symbolic:
                    dump_post_grad(add_then_norm, (x, r, w), "add_norm")
                got = compiled(x, r, w)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("vllm_ir.fused_add_rms_norm.default"), 1, seen[0])
                for gone in ("vllm_ir.rms_norm", "aten.add"):
                    self.assertNotIn(gone, " ".join(seen[0]))
                want = fused_add_rms_norm(x, r, w, EPS)
                self.assertTrue(torch.equal(got[0], want[0]))
                self.assertTrue(torch.equal(got[1], want[1]))


if __name__ == "__main__":
    unittest.main()
