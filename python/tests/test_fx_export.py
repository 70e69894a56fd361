"""The exporter on fake FX objects (no torch needed), and the result through vllm-opt."""
import json
import operator
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from vllm_opt.fx_export import ExportError, export_graph, graph_to_dict, target_name  # noqa: E402


class dtype:  # noqa: N801 - mimics torch.dtype's type name
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return "torch." + self.name


class device:  # noqa: N801
    def __init__(self, s):
        self.s = s

    def __str__(self):
        return self.s


class OpOverload:
    _overloadname = "default"

    def __init__(self, qual):
        self.qual = qual
        self._schema = object()

    def __str__(self):
        return self.qual


class HigherOrderOperator:
    __name__ = "auto_functionalized"
    _ns = "higher_order"


class _Expr:
    def __init__(self, s):
        self.s = s
        self.free_symbols = ()

    def __str__(self):
        return self.s


class SymNode:
    def __init__(self, expr):
        self.expr = _Expr(expr)

    def maybe_as_int(self):
        return None


class SymInt:
    def __init__(self, expr):
        self.node = SymNode(expr)


class FakeStorage:
    """What a tensor's `untyped_storage()` gives: one per allocation, shared by views."""

    count = 0

    def __init__(self):
        FakeStorage.count += 1
        self._cdata = FakeStorage.count


class FakeTensor:
    def __init__(self, shape, dt, stride=None, view_of=None):
        self.shape = shape
        self.dtype = dtype(dt)
        self.device = device("cuda:0")
        self._stride = stride
        self._storage = view_of._storage if view_of is not None else FakeStorage()

    def untyped_storage(self):
        return self._storage

    def stride(self):
        """The given strides, else row-major ones, as torch gives a new tensor."""
        if self._stride is not None:
            return self._stride
        out = []
        for i in range(len(self.shape)):
            later = self.shape[i + 1:]
            ints = [d for d in later if isinstance(d, int)]
            syms = [d for d in later if not isinstance(d, int)]
            k = 1
            for d in ints:
                k *= d
            out.append(syms[0] if len(syms) == 1 and k == 1 else k)
        return out


class Node:
    def __init__(self, name, op, target, args=(), kwargs=None, val=None):
        self.name, self.op, self.target = name, op, target
        self.args, self.kwargs = tuple(args), dict(kwargs or {})
        self.meta = {} if val is None else {"val": val}


class Graph:
    def __init__(self, nodes):
        self.nodes = nodes


def rms_quant_graph():
    s0 = SymInt("s0")
    x = Node("x", "placeholder", "x", val=FakeTensor([s0, 4096], "bfloat16", [4096, 1]))
    w = Node("w", "placeholder", "w", val=FakeTensor([4096], "bfloat16"))
    n = Node("n", "placeholder", "n", val=s0)
    e = Node("empty", "call_function", OpOverload("aten.empty.memory_format"), [[n, 4096]],
             {"dtype": dtype("bfloat16"), "device": device("cuda:0")}, FakeTensor([s0, 4096], "bfloat16"))
    af = Node("auto_functionalized", "call_function", HigherOrderOperator(), [OpOverload("_C.rms_norm.default")],
              {"result": e, "input": x, "weight": w, "epsilon": 1e-05}, (None, FakeTensor([s0, 4096], "bfloat16")))
    g = Node("getitem", "call_function", operator.getitem, [af, 1], val=FakeTensor([s0, 4096], "bfloat16"))
    f = Node("full", "call_function", OpOverload("aten.full.default"), [[n, 4096], float("-inf")],
             {"dtype": dtype("bfloat16")}, FakeTensor([s0, 4096], "bfloat16"))
    out = Node("output", "output", "output", [[g]])
    return Graph([x, w, n, e, af, g, f, out])


class ExporterTest(unittest.TestCase):
    def test_targets_are_pytorch_qualified_names(self):
        self.assertEqual(target_name(OpOverload("_C.rms_norm.default")), "torch.ops._C.rms_norm.default")
        self.assertEqual(target_name(HigherOrderOperator()), "torch.ops.higher_order.auto_functionalized")
        self.assertEqual(target_name(operator.getitem), "operator.getitem")

    def test_document_follows_the_spec(self):
        doc = graph_to_dict(rms_quant_graph(), "rms")
        self.assertEqual((doc["format"], doc["version"]), ("fx-graph", 1))
        self.assertEqual(doc["symbols"], {"s0": {}})
        nodes = {n["name"]: n for n in doc["nodes"]}
        self.assertEqual(nodes["x"]["meta"]["val"], {"shape": ["s0", 4096], "dtype": "bfloat16", "stride": [4096, 1], "device": "cuda:0"})
        self.assertEqual(nodes["n"]["meta"]["val"], {"sym": "s0"})
        self.assertEqual(nodes["empty"]["args"], [[{"node": "n"}, 4096]])
        self.assertEqual(nodes["empty"]["kwargs"], {"dtype": {"dtype": "bfloat16"}, "device": {"device": "cuda:0"}})
        af = nodes["auto_functionalized"]
        self.assertEqual(af["args"], [{"op": "torch.ops._C.rms_norm.default"}])
        self.assertEqual(af["kwargs"]["epsilon"], 1e-05)
        self.assertIsNone(af["meta"]["val"][0])
        self.assertEqual(nodes["full"]["args"][1], {"float": "-inf"})
        self.assertEqual(nodes["output"]["args"], [[{"node": "getitem"}]])
        self.assertNotIn("meta", nodes["output"])

    def test_an_opaque_input_has_a_null_value_and_its_class_named(self):
        class FakeScriptObject:  # what torch >= 2.11 gives a hoisted LayerName during compilation
            script_class_name = "vllm.utils.torch_utils.LayerName"

        g = Graph([Node("ln", "placeholder", "ln", val=FakeScriptObject()), Node("output", "output", "output", [[]])])
        nodes = {n["name"]: n for n in graph_to_dict(g)["nodes"]}
        self.assertEqual(nodes["ln"]["meta"], {"val": None, "opaque": "vllm.utils.torch_utils.LayerName"})
        # Anything else still has to be of the format's grammar.
        with self.assertRaises(ExportError):
            graph_to_dict(Graph([Node("o", "placeholder", "o", val=object())]))

    def test_call_module_is_refused(self):
        g = Graph([Node("m", "call_module", "layer0")])
        with self.assertRaises(ExportError):
            graph_to_dict(g)

    def test_floats_keep_a_point_or_exponent(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "g.json")
            export_graph(rms_quant_graph(), path)
            with open(path) as f:
                text = f.read()
        self.assertIn('"epsilon": 1e-05', text)

    @unittest.skipUnless(os.environ.get("VLLM_OPT"), "set VLLM_OPT to the vllm-opt binary")
    def test_vllm_opt_imports_the_export(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "g.json")
            export_graph(rms_quant_graph(), path)
            out = subprocess.run([os.environ["VLLM_OPT"], path], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn('"vllm.rms_norm"', out.stdout)
        self.assertIn('"aten.full"', out.stdout)


if __name__ == "__main__":
    unittest.main()
