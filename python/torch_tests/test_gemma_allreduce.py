"""Gemma's RMSNorm after a tensor-parallel all-reduce, through Inductor with
VllmOptPass as its post-grad custom pass (needs torch; run by
scripts/torch-tests).

The graph is the one Inductor itself builds from vLLM's native
`GemmaRMSNorm` (custom ops off): vllm-opt must find it there and fuse it
into vLLM's FlashInfer op with weight_bias = 1. The two vLLM ops are
defined here with their schemas and CPU bodies: the all-reduce of one rank
(a copy), and the fused op as FlashInfer computes it (the residual added in
the activation type, then `x * s * (w + weight_bias)` in f32, rounded once).
The compiled function must then give eager's results bit for bit.
"""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))
from test_collective_graphs import _fused_allreduce_norm  # noqa: E402
from inductor_pass import RecordingPass  # noqa: E402

FUSED = "flashinfer_trtllm_fused_allreduce_norm"
MUTATES = ["allreduce_in", "residual", "norm_out", "quant_out", "scale_out"]

LIB = torch.library.Library("vllm", "FRAGMENT")
for schema in ("all_reduce(Tensor tensor, str group_name) -> Tensor",
               FUSED + torch.library.infer_schema(_fused_allreduce_norm, mutates_args=MUTATES)):
    try:
        LIB.define(schema)
    except RuntimeError:  # defined by an earlier test module in this process
        pass


def _fused_cpu(allreduce_in, residual, rms_gamma, rms_eps, world_size, launch_with_pdl, fp32_acc, max_token_num,
               pattern_code, norm_out=None, quant_out=None, scale_out=None, scale_factor=None, weight_bias=0.0):
    assert pattern_code == 1 and quant_out is None, "the Gemma fusion has no quant"
    z = allreduce_in + residual  # one rank: the all-reduce is the identity
    zf = z.float()
    y = (zf * torch.rsqrt(zf.pow(2).mean(-1, keepdim=True) + rms_eps) * (rms_gamma.float() + weight_bias)).to(z.dtype)
    if norm_out is None:
        allreduce_in.copy_(y)
        residual.copy_(z)
    else:
        norm_out.copy_(y)
        allreduce_in.copy_(z)


LIB.impl("all_reduce", lambda tensor, group_name: tensor.clone(), "CompositeExplicitAutograd")
LIB.impl(FUSED, _fused_cpu, "CompositeExplicitAutograd")
torch.library.register_fake("vllm::all_reduce", lambda tensor, group_name: torch.empty_like(tensor), lib=LIB)
torch.library.register_fake("vllm::" + FUSED, lambda *a, **k: None, lib=LIB)


def gemma_rms(x, w, eps=1e-6):
    """vLLM's GemmaRMSNorm.forward_native without a residual."""
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (xf * (1.0 + w.float())).to(x.dtype)


def two_layers(p0, p1, w0, w1):
    """The first norm of an all-reduce without a residual (its rows are the
    next residual), the second with the residual added in bf16."""
    a0 = torch.ops.vllm.all_reduce(p0, "tp:0")
    y0 = gemma_rms(a0, w0)
    a1 = torch.ops.vllm.all_reduce(p1 + y0, "tp:0")
    z1 = a1 + a0
    return gemma_rms(z1, w1), z1


class GemmaAllReduceFusion(unittest.TestCase):
    def test_inductors_graph_fuses_and_computes_what_eager_does(self):
        seen = []

        pass_ = RecordingPass(seen, config={"enable_fi_allreduce_fusion": True}, tp_size=2)
        torch._dynamo.reset()
        compiled = torch.compile(two_layers, options={"post_grad_custom_post_pass": pass_, "force_disable_caches": True})
        g = torch.Generator().manual_seed(0)
        args = [torch.randn(16, 256, generator=g).to(torch.bfloat16) for _ in range(2)]
        args += [(0.1 * torch.randn(256, generator=g)).to(torch.bfloat16) for _ in range(2)]
        got = compiled(*args)
        want = two_layers(*args)
        self.assertEqual(len(seen), 1)
        self.assertEqual(sum(t == f"vllm.{FUSED}.default" for t in seen[0]), 2, seen[0])
        self.assertNotIn("aten.rsqrt.default", seen[0])
        self.assertNotIn("vllm.all_reduce.default", seen[0])
        for a, b in zip(want, got):
            self.assertTrue(torch.equal(a, b), (a - b).abs().max())


if __name__ == "__main__":
    unittest.main()
