//! Kernels: every kernel crates/codegen generates against the §10
//! reference in crates/interp, on rows with NaN, ±inf, denormals, zeros and
//! saturating values: the host twins bit for bit, the PTX itself in the PTX
//! simulator (every thread, the manifest's launch), strided input rows
//! against packed ones, and the arithmetic the kernels rely on (the fma
//! divisions, SiLU's fast path, `rsqrt.approx`'s effect, UE8M0 scales)
//! proven over its whole domain or measured. The graph-level numerics
//! (fusions before and after) are in numerics.rs.
use crate::numerics::kernel_rows;
use libtest_mimic::Failed;
use vllm_interp::{DType, SplitMix64};

pub const TESTS: &[crate::RustTest] = &[
    ("kernels::host_kernels_match_the_reference", host_kernels_match_the_reference),
    ("kernels::gpu_kernels_match_the_reference_in_the_ptx_simulator", gpu_kernels_match_the_reference_in_the_ptx_simulator),
    ("kernels::strided_input_rows_read_as_packed", strided_input_rows_read_as_packed),
    ("kernels::rsqrt_approximation_effect_is_bounded", rsqrt_approximation_effect_is_bounded),
    ("kernels::every_arch_computes_the_same_bytes", every_arch_computes_the_same_bytes),
    ("kernels::ue8m0_scale_agrees_with_vllms_log2_for_16_bit_inputs", ue8m0_scale_agrees_with_vllms_log2_for_16_bit_inputs),
    ("kernels::fma_divisions_are_ieee", fma_divisions_are_ieee),
    ("kernels::qk_norm_rope_kernel_matches_the_reference", qk_norm_rope_kernel_matches_the_reference),
    ("kernels::silu_fast_path_division_is_ieee_in_its_range", silu_fast_path_division_is_ieee_in_its_range),
    ("kernels::silu_fast_path_kernels_compute_the_default_bytes", silu_fast_path_kernels_compute_the_default_bytes),
    ("kernels::persistent_max_kernel_reads_every_chunk_once", persistent_max_kernel_reads_every_chunk_once),
];

/// 16-bit activations with every NaN replaced by one pattern.
fn canon_nan16(b: &[u8], dt: DType) -> Vec<u8> {
    let bf16 = dt == DType::BF16;
    let nan = if bf16 { 0x7fc0u16 } else { 0x7e00 };
    b.chunks(2)
        .flat_map(|c| {
            let v = u16::from_le_bytes([c[0], c[1]]);
            (if is_nan16(v, bf16) { nan } else { v }).to_le_bytes()
        })
        .collect()
}

/// Whether the bits `v` of a bf16 (else f16) are a NaN.
fn is_nan16(v: u16, bf16: bool) -> bool {
    let exp = if bf16 { 0x7f80u16 } else { 0x7c00 };
    v & exp == exp && v & !(exp | 0x8000) != 0
}

fn to_bits16(v: &[f32], dt: DType) -> Vec<u8> {
    v.iter().flat_map(|x| (dt.bits(*x) as u16).to_le_bytes()).collect()
}

/// The bytes a kernel buffer holds for `v` of type `out`.
fn encode(v: &[f32], out: &str, dt: DType) -> Vec<u8> {
    match out {
        "f8E4M3FN" => v.iter().map(|x| DType::F8E4M3FN.bits(*x) as u8).collect(),
        "i8" => v.iter().map(|x| DType::I8.round(*x) as i8 as u8).collect(),
        "f32" => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        _ => to_bits16(v, dt),
    }
}

const F8: &str = "f8E4M3FN";

/// One kernel variant the numerics tests run: op, residual, output type,
/// row width, rows, activation type (and its name), group size, `scale_ub`,
/// group-scale layout.
type KernelCase = (&'static str, bool, &'static str, u64, usize, DType, &'static str, Option<u64>, Option<f32>, vllm_codegen::GroupScales);

/// Every kernel variant: each kind, both activation types, the pair path
/// (rows not a multiple of 8), small rows, `scale_ub`, the group sizes and
/// the group-scale layouts.
fn kernel_cases() -> Vec<KernelCase> {
    let plain = vllm_codegen::GroupScales::default();
    let (ue8m0, colmajor) = (
        vllm_codegen::GroupScales { ue8m0: true, ..Default::default() },
        vllm_codegen::GroupScales { transposed: true, ..Default::default() },
    );
    let tma = vllm_codegen::GroupScales { transposed: true, tma: true, ..Default::default() };
    let cases = [
        ("vllm.rms_norm_static_fp8_quant", false, F8, 4096u64, 256usize, DType::BF16, "bf16", None, None),
        ("vllm.fused_add_rms_norm_static_fp8_quant", true, F8, 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.rms_norm_static_fp8_quant", false, F8, 5120, 200, DType::F16, "f16", None, None),
        ("vllm.fused_add_rms_norm_static_fp8_quant", true, F8, 64, 512, DType::F16, "f16", None, None),
        ("vllm.rms_norm_dynamic_per_token_quant", false, F8, 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.rms_norm_dynamic_per_token_quant", true, F8, 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.rms_norm_dynamic_per_token_quant", true, F8, 128, 512, DType::F16, "f16", None, None),
        ("vllm.rms_norm_dynamic_per_token_quant", false, "i8", 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.rms_norm_dynamic_per_token_quant", true, "i8", 2048, 512, DType::F16, "f16", None, None),
        ("vllm.silu_and_mul_quant", false, F8, 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.silu_and_mul_quant", false, F8, 1024, 64, DType::F16, "f16", None, None),
        // Llama's d: few rows split over 14 CTAs each (the row is ctaid / 14).
        ("vllm.silu_and_mul_quant", false, F8, 14336, 64, DType::BF16, "bf16", None, None),
        ("vllm.rms_norm", false, "bf16", 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.fused_add_rms_norm", true, "f16", 4096, 256, DType::F16, "f16", None, None),
        ("vllm.silu_and_mul", false, "bf16", 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.static_scaled_fp8_quant", false, F8, 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.dynamic_per_token_scaled_fp8_quant", false, F8, 4096, 256, DType::F16, "f16", None, None),
        // Rows that are not a multiple of 8 take the pair-wise (4-byte) path.
        ("vllm.rms_norm_dynamic_per_token_quant", true, F8, 66, 64, DType::BF16, "bf16", None, None),
        ("vllm.silu_and_mul_quant", false, F8, 90, 64, DType::F16, "f16", None, None),
        ("vllm.fused_add_rms_norm", true, "bf16", 66, 64, DType::BF16, "bf16", None, None),
        ("vllm.dynamic_per_token_scaled_fp8_quant", false, F8, 90, 64, DType::BF16, "bf16", None, None),
        // Pair path with several chunks per thread, the last one guarded (2050
        // chunks: no block of whole warps divides them).
        ("vllm.rms_norm_dynamic_per_token_quant", true, F8, 4100, 64, DType::BF16, "bf16", None, None),
        ("vllm.rms_norm", false, "f16", 4100, 64, DType::F16, "f16", None, None),
        // Rows too long for the register form (64K elements: 8 chunks a
        // thread at most) loop on the GPU too, reducing by gpu.all_reduce.
        ("vllm.rms_norm_dynamic_per_token_quant", false, F8, 65536, 32, DType::BF16, "bf16", None, None),
        ("vllm.fused_add_rms_norm_static_fp8_quant", true, F8, 65536, 32, DType::F16, "f16", None, None),
        ("vllm.rms_norm_per_block_quant", false, F8, 131072, 16, DType::BF16, "bf16", Some(128), None),
        // Small rows: also run in the GPU's register form.
        ("vllm.rms_norm_static_fp8_quant", false, F8, 256, 256, DType::BF16, "bf16", None, None),
        ("vllm.rms_norm", false, "f16", 200, 128, DType::F16, "f16", None, None),
        ("vllm.rms_norm_dynamic_per_token_quant", false, "i8", 256, 256, DType::BF16, "bf16", None, None),
        // The per-tensor dynamic quant's scale kernel (the quant is the static kernel).
        ("vllm.dynamic_scaled_fp8_quant", false, F8, 4096, 256, DType::BF16, "bf16", None, None),
        ("vllm.dynamic_scaled_fp8_quant", false, F8, 90, 64, DType::F16, "f16", None, None),
        // scale_ub: the row max clamped (most rows here exceed 2.0).
        ("vllm.rms_norm_dynamic_per_token_quant", true, F8, 4096, 256, DType::BF16, "bf16", None, Some(2.0f32)),
        ("vllm.rms_norm_dynamic_per_token_quant", false, F8, 128, 256, DType::F16, "f16", None, Some(2.0)),
        ("vllm.dynamic_per_token_scaled_fp8_quant", false, F8, 4096, 256, DType::BF16, "bf16", None, Some(1.5)),
        // Per-group (DeepSeek-style 1x128 and 1x64 groups).
        ("vllm.per_token_group_fp8_quant", false, F8, 4096, 256, DType::BF16, "bf16", Some(128), None),
        ("vllm.per_token_group_fp8_quant", false, F8, 2048, 256, DType::F16, "f16", Some(64), None),
        ("vllm.rms_norm_per_block_quant", false, F8, 4096, 256, DType::BF16, "bf16", Some(128), None),
        ("vllm.rms_norm_per_block_quant", true, F8, 7168, 128, DType::BF16, "bf16", Some(128), None),
        ("vllm.rms_norm_per_block_quant", true, F8, 2048, 256, DType::F16, "f16", Some(64), None),
        ("vllm.silu_and_mul_per_block_quant", false, F8, 4096, 256, DType::BF16, "bf16", Some(128), None),
    ];
    // The per-group scale variants: UE8M0 (per_token_group_fp8_quant's
    // `scale_ue8m0`), column-major (rms_norm_per_block_quant's
    // `is_scale_transposed`), both, and each on the other group kinds.
    let both = vllm_codegen::GroupScales { ue8m0: true, transposed: true, tma: false };
    let variants = [
        (("vllm.per_token_group_fp8_quant", false, F8, 4096u64, 256usize, DType::BF16, "bf16", Some(128u64), None), ue8m0),
        (("vllm.per_token_group_fp8_quant", false, F8, 2048, 200, DType::F16, "f16", Some(64), None), both),
        (("vllm.rms_norm_per_block_quant", true, F8, 4096, 256, DType::BF16, "bf16", Some(128), None), colmajor),
        (("vllm.rms_norm_per_block_quant", false, F8, 2048, 200, DType::F16, "f16", Some(64), None), both),
        (("vllm.silu_and_mul_per_block_quant", false, F8, 4096, 256, DType::BF16, "bf16", Some(128), None), ue8m0),
        (("vllm.silu_and_mul_per_block_quant", false, F8, 2048, 128, DType::BF16, "bf16", Some(128), None), colmajor),
        // TMA-padded column-major scales (vLLM main's DeepGEMM layout), with
        // row counts that are not a multiple of 4: the padding stays unwritten.
        (("vllm.per_token_group_fp8_quant", false, F8, 2048, 201, DType::BF16, "bf16", Some(128), None), tma),
        (("vllm.rms_norm_per_block_quant", true, F8, 4096, 130, DType::BF16, "bf16", Some(128), None), tma),
        (("vllm.rms_norm_per_block_quant", false, F8, 2048, 201, DType::F16, "f16", Some(64), None), tma),
    ];
    cases
        .into_iter()
        .map(|c| (c, plain))
        .chain(variants)
        .map(|((op, residual, out, h, rows, dt, elem, group, ub), scales)| (op, residual, out, h, rows, dt, elem, group, ub, scales))
        .collect()
}

/// The kernel crates/codegen generates for a case.
fn case_kernel(case: &KernelCase) -> Result<vllm_codegen::Kernel, Failed> {
    let &(op, residual, out, h, _, _, elem, group, ub, scales) = case;
    vllm_codegen::kernel_for(op, h, elem, residual, out, group, ub.is_some())
        .and_then(|k| k.with_scales(scales))
        .ok_or_else(|| format!("no kernel for {op} {out} {scales:?}").into())
}

/// A case's inputs and, from the §10 reference in crates/interp, the bytes
/// each buffer must hold after the kernel ran over `rows` rows.
struct Expected {
    x: Vec<f32>,
    r: Vec<f32>,
    w: Vec<f32>,
    want: Vec<(&'static str, Vec<u8>)>,
}

const KERNEL_SCALE: f32 = 0.0125;
const KERNEL_EPS: f32 = 1e-5;

fn expected(case: &KernelCase, rows: usize, rng: &mut SplitMix64) -> Result<Expected, Failed> {
    use vllm_interp::kernels as k;
    let &(op, residual, out, h, _, dt, _, group, ub, scales) = case;
    let hu = h as usize;
    let silu = op.starts_with("vllm.silu_and_mul");
    let round = |v: Vec<f32>| -> Vec<f32> { v.into_iter().map(|x| dt.round(x)).collect() };
    // SiLU-and-mul reads rows of 2d and writes rows of d.
    let mut x = round(kernel_rows(rows, if silu { 2 * hu } else { hu }, rng));
    if op == "vllm.dynamic_scaled_fp8_quant" {
        // One max over the whole tensor: an inf would make every scale inf.
        x.iter_mut().filter(|v| !v.is_finite()).for_each(|v| *v = 0.0);
    }
    let r = round((0..rows * hu).map(|_| 2.0 * rng.unit()).collect());
    let w = round((0..hu).map(|_| 1.0 + 0.5 * rng.unit()).collect());
    let (scale, eps) = (KERNEL_SCALE, KERNEL_EPS);
    let act = |v: &[f32]| encode(v, "", dt);
    let mut want: Vec<(&str, Vec<u8>)> = vec![("input", act(&x))];
    match op {
        "vllm.rms_norm" => want.push(("result", act(&k::rms_norm(&x, &w, eps, dt)))),
        "vllm.fused_add_rms_norm" => {
            let (o, z) = k::fused_add_rms_norm(&x, &r, &w, eps, dt);
            want = vec![("input", act(&o)), ("residual", act(&z))];
        }
        "vllm.rms_norm_static_fp8_quant" => want.push(("result", encode(&k::static_quant(&k::rms_norm(&x, &w, eps, dt), scale), F8, dt))),
        "vllm.fused_add_rms_norm_static_fp8_quant" => {
            let (o, z) = k::fused_add_rms_norm(&x, &r, &w, eps, dt);
            want.extend([("result", encode(&k::static_quant(&o, scale), F8, dt)), ("residual", act(&z))]);
        }
        "vllm.rms_norm_dynamic_per_token_quant" => {
            let qt = if out == "i8" { DType::I8 } else { DType::F8E4M3FN };
            let (q, s, z) = k::rms_norm_per_token_quant(&x, &w, eps, ub, residual.then_some(&r[..]), dt, qt);
            want.extend([("result", encode(&q, out, dt)), ("scale", encode(&s, "f32", dt))]);
            if let Some(z) = z {
                want.push(("residual", act(&z)));
            }
        }
        "vllm.static_scaled_fp8_quant" => want.push(("result", encode(&k::static_quant(&x, scale), F8, dt))),
        "vllm.dynamic_scaled_fp8_quant" => {
            let s = x.iter().fold(0.0f32, |a, v| a.max(v.abs())) / 448.0;
            want.push(("scale", encode(&[s], "f32", dt)));
        }
        "vllm.dynamic_per_token_scaled_fp8_quant" => {
            let (q, s) = k::per_token_quant(&x, hu, ub);
            want.extend([("result", encode(&q, F8, dt)), ("scale", encode(&s, "f32", dt))]);
        }
        "vllm.silu_and_mul" => want.push(("result", act(&k::silu_and_mul(&x, 2 * hu, dt)))),
        "vllm.silu_and_mul_quant" => want.push(("result", encode(&k::silu_and_mul_quant(&x, 2 * hu, scale, dt), F8, dt))),
        "vllm.per_token_group_fp8_quant" | "vllm.rms_norm_per_block_quant" | "vllm.silu_and_mul_per_block_quant" => {
            let g = group.unwrap_or(128) as usize;
            // The norm of the f32 sum (as the per-token kernel); the residual gets rT(sum).
            let sum: Vec<f32> = if residual { x.iter().zip(&r).map(|(a, b)| a + b).collect() } else { x.clone() };
            let y = match op {
                "vllm.rms_norm_per_block_quant" => k::rms_norm(&sum, &w, eps, dt),
                "vllm.silu_and_mul_per_block_quant" => k::silu_and_mul(&x, 2 * hu, dt),
                _ => x.clone(),
            };
            let (q, mut s) = k::per_group_quant(&y, g, 1e-10, -448.0, 448.0, scales.ue8m0);
            if scales.transposed {
                // [rows, H/G] -> [H/G, rows], or [H/G, round_up(rows, 4)] for TMA (the padding unwritten: zero).
                let (per, padded) = (hu / g, if scales.tma { rows.div_ceil(4) * 4 } else { rows });
                s = (0..per * padded).map(|i| if i % padded < rows { s[(i % padded) * per + i / padded] } else { 0.0 }).collect();
            }
            let (qn, sn) = match op {
                "vllm.per_token_group_fp8_quant" => ("output_q", "output_s"),
                "vllm.silu_and_mul_per_block_quant" => ("result", "scales"),
                _ => ("result", "scale"),
            };
            want.extend([(qn, encode(&q, F8, dt)), (sn, encode(&s, "f32", dt))]);
            if residual {
                want.push(("residual", act(&sum)));
            }
        }
        other => return Err(format!("no reference for {other}").into()),
    }
    Ok(Expected { x, r, w, want })
}

/// The buffers of `kernel`'s pointer parameters before a launch over
/// `rows`: inputs as given, outputs zeroed.
fn kernel_buffers(kernel: &vllm_codegen::Kernel, e: &Expected, rows: usize, ub: Option<f32>, dt: DType) -> Vec<(&'static str, Vec<u8>)> {
    let act = |v: &[f32]| encode(v, "", dt);
    kernel
        .params
        .iter()
        .filter(|p| p.kind == "ptr")
        .map(|p| {
            let n = kernel.bytes(p, rows);
            (
                p.name,
                match p.name {
                    "input" => act(&e.x),
                    "residual" => act(&e.r),
                    "weight" => act(&e.w),
                    "scale_ub" => ub.unwrap_or(f32::INFINITY).to_le_bytes().to_vec(),
                    "scale" if n == 4 && kernel.then(None).is_none() => KERNEL_SCALE.to_le_bytes().to_vec(),
                    _ => vec![0u8; n],
                },
            )
        })
        .collect()
}

/// Every kernel's host twin against the §10 reference in crates/interp, on
/// rows with NaN, ±inf, denormals, zeros and saturating values: every buffer
/// the kernel writes must be bit-identical (and what it must not write,
/// untouched).
fn host_kernels_match_the_reference() -> Result<(), Failed> {
    let mut rng = SplitMix64(42);
    let mut report = Vec::new();
    for case in kernel_cases() {
        let (_, _, _, h, rows, dt, elem, _, ub, _) = case;
        let kernel = case_kernel(&case)?;
        let e = expected(&case, rows, &mut rng)?;
        // The loop form; for small rows also the GPU's register form (one
        // thread per row here), which checks its chunking.
        // The persistent form's host twin is the register form with the
        // row count as a last (i32) parameter: its ABI through the host.
        let mut forms = vec![(kernel.clone(), vllm_codegen::Form::Loops)];
        if kernel.row_in_registers() && h <= 512 {
            forms.push((kernel.clone(), vllm_codegen::Form::Registers));
            if let Some(p) = kernel.clone().persistent() {
                forms.push((p, vllm_codegen::Form::Registers));
            }
        }
        let (mut checked, mut done) = (0, Vec::new());
        for (kernel, form) in forms {
            let mut bufs = kernel_buffers(&kernel, &e, rows, ub, dt);
            vllm_codegen::run_on_host_in(
                &kernel,
                vllm_codegen::HostCall {
                    buffers: bufs.iter_mut().map(|(n, b)| (*n, &mut b[..])).collect(),
                    epsilon: KERNEL_EPS,
                    rows,
                    input_stride: None,
                },
                form,
            )?;
            for (name, expect) in &e.want {
                let got = &bufs.iter().find(|(n, _)| n == name).ok_or_else(|| format!("{}: no '{name}' buffer", kernel.name))?.1;
                // A 16-bit NaN's sign and payload are not specified by IEEE
                // arithmetic (x86 and the GPU differ): NaN matches any NaN.
                let is_act = kernel.params.iter().any(|p| p.name == *name && p.elem == elem);
                let (got, expect) = if is_act { (canon_nan16(got, dt), canon_nan16(expect, dt)) } else { (got.clone(), expect.clone()) };
                let diff = got.iter().zip(&expect).filter(|(a, b)| a != b).count();
                if diff != 0 || got.len() != expect.len() {
                    let i = got.iter().zip(&expect).position(|(a, b)| a != b).unwrap_or(0);
                    return Err(format!(
                        "{} ({form:?}): '{name}': {diff} of {} bytes differ from the reference; first at byte {i}: {:#04x} vs {:#04x}",
                        kernel.name,
                        got.len(),
                        got[i],
                        expect[i]
                    )
                    .into());
                }
                checked += got.len();
            }
            done.push(if kernel.persistent { format!("{form:?}, persistent") } else { format!("{form:?}") });
        }
        report.push(format!("{} x {rows} ({}): {checked} bytes in {} buffers bit-identical", kernel.name, done.join(", "), e.want.len()));
    }
    eprintln!("{}", report.join("\n"));
    Ok(())
}

/// Rows each kernel runs for in the PTX simulator (every row kind of
/// `kernel_rows` twice).
const PTX_ROWS: usize = 16;

/// The CTAs a persistent kernel's simulated launch may use (as if the GPU
/// held that many at once): 16 rows over 5 CTAs, so CTAs walk 3 and 4 rows,
/// both reduction slots are reused, and the next-row loads run past the last
/// row.
const SIM_RESIDENT: u64 = 5;

/// How far apart two stored values of type `elem` are: representable steps
/// for 8- and 16-bit types, relative difference for f32; infinite when only
/// one is NaN, or for zeros of opposite signs (no rounding step moves a
/// value across zero, so only a wrong sign does). A 16-bit NaN matches any
/// NaN.
fn distance(elem: &str, a: &[u8], b: &[u8]) -> Vec<f64> {
    let ordinal = |v: i64, sign: i64| if v & sign != 0 { -(v & (sign - 1)) } else { v };
    let signed_zeros = |x: i64, y: i64, sign: i64| x != y && x & (sign - 1) == 0 && y & (sign - 1) == 0;
    match elem {
        "f8E4M3FN" => a
            .iter()
            .zip(b)
            .map(|(x, y)| match (x & 0x7f == 0x7f, y & 0x7f == 0x7f) {
                (false, false) if signed_zeros(*x as i64, *y as i64, 0x80) => f64::INFINITY,
                (false, false) => (ordinal(*x as i64, 0x80) - ordinal(*y as i64, 0x80)).abs() as f64,
                (nx, ny) => {
                    if nx && ny {
                        0.0
                    } else {
                        f64::INFINITY
                    }
                }
            })
            .collect(),
        "i8" => a.iter().zip(b).map(|(x, y)| (*x as i8 as f64 - *y as i8 as f64).abs()).collect(),
        "f32" => a
            .chunks(4)
            .zip(b.chunks(4))
            .map(|(x, y)| {
                let (x, y) = (f32::from_le_bytes([x[0], x[1], x[2], x[3]]), f32::from_le_bytes([y[0], y[1], y[2], y[3]]));
                if x.to_bits() == y.to_bits() { 0.0 } else { ((x - y).abs() / y.abs()) as f64 }
            })
            .map(|d| if d.is_nan() { f64::INFINITY } else { d })
            .collect(),
        _ => {
            let bf16 = elem == "bf16";
            a.chunks(2)
                .zip(b.chunks(2))
                .map(|(x, y)| {
                    let (x, y) = (u16::from_le_bytes([x[0], x[1]]), u16::from_le_bytes([y[0], y[1]]));
                    match (is_nan16(x, bf16), is_nan16(y, bf16)) {
                        (false, false) if signed_zeros(x as i64, y as i64, 0x8000) => f64::INFINITY,
                        (false, false) => (ordinal(x as i64, 0x8000) - ordinal(y as i64, 0x8000)).abs() as f64,
                        (nx, ny) => {
                            if nx && ny {
                                0.0
                            } else {
                                f64::INFINITY
                            }
                        }
                    }
                })
                .collect()
        }
    }
}

/// Runs `kernel`'s PTX (for sm_90) in crates/ptx-sim over `rows` rows with
/// the block the manifest gives, on `bufs` (by parameter name).
fn simulate(kernel: &vllm_codegen::Kernel, bufs: &mut [(&'static str, Vec<u8>)], rows: usize) -> Result<vllm_ptx_sim::Stats, Failed> {
    simulate_for(kernel, "sm_90", bufs, rows)
}

/// `simulate` with the PTX lowered for `arch`.
fn simulate_for(
    kernel: &vllm_codegen::Kernel,
    arch: &str,
    bufs: &mut [(&'static str, Vec<u8>)],
    rows: usize,
) -> Result<vllm_ptx_sim::Stats, Failed> {
    simulate_strided(kernel, arch, bufs, rows, kernel.hidden)
}

/// `simulate_for` with the input's rows `input_stride` elements apart (for
/// the kernels that take an `input_stride`).
fn simulate_strided(
    kernel: &vllm_codegen::Kernel,
    arch: &str,
    bufs: &mut [(&'static str, Vec<u8>)],
    rows: usize,
    input_stride: u64,
) -> Result<vllm_ptx_sim::Stats, Failed> {
    let ptx = vllm_codegen::ptx(kernel, arch)?;
    let sim = vllm_ptx_sim::parse(&ptx, &kernel.name)?;
    let grid = kernel.grid_resident(rows as u64, SIM_RESIDENT);
    let launch = vllm_ptx_sim::Launch { grid: grid as u32, block: kernel.block(Some(rows as u64)) as u32 };
    let mut by_name: Vec<(&str, Option<&mut Vec<u8>>)> = bufs.iter_mut().map(|(n, b)| (*n, Some(b))).collect();
    let mut args = Vec::new();
    for p in &kernel.params {
        args.push(match p.kind {
            "ptr" => vllm_ptx_sim::Arg::Buf(
                by_name
                    .iter_mut()
                    .find(|(n, _)| *n == p.name)
                    .and_then(|(_, b)| b.take())
                    .ok_or_else(|| format!("no buffer for {}", p.name))?,
            ),
            "i32" => vllm_ptx_sim::Arg::I32(rows as i32),
            "i64" => vllm_ptx_sim::Arg::I64(input_stride as i64),
            _ => vllm_ptx_sim::Arg::F32(KERNEL_EPS),
        });
    }
    Ok(vllm_ptx_sim::run(&sim, launch, &mut args)?)
}

/// Checks the simulated global traffic of a kernel over `rows` rows (of
/// `row` input elements) and describes it: every output byte is stored
/// exactly once (the per-tensor scale kernel's atomic max aside); the row
/// buffers (input, residual, result) move whole 32-byte sectors when their
/// rows are a multiple of 32 bytes (16-byte lanes, warp-contiguous); and the
/// input (and residual) row is read exactly once, except by a norm whose
/// row is too long for registers (once per pass of its loop form).
fn traffic(kernel: &vllm_codegen::Kernel, stats: &vllm_ptx_sim::Stats, rows: usize, row: u64) -> Result<String, Failed> {
    let (mut notes, mut rereads) = (Vec::new(), Vec::new());
    for (p, t) in kernel.params.iter().zip(&stats.buffers).filter(|(p, _)| p.kind == "ptr") {
        let bytes = kernel.bytes(p, rows) as u64;
        let access = kernel.access(p);
        let size = match p.elem.as_str() {
            "f8E4M3FN" | "i8" => 1,
            "f32" => 4,
            _ => 2,
        };
        let is_row = matches!(p.name, "input" | "residual" | "result" | "output_q");
        let width = if p.name == "input" { row } else { kernel.hidden };
        let full_sectors = is_row && (width * size).is_multiple_of(32);
        let what = format!("{} '{}'", kernel.name, p.name);
        if access.contains("write") && kernel.then(None).is_none() && t.store_bytes != bytes {
            return Err(format!("{what}: {} bytes stored, {bytes} to write", t.store_bytes).into());
        }
        if full_sectors && (t.load_sectors * 32 != t.load_bytes || t.store_sectors * 32 != t.store_bytes) {
            return Err(format!(
                "{what}: partial sectors: loads {} B in {} sectors, stores {} B in {} sectors",
                t.load_bytes, t.load_sectors, t.store_bytes, t.store_sectors
            )
            .into());
        }
        // Rows too long for registers (`row_in_registers` false for a norm
        // kind) loop, one read per pass: at most 3 (sum, max, quantize).
        let loops = kernel.threads.is_none() && (kernel.op.contains("rms_norm") || kernel.op.contains("per_token"));
        let reads = if loops { 1..=3 } else { 1..=1 };
        if matches!(p.name, "input" | "residual") && access.contains("read") {
            let passes = t.load_bytes / bytes.max(1);
            if !t.load_bytes.is_multiple_of(bytes.max(1)) || !reads.contains(&passes) {
                return Err(format!("{what}: {} bytes loaded from a {bytes}-byte buffer: the row must be read once", t.load_bytes).into());
            }
            if passes > 1 {
                rereads.push(format!("; {} read {passes} times (loop form)", p.name));
            }
        }
        if is_row {
            let eff = (t.load_bytes + t.store_bytes) as f64 / (32 * (t.load_sectors + t.store_sectors)).max(1) as f64;
            notes.push(format!("{} {:.0}%", p.name, 100.0 * eff));
        }
    }
    Ok(format!("sectors used: {}{}", notes.join(" "), rereads.concat()))
}

/// The PTX that goes to the GPU, run by crates/ptx-sim with every thread of
/// each CTA (block reductions, group butterflies, barriers, the row split
/// over the block, the parameter order), launched as the manifest says for
/// 16 tokens, against the same reference as the host twins. Bit-identical
/// where the kernel neither sums nor takes `exp` (a max is the same in any
/// order). Elsewhere the block sum adds in another order than the
/// reference, and SiLU's `2^(x·log2 e)` is not `exp(x)` rounded once: within
/// one step for 8-bit outputs, two for 16-bit ones (one step of the product
/// times a weight up to 1.5), 2^-7 relative for f32 scales (one 16-bit step
/// of a row's max); the fraction that differs is reported. The simulator
/// computes `rsqrt.approx` exactly; its own error is measured by
/// `rsqrt_approximation_effect_is_bounded`.
fn gpu_kernels_match_the_reference_in_the_ptx_simulator() -> Result<(), Failed> {
    let mut rng = SplitMix64(7);
    let mut report = Vec::new();
    for case in kernel_cases() {
        let (op, _, _, _, _, dt, _, _, ub, _) = case;
        let rows = PTX_ROWS;
        let e = expected(&case, rows, &mut rng)?;
        // The kernel compiled for 16 tokens and, for the register-form
        // kernels, the one for many tokens (fewer threads, several chunks
        // each), both launched over the 16 rows.
        let base = case_kernel(&case)?;
        let mut variants = vec![base.clone().for_tokens(Some(rows as u64))];
        let many = base.for_tokens(None);
        if many.name != variants[0].name {
            variants.push(many.clone());
        }
        // The persistent form, where the kind has one (`SIM_RESIDENT` CTAs).
        variants.extend(many.persistent());
        for kernel in variants {
            let mut bufs = kernel_buffers(&kernel, &e, rows, ub, dt);
            let block = kernel.block(Some(rows as u64));
            let stats = simulate(&kernel, &mut bufs, rows)?;
            let exact = matches!(
                op,
                "vllm.static_scaled_fp8_quant"
                    | "vllm.dynamic_per_token_scaled_fp8_quant"
                    | "vllm.dynamic_scaled_fp8_quant"
                    | "vllm.per_token_group_fp8_quant"
            );
            let mut notes = Vec::new();
            for (name, expect) in &e.want {
                let got = &bufs.iter().find(|(n, _)| n == name).ok_or_else(|| format!("{}: no '{name}' buffer", kernel.name))?.1;
                let p = kernel.params.iter().find(|p| p.name == *name).ok_or_else(|| format!("{}: no parameter '{name}'", kernel.name))?;
                let d = distance(&p.elem, got, expect);
                let limit = match p.elem.as_str() {
                    _ if exact => 0.0,
                    "f8E4M3FN" | "i8" => 1.0,
                    "f32" => 1.0 / 128.0,
                    _ => 2.0,
                };
                let differ = d.iter().filter(|x| **x > 0.0).count();
                let worst = d.iter().cloned().fold(0.0, f64::max);
                if got.len() != expect.len() || worst > limit {
                    let i = d.iter().position(|x| *x > limit).unwrap_or(0);
                    return Err(format!(
                        "{} (PTX, T={rows}, block {block}): '{name}': {differ} of {} values differ, element {i} by {} (limit {limit})",
                        kernel.name,
                        d.len(),
                        d[i]
                    )
                    .into());
                }
                notes.push(if differ == 0 { format!("{name} identical") } else { format!("{name} {differ}/{} within {worst}", d.len()) });
            }
            if let Some(then) = kernel.then(Some(rows as u64)) {
                // The per-tensor quant's second launch, on the scale the first
                // one wrote: the whole op against `static_quant(x, max|x|/448)`.
                let s = e
                    .want
                    .iter()
                    .find(|(n, _)| *n == "scale")
                    .map(|(_, b)| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or("no reference scale")?;
                let want = encode(&vllm_interp::kernels::static_quant(&e.x, s), F8, dt);
                bufs.push(("result", vec![0; want.len()]));
                simulate(&then, &mut bufs, rows)?;
                if bufs.last().map(|(_, b)| b) != Some(&want) {
                    return Err(
                        format!("{} then {}: the quantized result differs from static_quant(x, {s:e})", kernel.name, then.name).into()
                    );
                }
                notes.push(format!("then {}: result identical", then.name));
            }
            notes.push(traffic(&kernel, &stats, rows, kernel.hidden * if op.starts_with("vllm.silu_and_mul") { 2 } else { 1 })?);
            report.push(format!(
                "{} T={rows} block {block} grid {}: {}; {} instructions",
                kernel.name,
                kernel.grid_resident(rows as u64, SIM_RESIDENT),
                notes.join(", "),
                stats.instructions
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
    Ok(())
}

/// The kernels that take vLLM's `input_stride` (the norms and the static,
/// per-token and per-tensor quants: a row of a wider tensor, e.g.
/// DeepSeek's `q_c` in its fused projection) compute, on input rows that
/// far apart, the bytes they compute on the same rows packed (which
/// `host_kernels_match_the_reference` and the PTX simulator test check
/// against the reference), and neither read nor write the elements between
/// the rows. Host twins in both forms and the persistent one; the PTX for
/// 16 and many tokens, persistent, split, and the loop form of a row too
/// long for registers.
fn strided_input_rows_read_as_packed() -> Result<(), Failed> {
    // 0x7b7b between the rows: 1.3e36 in bf16, 61280 in f16, above every
    // input, so a read of it moves a row's sum of squares, a row's or the
    // tensor's max (a NaN would not: the maxima drop NaN, as fmaxf).
    const GAP: u8 = 0x7b;
    let mut rng = SplitMix64(11);
    let colmajor = vllm_codegen::GroupScales { transposed: true, ..Default::default() };
    let cases = [
        ("vllm.rms_norm", false, "bf16", 4096u64, DType::BF16, "bf16", None, None, Default::default()),
        ("vllm.fused_add_rms_norm", true, "f16", 4096, DType::F16, "f16", None, None, Default::default()),
        ("vllm.fused_add_rms_norm", true, "bf16", 66, DType::BF16, "bf16", None, None, Default::default()),
        ("vllm.rms_norm_static_fp8_quant", false, F8, 200, DType::F16, "f16", None, None, Default::default()),
        ("vllm.fused_add_rms_norm_static_fp8_quant", true, F8, 256, DType::BF16, "bf16", None, None, Default::default()),
        ("vllm.fused_add_rms_norm_static_fp8_quant", true, F8, 65536, DType::F16, "f16", None, None, Default::default()),
        // The per-token and per-block norms (vLLM main's, for DeepSeek's q_a_layernorm + q_b_proj).
        ("vllm.rms_norm_dynamic_per_token_quant", false, F8, 4096, DType::BF16, "bf16", None, None, Default::default()),
        ("vllm.rms_norm_dynamic_per_token_quant", true, "i8", 256, DType::F16, "f16", None, None, Default::default()),
        ("vllm.rms_norm_dynamic_per_token_quant", true, F8, 66, DType::BF16, "bf16", None, Some(2.0f32), Default::default()),
        ("vllm.rms_norm_dynamic_per_token_quant", false, F8, 65536, DType::BF16, "bf16", None, None, Default::default()),
        ("vllm.rms_norm_per_block_quant", false, F8, 1536, DType::BF16, "bf16", Some(128u64), None, Default::default()),
        ("vllm.rms_norm_per_block_quant", true, F8, 256, DType::F16, "f16", Some(64), None, colmajor),
        ("vllm.rms_norm_per_block_quant", false, F8, 131072, DType::BF16, "bf16", Some(128), None, Default::default()),
        // The standalone static (split over CTAs for 16 rows) and per-token quants.
        ("vllm.static_scaled_fp8_quant", false, F8, 4096, DType::BF16, "bf16", None, None, Default::default()),
        ("vllm.static_scaled_fp8_quant", false, F8, 90, DType::F16, "f16", None, None, Default::default()),
        ("vllm.dynamic_per_token_scaled_fp8_quant", false, F8, 4096, DType::F16, "f16", None, None, Default::default()),
        ("vllm.dynamic_per_token_scaled_fp8_quant", false, F8, 4096, DType::BF16, "bf16", None, Some(1.5), Default::default()),
        // The per-tensor quant's max kernel (its persistent form walks the rows as one run of chunks).
        ("vllm.dynamic_scaled_fp8_quant", false, F8, 4096, DType::BF16, "bf16", None, None, Default::default()),
        ("vllm.dynamic_scaled_fp8_quant", false, F8, 90, DType::F16, "f16", None, None, Default::default()),
    ];
    let rows = PTX_ROWS;
    let mut report = Vec::new();
    for (op, residual, out, h, dt, elem, group, ub, scales) in cases {
        let case: KernelCase = (op, residual, out, h, rows, dt, elem, group, ub, scales);
        let base = case_kernel(&case)?;
        let e = expected(&case, rows, &mut rng)?;
        let stride = h + 3 * base.lanes();
        let (row_bytes, stride_bytes) = (2 * h as usize, 2 * stride as usize);
        // Row r of `packed` at r * stride elements, GAP between.
        let spread = |packed: &[u8]| {
            let mut b = vec![GAP; (rows - 1) * stride_bytes + row_bytes];
            for r in 0..rows {
                b[r * stride_bytes..][..row_bytes].copy_from_slice(&packed[r * row_bytes..][..row_bytes]);
            }
            b
        };
        // The rows back, packed, once the gaps are checked untouched.
        let gather = |b: &[u8], what: &str| -> Result<Vec<u8>, Failed> {
            if let Some(r) = (0..rows - 1).find(|r| b[r * stride_bytes + row_bytes..(r + 1) * stride_bytes].iter().any(|x| *x != GAP)) {
                return Err(format!("{what}: the gap after input row {r} was written").into());
            }
            Ok((0..rows).flat_map(|r| b[r * stride_bytes..][..row_bytes].to_vec()).collect())
        };
        // The same run with the input packed and strided; every buffer compared.
        let compare = |what: &str, packed: &[(&str, Vec<u8>)], strided: &[(&str, Vec<u8>)]| -> Result<(), Failed> {
            for ((name, a), (_, b)) in packed.iter().zip(strided) {
                let b = if *name == "input" { gather(b, what)? } else { b.clone() };
                if a != &b {
                    let i = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
                    return Err(format!("{what}: '{name}' differs from the run on packed rows at byte {i}").into());
                }
            }
            Ok(())
        };
        let with_strided_input = |bufs: &[(&'static str, Vec<u8>)]| {
            bufs.iter().map(|(n, b)| (*n, if *n == "input" { spread(b) } else { b.clone() })).collect::<Vec<_>>()
        };
        let mut done = Vec::new();
        // Host twins: the loop form; for small rows the register form and the persistent one.
        let mut forms = vec![(base.clone(), vllm_codegen::Form::Loops)];
        if base.row_in_registers() && h <= 512 {
            forms.push((base.clone(), vllm_codegen::Form::Registers));
            forms.extend(base.clone().persistent().map(|p| (p, vllm_codegen::Form::Registers)));
        }
        for (kernel, form) in forms {
            let mut runs = Vec::new();
            for input_stride in [None, Some(stride)] {
                let packed = kernel_buffers(&kernel, &e, rows, ub, dt);
                let mut bufs = if input_stride.is_some() { with_strided_input(&packed) } else { packed };
                let buffers = bufs.iter_mut().map(|(n, b)| (*n, &mut b[..])).collect();
                vllm_codegen::run_on_host_in(&kernel, vllm_codegen::HostCall { buffers, epsilon: KERNEL_EPS, rows, input_stride }, form)?;
                runs.push(bufs);
            }
            compare(&format!("{} ({form:?}, host)", kernel.name), &runs[0], &runs[1])?;
            done.push(format!("{}{form:?} host", if kernel.persistent { "persistent " } else { "" }));
        }
        // The PTX.
        let mut variants = vec![base.clone().for_tokens(Some(rows as u64))];
        let many = base.clone().for_tokens(None);
        if many.name != variants[0].name {
            variants.push(many.clone());
        }
        variants.extend(many.persistent());
        for kernel in variants {
            let mut packed = kernel_buffers(&kernel, &e, rows, ub, dt);
            let mut strided = with_strided_input(&packed);
            simulate(&kernel, &mut packed, rows)?;
            simulate_strided(&kernel, "sm_90", &mut strided, rows, stride)?;
            compare(&format!("{} (PTX)", kernel.name), &packed, &strided)?;
            done.push(format!("{} PTX", kernel.name));
        }
        // A stride the kernel cannot take is refused, not run.
        let mut bufs = with_strided_input(&kernel_buffers(&base, &e, rows, ub, dt));
        let buffers = bufs.iter_mut().map(|(n, b)| (*n, &mut b[..])).collect();
        let call = vllm_codegen::HostCall { buffers, epsilon: KERNEL_EPS, rows, input_stride: Some(stride + 1) };
        match vllm_codegen::run_on_host(&base, call) {
            Err(e) if e.contains(&format!("a multiple of {}", base.lanes())) => {}
            other => return Err(format!("{}: input_stride {}, not a multiple of its lanes: {other:?}", base.name, stride + 1).into()),
        }
        report.push(format!("{} x {rows}, input rows {stride} apart: as packed ({})", base.name, done.join(", ")));
    }
    // Kernels without the parameter (SiLU, the per-group quant) refuse a stride.
    let quant = vllm_codegen::kernel_for("vllm.silu_and_mul_quant", 4096, "bf16", false, F8, None, false).ok_or("no SiLU kernel")?;
    let input = quant.params.iter().find(|p| p.name == "input").ok_or("no input")?;
    if quant.span(input, rows, Some(4096 + 8)).is_ok() {
        return Err(format!("{}: takes no input_stride, yet one was accepted", quant.name).into());
    }
    eprintln!("{}", report.join("\n"));
    Ok(())
}

/// The GPU kernels use the hardware `rsqrt.approx` (CUDA's `rsqrtf`, at most
/// 2 ulp from `1/sqrt`), as vLLM does; the host twins and the reference use
/// the exact value. This measures what that difference does to RMSNorm's
/// outputs: the row scale moved by ±1 and ±2 ulp, then `rT(rT(x*s)*w)` and
/// the static FP8 quant. `rT(x*s)` may move by one bf16 step, the weighted
/// output by two (one step of the product, times `w` up to 1.5, can cross a
/// binade), the FP8 code by one; the fractions that move are printed for
/// docs/codegen-plan.md.
fn rsqrt_approximation_effect_is_bounded() -> Result<(), Failed> {
    let (rows, h, dt, eps, scale) = (256usize, 4096usize, DType::BF16, 1e-5f32, 0.0125f32);
    let mut rng = SplitMix64(7);
    let x: Vec<f32> = (0..rows * h).map(|_| dt.round(2.0 * rng.unit())).collect();
    let w: Vec<f32> = (0..h).map(|_| dt.round(1.0 + 0.5 * rng.unit())).collect();
    let inv = 1.0 / scale;
    // Distance in representable steps between two same-format codes.
    let steps = |a: u32, b: u32, sign_bit: u32| -> u32 {
        let ord = |v: u32| if v & sign_bit != 0 { -((v & !sign_bit) as i64) } else { v as i64 };
        ord(a).abs_diff(ord(b)) as u32
    };
    let mut report = Vec::new();
    for ulps in [-2i32, -1, 1, 2] {
        let (mut moved_y, mut moved_q, mut total) = (0usize, 0usize, 0usize);
        for row in x.chunks(h) {
            let var: f32 = row.iter().map(|v| v * v).sum();
            let s = 1.0 / (var / h as f32 + eps).sqrt();
            let s2 = f32::from_bits((s.to_bits() as i32 + ulps) as u32);
            for (xv, wv) in row.iter().zip(&w) {
                let (n, n2) = (dt.round(xv * s), dt.round(xv * s2));
                let (y, y2) = (dt.round(n * wv), dt.round(n2 * wv));
                let (q, q2) = (vllm_interp::tensor::fp8(y * inv), vllm_interp::tensor::fp8(y2 * inv));
                let dn = steps(dt.bits(n), dt.bits(n2), 0x8000);
                let dy = steps(dt.bits(y), dt.bits(y2), 0x8000);
                let dq = steps(DType::F8E4M3FN.bits(q), DType::F8E4M3FN.bits(q2), 0x80);
                if dn > 1 || dy > 2 || dq > 1 {
                    return Err(
                        format!("s off by {ulps} ulp moves x = {xv}: rT(x*s) by {dn}, the output by {dy} bf16 steps, FP8 by {dq}").into()
                    );
                }
                moved_y += (dy > 0) as usize;
                moved_q += (dq > 0) as usize;
                total += 1;
            }
        }
        report.push(format!(
            "rsqrt {ulps:+} ulp: {moved_y} of {total} bf16 rms_norm outputs move (by 1-2 steps), {moved_q} FP8 codes (by one step)"
        ));
    }
    eprintln!("{}", report.join("\n"));
    Ok(())
}

/// The kernels round a UE8M0 group scale up to a power of two on its bits
/// (`interp::kernels::ue8m0_scale`); vLLM computes
/// `exp2f(ceilf(log2f(max(s, 1e-10))))`, here with a correctly rounded
/// `log2f` (f64 `log2` rounded to f32). The two differ only where `log2f`
/// rounds a value just above a power of two down onto the integer, e.g.
/// `s = 2^-7 * (1 + 2^-23)`; `s = amax / 448` with a 16-bit `amax` is never
/// that close to a power of two. Checked for every finite bf16 and f16 `amax`.
fn ue8m0_scale_agrees_with_vllms_log2_for_16_bit_inputs() -> Result<(), Failed> {
    use vllm_interp::kernels::ue8m0_scale;
    let vllm = |s: f32| -> f32 { (((s.abs().max(1e-10) as f64).log2() as f32).ceil() as f64).exp2() as f32 };
    // Where they differ (so the comparison below can fail).
    let near = f32::from_bits(2f32.powi(-7).to_bits() + 1);
    if ue8m0_scale(near) != 2f32.powi(-6) || vllm(near) != 2f32.powi(-7) {
        return Err(format!("2^-7 * (1 + 2^-23): ours {:e}, vLLM-style {:e}", ue8m0_scale(near), vllm(near)).into());
    }
    let mut checked = 0;
    for (dt, bits) in [(DType::BF16, 0x7f80u32), (DType::F16, 0x7c00)] {
        for b in 0..bits {
            let amax = widen16(dt, b as u16);
            // The kernel's group max is at least its eps, 1e-10.
            let s = amax.max(1e-10) / 448.0;
            let (ours, theirs) = (ue8m0_scale(s), vllm(s));
            if ours.to_bits() != theirs.to_bits() {
                return Err(format!("{dt:?} amax {amax:e}: ue8m0 {ours:e}, vLLM-style {theirs:e}").into());
            }
            // vLLM's own floor: the scale is at least 1e-10.
            let floor = s.max(1e-10);
            let pow2 = ours.to_bits() & 0x007f_ffff == 0;
            if !pow2 || ours < floor || ours >= 2.0 * floor {
                return Err(format!("{dt:?} amax {amax:e}: {ours:e} is not the power of two at or above {floor:e}").into());
            }
            checked += 1;
        }
    }
    eprintln!("ue8m0: {checked} bf16/f16 group maxima, identical to exp2(ceil(log2 s))");
    Ok(())
}

/// The two divisions the per-token and per-group kernels write with fmas
/// (`body::div_by_448`, `body::div_by_max_scale`), here in Rust (`mul_add`
/// is a fused multiply-add), give IEEE's quotient, sign of zero included:
/// - the group scale `m / 448` for every 16-bit group max (floored at 1e-10
///   as the kernels do), 1e-10 itself, +inf and 4M random f32 maxima;
/// - `y / s` for scales made from such a max and 4M random 16-bit `y` with
///   `|y| <= max` (±0 among them), and an infinite scale (`sfv = 0`); for
///   `|y| < 2^-100` or a quotient below 2^-58 the FP8 code, as
///   `body::div_by_reciprocal` documents.
///
/// The select-free forms are checked to differ from the naive ones where
/// the select was needed (so the test can fail).
fn fma_divisions_are_ieee() -> Result<(), Failed> {
    let r448 = 1.0f32 / 448.0;
    let by_448 = |x: f32| {
        let q0 = x * r448;
        let q1 = (-q0.mul_add(448.0, -x)).mul_add(r448, q0);
        if x == f32::INFINITY { x } else { q1 }
    };
    // `div_by_max_scale`'s lanes for the scale `s`.
    let by_scale = |y: f32, s: f32| {
        let (r, sf) = (1.0 / s, if s == f32::INFINITY { 0.0 } else { s });
        let q0 = y * r;
        (-q0.mul_add(sf, -y)).mul_add(r, q0)
    };
    let same = |a: f32, b: f32| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    let mut rng = SplitMix64(448);
    let mut maxima: Vec<f32> = vec![1e-10, f32::INFINITY];
    for dt in [DType::BF16, DType::F16] {
        for b in 0..=0x7fffu16 {
            let m = widen16(dt, b);
            if !m.is_nan() {
                maxima.push(m.max(1e-10));
            }
        }
    }
    for _ in 0..4_000_000 {
        let m = f32::from_bits((rng.next_u64() >> 33) as u32 & 0x7f7f_ffff);
        maxima.push(m.max(1e-10));
    }
    for &m in &maxima {
        if !same(by_448(m), m / 448.0) {
            return Err(format!("{m:e} / 448: {:e}, IEEE {:e}", by_448(m), m / 448.0).into());
        }
    }
    let mut checked = 0u64;
    let sixteen: Vec<f32> = (0..=u16::MAX).flat_map(|b| [widen16(DType::BF16, b), widen16(DType::F16, b)]).collect();
    while checked < 4_000_000 {
        let m = sixteen[rng.next_u64() as usize % sixteen.len()].abs();
        let y = sixteen[rng.next_u64() as usize % sixteen.len()];
        if m.is_nan() || y.is_nan() || y.abs() > m {
            continue;
        }
        let s = (m.max(1e-10)) / 448.0;
        for y in [y, 0.0, -0.0] {
            let (ours, ieee) = (by_scale(y, s), y / s);
            // A residual or quotient below f32's normal range is outside
            // Markstein's theorem: the quotient may move by an ulp, but it
            // is below 2^-58, and its FP8 code the same signed zero.
            let fp8 = |v: f32| float8::F8E4M3::from_f32(v).to_bits();
            let tiny = y.abs() < 2f32.powi(-100) || ieee.abs() < 2f32.powi(-58);
            if !(same(ours, ieee) || tiny && fp8(ours) == fp8(ieee)) {
                return Err(format!("{y:e} / {s:e}: {ours:e}, IEEE {ieee:e}").into());
            }
        }
        checked += 1;
    }
    for y in [1.5f32, -1.5, 0.0, -0.0, f32::INFINITY, f32::NEG_INFINITY] {
        if !same(by_scale(y, f32::INFINITY), y / f32::INFINITY) {
            return Err(format!("{y:e} / inf: {:e}", by_scale(y, f32::INFINITY)).into());
        }
    }
    // The forms without the negated residual or the zero scale are wrong
    // exactly there.
    let naive = |y: f32, s: f32| {
        let q0 = y * (1.0 / s);
        (-q0).mul_add(s, y).mul_add(1.0 / s, q0)
    };
    if same(naive(-0.0, 2.0), -0.0) || !naive(1.5, f32::INFINITY).is_nan() {
        return Err("the naive correction is right where it should not be: the cases above test nothing".into());
    }
    eprintln!("fma divisions: {} group maxima / 448 and {checked} quotients, identical to IEEE", maxima.len());
    Ok(())
}

/// The PTX for every `--cuda-arch` (sm_89 with PTX 8.1, Blackwell with
/// 8.6-8.8) computes the same bytes as sm_90's in the simulator, on the
/// kernels that use every PTX feature we emit (FP8 conversion, shuffles,
/// barriers, packed bf16, `rsqrt.approx`, `ex2.approx`), and the simulator
/// knows all their instructions.
fn every_arch_computes_the_same_bytes() -> Result<(), Failed> {
    let plain = vllm_codegen::GroupScales::default();
    let cases: [KernelCase; 3] = [
        ("vllm.rms_norm_dynamic_per_token_quant", true, F8, 4096, 8, DType::BF16, "bf16", None, None, plain),
        ("vllm.rms_norm_per_block_quant", true, F8, 4096, 8, DType::BF16, "bf16", Some(128), None, plain),
        ("vllm.silu_and_mul_quant", false, F8, 1024, 8, DType::F16, "f16", None, None, plain),
    ];
    let mut rng = SplitMix64(11);
    for case in cases {
        let rows = case.4;
        let kernel = case_kernel(&case)?;
        let e = expected(&case, rows, &mut rng)?;
        let mut want = kernel_buffers(&kernel, &e, rows, None, case.5);
        simulate(&kernel, &mut want, rows)?;
        for (arch, _) in vllm_codegen::CUDA_ARCHS {
            let mut got = kernel_buffers(&kernel, &e, rows, None, case.5);
            simulate_for(&kernel, arch, &mut got, rows).map_err(|err| format!("{arch}: {err:?}"))?;
            if got != want {
                let name = got.iter().zip(&want).find(|(a, b)| a != b).map_or("?", |(a, _)| a.0);
                return Err(format!("{} for {arch}: '{name}' differs from sm_90's", kernel.name).into());
            }
        }
    }
    Ok(())
}

/// A 16-bit float's bit pattern as f32.
fn widen16(dt: DType, b: u16) -> f32 {
    if dt == DType::BF16 { half::bf16::from_bits(b).to_f32() } else { half::f16::from_bits(b).to_f32() }
}

/// The f32 `k` representable steps above (or below) `x`, for positive finite `x`.
fn ulps(x: f32, k: i32) -> f32 {
    f32::from_bits(x.to_bits().wrapping_add_signed(k))
}

/// `SiluDivision::FastPath` in Rust, step for step as `act::div_fast_path`
/// writes it: `r0` is the GPU's `rcp.approx.ftz(den)`.
fn fast_path_quotient(a: f32, den: f32, r0: f32) -> f32 {
    let r1 = r0.mul_add((-den).mul_add(r0, 1.0), r0);
    let q0 = a * r1;
    let res = (-q0).mul_add(den, a);
    if res == 0.0 { q0 } else { res.mul_add(r1, q0) }
}

/// `SiluDivision::FastPath` computes IEEE `a / den` wherever it does not
/// fall back (`vllm_codegen::SILU_FAST_RANGE`), for every bf16 and f16 `a`,
/// every `den` within 6 ulp of `1 + exp(-a)` (the GPU's `ex2.approx` is not
/// the exact `exp`) and a reciprocal `r0` that is the rounded `1/den` or
/// one ulp off it (PTX: `rcp.approx.f32` is within 1 ulp):
/// - with the rounded reciprocal, the f32 quotient is IEEE's, always;
/// - one ulp off, a Newton step can round `1/den` the other way where it is
///   within 2^-48 of a halfway point (`den = 2 - 2^-23`), and the quotient
///   is then one f32 ulp off for `a` a power of two: still the same value
///   once rounded to the 16-bit type, which is all the kernel keeps.
///
/// Also checks that the range excludes what the fast path gets wrong
/// (subnormal `a`, huge `den`, infinities), so that the test can fail.
fn silu_fast_path_division_is_ieee_in_its_range() -> Result<(), Failed> {
    let (lo, inf, big) = vllm_codegen::SILU_FAST_RANGE;
    let in_range = |a: f32, den: f32| {
        let aa = a.to_bits() & 0x7fff_ffff;
        ((lo..inf).contains(&aa) || aa == 0) && den.to_bits() <= big
    };
    let (mut checked, mut off_f32, mut outside_wrong) = (0u64, 0u64, 0u64);
    for dt in [DType::BF16, DType::F16] {
        for b in 0..=u16::MAX {
            let a = widen16(dt, b);
            let exact = 1.0 + (-a).exp();
            for dk in -6..=6 {
                let den = if exact.is_finite() { ulps(exact, dk) } else { exact };
                if den < 1.0 || (!exact.is_finite() && dk != 0) {
                    continue;
                }
                let ieee = a / den;
                let rn = 1.0 / den;
                for rk in -1..=1 {
                    let r0 = if rn == 0.0 { rn } else { ulps(rn, rk) };
                    let fast = fast_path_quotient(a, den, r0);
                    let same = |x: f32, y: f32| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
                    if !in_range(a, den) {
                        outside_wrong += !same(fast, ieee) as u64;
                        continue;
                    }
                    checked += 1;
                    if same(fast, ieee) {
                        continue;
                    }
                    if rk == 0 || dt.bits(fast) != dt.bits(ieee) {
                        return Err(format!("{dt:?} a = {a:e}, den = {den:e}, r0 = {r0:e}: fast path {fast:e}, IEEE {ieee:e}").into());
                    }
                    off_f32 += 1;
                }
            }
        }
    }
    if outside_wrong == 0 {
        return Err("the fast path is right everywhere outside its range: the range check would not be needed".into());
    }
    eprintln!(
        "SiLU fast-path division: {checked} (a, den, r0) in range; the f32 quotient is IEEE's in all but {off_f32} \
         (one ulp off, the same 16-bit value); {outside_wrong} outside the range it gets wrong"
    );
    Ok(())
}

/// The PTX of every SiLU kind with `SiluDivision::FastPath` writes the
/// default kernel's bytes in the simulator (which runs `rcp.approx` as the
/// rounded reciprocal), on input rows holding every 16-bit pattern as `a`:
/// the fast path where each thread's 8 lanes are in range, the fallback
/// to `div.rn.f32` where one is not (subnormals, NaN, infinities,
/// a < -44). Both the few-token (split) and the many-token kernel.
fn silu_fast_path_kernels_compute_the_default_bytes() -> Result<(), Failed> {
    let mut rng = SplitMix64(11);
    let mut report = Vec::new();
    let cases = [
        ("vllm.silu_and_mul", "bf16", DType::BF16, 4096u64, None),
        ("vllm.silu_and_mul_quant", F8, DType::BF16, 4096, None),
        ("vllm.silu_and_mul_quant", F8, DType::F16, 1024, None),
        ("vllm.silu_and_mul_per_block_quant", F8, DType::BF16, 4096, Some(128)),
    ];
    for (op, out, dt, d, group) in cases {
        let elem = if dt == DType::BF16 { "bf16" } else { "f16" };
        let rows = (1usize << 16) / d as usize;
        // Row r: a = the patterns r*d .. (r+1)*d, then b random in [-2, 2).
        let mut input = Vec::with_capacity(rows * 4 * d as usize);
        for r in 0..rows {
            for j in 0..d as usize {
                input.extend_from_slice(&((r * d as usize + j) as u16).to_le_bytes());
            }
            let b: Vec<f32> = (0..d).map(|_| 4.0 * rng.unit() - 2.0).collect();
            input.extend(encode(&b, "", dt));
        }
        let base = vllm_codegen::kernel_for(op, d, elem, false, out, group, false).ok_or_else(|| format!("no kernel for {op}"))?;
        let (few, many) = (base.clone().for_tokens(Some(rows as u64)), base.clone().for_tokens(None));
        let tokens = if few.name == many.name { vec![None] } else { vec![Some(rows as u64), None] };
        for tokens in tokens {
            let ieee = base.clone().for_tokens(tokens);
            let fast = base.clone().with_fast_division().ok_or("no fast-path form")?.for_tokens(tokens);
            let none = Expected { x: vec![], r: vec![], w: vec![], want: vec![] };
            let mut results = Vec::new();
            for k in [&ieee, &fast] {
                let mut bufs = kernel_buffers(k, &none, rows, None, dt);
                bufs.iter_mut().filter(|(n, _)| *n == "input").for_each(|(_, b)| *b = input.clone());
                let stats = simulate(k, &mut bufs, rows)?;
                results.push((bufs, stats.instructions));
            }
            if let Some(((name, a), (_, b))) = results[0].0.iter().zip(&results[1].0).find(|(x, y)| x != y) {
                let at = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(0);
                return Err(format!("{} and {}: '{name}' differs first at byte {at}", ieee.name, fast.name).into());
            }
            report.push(format!("{} = {} over {rows} rows ({} -> {} instructions)", fast.name, ieee.name, results[0].1, results[1].1));
        }
    }
    eprintln!("{}", report.join("\n"));
    Ok(())
}

/// The `fused_qk_norm_rope` kernels against the reference
/// (`interp::kernels::fused_qk_norm_rope`), on rows with zeros, subnormals,
/// large values, NaN and infinities: the host twin bit for bit (a 16-bit
/// NaN matches any NaN); the PTX in the simulator (one warp a head, the sum
/// of squares as a butterfly, `rsqrt.approx` taken as exact) within two
/// steps, or where the rotation cancels, within 2^-18 of the head's largest
/// output. Value heads: untouched. Neox and GPT-J, bf16 and f16, head sizes
/// 64 to 256, a 16-bit and an f32 cache.
fn qk_norm_rope_kernel_matches_the_reference() -> Result<(), Failed> {
    use vllm_interp::kernels as k;
    let mut rng = SplitMix64(77);
    let mut report = Vec::new();
    let heads = |q, k, v, dim, neox, cache| vllm_codegen::QkHeads { q, k, v, dim, rot: dim, neox, cache, cache_rows: 32 };
    let partial = |h: vllm_codegen::QkHeads, rot| vllm_codegen::QkHeads { rot, ..h };
    let cases = [
        (heads(4, 2, 2, 64, true, "bf16"), DType::BF16),
        (heads(2, 1, 1, 128, false, "f32"), DType::F16),
        (heads(2, 2, 0, 256, true, "bf16"), DType::BF16),
        (heads(3, 1, 2, 128, false, "bf16"), DType::BF16),
        // Partial rotaries (GLM-4's half): the other dims normalized only.
        (partial(heads(4, 2, 2, 128, true, "bf16"), 64), DType::BF16),
        (partial(heads(2, 1, 1, 256, false, "f32"), 64), DType::F16),
        (partial(heads(2, 2, 1, 64, true, "bf16"), 16), DType::BF16),
    ];
    let rows = 16usize;
    for (h, dt) in cases {
        let elem = if dt == DType::BF16 { "bf16" } else { "f16" };
        let kernel = vllm_codegen::qk_norm_rope_kernel(h, elem).ok_or("no kernel")?;
        let (d, row) = (h.dim as usize, h.row() as usize);
        let round = |v: Vec<f32>, t: DType| -> Vec<f32> { v.into_iter().map(|x| t.round(x)).collect() };
        let qkv = round(kernel_rows(rows, row, &mut rng), dt);
        let qw = round((0..d).map(|_| 1.0 + 0.5 * rng.unit()).collect(), dt);
        let kw = round((0..d).map(|_| 1.0 + 0.5 * rng.unit()).collect(), dt);
        let cache_t = if h.cache == "f32" { DType::F32 } else { DType::BF16 };
        let r = h.rot as usize;
        let cache = round((0..32 * r).map(|_| 2.0 * rng.unit()).collect(), cache_t);
        let pos: Vec<i64> = (0..rows).map(|_| (rng.next_u64() % 32) as i64).collect();
        let posf: Vec<f32> = pos.iter().map(|p| *p as f32).collect();
        let heads_i = k::Heads { q: h.q as usize, k: h.k as usize, v: h.v as usize, dim: d };
        let want = encode(&k::fused_qk_norm_rope(&qkv, heads_i, KERNEL_EPS, (&qw, &kw), (&posf, &cache, r), h.neox, dt), "", dt);
        let buffers = || -> Vec<(&'static str, Vec<u8>)> {
            vec![
                ("qkv", encode(&qkv, "", dt)),
                ("q_weight", encode(&qw, "", dt)),
                ("k_weight", encode(&kw, "", dt)),
                ("cos_sin_cache", if h.cache == "f32" { encode(&cache, "f32", dt) } else { encode(&cache, "", DType::BF16) }),
                ("position_ids", pos.iter().flat_map(|p| p.to_le_bytes()).collect()),
            ]
        };
        let mut host = buffers();
        vllm_codegen::run_on_host(
            &kernel,
            vllm_codegen::HostCall {
                buffers: host.iter_mut().map(|(n, b)| (*n, &mut b[..])).collect(),
                epsilon: KERNEL_EPS,
                rows,
                input_stride: None,
            },
        )?;
        if canon_nan16(&host[0].1, dt) != canon_nan16(&want, dt) {
            let i = host[0].1.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0) / 2;
            return Err(
                format!("{} (host): element {i} (row {}, column {}) differs from the reference", kernel.name, i / row, i % row).into()
            );
        }
        let mut gpu = buffers();
        let stats = simulate(&kernel, &mut gpu, rows)?;
        let (steps, mut far) = (distance(elem, &gpu[0].1, &want), 0usize);
        let value = |b: &[u8], i: usize| widen16(dt, u16::from_le_bytes([b[2 * i], b[2 * i + 1]]));
        for (i, st) in steps.iter().enumerate() {
            if *st <= 2.0 {
                continue;
            }
            let head = i / d;
            let biggest = (head * d..(head + 1) * d).map(|j| value(&want, j).abs()).filter(|v| v.is_finite()).fold(0f32, f32::max);
            let (a, b) = (value(&gpu[0].1, i), value(&want, i));
            let gap = (a - b).abs();
            if gap.is_nan() || gap > biggest * 2f32.powi(-18) {
                return Err(format!(
                    "{} (PTX): element {i} (row {}, column {}): {a} against {b} ({st} steps)",
                    kernel.name,
                    i / row,
                    i % row
                )
                .into());
            }
            far += 1;
        }
        // The value heads are not written: the same bytes as the input.
        let v_from = (h.q + h.k) as usize * d;
        for r in 0..rows {
            let span = 2 * (r * row + v_from)..2 * (r + 1) * row;
            if gpu[0].1[span.clone()] != encode(&qkv, "", dt)[span] {
                return Err(format!("{} (PTX): row {r}'s value heads changed", kernel.name).into());
            }
        }
        let differ = steps.iter().filter(|s| **s > 0.0).count();
        report.push(format!(
            "{}: host bit-identical; PTX {differ} of {} values differ ({far} beyond two steps, where the rotation cancels); {} instructions",
            kernel.name,
            steps.len(),
            stats.instructions
        ));
    }
    eprintln!("{}", report.join("\n"));
    Ok(())
}

/// The per-tensor quant's persistent max kernel (`quant::max_kernel`: the
/// grid strides over the whole tensor, four chunks a thread a step, then one
/// at a time) finds one large `|x|` wherever it is, for grids that leave the
/// unrolled loop empty, end it on every chunk, and split a row over CTAs:
/// all rows 0.25 but one element -3 (or +3), the scale must be 3/448, with
/// every input byte loaded exactly once. A stride or bound one chunk off
/// misses some positions.
fn persistent_max_kernel_reads_every_chunk_once() -> Result<(), Failed> {
    let mut rng = SplitMix64(31);
    let mut runs = 0;
    for (h, elem) in [(4096u64, "bf16"), (90, "f16")] {
        let k = vllm_codegen::kernel_for("vllm.dynamic_scaled_fp8_quant", h, elem, false, "f8E4M3FN", None, false)
            .ok_or("no kernel")?
            .for_tokens(None)
            .persistent()
            .ok_or("no persistent form")?;
        let sim = vllm_ptx_sim::parse(&vllm_codegen::ptx(&k, "sm_90")?, &k.name)?;
        let dt = if elem == "bf16" { DType::BF16 } else { DType::F16 };
        for (rows, grid) in [(1usize, 1u32), (3, 1), (3, 2), (16, 5), (7, 13)] {
            let n = rows * h as usize;
            let mut positions = vec![0, n - 1, n / 2];
            positions.extend((0..5).map(|_| rng.next_u64() as usize % n));
            for (i, p) in positions.into_iter().enumerate() {
                let big = if i % 2 == 0 { -3.0 } else { 3.0 };
                let x: Vec<f32> = (0..n).map(|j| if j == p { big } else { 0.25 }).collect();
                let mut input = encode(&x, elem, dt);
                let mut scale = vec![0u8; 4];
                let mut args = [
                    vllm_ptx_sim::Arg::Buf(&mut input),
                    vllm_ptx_sim::Arg::I64(h as i64),
                    vllm_ptx_sim::Arg::Buf(&mut scale),
                    vllm_ptx_sim::Arg::I32(rows as i32),
                ];
                let launch = vllm_ptx_sim::Launch { grid, block: k.block(None) as u32 };
                let stats = vllm_ptx_sim::run(&sim, launch, &mut args)?;
                let got = f32::from_le_bytes([scale[0], scale[1], scale[2], scale[3]]);
                let loaded = stats.buffers.first().map_or(0, |b| b.load_bytes);
                if got != 3.0 / 448.0 || loaded != 2 * n as u64 {
                    return Err(format!(
                        "{} over {rows} rows, {grid} CTAs, |x| = 3 at {p}: scale {got}, {loaded} bytes loaded of {}",
                        k.name,
                        2 * n
                    )
                    .into());
                }
                runs += 1;
            }
        }
    }
    eprintln!("persistent max kernel: {runs} launches, the max found and every byte read once in each");
    Ok(())
}
