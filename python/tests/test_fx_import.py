"""The importer (vllm_opt.fx_import) on fake FX graphs (no torch needed):
documents vllm-opt writes, loaded back into the graph they came from."""
import contextlib
import json
import os
import pickle
import sys
import tempfile
import types
import unittest
import unittest.mock

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from test_fx_export import FakeTensor, HigherOrderOperator, Node, OpOverload, SymInt, device, dtype  # noqa: E402
from vllm_opt.fx_export import ExportError, graph_to_dict  # noqa: E402
from vllm_opt.fx_import import GraphImportError, VllmOptPass, _vllm_shape_args, donated_input_names, load_graph  # noqa: E402


def _uses(value, node):
    if value is node:
        return True
    if isinstance(value, (list, tuple)):
        return any(_uses(v, node) for v in value)
    if isinstance(value, dict):
        return any(_uses(v, node) for v in value.values())
    return False


class FxGraph:
    """The part of torch.fx.Graph the importer uses, with its checks: unique
    names, insertion points, and no erasing a node something still reads."""

    def __init__(self, nodes):
        self._nodes = list(nodes)
        self._before = None

    @property
    def nodes(self):
        return list(self._nodes)

    @contextlib.contextmanager
    def inserting_before(self, node):
        old, self._before = self._before, node
        try:
            yield
        finally:
            self._before = old

    def create_node(self, op, target, args=(), kwargs=None, name=None):
        taken = {n.name for n in self._nodes}
        unique, i = name, 1
        while unique in taken:
            unique, i = f"{name}_{i}", i + 1
        node = Node(unique, op, target, args, kwargs)
        at = self._nodes.index(self._before) if self._before is not None else len(self._nodes)
        self._nodes.insert(at, node)
        return node

    def erase_node(self, node):
        for m in self._nodes:
            if m is not node and (_uses(m.args, node) or _uses(m.kwargs, node)):
                raise RuntimeError(f"erasing '{node.name}', which '{m.name}' still reads")
        self._nodes.remove(node)

    def lint(self):
        seen = set()
        for n in self._nodes:
            for m in self._nodes:
                if (_uses(n.args, m) or _uses(n.kwargs, m)) and m.name not in seen:
                    raise RuntimeError(f"'{n.name}' reads '{m.name}' before it is defined")
            seen.add(n.name)


class Target:
    """What the fake resolver returns for a target: its qualified name."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Target({self.name})"


def fake_resolve(kind, name):
    if kind == "target":
        if "missing" in name:
            raise AttributeError(f"'_OpNamespace' '_C' object has no attribute '{name.split('.')[-2]}'")
        return Target(name)
    return {"dtype": dtype, "device": device}.get(kind, lambda n: (kind, n))(name)


def spec_example_graph():
    """The spec's example: rms_norm -> no-op reshape -> static FP8 quant, 16 tokens."""
    x = Node("x", "placeholder", "x", val=FakeTensor([16, 4096], "bfloat16", [4096, 1]))
    w = Node("w", "placeholder", "w", val=FakeTensor([4096], "bfloat16"))
    s = Node("scale", "placeholder", "scale", val=FakeTensor([1], "float32"))
    e = Node("empty", "call_function", OpOverload("aten.empty.memory_format"), [[16, 4096]],
             {"dtype": dtype("bfloat16"), "device": device("cuda:0")}, FakeTensor([16, 4096], "bfloat16"))
    af = Node("auto_functionalized", "call_function", HigherOrderOperator(), [OpOverload("_C.rms_norm.default")],
              {"result": e, "input": x, "weight": w, "epsilon": 1e-05}, (None, FakeTensor([16, 4096], "bfloat16")))
    g = Node("getitem", "call_function", __import__("operator").getitem, [af, 1], val=FakeTensor([16, 4096], "bfloat16"))
    r = Node("reshape", "call_function", OpOverload("aten.reshape.default"), [g, [-1, 4096]], val=FakeTensor([16, 4096], "bfloat16"))
    e1 = Node("empty_1", "call_function", OpOverload("aten.empty.memory_format"), [[16, 4096]],
              {"dtype": dtype("float8_e4m3fn"), "device": device("cuda:0")}, FakeTensor([16, 4096], "float8_e4m3fn"))
    af1 = Node("auto_functionalized_1", "call_function", HigherOrderOperator(), [OpOverload("_C.static_scaled_fp8_quant.default")],
               {"result": e1, "input": r, "scale": s}, (None, FakeTensor([16, 4096], "float8_e4m3fn")))
    g1 = Node("getitem_1", "call_function", __import__("operator").getitem, [af1, 1], val=FakeTensor([16, 4096], "float8_e4m3fn"))
    out = Node("output", "output", "output", [(g1,)])
    return FxGraph([x, w, s, e, af, g, r, e1, af1, g1, out])


def spec_example_graph_with_a_view():
    """The spec's example with storage: its reshape's value views the norm
    result's (`getitem`), as fake tensors do."""
    graph = spec_example_graph()
    getitem, reshape = graph.nodes[5], graph.nodes[6]
    reshape.meta["val"] = FakeTensor([16, 4096], "bfloat16", view_of=getitem.meta["val"])
    return graph


def doc_of(nodes):
    return {"format": "fx-graph", "version": 1, "name": "t", "symbols": {}, "nodes": nodes}


PLACEHOLDERS = [{"name": n, "op": "placeholder", "target": n} for n in ("x", "w", "scale")]


class LoadGraphTest(unittest.TestCase):
    def test_nodes_are_replaced_and_the_output_keeps_its_tuple(self):
        graph = spec_example_graph()
        inputs = graph.nodes[:3]
        load_graph(graph, doc_of(PLACEHOLDERS + [
            {"name": "mul", "op": "call_function", "target": "torch.ops.aten.mul.Tensor", "args": [{"node": "x"}, {"node": "w"}]},
            {"name": "to", "op": "call_function", "target": "torch.ops.prims.convert_element_type.default",
             "args": [{"node": "mul"}, {"dtype": "float8_e4m3fn"}], "kwargs": {"inf": {"float": "inf"}}},
            {"name": "output", "op": "output", "target": "output", "args": [[{"node": "to"}]]},
        ]), fake_resolve)
        nodes = graph.nodes
        self.assertEqual(nodes[:3], inputs)  # the same placeholder objects
        self.assertEqual([n.name for n in nodes], ["x", "w", "scale", "mul", "to", "output"])
        mul, to, out = nodes[3], nodes[4], nodes[5]
        self.assertEqual(mul.target.name, "torch.ops.aten.mul.Tensor")
        self.assertIs(mul.args[0], inputs[0])
        self.assertIs(to.args[0], mul)
        self.assertEqual(str(to.args[1]), "torch.float8_e4m3fn")
        self.assertEqual(to.kwargs["inf"], float("inf"))
        self.assertEqual(out.args, ((to,),))

    def test_a_bad_document_leaves_the_graph_as_it_was(self):
        bad = [
            ({"name": "y", "op": "call_function", "target": "torch.ops.aten.neg.default", "args": [{"node": "nope"}]},
             "refers to 'nope'"),
            ({"name": "y", "op": "call_module", "target": "layer"}, "'call_module' does not occur"),
            ({"name": "y", "op": "call_function", "target": "torch.ops.aten.neg.default", "args": [{"tensor": 1}]},
             "is not a value of the format"),
            ({"name": "y", "op": "call_function", "target": "torch.ops.aten.neg.default", "args": [{"sym": "s9"}]},
             "'s9' is not a symbolic-integer input"),
            ({"name": "y", "op": "call_function", "target": "torch.ops._C.missing.default"},
             "node 'y': no target 'torch.ops._C.missing.default' here"),
            ({"name": "y", "op": "call_function", "target": "torch.ops.aten.neg.default", "args": [{"float": "big"}]},
             "is not a value of the format"),
        ]
        for node, message in bad:
            graph = spec_example_graph()
            before = graph.nodes
            ok = {"name": "z", "op": "call_function", "target": "torch.ops.aten.neg.default", "args": [{"node": "x"}]}
            with self.assertRaises(GraphImportError) as e:
                load_graph(graph, doc_of(PLACEHOLDERS + [ok, node]), fake_resolve)
            self.assertIn(message, str(e.exception))
            self.assertEqual(graph.nodes, before)  # `z` was rolled back too

    def test_the_inputs_must_be_the_graphs(self):
        with self.assertRaises(GraphImportError) as e:
            load_graph(spec_example_graph(), doc_of(PLACEHOLDERS[:2] + [{"name": "output", "op": "output", "args": [[]]}]), fake_resolve)
        self.assertIn("are not the graph's", str(e.exception))
        with self.assertRaises(GraphImportError):
            load_graph(spec_example_graph(), {"format": "fx-graph", "version": 2, "nodes": []}, fake_resolve)

    def test_a_symbolic_size_is_the_symint_input(self):
        s0 = SymInt("s0")
        x = Node("x", "placeholder", "x", val=FakeTensor([s0, 64], "bfloat16"))
        n = Node("n", "placeholder", "n", val=s0)
        graph = FxGraph([x, n, Node("output", "output", "output", [(x,)])])
        load_graph(graph, doc_of([
            {"name": "x", "op": "placeholder", "target": "x"},
            {"name": "n", "op": "placeholder", "target": "n", "meta": {"val": {"sym": "s0"}}},
            {"name": "empty", "op": "call_function", "target": "torch.ops.aten.empty.memory_format",
             "args": [[{"sym": "s0"}, 64]]},
            {"name": "output", "op": "output", "args": [[{"node": "empty"}]]},
        ]), fake_resolve)
        self.assertIs(graph.nodes[2].args[0][0], n)

    def test_nodes_vllm_opt_left_as_they_were_keep_their_meta(self):
        """What vllm-opt did not change keeps its meta (only the rest needs
        FakeTensorProp): the same target and, transitively, the same
        arguments under its name; a changed argument, target or input makes
        it new."""
        graph = spec_example_graph()
        old = {n.name: n for n in graph.nodes}
        same = {str(n.target): n.target for n in graph.nodes if n.op == "call_function"}

        def resolve(kind, name):  # the graph's own target objects, as torch's resolver gives
            if kind == "target" and name.startswith("torch.ops."):
                return same.get(name[len("torch.ops."):]) or Target(name)
            return fake_resolve(kind, name)

        def call(name, target, args, kwargs=None):
            return {"name": name, "op": "call_function", "target": "torch.ops." + target, "args": args, "kwargs": kwargs or {}}

        empty_kwargs = {"dtype": {"dtype": "bfloat16"}, "device": {"device": "cuda:0"}}
        # torch's dtypes, devices and ops compare equal by what they name.
        dtype.__eq__ = lambda a, b: isinstance(b, dtype) and a.name == b.name
        device.__eq__ = lambda a, b: isinstance(b, device) and a.s == b.s
        OpOverload.__eq__ = lambda a, b: isinstance(b, OpOverload) and a.qual == b.qual
        OpOverload.__hash__ = lambda a: hash(a.qual)
        try:
            load_graph(graph, doc_of(PLACEHOLDERS + [
                call("empty", "aten.empty.memory_format", [[16, 4096]], empty_kwargs),  # as it was
                call("empty_1", "aten.empty.memory_format", [[16, 4096]], dict(empty_kwargs, dtype={"dtype": "float16"})),
                call("reshape", "aten.reshape.default", [{"node": "empty"}, [-1, 4096]]),  # now of another value
                call("getitem", "aten.reshape.default", [{"node": "x"}, [-1, 4096]]),  # another target
                {"name": "output", "op": "output", "args": [[{"node": "reshape"}]]},
            ]), resolve)
        finally:
            del dtype.__eq__, device.__eq__, OpOverload.__eq__, OpOverload.__hash__
        # In document order (FX suffixes the names while the old nodes hold them).
        empty, empty_1, reshape, getitem = graph.nodes[3:7]
        self.assertIs(empty.meta["val"], old["empty"].meta["val"])
        for changed in (empty_1, reshape, getitem):
            self.assertNotIn("val", changed.meta, changed.name)

    def test_a_written_buffer_holds_the_result_its_views_read(self):
        """fix-functionalization's buffer takes the fake value of the functional
        result the old graph viewed in its place, so the view of it keeps its
        meta (and aliases the buffer); only where the document gives the buffer
        that value's metadata, and only a value that made its own storage."""
        def call(name, target, args, kwargs=None, val=None):
            d = {"name": name, "op": "call_function", "target": "torch.ops." + target, "args": args, "kwargs": kwargs or {}}
            if val is not None:
                d["meta"] = {"val": val}
            return d

        def load(buffer_dtype):
            graph = spec_example_graph_with_a_view()
            old = {n.name: n for n in graph.nodes}
            same = {str(n.target): n.target for n in graph.nodes if n.op == "call_function"}

            def resolve(kind, name):
                if kind == "target" and name.startswith("torch.ops."):
                    return same.get(name[len("torch.ops."):]) or Target(name)
                return fake_resolve(kind, name)

            val = {"shape": [16, 4096], "dtype": buffer_dtype, "stride": [4096, 1], "device": "cuda:0"}
            empty_kwargs = {"dtype": {"dtype": buffer_dtype}, "device": {"device": "cuda:0"}}
            OpOverload.__eq__ = lambda a, b: isinstance(b, OpOverload) and a.qual == b.qual
            OpOverload.__hash__ = lambda a: hash(a.qual)
            try:
                load_graph(graph, doc_of(PLACEHOLDERS + [
                    call("empty_2", "aten.empty.memory_format", [[16, 4096]], empty_kwargs, val),
                    call("rms_norm", "_C.rms_norm.default", [], {"result": {"node": "empty_2"}, "input": {"node": "x"},
                                                                  "weight": {"node": "w"}, "epsilon": 1e-05}),
                    call("reshape", "aten.reshape.default", [{"node": "empty_2"}, [-1, 4096]]),
                    {"name": "output", "op": "output", "args": [[{"node": "reshape"}]]},
                ]), resolve)
            finally:
                del OpOverload.__eq__, OpOverload.__hash__
            # In document order (FX suffixes the names while the old nodes hold them).
            return old, dict(zip(("empty_2", "rms_norm", "reshape"), graph.nodes[3:6]))

        old, new = load("bfloat16")
        self.assertIs(new["empty_2"].meta["val"], old["getitem"].meta["val"])
        self.assertIs(new["reshape"].meta["val"], old["reshape"].meta["val"])
        self.assertIs(new["reshape"].meta["val"].untyped_storage(), new["empty_2"].meta["val"].untyped_storage())
        self.assertNotIn("val", new["rms_norm"].meta)
        # A buffer of other metadata than the old result: nothing taken, the view propagated.
        old, new = load("float16")
        self.assertNotIn("val", new["empty_2"].meta)
        self.assertNotIn("val", new["reshape"].meta)

    def test_a_buffer_no_view_reads_takes_a_value_nothing_took(self):
        """A new buffer only calls read takes the fake value of an old node
        nothing took, of its metadata and with its own storage (the old
        getitem here; never the reshape that views it), each value once."""
        graph = spec_example_graph_with_a_view()
        old = {n.name: n for n in graph.nodes}
        val = {"shape": [16, 4096], "dtype": "bfloat16", "stride": [4096, 1], "device": "cuda:0"}
        kwargs = {"dtype": {"dtype": "bfloat16"}, "device": {"device": "cuda:0"}}

        def buffer(name):
            return {"name": name, "op": "call_function", "target": "torch.ops.aten.empty.memory_format",
                    "args": [[16, 4096]], "kwargs": kwargs, "meta": {"val": val}}

        def reader(name, buf):
            return {"name": name, "op": "call_function", "target": "torch.ops._C.rms_norm.default", "args": [],
                    "kwargs": {"result": {"node": buf}, "input": {"node": "x"}, "weight": {"node": "w"}, "epsilon": 1e-05}}

        load_graph(graph, doc_of(PLACEHOLDERS + [
            buffer("empty_7"), reader("rms_norm", "empty_7"), buffer("empty_8"), reader("rms_norm_1", "empty_8"),
            {"name": "output", "op": "output", "args": [[{"node": "empty_7"}, {"node": "empty_8"}]]},
        ]), fake_resolve)
        first, second = graph.nodes[3], graph.nodes[5]
        # `empty` (bf16) and `getitem` made their own storages; the reshape views getitem's.
        self.assertIs(first.meta["val"], old["empty"].meta["val"])
        self.assertIs(second.meta["val"], old["getitem"].meta["val"])


@unittest.skipUnless(os.environ.get("VLLM_OPT"), "set VLLM_OPT to the vllm-opt binary")
class VllmOptPassTest(unittest.TestCase):
    def test_the_graph_comes_back_fused_and_in_place(self):
        graph = spec_example_graph()
        x, w, scale = graph.nodes[:3]
        VllmOptPass(os.environ["VLLM_OPT"], config={"enable_noop": True, "enable_fusion": True}, resolve=fake_resolve)(graph)
        calls = [n for n in graph.nodes if n.op == "call_function"]
        self.assertEqual([n.target.name for n in calls],
                         ["torch.ops.aten.empty.memory_format", "torch.ops._C.rms_norm_static_fp8_quant.default"])
        empty, fused = calls
        self.assertEqual(fused.kwargs, {"result": empty, "input": x, "weight": w, "scale": scale, "epsilon": 1e-05})
        self.assertEqual(str(empty.kwargs["dtype"]), "torch.float8_e4m3fn")
        self.assertEqual(graph.nodes[-1].args, ((empty,),))  # the quant wrote into `empty`

    def test_the_runtime_shape_reaches_vllm_opt(self):
        with recording_vllm_opt() as (wrapper, recorded):
            pass_ = VllmOptPass(wrapper, config={"enable_noop": True}, tp_size=2, resolve=fake_resolve)
            pass_(spec_example_graph(), runtime_shape=16)
            pass_(spec_example_graph())
            runs = recorded()
        self.assertIn("--runtime-shape 16", runs[0])
        self.assertIn("--tp-size 2", runs[0])
        self.assertNotIn("--runtime-shape", runs[1])  # outside vLLM and not given: symbolic

    def test_a_graph_out_of_order_is_exported_in_order_and_fused(self):
        # vLLM's pattern matcher leaves its replacements after their readers
        # (its post-cleanup sorts later): a pass after it gets such a graph.
        # Here the quant's buffer comes last; the document must not refer
        # forward (vllm-opt refuses that), and the old nodes must be erased
        # readers first.
        graph = spec_example_graph()
        nodes = graph.nodes
        empty_1 = nodes[7]
        graph._nodes.remove(empty_1)
        graph._nodes.insert(len(graph._nodes) - 1, empty_1)  # just before the output
        names = [d["name"] for d in graph_to_dict(graph)["nodes"]]
        self.assertEqual(names, ["x", "w", "scale", "empty", "auto_functionalized", "getitem", "reshape", "empty_1",
                                 "auto_functionalized_1", "getitem_1", "output"])
        VllmOptPass(os.environ["VLLM_OPT"], config={"enable_noop": True, "enable_fusion": True}, resolve=fake_resolve)(graph)
        self.assertIn("torch.ops._C.rms_norm_static_fp8_quant.default",
                      [n.target.name for n in graph.nodes if n.op == "call_function"])

    def test_a_cycle_is_an_export_error(self):
        graph = spec_example_graph()
        empty = graph.nodes[3]
        empty.args = ([graph.nodes[5], 4096],)  # empty reads getitem, which reads what empty feeds
        with self.assertRaises(ExportError) as e:
            graph_to_dict(graph)
        self.assertIn("cycle", str(e.exception))

    def test_vllms_pass_context_gives_the_shape(self):
        # vLLM <= 0.11: runtime_shape, None for the general graph; vLLM main:
        # compile_range, both ends inclusive (one size is a runtime shape).
        ns, rng = types.SimpleNamespace, lambda a, b: types.SimpleNamespace(start=a, end=b)
        self.assertEqual(_vllm_shape_args(ns(runtime_shape=16)), ["--runtime-shape", "16"])
        self.assertEqual(_vllm_shape_args(ns(runtime_shape=None)), [])
        self.assertEqual(_vllm_shape_args(ns(compile_range=rng(1, 8192))), ["--compile-range", "1:8192"])
        self.assertEqual(_vllm_shape_args(ns(compile_range=rng(256, 256))), ["--runtime-shape", "256"])
        self.assertEqual(_vllm_shape_args(ns()), [])
        # Inside vLLM main's pass manager (its module path), the range reaches vllm-opt.
        with recording_vllm_opt() as (wrapper, recorded):
            context = ns(compile_range=rng(1, 8192), donated_input_ids=set())
            with stand_in_vllm_inductor_pass(lambda: context):
                VllmOptPass(wrapper, config={"enable_noop": True}, resolve=fake_resolve)(spec_example_graph())
                context.compile_range = rng(64, 64)
                VllmOptPass(wrapper, config={"enable_noop": True}, resolve=fake_resolve)(spec_example_graph())
            runs = recorded()
        self.assertIn("--compile-range 1:8192", runs[0])
        self.assertIn("--runtime-shape 64", runs[1])

    def test_for_vllm_is_vllms_inductor_pass_with_this_passs_uuid(self):
        # vLLM's manager add()s only InductorPass instances and wraps other
        # callables in CallableInductorPass, whose uuid hashes class source:
        # the wrapper must be one, keyed by the configuration.
        ours = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_noop": True, "enable_fusion": True}, resolve=fake_resolve)
        with self.assertRaises(ImportError):
            ours.for_vllm()
        with stand_in_vllm_inductor_pass(lambda: types.SimpleNamespace(runtime_shape=None)) as base:
            wrapped = ours.for_vllm()
            other = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": False}).for_vllm()
            self.assertIsInstance(wrapped, base)
            self.assertEqual(wrapped.uuid(), ours.uuid())
            self.assertNotEqual(wrapped.uuid(), other.uuid())
            self.assertTrue(wrapped.is_applicable_for_shape(None))
            self.assertTrue(wrapped.is_applicable_for_range(types.SimpleNamespace(start=1, end=2)))
            # vLLM pickles its config into its engine and worker processes.
            again = pickle.loads(pickle.dumps(wrapped))
            self.assertIsInstance(again, base)
            self.assertEqual((repr(again), again.uuid()), (repr(wrapped), wrapped.uuid()))
            graph = spec_example_graph()
            wrapped(graph)  # as vLLM calls it: the graph alone
        self.assertIn("torch.ops._C.rms_norm_static_fp8_quant.default",
                      [n.target.name for n in graph.nodes if n.op == "call_function"])

    def test_inside_vllm_the_fused_ops_it_lacks_are_unavailable(self):
        # vLLM 0.11 has no per-block norm nor SiLU quant: inside a vLLM
        # process, the fused targets vllm-opt lists that torch cannot resolve
        # go in the config, so that those fusions stay off.
        packet = type("OpOverloadPacket", (), {"default": object()})()
        c_ops = types.SimpleNamespace(**{name: packet for name in (
            "rms_norm_static_fp8_quant", "fused_add_rms_norm_static_fp8_quant", "rms_norm_dynamic_per_token_quant",
            "fused_add_rms_norm", "silu_and_mul_quant", "silu_and_mul_nvfp4_quant")})
        torch = type(sys)("torch")
        torch.ops = types.SimpleNamespace(_C=c_ops)
        ours = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": True})
        with stand_in_modules({"torch": torch}):
            self.assertNotIn("unavailable_ops", config_sent(ours))  # outside vLLM: as given
            with stand_in_modules({"vllm": type(sys)("vllm")}):
                self.assertEqual(config_sent(ours)["unavailable_ops"], [
                    "torch.ops._C.fused_qk_norm_rope.default", "torch.ops._C.rms_norm_per_block_quant.default",
                    "torch.ops._C.silu_and_mul_per_block_quant.default"])
                given = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": True, "unavailable_ops": []})
                self.assertEqual(config_sent(given)["unavailable_ops"], [])  # given: kept
                c_ops.rms_norm_per_block_quant = c_ops.silu_and_mul_per_block_quant = c_ops.fused_qk_norm_rope = packet
                self.assertNotIn("unavailable_ops", config_sent(ours))  # a vLLM that has them all

    def test_inside_vllm_the_attention_layers_say_which_quants_they_write(self):
        # vLLM fuses a quant into an attention only where the layer's backend
        # writes it (FlashAttention, its default on Hopper, writes none): the
        # layers in vLLM's forward context are asked, as vLLM's own pass asks.
        keys = type(sys)("vllm.model_executor.layers.quantization.utils.quant_utils")
        keys.kFp8StaticTensorSym, keys.kNvfp4Quant, keys.kFp8Dynamic128Sym = "fp8", "nvfp4", "group128"  # 0.11: no 64

        def layer(*writes):
            impl = types.SimpleNamespace(fused_output_quant_supported=lambda key: key in writes)
            return types.SimpleNamespace(impl=impl)

        forward_context = {"l0": layer("fp8", "nvfp4"), "l1": layer("nvfp4"), "l2": layer("fp8", "nvfp4"),
                           "mamba": types.SimpleNamespace()}  # not an attention: not asked
        config = type(sys)("vllm.config")  # vLLM 0.11's module global
        config._current_vllm_config = types.SimpleNamespace(
            compilation_config=types.SimpleNamespace(static_forward_context=forward_context))
        names = ["vllm", "vllm.model_executor", "vllm.model_executor.layers", "vllm.model_executor.layers.quantization",
                 "vllm.model_executor.layers.quantization.utils"]
        ours = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_attn_fusion": True})
        self.assertNotIn("attn_output_quant", config_sent(ours))  # outside vLLM: as given
        with stand_in_modules({**{n: type(sys)(n) for n in names}, config.__name__: config, keys.__name__: keys}):
            self.assertEqual(config_sent(ours)["attn_output_quant"], {"fp8_static": ["l0", "l2"], "nvfp4": ["*"]})
            given = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_attn_fusion": True, "attn_output_quant": None})
            self.assertIsNone(config_sent(given)["attn_output_quant"])  # given: kept
            off = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": True})
            self.assertNotIn("attn_output_quant", config_sent(off))  # no attention fusion: not asked
            forward_context.clear()  # no attention layers (a test's config): as given
            self.assertNotIn("attn_output_quant", config_sent(ours))
            config._current_vllm_config = None  # outside a vLLM config
            self.assertNotIn("attn_output_quant", config_sent(ours))

    def test_inside_vllm_its_library_says_whether_the_fused_norms_take_strided_rows(self):
        # vLLM before PR 36551 checks `input.is_contiguous()` in its per-token
        # and per-block norm kernels; only that check's text in its library says so.
        check = b"Expected out.is_contiguous() && input.is_contiguous() to be true, but got false."
        ours = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": True})
        for library, text, listed in (("_C.abi3.so", b"\0rms_norm_dynamic_per_token_quant\0" + check, True),
                                      ("_C_stable_libtorch.abi3.so", b"Input must be contiguous in the last dimension", False)):
            with self.subTest(library=library):
                self.assertNotIn("contiguous_input_ops", config_sent(ours))  # outside vLLM: as given
                with stand_in_vllm_library(library, text):
                    sent = config_sent(ours)
                    given = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": True, "contiguous_input_ops": []})
                    off = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": False})
                    self.assertEqual(config_sent(given)["contiguous_input_ops"], [])  # given: kept
                    self.assertNotIn("contiguous_input_ops", config_sent(off))  # no norm fusion: not asked
                if listed:
                    self.assertEqual(sent["contiguous_input_ops"], ["torch.ops._C.rms_norm_dynamic_per_token_quant.default",
                                                                    "torch.ops._C.rms_norm_per_block_quant.default"])
                else:
                    self.assertNotIn("contiguous_input_ops", sent)

    def test_inside_vllm_its_library_says_whether_partial_rotaries_fuse(self):
        # vLLM 0.33's fused_qk_norm_rope checks `rotary_dim <= head_dim`: it
        # rotates part of a head, and GLM-4's partial rotaries fuse there.
        ours = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_qk_norm_rope_fusion": True})
        for text, partial in ((b"rotary_dim must be less than or equal to head_dim", True), (b"fused_qk_norm_rope", False)):
            with self.subTest(partial=partial):
                self.assertNotIn("qk_norm_rope_partial_rotary", config_sent(ours))  # outside vLLM: as given
                with stand_in_vllm_library("_C_stable_libtorch.abi3.so", text):
                    sent = config_sent(ours)
                    off = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": True})
                    self.assertNotIn("qk_norm_rope_partial_rotary", config_sent(off))  # no q/k fusion: not asked
                self.assertEqual(sent.get("qk_norm_rope_partial_rotary"), True if partial else None)

    def test_vllms_donated_inputs_become_placeholder_names(self):
        graph = spec_example_graph()
        # vLLM main's pass context: node indices of the graph; non-placeholders and strays are ignored.
        context = types.SimpleNamespace(donated_input_ids={2, 0, 5, 99})
        self.assertEqual(donated_input_names(graph, context), ["scale", "x"])
        self.assertEqual(donated_input_names(graph, types.SimpleNamespace()), [])
        # They reach vllm-opt in the config of that call.
        config = json.loads(VllmOptPass("vllm-opt", config={"enable_noop": True})._common(["x"])[1])
        self.assertEqual(config["donated_inputs"], ["x"])
        self.assertNotIn("donated_inputs", json.loads(VllmOptPass("vllm-opt")._common()[1]))

    def test_a_vllm_opt_error_is_raised_and_the_graph_is_unchanged(self):
        graph = spec_example_graph()
        before = graph.nodes
        with self.assertRaises(RuntimeError) as e:
            VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusionn": True}, resolve=fake_resolve)(graph)
        self.assertIn("enable_fusionn", str(e.exception))
        self.assertEqual(graph.nodes, before)

    def test_uuid_is_the_configs_cache_key(self):
        p = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": True})
        a = p.uuid()
        b = VllmOptPass(os.environ["VLLM_OPT"], config={"enable_fusion": False}).uuid()
        self.assertEqual(len(a), 64)
        self.assertNotEqual(a, b)
        # Asked once per command line: a second call starts no process.
        with unittest.mock.patch("subprocess.run", side_effect=AssertionError("vllm-opt started again")):
            self.assertEqual(p.uuid(), a)
        # Another configuration (here the tensor-parallel size, which the key
        # includes) is asked again.
        p.tp_size = 2
        self.assertNotEqual(p.uuid(), a)

    def test_async_tp_takes_the_c10d_group_name_from_vllm(self):
        # Inside vLLM the tensor-parallel group knows its c10d name; outside, nothing is invented.
        self.assertNotIn("c10d_group_names", VllmOptPass(config={"enable_async_tp": True}).config)
        group = type("G", (), {"unique_name": "tp:0", "device_group": type("D", (), {"group_name": "5"})()})()
        state = type(sys)("vllm.distributed.parallel_state")
        state.get_tp_group = lambda: group
        with stand_in_modules({"vllm": type(sys)("vllm"), "vllm.distributed": type(sys)("vllm.distributed"),
                               "vllm.distributed.parallel_state": state}):
            self.assertEqual(VllmOptPass(config={"enable_async_tp": True}).config["c10d_group_names"], {"tp:0": "5"})
            self.assertEqual(VllmOptPass(config={"fuse_gemm_comms": True, "c10d_group_names": {"tp:0": "9"}}).config["c10d_group_names"],
                             {"tp:0": "9"})  # given: kept
            self.assertNotIn("c10d_group_names", VllmOptPass(config={"enable_sp": True}).config)  # no async TP: not needed

    def test_the_allreduce_fusion_is_off_without_vllms_flashinfer_op(self):
        ops = type(sys)("ops")
        ops.vllm = type(sys)("vllm_ops")
        torch = type(sys)("torch")
        torch.ops = ops
        with stand_in_modules({"torch": torch}):
            with self.assertWarns(UserWarning):
                off = VllmOptPass(config={"enable_fi_allreduce_fusion": True})
            self.assertFalse(off.config["enable_fi_allreduce_fusion"])
            ops.vllm.flashinfer_trtllm_fused_allreduce_norm = object()
            self.assertTrue(VllmOptPass(config={"fuse_allreduce_rms": True}).config["fuse_allreduce_rms"])

    def test_inside_vllm_the_allreduce_fusion_stays_within_vllms_workspace(self):
        # vLLM's own all-reduce fusion pass creates the FlashInfer workspace the
        # fused op uses, sized for its max_token_num: ours may not exceed it, and
        # without one the fusion is off. vLLM main keeps the limit on the pass,
        # 0.10 in its allreduce_params; vLLM configures its passes after ours is made.
        manager = type("PostGradPassManager", (), {})()
        manager.passes = []
        vllm_config = type(sys)("vllm.config")  # vLLM 0.11's module global
        vllm_config._current_vllm_config = types.SimpleNamespace(compilation_config=types.SimpleNamespace(
            inductor_compile_config={"post_grad_custom_post_pass": manager}))
        ar_main = type("AllReduceFusionPass", (), {"max_token_num": 512})()
        ar_010 = type("AllReduceFusionPass", (), {"allreduce_params": types.SimpleNamespace(max_token_num=64)})()
        failed = type("AllReduceFusionPass", (), {})()  # returned early: no FlashInfer, or an unsupported world size
        ours = VllmOptPass(config={"fuse_allreduce_rms": True}, tp_size=2, resolve=fake_resolve)
        capped = VllmOptPass(config={"fuse_allreduce_rms": True, "fi_allreduce_fusion_max_token_num": 128}, resolve=fake_resolve)
        self.assertNotIn("fi_allreduce_fusion_max_token_num", config_sent(ours))  # outside vLLM: as given
        with stand_in_modules({"vllm": type(sys)("vllm"), "vllm.config": vllm_config}):
            manager.passes = [ar_main, ours]
            self.assertEqual(config_sent(ours)["fi_allreduce_fusion_max_token_num"], 512)
            self.assertEqual(config_sent(capped)["fi_allreduce_fusion_max_token_num"], 128)  # the smaller of the two
            manager.passes = [ar_010, ours]
            self.assertEqual(config_sent(ours)["fi_allreduce_fusion_max_token_num"], 64)
            for passes in ([ours], [failed, ours]):
                manager.passes = passes
                with self.assertWarns(UserWarning):
                    self.assertFalse(config_sent(VllmOptPass(config={"fuse_allreduce_rms": True}))["fuse_allreduce_rms"])
            off = VllmOptPass(config={"fuse_norm_quant": True})
            self.assertNotIn("fuse_allreduce_rms", config_sent(off))  # not asked for: nothing to check
            # The cache key follows: vLLM's limit is part of it.
            manager.passes = [ar_main, ours]
            at_512 = VllmOptPass(os.environ["VLLM_OPT"], config={"fuse_allreduce_rms": True}, tp_size=2).uuid()
            manager.passes = [ar_010, ours]
            self.assertNotEqual(at_512, VllmOptPass(os.environ["VLLM_OPT"], config={"fuse_allreduce_rms": True}, tp_size=2).uuid())


@contextlib.contextmanager
def recording_vllm_opt():
    """A vllm-opt (the one $VLLM_OPT names) that records its command lines:
    yields the wrapper and a function giving the recorded compile runs (not
    the `--print-...` queries), one line each."""
    with tempfile.TemporaryDirectory() as d:
        log, wrapper = os.path.join(d, "argv"), os.path.join(d, "vllm-opt")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\necho "$@" >> {log}\nexec {os.path.abspath(os.environ["VLLM_OPT"])} "$@"\n')
        os.chmod(wrapper, 0o755)

        def recorded():
            with open(log) as f:
                return [r for r in f.read().splitlines() if "--print-" not in r]

        yield wrapper, recorded


@contextlib.contextmanager
def stand_in_vllm_inductor_pass(get_pass_context):
    """vLLM main's `vllm.compilation.passes.inductor_pass` (an InductorPass
    base class, the pass context) importable for the block; yields the class."""
    module = type(sys)("vllm.compilation.passes.inductor_pass")
    module.InductorPass = type("InductorPass", (), {})
    module.get_pass_context = get_pass_context
    names = ["vllm", "vllm.compilation", "vllm.compilation.passes"]
    with stand_in_modules({**{n: type(sys)(n) for n in names}, module.__name__: module}):
        yield module.InductorPass


def config_sent(pass_):
    """The config VllmOptPass hands vllm-opt (what it fills in included)."""
    args = pass_._common()
    return json.loads(args[args.index("--config") + 1])


@contextlib.contextmanager
def stand_in_vllm_library(library, text):
    """A `vllm` package importable for the block, whose `_C` library (a file
    named `library`) holds `text`."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, library), "wb") as f:
            f.write(b"\x7fELF\0" + text)
        vllm = type(sys)("vllm")
        vllm.__file__ = os.path.join(d, "__init__.py")
        with stand_in_modules({"vllm": vllm}):
            yield


@contextlib.contextmanager
def stand_in_modules(mods):
    """`mods` importable in place of whatever sys.modules held, for the block."""
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


if __name__ == "__main__":
    unittest.main()
