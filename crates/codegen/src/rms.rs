//! RMSNorm (+ residual add) + static FP8 quant: one CTA per token row.
//!
//! Rounding points of vllm-passes.md §10: `z = rT(x + r)` (residual form),
//! `s = rsqrt(Σz²/H + eps)`, `y = rT(rT(z*s) * w)`, `q = fp8(y * (1/scale))`
//! with NaN -> +448. Each thread handles pairs of elements (`vector<2xT>`
//! loads), the row sum is a `gpu.all_reduce` (warp shuffles + one shared
//! exchange), `rsqrt` is `rsqrt.approx` as in vLLM, FP8 is the hardware
//! `cvt.rn.satfinite.e4m3x2` (sm_89+).
use std::fmt::Write;

/// The kernel for `H` and element type `t` (`bf16` / `f16`), as a `gpu.func`.
pub fn kernel(name: &str, residual: bool, h: u64, t: &str) -> String {
    let mut k = String::new();
    let params = if residual {
        "%out: !llvm.ptr, %x: !llvm.ptr, %res: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32"
    } else {
        "%out: !llvm.ptr, %x: !llvm.ptr, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32"
    };
    let _ = writeln!(k, "    gpu.func @{name}({params}) kernel {{");
    let _ = writeln!(
        k,
        r#"      %c2 = arith.constant 2 : index
      %H = arith.constant {h} : index
      %zero = arith.constant 0.0 : f32
      %Hf = arith.constant {h}.0 : f32
      %one = arith.constant 1.0 : f32
      %pmax = arith.constant dense<448.0> : vector<2xf32>
      %nmax = arith.constant dense<-448.0> : vector<2xf32>
      %row = gpu.block_id x
      %tid = gpu.thread_id x
      %nt = gpu.block_dim x
      %base = arith.muli %row, %H : index
      %first = arith.muli %tid, %c2 : index
      %step = arith.muli %nt, %c2 : index"#
    );
    // Pass 1: the (summed) row, its sum of squares; the residual form stores z.
    let _ = writeln!(k, "      %acc = scf.for %j = %first to %H step %step iter_args(%a = %zero) -> f32 {{");
    let _ = writeln!(k, "        %i = arith.addi %base, %j : index\n        %i64 = arith.index_cast %i : index to i64");
    let _ = writeln!(k, "        %px = llvm.getelementptr %x[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}");
    let _ = writeln!(k, "        %vx = llvm.load %px {{alignment = 4 : i64}} : !llvm.ptr -> vector<2x{t}>");
    if residual {
        let _ = writeln!(
            k,
            r#"        %pr = llvm.getelementptr %res[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vr = llvm.load %pr {{alignment = 4 : i64}} : !llvm.ptr -> vector<2x{t}>
        %fx = arith.extf %vx : vector<2x{t}> to vector<2xf32>
        %fr = arith.extf %vr : vector<2x{t}> to vector<2xf32>
        %sum = arith.addf %fx, %fr : vector<2xf32>
        %zt = arith.truncf %sum : vector<2xf32> to vector<2x{t}>
        llvm.store %zt, %pr {{alignment = 4 : i64}} : vector<2x{t}>, !llvm.ptr
        %f = arith.extf %zt : vector<2x{t}> to vector<2xf32>"#
        );
    } else {
        let _ = writeln!(k, "        %f = arith.extf %vx : vector<2x{t}> to vector<2xf32>");
    }
    let _ = writeln!(
        k,
        r#"        %sq = arith.mulf %f, %f : vector<2xf32>
        %s0 = vector.extract %sq[0] : f32 from vector<2xf32>
        %s1 = vector.extract %sq[1] : f32 from vector<2xf32>
        %s = arith.addf %s0, %s1 : f32
        %n = arith.addf %a, %s : f32
        scf.yield %n : f32
      }}
      %var = gpu.all_reduce add %acc uniform {{}} : (f32) -> (f32)
      %mean = arith.divf %var, %Hf : f32
      %me = arith.addf %mean, %eps : f32
      %rs = llvm.call_intrinsic "llvm.nvvm.rsqrt.approx.f"(%me) : (f32) -> f32
      %sv = llvm.load %scale : !llvm.ptr -> f32
      %inv = arith.divf %one, %sv : f32
      %rsv = vector.broadcast %rs : f32 to vector<2xf32>
      %invv = vector.broadcast %inv : f32 to vector<2xf32>"#
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
        %vx = llvm.load %px {{alignment = 4 : i64}} : !llvm.ptr -> vector<2x{t}>
        %pw = llvm.getelementptr %w[%j64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vw = llvm.load %pw {{alignment = 4 : i64}} : !llvm.ptr -> vector<2x{t}>
        %fx = arith.extf %vx : vector<2x{t}> to vector<2xf32>
        %n = arith.mulf %fx, %rsv : vector<2xf32>
        %ntr = arith.truncf %n : vector<2xf32> to vector<2x{t}>
        %nf = arith.extf %ntr : vector<2x{t}> to vector<2xf32>
        %fw = arith.extf %vw : vector<2x{t}> to vector<2xf32>
        %y = arith.mulf %nf, %fw : vector<2xf32>
        %yt = arith.truncf %y : vector<2xf32> to vector<2x{t}>
        %yf = arith.extf %yt : vector<2x{t}> to vector<2xf32>
        %q = arith.mulf %yf, %invv : vector<2xf32>
        %gt = arith.cmpf ugt, %q, %pmax : vector<2xf32>
        %qa = arith.select %gt, %pmax, %q : vector<2xi1>, vector<2xf32>
        %lt = arith.cmpf olt, %qa, %nmax : vector<2xf32>
        %qb = arith.select %lt, %nmax, %qa : vector<2xi1>, vector<2xf32>
        %lo = vector.extract %qb[0] : f32 from vector<2xf32>
        %hi = vector.extract %qb[1] : f32 from vector<2xf32>
        %f8 = nvvm.convert.f32x2.to.f8x2 %hi, %lo {{rnd = #nvvm.fp_rnd_mode<rn>, sat = #nvvm.sat_mode<satfinite>}} : vector<2xi8> (f8E4M3FN)
        %po = llvm.getelementptr %out[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, i8
        llvm.store %f8, %po {{alignment = 2 : i64}} : vector<2xi8>, !llvm.ptr
      }}
      gpu.return
    }}"#
    );
    k
}
