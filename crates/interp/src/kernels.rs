//! vLLM's kernels as scalar reference code, with the rounding points of
//! ../shared/reference/vllm-passes.md §10. `t` is the activation dtype; every
//! `t.round(..)` below is one `rT(..)` of the spec. Inputs and outputs are
//! row-major with rows of `h` elements.
//!
//! Differences from the CUDA kernels, by design: `rsqrt` is the exact
//! `1/sqrt` (the GPU uses `rsqrtf`, within 2 ulp), and reductions sum
//! sequentially (the GPU's block reduce sums in a tree). Both change only
//! the last bits of the row scale; the unfused and fused graphs here share
//! them, which is what makes a bit-exact graph comparison meaningful.
use crate::tensor::{DType, FP8_MAX, fp8};

/// vLLM's smallest per-token scale, `1/(FP8_MAX*512)`.
pub const MIN_SF: f32 = 1.0 / (FP8_MAX * 512.0);

fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let var: f32 = row.iter().map(|v| v * v).sum();
    1.0 / (var / row.len() as f32 + eps).sqrt()
}

/// `rms_norm`: `out_j = rT(rT(x_j*s) * w_j)`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, t: DType) -> Vec<f32> {
    let h = w.len();
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(h) {
        let s = inv_rms(row, eps);
        out.extend(row.iter().zip(w).map(|(x, w)| t.round(t.round(x * s) * w)));
    }
    out
}

/// `fused_add_rms_norm`: `z = rT(x + r)` (the add in T), normalize `z`.
/// Returns `(out, z)`: the new `input` and `residual`.
pub fn fused_add_rms_norm(x: &[f32], r: &[f32], w: &[f32], eps: f32, t: DType) -> (Vec<f32>, Vec<f32>) {
    let z = add_in(x, r, t);
    (rms_norm(&z, w, eps, t), z)
}

/// `rT(x + r)`: the residual add in the activation type.
fn add_in(x: &[f32], r: &[f32], t: DType) -> Vec<f32> {
    x.iter().zip(r).map(|(a, b)| t.round(a + b)).collect()
}

/// FlashInfer's all-reduce norm with a `weight_bias` (Gemma's `1 + w`):
/// `z = rT(x + r)`, then `rT((z * s) * (w + bias))` in f32, one rounding.
/// Returns `(out, z)`.
pub fn fused_add_rms_norm_biased(x: &[f32], r: &[f32], w: &[f32], eps: f32, bias: f32, t: DType) -> (Vec<f32>, Vec<f32>) {
    let z = add_in(x, r, t);
    let mut out = Vec::with_capacity(z.len());
    for row in z.chunks(w.len()) {
        let s = inv_rms(row, eps);
        out.extend(row.iter().zip(w).map(|(x, w)| t.round(x * s * (w + bias))));
    }
    (out, z)
}

/// `static_scaled_fp8_quant`: multiplies by the reciprocal of the scale.
pub fn static_quant(x: &[f32], scale: f32) -> Vec<f32> {
    let inv = 1.0 / scale;
    x.iter().map(|v| fp8(v * inv)).collect()
}

/// `dynamic_per_token_scaled_fp8_quant`: one scale per row, and it divides.
pub fn per_token_quant(x: &[f32], h: usize, scale_ub: Option<f32>) -> (Vec<f32>, Vec<f32>) {
    let mut q = Vec::with_capacity(x.len());
    let mut scales = Vec::new();
    for row in x.chunks(h) {
        let amax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let amax = scale_ub.map_or(amax, |ub| amax.min(ub));
        let s = (amax / FP8_MAX).max(MIN_SF);
        scales.push(s);
        q.extend(row.iter().map(|v| fp8(v / s)));
    }
    (q, scales)
}

/// `rms_norm_dynamic_per_token_quant`: with a residual the add is in fp32,
/// unrounded (unlike `fused_add_rms_norm`); the residual stores `rT(x)`.
/// Returns `(q, scales, residual_out)`. FP8 divides; int8 multiplies by the
/// reciprocal and rounds to nearest even with saturation.
pub fn rms_norm_per_token_quant(
    x: &[f32],
    w: &[f32],
    eps: f32,
    scale_ub: Option<f32>,
    residual: Option<&[f32]>,
    t: DType,
    out: DType,
) -> (Vec<f32>, Vec<f32>, Option<Vec<f32>>) {
    let h = w.len();
    let sum: Vec<f32> = match residual {
        Some(r) => x.iter().zip(r).map(|(a, b)| a + b).collect(),
        None => x.to_vec(),
    };
    let mut q = Vec::with_capacity(x.len());
    let mut scales = Vec::new();
    for row in sum.chunks(h) {
        let s = inv_rms(row, eps);
        let y: Vec<f32> = row.iter().zip(w).map(|(x, w)| t.round(t.round(x * s) * w)).collect();
        let amax = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let amax = scale_ub.map_or(amax, |ub| amax.min(ub));
        let qmax = if out == DType::I8 { 127.0 } else { FP8_MAX };
        let min_sf = if out == DType::I8 { f32::EPSILON } else { MIN_SF };
        let sc = (amax / qmax).max(min_sf);
        scales.push(sc);
        if out == DType::I8 {
            let inv = 1.0 / sc;
            q.extend(y.iter().map(|v| DType::I8.round(v * inv)));
        } else {
            q.extend(y.iter().map(|v| fp8(v / sc)));
        }
    }
    let residual_out = residual.map(|_| sum.iter().map(|v| t.round(*v)).collect());
    (q, scales, residual_out)
}

fn silu(a: f32) -> f32 {
    a / (1.0 + (-a).exp())
}

/// `silu_and_mul` on rows of `2d`: `rT(rT(silu(a)) * b)`.
pub fn silu_and_mul(x: &[f32], two_d: usize, t: DType) -> Vec<f32> {
    let d = two_d / 2;
    let mut out = Vec::with_capacity(x.len() / 2);
    for row in x.chunks(two_d) {
        out.extend((0..d).map(|j| t.round(t.round(silu(row[j])) * row[d + j])));
    }
    out
}

/// `silu_and_mul_quant`: the same, then `fp8(v * (1/scale))`.
pub fn silu_and_mul_quant(x: &[f32], two_d: usize, scale: f32, t: DType) -> Vec<f32> {
    static_quant(&silu_and_mul(x, two_d, t), scale)
}

/// `per_token_group_fp8_quant`: one scale per group of `g` elements.
pub fn per_group_quant(x: &[f32], g: usize, eps: f32, fp8_min: f32, fp8_max: f32, ue8m0: bool) -> (Vec<f32>, Vec<f32>) {
    let mut q = Vec::with_capacity(x.len());
    let mut scales = Vec::new();
    for grp in x.chunks(g) {
        let amax = grp.iter().fold(eps, |m, v| m.max(v.abs()));
        let mut s = amax / fp8_max;
        if ue8m0 {
            s = ue8m0_scale(s);
        }
        scales.push(s);
        // `fminf(fmaxf(v / s, min), max)` as vLLM's kernel: NaN goes to `fp8_min`.
        q.extend(grp.iter().map(|v| crate::tensor::round_e4m3((v / s).max(fp8_min).min(fp8_max))));
    }
    (q, scales)
}

/// vLLM's UE8M0 group scale `2^ceil(log2(max(|s|, 1e-10)))`, computed
/// exactly on the bits: `s` itself when it is a power of two, else the next
/// power of two up (inf past the largest). vLLM evaluates it as
/// `exp2f(ceilf(log2f(..)))`; the two agree for every `s = amax / 448` with
/// a 16-bit `amax` (such an `s` is a power of two or at least 7e-5 away from
/// one, far beyond `log2f`'s rounding), which the numerics tests check for
/// every bf16 and f16 value.
pub fn ue8m0_scale(s: f32) -> f32 {
    let s = s.abs().max(1e-10);
    let bits = s.to_bits();
    if bits & 0x007f_ffff == 0 || bits >= 0x7f80_0000 { s } else { f32::from_bits((bits & 0x7f80_0000) + 0x0080_0000) }
}

/// Packed attention heads, as `fused_qk_norm_rope` reads them: per row
/// `num_heads_q` query, `num_heads_k` key and `num_heads_v` value heads of
/// `head_dim`.
#[derive(Clone, Copy, Debug)]
pub struct Heads {
    pub q: usize,
    pub k: usize,
    pub v: usize,
    pub dim: usize,
}

/// vLLM's `fused_qk_norm_rope` on rows of packed heads (returns the new
/// rows): each query and key head `x` becomes `x * (s * w)` in f32, `s =
/// rsqrt(mean(x^2) + eps)`, `w` its norm weight; then the rotary embedding
/// of its position (`rotary`, in f32) on the first `cache` row width of it;
/// then one rounding to T. Value heads are copied.
pub fn fused_qk_norm_rope(
    qkv: &[f32],
    heads: Heads,
    eps: f32,
    (qw, kw): (&[f32], &[f32]),
    (pos, cache, rot_dim): (&[f32], &[f32], usize),
    is_neox: bool,
    t: DType,
) -> Vec<f32> {
    let row = (heads.q + heads.k + heads.v) * heads.dim;
    let qk = (heads.q + heads.k) * heads.dim;
    let mut out = qkv.to_vec();
    if row == 0 {
        return out;
    }
    for (r, p) in out.chunks_mut(row).zip(pos) {
        for (i, head) in r[..qk].chunks_mut(heads.dim).enumerate() {
            let w = if i < heads.q { qw } else { kw };
            let s = inv_rms(head, eps);
            head.iter_mut().zip(w).for_each(|(x, w)| *x *= s * w);
            rotary(&[*p], head, cache, heads.dim, rot_dim, is_neox, DType::F32);
            head.iter_mut().for_each(|x| *x = t.round(*x));
        }
    }
    out
}

/// `rotary_embedding` in place on `q` (rows of heads × `head_size`) with the
/// cache row `[cos.., sin..]` of each position. Neox rotates halves,
/// GPT-J interleaved pairs; each output is computed in f32 and rounded to T.
pub fn rotary(pos: &[f32], q: &mut [f32], cache: &[f32], head_size: usize, rot_dim: usize, is_neox: bool, t: DType) {
    let tokens = pos.len();
    if tokens == 0 {
        return;
    }
    let per_token = q.len() / tokens;
    let half = rot_dim / 2;
    for (i, p) in pos.iter().enumerate() {
        let c = &cache[*p as usize * rot_dim..(*p as usize + 1) * rot_dim];
        for head in q[i * per_token..(i + 1) * per_token].chunks_mut(head_size) {
            for j in 0..half {
                let (a, b) = if is_neox { (j, j + half) } else { (2 * j, 2 * j + 1) };
                let (x, y) = (head[a], head[b]);
                let (cos, sin) = (c[j], c[half + j]);
                head[a] = t.round(x * cos - y * sin);
                head[b] = t.round(y * cos + x * sin);
            }
        }
    }
}

/// Elements that share one NVFP4 block scale.
pub const NVFP4_BLOCK: usize = 16;
/// The largest e2m1 magnitude.
pub const E2M1_MAX: f32 = 6.0;

/// `cvt.rn.satfinite.e2m1x2.f32` for one value: the 4-bit code (sign in bit
/// 3) of the nearest of ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}, ties to the even code,
/// saturated to ±6. NaN gives +6 (satfinite; e2m1 has no NaN).
pub fn e2m1(v: f32) -> u8 {
    if v.is_nan() {
        return 7;
    }
    let sign = if v.is_sign_negative() { 8 } else { 0 };
    let a = v.abs();
    // Midpoints between neighbouring magnitudes; at a tie the even code wins.
    let code = match a {
        a if a <= 0.25 => 0,
        a if a < 0.75 => 1,
        a if a <= 1.25 => 2,
        a if a < 1.75 => 3,
        a if a <= 2.5 => 4,
        a if a < 3.5 => 5,
        a if a <= 5.0 => 6,
        _ => 7,
    };
    sign | code
}

/// The value of an e2m1 code.
pub fn e2m1_value(code: u8) -> f32 {
    let m = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0][(code & 7) as usize];
    if code & 8 != 0 { -m } else { m }
}

/// Rows of the NVFP4 block-scale buffer: `round_up(rows, 128)`.
pub fn nvfp4_scale_rows(rows: usize) -> usize {
    rows.div_ceil(128) * 128
}

/// The byte offset of row `m`'s scale for block `k` (16 elements) in the FP4
/// GEMM's swizzled layout `[m / 128, k / 4, m % 32, (m / 32) % 4, k % 4]`,
/// with `ceil(n / 64)` tiles of 4 blocks along a row of `n` elements.
pub fn nvfp4_scale_offset(m: usize, k: usize, n: usize) -> usize {
    let k_tiles = n.div_ceil(64);
    ((m / 128) * k_tiles + k / 4) * 512 + (m % 32) * 16 + ((m / 32) % 4) * 4 + k % 4
}

/// vLLM's `scaled_fp4_quant` on rows of `n` elements (already rounded to the
/// activation type): per block of 16, `s = e4m3(g * (max|x| * (1/6)))`, then
/// each element `e2m1(x * (1 / (s * (1/g))))` (0 when `s` is 0).
///
/// Returns the packed values (`rows x n/2` bytes, the even element in the
/// low nibble) and the block scales as the `i32` words of
/// `[round_up(rows, 128), ceil(n / 64)]` (four e4m3 bytes each, little
/// endian), zero where no block is. The CUDA kernel's reciprocals are
/// `rcp.approx.ftz`; here they are rounded to nearest (docs/codegen-plan.md, NVFP4).
pub fn scaled_fp4_quant(x: &[f32], n: usize, global: f32) -> (Vec<f32>, Vec<f64>) {
    let (packed, sf) = nvfp4_blocks(x, n, global, nvfp4_scale_rows(x.len() / n) * n.div_ceil(64) * 4, |m, k| nvfp4_scale_offset(m, k, n));
    let words = sf.chunks(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect();
    (packed, words)
}

/// `scaled_fp4_quant` with vLLM main's `is_sf_swizzled_layout` false: the
/// same values, the block scales as row-major e4m3 bytes `[rows, n / 16]`.
pub fn scaled_fp4_quant_linear(x: &[f32], n: usize, global: f32) -> (Vec<f32>, Vec<f64>) {
    let blocks = n / NVFP4_BLOCK;
    let (packed, sf) = nvfp4_blocks(x, n, global, x.len() / n * blocks, |m, k| m * blocks + k);
    (packed, sf.into_iter().map(f64::from).collect())
}

/// The NVFP4 quant of rows of `n` elements: the packed values and
/// `scale_bytes` e4m3 block-scale bytes, row `m`'s block `k` at `at(m, k)`.
fn nvfp4_blocks(x: &[f32], n: usize, global: f32, scale_bytes: usize, at: impl Fn(usize, usize) -> usize) -> (Vec<f32>, Vec<u8>) {
    let blocks = n / NVFP4_BLOCK;
    let mut packed = Vec::with_capacity(x.len() / 2);
    let mut sf = vec![0u8; scale_bytes];
    let inv_global = 1.0 / global;
    for (m, row) in x.chunks(n).enumerate() {
        for (k, block) in row.chunks(NVFP4_BLOCK).enumerate().take(blocks) {
            // `__hmax` ignores a NaN operand, as f32::max does (an all-NaN block is NaN).
            let vmax = block.iter().map(|v| v.abs()).reduce(f32::max).unwrap_or(0.0);
            let s = global * (vmax * (1.0 / E2M1_MAX));
            // `__nv_fp8_e4m3(s)`: round to nearest even, saturating to 448 (NaN stays NaN).
            let s8 = if s.is_nan() { s } else { crate::tensor::round_e4m3(s.min(FP8_MAX)) };
            sf[at(m, k)] = float8::F8E4M3::from_f32(s8).to_bits();
            let out_scale = if s8 != 0.0 { 1.0 / (s8 * inv_global) } else { 0.0 };
            for pair in block.chunks(2) {
                let lo = e2m1(pair[0] * out_scale);
                let hi = e2m1(pair.get(1).copied().unwrap_or(0.0) * out_scale);
                packed.push((lo | hi << 4) as f32);
            }
        }
    }
    (packed, sf)
}

/// vLLM's `silu_and_mul_nvfp4_quant`: `silu_and_mul` (rounded to `t`, as
/// vLLM's kernel rounds the SiLU and the product), then `scaled_fp4_quant`.
/// The CUDA kernel's `__expf`/`__fdividef` may differ in the last bit.
pub fn silu_and_mul_nvfp4_quant(x: &[f32], two_d: usize, global: f32, t: DType) -> (Vec<f32>, Vec<f64>) {
    scaled_fp4_quant(&silu_and_mul(x, two_d, t), two_d / 2, global)
}
