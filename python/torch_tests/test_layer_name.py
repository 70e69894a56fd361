"""vLLM main on torch >= 2.11 passes attention's `layer_name` as a `LayerName`
opaque object, which torch.compile hoists into a graph input (a placeholder
whose value is a FakeScriptObject). VllmOptPass must export such a graph (the
placeholder with a null value, its class named), vllm-opt must import it
(the attention's `layer_name` naming the input), fuse as usual (an RMSNorm
and its static FP8 quant; the attention and its quant, the fused attention
taking the same input), convert the attention in place, and the compiled
functions must give eager's bytes. Needs torch; run by scripts/torch-tests.
The graphs are lit inputs too (tests/fx/inputs/layer_name_*.json).
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from fp8 import BODIES, EPS, RMS_NORM, RMS_NORM_STATIC_FP8_QUANT, quant  # noqa: E402
from inductor_pass import compile_with_pass, define_ops, dump_post_grad  # noqa: E402

try:
    from torch._opaque_base import OpaqueBase
    from torch._library.opaque_object import register_opaque_type
except ImportError:  # torch < 2.11: no opaque types, vLLM passes a str
    OpaqueBase = None

if OpaqueBase is not None:
    class LayerName(OpaqueBase):
        """vLLM's LayerName (vllm/utils/torch_utils.py)."""

        def __init__(self, value):
            self.value = value

        def __eq__(self, other):
            return isinstance(other, LayerName) and self.value == other.value

        def __hash__(self):
            return hash(self.value)

        def __fx_repr__(self):
            return (f"LayerName({self.value!r})", {"LayerName": LayerName})

    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        register_opaque_type(LayerName, typ="value", hoist=True)

    def unified_attention_with_output(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                      output: torch.Tensor, layer_name: LayerName,
                                      output_scale: torch.Tensor | None = None,
                                      output_block_scale: torch.Tensor | None = None) -> None:
        """A stand-in body: the query's rows plus the value's, in the activation type, quantized in the
        epilogue when given an output scale (as vLLM's FP8-output backends do)."""
        a = (query + value).to(query.dtype)
        output.copy_(quant(a, output_scale) if output_scale is not None else a)

    VLLM = torch.library.Library("vllm", "FRAGMENT")
    VLLM.define("unified_attention_with_output"
                + torch.library.infer_schema(unified_attention_with_output, mutates_args=["output", "output_block_scale"]))
    VLLM.impl("unified_attention_with_output", unified_attention_with_output, "CompositeExplicitAutograd")
    torch.library.register_fake("vllm::unified_attention_with_output", lambda *a, **k: None, lib=VLLM)


LIB = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB, (RMS_NORM, "static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale) -> ()",
                 RMS_NORM_STATIC_FP8_QUANT), BODIES)


def layer(x, w, scale):
    """The input norm and its quant (the quantized rows feed a GEMM elsewhere), and an attention, its
    layer name a hoisted LayerName."""
    y = torch.empty_like(x)
    torch.ops._C.rms_norm(y, x, w, EPS)
    q = torch.empty(x.shape, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(q, y, scale)
    out = torch.empty_like(x)
    torch.ops.vllm.unified_attention_with_output(x, x, x, out, LayerName("model.layers.0.self_attn.attn"))
    return q, out


def attention_quant(x, scale):
    """An attention over [T, 2, 32] heads, its output reshaped to rows and quantized, as vLLM's graphs hold it."""
    q = x.view(-1, 2, 32)
    out = torch.empty_like(q)
    torch.ops.vllm.unified_attention_with_output(q, q, q, out, LayerName("model.layers.0.self_attn.attn"))
    y = out.reshape(-1, 64)
    r = torch.empty(y.shape, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(r, y, scale)
    return r


@unittest.skipIf(OpaqueBase is None, "torch < 2.11 has no opaque types (vLLM passes layer_name as a str there)")
class HoistedLayerName(unittest.TestCase):
    def test_the_attention_goes_in_place_and_the_rest_fuses(self):
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(layer, {"enable_fusion": True, "enable_attn_fusion": True,
                                                           "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=False)
                g = torch.Generator().manual_seed(11)
                x = torch.randn(16, 64, generator=g).to(torch.bfloat16)
                w = (1 + 0.2 * torch.randn(64, generator=g)).to(torch.bfloat16)
                scale = torch.tensor([0.02])
                if symbolic:
                    torch._dynamo.mark_dynamic(x, 0)
                    dump_post_grad(layer, (x, w, scale), "layer_name")
                got = compiled(x, w, scale)
                want = layer(x, w, scale)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("_C.rms_norm_static_fp8_quant.default"), 1, seen[0])
                # The attention, its layer_name the hoisted input, goes in place too.
                self.assertEqual(seen[0].count("vllm.unified_attention_with_output.default"), 1, seen[0])
                self.assertNotIn("auto_functionalized", " ".join(seen[0]))
                self.assertTrue(torch.equal(got[0].view(torch.uint8), want[0].view(torch.uint8)))
                self.assertTrue(torch.equal(got[1], want[1]))

    def test_the_attention_fuses_with_its_quant(self):
        # The fused attention takes the same hoisted input as its layer_name.
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                compiled, seen = compile_with_pass(attention_quant, {"enable_attn_fusion": True, "eliminate_noops": True},
                                                   enable_auto_functionalized_v2=False)
                x = torch.randn(16, 64, generator=torch.Generator().manual_seed(12)).to(torch.bfloat16)
                scale = torch.tensor([0.02])
                if symbolic:
                    torch._dynamo.mark_dynamic(x, 0)
                    dump_post_grad(attention_quant, (x, scale), "attention_quant")
                got = compiled(x, scale)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("vllm.unified_attention_with_output.default"), 1, seen[0])
                for gone in ("_C.static_scaled_fp8_quant", "auto_functionalized"):
                    self.assertNotIn(gone, " ".join(seen[0]))
                self.assertTrue(torch.equal(got.view(torch.uint8), attention_quant(x, scale).view(torch.uint8)))


if __name__ == "__main__":
    unittest.main()
