//! Dynamic per-token quantization, one CTA per row:
//! - `rms_norm_dynamic_per_token_quant` (vllm-passes.md §10): with a residual
//!   the add is in f32 and not rounded; the residual stores `rT(sum)`,
//!   written in the last pass (after every read of the row).
//!   `y = rT(rT(x*s) * w)`;
//! - `dynamic_per_token_scaled_fp8_quant`: `y = x`.
//!
//! Then `scale = max(max|y| / QMAX, MINSF)` and `q = fp8(y / scale)` (FP8
//! divides), or for int8 `q = cvt.rni.sat.s8(y * (1/scale))` with QMAX = 127
//! and MINSF = FLT_EPSILON. Passes over the row: (sum of squares,) max |y|,
//! quantize.
use crate::body::{Target, footer, header, index_lines, inv_rms, lanes, max_abs_step, normalize, row_scale, store_fp8, store_i8, sum_squares};
use std::fmt::Write;

/// The quantized output type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    Fp8,
    I8,
}

/// Loads the lanes at `%i64` as f32 (summed with the residual when present)
/// into `%f`.
pub(crate) fn load_sum(residual: bool, t: &str, w: u64) -> String {
    let al = 2 * w;
    // Without a residual the row is used as loaded (adding 0.0 would turn -0 into +0).
    let fx = if residual { "%fx" } else { "%f" };
    let mut k = format!(
        "        %px = llvm.getelementptr %x[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>\n        {fx} = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>\n"
    );
    if residual {
        let _ = write!(
            k,
            "        %pr = llvm.getelementptr %res[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        %vr = llvm.load %pr {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>\n        %fr = arith.extf %vr : vector<{w}x{t}> to vector<{w}xf32>\n        %f = arith.addf %fx, %fr : vector<{w}xf32>\n"
        );
    }
    k
}

/// `norm`: the fused RMSNorm form (else the standalone quant, `y = x`).
pub fn kernel(name: &str, norm: bool, residual: bool, quant: Quant, h: u64, t: &str, target: Target) -> String {
    let w = lanes(h);
    let al = 2 * w;
    let params = match (norm, residual) {
        (true, true) => "%out: !llvm.ptr, %x: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %res: !llvm.ptr, %eps: f32",
        (true, false) => "%out: !llvm.ptr, %x: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32",
        (false, _) => "%out: !llvm.ptr, %x: !llvm.ptr, %scale: !llvm.ptr",
    };
    let (qmax, minsf) = match quant {
        Quant::Fp8 => (448.0f32, 1.0f32 / (448.0 * 512.0)),
        Quant::I8 => (127.0, f32::EPSILON),
    };
    let mut k = header(name, params, target);
    let _ = writeln!(
        k,
        r#"      %c2 = arith.constant {w} : index
      %H = arith.constant {h} : index
      %zero = arith.constant 0.0 : f32
      %Hf = arith.constant {h}.0 : f32
      %one = arith.constant 1.0 : f32
      %pmax = arith.constant dense<448.0> : vector<{w}xf32>
      %nmax = arith.constant dense<-448.0> : vector<{w}xf32>
      %base = arith.muli %row, %H : index
      %first = arith.muli %tid, %c2 : index
      %step = arith.muli %nt, %c2 : index"#
    );
    // `%y` of the lanes at `%j`.
    let y = |k: &mut String| {
        k.push_str(index_lines());
        k.push_str(&load_sum(residual, t, w));
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
        k.push_str(&load_sum(residual, t, w));
        k.push_str(&sum_squares(w));
        k.push_str(inv_rms(target));
        let _ = writeln!(k, "      %rsv = vector.broadcast %rs : f32 to vector<{w}xf32>");
    } else {
        // -0.0 + -0.0 keeps the sign, x + -0.0 is x: `y = x` with a name.
        let _ = writeln!(k, "      %zvy = arith.constant dense<-0.0> : vector<{w}xf32>");
    }
    // max |y|.
    k.push_str("      %mx = scf.for %j = %first to %H step %step iter_args(%m = %zero) -> f32 {\n");
    y(&mut k);
    k.push_str(&max_abs_step("%y", w));
    k.push_str(&row_scale(target, qmax, minsf, w));
    if quant == Quant::I8 {
        let _ = writeln!(k, "      %inv = arith.divf %one, %sc : f32\n      %invv = vector.broadcast %inv : f32 to vector<{w}xf32>");
    }
    // Quantize; the residual form stores rT(sum) after its last read.
    k.push_str("      scf.for %j = %first to %H step %step {\n");
    y(&mut k);
    if residual {
        let _ = writeln!(k, "        %rt = arith.truncf %f : vector<{w}xf32> to vector<{w}x{t}>\n        llvm.store %rt, %pr {{alignment = {al} : i64}} : vector<{w}x{t}>, !llvm.ptr");
    }
    match quant {
        Quant::Fp8 => {
            let _ = writeln!(k, "        %q = arith.divf %y, %scv : vector<{w}xf32>");
            k.push_str(&store_fp8(target, "%i64", w));
        }
        Quant::I8 => {
            let _ = writeln!(k, "        %q = arith.mulf %y, %invv : vector<{w}xf32>");
            k.push_str(&store_i8(target, "%i64", w));
        }
    }
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}
