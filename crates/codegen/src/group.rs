//! Per-group FP8 quantization (DeepSeek-style 1×G groups, vllm-passes.md §10
//! `per_token_group_fp8_quant`), alone or fused after RMSNorm or
//! SiLU-and-mul: per group of G contiguous elements of a row,
//! `s = max(1e-10, max|y|) / 448` (stored row-major, `[rows, H/G]`, or
//! column-major; rounded up to a power of two for UE8M0: `Scales`) and
//! `q = fp8(fminf(fmaxf(y / s, -448), 448))`, so NaN goes to -448 as in
//! vLLM's kernel. `y` is the input, the RMSNorm of the f32 sum (as the
//! per-token kernel) or `rT(rT(silu(a)) * b)`.
//!
//! GPU: one CTA per row, each thread 8 lanes (16 bytes) per step, so a group
//! is G/8 neighbouring threads; its max is an xor-shuffle reduction inside
//! that cluster, with `y` kept in registers between the max and the store.
//! The fused norm keeps the whole row in registers (`rms_registers`), so it
//! reads its row once for the sum of squares and the quantization.
//! Every thread runs the same number of steps (the block divides H/8, see
//! `Kernel::block`), so the shuffles are never divergent. Host: the same
//! lane math, one group after another.
use crate::act::{Division, silu_mul_y};
use crate::body::{
    Form, INPUT_STRIDE, Layout, Regs, Target, div_by_448, div_by_max_scale, flt, fold_max_abs, footer, header_persistent, header_reduce,
    header_split, index_lines, input_row, inv_rms, max_f32, max_scale_operands, normalize, normalize_by, row_steps, store_fp8_nan_to,
    sum_squares, with_row_count, zero_where_infinite,
};
use crate::per_token::{load_sum, load_sum_once, store_sum};
use std::fmt::Write;

/// Where `y` comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// `per_token_group_fp8_quant`: the input as is.
    Input,
    /// `rms_norm_per_block_quant`.
    Rms { residual: bool },
    /// `silu_and_mul_per_block_quant`, dividing as given.
    Silu(Division),
}

/// How the group scales are written: vLLM's variants of the per-group quant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scales {
    /// UE8M0 (`scale_ue8m0`, for DeepGEMM): `s` rounded up to a power of
    /// two, `2^ceil(log2(max(s, 1e-10)))`, before the quant divides by it.
    pub ue8m0: bool,
    /// Column-major (`is_scale_transposed`): group `gi` of row `r` at
    /// `gi * T + r`, i.e. `[H/G, T]` row-major, instead of `r * H/G + gi`.
    pub transposed: bool,
    /// Column-major with the rows padded for TMA (vLLM main's
    /// `dummy_is_tma_aligned`): at `gi * round_up(T, 4) + r`. Only with
    /// `transposed`.
    pub tma: bool,
}

/// The group's lower bound on `max|y|` (vLLM's `eps`) and the FP8 maximum.
const GROUP_EPS: f32 = 1e-10;
const W: u64 = 8;

/// `%y` (and `%yt` for the norms) of the 8 lanes at `%j`, and its output index.
fn y_at(src: Src, t: &str, target: Target) -> (String, &'static str) {
    match src {
        Src::Input => (
            format!(
                "{}        %px = llvm.getelementptr %x[%i64] : (!llvm.ptr, i64) -> !llvm.ptr, {t}\n        %vx = llvm.load %px {{alignment = 16 : i64}} : !llvm.ptr -> vector<8x{t}>\n        %f = arith.extf %vx : vector<8x{t}> to vector<8xf32>\n        %y = arith.addf %f, %zvy : vector<8xf32>\n",
                index_lines()
            ),
            "%i64",
        ),
        Src::Rms { residual } => (format!("{}{}{}", index_lines(), load_sum(residual, t, W, Some("%basex")), normalize(t, W)), "%i64"),
        Src::Silu(division) => (silu_mul_y(t, W, target, division), "%io64"),
    }
}

/// Quantizes `%y` by the group scale `%gs` (`y / gs`, one reciprocal per
/// group: `div_by_max_scale`, `gs` being at least the group's max over 448)
/// and stores it at `index`. A UE8M0 scale is a power of two, `2^e`: its
/// reciprocal `2^-e` is exact and found on the bits (`0x7f000000 - bits`;
/// `gs` lies in [2^-42, 2^128], so both are normal, and an infinite `gs`
/// gives 0), and `y * 2^-e` is the one rounding of `y / 2^e` IEEE's
/// division gives: a multiply a lane, no correction, no `rcp.rn`.
fn quantize(index: &str, target: Target, scales: Scales) -> String {
    let q = if scales.ue8m0 {
        format!(
            r#"        %gpb = arith.bitcast %gs : f32 to i32
        %gpc = arith.constant 2130706432 : i32
        %gpr = arith.subi %gpc, %gpb : i32
        %gpr0 = arith.bitcast %gpr : i32 to f32
{}        %gprcpv = vector.broadcast %gprcp : f32 to vector<{W}xf32>
        %q = arith.mulf %y, %gprcpv : vector<{W}xf32>
"#,
            zero_where_infinite("%gprcp", "%gs", "%gpr0")
        )
    } else {
        format!("{}{}", max_scale_operands("%gs", "g", W), div_by_max_scale("%y", "%grcpv", "%gnrcpv", "%gsfv", W))
    };
    format!("{q}{}", store_fp8_nan_to(target, index, W, "%nmax"))
}

/// `%gs`, the group scale, from the group max `max` (at least 1e-10, so
/// positive). UE8M0 rounds it up to a power of two on its bits: keep it when
/// the mantissa is zero (or it is inf), else the next exponent (inf past
/// the largest), as `interp::kernels::ue8m0_scale`. No `log2`/`exp2`: on
/// NVPTX those are libdevice calls.
fn group_scale(max: &str, scales: Scales) -> String {
    if !scales.ue8m0 {
        return div_by_448("%gs", max);
    }
    format!(
        r#"{}        %ue_eps = arith.constant 1.0e-10 : f32
        %ue_lo = arith.cmpf ult, %ue_s, %ue_eps : f32
        %ue_c = arith.select %ue_lo, %ue_eps, %ue_s : f32
        %ue_b = arith.bitcast %ue_c : f32 to i32
        %ue_mm = arith.constant 8388607 : i32
        %ue_em = arith.constant 2139095040 : i32
        %ue_one = arith.constant 8388608 : i32
        %ue_z = arith.constant 0 : i32
        %ue_m = arith.andi %ue_b, %ue_mm : i32
        %ue_exact = arith.cmpi eq, %ue_m, %ue_z : i32
        %ue_inf = arith.cmpi uge, %ue_b, %ue_em : i32
        %ue_keep = arith.ori %ue_exact, %ue_inf : i1
        %ue_e = arith.andi %ue_b, %ue_em : i32
        %ue_up = arith.addi %ue_e, %ue_one : i32
        %ue_r = arith.select %ue_keep, %ue_b, %ue_up : i32
        %gs = arith.bitcast %ue_r : i32 to f32
"#,
        div_by_448("%ue_s", max)
    )
}

/// Stores `%gs` as group `%gi`'s scale: at `row * H/G + gi`, or at
/// `gi * T + row` for column-major scales (`%ntok` = T, or `round_up(T, 4)`
/// padded for TMA).
fn store_scale(indent: &str, scales: Scales) -> String {
    let at = if scales.transposed {
        format!("{indent}%sic = arith.muli %gi, %ntok : index\n{indent}%si = arith.addi %sic, %row : index\n")
    } else {
        format!("{indent}%si = arith.addi %srow, %gi : index\n")
    };
    format!(
        "{at}{indent}%si64 = arith.index_cast %si : index to i64\n{indent}%ps = llvm.getelementptr %scale[%si64] : (!llvm.ptr, i64) -> !llvm.ptr, f32\n{indent}llvm.store %gs, %ps : f32, !llvm.ptr\n"
    )
}

/// The GPU's group step for the lanes `%y` at `%j`: the group max (the
/// thread's lanes, then an xor butterfly over the G/8 neighbouring threads
/// of the group), its scale `%gs`, stored by the group's first thread.
fn gpu_group_scale(g: u64, scales: Scales) -> String {
    let mut k = String::new();
    let mut prev = fold_max_abs(&mut k, "%y", "", W, "%geps");
    let mut off = g / W / 2;
    let _ = writeln!(k, "        %w32 = arith.constant 32 : i32");
    while off >= 1 {
        let _ = writeln!(
            k,
            "        %bo{off} = arith.constant {off} : i32\n        %o{off}, %bk{off} = gpu.shuffle xor {prev}, %bo{off}, %w32 : f32\n{}",
            max_f32(&format!("%gr{off}"), &prev, &format!("%o{off}"))
        );
        prev = format!("%gr{off}");
        off /= 2;
    }
    let _ = write!(
        k,
        "{}        %jg = arith.remui %j, %G : index\n        %lead = arith.cmpi eq, %jg, %c0 : index\n        scf.if %lead {{\n          %gi = arith.divui %j, %G : index\n{}        }}\n",
        group_scale(&prev, scales),
        store_scale("          ", scales)
    );
    k
}

/// The GPU form of the fused RMSNorm + group quant with the row in
/// registers (`Regs`: each of `threads` threads holds its chunks): the row
/// (and residual) is loaded once, its squares summed, then each chunk
/// normalized, its group scale found and quantized, without reading the row
/// again. A chunk spans whole groups (`threads * 8` is a multiple of G) and
/// every thread has the same chunks, so the butterflies never diverge.
///
/// With `persistent` (`Regs::persistent`), `load` opens the loop over the
/// CTA's rows, where the row's offsets (`ROW_OFFSETS`) are defined, and the
/// loop closes after the row.
fn rms_registers(k: &mut String, residual: bool, g: u64, scales: Scales, h: u64, t: &str, layout: Layout) {
    let persistent = layout.persistent;
    // The input's rows lie `%xs` apart (`kernel` defines `%XS` and, outside the persistent loop, `%basex`).
    let mut r = Regs { input_stride: Some(t.into()), ..Regs::of(h, Target::Gpu, layout) };
    k.push_str(&r.prelude());
    // Kept as loaded unless the residual's f32 sum (not rounded) is.
    let packed = (!residual).then_some(("%vx", t));
    r.load(k, &|base| load_sum_once(residual, t, W, base, true), packed, Some(t), Target::Gpu);
    if persistent {
        k.push_str(ROW_OFFSETS);
    }
    for c in 0..r.chunks {
        let body = format!(
            "{}{}{}{}{}",
            index_lines(),
            r.f32_of(c, "%f"),
            normalize_by(&format!("%wc{c}"), t, W),
            gpu_group_scale(g, scales),
            quantize("%i64", Target::Gpu, scales)
        );
        k.push_str(&r.chunk(c, &body, None));
    }
    r.close(k);
}

/// A row's offsets into the input (`%inrow`, SiLU's rows of 2d), the output
/// (`%outrow`) and the row-major scales (`%srow`).
const ROW_OFFSETS: &str = "      %inrow = arith.muli %row, %D2 : index\n      %outrow = arith.muli %row, %D : index\n      %srow = arith.muli %row, %GPR : index\n";

/// The kernel for groups of `g` in rows of `h` (`d` for SiLU) elements of `t`.
/// The caller checks `h % 8 == 0`, `g / 8` a power of two up to 32 and `h % g == 0`.
/// What a per-group kernel computes and how: the source of `y`, the group
/// size, the scale variant, and the block a GPU kernel keeps its row in
/// registers for (the fused norm's form; `None` loops).
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub src: Src,
    pub g: u64,
    pub scales: Scales,
    pub threads: Option<u64>,
    /// CTAs each row is split over (the loop form; `body::split_row`).
    pub ctas: u64,
    /// The persistent schedule (the fused norm's register form; takes
    /// `num_tokens` last, `Regs::persistent`).
    pub persistent: bool,
}

pub fn kernel(name: &str, spec: Spec, h: u64, t: &str, target: Target) -> String {
    let Spec { src, g, scales, threads, ctas, persistent } = spec;
    let params = match src {
        Src::Input => "%x: !llvm.ptr, %out: !llvm.ptr, %scale: !llvm.ptr",
        // The norm's input rows lie `input_stride` apart, as vLLM's.
        Src::Rms { residual: true } => {
            "%out: !llvm.ptr, %x: !llvm.ptr, %xs: i64, %w: !llvm.ptr, %scale: !llvm.ptr, %res: !llvm.ptr, %eps: f32"
        }
        Src::Rms { residual: false } => "%out: !llvm.ptr, %x: !llvm.ptr, %xs: i64, %w: !llvm.ptr, %scale: !llvm.ptr, %eps: f32",
        Src::Silu(_) => "%out: !llvm.ptr, %x: !llvm.ptr, %scale: !llvm.ptr",
    };
    let params = with_row_count(params, persistent);
    // The fused norm's register form reduces through workgroup buffers; its
    // persistent schedule walks rows (the row offsets then come per row).
    let registers = matches!((src, target, threads), (Src::Rms { .. }, Target::Gpu, Some(_)));
    let walks = registers && persistent;
    let mut k = match (registers, walks) {
        (true, true) => header_persistent(name, &params),
        (true, false) => header_reduce(name, &params, target),
        _ => header_split(name, &params, target, ctas),
    };
    let _ = writeln!(
        k,
        r#"      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c2 = arith.constant 8 : index
      %H = arith.constant {h} : index
      %D = arith.constant {h} : index
      %D2 = arith.constant {h2} : index
      %G = arith.constant {g} : index
      %GPR = arith.constant {gpr} : index
      %zero = arith.constant 0.0 : f32
      %Hf = arith.constant {h}.0 : f32
      %one = arith.constant 1.0 : f32
      %log2e = arith.constant 1.44269504 : f32
      %geps = arith.constant {geps} : f32
      %zvy = arith.constant dense<-0.0> : vector<8xf32>
      %pmax = arith.constant dense<448.0> : vector<8xf32>
      %nmax = arith.constant dense<-448.0> : vector<8xf32>
{rows}      %first = arith.muli %tid, %c2 : index
      %step = arith.muli %nt, %c2 : index"#,
        h2 = 2 * h,
        gpr = h / g,
        geps = flt(GROUP_EPS),
        rows = if walks { String::new() } else { format!("      %base = arith.muli %row, %H : index\n{ROW_OFFSETS}") }
    );
    if let Src::Rms { .. } = src {
        k.push_str(&if walks { INPUT_STRIDE.to_string() } else { input_row(t) });
    }
    if scales.transposed {
        // T: the grid over the CTAs a row (`ctas`) on the GPU, the row count on
        // the host or where the kernel takes it.
        match target {
            Target::Gpu if walks => k.push_str("      %nrows = arith.addi %rows, %c0 : index\n"),
            Target::Gpu => {
                let _ = writeln!(
                    k,
                    "      %ctasg = gpu.grid_dim x\n      %ctasr = arith.constant {ctas} : index\n      %nrows = arith.divui %ctasg, %ctasr : index"
                );
            }
            Target::Cpu => k.push_str("      %nrows = arith.addi %rows, %c0 : index\n"),
        }
        if scales.tma {
            // round_up(T, 4): (T + 3) & ~3.
            k.push_str(
                "      %tma3 = arith.constant 3 : index\n      %tmam = arith.constant -4 : index\n      %tmaa = arith.addi %nrows, %tma3 : index\n      %ntok = arith.andi %tmaa, %tmam : index\n",
            );
        } else {
            k.push_str("      %ntok = arith.addi %nrows, %c0 : index\n");
        }
    }
    if let (Src::Rms { residual }, Target::Gpu, Some(threads)) = (src, target, threads) {
        rms_registers(&mut k, residual, g, scales, h, t, Layout { form: Form::Registers, threads, persistent });
        k.push_str(footer(target));
        return k;
    }
    if let Src::Rms { residual } = src {
        k.push_str("      %acc = scf.for %j = %first to %H step %step iter_args(%a = %zero) -> f32 {\n");
        k.push_str(index_lines());
        k.push_str(&load_sum(residual, t, W, Some("%basex")));
        k.push_str(&sum_squares(W, target));
        k.push_str(&inv_rms(target, None));
        k.push_str("      %rsv = vector.broadcast %rs : f32 to vector<8xf32>\n");
    }
    let (y, out_index) = y_at(src, t, target);
    let residual = src == Src::Rms { residual: true };
    // The residual form stores rT(sum) after the row's last read.
    let store_residual = if residual { store_sum(t, W) } else { String::new() };
    match target {
        Target::Gpu => {
            k.push_str(&row_steps("%H", ctas));
            k.push_str(&y);
            k.push_str(&gpu_group_scale(g, scales));
            let _ = writeln!(k, "{store_residual}{}      }}", quantize(out_index, target, scales));
        }
        Target::Cpu => {
            let mut fold = String::new();
            let max = fold_max_abs(&mut fold, "%y", "", W, "%m");
            let _ = write!(
                k,
                "      scf.for %gi = %c0 to %GPR step %c1 {{\n        %g0 = arith.muli %gi, %G : index\n        %g1 = arith.addi %g0, %G : index\n        %mx = scf.for %j = %g0 to %g1 step %c2 iter_args(%m = %geps) -> f32 {{\n{y}{fold}        scf.yield {max} : f32\n        }}\n{}{}        scf.for %j = %g0 to %g1 step %c2 {{\n{y}{store_residual}{}        }}\n      }}\n",
                group_scale("%mx", scales),
                store_scale("        ", scales),
                quantize(out_index, target, scales)
            );
        }
    }
    k.push_str(footer(target));
    k
}
