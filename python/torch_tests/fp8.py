"""vLLM's RMSNorm and static FP8 quant in torch, shared by the torch tests
that define the `_C` ops with CPU bodies: the math of its kernels (the norm
in f32, rounded to the activation type after `x * s` and after `* w`; the
quant `y * (1/scale)` clamped to ±448, per tensor or per row)."""
import torch

EPS = 1e-6
RMS_NORM = "rms_norm(Tensor! result, Tensor input, Tensor weight, float epsilon) -> ()"
RMS_NORM_STATIC_FP8_QUANT = ("rms_norm_static_fp8_quant(Tensor! result, Tensor input, Tensor weight, Tensor scale, "
                             "float epsilon) -> ()")


def rms(x, w, eps=EPS):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def quant(y, scale):
    return (y.float() * scale.reciprocal()).clamp(-448.0, 448.0).to(torch.float8_e4m3fn)


def per_group(y, group_size, eps=1e-10, fp8_max=448.0, ue8m0=False):
    """vLLM's per_token_group_quant.cu: s = max(eps, max|y|) / 448 per group of a row (UE8M0: rounded up to
    a power of two), q = fp8(clamp(y / s)); returns (q, the [T, H/G] scales)."""
    t, h = y.shape
    yf = y.float().reshape(t, h // group_size, group_size)
    s = yf.abs().amax(-1).clamp(min=eps) / fp8_max
    if ue8m0:
        s = torch.exp2(torch.ceil(torch.log2(s)))
    q = (yf / s[..., None]).clamp(-fp8_max, fp8_max).reshape(t, h).to(torch.float8_e4m3fn)
    return q, s


def rms_norm(result, input, weight, epsilon):
    """`_C.rms_norm`'s CPU body."""
    result.copy_(rms(input, weight, epsilon))


def static_scaled_fp8_quant(result, input, scale, group_shape=None):
    """`_C.static_scaled_fp8_quant`'s CPU body (vLLM main's `group_shape` too: the scale's shape says it)."""
    result.copy_(quant(input, scale))


def rms_norm_static_fp8_quant(result, input, weight, scale, epsilon):
    """`_C.rms_norm_static_fp8_quant`'s CPU body."""
    result.copy_(quant(rms(input, weight, epsilon), scale))


BODIES = {"rms_norm": rms_norm, "static_scaled_fp8_quant": static_scaled_fp8_quant,
          "rms_norm_static_fp8_quant": rms_norm_static_fp8_quant}
