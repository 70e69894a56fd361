//! RMSNorm (+ residual add), alone or + static FP8 quant: one CTA per token row.
//!
//! Rounding points of vllm-passes.md §10: `z = rT(x + r)` (residual form),
//! `s = rsqrt(Σz²/H + eps)`, `y = rT(rT(z*s) * w)`, `q = fp8(y * (1/scale))`
//! with NaN -> +448. Each thread step loads `lanes(H)` elements (8 = 16
//! bytes when H allows, else 2), the row sum is a block reduction (warp
//! shuffles, one barrier: `body::block_reduce`), `rsqrt` is `rsqrt.approx` as in vLLM, FP8
//! is the hardware `cvt.rn.satfinite.e4m3x2` (sm_89+). Shared pieces are in
//! body.rs.
use crate::body::{
    Form, Layout, Regs, Target, footer, header, index_lines, index_lines_at, input_row, inv_rms, inv_scale, lanes, normalize, normalize_by,
    row_constants, store_act, store_fp8, sum_squares, with_row_count,
};
use std::fmt::Write;

/// What the kernel writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Out {
    /// `rms_norm` into `out`; `fused_add_rms_norm` into `input` (in place).
    Act,
    /// FP8 into `out`, through the static scale.
    Fp8,
}

/// The parameters, vLLM's order: the input's rows are `%xs` elements apart
/// (`input.stride(-2)`: a row of a wider tensor, e.g. DeepSeek's `q_c` in
/// its fused projection), every other buffer is contiguous.
fn params(residual: bool, out: Out) -> &'static str {
    match (out, residual) {
        (Out::Fp8, true) => "%out: !llvm.ptr, %x: !llvm.ptr, %xs: i64, %res: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32",
        (Out::Fp8, false) => "%out: !llvm.ptr, %x: !llvm.ptr, %xs: i64, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32",
        (Out::Act, true) => "%x: !llvm.ptr, %xs: i64, %res: !llvm.ptr, %w: !llvm.ptr, %eps: f32",
        (Out::Act, false) => "%out: !llvm.ptr, %x: !llvm.ptr, %xs: i64, %w: !llvm.ptr, %eps: f32",
    }
}

/// `%f` of the lanes at `%j` (the input's at `%j64` of its row `xrow`,
/// every other buffer's at `%i64`): the row, or `rT(x + r)` stored back to
/// the residual.
fn load_row(residual: bool, t: &str, w: u64, xrow: &str) -> String {
    let al = 2 * w;
    let mut k = format!(
        "        %px = llvm.getelementptr {xrow}[%j64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>\n"
    );
    if residual {
        let _ = writeln!(
            k,
            r#"        %pr = llvm.getelementptr %res[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vr = llvm.load %pr {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
        %fx = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>
        %fr = arith.extf %vr : vector<{w}x{t}> to vector<{w}xf32>
        %sum = arith.addf %fx, %fr : vector<{w}xf32>
        %zt = arith.truncf %sum : vector<{w}xf32> to vector<{w}x{t}>
        llvm.store %zt, %pr {{alignment = {al} : i64}} : vector<{w}x{t}>, !llvm.ptr
        %f = arith.extf %zt : vector<{w}x{t}> to vector<{w}xf32>"#
        );
    } else {
        let _ = writeln!(k, "        %f = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>");
    }
    k
}

/// `%y` -> the output at `%i64`.
fn store(out: Out, residual: bool, target: Target, t: &str, w: u64) -> String {
    match out {
        Out::Fp8 => format!("        %q = arith.mulf %y, %invv : vector<{w}xf32>\n{}", store_fp8(target, "%i64", w)),
        // Each thread writes only the lanes it read: `input` is safe to overwrite.
        Out::Act if residual => store_act("%basex", "%j64", t, w),
        Out::Act => store_act("%out", "%i64", t, w),
    }
}

/// The kernel for `H` and element type `t` (`bf16` / `f16`).
pub fn kernel(name: &str, residual: bool, out: Out, h: u64, t: &str, target: Target, layout: Layout) -> String {
    match layout.form {
        Form::Registers => kernel_regs(name, residual, out, h, t, target, layout),
        Form::Loops => kernel_loops(name, residual, out, h, t, target, layout.persistent),
    }
}

/// The GPU form: each thread loads its chunks of the row once (16 bytes
/// each), keeps them in registers across the block reduction, and writes
/// from them.
fn kernel_regs(name: &str, residual: bool, out: Out, h: u64, t: &str, target: Target, layout: Layout) -> String {
    let mut r = Regs { input_stride: Some(t.into()), ..Regs::of(h, target, layout) };
    let w = r.w;
    let mut k = r.header(name, &with_row_count(params(residual, out), layout.persistent), target);
    k.push_str(&r.row_constants(h));
    k.push_str(&r.prelude());
    // The static scale's load and reciprocal come before the reduction too.
    if out == Out::Fp8 {
        k.push_str(&inv_scale(w));
    }
    // The row is kept as loaded (or, with the residual, as rT(x + r)): exact in `t`.
    let packed = if residual { "%zt" } else { "%vx" };
    r.load(
        &mut k,
        &|base| format!("{}{}", index_lines_at(base), load_row(residual, t, w, &format!("{base}x"))),
        Some((packed, t)),
        Some(t),
        target,
    );
    for c in 0..r.chunks {
        let body = format!(
            "{}{}{}{}",
            index_lines(),
            r.f32_of(c, "%f"),
            normalize_by(&format!("%wc{c}"), t, w),
            store(out, residual, target, t, w)
        );
        k.push_str(&r.chunk(c, &body, None));
    }
    r.close(&mut k);
    k.push_str(footer(target));
    k
}

/// The host form: a loop over the row per pass (one "thread" per row).
fn kernel_loops(name: &str, residual: bool, out: Out, h: u64, t: &str, target: Target, persistent: bool) -> String {
    let w = lanes(h);
    let al = 2 * w;
    let mut k = header(name, &with_row_count(params(residual, out), persistent), target);
    k.push_str(&row_constants(h, w));
    k.push_str(&input_row(t));
    k.push_str("      %step = arith.muli %nt, %c2 : index\n");
    // Pass 1: the (summed) row, its sum of squares; the residual form stores z.
    let _ = writeln!(k, "      %acc = scf.for %j = %first to %H step %step iter_args(%a = %zero) -> f32 {{");
    k.push_str(index_lines());
    k.push_str(&load_row(residual, t, w, "%basex"));
    k.push_str(&sum_squares(w, target));
    k.push_str(&inv_rms(target, None));
    let _ = writeln!(k, "      %rsv = vector.broadcast %rs : f32 to vector<{w}xf32>");
    if out == Out::Fp8 {
        k.push_str(&inv_scale(w));
    }
    // Pass 2: normalize, weight, quantize (the row is read again).
    let (src, at) = if residual { ("%res", "%i64") } else { ("%basex", "%j64") };
    let _ = write!(
        k,
        "      scf.for %j = %first to %H step %step {{\n{}        %px = llvm.getelementptr {src}[{at}] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>\n        %f = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>\n{}{}",
        index_lines(),
        normalize(t, w),
        store(out, residual, target, t, w)
    );
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}
