//! SiLU-and-mul, alone or + static FP8 quant, one CTA per row of `2d` inputs:
//! vllm-passes.md §10 `silu_and_mul_quant`, `q = fp8(rT(rT(silu(a)) * b) * (1/scale))`
//! with `silu(a) = a / (1 + exp(-a))` in f32. The GPU uses `ex2.approx`
//! (`exp(x) = 2^(x*log2 e)`, as CUDA's fast math does); the host twin the
//! exact `exp`, so it is bit-identical to the reference and the GPU within
//! the approximation (checked on a device by scripts/gpu-check).
use crate::body::{Target, footer, header_split, inv_scale_at, lanes, round_mul_round, row_steps, store_act, store_fp8};
use std::fmt::Write;

/// `quant`: `silu_and_mul_quant` (else `silu_and_mul`, writing `T`); each
/// row over `ctas` CTAs (`body::split_row`).
pub fn kernel(name: &str, quant: bool, d: u64, t: &str, target: Target, ctas: u64) -> String {
    let w = lanes(d);
    let params = if quant { "%out: !llvm.ptr, %x: !llvm.ptr, %scale: !llvm.ptr" } else { "%out: !llvm.ptr, %x: !llvm.ptr" };
    let mut k = header_split(name, params, target, ctas);
    let (before, within) = if quant { inv_scale_at(ctas, w) } else { Default::default() };
    k.push_str(&before);
    let _ = writeln!(
        k,
        r#"      %c2 = arith.constant {w} : index
      %D = arith.constant {d} : index
      %D2 = arith.constant {d2} : index
      %one = arith.constant 1.0 : f32
      %log2e = arith.constant 1.44269504 : f32
      %pmax = arith.constant dense<448.0> : vector<{w}xf32>
      %nmax = arith.constant dense<-448.0> : vector<{w}xf32>
      %inrow = arith.muli %row, %D2 : index
      %outrow = arith.muli %row, %D : index
      %first = arith.muli %tid, %c2 : index
      %step = arith.muli %nt, %c2 : index"#,
        d2 = 2 * d
    );
    k.push_str(&row_steps("%D", ctas));
    k.push_str(&silu_mul_y(t, w, target));
    k.push_str(&within);
    if quant {
        let _ = writeln!(k, "        %q = arith.mulf %y, %invv : vector<{w}xf32>");
        k.push_str(&store_fp8(target, "%io64", w));
    } else {
        k.push_str(&store_act("%out", "%io64", t, w));
    }
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}

/// `%y = rT(rT(silu(a)) * b)` (and `%yt`, rounded) for the lanes at `%j` of
/// the output row, with `%io64` its output index. Needs `%x`, `%inrow`,
/// `%outrow`, `%D`, `%one` and `%log2e`.
pub(crate) fn silu_mul_y(t: &str, w: u64, target: Target) -> String {
    let al = 2 * w;
    let mut k = format!(
        r#"        %ia = arith.addi %inrow, %j : index
        %ib = arith.addi %ia, %D : index
        %io = arith.addi %outrow, %j : index
        %ia64 = arith.index_cast %ia : index to i64
        %ib64 = arith.index_cast %ib : index to i64
        %io64 = arith.index_cast %io : index to i64
        %pa = llvm.getelementptr %x[%ia64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %pb = llvm.getelementptr %x[%ib64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %va = llvm.load %pa {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
        %vb = llvm.load %pb {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
        %fa = arith.extf %va : vector<{w}x{t}> to vector<{w}xf32>
        %fb = arith.extf %vb : vector<{w}x{t}> to vector<{w}xf32>
"#
    );
    // silu per lane (scalar: the exp is a scalar intrinsic on the GPU).
    for lane in 0..w {
        let exp = match target {
            Target::Gpu => format!(
                "        %na2_{lane} = arith.mulf %na_{lane}, %log2e : f32\n        %e_{lane} = llvm.call_intrinsic \"llvm.nvvm.ex2.approx.f32\"(%na2_{lane}) : (f32) -> f32\n"
            ),
            Target::Cpu => format!("        %e_{lane} = math.exp %na_{lane} : f32\n"),
        };
        let _ = write!(
            k,
            "        %a{lane} = vector.extract %fa[{lane}] : f32 from vector<{w}xf32>\n        %na_{lane} = arith.negf %a{lane} : f32\n{exp}        %den_{lane} = arith.addf %one, %e_{lane} : f32\n        %s{lane} = arith.divf %a{lane}, %den_{lane} : f32\n"
        );
    }
    let _ = writeln!(k, "        %sil_0 = arith.constant dense<0.0> : vector<{w}xf32>");
    for lane in 0..w {
        let _ = writeln!(k, "        %sil_{} = vector.insert %s{lane}, %sil_{lane}[{lane}] : f32 into vector<{w}xf32>", lane + 1);
    }
    k.push_str(&round_mul_round(&format!("%sil_{w}"), "%fb", t, w));
    k
}
