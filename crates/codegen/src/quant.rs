//! The standalone static FP8 quant, `static_scaled_fp8_quant` (vllm-passes.md
//! §10): `q = fp8(x * (1/scale))`, multiplying by the reciprocal; and the
//! scale kernel that, run before it, makes the per-tensor dynamic quant. One
//! CTA per row, like the fused kernels, so that the manifest's launch rule
//! is the same for every kernel. (The dynamic per-token quant is in
//! per_token.rs: it shares the row max with the fused form.)
use crate::body::{
    Target, footer, header, header_split, index_lines, inv_scale_at, lanes, max_abs_step, row_constants, row_steps, store_fp8,
};
use std::fmt::Write;

/// The static quant, each row over `ctas` CTAs (`body::split_row`).
pub fn kernel(name: &str, h: u64, t: &str, target: Target, ctas: u64) -> String {
    let w = lanes(h);
    let al = 2 * w;
    let mut k = header_split(name, "%out: !llvm.ptr, %x: !llvm.ptr, %scale: !llvm.ptr", target, ctas);
    k.push_str(&row_constants(h, w));
    let (before, within) = inv_scale_at(ctas, w);
    k.push_str(&before);
    k.push_str("      %step = arith.muli %nt, %c2 : index\n");
    k.push_str(&row_steps("%H", ctas));
    let _ = write!(
        k,
        r#"{}        %px = llvm.getelementptr %x[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
{within}        %f = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>
        %q = arith.mulf %f, %invv : vector<{w}xf32>
"#,
        index_lines()
    );
    k.push_str(&store_fp8(target, "%i64", w));
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}

/// The first of the two kernels of the per-tensor dynamic quant
/// (`dynamic_scaled_fp8_quant`, §10): each row's CTA takes `max|x| / 448` of
/// its row and folds it into `*scale` with an atomic max, which is exact
/// (division by a positive constant is monotonic, and non-negative floats
/// order as their bits). `*scale` must be zero before the launch, as vLLM's
/// `torch.zeros`; the static quant kernel then reads it (`1/scale`, no MINSF
/// clamp, as vLLM).
pub fn max_kernel(name: &str, h: u64, t: &str, target: Target) -> String {
    let w = lanes(h);
    let al = 2 * w;
    let mut k = header(name, "%x: !llvm.ptr, %scale: !llvm.ptr", target);
    k.push_str(&row_constants(h, w));
    let _ = write!(
        k,
        r#"      %qmax = arith.constant 448.0 : f32
      %step = arith.muli %nt, %c2 : index
      %mx = scf.for %j = %first to %H step %step iter_args(%m = %zero) -> f32 {{
{}        %px = llvm.getelementptr %x[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
        %f = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>
{}"#,
        index_lines(),
        max_abs_step("%f", w)
    );
    match target {
        Target::Gpu => k.push_str(
            r#"      %mxb = arith.bitcast %mx : f32 to i32
      %amaxb = gpu.all_reduce maxsi %mxb uniform {} : (i32) -> (i32)
      %amax = arith.bitcast %amaxb : i32 to f32
      %s = arith.divf %amax, %qmax : f32
      %sb = arith.bitcast %s : f32 to i32
      %c0 = arith.constant 0 : index
      %lead = arith.cmpi eq, %tid, %c0 : index
      scf.if %lead {
        %old = llvm.atomicrmw umax %scale, %sb monotonic : !llvm.ptr, i32
      }
"#,
        ),
        // One thread per row: the atomic max is a load, compare and store.
        Target::Cpu => k.push_str(
            r#"      %s = arith.divf %mx, %qmax : f32
      %sb = arith.bitcast %s : f32 to i32
      %oldb = llvm.load %scale : !llvm.ptr -> i32
      %gt = arith.cmpi ugt, %sb, %oldb : i32
      %newb = arith.select %gt, %sb, %oldb : i32
      llvm.store %newb, %scale : i32, !llvm.ptr
"#,
        ),
    }
    k.push_str(footer(target));
    k
}
