"""Attention + NVFP4 output quant through Inductor with VllmOptPass as its
post-grad custom pass (needs torch; run by scripts/torch-tests): vLLM 0.11's
AttentionNvfp4QuantPattern. The model holds what vLLM's does: attention
into a bf16 buffer, the reshape to `[T, H*D]`, `ops.scaled_fp4_quant`
(block scales with round_up(T, 128) rows: SymInt arithmetic with the token
count dynamic) and the block scales viewed as FP8. vllm-opt must leave one
in-place attention that writes the packed values and the block scales
(`output_scale` the global scale), no quant, and the compiled function
must give eager's bytes. `vllm::unified_attention_with_output` is defined
here with vLLM's schema and a CPU body (plain softmax attention with
grouped KV heads, then the FP8 or NVFP4 epilogue). The graph Inductor
captured is also a lit input (tests/pipeline/inputs/attn_nvfp4_inductor.json).
The attention reads the KV-cache update's result (`kv_cache_dummy_dep`), as
vLLM main's graphs have it: the fused attention must keep that dependency.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import compile_with_pass, define_ops  # noqa: E402
from nvfp4 import SCALED_FP4_QUANT, nvfp4, quant, scaled_fp4_quant  # noqa: E402

H, HK, D = 4, 2, 64
LAYER = "model.layers.0.self_attn.attn"


def unified_kv_cache_update(key, value, layer_name):
    """vLLM main's KV-cache update (a stand-in: no cache here); its result only orders the attention after it."""
    return torch.empty(0, dtype=key.dtype)


def unified_attention_with_output(query, key, value, output, layer_name, output_scale=None, output_block_scale=None,
                                  kv_cache_dummy_dep=None):
    """softmax(q k^T / sqrt(D)) v per head (KV heads shared by H/HK query heads), in f32, rounded once;
    quantized in the epilogue when output_scale is given (NVFP4 with output_block_scale, else static FP8)."""
    t = query.shape[0]
    k = key.float().repeat_interleave(H // HK, dim=1)
    v = value.float().repeat_interleave(H // HK, dim=1)
    p = torch.softmax(torch.einsum("thd,shd->hts", query.float(), k) / D ** 0.5, dim=-1)
    o = torch.einsum("hts,shd->thd", p, v).to(query.dtype)
    if output_scale is None:
        output.copy_(o)
    elif output_block_scale is None:
        output.copy_((o.float() / output_scale).clamp(-448.0, 448.0).to(output.dtype))
    else:
        packed, sf = nvfp4(o.reshape(t, H * D), output_scale)
        output.copy_(packed.reshape(output.shape))
        output_block_scale.view(torch.uint8).copy_(sf.view(torch.uint8).reshape(output_block_scale.shape))


LIB_C = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB_C, (SCALED_FP4_QUANT,), {"scaled_fp4_quant": scaled_fp4_quant})
LIB_VLLM = torch.library.Library("vllm", "FRAGMENT")
define_ops(LIB_VLLM, ("unified_attention_with_output(Tensor query, Tensor key, Tensor value, Tensor! output, "
                      "str layer_name, Tensor? output_scale=None, Tensor!? output_block_scale=None, "
                      "Tensor? kv_cache_dummy_dep=None) -> ()",
                      "unified_kv_cache_update(Tensor key, Tensor value, str layer_name) -> Tensor"),
           {"unified_attention_with_output": unified_attention_with_output,
            "unified_kv_cache_update": unified_kv_cache_update},
           fakes={"unified_kv_cache_update": unified_kv_cache_update})


def attention_then_quant(q, k, v, g):
    """What vLLM's graph holds before its fusion: attention, the reshape, the NVFP4 quant, the FP8 view."""
    out = torch.empty_like(q)
    dep = torch.ops.vllm.unified_kv_cache_update(k, v, LAYER)  # vLLM main orders the attention after it
    torch.ops.vllm.unified_attention_with_output(q, k, v, out, LAYER, kv_cache_dummy_dep=dep)
    packed, scales = quant(out.reshape(q.shape[0], H * D), g)
    return packed, scales.view(torch.float8_e4m3fn)


class AttentionNvfp4Fusion(unittest.TestCase):
    def test_inductors_graph_fuses_into_the_attention(self):
        dump = os.environ.get("VLLM_OPT_DUMP_GRAPH")
        for symbolic in (True, False):
            with self.subTest(symbolic=symbolic):
                config = {"enable_attn_fusion": True, "eliminate_noops": True}
                compiled, seen = compile_with_pass(attention_then_quant, config, enable_auto_functionalized_v2=False)
                gen = torch.Generator().manual_seed(5)
                q = torch.randn(200, H, D, generator=gen).to(torch.bfloat16)
                k = torch.randn(200, HK, D, generator=gen).to(torch.bfloat16)
                v = (3 * torch.randn(200, HK, D, generator=gen)).to(torch.bfloat16)
                g = torch.tensor(448.0 * 6.0 / 4.0)
                if symbolic:
                    for x in (q, k, v):
                        torch._dynamo.mark_dynamic(x, 0)
                if dump and symbolic:
                    import vllm_opt.fx_export as fx_export
                    torch._dynamo.reset()
                    torch.compile(attention_then_quant, options={
                        "post_grad_custom_post_pass": fx_export.post_grad_dump_pass(dump), "force_disable_caches": True,
                        "enable_auto_functionalized_v2": False})(q, k, v, g)
                got_q, got_sf = compiled(q, k, v, g)
                want_q, want_sf = attention_then_quant(q, k, v, g)
                self.assertEqual(len(seen), 1)
                self.assertEqual(seen[0].count("vllm.unified_attention_with_output.default"), 1, seen[0])
                for gone in ("_C.scaled_fp4_quant.default", "auto_functionalized"):
                    self.assertNotIn(gone, seen[0])
                self.assertEqual(tuple(got_sf.shape), (256, 16))
                self.assertEqual(got_sf.dtype, torch.float8_e4m3fn)
                self.assertTrue(torch.equal(got_q, want_q))
                # Rows past T are padding, which vLLM leaves unwritten (`empty`): compare the real rows.
                self.assertTrue(torch.equal(got_sf[:200].view(torch.uint8), want_sf[:200].view(torch.uint8)))

    def test_without_the_fusion_the_view_of_the_scales_round_trips(self):
        # Fusion off: the quant and the FP8 view of its scales (an opaque torch.operator in
        # vllm-opt) come back as calls torch runs, with eager's bytes.
        compiled, seen = compile_with_pass(attention_then_quant, {"eliminate_noops": True},
                                           enable_auto_functionalized_v2=False)
        gen = torch.Generator().manual_seed(6)
        q = torch.randn(40, H, D, generator=gen).to(torch.bfloat16)
        k = torch.randn(40, HK, D, generator=gen).to(torch.bfloat16)
        v = torch.randn(40, HK, D, generator=gen).to(torch.bfloat16)
        g = torch.tensor(448.0 * 6.0 / 3.0)
        got_q, got_sf = compiled(q, k, v, g)
        want_q, want_sf = attention_then_quant(q, k, v, g)
        self.assertIn("aten.view.dtype", seen[0])
        self.assertEqual(seen[0].count("_C.scaled_fp4_quant.default"), 1, seen[0])
        self.assertEqual(got_sf.dtype, torch.float8_e4m3fn)
        self.assertTrue(torch.equal(got_q, want_q))
        self.assertTrue(torch.equal(got_sf[:40].view(torch.uint8), want_sf[:40].view(torch.uint8)))


if __name__ == "__main__":
    unittest.main()
