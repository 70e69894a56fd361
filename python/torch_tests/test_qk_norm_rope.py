"""Qwen3-style attention input (per-head q/k RMSNorm, then the rotary
embedding) through Inductor with VllmOptPass as its post-grad custom pass
(needs torch; run by scripts/torch-tests).

The graph is the one Inductor builds from vLLM's model code with custom ops
off for the norms (vLLM's default under Inductor: `RMSNorm.forward_native`
per head) and its `_C.rotary_embedding` op or, custom ops off, the rotary's
native form (neox and GPT-J), as vLLM runs it
(`enable_auto_functionalized_v2=False`). vllm-opt must fuse both norms and
the rotation into `_C.fused_qk_norm_rope`, in place on the projection's
rows. The two `_C` ops are defined here with their schemas and CPU bodies
(the rotation and the fused kernel computed in f32, each rounded once, as
crates/interp does). The compiled function must give the fused kernel's
bytes on the same rows, and eager's values within the unfused graph's extra
roundings.
"""
import functools
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.dirname(__file__))
from inductor_pass import RecordingPass, define_ops  # noqa: E402

HQ, HK, HV, D, EPS = 4, 2, 2, 64, 1e-6



def _rotate(heads, positions, cache, is_neox):
    """Neox or GPT-J rotation of f32 `heads` [T, H, D] by each token's cache row, in f32."""
    rot = cache.shape[-1]
    cos, sin = cache[positions].float().chunk(2, dim=-1)
    cos, sin = cos[:, None, :], sin[:, None, :]
    out = heads.clone()
    if is_neox:
        a, b = heads[..., : rot // 2], heads[..., rot // 2: rot]
        out[..., : rot // 2], out[..., rot // 2: rot] = a * cos - b * sin, b * cos + a * sin
    else:
        a, b = heads[..., 0:rot:2], heads[..., 1:rot:2]
        out[..., 0:rot:2], out[..., 1:rot:2] = a * cos - b * sin, b * cos + a * sin
    return out


def rotary_embedding(positions, query, key, head_size, cos_sin_cache, is_neox):
    for x in (query, key):
        heads = x.view(x.shape[0], -1, head_size)
        heads.copy_(_rotate(heads.float(), positions, cos_sin_cache, is_neox).to(x.dtype))


def fused_qk_norm_rope(qkv, num_heads_q, num_heads_k, num_heads_v, head_dim, eps, q_weight, k_weight, cos_sin_cache,
                       is_neox, position_ids):
    """vLLM's kernel: each q/k head x -> x * (rsqrt(mean(x^2) + eps) * w) in f32, rotated, rounded once."""
    heads = qkv.view(qkv.shape[0], -1, head_dim)
    for first, count, w in ((0, num_heads_q, q_weight), (num_heads_q, num_heads_k, k_weight)):
        x = heads[:, first:first + count].float()
        y = x * (torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w.float())
        heads[:, first:first + count] = _rotate(y, position_ids, cos_sin_cache, is_neox).to(qkv.dtype)


LIB = torch.library.Library("_C", "FRAGMENT")
define_ops(LIB, ("rotary_embedding(Tensor positions, Tensor! query, Tensor!? key, int head_size, Tensor cos_sin_cache, "
                 "bool is_neox) -> ()",
                 "fused_qk_norm_rope(Tensor! qkv, int num_heads_q, int num_heads_k, int num_heads_v, int head_dim, "
                 "float eps, Tensor q_weight, Tensor k_weight, Tensor cos_sin_cache, bool is_neox, Tensor position_ids) -> ()"),
           {"rotary_embedding": rotary_embedding, "fused_qk_norm_rope": fused_qk_norm_rope})


def rms_norm_native(x, w):
    """vLLM's RMSNorm.forward_native (custom ops off)."""
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + EPS)
    return xf.to(x.dtype) * w


def rotary_native(positions, query, key, head_size, cos_sin_cache, is_neox=True):
    """vLLM's RotaryEmbedding.forward_native (the whole head rotated), in the rows' type: neox
    rotates the halves of each head, GPT-J its even and odd elements (stacked back as pairs)."""
    cos, sin = cos_sin_cache.index_select(0, positions.flatten()).chunk(2, dim=-1)
    out = []
    for x in (query, key):
        h = x.view(positions.shape[0], -1, head_size)
        c, s = cos.unsqueeze(-2).to(x.dtype), sin.unsqueeze(-2).to(x.dtype)
        if is_neox:
            x1, x2 = torch.chunk(h, 2, dim=-1)
            out.append(torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).reshape(x.shape))
        else:
            x1, x2 = h[..., ::2], h[..., 1::2]
            out.append(torch.stack((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).flatten(-2).reshape(x.shape))
    return out


def qwen3_qkv(x, wqkv, q_weight, k_weight, cos_sin_cache, positions, native_rotary=False, is_neox=True):
    """Qwen3Attention.forward up to the attention: projection, split, per-head norms, rotary
    (vLLM's custom op, or with custom ops off its native form)."""
    qkv = x @ wqkv
    q, k, v = qkv.split([HQ * D, HK * D, HV * D], dim=-1)
    q = rms_norm_native(q.view(*q.shape[:-1], HQ, D), q_weight).view(q.shape)
    k = rms_norm_native(k.view(*k.shape[:-1], HK, D), k_weight).view(k.shape)
    if native_rotary:
        q, k = rotary_native(positions, q, k, D, cos_sin_cache, is_neox)
    else:
        torch.ops._C.rotary_embedding(positions, q, k, D, cos_sin_cache, is_neox)
    return q, k, v


class QkNormRopeFusion(unittest.TestCase):
    def test_inductors_graph_fuses_into_the_in_place_kernel(self):
        # Static rows, and the token count symbolic as vLLM compiles (mark_dynamic);
        # the custom rotary op and its native form; neox and GPT-J.
        for symbolic in (False, True):
            for native in (False, True):
                for is_neox in (True, False):
                    with self.subTest(symbolic=symbolic, native_rotary=native, is_neox=is_neox):
                        self.check(symbolic, native, is_neox)

    def check(self, symbolic, native, is_neox):
        seen = []

        pass_ = RecordingPass(seen, config={"enable_noop": True, "enable_qk_norm_rope_fusion": True})
        torch._dynamo.reset()
        fn = functools.partial(qwen3_qkv, native_rotary=native, is_neox=is_neox)
        compiled = torch.compile(fn, options={"post_grad_custom_post_pass": pass_, "force_disable_caches": True,
                                                     "enable_auto_functionalized_v2": False})
        g = torch.Generator().manual_seed(0)
        n = (HQ + HK + HV) * D
        x = torch.randn(16, 64, generator=g).to(torch.bfloat16)
        wqkv = (0.2 * torch.randn(64, n, generator=g)).to(torch.bfloat16)
        qw, kw = ((1 + 0.2 * torch.randn(D, generator=g)).to(torch.bfloat16) for _ in range(2))
        cache = torch.randn(32, D, generator=g).to(torch.bfloat16)
        pos = torch.randint(0, 32, (16,), generator=g)
        if symbolic:
            torch._dynamo.mark_dynamic(x, 0)
            torch._dynamo.mark_dynamic(pos, 0)
        args = (x, wqkv, qw, kw, cache, pos)
        got = compiled(*args)
        want = fn(*args)
        self.assertEqual(len(seen), 1)
        self.assertEqual(seen[0].count("_C.fused_qk_norm_rope.default"), 1, seen[0])
        for gone in ("_C.rotary_embedding.default", "aten.rsqrt.default", "auto_functionalized", "aten.cat", "aten.index"):
            self.assertNotIn(gone, " ".join(seen[0]))
        # The fused kernel's bytes on the projection's rows.
        qkv = x @ wqkv
        fused_qk_norm_rope(qkv, HQ, HK, HV, D, EPS, qw, kw, cache, is_neox, pos)
        for a, b in zip(qkv.split([HQ * D, HK * D, HV * D], dim=-1), got):
            self.assertTrue(torch.equal(a, b), (a.float() - b.float()).abs().max())
        # Eager (unfused) rounds after the norm too: close, not equal.
        self.assertTrue(torch.equal(want[2], got[2]))
        for a, b in zip(want[:2], got[:2]):
            self.assertFalse(torch.equal(a, b))
            self.assertLess((a.float() - b.float()).abs().max().item(), 0.1)


if __name__ == "__main__":
    unittest.main()
