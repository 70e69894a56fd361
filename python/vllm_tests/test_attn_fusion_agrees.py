"""Attention + static FP8 quant: vllm-opt against the installed vLLM's own
pass (0.11's AttnFusionPass, main's AttnQuantFusionPass), on the graph
Inductor captures of three attention layers as vLLM's Attention calls them
(`unified_attention_with_output`, on main after `unified_kv_cache_update`,
its layer name a hoisted `LayerName` input on torch >= 2.11), each output
quantized for its o_proj. vLLM registers a pattern only for the layers whose
attention backend writes FP8 (`impl.fused_output_quant_supported`:
FlashAttention, its default on Hopper, does not, and fails at run time when
given an output scale); vllm-opt is told the same by VllmOptPass, from the
layers in vLLM's forward context (the config's `attn_output_quant`). The
layers here are vLLM's Attention class with a stand-in backend (no GPU)."""
import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vllm_c  # noqa: E402 (defines vLLM's _C ops, sets the platform's device)
import torch  # noqa: E402
from harness import at_post_grad, attention_layer, vllm_config  # noqa: E402
from vllm.config import set_current_vllm_config  # noqa: E402
from vllm.model_executor.layers.quantization.utils.quant_utils import kFp8StaticTensorSym  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "torch_tests"))
from inductor_pass import VLLM_OPT  # noqa: E402 (puts python/ on the path too)
from vllm_opt import VllmOptPass  # noqa: E402

try:  # vLLM main
    from vllm.compilation.passes.fusion.attn_quant_fusion import AttnQuantFusionPass as AttnFusionPass
    from vllm.compilation.passes.inductor_pass import pass_context
    from vllm.config.utils import Range
    from vllm.model_executor.layers.attention import Attention
    from vllm.utils.torch_utils import _USE_LAYERNAME as HOISTED
    from vllm.utils.torch_utils import _encode_layer_name as encoded

    MAIN, CONTEXT = True, Range(1, 8192)
except ImportError:  # vLLM 0.11
    from vllm.attention import Attention
    from vllm.compilation.fusion_attn import AttnFusionPass
    from vllm.compilation.inductor_pass import pass_context

    MAIN, CONTEXT, HOISTED = False, None, False

    def encoded(name):
        return name

vllm_c.fake_nothing("static_scaled_fp8_quant")
HEADS, HEAD_SIZE = 32, 128
LAYERS = [f"model.layers.{i}.self_attn.attn" for i in range(3)]


def quant(y, s):
    q = torch.empty(y.shape, dtype=torch.float8_e4m3fn, device=y.device)
    if MAIN:
        torch.ops._C.static_scaled_fp8_quant(q, y, s, group_shape=[-1, -1])  # as main's QuantFP8 calls it
    else:
        torch.ops._C.static_scaled_fp8_quant(q, y, s)
    return q


def model(q, k, v, s):
    """vLLM's Attention.forward for each layer (custom op path), then the quant of o_proj's input."""
    outs = []
    for name in LAYERS:
        name = encoded(name)
        qh, kh, vh = (t.view(-1, HEADS, HEAD_SIZE) for t in (q, k, v))
        out = torch.empty(q.shape[0], HEADS, HEAD_SIZE, dtype=q.dtype)
        if MAIN:
            dep = torch.ops.vllm.unified_kv_cache_update(kh, vh, name)
            torch.ops.vllm.unified_attention_with_output(qh, kh, vh, out, name, kv_cache_dummy_dep=dep)
        else:
            torch.ops.vllm.unified_attention_with_output(qh, kh, vh, out, name)
        outs.append(quant(out.view(q.shape[0], HEADS * HEAD_SIZE), s))
        q = q * 2
    return outs


class Backend:
    """An attention backend that writes static FP8 output, or not."""

    def __init__(self, writes_fp8):
        self.writes_fp8 = writes_fp8

    def fused_output_quant_supported(self, quant_key):
        return self.writes_fp8 and quant_key == kFp8StaticTensorSym


def attention_config(writes_fp8):
    """vLLM's config with one Attention layer per name in its forward context."""
    pass_config = {"fuse_attn_quant": True} if MAIN else {"enable_attn_fusion": True, "enable_noop": True}
    layers = [attention_layer(Attention, layer_name=name, num_heads=HEADS, head_size=HEAD_SIZE, impl=Backend(writes))
              for name, writes in zip(LAYERS, writes_fp8)]
    return vllm_config(pass_config, ["+quant_fp8"], layers)


def both(writes_fp8):
    """vLLM's pass on a copy of the post-grad graph, VllmOptPass on the graph
    itself (a deep copy's symbolic sizes are not the fake mode's), each under
    vLLM's config: the two graphs."""
    vc = attention_config(writes_fp8)

    def on_graph(graph):
        with set_current_vllm_config(vc), pass_context(CONTEXT):
            theirs = copy.deepcopy(graph.owning_module)
            AttnFusionPass(vc)(theirs.graph)
            VllmOptPass(VLLM_OPT, config={"enable_noop": True, "fuse_attn_quant": True})(graph)
        return theirs.graph, graph

    q = torch.empty(16, HEADS * HEAD_SIZE, dtype=torch.bfloat16)
    k, v = torch.empty_like(q), torch.empty_like(q)
    return at_post_grad(model, (q, k, v, torch.empty((), dtype=torch.float32)), (q, k, v), on_graph)


def quantizing(graph):
    """For each attention in order: whether it writes FP8 (has an output scale)."""
    out = []
    for n in graph.nodes:
        af = str(n.target) == "auto_functionalized"
        if "unified_attention_with_output" in str(n.args[0] if af else n.target):
            out.append(n.kwargs.get("output_scale") is not None)
    return out


class AttentionFusionAgrees(unittest.TestCase):
    def test_every_layer_writes_fp8_both_fuse_every_layer(self):
        theirs, ours = both([True] * 3)
        self.assertEqual(quantizing(theirs), [True] * 3)
        self.assertEqual(quantizing(ours), [True] * 3)

    def test_no_layer_writes_fp8_neither_fuses(self):
        # FlashAttention everywhere; before the forward context was asked,
        # vllm-opt fused all three and each would have failed at run time.
        theirs, ours = both([False] * 3)
        self.assertEqual(quantizing(theirs), [False] * 3)
        self.assertEqual(quantizing(ours), [False] * 3)

    def test_one_layer_without_fp8_output_stays_unfused(self):
        theirs, ours = both([True, False, True])
        if HOISTED:
            # The layer names are graph inputs: vLLM main registers its pattern
            # once, from the first layer that writes FP8, and it matches every
            # layer, the middle one too (whose backend cannot write it).
            # vllm-opt cannot tell which layer each input is: it fuses none.
            self.assertEqual(quantizing(theirs), [True, True, True])
            self.assertEqual(quantizing(ours), [False, False, False])
        else:
            self.assertEqual(quantizing(theirs), [True, False, True])
            self.assertEqual(quantizing(ours), [True, False, True])


if __name__ == "__main__":
    unittest.main()
