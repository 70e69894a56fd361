"""vLLM main's IR ops (`torch.ops.vllm_ir.*`: functional ops its graphs hold
until its own lowering picks a kernel), registered as vLLM's `register_op`
does: the schema inferred from the native body, which is also the CPU kernel
and the fake. Shared by the torch tests; importing this module registers them."""
import torch


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, epsilon: float,
             variance_size: int | None = None) -> torch.Tensor:
    """vLLM IR's native rms_norm."""
    orig_dtype = x.dtype
    x = x.to(torch.float32)
    x_var = x if variance_size is None else x[..., :variance_size]
    variance = x_var.pow(2).mean(dim=-1, keepdim=True)
    x = x * torch.rsqrt(variance + epsilon)
    if weight is not None:
        x = x.to(weight.dtype) * weight
    return x.to(orig_dtype)


def fused_add_rms_norm(x: torch.Tensor, x_residual: torch.Tensor, weight: torch.Tensor | None, epsilon: float,
                       variance_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """vLLM IR's fused_add_rms_norm with the kernels' rounding (the sum rounded, then normalized), which the
    kernel vLLM lowers it to has; its native body (vllm/ir/ops/layernorm.py) normalizes the unrounded f32 sum."""
    orig_dtype = x.dtype
    z = (x.to(torch.float32) + x_residual.to(torch.float32)).to(orig_dtype)
    return rms_norm(z, weight, epsilon, variance_size), z


def static_quant_fp8(x: torch.Tensor, scale: torch.Tensor, fp8_dtype: torch.dtype,
                     num_token_padding: int | None = None) -> torch.Tensor:
    """vLLM IR's native static_quant_fp8 (per-tensor, or per-token with a [T, 1] scale)."""
    return (x.to(torch.float32) * scale.to(torch.float32).reciprocal()).clamp(-448.0, 448.0).to(fp8_dtype)


def dynamic_quant_fp8(x: torch.Tensor, per_token: bool, fp8_dtype: torch.dtype, scale_ub: torch.Tensor | None = None,
                      num_token_padding: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """vLLM IR's native dynamic_quant_fp8."""
    x_max = x.abs().amax(dim=-1, keepdim=True) if per_token else x.abs().max().unsqueeze(-1)
    scale = (x_max.to(torch.float32) / 448.0).clamp(min=1.0 / (448.0 * 512.0))
    return (x.to(torch.float32) * scale.reciprocal()).clamp(-448.0, 448.0).to(fp8_dtype), scale


IR = torch.library.Library("vllm_ir", "FRAGMENT")
for name, fn in (("rms_norm", rms_norm), ("fused_add_rms_norm", fused_add_rms_norm),
                 ("static_quant_fp8", static_quant_fp8), ("dynamic_quant_fp8", dynamic_quant_fp8)):
    try:
        IR.define(name + torch.library.infer_schema(fn, mutates_args=[]))
        IR.impl(name, fn, "CPU")
        IR._register_fake(name, fn)
    except RuntimeError:  # defined by an earlier test module in this process
        pass
