"""VllmOptPass on real torch.fx graphs (needs torch; run by scripts/torch-tests,
not by the CI suite, which has no torch).

vLLM's custom ops are defined here in a test library under their own names
and schemas (`_C::rms_norm`, `_C::static_scaled_fp8_quant`,
`_C::rms_norm_static_fp8_quant`, mutating their `result`), with CPU
implementations that round where vLLM's kernels round. A graph holding
them as vLLM's does (`auto_functionalized`) goes through vllm-opt's fusion
and fix-functionalization and comes back as a GraphModule that runs: its
results must equal the original graph's, bit for bit.
"""
import os
import sys
import unittest

import torch
from torch.fx.experimental.proxy_tensor import make_fx
from torch.multiprocessing.reductions import StorageWeakRef

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import VLLM_OPT, assert_same_outputs  # noqa: E402 (puts python/ on the path too)
from vllm_opt import VllmOptPass  # noqa: E402

LIB = torch.library.Library("_C", "FRAGMENT")
for schema in ("rms_norm(Tensor! result, Tensor input, Tensor weight, float epsilon) -> ()",
               "static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale) -> ()",
               "rms_norm_static_fp8_quant(Tensor! result, Tensor input, Tensor weight, Tensor scale, float epsilon) -> ()"):
    try:
        LIB.define(schema)
    except RuntimeError:  # already defined (a second import)
        pass


def _norm(x, w, eps):
    """vLLM's rms_norm: f32 math, rounded to the input dtype after x*s and after *w."""
    xf = x.float()
    s = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return ((xf * s).to(x.dtype) * w).to(x.dtype)


def _quant(y, scale):
    q = (y.float() * (1.0 / scale.float())).clamp(-448.0, 448.0)
    return q.to(torch.float8_e4m3fn)


def rms_norm(result, input, weight, epsilon):
    result.copy_(_norm(input, weight, epsilon))


def static_scaled_fp8_quant(result, input, scale):
    result.copy_(_quant(input, scale))


def rms_norm_static_fp8_quant(result, input, weight, scale, epsilon):
    result.copy_(_quant(_norm(input, weight, epsilon), scale))


for name, fn in (("rms_norm", rms_norm), ("static_scaled_fp8_quant", static_scaled_fp8_quant),
                 ("rms_norm_static_fp8_quant", rms_norm_static_fp8_quant)):
    LIB.impl(name, fn, "CompositeExplicitAutograd")
    torch.library.register_fake(f"_C::{name}", lambda *a, **k: None, lib=LIB)


def _norm_then_quant(x, w, scale):
    af = torch.ops.higher_order.auto_functionalized
    n = af(torch.ops._C.rms_norm.default, result=torch.empty_like(x), input=x, weight=w, epsilon=1e-5)[1]
    y = n.reshape(-1, x.shape[-1])
    q = af(torch.ops._C.static_scaled_fp8_quant.default, result=torch.empty(y.shape, dtype=torch.float8_e4m3fn), input=y,
           scale=scale)[1]
    return q, n


def model(x, w, scale):
    """What vLLM's graph holds before its fusion pass: norm, no-op reshape, quant (the norm also returned)."""
    return _norm_then_quant(x, w, scale)


def model_fusable(x, w, scale):
    """The same with only the quant returned: the norm and quant fuse."""
    return (_norm_then_quant(x, w, scale)[0],)


def model_views(x, w, scale):
    """The norm's result read through views that stay (a slice, a split of its
    rows into heads), as attention reads the qkv projection: after
    fix-functionalization they view the buffer the norm writes."""
    q, n = _norm_then_quant(x, w, scale)
    return q, n[:, : x.shape[-1] // 2], n.reshape(-1, 2, x.shape[-1] // 2)


def model_layout_given(x, w, scale):
    """The quant's buffer allocated with an explicit `layout` (as Inductor's
    decompositions write `empty`): vllm-opt's buffer leaves the default out,
    so it is not the same call as the old one of its name, and only calls
    read it: it takes an old value nothing took, of its metadata."""
    af = torch.ops.higher_order.auto_functionalized
    n = af(torch.ops._C.rms_norm.default, result=torch.empty_like(x), input=x, weight=w, epsilon=1e-5)[1]
    buf = torch.empty(n.shape, dtype=torch.float8_e4m3fn, layout=torch.strided)
    q = af(torch.ops._C.static_scaled_fp8_quant.default, result=buf, input=n, scale=scale)[1]
    return q, n


class VllmOptPassOnTorch(unittest.TestCase):
    def run_case(self, mode, runtime_shape=None, fn=model, rows=(16,)):
        x = torch.randn(*rows, 256, dtype=torch.bfloat16)
        w = (1 + 0.1 * torch.randn(256)).to(torch.bfloat16)
        scale = torch.tensor([0.05])
        gm = make_fx(fn, tracing_mode=mode)(x, w, scale)
        want = gm(x, w, scale)
        targets = [str(n.target) for n in gm.graph.nodes]
        self.assertIn("auto_functionalized", " ".join(targets))
        VllmOptPass(VLLM_OPT, config={"enable_noop": True, "enable_fusion": True})(gm.graph, runtime_shape=runtime_shape)
        gm.recompile()
        calls = [str(n.target) for n in gm.graph.nodes if n.op == "call_function"]
        got = gm(x, w, scale)
        return calls, want, got

    def test_fused_and_in_place_with_the_same_results(self):
        for mode in ("real", "fake", "symbolic"):
            with self.subTest(mode=mode):
                calls, want, got = self.run_case(mode)
                # The norm's output is returned too, so the fused kernel cannot replace it:
                # vllm-opt keeps the norm and the quant, in place, and drops the reshape.
                self.assertNotIn("aten.reshape.default", calls)
                self.assertNotIn("auto_functionalized", " ".join(calls))
                assert_same_outputs(self, got, want, mode)


    def test_the_fusable_graph_runs_the_fused_kernel(self):
        for mode, shape in (("real", None), ("symbolic", None), ("fake", 16)):
            with self.subTest(mode=mode, runtime_shape=shape):
                calls, want, got = self.run_case(mode, shape, model_fusable)
                self.assertIn("_C.rms_norm_static_fp8_quant.default", calls)
                self.assertNotIn("_C.rms_norm.default", calls)
                self.assertTrue(torch.equal(want[0].view(torch.uint8), got[0].view(torch.uint8)))


    def test_kept_meta_is_what_propagating_the_whole_graph_gives(self):
        """The nodes vllm-opt left as they were keep their meta['val'] and
        only the others are propagated (fx_import.propagate_meta): every
        node's value must still be what fake propagation of the whole
        returned graph gives (shape, stride, dtype), and some must be kept."""
        from torch._guards import detect_fake_mode
        from torch.fx.passes.fake_tensor_prop import FakeTensorProp

        def desc(v):
            if isinstance(v, (tuple, list)):
                return [desc(e) for e in v]
            if isinstance(v, torch.Tensor):
                return ([str(d) for d in v.shape], [str(d) for d in v.stride()], v.dtype)
            return None if v is None else str(v)

        def storages(vals):
            """The nodes that share storage, as a partition of their names."""
            groups = {}
            for name, v in vals.items():
                if isinstance(v, torch.Tensor):
                    groups.setdefault(StorageWeakRef(v.untyped_storage()), set()).add(name)
            return sorted(sorted(g) for g in groups.values())

        for mode, fn in (("fake", model), ("symbolic", model), ("fake", model_views), ("symbolic", model_views),
                         ("fake", model_fusable), ("symbolic", model_fusable),
                         ("fake", model_layout_given), ("symbolic", model_layout_given)):
            with self.subTest(mode=mode, model=fn.__name__):
                x = torch.randn(16, 256, dtype=torch.bfloat16)
                w = (1 + 0.1 * torch.randn(256)).to(torch.bfloat16)
                gm = make_fx(fn, tracing_mode=mode)(x, w, torch.tensor([0.05]))
                old_vals = [n.meta["val"] for n in gm.graph.nodes if n.op == "call_function" and "val" in n.meta]
                old_names = {id(n.meta["val"]): n.name for n in gm.graph.nodes if n.op == "call_function" and "val" in n.meta}
                VllmOptPass(VLLM_OPT, config={"enable_noop": True, "enable_fusion": True})(gm.graph)
                nodes = [n for n in gm.graph.nodes if n.op == "call_function"]
                kept = [n for n in nodes if any(n.meta.get("val") is v for v in old_vals)]
                self.assertTrue(kept, "no node kept its meta: the test checks nothing")
                # A kept node keeps its name too (not FX's suffixed one, made while the old node held
                # it); a written buffer holds the value of the functional result it replaced.
                named = [n for n in kept if str(n.target) != "aten.empty.memory_format"]
                self.assertEqual([n.name for n in named], [old_names[id(n.meta["val"])] for n in named])
                self.assertLess(len(kept), len(nodes), "every node kept its meta: nothing was propagated")
                whole = {}

                class Whole(FakeTensorProp):
                    def run_node(self, n):
                        whole[n.name] = torch.fx.Interpreter.run_node(self, n)
                        return whole[n.name]

                inputs = [n.meta["val"] for n in gm.graph.nodes if n.op == "placeholder"]
                fake = detect_fake_mode(inputs)
                with fake:
                    Whole(gm, fake).run(*inputs)
                for n in nodes:
                    self.assertEqual(desc(n.meta.get("val")), desc(whole[n.name]), n.name)
                # Views alias what they view, as in the whole propagation: a view
                # of a written buffer keeps its meta only with the buffer's.
                self.assertEqual(storages({n.name: n.meta.get("val") for n in nodes}),
                                 storages({n.name: whole[n.name] for n in nodes}))
                if fn is model_layout_given:
                    buffers = [n for n in nodes if str(n.target) == "aten.empty.memory_format"]
                    self.assertTrue(buffers and all(any(n.meta.get("val") is v for v in old_vals) for n in buffers),
                                    "a buffer only calls read was propagated, not given an old value")
                if fn is model_views:
                    views = [n for n in kept if str(n.target) in ("aten.slice.Tensor", "aten.reshape.default", "aten.view.default")]
                    self.assertTrue(views and all(str(v.args[0].target) == "aten.empty.memory_format" for v in views),
                                    "no view of a written buffer kept its meta")

    def test_rows_of_the_transformers_backend_fuse(self):
        """The Transformers backend's [1, T, H] rows, flattened to [T, H] after
        the norm by the linear layer: the flatten moves ahead of the norm and
        the norm and quant fuse; the graph still computes the same bytes."""
        def model_3d(x, w, scale):
            af = torch.ops.higher_order.auto_functionalized
            n = af(torch.ops._C.rms_norm.default, result=torch.empty_like(x), input=x, weight=w, epsilon=1e-5)[1]
            y = n.view(-1, x.shape[-1])
            q = af(torch.ops._C.static_scaled_fp8_quant.default, result=torch.empty(y.shape, dtype=torch.float8_e4m3fn),
                   input=y, scale=scale)[1]
            return (q,)

        # (Not make_fx's symbolic mode: it makes the hidden size symbolic too, which vLLM's is not.)
        for mode in ("real", "fake"):
            with self.subTest(mode=mode):
                calls, want, got = self.run_case(mode, None, model_3d, rows=(1, 16))
                self.assertIn("_C.rms_norm_static_fp8_quant.default", calls)
                self.assertNotIn("_C.rms_norm.default", calls)
                self.assertTrue(torch.equal(want[0].view(torch.uint8), got[0].view(torch.uint8)))

    def test_a_symbolic_hidden_size_is_refused_under_a_runtime_shape(self):
        # make_fx's symbolic tracing makes the hidden size symbolic too.
        with self.assertRaises(RuntimeError) as e:
            self.run_case("symbolic", 16, model_fusable)
        self.assertIn("in dim 1; a runtime shape fixes the token count", str(e.exception))


if __name__ == "__main__":
    unittest.main()
