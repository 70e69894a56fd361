"""Per-head q/k RMSNorm + rotary embedding: vllm-opt against vLLM main's own
QKNormRoPEFusionPass (vLLM 0.11 has neither the pass nor the kernel), on
the graph Inductor captures of Qwen3's attention as vLLM main writes it
(the projection's rows split into q, k, v; each of q and k viewed as heads,
vLLM's IR `rms_norm`, viewed back; `_C.rotary_embedding`, custom ops on),
at epsilons 1e-5, 1e-6 and 1e-4, neox and GPT-J. vLLM takes its geometry
from the Attention layers in its forward context (vLLM's class, built
without its constructor) and registers its patterns at 1e-5 and 1e-6;
vllm-opt reads the geometry off the graph and fuses any epsilon. No GPU
(vLLM's `_C` ops by their schemas, see vllm_c)."""
import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vllm_c  # noqa: E402 (defines vLLM's _C ops, sets the platform's device)
import torch  # noqa: E402
from harness import at_post_grad, attention_layer, vllm_config  # noqa: E402
from vllm.config import set_current_vllm_config  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "torch_tests"))
from inductor_pass import VLLM_OPT  # noqa: E402 (puts python/ on the path too)
from vllm_opt import VllmOptPass  # noqa: E402

try:  # vLLM main
    import vllm.ir.ops as IR
    from vllm.compilation.passes.fusion.qk_norm_rope_fusion import QKNormRoPEFusionPass
    from vllm.compilation.passes.inductor_pass import pass_context
    from vllm.config.utils import Range
    from vllm.model_executor.layers.attention import Attention
except ImportError:  # vLLM 0.11: no such fusion
    QKNormRoPEFusionPass = None

vllm_c.fake_nothing("rotary_embedding")
HQ, HK, D = 8, 2, 128
EPSILONS = (1e-5, 1e-6, 1e-4)


def qwen3_qkv(qkv, q_weight, k_weight, cos_sin_cache, positions, eps, is_neox):
    """Qwen3Attention.forward from its projection's rows to the attention's q, k, v."""
    q, k, v = qkv.split([HQ * D, HK * D, HK * D], dim=-1)
    q = IR.rms_norm(q.view(*q.shape[:-1], HQ, D), q_weight, eps).view(q.shape)
    k = IR.rms_norm(k.view(*k.shape[:-1], HK, D), k_weight, eps).view(k.shape)
    torch.ops._C.rotary_embedding(positions, q, k, D, cos_sin_cache, is_neox)
    return q, k, v


def model(qkv, q_weight, k_weight, cos_sin_cache, positions):
    outs = []
    for i, (eps, is_neox) in enumerate((eps, n) for eps in EPSILONS for n in (True, False)):
        outs.extend(qwen3_qkv(qkv * (i + 2), q_weight, k_weight, cos_sin_cache, positions, eps, is_neox))
    return outs


def qk_config():
    """vLLM's config with one Attention layer of this geometry in its forward context."""
    layer = attention_layer(Attention, layer_name="model.layers.0.self_attn.attn", num_heads=HQ, num_kv_heads=HK, head_size=D)
    return vllm_config({"enable_qk_norm_rope_fusion": True}, ["+rms_norm", "+rotary_embedding"], [layer])


def both(fn=model, rotary_dim=D):
    """vLLM's pass on a copy of the post-grad graph, VllmOptPass on the graph
    itself; the rotary over the first `rotary_dim` dims of each head (the
    cache's width)."""
    vc = qk_config()

    def on_graph(graph):
        with set_current_vllm_config(vc), pass_context(Range(1, 8192)):
            theirs = copy.deepcopy(graph.owning_module)
            QKNormRoPEFusionPass(vc)(theirs.graph)
            VllmOptPass(VLLM_OPT, config={"enable_noop": True, "enable_qk_norm_rope_fusion": True})(graph)
        return theirs.graph, graph

    qkv = torch.empty(16, (HQ + 2 * HK) * D, dtype=torch.bfloat16)
    positions = torch.empty(16, dtype=torch.int64)
    weights = [torch.empty(D, dtype=torch.bfloat16) for _ in range(2)]
    cache = torch.empty(4096, rotary_dim, dtype=torch.bfloat16)
    with set_current_vllm_config(vc):  # vLLM's IR ops read it while Dynamo traces them
        return at_post_grad(fn, (qkv, *weights, cache, positions), (qkv, positions), on_graph)


def fused(graph):
    """{(epsilon, is_neox): count} of the fused kernel's calls."""
    counts = {}
    for n in graph.nodes:
        af = str(n.target) == "auto_functionalized"
        if str(n.args[0] if af else n.target).startswith("_C.fused_qk_norm_rope"):
            key = (n.kwargs["eps"], n.kwargs["is_neox"])
            counts[key] = counts.get(key, 0) + 1
    return counts


@unittest.skipIf(QKNormRoPEFusionPass is None, "vLLM main's q/k-norm + RoPE fusion (not in 0.11)")
class QkNormRopeAgrees(unittest.TestCase):
    def test_vllm_opt_fuses_what_vllms_own_pass_fuses_and_other_epsilons(self):
        theirs, ours = both()
        self.assertEqual(fused(theirs), {(eps, n): 1 for eps in EPSILONS[:2] for n in (True, False)})
        self.assertEqual(fused(ours), {(eps, n): 1 for eps in EPSILONS for n in (True, False)})

    def test_a_partial_rotary_fuses_as_vllm_fuses_it(self):
        # A rotary over half of each head (GLM-4's partial_rotary_factor 0.5):
        # vLLM main's kernel takes `rotary_dim <= head_dim` (its library says
        # so, which VllmOptPass reads: qk_norm_rope_partial_rotary).
        def one_site(qkv, q_weight, k_weight, cos_sin_cache, positions):
            return qwen3_qkv(qkv, q_weight, k_weight, cos_sin_cache, positions, 1e-6, True)

        theirs, ours = both(one_site, rotary_dim=D // 2)
        self.assertEqual(fused(theirs), {(1e-6, True): 1})
        self.assertEqual(fused(ours), {(1e-6, True): 1})


if __name__ == "__main__":
    unittest.main()
