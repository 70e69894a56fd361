//! The standalone static FP8 quant, `static_scaled_fp8_quant` (vllm-passes.md
//! §10): `q = fp8(x * (1/scale))`, multiplying by the reciprocal. One CTA
//! per row, like the fused kernels, so that the manifest's launch rule is
//! the same for every kernel. (The dynamic per-token quant is in
//! per_token.rs: it shares the row max with the fused form.)
use crate::body::{Target, footer, header, index_lines, lanes, store_fp8};
use std::fmt::Write;

pub fn kernel(name: &str, h: u64, t: &str, target: Target) -> String {
    let w = lanes(h);
    let al = 2 * w;
    let mut k = header(name, "%out: !llvm.ptr, %x: !llvm.ptr, %scale: !llvm.ptr", target);
    let _ = write!(
        k,
        r#"      %c2 = arith.constant {w} : index
      %H = arith.constant {h} : index
      %one = arith.constant 1.0 : f32
      %pmax = arith.constant dense<448.0> : vector<{w}xf32>
      %nmax = arith.constant dense<-448.0> : vector<{w}xf32>
      %sv = llvm.load %scale : !llvm.ptr -> f32
      %inv = arith.divf %one, %sv : f32
      %invv = vector.broadcast %inv : f32 to vector<{w}xf32>
      %base = arith.muli %row, %H : index
      %first = arith.muli %tid, %c2 : index
      %step = arith.muli %nt, %c2 : index
      scf.for %j = %first to %H step %step {{
{}        %px = llvm.getelementptr %x[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
        %f = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>
        %q = arith.mulf %f, %invv : vector<{w}xf32>
"#,
        index_lines()
    );
    k.push_str(&store_fp8(target, "%i64", w));
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}
