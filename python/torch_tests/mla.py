"""A stand-in for vLLM's MLA attention, shared by the torch tests that define
`vllm::unified_mla_attention_with_output` (each with one vLLM version's
schema): any deterministic function of its inputs serves, since the tests
check that the fused graph computes what eager does with the quant outside."""
import torch
from inductor_pass import compile_with_pass, dump_post_grad

LAYER = "model.layers.0.self_attn.attn"


def stand_in(q, kv_c_normed, k_pe, dv):
    """The latent and rotary parts mixed into each head's first `dv` values, rounded once: `[T, heads * dv]`."""
    t, heads = q.shape[0], q.shape[1]
    mix = q.float()[..., :dv] + kv_c_normed.float()[:, None, :dv] * 0.5 - k_pe.float()[:, None, :1]
    return mix.reshape(t, heads * dv).to(q.dtype)


def static_fp8(y, scale):
    """vLLM's static FP8 quant (per tensor)."""
    return (y.float() / scale).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)


def inputs(t, seed, heads, dqk, dkv, dpe):
    """q `[t, heads, dqk]`, kv_c_normed `[t, dkv]`, k_pe `[t, dpe]`, bf16."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(t, heads, dqk, generator=gen).to(torch.bfloat16),
            torch.randn(t, dkv, generator=gen).to(torch.bfloat16), torch.randn(t, dpe, generator=gen).to(torch.bfloat16))


def compiled_and_eager(fn, args, extra, symbolic, dump=None):
    """`fn(*args, extra)` compiled with the attention fusion (v1 functionalization, as vLLM runs) and
    eagerly, the token dim of `args` marked dynamic when `symbolic` (`dump` names the capture of that
    graph, `dump_post_grad`): (got, want, the compiled graph's calls)."""
    compiled, seen = compile_with_pass(fn, {"enable_attn_fusion": True, "eliminate_noops": True},
                                       enable_auto_functionalized_v2=False)
    if symbolic:
        for x in args:
            torch._dynamo.mark_dynamic(x, 0)
        if dump:
            dump_post_grad(fn, (*args, extra), dump)
    return compiled(*args, extra), fn(*args, extra), seen
