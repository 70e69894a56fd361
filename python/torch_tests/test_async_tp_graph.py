"""Async TP's output as torch sees it (needs torch; run by scripts/torch-tests).

vllm-opt compiles the captured tensor-parallel fixture with async TP; the FX
graph it writes is loaded into a torch.fx.Graph, where every symmetric-memory
call must bind to the schema torch defines for it (argument names, order,
list and optional arguments). The symmetric-memory ops need a process group
to run, so this checks the calls, not their results (the reference
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


class AsyncTpGraphTest(unittest.TestCase):
    def test_symmetric_memory_calls_bind_to_torchs_schemas(self):
        config = {"enable_noop": True, "enable_fusion": True, "enable_async_tp": True, "c10d_group_names": {"tp:0": "0"}}
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.json")
            subprocess.run([VLLM_OPT, FIXTURE, "--config", json.dumps(config), "--runtime-shape", "256", "--tp-size", "2",
                            "--emit", "fx-json", "-o", out], check=True)
            with open(out) as f:
                doc = json.load(f)
        graph = torch.fx.Graph()
        for n in doc["nodes"]:
            if n["op"] == "placeholder":
                graph.placeholder(n["name"])
        graph.output(None)
        real = torch_resolver()

        def resolve(kind, name):
            # vLLM's own ops are not defined here; only the calls into torch are checked.
            if kind == "target" and name.startswith(("torch.ops.vllm.", "torch.ops._C.")):
                return lambda *a, **k: None
            return real(kind, name)

        load_graph(graph, doc, resolve)
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


if __name__ == "__main__":
    unittest.main()
