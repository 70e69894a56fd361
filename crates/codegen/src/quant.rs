//! The standalone static FP8 quant, `static_scaled_fp8_quant` (vllm-passes.md
//! §10): `q = fp8(x * (1/scale))`, multiplying by the reciprocal; and the
//! scale kernel that, run before it, makes the per-tensor dynamic quant. One
//! CTA per row, like the fused kernels, so that the manifest's launch rule
//! is the same for every kernel. (The dynamic per-token quant is in
//! per_token.rs: it shares the row max with the fused form.)
use crate::body::{
    Block, INPUT_STRIDE, Reduce, Target, block_reduce, fold_max_abs_16, footer, header, header_persistent, header_split, index_lines,
    input_row, inv_scale_at, lanes, lanes_max, row_constants, row_steps, store_fp8, with_row_count,
};
use std::fmt::Write;

/// The static quant, each row over `ctas` CTAs (`body::split_row`). Its
/// input rows lie `input_stride` apart (vLLM's quants take a row of a wider
/// tensor too); the output is contiguous.
pub fn kernel(name: &str, h: u64, t: &str, target: Target, ctas: u64) -> String {
    let w = lanes(h);
    let al = 2 * w;
    let mut k = header_split(name, "%out: !llvm.ptr, %x: !llvm.ptr, %xs: i64, %scale: !llvm.ptr", target, ctas);
    k.push_str(&row_constants(h, w));
    k.push_str(&input_row(t));
    let (before, within) = inv_scale_at(ctas, w);
    k.push_str(&before);
    k.push_str("      %step = arith.muli %nt, %c2 : index\n");
    k.push_str(&row_steps("%H", ctas));
    let _ = write!(
        k,
        r#"{}        %px = llvm.getelementptr %basex[%j64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
{within}        %f = arith.extf %vx : vector<{w}x{t}> to vector<{w}xf32>
        %q = arith.mulf %f, %invv : vector<{w}xf32>
"#,
        index_lines()
    );
    k.push_str(&store_fp8(target, "%i64", w));
    k.push_str("      }\n");
    k.push_str(footer(target));
    k
}

/// The first of the two kernels of the per-tensor dynamic quant
/// (`dynamic_scaled_fp8_quant`, §10): each row's CTA takes `max|x| / 448` of
/// its row and folds it into `*scale` with an atomic max, which is exact
/// (division by a positive constant is monotonic, and non-negative floats
/// order as their bits). `*scale` must be zero before the launch, as vLLM's
/// `torch.zeros`; the static quant kernel then reads it (`1/scale`, no MINSF
/// clamp, as vLLM).
///
/// `persistent` (`Some(threads)`, `Kernel::persistent`) takes the row count
/// as a last `num_tokens: i32`; on the GPU it is `max_kernel_persistent`.
pub fn max_kernel(name: &str, h: u64, t: &str, target: Target, persistent: Option<u64>) -> String {
    let params = with_row_count(MAX_PARAMS, persistent.is_some());
    if let (Target::Gpu, Some(threads)) = (target, persistent) {
        return max_kernel_persistent(name, h, t, threads);
    }
    let w = lanes(h);
    let al = 2 * w;
    let mut k = header(name, &params, target);
    k.push_str(&row_constants(h, w));
    k.push_str(&input_row(t));
    let _ = write!(
        k,
        r#"      %qmax = arith.constant 448.0 : f32
      %step = arith.muli %nt, %c2 : index
      %ym_0 = arith.constant dense<0.0> : vector<{w}x{t}>
      %ymv = scf.for %j = %first to %H step %step iter_args(%ym_s = %ym_0) -> vector<{w}x{t}> {{
{}        %px = llvm.getelementptr %basex[%j64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %vx = llvm.load %px {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
{}        scf.yield %ym_sn : vector<{w}x{t}>
      }}
{}"#,
        index_lines(),
        fold_max_abs_16("%vx", "s", t, w, "%ym_s", "%ym_sn"),
        lanes_max("%mx", "%ymv", t, w)
    );
    match target {
        Target::Gpu => k.push_str(
            r#"      %mxb = arith.bitcast %mx : f32 to i32
      %amaxb = gpu.all_reduce maxsi %mxb uniform {} : (i32) -> (i32)
      %amax = arith.bitcast %amaxb : i32 to f32
      %s = arith.divf %amax, %qmax : f32
      %sb = arith.bitcast %s : f32 to i32
      %c0 = arith.constant 0 : index
      %lead = arith.cmpi eq, %tid, %c0 : index
      scf.if %lead {
        %old = llvm.atomicrmw umax %scale, %sb monotonic : !llvm.ptr, i32
      }
"#,
        ),
        // One thread per row: the atomic max is a load, compare and store.
        Target::Cpu => k.push_str(
            r#"      %s = arith.divf %mx, %qmax : f32
      %sb = arith.bitcast %s : f32 to i32
      %oldb = llvm.load %scale : !llvm.ptr -> i32
      %gt = arith.cmpi ugt, %sb, %oldb : i32
      %newb = arith.select %gt, %sb, %oldb : i32
      llvm.store %newb, %scale : i32, !llvm.ptr
"#,
        ),
    }
    k.push_str(footer(target));
    k
}

/// The max kernel's parameters (`with_row_count` adds the persistent form's
/// `num_tokens`): its input rows lie `input_stride` apart, as the static
/// quant's that follows it.
const MAX_PARAMS: &str = "%x: !llvm.ptr, %xs: i64, %scale: !llvm.ptr";

/// `e`, the element where chunk `c` of the persistent max kernel's flat
/// walk starts: `c * lanes` plus the gaps (`%gap`: `input_stride - H`) of
/// the rows before its row (`c / chunks_per_row`).
fn chunk_offset(c: &str, e: &str) -> String {
    format!(
        "        {e}f = arith.muli {c}, %c2 : index\n        {e}r = arith.divui {c}, %cpr : index\n        {e}g = arith.muli {e}r, %gap : index\n        {e} = arith.addi {e}f, {e}g : index\n"
    )
}

/// Chunks each thread loads per step of the persistent max kernel's main loop.
const MAX_UNROLL: u64 = 4;

/// The per-tensor max kernel's persistent form. A maximum over the whole
/// tensor needs no row structure: the rows are one flat run of 16-byte
/// chunks, which the grid's threads stride over (`MAX_UNROLL` loads in flight
/// a thread, then one at a time for the rest), each keeping its own max in a
/// register. Chunk `c` lies at element `c * lanes + (c / chunks_per_row) *
/// (input_stride - H)`: the flat offset plus the gaps of the rows before it,
/// so the walk is written twice (`max_walk`), and packed rows, which have no
/// gaps, take the one without the division. One block reduction and one
/// atomic per CTA, instead of one per row: a CTA a row waits on its
/// reduction with nothing in flight, and every row's atomic goes to the
/// same word. The result is the same: the max is exact in any order, and
/// every CTA's `max / 448` is folded in as before.
fn max_kernel_persistent(name: &str, h: u64, t: &str, threads: u64) -> String {
    let w = lanes(h);
    let mut k = header_persistent(name, &with_row_count(MAX_PARAMS, true));
    let _ = write!(
        k,
        r#"      %c2 = arith.constant {w} : index
      %cpr = arith.constant {cpr} : index
      %zero = arith.constant 0.0 : f32
      %qmax = arith.constant 448.0 : f32
      %c0 = arith.constant 0 : index
      %slot = arith.constant 0 : index
      %chunks = arith.muli %rows, %cpr : index
{INPUT_STRIDE}      %Hc = arith.constant {h} : index
      %gap = arith.subi %XS, %Hc : index
      %g0 = arith.muli %cta, %nt : index
      %gid = arith.addi %g0, %tid : index
      %stride = arith.muli %ncta, %nt : index
      %cu = arith.constant {u} : index
      %ustride = arith.muli %stride, %cu : index
      %cu1 = arith.constant {u1} : index
      %tail = arith.muli %stride, %cu1 : index
      %room = arith.cmpi ugt, %chunks, %tail : index
      %ubm = arith.subi %chunks, %tail : index
      %ub = arith.select %room, %ubm, %c0 : index
      %ym_0 = arith.constant dense<0.0> : vector<{w}x{t}>
      %packed = arith.cmpi eq, %gap, %c0 : index
      %mx = scf.if %packed -> (f32) {{
{flat}      }} else {{
{strided}      }}
      %mxb = arith.bitcast %mx : f32 to i32
"#,
        cpr = h / w,
        u = MAX_UNROLL,
        u1 = MAX_UNROLL - 1,
        // Packed rows (the common case) walk by the flat offset alone; rows
        // apart pay a division a chunk for theirs.
        flat = max_walk(t, w, &|c, e| format!("        {e} = arith.muli {c}, %c2 : index\n")),
        strided = max_walk(t, w, &chunk_offset),
    );
    k.push_str(&block_reduce("%amaxb", "%mxb", Reduce::Max, Block { threads, slotted: true }));
    k.push_str(
        r#"      %amax = arith.bitcast %amaxb : i32 to f32
      %s = arith.divf %amax, %qmax : f32
      %sb = arith.bitcast %s : f32 to i32
      %lead = arith.cmpi eq, %tid, %c0 : index
      scf.if %lead {
        %old = llvm.atomicrmw umax %scale, %sb monotonic : !llvm.ptr, i32
      }
"#,
    );
    k.push_str(footer(Target::Gpu));
    k
}

/// The persistent max kernel's walk over its chunks, each at the element
/// `offset(c, e)` defines as `e`: `MAX_UNROLL` loads in flight a step, then
/// the rest one at a time; yields this thread's max.
fn max_walk(t: &str, w: u64, offset: &dyn Fn(&str, &str) -> String) -> String {
    let (al, u) = (2 * w, MAX_UNROLL);
    let mut k = format!(
        "      %m4, %next = scf.for %c = %gid to %ub step %ustride iter_args(%m = %ym_0, %n = %gid) -> (vector<{w}x{t}>, index) {{\n"
    );
    let mut prev = "%m".to_string();
    for i in 0..u {
        let _ = writeln!(
            k,
            "        %o{i} = arith.constant {i} : index
        %so{i} = arith.muli %stride, %o{i} : index
        %ci{i} = arith.addi %c, %so{i} : index
{}        %e64{i} = arith.index_cast %e{i} : index to i64
        %p{i} = llvm.getelementptr %x[%e64{i}] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %v{i} = llvm.load %p{i} {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>",
            offset(&format!("%ci{i}"), &format!("%e{i}"))
        );
    }
    // The running max in `t` (`fold_max_abs_16`).
    for i in 0..u {
        let next = format!("%ym_u{i}");
        k.push_str(&fold_max_abs_16(&format!("%v{i}"), &format!("u{i}"), t, w, &prev, &next));
        prev = next;
    }
    let _ = write!(
        k,
        r#"        %n2 = arith.addi %n, %ustride : index
        scf.yield {prev}, %n2 : vector<{w}x{t}>, index
      }}
      %ymv = scf.for %c = %next to %chunks step %stride iter_args(%ym_r = %m4) -> vector<{w}x{t}> {{
{}        %e64 = arith.index_cast %e : index to i64
        %p = llvm.getelementptr %x[%e64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}
        %v = llvm.load %p {{alignment = {al} : i64}} : !llvm.ptr -> vector<{w}x{t}>
{}        scf.yield %ym_rn : vector<{w}x{t}>
      }}
{}      scf.yield %mxw : f32
"#,
        offset("%c", "%e"),
        fold_max_abs_16("%v", "r", t, w, "%ym_r", "%ym_rn"),
        lanes_max("%mxw", "%ymv", t, w)
    );
    k
}
