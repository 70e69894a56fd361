"""vllm-opt against vLLM's own RMSNorm + FP8 quant fusion pass, the one of
the installed vLLM (0.11's or main's RMSNormQuantFusionPass, not a
re-implementation), on the same post-grad graph: written as that vLLM's
layers write it (0.11: `_C.rms_norm` and `_C.fused_add_rms_norm`; main: its
IR norms, and the static quant with `group_shape`), captured from Inductor
(no GPU; vLLM's `_C` ops by their real schemas, see vllm_c). At the epsilons vLLM registers (1e-5, 1e-6) both fuse the same
sites into the same ops; at another (1e-4) only vllm-opt does. A separate
process from test_in_vllm: vllm_c defines every `_C` op of vLLM."""
import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vllm_c  # noqa: E402 (defines vLLM's _C ops, sets the platform's device)
import torch  # noqa: E402
from vllm.config import CompilationConfig, DeviceConfig, VllmConfig, set_current_vllm_config  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "torch_tests"))
from inductor_pass import VLLM_OPT  # noqa: E402 (puts python/ on the path too)
from vllm_opt import VllmOptPass  # noqa: E402

try:  # vLLM main
    import vllm.ir.ops as IR
    from vllm.compilation.passes.fusion.rms_quant_fusion import RMSNormQuantFusionPass
    from vllm.compilation.passes.inductor_pass import pass_context
    from vllm.config.utils import Range

    PASS_CONFIG = {"fuse_norm_quant": True}
    CONTEXT = Range(1, 8192)

    def norm(x, w, eps):
        return IR.rms_norm(x, w, eps)

    def add_norm(x, r, w, eps):
        return IR.fused_add_rms_norm(x, r, w, eps)

    def quant(y, s):
        q = torch.empty(y.shape, dtype=torch.float8_e4m3fn, device=y.device)
        torch.ops._C.static_scaled_fp8_quant(q, y, s, group_shape=[-1, -1])  # per tensor, as main's QuantFP8 calls it
        return q
except ImportError:  # vLLM 0.11
    from vllm.compilation.fusion import RMSNormQuantFusionPass
    from vllm.compilation.inductor_pass import pass_context

    PASS_CONFIG = {"enable_fusion": True}
    CONTEXT = None

    def norm(x, w, eps):
        out = torch.empty_like(x)
        torch.ops._C.rms_norm(out, x, w, eps)
        return out

    def add_norm(x, r, w, eps):
        x, r = x.clone(), r.clone()
        torch.ops._C.fused_add_rms_norm(x, r, w, eps)
        return x, r

    def quant(y, s):
        q = torch.empty(y.shape, dtype=torch.float8_e4m3fn, device=y.device)
        torch.ops._C.static_scaled_fp8_quant(q, y, s)
        return q

vllm_c.fake_nothing("rms_norm", "fused_add_rms_norm", "static_scaled_fp8_quant")
EPSILONS = (1e-5, 1e-6, 1e-4)


def model(x, r, w, s):
    outs = []
    for eps in EPSILONS:
        outs.append(quant(norm(x, w, eps), s))
        h, r = add_norm(x, r, w, eps)
        outs.append(quant(h, s))
    return outs + [r]


def post_grad_graph():
    """The graph Inductor hands vLLM's passes (v1 auto_functionalized, as vLLM
    compiles), traced from CPU tensors (Dynamo fakes them; the hook stops the
    compile before anything runs)."""
    got = []

    def hook(graph):
        got.append(copy.deepcopy(graph.owning_module))
        raise RuntimeError("captured")

    x = torch.empty(256, 4096, dtype=torch.bfloat16)
    r = torch.empty_like(x)
    w = torch.empty(4096, dtype=torch.bfloat16)
    s = torch.empty((), dtype=torch.float32)
    torch._dynamo.mark_dynamic(x, 0)
    torch._dynamo.mark_dynamic(r, 0)
    torch._dynamo.reset()
    try:
        torch.compile(model, fullgraph=True, options={"post_grad_custom_post_pass": hook,
                                                      "enable_auto_functionalized_v2": False})(x, r, w, s)
    except Exception:  # noqa: BLE001 - Dynamo wraps the hook's
        if not got:
            raise
    return got[0]


def fused(graph):
    """{fused op: count, by epsilon}."""
    counts = {}
    for n in graph.nodes:
        af = str(n.target) == "auto_functionalized"
        target = str(n.args[0]) if af else str(n.target)
        if target.endswith("_fp8_quant.default") and "rms_norm" in target:
            eps = (n.kwargs if af or n.kwargs else {}).get("epsilon", n.args[-1] if n.args else None)
            counts[(target.split(".")[1], eps)] = counts.get((target.split(".")[1], eps), 0) + 1
    return counts


class FusionsAgree(unittest.TestCase):
    def test_vllm_opt_fuses_what_vllms_own_pass_fuses_and_other_epsilons(self):
        gm = post_grad_graph()
        cc = CompilationConfig(pass_config=PASS_CONFIG, custom_ops=["+rms_norm", "+quant_fp8"])
        vc = VllmConfig(compilation_config=cc, device_config=DeviceConfig(device="cpu"))
        with set_current_vllm_config(vc), pass_context(CONTEXT):
            theirs, ours = copy.deepcopy(gm), copy.deepcopy(gm)
            RMSNormQuantFusionPass(vc)(theirs.graph)
            VllmOptPass(VLLM_OPT, config={"enable_noop": True, "enable_fusion": True})(ours.graph)
        kinds = ("rms_norm_static_fp8_quant", "fused_add_rms_norm_static_fp8_quant")
        want_theirs = {(k, eps): 1 for k in kinds for eps in EPSILONS[:2]}
        self.assertEqual(fused(theirs.graph), want_theirs)
        self.assertEqual(fused(ours.graph), {**want_theirs, **{(k, 1e-4): 1 for k in kinds}})


if __name__ == "__main__":
    unittest.main()
