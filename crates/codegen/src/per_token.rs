//! Dynamic per-token quantization, one CTA per row:
//! - `rms_norm_dynamic_per_token_quant` (vllm-passes.md §10): with a residual
//!   the add is in f32 and not rounded; the residual stores `rT(sum)`
//!   after its last read (the loop form's last pass, the register form's
//!   only load).
//!   `y = rT(rT(x*s) * w)`;
//! - `dynamic_per_token_scaled_fp8_quant`: `y = x`.
//!
//! Then `scale = max(max|y| / QMAX, MINSF)` and `q = fp8(y / scale)` (FP8
//! divides), or for int8 `q = cvt.rni.sat.s8(y * (1/scale))` with QMAX = 127
//! and MINSF = FLT_EPSILON. Passes over the row: (sum of squares,) max |y|,
//! quantize.
use crate::body::{
    Form, Layout, Regs, Target, div_by_max_scale, div_by_reciprocal, fold_max_abs, fold_max_abs_16, footer, header, index_lines,
    index_lines_at, input_row, inv_rms, lanes, lanes_max, max_abs_step, max_scale_operands, normalize, normalize_by, pack, packed_type,
    row_constants, row_scale, store_fp8, store_i8, sum_squares, widen, with_row_count, words_as,
};
use std::fmt::Write;

/// The quantized output type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    Fp8,
    I8,
}

/// Loads the lanes at `%i64` as f32 (summed with the residual when present)
/// into `%f`. With `xrow` (the norms: their input rows lie `input_stride`
/// apart), the input's lanes are at `%j64` of that row (`body::input_base`).
pub(crate) fn load_sum(residual: bool, t: &str, w: u64, xrow: Option<&str>) -> String {
    let al = 2 * w;
    // Without a residual the row is used as loaded (adding 0.0 would turn -0 into +0).
    let fx = if residual { "%fx" } else { "%f" };
    let at = xrow.map_or_else(|| "%x[%i64]".to_string(), |x| format!("{x}[%j64]"));
    let mut k = format!(
        "        %px = llvm.getelementptr {at} : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>\n        {fx} = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>\n"
    );
    if residual {
        let _ = write!(
            k,
            "        %pr = llvm.getelementptr %res[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        %vr = llvm.load %pr {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>\n        %fr = arith.extf %vr : vector<{w}x{t}> to vector<{w}xf32>\n        %f = arith.addf %fx, %fr : vector<{w}xf32>\n"
        );
    }
    k
}

fn params(norm: bool, residual: bool, ub: bool) -> String {
    // vLLM's order: result, input (rows `input_stride` apart), weight, scale, scale_ub, residual, epsilon.
    let mut p = String::from("%out: !llvm.ptr, %x: !llvm.ptr, %xs: i64");
    if norm {
        p.push_str(", %w: !llvm.ptr");
    }
    p.push_str(", %scale: !llvm.ptr");
    if ub {
        p.push_str(", %ub: !llvm.ptr");
    }
    if norm && residual {
        p.push_str(", %res: !llvm.ptr");
    }
    if norm {
        p.push_str(", %eps: f32");
    }
    p
}

/// `rT(sum)` of the lanes (`%f`) stored back to the residual at `%pr`.
pub(crate) fn store_sum(t: &str, w: u64) -> String {
    let al = 2 * w;
    format!(
        "        %rt = arith.truncf %f : vector<{w}xf32> to vector<{w}x{t}>\n        llvm.store %rt, %pr {{alignment = {al} : i64}} : vector<{w}x{t}>, !llvm.ptr\n"
    )
}

/// The row scale's reciprocal: int8 multiplies by it (`%invv`); FP8
/// divides by the scale, exactly, through it (`%rcpv`, with the operands of
/// `div_by_max_scale`).
fn row_reciprocal(quant: Quant, w: u64) -> String {
    match quant {
        Quant::I8 => format!("      %inv = arith.divf %one, %sc : f32\n      %invv = vector.broadcast %inv : f32 to vector<{w}xf32>\n"),
        Quant::Fp8 => max_scale_operands("%sc", "", w),
    }
}

/// QMAX and MINSF of §10.
fn limits(quant: Quant) -> (f32, f32) {
    match quant {
        Quant::Fp8 => (448.0f32, 1.0f32 / (448.0 * 512.0)),
        Quant::I8 => (127.0, f32::EPSILON),
    }
}

/// `%y` (at `%i64`) -> the quantized output. Divided by a scale clamped to
/// `scale_ub`, `|y / s|` has no bound (the general `div_by_reciprocal`).
fn store_q(quant: Quant, ub: bool, target: Target, w: u64) -> String {
    match quant {
        Quant::Fp8 => {
            let q = if ub { div_by_reciprocal("%y", "%scv", "%rcpv", w) } else { div_by_max_scale("%y", "%rcpv", "%nrcpv", "%sfv", w) };
            format!("{q}{}", store_fp8(target, "%i64", w))
        }
        Quant::I8 => format!("        %q = arith.mulf %y, %invv : vector<{w}xf32>\n{}", store_i8(target, "%i64", w)),
    }
}

/// Which per-token kernel.
#[derive(Clone, Copy, Debug)]
pub struct Kind {
    /// The fused RMSNorm form (else the standalone quant, `y = x`).
    pub norm: bool,
    pub residual: bool,
    pub quant: Quant,
    /// `scale_ub` given: the row max is clamped to it (FP8 only).
    pub scale_ub: bool,
}

pub fn kernel(name: &str, kind: Kind, h: u64, t: &str, target: Target, layout: Layout) -> String {
    match layout.form {
        Form::Registers => kernel_regs(name, kind, h, t, target, layout),
        Form::Loops => kernel_loops(name, kind, h, t, target, layout.persistent),
    }
}

/// The GPU form: the row is loaded once into registers (each thread its
/// chunks), `y` computed once and kept through the row max.
fn kernel_regs(name: &str, kind: Kind, h: u64, t: &str, target: Target, layout: Layout) -> String {
    let Kind { norm, residual, quant, scale_ub } = kind;
    let mut r = Regs { input_stride: Some(t.into()), ..Regs::of(h, target, layout) };
    let w = r.w;
    let (qmax, minsf) = limits(quant);
    let mut k = r.header(name, &with_row_count(&params(norm, residual, scale_ub), layout.persistent), target);
    k.push_str(&r.row_constants(h));
    k.push_str(&r.prelude());
    // The row is kept as loaded, exact in `t`, unless the residual's f32 sum
    // (not rounded) is; `y` (rounded to `t`) likewise, across the row max.
    let packed = (!residual).then_some(("%vx", t));
    r.load(&mut k, &|base| load_sum_once(residual, t, w, base, true), packed, norm.then_some(t), target);
    // y and max |y|: with the norm, y is rounded to `t` and kept packed;
    // without it, y is the row as loaded, packed too unless it is the
    // residual's f32 sum. A packed y's max is taken in `t`
    // (`fold_max_abs_16`).
    let mut mx = "%zero".to_string();
    let packed_max = norm || r.packed.is_some();
    if norm {
        let _ = writeln!(k, "      %zyr = arith.constant dense<0> : {}", packed_type(w));
    }
    if packed_max {
        let _ = writeln!(k, "      %ym_0 = arith.constant dense<0.0> : vector<{w}x{t}>");
    }
    for c in 0..r.chunks {
        if norm {
            let body = format!("{}{}{}{}", index_lines(), r.f32_of(c, "%f"), normalize_by(&format!("%wc{c}"), t, w), pack("%yt", t, w));
            k.push_str(&r.chunk_of(c, &body, Some((&format!("%ypc{c}"), "%pk")), &packed_type(w), "%zyr"));
        }
        if packed_max {
            // y's packed words: the norm's, or the row's as loaded.
            let words = if norm { format!("%ypc{c}") } else { format!("%pc{c}") };
            k.push_str(&words_as(&words, &format!("%ypv{c}"), t, w));
            k.push_str(&fold_max_abs_16(&format!("%ypv{c}"), &c.to_string(), t, w, &format!("%ym_{c}"), &format!("%ym_{}", c + 1)));
        } else {
            let _ = writeln!(k, "      %yc{c} = arith.addf %fc{c}, %nzr : vector<{w}xf32>");
            mx = fold_max_abs(&mut k, &format!("%yc{c}"), &c.to_string(), w, &mx);
        }
    }
    if packed_max {
        k.push_str(&lanes_max("%ymx", &format!("%ym_{}", r.chunks), t, w));
        mx = "%ymx".to_string();
    }
    let _ = writeln!(k, "      %mx = arith.addf {mx}, %nz0 : f32");
    k.push_str(&row_scale(target, qmax, minsf, w, scale_ub, r.block()));
    k.push_str(&row_reciprocal(quant, w));
    for c in 0..r.chunks {
        // y widened again from its packed form (the row itself without the norm).
        let y = if norm { widen("%y", &format!("%ypc{c}"), t, w) } else { r.f32_of(c, "%y") };
        let body = format!("{}{y}{}", index_lines(), store_q(quant, scale_ub, target, w));
        k.push_str(&r.chunk(c, &body, None));
    }
    r.close(&mut k);
    k.push_str(footer(target));
    k
}

/// The register form's load of a chunk (`Regs::load`): the row summed in
/// f32 with the residual, which stores `rT(sum)` right away (no other read
/// of it follows), for the row at `base`; `strided`: the input's row is
/// `{base}x` (`Regs::input_stride`).
pub(crate) fn load_sum_once(residual: bool, t: &str, w: u64, base: &str, strided: bool) -> String {
    let xrow = format!("{base}x");
    let mut load = format!("{}{}", index_lines_at(base), load_sum(residual, t, w, strided.then_some(xrow.as_str())));
    if residual {
        load.push_str(&store_sum(t, w));
    }
    load
}

/// The host form: a loop over the row per pass (one "thread" per row).
fn kernel_loops(name: &str, kind: Kind, h: u64, t: &str, target: Target, persistent: bool) -> String {
    let Kind { norm, residual, quant, scale_ub } = kind;
    let w = lanes(h);
    let (qmax, minsf) = limits(quant);
    let mut k = header(name, &with_row_count(&params(norm, residual, scale_ub), persistent), target);
    k.push_str(&row_constants(h, w));
    k.push_str(&input_row(t));
    let xrow = Some("%basex");
    k.push_str("      %step = arith.muli %nt, %c2 : index\n");
    // `%y` of the lanes at `%j`.
    let y = |k: &mut String| {
        k.push_str(index_lines());
        k.push_str(&load_sum(residual, t, w, xrow));
        if norm {
            k.push_str(&normalize(t, w));
        } else {
            k.push_str("        %y = arith.addf %f, %zvy : vector<");
            let _ = writeln!(k, "{w}xf32>");
        }
    };
    if norm {
        k.push_str("      %acc = scf.for %j = %first to %H step %step iter_args(%a = %zero) -> f32 {\n");
        k.push_str(index_lines());
        k.push_str(&load_sum(residual, t, w, xrow));
        k.push_str(&sum_squares(w, target));
        k.push_str(&inv_rms(target, None));
        let _ = writeln!(k, "      %rsv = vector.broadcast %rs : f32 to vector<{w}xf32>");
    } else {
        // -0.0 + -0.0 keeps the sign, x + -0.0 is x: `y = x` with a name.
        let _ = writeln!(k, "      %zvy = arith.constant dense<-0.0> : vector<{w}xf32>");
    }
    // max |y|.
    k.push_str("      %mx = scf.for %j = %first to %H step %step iter_args(%m = %zero) -> f32 {\n");
    y(&mut k);
    k.push_str(&max_abs_step("%y", w));
    k.push_str(&row_scale(target, qmax, minsf, w, scale_ub, None));
    k.push_str(&row_reciprocal(quant, w));
    // Quantize; the residual form stores rT(sum) after its last read.
    k.push_str("      scf.for %j = %first to %H step %step {\n");
    y(&mut k);
    if residual {
        k.push_str(&store_sum(t, w));
    }
    k.push_str(&store_q(quant, scale_ub, target, w));
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}
