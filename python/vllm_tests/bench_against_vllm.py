"""VllmOptPass against the installed vLLM's own fusion passes (not a
re-implementation), timed on the same post-grad graph: a Llama-3-8B-shaped
decoder written as that vLLM's layers write it (0.11: `_C` norms; main: its
IR norms, static quants with `group_shape`), its GEMMs vLLM's
`cutlass_scaled_mm`, captured from Inductor (no GPU; see vllm_c):

    target/vllm-0.33.0/bin/python python/vllm_tests/bench_against_vllm.py [--layers 32] [--repeat 5]

Prints medians, each run on a fresh copy of the graph: vLLM's
RMSNormQuantFusionPass + ActivationQuantFusionPass (their construction once,
their application each compile) against VllmOptPass (export, the vllm-opt
process with every pass, load, meta['val']); both must fuse the same ops."""
import argparse
import copy
import gc
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import test_fusions_agree as T  # noqa: E402 (vllm_c: vLLM's _C ops, the platform's device)
import torch  # noqa: E402
from harness import vllm_config  # noqa: E402
from vllm.config import set_current_vllm_config  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--layers", type=int, default=32)
ap.add_argument("--repeat", type=int, default=5)
opts = ap.parse_args()
T.vllm_c.fake_nothing("cutlass_scaled_mm")
H, I, QKV = 4096, 14336, 6144
EPS = 1e-5


def gemm(a8, n):
    out = torch.empty(a8.shape[0], n, dtype=torch.bfloat16, device=a8.device)
    w = torch.empty(n, a8.shape[1], dtype=torch.float8_e4m3fn, device=a8.device).t()
    s = torch.empty((), dtype=torch.float32, device=a8.device)
    torch.ops._C.cutlass_scaled_mm(out, a8, w, s, s, None)
    return out


def decoder(x, r, w, s, g):
    h, res = x, None
    for _ in range(opts.layers):
        if res is None:
            res, n = h, T.norm(h, w, EPS)
        else:
            n, res = T.add_norm(h, res, w, EPS)
        attn = gemm(T.quant(n, s), QKV)[:, :H]  # attention's output stands in for the q slice
        o = gemm(T.quant(attn.contiguous(), s), H)
        n, res = T.add_norm(o, res, w, EPS)
        act = T.silu_and_mul(gemm(T.quant(n, s), 2 * I))
        h = gemm(T.quant(act, s), H)
    return h, res


vc = vllm_config(T.PASS_CONFIG, ["+rms_norm", "+quant_fp8", "+silu_and_mul"])
with set_current_vllm_config(vc):
    gm = T.post_grad_graph(decoder)
    t0 = time.perf_counter()
    theirs_passes = [T.RMSNormQuantFusionPass(vc), T.ActivationQuantFusionPass(vc)]
    register = (time.perf_counter() - t0) * 1e3
    ours = T.VllmOptPass(T.VLLM_OPT, config={"enable_noop": True, "enable_fusion": True})
    times = {"vLLM": [], "vllm-opt": []}
    counts = {}
    with T.pass_context(T.CONTEXT):
        for _ in range(opts.repeat):
            for name in ("vLLM", "vllm-opt"):
                g = copy.deepcopy(gm)
                gc.collect()
                t0 = time.perf_counter()
                if name == "vLLM":
                    for p in theirs_passes:
                        p(g.graph)
                else:
                    ours(g.graph)
                times[name].append((time.perf_counter() - t0) * 1e3)
                counts[name] = T.fused(g.graph)
if counts["vLLM"] != counts["vllm-opt"]:
    sys.exit(f"the two fused differently: vLLM {counts['vLLM']}, vllm-opt {counts['vllm-opt']}")
import vllm  # noqa: E402

med = {k: statistics.median(v) for k, v in times.items()}
print(f"vLLM {vllm.__version__}, torch {torch.__version__}, {opts.layers} layers, {len(gm.graph.nodes)} post-grad nodes, "
      f"medians of {opts.repeat}: vLLM's passes: construct {register:.0f} ms, apply {med['vLLM']:.0f} ms; "
      f"VllmOptPass {med['vllm-opt']:.0f} ms; apply / VllmOptPass {med['vLLM'] / med['vllm-opt']:.1f}x; fused {counts['vLLM']}")
