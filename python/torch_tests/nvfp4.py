"""vLLM's NVFP4 quant in torch, shared by the torch tests: the math of its
kernels (nvfp4_utils.cuh: per 16 elements an e4m3 scale
`e4m3(g * (max|x| / 6))`, values `e2m1(x / (s / g))`, two to a byte, even
element low; the scales swizzled four to an int32 in `[round_up(T, 128),
ceil(n / 64)]` rows, padding zero), and `quant`, which allocates as vLLM's
`ops.scaled_fp4_quant` does (so with a dynamic token count the block-scale
buffer's rows are SymInt arithmetic in the graph)."""
import torch


def e2m1(q):
    """cvt.rn.satfinite.e2m1x2.f32: nearest of ±{0, .5, 1, 1.5, 2, 3, 4, 6}, ties to even, NaN -> +6."""
    a = q.abs()
    code = ((a > 0.25).int() + (a >= 0.75).int() + (a > 1.25).int() + (a >= 1.75).int() + (a > 2.5).int()
            + (a >= 3.5).int() + (a > 5.0).int())
    code = code | (torch.signbit(q).int() << 3)
    return torch.where(torch.isnan(q), 7, code)


def nvfp4(x, g):
    """Rows `x` [m, n] -> (packed uint8 [m, n/2], int32 block scales [round_up(m, 128), ceil(n/64)])."""
    m, n = x.shape
    xf = x.float().reshape(m, n // 16, 16)
    vmax = xf.abs().amax(-1)
    s8 = (g * (vmax * torch.tensor(1.0 / 6.0))).clamp(max=448.0).to(torch.float8_e4m3fn)
    s = s8.float()
    out_scale = torch.where(s != 0, 1.0 / (s * (1.0 / g)), torch.zeros_like(s))
    codes = e2m1(xf * out_scale[..., None]).reshape(m, n)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).to(torch.uint8)
    rows, tiles = (m + 127) // 128 * 128, (n + 63) // 64
    mi, ki = torch.arange(m)[:, None], torch.arange(n // 16)[None, :]
    off = ((mi // 128) * tiles + ki // 4) * 512 + (mi % 32) * 16 + ((mi // 32) % 4) * 4 + ki % 4
    sf = torch.zeros(rows * tiles * 4, dtype=torch.uint8)
    sf[off.flatten()] = s8.view(torch.uint8).flatten()
    return packed, sf.view(torch.int32).reshape(rows, tiles)


def quant(y, global_scale):
    """vLLM's `ops.scaled_fp4_quant`: allocates the outputs, calls `_C.scaled_fp4_quant`."""
    m, n = y.shape
    out = torch.empty((m, n // 2), dtype=torch.uint8)
    rounded_m = (m + 128 - 1) // 128 * 128
    rounded_n = (n // 16 + 4 - 1) // 4 * 4
    scale = torch.empty((rounded_m, rounded_n // 4), dtype=torch.int32)
    torch.ops._C.scaled_fp4_quant(out, y, scale, global_scale)
    return out, scale


def scaled_fp4_quant(output, input, output_scale, input_scale):
    """`_C.scaled_fp4_quant`'s CPU body."""
    q, sf = nvfp4(input, input_scale)
    output.copy_(q)
    output_scale.copy_(sf)


SCALED_FP4_QUANT = "scaled_fp4_quant(Tensor! output, Tensor input, Tensor! output_scale, Tensor input_scale) -> ()"


def nvfp4_linear(x, g):
    """`nvfp4` with vLLM main's `is_sf_swizzled_layout=False`: the same values,
    the block scales as row-major e4m3 bytes [m, n/16] (uint8)."""
    m, n = x.shape
    q, sf = nvfp4(x, g)
    mi, ki = torch.arange(m)[:, None], torch.arange(n // 16)[None, :]
    tiles = (n + 63) // 64
    off = ((mi // 128) * tiles + ki // 4) * 512 + (mi % 32) * 16 + ((mi // 32) % 4) * 4 + ki % 4
    return q, sf.view(torch.uint8).flatten()[off.flatten()].reshape(m, n // 16)


def quant_main(y, global_scale, swizzled=True):
    """vLLM main's `ops.scaled_fp4_quant`: `create_fp4_output_tensors` (the
    swizzled scales zero-filled, the row-major ones `empty`), then the `.out`
    overload with the outputs as keywords."""
    m, n = y.shape
    out = torch.empty((m, n // 2), dtype=torch.uint8)
    if swizzled:
        rounded_m = (m + 128 - 1) // 128 * 128
        rounded_n = (n // 16 + 4 - 1) // 4 * 4
        scale = torch.zeros((rounded_m, rounded_n // 4), dtype=torch.int32)
    else:
        scale = torch.empty((m, n // 16), dtype=torch.uint8)
    torch.ops._C.scaled_fp4_quant.out(y, global_scale, swizzled, output=out, output_scale=scale)
    return out, scale


def scaled_fp4_quant_out(input, input_scale, is_sf_swizzled_layout, *, output, output_scale):
    """`_C.scaled_fp4_quant.out`'s CPU body (vLLM main)."""
    q, sf = (nvfp4 if is_sf_swizzled_layout else nvfp4_linear)(input, input_scale)
    output.copy_(q)
    output_scale.copy_(sf)


SCALED_FP4_QUANT_OUT = ("scaled_fp4_quant.out(Tensor input, Tensor input_scale, bool is_sf_swizzled_layout, *, "
                        "Tensor(a!) output, Tensor(b!) output_scale) -> ()")


def silu_mul(x):
    """vLLM's silu_and_mul: rT(rT(silu(a)) * b)."""
    d = x.shape[-1] // 2
    a, b = x[..., :d].float(), x[..., d:]
    return ((a / (1 + torch.exp(-a))).to(x.dtype) * b).to(x.dtype)


def silu_and_mul(result, input):
    """`_C.silu_and_mul`'s CPU body."""
    result.copy_(silu_mul(input))


def silu_and_mul_nvfp4_quant(result, result_block_scale, input, input_global_scale):
    """`_C.silu_and_mul_nvfp4_quant`'s CPU body: the SiLU rounded as vLLM's kernel rounds it, then the quant."""
    scaled_fp4_quant(result, silu_mul(input), result_block_scale, input_global_scale)


SILU_AND_MUL = "silu_and_mul(Tensor! result, Tensor input) -> ()"
SILU_AND_MUL_NVFP4_QUANT = ("silu_and_mul_nvfp4_quant(Tensor! result, Tensor! result_block_scale, Tensor input, "
                            "Tensor input_global_scale) -> ()")
