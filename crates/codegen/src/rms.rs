//! RMSNorm (+ residual add) + static FP8 quant: one CTA per token row.
//!
//! Rounding points of vllm-passes.md §10: `z = rT(x + r)` (residual form),
//! `s = rsqrt(Σz²/H + eps)`, `y = rT(rT(z*s) * w)`, `q = fp8(y * (1/scale))`
//! with NaN -> +448. Each thread handles pairs of elements (`vector<2xT>`
//! loads), the row sum is a `gpu.all_reduce` (warp shuffles + one shared
//! exchange), `rsqrt` is `rsqrt.approx` as in vLLM, FP8 is the hardware
//! `cvt.rn.satfinite.e4m3x2` (sm_89+).
use std::fmt::Write;

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

/// The kernel for `H` and element type `t` (`bf16` / `f16`).
pub fn kernel(name: &str, residual: bool, h: u64, t: &str, target: Target) -> String {
    let w = lanes(h);
    let al = 2 * w;
    let mut k = String::new();
    let params = if residual {
        "%out: !llvm.ptr, %x: !llvm.ptr, %res: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32"
    } else {
        "%out: !llvm.ptr, %x: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32"
    };
    let gpu = target == Target::Gpu;
    k.push_str(&header(name, params, target));
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
    // Pass 1: the (summed) row, its sum of squares; the residual form stores z.
    let _ = writeln!(k, "      %acc = scf.for %j = %first to %H step %step iter_args(%a = %zero) -> f32 {{");
    let _ = writeln!(k, "        %i = arith.addi %base, %j : index\n        %i64 = arith.index_cast %i : index to i64");
    let _ = writeln!(k, "        %px = llvm.getelementptr %x[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}");
    let _ = writeln!(k, "        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>");
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
    let _ = writeln!(
        k,
        "        %sq = arith.mulf %f, %f : vector<{w}xf32>"
    );
    // Lane by lane, in element order: the reference's summation order.
    let mut prev = "%a".to_string();
    for l in 0..w {
        let _ = writeln!(k, "        %s{l} = vector.extract %sq[{l}] : f32 from vector<{w}xf32>\n        %n{l} = arith.addf {prev}, %s{l} : f32");
        prev = format!("%n{l}");
    }
    let _ = writeln!(k, "        scf.yield {prev} : f32\n      }}");
    if gpu {
        let _ = writeln!(
            k,
            r#"      %var = gpu.all_reduce add %acc uniform {{}} : (f32) -> (f32)
      %mean = arith.divf %var, %Hf : f32
      %me = arith.addf %mean, %eps : f32
      %rs = llvm.call_intrinsic "llvm.nvvm.rsqrt.approx.f"(%me) : (f32) -> f32"#
        );
    } else {
        let _ = writeln!(
            k,
            r#"      %mean = arith.divf %acc, %Hf : f32
      %me = arith.addf %mean, %eps : f32
      %sq_me = math.sqrt %me : f32
      %rs = arith.divf %one, %sq_me : f32"#
        );
    }
    let _ = writeln!(
        k,
        r#"      %sv = llvm.load %scale : !llvm.ptr -> f32
      %inv = arith.divf %one, %sv : f32
      %rsv = vector.broadcast %rs : f32 to vector<{w}xf32>
      %invv = vector.broadcast %inv : f32 to vector<{w}xf32>"#
    );
    // Pass 2: normalize, weight, quantize (the row is re-read: it is in L1/L2).
    let src = if residual { "%res" } else { "%x" };
    let _ = writeln!(
        k,
        r#"      scf.for %j = %first to %H step %step {{
        %i = arith.addi %base, %j : index
        %i64 = arith.index_cast %i : index to i64
        %j64 = arith.index_cast %j : index to i64
        %px = llvm.getelementptr {src}[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
        %pw = llvm.getelementptr %w[%j64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vw = llvm.load %pw {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
        %fx = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>
        %nm = arith.mulf %fx, %rsv : vector<{w}xf32>
        %ntr = arith.truncf %nm : vector<{w}xf32> to vector<{w}x{t}>
        %nf = arith.extf %ntr : vector<{w}x{t}> to vector<{w}xf32>
        %fw = arith.extf %vw : vector<{w}x{t}> to vector<{w}xf32>
        %y = arith.mulf %nf, %fw : vector<{w}xf32>
        %yt = arith.truncf %y : vector<{w}xf32> to vector<{w}x{t}>
        %yf = arith.extf %yt : vector<{w}x{t}> to vector<{w}xf32>
        %q = arith.mulf %yf, %invv : vector<{w}xf32>"#
    );
    k.push_str(&store_fp8(target, "%i64", w));
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}

/// Opens a kernel: `%row`, `%tid` and `%nt` (threads per row) are defined.
/// On the host, a loop over `%rows` rows with one "thread" per row.
pub(crate) fn header(name: &str, params: &str, target: Target) -> String {
    match target {
        Target::Gpu => format!(
            "    gpu.func @{name}({params}) kernel {{\n      %row = gpu.block_id x\n      %tid = gpu.thread_id x\n      %nt = gpu.block_dim x\n"
        ),
        Target::Cpu => format!(
            "  func.func @{name}({params}, %rows: index) attributes {{llvm.emit_c_interface}} {{\n      %r0 = arith.constant 0 : index\n      %r1 = arith.constant 1 : index\n      scf.for %row = %r0 to %rows step %r1 {{\n      %tid = arith.constant 0 : index\n      %nt = arith.constant 1 : index\n"
        ),
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
    if h % 8 == 0 { 8 } else { 2 }
}

/// vLLM's `fp8(v)` of the pair `%q` (clamp to ±448 with NaN -> +448, round)
/// stored at `%out[index]`. Needs `%pmax`/`%nmax` (`dense<±448.0>`).
pub(crate) fn store_fp8(target: Target, index: &str, w: u64) -> String {
    let mut k = format!(
        r#"        %gt = arith.cmpf ugt, %q, %pmax : vector<{w}xf32>
        %qa = arith.select %gt, %pmax, %q : vector<{w}xi1>, vector<{w}xf32>
        %lt = arith.cmpf olt, %qa, %nmax : vector<{w}xf32>
        %qb = arith.select %lt, %nmax, %qa : vector<{w}xi1>, vector<{w}xf32>
        %q8_0 = arith.constant dense<0> : vector<{w}xi8>
"#
    );
    // One hardware conversion (or emulation) per pair of lanes.
    for p in 0..w / 2 {
        let pair = fp8_pair(target)
            .replace("%lo", &format!("%lo{p}"))
            .replace("%hi", &format!("%hi{p}"))
            .replace("%f8a", &format!("%f8a{p}"))
            .replace("%z8", &format!("%z8{p}"))
            .replace("%f8 ", &format!("%f8_{p} "));
        let _ = write!(
            k,
            "        %lo{p} = vector.extract %qb[{}] : f32 from vector<{w}xf32>\n        %hi{p} = vector.extract %qb[{}] : f32 from vector<{w}xf32>\n{pair}",
            2 * p,
            2 * p + 1
        );
        for lane in 0..2 {
            let _ = writeln!(
                k,
                "        %b{p}_{lane} = vector.extract %f8_{p}[{lane}] : i8 from vector<2xi8>\n        %q8_{} = vector.insert %b{p}_{lane}, %q8_{}[{}] : i8 into vector<{w}xi8>",
                2 * p + lane + 1,
                2 * p + lane,
                2 * p + lane
            );
        }
    }
    let _ = writeln!(
        k,
        "        %po = llvm.getelementptr %out[{index}] : (!llvm.ptr, i64) -> !llvm.ptr, i8\n        llvm.store %q8_{w}, %po {{alignment = {w} : i64}} : vector<{w}xi8>, !llvm.ptr"
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
