//! SiLU-and-mul, alone or + static FP8 quant, one CTA per row of `2d` inputs:
//! vllm-passes.md §10 `silu_and_mul_quant`, `q = fp8(rT(rT(silu(a)) * b) * (1/scale))`
//! with `silu(a) = a / (1 + exp(-a))` in f32. The GPU uses `ex2.approx`
//! (`exp(x) = 2^(x*log2 e)`, as CUDA's fast math does); the host twin the
//! exact `exp`, so it is bit-identical to the reference and the GPU within
//! the approximation (checked on a device by scripts/gpu-check).
use crate::body::{Target, footer, header_split, inv_scale_at, lanes, round_mul_round, row_steps, store_act, store_fp8};
use std::fmt::Write;

/// How the GPU kernels divide `a / (1 + e)`. The host twin always divides
/// with `arith.divf` (the reference's IEEE division): both forms compute
/// its bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Division {
    /// `div.rn.f32` per element, as vLLM's kernel divides. ptxas expands
    /// each into its fast path (`rcp.approx`, a Newton step, the quotient,
    /// an fma correction), a range check and a branch to a slow path: eight
    /// divisions a thread step, each in its own basic block.
    #[default]
    Ieee,
    /// That fast path written out for all lanes in one block, and the
    /// lanes' `div.rn.f32` only when one of them lies outside `FAST_RANGE`
    /// (one branch a thread step, not one a lane): `div_fast_path`.
    FastPath,
}

/// `quant`: `silu_and_mul_quant` (else `silu_and_mul`, writing `T`); each
/// row over `ctas` CTAs (`body::split_row`).
pub fn kernel(name: &str, quant: bool, d: u64, t: &str, target: Target, ctas: u64, division: Division) -> String {
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
    k.push_str(&silu_mul_y(t, w, target, division));
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
pub(crate) fn silu_mul_y(t: &str, w: u64, target: Target, division: Division) -> String {
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
            "        %a{lane} = vector.extract %fa[{lane}] : f32 from vector<{w}xf32>\n        %na_{lane} = arith.negf %a{lane} : f32\n{exp}        %den_{lane} = arith.addf %one, %e_{lane} : f32\n"
        );
    }
    let silu =
        if target == Target::Gpu && division == Division::FastPath { div_fast_path(w) } else { gather("s", &ieee_quotients("s", w), w) };
    k.push_str(&silu);
    k.push_str(&round_mul_round(&format!("%s_v{w}"), "%fb", t, w));
    k
}

/// `%{p}{lane} = a / den` by `arith.divf` (`div.rn.f32` on the GPU).
fn ieee_quotients(p: &str, w: u64) -> String {
    (0..w).map(|l| format!("        %{p}{l} = arith.divf %a{l}, %den_{l} : f32\n")).collect()
}

/// `body` (which defines `%{p}0 ..`), then the lanes gathered into the
/// vector `%{p}_v{w}`.
fn gather(p: &str, body: &str, w: u64) -> String {
    let mut k = body.to_string();
    let _ = writeln!(k, "        %{p}_v0 = arith.constant dense<0.0> : vector<{w}xf32>");
    for l in 0..w {
        let _ = writeln!(k, "        %{p}_v{} = vector.insert %{p}{l}, %{p}_v{l}[{l}] : f32 into vector<{w}xf32>", l + 1);
    }
    k
}

/// Where `div_fast_path` runs (bits of `|a|`: from, to; of `den`: at
/// most): `2^-14 <= |a| < inf` or `a = ±0`, and `den <= 2^64` (SiLU's
/// `den = 1 + e` is at least 1). There the quotient is a normal f32 (the
/// residual `a - q0 * den` is exact by fma) and the reciprocal too
/// (`rcp.approx.ftz` flushes subnormals, which a `den` past 2^126 would
/// give). The floor is f16's smallest normal: below it an f16 output is
/// subnormal, where one f32 ulp can decide a rounding (`a = 2^-24`,
/// `kernels::silu_fast_path_division_is_ieee_in_its_range`); activations
/// that small, or below -44, are rare and take the fallback.
pub const FAST_RANGE: (u32, u32, u32) = (0x3880_0000, 0x7f80_0000, 0x5f80_0000);

/// `%s_v{w} = a / den` lane by lane with `div.rn.f32`'s bits, without its
/// branch per lane. ptxas expands `div.rn.f32` (to be confirmed on the SASS
/// `scripts/gpu-session` saves) into `r0 = rcp.approx.ftz(den)`, `r1 =
/// fma(r0, fma(-den, r0, 1), r0)`, `q0 = a * r1`, `q1 = fma(fma(-q0, den,
/// a), r1, q0)`, then a range check (`FCHK`) that branches to a slow path.
/// The exactness does not rest on that: the tests below check this sequence
/// against IEEE division. Here the lanes run that sequence in one
/// block, and one check per thread step sends all of them through
/// `arith.divf` when any lane is outside `FAST_RANGE` (inputs SiLU rarely
/// sees: `|a| < 2^-14`, `a` below about -44, infinities and NaN).
/// A zero residual keeps `q0`, so `-0 / den` stays `-0`. Checked against
/// IEEE division: `kernels::silu_fast_path_division_is_ieee_in_its_range`
/// (every 16-bit `a`, `den` and `r0` perturbed) and, on the PTX itself,
/// the simulator and `scripts/gpu-check` (the variant against its kernel).
fn div_fast_path(w: u64) -> String {
    let (lo, inf, big) = FAST_RANGE;
    let mut k = format!(
        "        %fp_lo = arith.constant {lo} : i32\n        %fp_inf = arith.constant {inf} : i32\n        %fp_big = arith.constant {big} : i32\n        %fp_abs = arith.constant 2147483647 : i32\n        %fp_z = arith.constant 0 : i32\n        %fp_ok0 = arith.constant true\n"
    );
    for l in 0..w {
        let n = l + 1;
        let _ = write!(
            k,
            "        %fp_ab{l} = arith.bitcast %a{l} : f32 to i32\n        %fp_aa{l} = arith.andi %fp_ab{l}, %fp_abs : i32\n        %fp_db{l} = arith.bitcast %den_{l} : f32 to i32\n        %fp_lo{l} = arith.cmpi uge, %fp_aa{l}, %fp_lo : i32\n        %fp_fin{l} = arith.cmpi ult, %fp_aa{l}, %fp_inf : i32\n        %fp_zero{l} = arith.cmpi eq, %fp_aa{l}, %fp_z : i32\n        %fp_mid{l} = arith.andi %fp_lo{l}, %fp_fin{l} : i1\n        %fp_a{l} = arith.ori %fp_mid{l}, %fp_zero{l} : i1\n        %fp_d{l} = arith.cmpi ule, %fp_db{l}, %fp_big : i32\n        %fp_in{l} = arith.andi %fp_a{l}, %fp_d{l} : i1\n        %fp_ok{n} = arith.andi %fp_ok{l}, %fp_in{l} : i1\n"
        );
    }
    let mut fast = String::new();
    for l in 0..w {
        let _ = write!(
            fast,
            "          %f_r0{l} = llvm.call_intrinsic \"llvm.nvvm.rcp.approx.ftz.f\"(%den_{l}) : (f32) -> f32\n          %f_nd{l} = arith.negf %den_{l} : f32\n          %f_e{l} = llvm.intr.fma(%f_nd{l}, %f_r0{l}, %one) : (f32, f32, f32) -> f32\n          %f_r1{l} = llvm.intr.fma(%f_r0{l}, %f_e{l}, %f_r0{l}) : (f32, f32, f32) -> f32\n          %f_q0{l} = arith.mulf %a{l}, %f_r1{l} : f32\n          %f_nq{l} = arith.negf %f_q0{l} : f32\n          %f_res{l} = llvm.intr.fma(%f_nq{l}, %den_{l}, %a{l}) : (f32, f32, f32) -> f32\n          %f_q1{l} = llvm.intr.fma(%f_res{l}, %f_r1{l}, %f_q0{l}) : (f32, f32, f32) -> f32\n          %f_keep{l} = arith.cmpf ueq, %f_res{l}, %f_zero : f32\n          %f{l} = arith.select %f_keep{l}, %f_q0{l}, %f_q1{l} : f32\n"
        );
    }
    let fast = format!("          %f_zero = arith.constant 0.0 : f32\n{}", gather("f", &fast, w));
    let slow = gather("d", &ieee_quotients("d", w), w);
    let _ = write!(
        k,
        "        %s_v{w} = scf.if %fp_ok{w} -> (vector<{w}xf32>) {{\n{fast}          scf.yield %f_v{w} : vector<{w}xf32>\n        }} else {{\n{slow}          scf.yield %d_v{w} : vector<{w}xf32>\n        }}\n"
    );
    k
}
