"""vllm-opt against vLLM's own fusion passes, those of the installed vLLM
(0.11's or main's RMSNormQuantFusionPass and ActivationQuantFusionPass, and
main's AddRMSNormFusionPass; not re-implementations), on the same post-grad graph: written as that vLLM's
layers write it (0.11: `_C.rms_norm` and `_C.fused_add_rms_norm`; main: its
IR norms, and the static quant with `group_shape`; norm and fused add-norm +
static FP8, norm + per-token FP8, SiLU-and-mul + static FP8, and on main norm
+ per-group FP8 and a residual add + norm), captured from
Inductor (no GPU; vLLM's `_C` ops by their real schemas, see vllm_c), with
vLLM's custom ops on as its fusion needs them. At the epsilons vLLM
registers (1e-5, 1e-6) both fuse the same sites into the same ops; at
another (1e-4) only vllm-opt does; a per-group quant with power-of-two
(UE8M0) scales only vLLM main fuses, into a kernel that has no such flag.
And vLLM's own layers without custom ops (their forward_native, decomposed
ATen): vLLM 0.11 fuses none, main at its epsilons, vllm-opt at each. A separate
process from test_in_vllm: vllm_c defines every `_C` op of vLLM."""
import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import vllm_c  # noqa: E402 (defines vLLM's _C ops, sets the platform's device)
import torch  # noqa: E402
from harness import at_post_grad, vllm_config  # noqa: E402
from vllm.config import set_current_vllm_config  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "torch_tests"))
from inductor_pass import VLLM_OPT  # noqa: E402 (puts python/ on the path too)
from vllm_opt import VllmOptPass  # noqa: E402

try:  # vLLM main
    import vllm.ir.ops as IR
    from vllm.compilation.passes.fusion.act_quant_fusion import ActivationQuantFusionPass
    from vllm.compilation.passes.fusion.add_rms_fusion import AddRMSNormFusionPass
    from vllm.compilation.passes.fusion.rms_quant_fusion import RMSNormQuantFusionPass
    from vllm.compilation.passes.inductor_pass import pass_context
    from vllm.config.utils import Range

    PASS_CONFIG = {"fuse_norm_quant": True}
    CONTEXT = Range(1, 8192)
    GROUPS = True  # main fuses norms with per-group quants (0.11 has no such kernel)

    def norm(x, w, eps):
        return IR.rms_norm(x, w, eps)

    def add_norm(x, r, w, eps):
        return IR.fused_add_rms_norm(x, r, w, eps)

    def quant(y, s):
        q = torch.empty(y.shape, dtype=torch.float8_e4m3fn, device=y.device)
        torch.ops._C.static_scaled_fp8_quant(q, y, s, group_shape=[-1, -1])  # per tensor, as main's QuantFP8 calls it
        return q
except ImportError:  # vLLM 0.11
    from vllm.compilation.activation_quant_fusion import ActivationQuantFusionPass
    from vllm.compilation.fusion import RMSNormQuantFusionPass
    from vllm.compilation.inductor_pass import pass_context

    PASS_CONFIG = {"enable_fusion": True}
    CONTEXT = None
    GROUPS = False

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



def per_token_quant(y):
    q = torch.empty(y.shape, dtype=torch.float8_e4m3fn, device=y.device)
    scale = torch.empty(y.shape[0], 1, dtype=torch.float32, device=y.device)
    torch.ops._C.dynamic_per_token_scaled_fp8_quant(q, y, scale, None)
    return q, scale


def group_quant(y, ue8m0):
    """Per-group (1x128) FP8, row-major scales, as vLLM main's QuantFP8 calls it."""
    q = torch.empty(y.shape, dtype=torch.float8_e4m3fn, device=y.device)
    s = torch.empty(y.shape[0], y.shape[1] // 128, dtype=torch.float32, device=y.device)
    torch.ops._C.per_token_group_fp8_quant(y, q, s, 128, 1e-10, -448.0, 448.0, ue8m0, False, False)
    return q, s


def silu_and_mul(x):
    out = torch.empty(x.shape[0], x.shape[1] // 2, dtype=x.dtype, device=x.device)
    torch.ops._C.silu_and_mul(out, x)
    return out


vllm_c.fake_nothing("rms_norm", "fused_add_rms_norm", "static_scaled_fp8_quant", "dynamic_per_token_scaled_fp8_quant",
                    "silu_and_mul", "per_token_group_fp8_quant")
EPSILONS = (1e-5, 1e-6, 1e-4)


def model(x, r, w, s, g):
    outs = []
    for eps in EPSILONS:
        outs.append(quant(norm(x, w, eps), s))
        h, r = add_norm(x, r, w, eps)
        outs.append(quant(h, s))
        outs.extend(per_token_quant(norm(x * 2, w, eps)))
        if GROUPS:
            outs.extend(group_quant(norm(x * 3, w, eps), ue8m0=False))
    if GROUPS:  # power-of-two scales: vLLM main fuses them into a kernel without that flag, vllm-opt does not
        outs.extend(group_quant(norm(x * 4, w, EPSILONS[0]), ue8m0=True))
    outs.append(quant(silu_and_mul(g), s))
    return outs + [r]


def model_add_norm(x, r, w, s, g):
    """A residual add, then vLLM main's IR norm of the sum (the Transformers backend's layers)."""
    outs = []
    for eps in EPSILONS:
        h = x + r
        outs += [norm(h, w, eps), h]
    return outs


def post_grad_graph(fn=model):
    """The graph Inductor hands vLLM's passes (v1 auto_functionalized, as vLLM
    compiles), traced from CPU tensors."""
    x = torch.empty(256, 4096, dtype=torch.bfloat16)
    r = torch.empty_like(x)
    w = torch.empty(4096, dtype=torch.bfloat16)
    s = torch.empty((), dtype=torch.float32)
    g = torch.empty(256, 2 * 14336, dtype=torch.bfloat16)
    return at_post_grad(fn, (x, r, w, s, g), (x, r, g), lambda graph: copy.deepcopy(graph.owning_module))


FUSED = ("rms_norm_static_fp8_quant", "fused_add_rms_norm_static_fp8_quant", "rms_norm_dynamic_per_token_quant",
         "silu_and_mul_quant", "rms_norm_per_block_quant")


def fused(graph):
    """{fused op: count, by epsilon}."""
    counts = {}
    for n in graph.nodes:
        af = str(n.target) == "auto_functionalized"
        target = str(n.args[0]) if af else str(n.target)
        name = target.split(".")[1] if target.startswith("_C.") else ""
        if name in FUSED:
            eps = n.kwargs.get("epsilon")
            counts[(name, eps)] = counts.get((name, eps), 0) + 1
    return counts


def native_layers(vc):
    """vLLM's own RMSNorm layers (one per epsilon) and static per-tensor QuantFP8, for their forward_native."""
    from vllm.model_executor.layers.layernorm import RMSNorm
    from vllm.model_executor.layers.quantization.input_quant_fp8 import QuantFP8
    from vllm.model_executor.layers.quantization.utils.quant_utils import GroupShape

    with set_current_vllm_config(vc), torch.device("cpu"):
        norms = [RMSNorm(4096, eps=eps, dtype=torch.bfloat16).requires_grad_(False) for eps in EPSILONS]
        return norms, QuantFP8(static=True, group_shape=GroupShape.PER_TENSOR)


class FusionsAgree(unittest.TestCase):
    def test_vllm_opt_fuses_what_vllms_own_pass_fuses_and_other_epsilons(self):
        gm = post_grad_graph()
        vc = vllm_config(PASS_CONFIG, ["+rms_norm", "+quant_fp8", "+silu_and_mul"])
        with set_current_vllm_config(vc), pass_context(CONTEXT):
            theirs, ours, both = copy.deepcopy(gm), copy.deepcopy(gm), copy.deepcopy(gm)
            RMSNormQuantFusionPass(vc)(theirs.graph)
            ActivationQuantFusionPass(vc)(theirs.graph)
            VllmOptPass(VLLM_OPT, config={"enable_noop": True, "enable_fusion": True})(ours.graph)
            # vLLM's fusions left on, vllm-opt after them on the graph as they leave it (in vLLM 0.11 not
            # topologically sorted: its post-cleanup sorts later).
            RMSNormQuantFusionPass(vc)(both.graph)
            ActivationQuantFusionPass(vc)(both.graph)
            VllmOptPass(VLLM_OPT, config={"enable_noop": True, "enable_fusion": True})(both.graph)
        norms = FUSED[:3] + FUSED[4:] * GROUPS
        want = {**{(k, eps): 1 for k in norms for eps in EPSILONS[:2]}, ("silu_and_mul_quant", None): 1}
        ue8m0 = {("rms_norm_per_block_quant", EPSILONS[0]): 2} if GROUPS else {}
        self.assertEqual(fused(theirs.graph), {**want, **ue8m0})
        self.assertEqual(fused(ours.graph), {**want, **{(k, 1e-4): 1 for k in norms}})
        # vLLM's fused ops kept (its UE8M0 one too), the rest fused by vllm-opt.
        self.assertEqual(fused(both.graph), {**fused(ours.graph), **ue8m0})

    @unittest.skipUnless(GROUPS, "vLLM main's add + RMSNorm fusion (not in 0.11)")
    def test_add_then_norm_fuses_as_vllms_add_rms_norm_pass_fuses_it(self):
        gm = post_grad_graph(model_add_norm)
        vc = vllm_config(PASS_CONFIG, ["+rms_norm"])

        def adds(graph):
            return sorted(n.args[3] for n in graph.nodes if str(n.target) == "vllm_ir.fused_add_rms_norm.default")

        with set_current_vllm_config(vc), pass_context(CONTEXT):
            theirs, ours = copy.deepcopy(gm), copy.deepcopy(gm)
            AddRMSNormFusionPass(vc)(theirs.graph)
            VllmOptPass(VLLM_OPT, config={"fuse_norm_quant": True})(ours.graph)
        self.assertEqual(adds(theirs.graph), sorted(EPSILONS[:2]))
        self.assertEqual(adds(ours.graph), sorted(EPSILONS))

    def test_the_installed_vllm_says_whether_its_fused_norms_take_strided_rows(self):
        # vLLM 0.11's per-token norm kernel checks `input.is_contiguous()`
        # (a norm of a slice, DeepSeek's q_a_layernorm, fails there); main's
        # read rows `input.stride(-2)` apart (PR 36551). Read off the library.
        from vllm_opt.fx_import import vllm_contiguous_input_ops

        self.assertEqual(vllm_contiguous_input_ops(), [] if GROUPS else [
            "torch.ops._C.rms_norm_dynamic_per_token_quant.default", "torch.ops._C.rms_norm_per_block_quant.default"])

    def test_vllms_native_layers_fuse_everywhere_with_vllm_opt(self):
        # vLLM's layers without custom ops (Inductor's default in vLLM): its
        # RMSNorm and QuantFP8 forward_native, decomposed ATen. vLLM 0.11's
        # pass fuses none of them (custom-op patterns only); main's matchers
        # fuse them at its epsilons; vllm-opt at each.
        vc = vllm_config(PASS_CONFIG, ["none"])
        norms, q = native_layers(vc)

        def model_native(x, r, w, s, g):
            # Each norm of its own input, as in a model (one input would share the f32 cast and the mean).
            return [q.forward_native(n.forward_native(x * (i + 2)), s)[0] for i, n in enumerate(norms)]

        with set_current_vllm_config(vc):
            gm = post_grad_graph(model_native)
            with pass_context(CONTEXT):
                theirs, ours = copy.deepcopy(gm), copy.deepcopy(gm)
                RMSNormQuantFusionPass(vc)(theirs.graph)
                VllmOptPass(VLLM_OPT, config={"enable_noop": True, "enable_fusion": True})(ours.graph)
        key = "rms_norm_static_fp8_quant"
        self.assertEqual(fused(theirs.graph), {(key, eps): 1 for eps in EPSILONS[:2]} if GROUPS else {})
        self.assertEqual(fused(ours.graph), {(key, eps): 1 for eps in EPSILONS})


if __name__ == "__main__":
    unittest.main()
