//! The building blocks the kernel generators share: the kernel frame for
//! either target, the row loop's index lines, the sum of squares in element
//! order, `1/sqrt`, `rT(rT(a) * b)`, and vLLM's `fp8(v)` store.
use std::fmt::Write;

/// How a kernel walks its row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// A loop per pass, re-reading the row.
    Loops,
    /// The row loaded once into registers (unrolled chunks per thread): the
    /// GPU form of the norms and per-token quants. On the host it runs with
    /// one thread per row, which tests its chunking against the reference.
    Registers,
}

/// Where a kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A `gpu.func`: one CTA per row, the row split over the threads.
    Gpu,
    /// A `func.func` over all rows with one "thread" per row (an extra
    /// `rows: index` parameter), for the ExecutionEngine: the same body, with
    /// exact `1/sqrt` and FP8 rounding by integer arithmetic.
    Cpu,
}

/// The index lines of a row loop step `%j`: `%i64` into the row-major
/// tensor, `%j64` within the row.
pub(crate) fn index_lines() -> &'static str {
    "        %i = arith.addi %base, %j : index\n        %i64 = arith.index_cast %i : index to i64\n        %j64 = arith.index_cast %j : index to i64\n"
}

/// `index_lines` for the row that starts at element `base`.
pub(crate) fn index_lines_at(base: &str) -> String {
    index_lines().replacen("%base", base, 1)
}

/// Adds the squares of `v`'s lanes to the running sum `prev` in lane order
/// (the reference's summation order); returns the new sum's name. `tag`
/// keeps the names apart where several folds share a region. On the GPU
/// each step is one `fma` (`acc + x*x` rounded once), as nvcc contracts
/// vLLM's `variance += x * x`; the host rounds the square and the sum, as
/// the reference does, whose order only the host keeps (the GPU's threads
/// and block reduction sum in another).
pub(crate) fn fold_squares(k: &mut String, v: &str, tag: &str, w: u64, prev: &str, target: Target) -> String {
    if target == Target::Cpu {
        let _ = writeln!(k, "        %sq{tag} = arith.mulf {v}, {v} : vector<{w}xf32>");
    }
    let mut prev = prev.to_string();
    for l in 0..w {
        let step = match target {
            Target::Gpu => format!(
                "        %x{tag}_{l} = vector.extract {v}[{l}] : f32 from vector<{w}xf32>\n        %n{tag}_{l} = llvm.intr.fma(%x{tag}_{l}, %x{tag}_{l}, {prev}) : (f32, f32, f32) -> f32"
            ),
            Target::Cpu => format!(
                "        %s{tag}_{l} = vector.extract %sq{tag}[{l}] : f32 from vector<{w}xf32>\n        %n{tag}_{l} = arith.addf {prev}, %s{tag}_{l} : f32"
            ),
        };
        let _ = writeln!(k, "{step}");
        prev = format!("%n{tag}_{l}");
    }
    prev
}

/// Folds `max |v|` over the lanes into the running max `prev`; returns the
/// new max's name. `|v|` clears the sign bit (one `and.b32`) and the max is
/// `llvm.intr.maxnum` (`max.f32`, C's `fmaxf`: a NaN lane is skipped, as
/// `f32::max` and vLLM's `fmaxf` skip it). MLIR's `math.absf`,
/// `llvm.intr.fabs` and `arith.maxnumf` become libdevice calls on NVPTX (or
/// fail to legalize there).
pub(crate) fn fold_max_abs(k: &mut String, v: &str, tag: &str, w: u64, prev: &str) -> String {
    let _ = writeln!(
        k,
        "        %bi{tag} = arith.bitcast {v} : vector<{w}xf32> to vector<{w}xi32>\n        %mk{tag} = arith.constant dense<2147483647> : vector<{w}xi32>\n        %ai{tag} = arith.andi %bi{tag}, %mk{tag} : vector<{w}xi32>\n        %av{tag} = arith.bitcast %ai{tag} : vector<{w}xi32> to vector<{w}xf32>"
    );
    let mut prev = prev.to_string();
    for l in 0..w {
        let _ = writeln!(
            k,
            "        %a{tag}_{l} = vector.extract %av{tag}[{l}] : f32 from vector<{w}xf32>\n{}",
            max_f32(&format!("%m{tag}_{l}"), &prev, &format!("%a{tag}_{l}"))
        );
        prev = format!("%m{tag}_{l}");
    }
    prev
}

/// `dst = maxnum(prev, |v|)` in the 16-bit type `t` itself: the lanes of
/// `v` (a `vector<w x t>`; `words_as` makes one of packed words) with their
/// sign bits cleared, `maxnum`ed lane by lane into the running max `prev`.
/// On the GPU that is `max.bf16x2`/`max.f16x2`: two lanes an instruction, a
/// NaN lane skipped as `fmaxf` skips it. The lanes are exact in `t` and
/// widening is exact and keeps order, so the max is the f32 max of the
/// widened lanes, without widening each (a `cvt` and a `max` a lane, where
/// this is half an instruction each for the clear and the max). `lanes_max`
/// widens the result once.
pub(crate) fn fold_max_abs_16(v: &str, tag: &str, t: &str, w: u64, prev: &str, dst: &str) -> String {
    format!(
        r#"        %hb{tag} = vector.bitcast {v} : vector<{w}x{t}> to vector<{w}xi16>
        %hm{tag} = arith.constant dense<32767> : vector<{w}xi16>
        %ha{tag} = arith.andi %hb{tag}, %hm{tag} : vector<{w}xi16>
        %hv{tag} = vector.bitcast %ha{tag} : vector<{w}xi16> to vector<{w}x{t}>
        {dst} = llvm.intr.maxnum({prev}, %hv{tag}) : (vector<{w}x{t}>, vector<{w}x{t}>) -> vector<{w}x{t}>
"#
    )
}

/// The line that names the packed words `src` (`packed_type`) as the
/// `vector<w x t>` `dst`.
pub(crate) fn words_as(src: &str, dst: &str, t: &str, w: u64) -> String {
    format!("        {dst} = vector.bitcast {src} : {} to vector<{w}x{t}>\n", packed_type(w))
}

/// `dst`: the max (f32) of the lanes of `v` (a `vector<w x t>` of
/// non-negative lanes, `w` a power of two from 2): halves `maxnum`ed in `t`
/// down to two lanes (`max.bf16x2` each step), which are widened and
/// compared once. A thread with a single chunk would otherwise spend more
/// widening its eight lanes than the packed max saved.
pub(crate) fn lanes_max(dst: &str, v: &str, t: &str, w: u64) -> String {
    let mut k = String::new();
    let (mut cur, mut n) = (v.to_string(), w);
    while n > 2 {
        let h = n / 2;
        let lanes = |from: u64| (from..from + h).map(|l| l.to_string()).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            k,
            "      {dst}_lo{h} = vector.shuffle {cur}, {cur} [{}] : vector<{n}x{t}>, vector<{n}x{t}>\n      {dst}_hi{h} = vector.shuffle {cur}, {cur} [{}] : vector<{n}x{t}>, vector<{n}x{t}>\n      {dst}_v{h} = llvm.intr.maxnum({dst}_lo{h}, {dst}_hi{h}) : (vector<{h}x{t}>, vector<{h}x{t}>) -> vector<{h}x{t}>",
            lanes(0),
            lanes(h)
        );
        cur = format!("{dst}_v{h}");
        n = h;
    }
    let _ = writeln!(
        k,
        "      {dst}_0h = vector.extract {cur}[0] : {t} from vector<2x{t}>\n      {dst}_0 = arith.extf {dst}_0h : {t} to f32\n      {dst}_1h = vector.extract {cur}[1] : {t} from vector<2x{t}>\n      {dst}_1 = arith.extf {dst}_1h : {t} to f32\n{}",
        max_f32(dst, &format!("{dst}_0"), &format!("{dst}_1"))
    );
    k
}

/// `dst = fmaxf(a, b)` on f32 (`llvm.intr.maxnum`: one `max.f32`, a NaN
/// operand yields the other), with no line break at the end.
pub(crate) fn max_f32(dst: &str, a: &str, b: &str) -> String {
    format!("        {dst} = llvm.intr.maxnum({a}, {b}) : (f32, f32) -> f32")
}

/// The loop body that adds `%f`'s squares to the loop's `%a` and yields
/// (closing the loop).
pub(crate) fn sum_squares(w: u64, target: Target) -> String {
    let mut k = String::new();
    let last = fold_squares(&mut k, "%f", "", w, "%a", target);
    let _ = writeln!(k, "        scf.yield {last} : f32\n      }}");
    k
}

/// `%rs = 1/sqrt(Σ/H + eps)` from the per-thread sums `%acc`: the block sum
/// (`block_reduce` for a kernel compiled for a `Block`, else
/// `gpu.all_reduce`) and `rsqrt.approx` on the GPU (as vLLM), the exact form
/// on the host.
pub(crate) fn inv_rms(target: Target, threads: Option<Block>) -> String {
    let rest = "      %mean = arith.divf %var, %Hf : f32\n      %me = arith.addf %mean, %eps : f32\n      %rs = llvm.call_intrinsic \"llvm.nvvm.rsqrt.approx.f\"(%me) : (f32) -> f32\n";
    match (target, threads) {
        (Target::Gpu, Some(b)) => format!("{}{rest}", block_reduce("%var", "%acc", Reduce::Add, b)),
        (Target::Gpu, None) => format!("      %var = gpu.all_reduce add %acc uniform {{}} : (f32) -> (f32)\n{rest}"),
        (Target::Cpu, _) => {
            "      %mean = arith.divf %acc, %Hf : f32\n      %me = arith.addf %mean, %eps : f32\n      %sq_me = math.sqrt %me : f32\n      %rs = arith.divf %one, %sq_me : f32\n".to_string()
        }
    }
}

/// `%y = rT(rT({a}) * {b})`: vLLM's `T*T` after a value rounded to `T`.
pub(crate) fn round_mul_round(a: &str, b: &str, t: &str, w: u64) -> String {
    format!(
        r#"        %at = arith.truncf {a} : vector<{w}xf32> to vector<{w}x{t}>
        %af = arith.extf %at : vector<{w}x{t}> to vector<{w}xf32>
        %y0 = arith.mulf %af, {b} : vector<{w}xf32>
        %yt = arith.truncf %y0 : vector<{w}xf32> to vector<{w}x{t}>
        %y = arith.extf %yt : vector<{w}x{t}> to vector<{w}xf32>
"#
    )
}

/// `%y = rT(rT(%f * s) * w)` for the lanes at `%j64` (`%rsv` holds `s`).
pub(crate) fn normalize(t: &str, w: u64) -> String {
    format!("{}{}", load_weight(t, w), normalize_by("%vw", t, w))
}

/// The type chunks are kept in across a block reduction: `w` 16-bit lanes
/// as `w/2` 32-bit words, two lanes a register (as loaded; 16-bit values
/// each take a whole register).
pub(crate) fn packed_type(w: u64) -> String {
    format!("vector<{}xi32>", w / 2)
}

/// Lines that define `%pk`, the `vector<w x t>` `v` as `packed_type`.
pub(crate) fn pack(v: &str, t: &str, w: u64) -> String {
    format!("        %pk = vector.bitcast {v} : vector<{w}x{t}> to {}\n", packed_type(w))
}

/// `dst = extf(src)` for `src` of `packed_type`, at the top level of a kernel.
pub(crate) fn unpack(dst: &str, src: &str, t: &str, w: u64) -> String {
    format!(
        "      {dst}_b = vector.bitcast {src} : {} to vector<{w}x{t}>\n      {dst} = arith.extf {dst}_b : vector<{w}x{t}> to vector<{w}xf32>\n",
        packed_type(w)
    )
}

/// `dst = src` in f32 for `src` of `packed_type`, inside a chunk. For bf16
/// by its bits (lane `2i` is word `i` shifted up, lane `2i+1` its upper
/// half): the same words also get an `extf` (`unpack`) before the block
/// reduction, and LLVM would merge two `extf`s into one f32 value kept in
/// four times the registers across the barrier; it does not see these as one.
pub(crate) fn widen(dst: &str, src: &str, t: &str, w: u64) -> String {
    let half = w / 2;
    if t != "bf16" {
        return format!(
            "        %wdb = vector.bitcast {src} : vector<{half}xi32> to vector<{w}x{t}>\n        {dst} = arith.extf %wdb : vector<{w}x{t}> to vector<{w}xf32>\n"
        );
    }
    let mask: Vec<String> = (0..half).flat_map(|i| [i.to_string(), (half + i).to_string()]).collect();
    format!(
        "        %wds = arith.constant dense<16> : vector<{half}xi32>\n        %wdm = arith.constant dense<-65536> : vector<{half}xi32>\n        %wdl = arith.shli {src}, %wds : vector<{half}xi32>\n        %wdh = arith.andi {src}, %wdm : vector<{half}xi32>\n        %wdv = vector.shuffle %wdl, %wdh [{}] : vector<{half}xi32>, vector<{half}xi32>\n        {dst} = arith.bitcast %wdv : vector<{w}xi32> to vector<{w}xf32>\n",
        mask.join(", ")
    )
}

/// `%vw`: the weight lanes at `%j64`, as stored.
fn load_weight(t: &str, w: u64) -> String {
    let al = 2 * w;
    format!(
        "        %pw = llvm.getelementptr %w[%j64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        %vw = llvm.load %pw {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>\n"
    )
}

/// `normalize` with the weight lanes already loaded into `vw` (`Regs::load`
/// loads them before the block reduction).
pub(crate) fn normalize_by(vw: &str, t: &str, w: u64) -> String {
    format!(
        "        %fw = arith.extf {vw} : vector<{w}x{t}> to vector<{w}xf32>\n        %n = arith.mulf %f, %rsv : vector<{w}xf32>\n{}",
        round_mul_round("%n", "%fw", t, w)
    )
}

/// An f32 as an MLIR float literal (which needs a decimal point).
pub(crate) fn flt(x: f32) -> String {
    let s = format!("{x:e}");
    if s.contains('.') { s } else { s.replacen('e', ".0e", 1) }
}

/// vLLM's int8 `cvt.rni.sat.s8(v)` of the lanes of `%q` (round to nearest
/// even, saturate, NaN -> 0) stored at `%out[index]`. On the GPU it is that
/// instruction, as vLLM's `float_to_int8_rn` writes it (inline PTX: NVVM has
/// no intrinsic for it), one a lane where the clamp, the NaN select and
/// `cvt.rni.s32` took seven; the host clamps in f32, sends NaN to 0 and
/// rounds with `math.roundeven`.
pub(crate) fn store_i8(target: Target, index: &str, w: u64) -> String {
    let mut k = String::new();
    match target {
        Target::Gpu => {
            let _ = writeln!(k, "        %q8_0 = arith.constant dense<0> : vector<{w}xi8>");
            for l in 0..w {
                let _ = writeln!(
                    k,
                    "        %e{l} = vector.extract %q[{l}] : f32 from vector<{w}xf32>\n        %r{l} = llvm.inline_asm \"cvt.rni.sat.s8.f32 $0, $1;\", \"=r,f\" %e{l} : (f32) -> i32\n        %t{l} = arith.trunci %r{l} : i32 to i8\n        %q8_{} = vector.insert %t{l}, %q8_{l}[{l}] : i8 into vector<{w}xi8>",
                    l + 1
                );
            }
            let _ = writeln!(k, "        %qi = arith.addi %q8_{w}, %q8_0 : vector<{w}xi8>");
        }
        Target::Cpu => {
            let _ = write!(
                k,
                r#"        %i8max = arith.constant dense<127.0> : vector<{w}xf32>
        %i8min = arith.constant dense<-128.0> : vector<{w}xf32>
        %z8f = arith.constant dense<0.0> : vector<{w}xf32>
        %isnan = arith.cmpf uno, %q, %q : vector<{w}xf32>
        %qn = arith.select %isnan, %z8f, %q : vector<{w}xi1>, vector<{w}xf32>
        %gt8 = arith.cmpf ogt, %qn, %i8max : vector<{w}xf32>
        %qa = arith.select %gt8, %i8max, %qn : vector<{w}xi1>, vector<{w}xf32>
        %lt8 = arith.cmpf olt, %qa, %i8min : vector<{w}xf32>
        %qb = arith.select %lt8, %i8min, %qa : vector<{w}xi1>, vector<{w}xf32>
        %qr = math.roundeven %qb : vector<{w}xf32>
        %qi = arith.fptosi %qr : vector<{w}xf32> to vector<{w}xi8>
"#
            );
        }
    }
    let _ = writeln!(
        k,
        "        %po = llvm.getelementptr %out[{index}] : (!llvm.ptr, i64) -> !llvm.ptr, i8\n        llvm.store %qi, %po {{alignment = {w} : i64}} : vector<{w}xi8>, !llvm.ptr"
    );
    k
}

/// Stores `%yt` (a `vector<w x t>` already rounded to `t`) at `{ptr}[index]`.
pub(crate) fn store_act(ptr: &str, index: &str, t: &str, w: u64) -> String {
    let al = 2 * w;
    format!(
        "        %pst = llvm.getelementptr {ptr}[{index}] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        llvm.store %yt, %pst {{alignment = {al} : i64}} : vector<{w}x{t}>, !llvm.ptr\n"
    )
}

/// `%q = y / s` lane by lane as IEEE division rounds it, without a division
/// per lane: `rcpv` holds `RN(1/s)` and `sv` holds `s` (each in every lane),
/// `q0 = RN(y * rcp)` is within one ulp, and Markstein's correction
/// `q0 + (y - q0*s) * rcp` (the residual exact by fma) rounds to `RN(y/s)`
/// (Markstein's theorem; Muller et al., Handbook of Floating-Point
/// Arithmetic, on division with an fma). Not
/// covered by the theorem: a residual below f32's range, for |y| < ~2^-100,
/// or a subnormal quotient (a huge scale), where the quotient is < 2^-58 and
/// every FP8 rounding of it is a zero of its sign (300M random pairs: no
/// other difference); and an infinite `q0` (y infinite, or
/// y*rcp past f32), where the residual is NaN and `q0` is kept, which is
/// the infinity the division gives. A zero residual means `q0` is the
/// quotient: it is kept too, with its sign (`-0 + 0` would be `+0`).
/// `div.rn.f32` is a long sequence with a slow path per lane; this is a
/// multiply, two fmas and a select.
pub(crate) fn div_by_reciprocal(y: &str, sv: &str, rcpv: &str, w: u64) -> String {
    format!(
        r#"        %dq0 = arith.mulf {y}, {rcpv} : vector<{w}xf32>
        %dnq = arith.negf %dq0 : vector<{w}xf32>
        %dres = llvm.intr.fma(%dnq, {sv}, {y}) : (vector<{w}xf32>, vector<{w}xf32>, vector<{w}xf32>) -> vector<{w}xf32>
        %dq1 = llvm.intr.fma(%dres, {rcpv}, %dq0) : (vector<{w}xf32>, vector<{w}xf32>, vector<{w}xf32>) -> vector<{w}xf32>
        %dzero = arith.constant dense<0.0> : vector<{w}xf32>
        %dkeep = arith.cmpf ueq, %dres, %dzero : vector<{w}xf32>
        %q = arith.select %dkeep, %dq0, %dq1 : vector<{w}xi1>, vector<{w}xf32>
"#
    )
}

/// `%q = y / s` as `div_by_reciprocal` computes it, for a scale taken from
/// the max of `|y|` (`|y / s| <= 448` up to rounding, or `s` infinite), in
/// four instructions a lane where that takes six: no select. It needs
/// `max_scale_operands`: `rcpv` = `RN(1/s)`, `nrcpv` = `-RN(1/s)` and `sfv`
/// = `s`, or 0 where `s` is infinite. Markstein's correction with its
/// residual negated, `q0 - (q0*s - y) * rcp`: the same two roundings (RN is
/// odd), so the same quotient, and the cases the select kept `q0` for come
/// out by themselves:
/// - `y = ±0`: the residual is `±0 + ∓0 = +0`, and `q0 - 0` keeps `q0`'s
///   sign (`-0 + -0 = -0`), where `q0 + 0` would give `+0`;
/// - `s` infinite (an infinite `|y|` in the row or group): `sfv = 0` makes
///   the residual `-y` and the correction `y * -0`, a zero of `y`'s sign, so
///   finite lanes give `q0 = y * 0`, signed, as `y / inf` does, and infinite
///   ones NaN, as `inf / inf`;
/// - an infinite `q0` with a finite `s` cannot happen: `|y| <= max`.
///
/// A scale clamped below the max (`scale_ub`) keeps `div_by_reciprocal`.
pub(crate) fn div_by_max_scale(y: &str, rcpv: &str, nrcpv: &str, sfv: &str, w: u64) -> String {
    format!(
        r#"        %dq0 = arith.mulf {y}, {rcpv} : vector<{w}xf32>
        %dny = arith.negf {y} : vector<{w}xf32>
        %dres = llvm.intr.fma(%dq0, {sfv}, %dny) : (vector<{w}xf32>, vector<{w}xf32>, vector<{w}xf32>) -> vector<{w}xf32>
        %q = llvm.intr.fma(%dres, {nrcpv}, %dq0) : (vector<{w}xf32>, vector<{w}xf32>, vector<{w}xf32>) -> vector<{w}xf32>
"#
    )
}

/// `{dst} = RN({x} / 448)` for `x >= 1e-10` (a group max, so no NaN) or
/// `+inf`, without `div.rn.f32`, whose expansion on the GPU (a fast path, a
/// range check and a branch to a slow path) ends a basic block in the middle
/// of each group's step: `x * RN(1/448)` within one ulp, then Markstein's
/// correction as in `div_by_max_scale` (IEEE's quotient for every such
/// `x`: the quotient is normal and finite, `kernels::fma_divisions_are_ieee`
/// checks every 16-bit maximum and random f32 ones), and `+inf` for an
/// infinite `x`, where the residual is NaN.
pub(crate) fn div_by_448(dst: &str, x: &str) -> String {
    let r = flt(1.0f32 / 448.0);
    format!(
        r#"        {dst}_r = arith.constant {r} : f32
        {dst}_nr = arith.constant -{r} : f32
        {dst}_c = arith.constant 448.0 : f32
        {dst}_q0 = arith.mulf {x}, {dst}_r : f32
        {dst}_nx = arith.negf {x} : f32
        {dst}_e = llvm.intr.fma({dst}_q0, {dst}_c, {dst}_nx) : (f32, f32, f32) -> f32
        {dst}_q1 = llvm.intr.fma({dst}_e, {dst}_nr, {dst}_q0) : (f32, f32, f32) -> f32
        {dst}_inf = arith.constant 0x7F800000 : f32
        {dst}_isinf = arith.cmpf oeq, {x}, {dst}_inf : f32
        {dst} = arith.select {dst}_isinf, {dst}_inf, {dst}_q1 : f32
"#
    )
}

/// `{dst} = {v}`, or 0 where the scale `{s}` (an f32) is infinite.
pub(crate) fn zero_where_infinite(dst: &str, s: &str, v: &str) -> String {
    format!(
        r#"        {dst}_inf = arith.constant 0x7F800000 : f32
        {dst}_isinf = arith.cmpf oeq, {s}, {dst}_inf : f32
        {dst}_zero = arith.constant 0.0 : f32
        {dst} = arith.select {dst}_isinf, {dst}_zero, {v} : f32
"#
    )
}

/// The operands `div_by_max_scale` takes for the scale `s` (an f32 value),
/// in every lane of `w`: `%{p}rcpv` (`RN(1/s)`), `%{p}nrcpv` (its negation)
/// and `%{p}sfv` (`s`, or 0 where it is infinite). Needs `%one`.
pub(crate) fn max_scale_operands(s: &str, p: &str, w: u64) -> String {
    format!(
        r#"      %{p}rcp = arith.divf %one, {s} : f32
      %{p}rcpv = vector.broadcast %{p}rcp : f32 to vector<{w}xf32>
      %{p}nrcp = arith.negf %{p}rcp : f32
      %{p}nrcpv = vector.broadcast %{p}nrcp : f32 to vector<{w}xf32>
{}      %{p}sfv = vector.broadcast %{p}sf : f32 to vector<{w}xf32>
"#,
        zero_where_infinite(&format!("%{p}sf"), s, s)
    )
}

/// The loop body that folds `max |{v}|` into the loop's `%m` and yields
/// (closing the loop).
pub(crate) fn max_abs_step(v: &str, w: u64) -> String {
    let mut k = String::new();
    let last = fold_max_abs(&mut k, v, "", w, "%m");
    let _ = writeln!(k, "        scf.yield {last} : f32\n      }}");
    k
}

/// `%invv`: the reciprocal of the static scale `*%scale` in every lane
/// (vLLM multiplies by it).
pub(crate) fn inv_scale(w: u64) -> String {
    format!(
        "      %one_s = arith.constant 1.0 : f32\n      %sv = llvm.load %scale : !llvm.ptr -> f32\n      %inv = arith.divf %one_s, %sv : f32\n      %invv = vector.broadcast %inv : f32 to vector<{w}xf32>\n"
    )
}

/// `inv_scale` split into what goes before the walk over the row and what
/// goes in its step after the loads: before for a loop, in the step for a
/// split row's one straight-line step (`row_steps`), so that its loads
/// issue with the scale's.
pub(crate) fn inv_scale_at(ctas: u64, w: u64) -> (String, String) {
    if ctas > 1 { (String::new(), inv_scale(w)) } else { (inv_scale(w), String::new()) }
}

/// The row scale `%sc = max(%mx (all threads) / qmax, minsf)`, stored at
/// `%scale[row]` by one thread, and broadcast as `%scv`. On the GPU the max
/// over threads is an integer max of the bit patterns: `|y| >= 0` and never
/// NaN, so float order is integer order, and no libdevice `fmaxf` is needed.
/// With `ub`, the max is first clamped to `*%ub` (vLLM's `scale_ub`). A
/// kernel compiled for a `Block` reduces by `block_reduce`.
pub(crate) fn row_scale(target: Target, qmax: f32, minsf: f32, w: u64, ub: bool, threads: Option<Block>) -> String {
    let bits = "      %mxb = arith.bitcast %mx : f32 to i32\n";
    let mut k = match (target, threads) {
        (Target::Gpu, Some(b)) => {
            format!("{bits}{}      %amax0 = arith.bitcast %amaxb : i32 to f32\n", block_reduce("%amaxb", "%mxb", Reduce::Max, b))
        }
        (Target::Gpu, None) => format!(
            "{bits}      %amaxb = gpu.all_reduce maxsi %mxb uniform {{}} : (i32) -> (i32)\n      %amax0 = arith.bitcast %amaxb : i32 to f32\n"
        ),
        (Target::Cpu, _) => "      %amax0 = arith.addf %mx, %zero : f32\n".to_string(),
    };
    if ub {
        k.push_str("      %ubv = llvm.load %ub : !llvm.ptr -> f32\n      %below = arith.cmpf olt, %ubv, %amax0 : f32\n      %amax = arith.select %below, %ubv, %amax0 : f32\n");
    } else {
        k.push_str("      %amax = arith.addf %amax0, %zero : f32\n");
    }
    let _ = write!(
        k,
        "      %qmax = arith.constant {} : f32\n      %minsf = arith.constant {} : f32\n      %sc0 = arith.divf %amax, %qmax : f32\n      %gs = arith.cmpf ogt, %sc0, %minsf : f32\n      %sc = arith.select %gs, %sc0, %minsf : f32\n      %scv = vector.broadcast %sc : f32 to vector<{w}xf32>\n      %row64 = arith.index_cast %row : index to i64\n      %ps = llvm.getelementptr %scale[%row64] : (!llvm.ptr, i64) -> !llvm.ptr, f32\n",
        flt(qmax),
        flt(minsf)
    );
    match target {
        Target::Gpu => k.push_str("      %c0_s = arith.constant 0 : index\n      %lead = arith.cmpi eq, %tid, %c0_s : index\n      scf.if %lead {\n        llvm.store %sc, %ps : f32, !llvm.ptr\n      }\n"),
        Target::Cpu => k.push_str("      llvm.store %sc, %ps : f32, !llvm.ptr\n"),
    }
    k
}

/// The constants and row indices of the norm and per-token kernels: `%c2`
/// (lanes), `%H`, `%zero`, `%Hf`, `%one`, `%pmax`/`%nmax` (±448 lanes),
/// `%base` (the row's first element) and `%first` (the thread's).
pub(crate) fn row_constants(h: u64, w: u64) -> String {
    format!(
        r#"      %c2 = arith.constant {w} : index
      %H = arith.constant {h} : index
      %zero = arith.constant 0.0 : f32
      %Hf = arith.constant {h}.0 : f32
      %one = arith.constant 1.0 : f32
      %pmax = arith.constant dense<448.0> : vector<{w}xf32>
      %nmax = arith.constant dense<-448.0> : vector<{w}xf32>
      %base = arith.muli %row, %H : index
      %first = arith.muli %tid, %c2 : index
"#
    )
}

/// `%XS`: the input's row stride parameter `%xs` as an index.
pub(crate) const INPUT_STRIDE: &str = "      %XS = arith.index_cast %xs : i64 to index\n";

/// `{base}x`, a pointer to row `row` of the input `%x` (of `t`, rows `%XS`
/// apart), the twin of the row base `base`: its lanes at `%j` are at
/// `{base}x[%j64]`, an offset the weights' loads share.
pub(crate) fn input_base(base: &str, row: &str, t: &str) -> String {
    format!(
        "      {base}xo = arith.muli {row}, %XS : index\n      {base}xo64 = arith.index_cast {base}xo : index to i64\n      {base}x = llvm.getelementptr %x[{base}xo64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n"
    )
}

/// `%XS` and `%basex`, the input row of `%row` (a kernel with one row per
/// CTA or host step; the persistent schedule's rows are `Regs::load`'s).
pub(crate) fn input_row(t: &str) -> String {
    format!("{INPUT_STRIDE}{}", input_base("%base", "%row", t))
}

/// `row_constants` without `%base` (the persistent schedule defines it per row).
fn row_constants_of_cta(h: u64, w: u64) -> String {
    row_constants(h, w).replace("      %base = arith.muli %row, %H : index\n", "")
}

/// Threads per row of the GPU kernels that keep the row in registers.
///
/// - Few rows (`tokens` < 256): as many threads as divide the row's chunks
///   (`lanes` elements each), up to 1024, one chunk each where possible: few
///   CTAs, so each row is spread wide (vLLM's block of up to 1024 there).
/// - Many or unknown (`None`): the fewest threads, a multiple of 32 dividing
///   the chunks, that give each thread at most 4 chunks (32 f32 live per
///   array: no spills). Every CTA pays for its block reductions and their
///   barrier; fewer threads amortize them over more elements and keep more
///   loads in flight per thread. Simulated (crates/ptx-sim, H = 4096):
///   instructions per row 512 -> 128 threads: per-token FP8 norm -28 %,
///   `rms_norm` -40 %. vLLM uses 256 here.
///
/// A row whose chunks no such block divides gets enough warps to cover it
/// (up to the cap), the last chunk guarded. The kernel is specialized on it.
pub(crate) fn reg_threads(h: u64, tokens: Option<u64>) -> u64 {
    let chunks = h / lanes(h);
    let divides = |b: &u64| chunks.is_multiple_of(*b);
    let fallback = |cap: u64| (chunks.div_ceil(32) * 32).min(cap);
    match tokens {
        Some(t) if t < 256 => (1..=32).map(|n| 32 * n).filter(divides).max().unwrap_or_else(|| fallback(1024)),
        _ => {
            let least = chunks.div_ceil(MAX_CHUNKS);
            (1..=32).map(|n| 32 * n).filter(|b| *b >= least).find(divides).unwrap_or_else(|| fallback(512))
        }
    }
}

/// The most 16-byte chunks a thread keeps in registers for many rows.
const MAX_CHUNKS: u64 = 4;

/// True if a row of `h` fits the register form at `threads` a row: at most
/// `2 * MAX_CHUNKS` chunks a thread (a row, its weights and `y` of 8 chunks
/// already take 96 registers; a row past 1024 threads of 8 chunks, 64K
/// elements, loops instead of spilling). The chunks are unrolled, so this
/// also bounds the kernel's size.
pub(crate) fn fits_in_registers(h: u64, threads: u64) -> bool {
    (h / lanes(h)).div_ceil(threads) <= 2 * MAX_CHUNKS
}

/// How a pointwise kernel splits a row for few rows (`tokens` < 256):
/// `(threads, ctas)` with one 16-byte chunk per thread, 128 threads a CTA,
/// or `None` to keep one CTA per row (many or unknown rows, or a row of at
/// most one CTA's chunks). One CTA per row left a 1-token SiLU-and-mul
/// (d = 14336) on one SM looping over its row: 3.9 us on an H200 against
/// 1.5 us for Inductor's kernel, which spreads the elements over the GPU.
pub(crate) fn split_row(h: u64, tokens: Option<u64>) -> Option<(u64, u64)> {
    const THREADS: u64 = 128;
    let chunks = h / lanes(h);
    match tokens {
        Some(t) if t < 256 && chunks > THREADS => Some((THREADS, chunks.div_ceil(THREADS))),
        _ => None,
    }
}

/// The walk of a row and, for `Form::Registers` on the GPU, the block the
/// kernel is compiled for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    pub form: Form,
    pub threads: u64,
    /// The persistent schedule (`Regs::persistent`): the kernel takes the
    /// row count (`%num_tokens: i32`, last) and, in the GPU register form, each CTA
    /// walks rows `blockIdx.x + k * gridDim.x`. The host form only takes the
    /// parameter.
    pub persistent: bool,
}

/// The block a reduction runs over: `threads` (a multiple of 32), and for
/// the persistent schedule two slots of its workgroup buffer (`%slot`, 0 or
/// 32, alternating by row): a fast thread's next row then writes the other
/// slot, which no thread still reads, and one barrier per reduction stays
/// enough.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Block {
    pub threads: u64,
    pub slotted: bool,
}

/// How the GPU kernels hold the row: `chunks` vectors of `lanes` per thread,
/// thread `t`'s chunk `c` at element `t*lanes + c*threads*lanes`.
pub(crate) struct Regs {
    pub w: u64,
    pub threads: u64,
    pub chunks: u64,
    /// The last chunk may lie past the row for some threads.
    pub guarded: bool,
    /// The element type the chunks are kept in (`load`'s `packed`), if not f32.
    pub packed: Option<String>,
    /// The persistent schedule (GPU only): `load` opens a loop over the
    /// CTA's rows (`blockIdx.x + k * gridDim.x`) that `close` ends. The
    /// weights are loaded once per CTA, before it, and each row's chunks are
    /// loaded one row ahead: row `r + gridDim.x`'s loads are issued before
    /// row `r`'s block reductions, so they are in flight across the
    /// barriers. The launch's grid is at most the CTAs the GPU holds at once.
    pub persistent: bool,
    /// The input's rows are `%xs: i64` elements of this type apart (vLLM's
    /// `input_stride`: the norms, the per-token quant): `%XS` is that as an index, and
    /// each row base (`%base`, `%base0`, `%nbase`) has a twin `{base}x`, a
    /// pointer to the row in `%x` (`input_base`).
    pub input_stride: Option<String>,
}

impl Regs {
    /// The GPU's layout for `threads` per row; on the host one "thread"
    /// holds the whole row.
    pub(crate) fn new(h: u64, target: Target, threads: u64) -> Regs {
        let w = lanes(h);
        let threads = if target == Target::Gpu { threads } else { 1 };
        let per_row = h / w;
        Regs {
            w,
            threads,
            chunks: per_row.div_ceil(threads),
            guarded: !per_row.is_multiple_of(threads),
            packed: None,
            persistent: false,
            input_stride: None,
        }
    }

    /// The layout for `layout` (its block; the persistent schedule on the GPU).
    pub(crate) fn of(h: u64, target: Target, layout: Layout) -> Regs {
        Regs { persistent: layout.persistent && target == Target::Gpu, ..Regs::new(h, target, layout.threads) }
    }

    /// The kernel's first lines (`header_reduce`, or the persistent
    /// schedule's `header_persistent`).
    pub(crate) fn header(&self, name: &str, params: &str, target: Target) -> String {
        if self.persistent { header_persistent(name, params) } else { header_reduce(name, params, target) }
    }

    /// `row_constants`; `%base` is the loop's for the persistent schedule.
    /// With `input_stride`, also `%XS` (and `%basex` outside that loop).
    pub(crate) fn row_constants(&self, h: u64) -> String {
        let mut k = if self.persistent { row_constants_of_cta(h, self.w) } else { row_constants(h, self.w) };
        match &self.input_stride {
            Some(_) if self.persistent => k.push_str(INPUT_STRIDE),
            Some(t) => k.push_str(&input_row(t)),
            None => {}
        }
        k
    }

    /// The lines defining the row base `name` of row `row` (its first
    /// element) and, with `input_stride`, its twin into the input.
    fn base(&self, name: &str, row: &str) -> String {
        let twin = self.input_stride.as_ref().map_or_else(String::new, |t| input_base(name, row, t));
        format!("      {name} = arith.muli {row}, %H : index\n{twin}")
    }

    /// The block the reductions run over (`inv_rms`, `row_scale`).
    pub(crate) fn block(&self) -> Option<Block> {
        Some(Block { threads: self.threads, slotted: self.persistent })
    }

    /// What the chunks need: `%c0r`, `%zvr` (zero lanes), `%nzr` (-0.0
    /// lanes: `x + -0.0` is `x`, a way to name a value), `%nz0`, and `%jc{c}`,
    /// each chunk's offset in the row, with `%ok{c}` for the guarded one.
    /// Needs `%first` and `%H`.
    pub(crate) fn prelude(&self) -> String {
        let w = self.w;
        let mut k = format!(
            "      %c0r = arith.constant 0 : index\n      %zvr = arith.constant dense<0.0> : vector<{w}xf32>\n      %nzr = arith.constant dense<-0.0> : vector<{w}xf32>\n      %nz0 = arith.constant -0.0 : f32\n"
        );
        for c in 0..self.chunks {
            let _ = writeln!(
                k,
                "      %off{c} = arith.constant {} : index\n      %jc{c} = arith.addi %first, %off{c} : index",
                c * self.threads * self.w
            );
            if self.guarded && c + 1 == self.chunks {
                let _ = writeln!(k, "      %ok{c} = arith.cmpi ult, %jc{c}, %H : index");
            }
        }
        k
    }

    /// Loads the row into the chunks `%fc{c}`, each with `load` (the lines
    /// that define `%f` for the lanes at `%j`). With `packed` (`(v, t)`: `v`
    /// is `%f` as a `vector<w x t>` in `load`, exactly), the chunks are kept
    /// as `%pc{c}` in `t`, half the registers of f32 across the block
    /// reductions, and `f32_of` widens them where they are used; `%fc{c}` is
    /// then the f32 form for what follows the load. With `norm` (the
    /// weights' element type), also loads the weight lanes of each chunk
    /// into `%wc{c}` (for `normalize_by`) and sums the squares in element
    /// order into `%rs` (`1/rms`) and `%rsv` (its broadcast). Every load is
    /// issued before the block reduction: its barrier would otherwise leave
    /// the weights' L2 round trip on each row's critical path. Needs
    /// `prelude`'s names and `%zero`.
    ///
    /// `load` gives those lines for the row starting at a `%base`-like name.
    pub(crate) fn load(
        &mut self,
        k: &mut String,
        load: &dyn Fn(&str) -> String,
        packed: Option<(&str, &str)>,
        norm: Option<&str>,
        target: Target,
    ) {
        if self.persistent {
            return self.load_ahead(k, load, packed, norm, target);
        }
        let load = &load("%base");
        let w = self.w;
        let mut acc = "%zero".to_string();
        if let Some((_, t)) = packed {
            let _ = writeln!(k, "      %zxr = arith.constant dense<0> : {}", packed_type(w));
            self.packed = Some(t.to_string());
        }
        for c in 0..self.chunks {
            let f = format!("%fc{c}");
            match packed {
                Some((v, t)) => {
                    let body = format!("{load}{}", pack(v, t, w));
                    k.push_str(&self.chunk_of(c, &body, Some((&format!("%pc{c}"), "%pk")), &packed_type(w), "%zxr"));
                    k.push_str(&unpack(&f, &format!("%pc{c}"), t, w));
                }
                None => k.push_str(&self.chunk(c, load, Some((&f, "%f")))),
            }
            if norm.is_some() {
                acc = fold_squares(k, &f, &c.to_string(), w, &acc, target);
            }
        }
        if let Some(t) = norm {
            self.load_weights(k, t, "%base");
            self.inv_rms_of(k, &acc, target);
        }
    }

    /// The weight lanes of each chunk into `%wc{c}` (`base` only names the
    /// index lines' row; the weights have none).
    fn load_weights(&self, k: &mut String, t: &str, base: &str) {
        let w = self.w;
        let _ = writeln!(k, "      %zwr = arith.constant dense<0.0> : vector<{w}x{t}>");
        for c in 0..self.chunks {
            let body = format!("{}{}", index_lines_at(base), load_weight(t, w));
            k.push_str(&self.chunk_of(c, &body, Some((&format!("%wc{c}"), "%vw")), &format!("vector<{w}x{t}>"), "%zwr"));
        }
    }

    /// `%rs` and `%rsv` from this thread's sum of squares `acc`.
    fn inv_rms_of(&self, k: &mut String, acc: &str, target: Target) {
        let _ = writeln!(k, "      %acc = arith.addf {acc}, %nz0 : f32");
        k.push_str(&inv_rms(target, self.block()));
        let _ = writeln!(k, "      %rsv = vector.broadcast %rs : f32 to vector<{}xf32>", self.w);
    }

    /// `load` for the persistent schedule: the weights, then the CTA's first
    /// row, then the loop over its rows (`%row`, `%base` defined), whose
    /// body first issues the next row's loads (zeros past the last row) and
    /// then widens and reduces this row's chunks (`%pc{c}`, loop-carried).
    /// The caller's code for the row follows; `close` yields the next row's
    /// chunks and the other reduction slot. A row kept in f32 (the residual
    /// sum of the per-token and per-block norms) is carried as it is.
    fn load_ahead(
        &mut self,
        k: &mut String,
        load: &dyn Fn(&str) -> String,
        packed: Option<(&str, &str)>,
        norm: Option<&str>,
        target: Target,
    ) {
        let (w, n) = (self.w, self.chunks);
        // Carried packed (`%pc{c}`, widened in the body) or in f32 (`%fc{c}`).
        let (carried, value, zero) = match packed {
            Some((_, t)) => {
                self.packed = Some(t.to_string());
                let _ = writeln!(k, "      %zxr = arith.constant dense<0> : {}", packed_type(w));
                ("%pc", "%pk", "%zxr")
            }
            None => ("%fc", "%f", "%zvr"),
        };
        let ty = self.carried_type();
        if let Some(t) = norm {
            self.load_weights(k, t, "%c0r");
        }
        // The chunks of the row at `base`, named `{name}{c}`.
        let chunks = |k: &mut String, base: &str, name: &str| {
            for c in 0..n {
                let body = match packed {
                    Some((v, t)) => format!("{}{}", load(base), pack(v, t, w)),
                    None => load(base),
                };
                k.push_str(&self.chunk_of(c, &body, Some((&format!("{name}{c}"), value)), &ty, zero));
            }
        };
        k.push_str(&self.base("%base0", "%cta"));
        chunks(k, "%base0", "%ipc");
        let list = |f: &dyn Fn(u64) -> String| (0..n).map(f).collect::<Vec<_>>().join(", ");
        let types = list(&|_| ty.clone());
        let _ = writeln!(
            k,
            "      %slot0 = arith.constant 0 : index\n      %lp:{} = scf.for %r = %cta to %rows step %ncta iter_args({}, %slot = %slot0) -> ({types}, index) {{",
            n + 1,
            list(&|c| format!("{carried}{c} = %ipc{c}"))
        );
        let _ = write!(
            k,
            "      %row = arith.addi %r, %c0r : index\n{}      %nrow = arith.addi %r, %ncta : index\n{}",
            self.base("%base", "%row"),
            self.base("%nbase", "%nrow")
        );
        let _ = writeln!(k, "      %more = arith.cmpi ult, %nrow, %rows : index\n      %nx:{n} = scf.if %more -> ({types}) {{");
        chunks(k, "%nbase", "%npc");
        let _ = writeln!(
            k,
            "        scf.yield {} : {types}\n      }} else {{\n        scf.yield {} : {types}\n      }}",
            list(&|c| format!("%npc{c}")),
            list(&|_| zero.into())
        );
        let mut acc = "%zero".to_string();
        for c in 0..n {
            let f = format!("%fc{c}");
            if let Some((_, t)) = packed {
                k.push_str(&unpack(&f, &format!("%pc{c}"), t, w));
            }
            if norm.is_some() {
                acc = fold_squares(k, &f, &c.to_string(), w, &acc, target);
            }
        }
        if norm.is_some() {
            self.inv_rms_of(k, &acc, target);
        }
    }

    /// The type a chunk is carried in from one row to the next.
    fn carried_type(&self) -> String {
        if self.packed.is_some() { packed_type(self.w) } else { format!("vector<{}xf32>", self.w) }
    }

    /// Ends what `load` opened: for the persistent schedule, the loop over
    /// the CTA's rows (the next row's chunks and the other slot carried).
    pub(crate) fn close(&self, k: &mut String) {
        if !self.persistent {
            return;
        }
        let n = self.chunks;
        let ty = self.carried_type();
        let next = (0..n).map(|c| format!("%nx#{c}")).collect::<Vec<_>>().join(", ");
        let types = (0..n).map(|_| ty.clone()).collect::<Vec<_>>().join(", ");
        let _ = writeln!(
            k,
            "      %c32sl = arith.constant 32 : index\n      %nslot = arith.subi %c32sl, %slot : index\n      scf.yield {next}, %nslot : {types}, index\n      }}"
        );
    }

    /// The lines that define `dst` as chunk `c`'s lanes in f32, in a
    /// `chunk` body after `load`: widened again from the packed form
    /// (`widen`), or the f32 chunk itself.
    pub(crate) fn f32_of(&self, c: u64, dst: &str) -> String {
        match &self.packed {
            Some(t) => widen(dst, &format!("%pc{c}"), t, self.w),
            None => format!("        {dst} = arith.addf %fc{c}, %nzr : vector<{}xf32>\n", self.w),
        }
    }

    /// Runs `body` for chunk `c` in its own region, with `%j` its offset in
    /// the row. With `result` (a name), the region yields `value` as it (zero
    /// lanes where the chunk is past the row).
    pub(crate) fn chunk(&self, c: u64, body: &str, result: Option<(&str, &str)>) -> String {
        self.chunk_of(c, body, result, &format!("vector<{}xf32>", self.w), "%zvr")
    }

    /// `chunk` yielding a value of type `ty`, `zero` past the row.
    pub(crate) fn chunk_of(&self, c: u64, body: &str, result: Option<(&str, &str)>, ty: &str, zero: &str) -> String {
        let guarded = self.guarded && c + 1 == self.chunks;
        let mut k = String::new();
        let open = match (result, guarded) {
            (Some((r, _)), true) => format!("      {r} = scf.if %ok{c} -> ({ty}) {{\n"),
            (Some((r, _)), false) => format!("      {r} = scf.execute_region -> {ty} {{\n"),
            (None, true) => format!("      scf.if %ok{c} {{\n"),
            (None, false) => "      scf.execute_region {\n".to_string(),
        };
        k.push_str(&open);
        let _ = writeln!(k, "        %j = arith.addi %jc{c}, %c0r : index");
        k.push_str(body);
        match (result, guarded) {
            (Some((_, v)), true) => {
                let _ = writeln!(k, "        scf.yield {v} : {ty}\n      }} else {{\n        scf.yield {zero} : {ty}\n      }}");
            }
            (Some((_, v)), false) => {
                let _ = writeln!(k, "        scf.yield {v} : {ty}\n      }}");
            }
            (None, true) => k.push_str("      }\n"),
            (None, false) => k.push_str("        scf.yield\n      }\n"),
        }
        k
    }
}

/// Opens a kernel: `%row`, `%tid` and `%nt` (threads per row) are defined.
/// On the host, a loop over `%rows` rows with one "thread" per row.
pub(crate) fn header(name: &str, params: &str, target: Target) -> String {
    header_split(name, params, target, 1)
}

/// `header` for the register-form kernels: on the GPU with the workgroup
/// buffers of their block reductions (`block_reduce`).
pub(crate) fn header_reduce(name: &str, params: &str, target: Target) -> String {
    match target {
        Target::Gpu => format!(
            "{}{ROW_IDS}",
            gpu_func(
                name,
                params,
                " workgroup(%redf: memref<32xf32, #gpu.address_space<workgroup>>, %redi: memref<32xi32, #gpu.address_space<workgroup>>)"
            )
        ),
        Target::Cpu => header(name, params, target),
    }
}

/// A GPU kernel's row, thread and threads per row, one CTA a row.
const ROW_IDS: &str = "      %row = gpu.block_id x\n      %tid = gpu.thread_id x\n      %nt = gpu.block_dim x\n";

/// A kernel's parameter list, with the persistent schedule's row count
/// (`%num_tokens: i32`, which `header_persistent` reads) last when `persistent`.
pub(crate) fn with_row_count(params: &str, persistent: bool) -> String {
    if persistent { format!("{params}, %num_tokens: i32") } else { params.to_string() }
}

/// `header_reduce` for the persistent schedule (`Regs::persistent`): the
/// reductions' buffers have two slots, and instead of `%row` the CTA's first
/// row `%cta`, the grid `%ncta` and the row count `%rows` (from the kernel's
/// last parameter, `%num_tokens`) are defined.
pub(crate) fn header_persistent(name: &str, params: &str) -> String {
    format!(
        "{}      %cta = gpu.block_id x\n      %ncta = gpu.grid_dim x\n      %tid = gpu.thread_id x\n      %nt = gpu.block_dim x\n      %rows = arith.index_castui %num_tokens : i32 to index\n",
        gpu_func(
            name,
            params,
            " workgroup(%redf: memref<64xf32, #gpu.address_space<workgroup>>, %redi: memref<64xi32, #gpu.address_space<workgroup>>)"
        )
    )
}

/// The first line of a kernel's `gpu.func`, with `attributions` (workgroup
/// buffers) if any.
fn gpu_func(name: &str, params: &str, attributions: &str) -> String {
    format!("    gpu.func @{name}({params}){attributions} kernel {{\n")
}

/// A block reduction's operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reduce {
    /// f32 sum (into `%redf`).
    Add,
    /// i32 max (into `%redi`).
    Max,
}

/// `dst` = the sum or max of every thread's `v` over a CTA of `threads`
/// (a multiple of 32), the same value in every thread: an xor butterfly
/// within each warp, each warp's lane 0 stores its value in the workgroup
/// buffer (`header_reduce`), one barrier, then every thread folds the warps'
/// values in warp order. `gpu.all_reduce` lowers to two barriers, a second
/// butterfly by the first warp and a broadcast through shared memory; the
/// kernels' latency per row is what bounds them below copy bandwidth. One
/// reduction of each kind per kernel (each has its buffer, so no barrier is
/// needed between them).
pub(crate) fn block_reduce(dst: &str, v: &str, op: Reduce, block: Block) -> String {
    let p = dst.trim_start_matches('%');
    let threads = block.threads;
    let size = if block.slotted { 64 } else { 32 };
    // The slot's index of `i` (`%slot` added for the persistent schedule).
    let at = |i: &str, tag: &str, k: &mut String| -> String {
        if block.slotted {
            let _ = writeln!(k, "      %{p}_a{tag} = arith.addi {i}, %slot : index");
            format!("%{p}_a{tag}")
        } else {
            i.to_string()
        }
    };
    let (ty, buf, fold) = match op {
        Reduce::Add => ("f32", "%redf", "arith.addf"),
        Reduce::Max => ("i32", "%redi", "arith.maxsi"),
    };
    let mut k = format!("      %{p}_w = arith.constant 32 : i32\n");
    let mut prev = v.to_string();
    let mut off = 16;
    while off >= 1 {
        let _ = writeln!(
            k,
            "      %{p}_o{off} = arith.constant {off} : i32\n      %{p}_x{off}, %{p}_k{off} = gpu.shuffle xor {prev}, %{p}_o{off}, %{p}_w : {ty}\n      %{p}_s{off} = {fold} {prev}, %{p}_x{off} : {ty}"
        );
        prev = format!("%{p}_s{off}");
        off /= 2;
    }
    let _ = writeln!(
        k,
        "      %{p}_c32 = arith.constant 32 : index\n      %{p}_c0 = arith.constant 0 : index\n      %{p}_lane = arith.remui %tid, %{p}_c32 : index\n      %{p}_warp = arith.divui %tid, %{p}_c32 : index\n      %{p}_lead = arith.cmpi eq, %{p}_lane, %{p}_c0 : index"
    );
    let slot = at(&format!("%{p}_warp"), "w", &mut k);
    let _ = writeln!(
        k,
        "      scf.if %{p}_lead {{\n        memref.store {prev}, {buf}[{slot}] : memref<{size}x{ty}, #gpu.address_space<workgroup>>\n      }}\n      gpu.barrier"
    );
    let mut acc = String::new();
    for w in 0..threads / 32 {
        let _ = writeln!(k, "      %{p}_i{w} = arith.constant {w} : index");
        let i = at(&format!("%{p}_i{w}"), &w.to_string(), &mut k);
        let _ = writeln!(k, "      %{p}_v{w} = memref.load {buf}[{i}] : memref<{size}x{ty}, #gpu.address_space<workgroup>>");
        acc = if w == 0 {
            format!("%{p}_v0")
        } else {
            let _ = writeln!(k, "      %{p}_t{w} = {fold} {acc}, %{p}_v{w} : {ty}");
            format!("%{p}_t{w}")
        };
    }
    let zero = if op == Reduce::Add { "%{p}_z = arith.constant -0.0 : f32" } else { "%{p}_z = arith.constant 0 : i32" };
    let _ = writeln!(
        k,
        "      {}\n      {dst} = {} {acc}, %{p}_z : {ty}",
        zero.replace("{p}", p),
        if op == Reduce::Add { "arith.addf" } else { "arith.addi" }
    );
    k
}

/// `header` for a row split over `ctas` CTAs (consecutive in the grid):
/// `%tid` and `%nt` then count the row's threads over all its CTAs, so a
/// loop over the row from `%tid` by `%nt` is unchanged. Only for kernels
/// whose threads do not cooperate (no block reduction, no lead thread).
pub(crate) fn header_split(name: &str, params: &str, target: Target, ctas: u64) -> String {
    match target {
        Target::Gpu if ctas > 1 => format!(
            "{}      %bid = gpu.block_id x\n      %ctas = arith.constant {ctas} : index\n      %row = arith.divui %bid, %ctas : index\n      %part = arith.remui %bid, %ctas : index\n      %ctid = gpu.thread_id x\n      %cnt = gpu.block_dim x\n      %nt = arith.muli %cnt, %ctas : index\n      %pfirst = arith.muli %part, %cnt : index\n      %tid = arith.addi %pfirst, %ctid : index\n",
            gpu_func(name, params, "")
        ),
        Target::Gpu => {
            format!("{}{ROW_IDS}", gpu_func(name, params, ""))
        }
        Target::Cpu => format!(
            "  func.func @{name}({params}, %rows: index) attributes {{llvm.emit_c_interface}} {{\n      %r0 = arith.constant 0 : index\n      %r1 = arith.constant 1 : index\n      scf.for %row = %r0 to %rows step %r1 {{\n      %tid = arith.constant 0 : index\n      %nt = arith.constant 1 : index\n"
        ),
    }
}

/// Opens the walk over a row from `%first` by `%step` to `bound`, with `%j`
/// the step's offset: a loop, or for a row split over CTAs (`ctas` > 1, at
/// most one step a thread) a guarded block. Straight-line code lets the
/// row's loads issue with the scale's: a loop's loads wait for what LLVM
/// hoists before it (a static scale's load and reciprocal), one DRAM round
/// trip more for a 1-token launch. Closed by `}`.
pub(crate) fn row_steps(bound: &str, ctas: u64) -> String {
    if ctas > 1 {
        format!(
            "      %c0s = arith.constant 0 : index\n      %jin = arith.cmpi ult, %first, {bound} : index\n      scf.if %jin {{\n        %j = arith.addi %first, %c0s : index\n"
        )
    } else {
        format!("      scf.for %j = %first to {bound} step %step {{\n")
    }
}

/// Closes what `header` opened.
pub(crate) fn footer(target: Target) -> &'static str {
    match target {
        Target::Gpu => "      gpu.return\n    }\n",
        Target::Cpu => "      }\n      return\n  }\n",
    }
}

/// Elements per thread per step: 16-byte loads (8 × 16-bit) when the row
/// allows, else pairs.
pub(crate) fn lanes(h: u64) -> u64 {
    if h.is_multiple_of(8) { 8 } else { 2 }
}

/// vLLM's `fp8(v)` of the pair `%q` (clamp to ±448 with NaN -> +448, round)
/// stored at `%out[index]`. Needs `%pmax`/`%nmax` (`dense<±448.0>`).
pub(crate) fn store_fp8(target: Target, index: &str, w: u64) -> String {
    store_fp8_nan_to(target, index, w, "%pmax")
}

/// `store_fp8` with NaN going to `nan` (`%pmax` or `%nmax`): the per-group
/// kernels clamp as `fminf(fmaxf(v, min), max)`, which sends NaN to `min`.
pub(crate) fn store_fp8_nan_to(target: Target, index: &str, w: u64, nan: &str) -> String {
    // LLVM's minnum/maxnum are C's fminf/fmaxf (a NaN operand yields the
    // other), one `min.f32`/`max.f32` each on NVPTX: vLLM's clamp order then
    // decides where NaN goes (`fmaxf(-M, fminf(v, M))`: +448; the per-group
    // `fminf(fmaxf(v, -M), M)`: -448). On the GPU only that first bound is
    // emitted: `cvt.rn.satfinite` takes everything past ±448 (infinities
    // included) to ±448 itself, which is the second bound, so it would
    // change no byte and costs an instruction per element. The host's
    // integer rounding (`fp8_bits`) needs both.
    let (first, second) = if nan == "%nmax" { ("maxnum", "minnum") } else { ("minnum", "maxnum") };
    let (b1, b2) = if nan == "%nmax" { ("%nmax", "%pmax") } else { ("%pmax", "%nmax") };
    let mut k = format!("        %qa = llvm.intr.{first}(%q, {b1}) : (vector<{w}xf32>, vector<{w}xf32>) -> vector<{w}xf32>\n");
    let clamped = match target {
        Target::Gpu => "%qa",
        Target::Cpu => {
            let _ = writeln!(k, "        %qb = llvm.intr.{second}(%qa, {b2}) : (vector<{w}xf32>, vector<{w}xf32>) -> vector<{w}xf32>");
            "%qb"
        }
    };
    let pairs = w / 2;
    let _ = writeln!(k, "        %q16_0 = arith.constant dense<0> : vector<{pairs}xi16>");
    // One hardware conversion (or emulation) per pair of lanes, its two
    // bytes kept as one i16: inserted byte by byte into a vector of i8,
    // NVPTX takes each pair apart and packs it again (shifts, `prmt`s),
    // about one instruction more per element.
    for p in 0..pairs {
        let pair = fp8_pair(target)
            .replace("%lo", &format!("%lo{p}"))
            .replace("%hi", &format!("%hi{p}"))
            .replace("%f8a", &format!("%f8a{p}"))
            .replace("%z8", &format!("%z8{p}"))
            .replace("%f8 ", &format!("%f8_{p} "));
        let _ = write!(
            k,
            "        %lo{p} = vector.extract {clamped}[{}] : f32 from vector<{w}xf32>\n        %hi{p} = vector.extract {clamped}[{}] : f32 from vector<{w}xf32>\n{pair}",
            2 * p,
            2 * p + 1
        );
        let _ = writeln!(
            k,
            "        %h{p} = llvm.bitcast %f8_{p} : vector<2xi8> to i16\n        %q16_{} = vector.insert %h{p}, %q16_{p}[{p}] : i16 into vector<{pairs}xi16>",
            p + 1
        );
    }
    let _ = writeln!(
        k,
        "        %po = llvm.getelementptr %out[{index}] : (!llvm.ptr, i64) -> !llvm.ptr, i8\n        llvm.store %q16_{pairs}, %po {{alignment = {w} : i64}} : vector<{pairs}xi16>, !llvm.ptr"
    );
    k
}

/// `fp8(v)` of the two lanes `%lo`, `%hi` (clamped, NaN already +448) into
/// `%f8 : vector<2xi8>`: the hardware conversion, or the integer emulation.
pub(crate) fn fp8_pair(target: Target) -> String {
    match target {
        Target::Gpu => "        %f8 = nvvm.convert.f32x2.to.f8x2 %hi, %lo {rnd = #nvvm.fp_rnd_mode<rn>, sat = #nvvm.sat_mode<satfinite>} : vector<2xi8> (f8E4M3FN)\n".to_string(),
        Target::Cpu => format!(
            "{}{}        %z8 = arith.constant dense<0> : vector<2xi8>\n        %f8a = vector.insert %lo_q, %z8[0] : i8 into vector<2xi8>\n        %f8 = vector.insert %hi_q, %f8a[1] : i8 into vector<2xi8>\n",
            fp8_bits("lo"),
            fp8_bits("hi")
        ),
    }
}

/// e4m3fn round-to-nearest-even of `%{v}` (already clamped to ±448, no NaN)
/// by integer arithmetic, into `%{v}_q : i8`. Normal: add the RNE bias at
/// bit 20 and keep exponent+3 mantissa bits, rebiased (127 -> 7); below
/// 2^-6: `roundeven(|v| * 2^9)` subnormal steps.
fn fp8_bits(v: &str) -> String {
    format!(
        r#"        %{v}_b = arith.bitcast %{v} : f32 to i32
        %{v}_c31 = arith.constant 31 : i32
        %{v}_sg0 = arith.shrui %{v}_b, %{v}_c31 : i32
        %{v}_c7 = arith.constant 7 : i32
        %{v}_sg = arith.shli %{v}_sg0, %{v}_c7 : i32
        %{v}_mask = arith.constant 2147483647 : i32
        %{v}_abs = arith.andi %{v}_b, %{v}_mask : i32
        %{v}_absf = arith.bitcast %{v}_abs : i32 to f32
        %{v}_minn = arith.constant 0.015625 : f32
        %{v}_sub = arith.cmpf olt, %{v}_absf, %{v}_minn : f32
        %{v}_k512 = arith.constant 512.0 : f32
        %{v}_sc = arith.mulf %{v}_absf, %{v}_k512 : f32
        %{v}_re = math.roundeven %{v}_sc : f32
        %{v}_qs = arith.fptoui %{v}_re : f32 to i32
        %{v}_c20 = arith.constant 20 : i32
        %{v}_c1 = arith.constant 1 : i32
        %{v}_l0 = arith.shrui %{v}_abs, %{v}_c20 : i32
        %{v}_lsb = arith.andi %{v}_l0, %{v}_c1 : i32
        %{v}_bias = arith.constant 524287 : i32
        %{v}_t0 = arith.addi %{v}_abs, %{v}_bias : i32
        %{v}_t1 = arith.addi %{v}_t0, %{v}_lsb : i32
        %{v}_t2 = arith.shrui %{v}_t1, %{v}_c20 : i32
        %{v}_reb = arith.constant 960 : i32
        %{v}_qn = arith.subi %{v}_t2, %{v}_reb : i32
        %{v}_qm = arith.select %{v}_sub, %{v}_qs, %{v}_qn : i32
        %{v}_q32 = arith.ori %{v}_qm, %{v}_sg : i32
        %{v}_q = arith.trunci %{v}_q32 : i32 to i8
"#
    )
}
