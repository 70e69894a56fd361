"""The collective passes' output as torch sees it (needs torch; run by
scripts/torch-tests).

vllm-opt compiles the captured tensor-parallel fixture with async TP, or
with the all-reduce + norm fusion; the FX graph it writes is loaded into a
torch.fx.Graph, where every call of a fused op must bind to its schema
(argument names, order, list and optional arguments): torch's own for the
symmetric-memory ops, and for FlashInfer's all-reduce op the schema vLLM
registers (inferred here from vLLM main's Python signature, as
`direct_register_custom_op` infers it). The ops need a process group to
run, so this checks the calls, not their results (the reference
interpreter checks those: numerics::sequence_parallelism_keeps_every_ranks_results).
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import torch
from torch.fx.operator_schemas import normalize_function

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from vllm_opt import load_graph  # noqa: E402
from vllm_opt.fx_import import torch_resolver  # noqa: E402

VLLM_OPT = os.environ.get("VLLM_OPT", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "vllm-opt"))
FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "fixtures", "llama_fp8_custom_tp2_L2_dyn.json")


def _fused_allreduce_norm(allreduce_in: torch.Tensor, residual: torch.Tensor, rms_gamma: torch.Tensor, rms_eps: float,
                          world_size: int, launch_with_pdl: bool, fp32_acc: bool, max_token_num: int, pattern_code: int,
                          norm_out: torch.Tensor | None = None, quant_out: torch.Tensor | None = None,
                          scale_out: torch.Tensor | None = None, scale_factor: torch.Tensor | None = None,
                          weight_bias: float = 0.0) -> None:
    """vLLM main's call_trtllm_fused_allreduce_norm signature (the body needs FlashInfer)."""


def _compiled_graph(config, checked):
    """The fixture compiled with `config` at 256 tokens, as a torch.fx.Graph
    whose targets resolve through torch, except vLLM's ops other than those
    named in `checked` (not defined here: stand-ins)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "out.json")
        subprocess.run([VLLM_OPT, FIXTURE, "--config", json.dumps(config), "--runtime-shape", "256", "--tp-size", "2",
                        "--emit", "fx-json", "-o", out], check=True)
        with open(out) as f:
            doc = json.load(f)
    real = torch_resolver()

    def resolve(kind, name):
        if kind == "target" and name.startswith(("torch.ops._C.", "torch.ops.vllm.")) and not any(c in name for c in checked):
            return lambda *a, **k: None
        return real(kind, name)

    return _torch_graph(doc, resolve)


def _torch_graph(doc, resolve):
    """FX graph JSON `doc` loaded into a torch.fx.Graph, targets by `resolve`."""
    graph = torch.fx.Graph()
    for n in doc["nodes"]:
        if n["op"] == "placeholder":
            graph.placeholder(n["name"])
    graph.output(None)
    load_graph(graph, doc, resolve)
    return graph


class AsyncTpGraphTest(unittest.TestCase):
    def test_symmetric_memory_calls_bind_to_torchs_schemas(self):
        graph = _compiled_graph({"enable_noop": True, "enable_fusion": True, "enable_async_tp": True, "c10d_group_names": {"tp:0": "0"}}, ())
        calls = [n for n in graph.nodes if n.op == "call_function" and str(n.target).startswith("symm_mem.")]
        self.assertEqual(sorted(str(n.target) for n in calls),
                         ["symm_mem.fused_all_gather_scaled_matmul.default"] * 4 + ["symm_mem.fused_scaled_matmul_reduce_scatter.default"] * 4)
        for n in calls:
            bound = normalize_function(n.target, n.args, n.kwargs, normalize_to_only_use_kwargs=True)
            self.assertIsNotNone(bound, f"{n.name} does not bind to {n.target._schema}")
            kw = bound.kwargs
            self.assertEqual(kw["group_name"], "0")
            if "reduce_scatter" in str(n.target):
                self.assertEqual((kw["reduce_op"], kw["orig_scatter_dim"], kw["out_dtype"]), ("sum", 0, torch.bfloat16))
                self.assertEqual(list(kw["output_shape"]), [256, 4096])
            else:
                self.assertEqual((kw["gather_dim"], kw["out_dtypes"], kw["use_fast_accum"]), (0, [torch.bfloat16], [False]))
                # The product is element 0 of the list the op returns second.
                (lst,) = [u for u in n.users if u.args[1] == 1]
                self.assertTrue(all(u.args[1] == 0 for u in lst.users))


# bf16 (no bf16 tensor-parallel fixture): an all-gather read only by its GEMM.
BF16_AG_MM = """
func.func @f(%x: tensor<128x64xbf16> {fx.name = "x"}, %w: tensor<64x32xbf16> {fx.name = "w"}) -> tensor<256x32xbf16> {
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x64xbf16>) -> tensor<256x64xbf16>
  %y = "aten.mm"(%g, %w) : (tensor<256x64xbf16>, tensor<64x32xbf16>) -> tensor<256x32xbf16>
  return %y : tensor<256x32xbf16>
}
"""


class UnreturnedGatheredRowsTest(unittest.TestCase):
    def test_return_a_false_binds_and_reads_only_the_products(self):
        with tempfile.TemporaryDirectory() as d:
            src, out = os.path.join(d, "in.mlir"), os.path.join(d, "out.json")
            with open(src, "w") as f:
                f.write(BF16_AG_MM)
            subprocess.run([VLLM_OPT, src, "--pass-pipeline",
                            "builtin.module(func.func(vllm-async-tp{tp-size=2 group-names=tp:0=0}))",
                            "--emit", "fx-json", "-o", out], check=True)
            with open(out) as f:
                doc = json.load(f)
        graph = _torch_graph(doc, torch_resolver())
        (call,) = [n for n in graph.nodes if n.op == "call_function" and str(n.target).startswith("symm_mem.")]
        self.assertEqual(str(call.target), "symm_mem.fused_all_gather_matmul.default")
        bound = normalize_function(call.target, call.args, call.kwargs, normalize_to_only_use_kwargs=True)
        self.assertIsNotNone(bound, f"{call.name} does not bind to {call.target._schema}")
        self.assertIs(bound.kwargs["return_A"], False)
        # Only element 1 (the products) is read: torch returns None at 0.
        self.assertEqual([u.args[1] for u in call.users], [1])


class AllreduceNormGraphTest(unittest.TestCase):
    def test_fused_allreduce_norm_calls_bind_to_vllms_schema(self):
        schema = torch.library.infer_schema(_fused_allreduce_norm,
                                            mutates_args=["allreduce_in", "residual", "norm_out", "quant_out", "scale_out"])
        lib = torch.library.Library("vllm", "FRAGMENT")
        try:
            lib.define("flashinfer_trtllm_fused_allreduce_norm" + schema)
        except RuntimeError:  # defined by an earlier run in this process
            pass
        graph = _compiled_graph({"enable_noop": True, "enable_fusion": True, "enable_fi_allreduce_fusion": True}, ("flashinfer",))
        target = torch.ops.vllm.flashinfer_trtllm_fused_allreduce_norm.default
        calls = [n for n in graph.nodes if n.op == "call_function" and n.target == target]
        self.assertEqual(len(calls), 5)
        codes = []
        for n in calls:
            bound = normalize_function(n.target, n.args, n.kwargs, normalize_to_only_use_kwargs=True)
            self.assertIsNotNone(bound, f"{n.name} does not bind to {target._schema}")
            kw = bound.kwargs
            self.assertEqual((kw["world_size"], kw["launch_with_pdl"], kw["fp32_acc"], kw["norm_out"]), (2, True, True, None))
            codes.append(kw["pattern_code"])
            self.assertEqual(kw["quant_out"] is not None, kw["pattern_code"] == 2)
        self.assertEqual(codes, [2, 2, 2, 2, 1])


if __name__ == "__main__":
    unittest.main()
