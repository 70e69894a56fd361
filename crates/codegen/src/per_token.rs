//! RMSNorm (+ residual add) + dynamic per-token FP8 quant, one CTA per row:
//! vllm-passes.md §10 `rms_norm_dynamic_per_token_quant`. With a residual the
//! add is in f32 and not rounded; the residual stores `rT(sum)`, written in
//! the last pass (after every read of the row). `y = rT(rT(x*s) * w)`,
//! `scale = max(max|y| / 448, 1/(448*512))`, `q = fp8(y / scale)` (divides).
//! Three passes over the row: sum of squares, max |y|, quantize. (`|y|` and the
//! maxima are compare+select: `math.absf` and `arith.maxnumf` become
//! libdevice's `__nv_fabsf`/`__nv_fmaxf` on NVPTX.)
use crate::body::{Target, footer, header, index_lines, inv_rms, lanes, normalize, store_fp8, sum_squares};
use std::fmt::Write;

/// Loads the pair at `%i64` as f32 (summed with the residual when present)
/// into `%f`.
fn load_sum(residual: bool, t: &str, w: u64) -> String {
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

pub fn kernel(name: &str, residual: bool, h: u64, t: &str, target: Target) -> String {
    let gpu = target == Target::Gpu;
    let w = lanes(h);
    let al = 2 * w;
    let params = if residual {
        "%out: !llvm.ptr, %x: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %res: !llvm.ptr, %eps: f32"
    } else {
        "%out: !llvm.ptr, %x: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32"
    };
    let mut k = header(name, params, target);
    let _ = writeln!(
        k,
        r#"      %c0 = arith.constant 0 : index
      %c2 = arith.constant {w} : index
      %H = arith.constant {h} : index
      %zero = arith.constant 0.0 : f32
      %zv = arith.constant dense<0.0> : vector<{w}xf32>
      %Hf = arith.constant {h}.0 : f32
      %one = arith.constant 1.0 : f32
      %qmax = arith.constant 448.0 : f32
      %minsf = arith.constant {minsf:e} : f32
      %pmax = arith.constant dense<448.0> : vector<{w}xf32>
      %nmax = arith.constant dense<-448.0> : vector<{w}xf32>
      %base = arith.muli %row, %H : index
      %first = arith.muli %tid, %c2 : index
      %step = arith.muli %nt, %c2 : index
      %acc = scf.for %j = %first to %H step %step iter_args(%a = %zero) -> f32 {{"#,
        minsf = 1.0f32 / (448.0 * 512.0)
    );
    k.push_str(index_lines());
    k.push_str(&load_sum(residual, t, w));
    k.push_str(&sum_squares(w));
    k.push_str(inv_rms(target));
    let _ = writeln!(k, "      %rsv = vector.broadcast %rs : f32 to vector<{w}xf32>");
    // Pass 2: max |y|.
    k.push_str("      %mx = scf.for %j = %first to %H step %step iter_args(%m = %zero) -> f32 {\n");
    k.push_str(index_lines());
    k.push_str(&load_sum(residual, t, w));
    k.push_str(&normalize(t, w));
    let _ = writeln!(
        k,
        "        %ny = arith.negf %y : vector<{w}xf32>\n        %neg = arith.cmpf olt, %y, %zv : vector<{w}xf32>\n        %ay = arith.select %neg, %ny, %y : vector<{w}xi1>, vector<{w}xf32>"
    );
    let mut prev = "%m".to_string();
    for l in 0..w {
        let _ = writeln!(
            k,
            "        %a{l} = vector.extract %ay[{l}] : f32 from vector<{w}xf32>\n        %g{l} = arith.cmpf ogt, %a{l}, {prev} : f32\n        %m{l} = arith.select %g{l}, %a{l}, {prev} : f32"
        );
        prev = format!("%m{l}");
    }
    let _ = writeln!(k, "        scf.yield {prev} : f32\n      }}");
    if gpu {
        // |y| >= 0 and never NaN here, so the float order is the order of the
        // bit patterns as integers: an integer max needs no libdevice fmaxf.
        k.push_str("      %mxb = arith.bitcast %mx : f32 to i32\n      %amaxb = gpu.all_reduce maxsi %mxb uniform {} : (i32) -> (i32)\n      %amax = arith.bitcast %amaxb : i32 to f32\n");
    } else {
        k.push_str("      %amax = arith.addf %mx, %zero : f32\n");
    }
    let _ = write!(
        k,
        "      %sc0 = arith.divf %amax, %qmax : f32\n      %gs = arith.cmpf ogt, %sc0, %minsf : f32
      %sc = arith.select %gs, %sc0, %minsf : f32\n      %scv = vector.broadcast %sc : f32 to vector<{w}xf32>\n      %row64 = arith.index_cast %row : index to i64\n      %ps = llvm.getelementptr %scale[%row64] : (!llvm.ptr, i64) -> !llvm.ptr, f32\n",
    );
    if gpu {
        k.push_str("      %lead = arith.cmpi eq, %tid, %c0 : index\n      scf.if %lead {\n        llvm.store %sc, %ps : f32, !llvm.ptr\n      }\n");
    } else {
        k.push_str("      llvm.store %sc, %ps : f32, !llvm.ptr\n");
    }
    // Pass 3: quantize; the residual form stores rT(sum) after its last read.
    k.push_str("      scf.for %j = %first to %H step %step {\n");
    k.push_str(index_lines());
    k.push_str(&load_sum(residual, t, w));
    k.push_str(&normalize(t, w));
    if residual {
        let _ = writeln!(k, "        %rt = arith.truncf %f : vector<{w}xf32> to vector<{w}x{t}>\n        llvm.store %rt, %pr {{alignment = {al} : i64}} : vector<{w}x{t}>, !llvm.ptr");
    }
    let _ = writeln!(k, "        %q = arith.divf %y, %scv : vector<{w}xf32>");
    k.push_str(&store_fp8(target, "%i64", w));
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}
