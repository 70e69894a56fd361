//! Numerics: graphs from tests/numerics/graphs.mlir run through the reference
//! interpreter (crates/interp) before and after passes, on random inputs.
//! The generated kernels' numerics are in kernels.rs.
use libtest_mimic::Failed;
use mlir_support::melior::ir::{BlockLike, RegionLike, ShapedTypeLike, ValueLike, operation::OperationLike};
use vllm_interp::{DType, Interpreter, SplitMix64, Tensor, Val, dtype_of};

pub const TESTS: &[crate::RustTest] = &[
    ("numerics::fp8_rounding_is_round_to_nearest_even", fp8_rounding_is_round_to_nearest_even),
    ("numerics::fix_functionalization_keeps_every_result", fix_functionalization_keeps_every_result),
    ("numerics::fix_functionalization_leaves_caller_inputs_alone", fix_functionalization_leaves_caller_inputs_alone),
    ("numerics::static_fp8_fusion_is_bit_identical", static_fp8_fusion_is_bit_identical),
    ("numerics::per_token_fusion_is_within_one_fp8_step", per_token_fusion_is_within_one_fp8_step),
    ("numerics::native_form_fusion", native_form_fusion),
    ("numerics::per_group_fusion", per_group_fusion),
    ("numerics::sequence_parallelism_keeps_every_ranks_results", sequence_parallelism_keeps_every_ranks_results),
    ("numerics::qk_norm_rope_fusion", qk_norm_rope_fusion),
    ("numerics::add_rms_norm_fusion", add_rms_norm_fusion),
    ("numerics::nvfp4_reference_encodes_known_values", nvfp4_reference_encodes_known_values),
    ("numerics::silu_nvfp4_fusion", silu_nvfp4_fusion),
    ("numerics::nvfp4_main_schema", nvfp4_main_schema),
    ("numerics::vllm_ir_norms", vllm_ir_norms),
    ("numerics::per_group_main_schema", per_group_main_schema),
];

const TOKENS: usize = 8;
const FIX: &str = "builtin.module(func.func(vllm-fix-functionalization),func.func(vllm-dce))";
const FUSE: &str = "builtin.module(func.func(vllm-noop-elimination),func.func(vllm-fuse-rms-quant),func.func(vllm-fuse-act-quant),func.func(vllm-fuse-attn-quant))";

fn graph(name: &str) -> Result<String, Failed> {
    let text = std::fs::read_to_string(crate::root().join("tests/numerics/graphs.mlir"))?;
    text.split("// -----")
        .find(|part| part.contains(&format!("func.func @{name}(")))
        .map(String::from)
        .ok_or_else(|| format!("no graph @{name}").into())
}

/// Random inputs for every argument of the graph in `text`: activations in
/// [-2, 2), FP8 weights, positive scales, positions below the rotary cache
/// size (16).
fn inputs(text: &str, seed: u64) -> Result<Vec<Val>, Failed> {
    let ctx = vllm_dialect::new_context()?;
    let module = mlir_support::source::parse(&ctx, text, "graphs.mlir").map_err(|d| format!("{d:?}"))?;
    let func = module.body().first_operation().ok_or("empty module")?;
    let block = func.region(0)?.first_block().ok_or("no body")?;
    let mut rng = SplitMix64(seed);
    let mut args = Vec::new();
    for i in 0..block.argument_count() {
        let t = block.argument(i)?.r#type();
        let rt = mlir_support::ir::ranked_tensor(t).ok_or("non-tensor argument")?;
        let shape: Vec<usize> = (0..rt.rank())
            .map(|d| match rt.dim_size(d) {
                Ok(mlir_support::melior::ir::r#type::DimSize::Static(n)) => n as usize,
                _ => TOKENS,
            })
            .collect();
        let dt = dtype_of(t)?;
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match dt {
            DType::I64 | DType::I32 => (0..n).map(|_| (rng.next_u64() % 16) as f32).collect(),
            DType::F32 => (0..n).map(|_| 0.01 + 0.05 * rng.unit().abs()).collect(),
            _ => (0..n).map(|_| 2.0 * rng.unit()).collect(),
        };
        args.push(Val::Tensor(Tensor::new(dt, shape, data)));
    }
    Ok(args)
}

/// Runs `text` after `pipeline` (if any) on `args`; also returns the IR.
fn run(text: &str, pipeline: Option<&str>, args: &[Val]) -> Result<(Vec<Val>, String), Failed> {
    let ctx = vllm_dialect::new_context()?;
    let module = compile(&ctx, text, pipeline)?;
    let func = module.body().first_operation().ok_or("empty module")?;
    let out = Interpreter::default().run(func, args)?;
    Ok((out, module.as_operation().to_string()))
}

/// `text` parsed in `ctx`, after `pipeline` (if any).
fn compile<'c>(
    ctx: &'c mlir_support::melior::Context,
    text: &str,
    pipeline: Option<&str>,
) -> Result<mlir_support::melior::ir::Module<'c>, Failed> {
    vllm_passes::register_all();
    let mut module = mlir_support::source::parse(ctx, text, "graphs.mlir").map_err(|d| format!("{d:?}"))?;
    if let Some(p) = pipeline {
        mlir_support::pipeline::Pipeline::parse(ctx, p).map_err(|d| format!("{d:?}"))?.run(&mut module).map_err(|d| format!("{d:?}"))?;
    }
    Ok(module)
}

fn deep(args: &[Val]) -> Vec<Val> {
    args.iter()
        .map(|a| match a {
            Val::Tensor(t) => Val::Tensor(t.deep_clone()),
            i => i.clone(),
        })
        .collect()
}

/// Positions where two results differ bit for bit (NaN equals NaN).
fn differences(a: &[Val], b: &[Val]) -> Result<Vec<(usize, usize, f32, f32)>, Failed> {
    if a.len() != b.len() {
        return Err(format!("{} results vs {}", a.len(), b.len()).into());
    }
    let mut out = Vec::new();
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let (Some(x), Some(y)) = (x.tensor(), y.tensor()) else { continue };
        if x.shape != y.shape || x.dtype != y.dtype {
            return Err(format!("result {i}: {:?} {:?} vs {:?} {:?}", x.dtype, x.shape, y.dtype, y.shape).into());
        }
        if !x.dtype.is_float() {
            // Integer words exactly (an NVFP4 block-scale word is wider than f32's mantissa).
            for (j, (p, q)) in x.to_exact().into_iter().zip(y.to_exact()).enumerate() {
                if !(p.is_nan() && q.is_nan()) && p != q {
                    out.push((i, j, p as f32, q as f32));
                }
            }
            continue;
        }
        for (j, (p, q)) in x.to_vec().into_iter().zip(y.to_vec()).enumerate() {
            if !(p.is_nan() && q.is_nan()) && x.dtype.bits(p) != y.dtype.bits(q) {
                out.push((i, j, p, q));
            }
        }
    }
    Ok(out)
}

fn fp8_rounding_is_round_to_nearest_even() -> Result<(), Failed> {
    // All finite non-negative e4m3fn values, in order (0x7f is NaN).
    let codes: Vec<f32> = (0u8..0x7f).map(|b| float8::F8E4M3::from_bits(b).to_f32()).collect();
    for w in codes.windows(2).enumerate() {
        let (i, pair) = w;
        let (lo, hi) = (pair[0], pair[1]);
        let mid = (lo + hi) / 2.0;
        let even = if i % 2 == 0 { lo } else { hi };
        for (v, want) in [(lo, lo), (mid, even), (next_down(mid), lo), (next_up(mid), hi), (-mid, -even)] {
            let got = vllm_interp::tensor::round_e4m3(v);
            if got != want {
                return Err(format!("round_e4m3({v}) = {got}, want {want}").into());
            }
        }
    }
    let fp8 = vllm_interp::tensor::fp8;
    for (v, want) in [(f32::NAN, 448.0), (f32::INFINITY, 448.0), (f32::NEG_INFINITY, -448.0), (1000.0, 448.0), (-460.0, -448.0), (0.0, 0.0)]
    {
        if fp8(v) != want {
            return Err(format!("fp8({v}) = {}, want {want}", fp8(v)).into());
        }
    }
    Ok(())
}

fn next_up(v: f32) -> f32 {
    f32::from_bits(v.to_bits() + 1)
}
fn next_down(v: f32) -> f32 {
    f32::from_bits(v.to_bits() - 1)
}

fn fix_functionalization_keeps_every_result() -> Result<(), Failed> {
    for name in ["llama_static", "llama_per_token", "hazards"] {
        let text = graph(name)?;
        for seed in 0..3 {
            let args = inputs(&text, seed)?;
            let (before, _) = run(&text, None, &deep(&args))?;
            let (after, ir) = run(&text, Some(FIX), &deep(&args))?;
            if !ir.contains("_\"(") || ir.contains("\"vllm.fused_add_rms_norm\"(") {
                return Err(format!("@{name}: fix-functionalization did not run:\n{ir}").into());
            }
            same_bits(&before, &after, &format!("@{name} seed {seed}, after fix-functionalization"))?;
        }
    }
    Ok(())
}

fn fix_functionalization_leaves_caller_inputs_alone() -> Result<(), Failed> {
    let text = graph("owned_inputs")?;
    let args = inputs(&text, 7)?;
    let snapshot = deep(&args);
    let (before, _) = run(&text, None, &args)?;
    run(&text, Some(FIX), &args)?;
    if !differences(&args, &snapshot)?.is_empty() {
        return Err("fix-functionalization wrote a caller-owned input".into());
    }
    // With donate_inputs the same graph does write them: the check above can fail.
    let donated = deep(&snapshot);
    let donate = FIX.replace("vllm-fix-functionalization", "vllm-fix-functionalization{donate-inputs=true}");
    let (after, _) = run(&text, Some(&donate), &donated)?;
    if differences(&donated, &snapshot)?.is_empty() {
        return Err("with donate-inputs the inputs should have been reused in place".into());
    }
    if !differences(&before, &after)?.is_empty() {
        return Err("donating inputs changed the results".into());
    }
    Ok(())
}

fn count(ir: &str, op: &str) -> usize {
    ir.matches(&format!("\"{op}\"(")).count()
}

/// An error naming `what` unless `ir` has each op of `expected` as many times as said.
fn expect_ops(ir: &str, expected: &[(&str, usize)], what: &str) -> Result<(), Failed> {
    match expected.iter().find(|(op, n)| count(ir, op) != *n) {
        Some((op, n)) => Err(format!("{what}: expected {n} {op}:\n{ir}").into()),
        None => Ok(()),
    }
}

/// An error naming `what` unless `after` is `before` bit for bit.
fn same_bits(before: &[Val], after: &[Val], what: &str) -> Result<(), Failed> {
    let d = differences(before, after)?;
    match d.first() {
        Some(first) => Err(format!("{what}: {} elements differ, first {first:?}", d.len()).into()),
        None => Ok(()),
    }
}

fn static_fp8_fusion_is_bit_identical() -> Result<(), Failed> {
    let text = graph("llama_static")?;
    for seed in 0..4 {
        let args = inputs(&text, 100 + seed)?;
        let (before, _) = run(&text, None, &deep(&args))?;
        let (after, ir) = run(&text, Some(FUSE), &deep(&args))?;
        let fused =
            [("vllm.rms_norm_static_fp8_quant", 1), ("vllm.fused_add_rms_norm_static_fp8_quant", 1), ("vllm.silu_and_mul_quant", 1)];
        expect_ops(&ir, &fused, "after fusion")?;
        same_bits(&before, &after, &format!("seed {seed}, after static FP8 fusion"))?;
        // And the whole default pipeline, fix-functionalization included.
        let full = format!("{},{})", FUSE.trim_end_matches(')'), &FIX["builtin.module(".len()..]);
        let (after_all, _) = run(&text, Some(&full), &deep(&args))?;
        same_bits(&before, &after_all, &format!("seed {seed}, after the full pipeline"))?;
    }
    Ok(())
}

/// Sequence parallelism on two and four ranks run in lockstep by the
/// interpreter: with the fusions and fix-functionalization after it, every
/// rank's results are bit-identical to the same pipeline without it (a
/// reduce-scatter sums what the all-reduce summed, row by row; norms and
/// quants are row-wise). Static FP8 (the all-reduce graph itself is the
/// baseline there too) and per-token FP8 quants. With async TP after it
/// (the GEMMs next to the collectives fused, the interpreter running each
/// fused op as its collective and GEMM), the same: this checks what each
/// fused op is given (operands, which scale, the shard's row scales) and
/// which of its results replaces what. Decomposed norms and quants (custom
/// ops off) are copied onto the shard op for op: bit-identical to the
/// unsharded graph with nothing after them, and fused after them as
/// without sequence parallelism. The all-reduce + norm (+ quant) fusion
/// instead of SP: the same results (the fused op's reference semantics
/// are vLLM's fallback path, what the graph computed).
fn sequence_parallelism_keeps_every_ranks_results() -> Result<(), Failed> {
    let ctx = vllm_dialect::new_context()?;
    let rest = format!("{},{}", &FUSE["builtin.module(".len()..FUSE.len() - 1], &FIX["builtin.module(".len()..]);
    // (graph, its per-rank arguments (the first ones), the collective passes
    // ("sp": sequence parallelism alone, "sp,fuse": then the fusions and
    // fix-functionalization, "sp,async-tp,fuse": async TP between, "ar,fuse":
    // the all-reduce + norm fusion instead of SP), ops expected after the
    // passes and how many, the baseline is the unfused graph)
    type Case<'a> = (&'a str, usize, &'a str, &'a [(&'a str, usize)], bool);
    let cases: [Case; 16] = [
        // NVFP4 after both norms: pattern 3, the packed rows and block scales from the fused op
        // (one zero residual, two zero-filled block-scale buffers).
        (
            "tp_nvfp4",
            2,
            "ar,fuse",
            &[("vllm.flashinfer_trtllm_fused_allreduce_norm_", 2), ("vllm.scaled_fp4_quant_", 0), ("aten.full", 3)],
            true,
        ),
        // Native Gemma norms sharded: the chains copied onto the shard as they are.
        ("tp_gemma_decoder", 3, "sp", &[("vllm.reduce_scatter", 3), ("vllm.all_gather", 4), ("aten.rsqrt", 3)], true),
        // Native Gemma norms of the all-reduces, fused with weight_bias 1:
        // the kernel's one rounding is the native form's, so bit-identical.
        (
            "tp_gemma_decoder",
            3,
            "ar,fuse",
            &[("vllm.flashinfer_trtllm_fused_allreduce_norm_", 3), ("aten.rsqrt", 0), ("aten.add", 0)],
            true,
        ),
        (
            "tp_two_projections",
            3,
            "sp,async-tp,fuse",
            &[("vllm.fused_all_gather_scaled_matmul", 1), ("vllm.cutlass_scaled_mm_", 0), ("vllm.all_gather", 0)],
            true,
        ),
        // Decomposed norms of the all-reduces, raised (as the fusion passes raise them) and fused.
        (
            "tp_native_decoder_quant",
            3,
            "ar,fuse",
            &[("vllm.flashinfer_trtllm_fused_allreduce_norm_", 3), ("aten.rsqrt", 0), ("aten.clamp_min", 0)],
            false,
        ),
        ("tp_native_decoder", 3, "sp", &[("vllm.reduce_scatter", 3), ("vllm.all_gather", 4), ("aten.rsqrt", 3)], true),
        // The first two are fused after it (on the shard), the last stays decomposed; the baseline fuses the same way.
        (
            "tp_native_decoder",
            3,
            "sp,fuse",
            &[
                ("vllm.reduce_scatter", 3),
                ("vllm.all_gather", 4),
                ("vllm.rms_norm_static_fp8_quant_", 1),
                ("vllm.fused_add_rms_norm_static_fp8_quant_", 1),
                ("aten.rsqrt", 1),
            ],
            false,
        ),
        // Every all-reduce + norm fused, with the static quant after the first two.
        (
            "tp_decoder",
            3,
            "ar,fuse",
            &[("vllm.flashinfer_trtllm_fused_allreduce_norm_", 3), ("vllm.rms_norm_static_fp8_quant_", 0), ("aten.full", 1)],
            true,
        ),
        (
            "tp_llama_static",
            5,
            "ar,fuse",
            &[("vllm.flashinfer_trtllm_fused_allreduce_norm_", 3), ("vllm.fused_add_rms_norm_static_fp8_quant_", 0)],
            true,
        ),
        ("tp_decoder", 3, "sp,fuse", &[("vllm.reduce_scatter", 3), ("vllm.rms_norm_static_fp8_quant_", 1)], true),
        // vLLM main's IR ops: the same fusions and sharding; what nothing fuses stays functional.
        (
            "tp_decoder_ir",
            3,
            "ar,fuse",
            &[("vllm.flashinfer_trtllm_fused_allreduce_norm_", 3), ("vllm.rms_norm_static_fp8_quant_", 0), ("aten.full", 1)],
            true,
        ),
        (
            "tp_decoder_ir",
            3,
            "sp,fuse",
            &[
                ("vllm.reduce_scatter", 3),
                ("vllm.rms_norm_static_fp8_quant_", 1),
                ("vllm.fused_add_rms_norm", 1),
                ("vllm.fused_add_rms_norm_", 0),
            ],
            true,
        ),
        ("tp_decoder_per_token", 3, "sp,fuse", &[("vllm.reduce_scatter", 3), ("vllm.rms_norm_dynamic_per_token_quant_", 2)], false),
        ("tp_llama_static", 5, "sp,fuse", &[("vllm.reduce_scatter", 3), ("vllm.fused_add_rms_norm_static_fp8_quant_", 1)], true),
        (
            "tp_llama_static",
            5,
            "sp,async-tp,fuse",
            &[
                ("vllm.reduce_scatter", 1),
                ("vllm.all_gather", 2),
                ("vllm.fused_all_gather_scaled_matmul", 2),
                ("vllm.fused_scaled_matmul_reduce_scatter", 2),
                ("vllm.cutlass_scaled_mm_", 0),
            ],
            true,
        ),
        (
            "tp_mlp_per_token",
            3,
            "sp,async-tp,fuse",
            &[
                ("vllm.reduce_scatter", 1),
                ("vllm.all_gather", 2),
                ("vllm.fused_all_gather_scaled_matmul", 1),
                ("vllm.fused_scaled_matmul_reduce_scatter", 1),
                ("vllm.rms_norm_dynamic_per_token_quant_", 1),
            ],
            false,
        ),
    ];
    for (name, per_rank, after, expected, against_unfused) in cases {
        let text = graph(name)?;
        let fused_only = format!("builtin.module({rest}");
        let baseline = compile(&ctx, &text, (!against_unfused).then_some(fused_only.as_str()))?;
        for tp in [2usize, 4] {
            let passes: Vec<String> = after
                .split(',')
                .map(|p| match p {
                    "sp" => format!("func.func(vllm-sequence-parallelism{{tp-size={tp}}})"),
                    "async-tp" => format!("func.func(vllm-async-tp{{tp-size={tp} group-names=tp:0=0}})"),
                    "ar" => format!("func.func(vllm-fuse-allreduce-rms{{tp-size={tp}}})"),
                    _ => rest[..rest.len() - 1].to_string(), // without the module's closing parenthesis
                })
                .collect();
            let sp = format!("builtin.module({})", passes.join(","));
            let module = compile(&ctx, &text, Some(&sp))?;
            let ir = module.as_operation().to_string();
            let ops: Vec<(&str, usize)> = [("vllm.all_reduce", 0)].iter().chain(expected).copied().collect();
            expect_ops(&ir, &ops, &format!("{name}, tp {tp}, {after}"))?;
            let (before_fn, after_fn) =
                (baseline.body().first_operation().ok_or("empty module")?, module.body().first_operation().ok_or("empty module")?);
            for seed in 0..3u64 {
                // The partial sums and weight shards (the first arguments) differ per rank; the rest is replicated.
                let shared = inputs(&text, 300 + seed)?;
                let mut args = Vec::new();
                for r in 0..tp as u64 {
                    let own = inputs(&text, 400 + 10 * seed + r)?;
                    args.push(own.into_iter().take(per_rank).chain(deep(&shared).into_iter().skip(per_rank)).collect::<Vec<_>>());
                }
                let before = Interpreter::run_ranks(before_fn, &args.iter().map(|a| deep(a)).collect::<Vec<_>>())?;
                let after = Interpreter::run_ranks(after_fn, &args.iter().map(|a| deep(a)).collect::<Vec<_>>())?;
                for (r, (b, a)) in before.iter().zip(&after).enumerate() {
                    let d = differences(b, a)?;
                    if !d.is_empty() {
                        return Err(format!("{name}, tp {tp}, seed {seed}, rank {r}: {} elements differ, first {:?}", d.len(), d[0]).into());
                    }
                }
            }
        }
    }
    Ok(())
}

/// The position of an e4m3fn value on the number line (adjacent values
/// differ by one).
fn fp8_ordinal(v: f32) -> i32 {
    let b = float8::F8E4M3::from_f32(v).to_bits() as i32;
    if b & 0x80 != 0 { -(b & 0x7f) } else { b }
}

/// Compares two FP8 tensors: (elements, elements one step apart); an error
/// if any pair is further apart.
fn fp8_steps_apart(before: &Val, after: &Val, seed: u64) -> Result<(usize, usize), Failed> {
    let t = |v: &Val| v.tensor().map(Tensor::to_vec).ok_or("index");
    let (mut total, mut differing) = (0, 0);
    for (p, q) in t(before)?.into_iter().zip(t(after)?) {
        total += 1;
        let steps = (fp8_ordinal(p) - fp8_ordinal(q)).abs();
        if steps > 1 {
            return Err(format!("seed {seed}: {p} vs {q}: {steps} FP8 steps apart").into());
        }
        differing += (steps != 0) as usize;
    }
    Ok((total, differing))
}

/// A fusion checked at the graph level: `graph` before and after the fusion
/// passes on random inputs.
struct FusionCase {
    graph: &'static str,
    seeds: std::ops::Range<u64>,
    /// Each fused op and how many the fused IR must hold.
    fused: &'static [(&'static str, usize)],
    /// Results that must be bit-identical.
    exact: &'static [usize],
    /// The FP8 result that may move by one step (a residual form).
    stepped: usize,
}

/// Runs `case`; `each` sees every (before, after) pair. Returns the FP8
/// values compared in `stepped` and how many moved by one step.
fn fusion_numerics(case: &FusionCase, mut each: impl FnMut(&[Val], &[Val])) -> Result<(usize, usize), Failed> {
    let text = graph(case.graph)?;
    let (mut total, mut differing) = (0usize, 0usize);
    for seed in case.seeds.clone() {
        let args = inputs(&text, seed)?;
        let (before, _) = run(&text, None, &deep(&args))?;
        let (after, ir) = run(&text, Some(FUSE), &deep(&args))?;
        expect_ops(&ir, case.fused, &format!("@{} after fusion", case.graph))?;
        for &i in case.exact {
            let d = differences(&before[i..=i], &after[i..=i])?;
            if !d.is_empty() {
                return Err(format!("@{} seed {seed}: result {i} is not bit-identical after fusion: {:?}", case.graph, d[0]).into());
            }
        }
        let (n, d) = fp8_steps_apart(&before[case.stepped], &after[case.stepped], seed)?;
        total += n;
        differing += d;
        each(&before, &after);
    }
    Ok((total, differing))
}

fn per_token_fusion_is_within_one_fp8_step() -> Result<(), Failed> {
    // Without a residual the fused kernel has the unfused rounding points:
    // bit-identical. With one, it adds the residual in fp32 without rounding
    // (fused_add_rms_norm rounds the sum to bf16 first), so a value may move
    // by one FP8 step and a scale by a little; vLLM's tests accept that.
    let case = FusionCase {
        graph: "llama_per_token",
        seeds: 1000..1032,
        fused: &[("vllm.rms_norm_dynamic_per_token_quant", 2)],
        exact: &[0, 1, 4],
        stepped: 2,
    };
    let mut scale_err = 0f32;
    let (total, differing) = fusion_numerics(&case, |before, after| {
        if let (Some(b), Some(a)) = (before[3].tensor(), after[3].tensor()) {
            for (p, q) in b.to_vec().into_iter().zip(a.to_vec()) {
                scale_err = scale_err.max((p - q).abs() / p.abs());
            }
        }
    })?;
    // amax is a bf16 value computed from a slightly different sum: it may
    // move by an ulp or two, up to 2^-7 relative each near a power of two.
    if scale_err > 1.0 / 64.0 {
        return Err(format!("per-token scales differ by up to {scale_err:e} (relative)").into());
    }
    eprintln!(
        "per-token fusion with residual: {differing} of {total} FP8 values one step apart ({:.3} %), scales within {scale_err:e}",
        100.0 * differing as f64 / total as f64
    );
    Ok(())
}

fn native_form_fusion() -> Result<(), Failed> {
    // Native RMSNorm + quant and native SiLU-mul + quant: bit-identical.
    // Native residual add + RMSNorm + quant: the fused kernel normalizes the
    // bf16-rounded sum, the native chain the f32 one: at most one FP8 step.
    let case = FusionCase {
        graph: "llama_native",
        seeds: 5000..5032,
        fused: &[("vllm.rms_norm_static_fp8_quant", 1), ("vllm.fused_add_rms_norm_static_fp8_quant", 1), ("vllm.silu_and_mul_quant", 1)],
        exact: &[0, 1, 3],
        stepped: 2,
    };
    let (total, differing) = fusion_numerics(&case, |_, _| {})?;
    eprintln!("native residual form: {differing} of {total} FP8 values one step apart ({:.3} %)", 100.0 * differing as f64 / total as f64);
    Ok(())
}

fn per_group_fusion() -> Result<(), Failed> {
    // No residual: bit-identical. With one: the f32 sum again, one FP8 step at most.
    let case = FusionCase {
        graph: "per_group",
        seeds: 9000..9016,
        fused: &[("vllm.rms_norm_per_block_quant", 2), ("vllm.silu_and_mul_per_block_quant", 1)],
        exact: &[0, 1, 4, 5, 6],
        stepped: 2,
    };
    let (total, differing) = fusion_numerics(&case, |_, _| {})?;
    eprintln!("per-group fusion with residual: {differing} of {total} FP8 values one step apart");
    Ok(())
}

/// Rows that exercise the edge cases: ordinary values, rows of zeros, tiny
/// (bf16-denormal) rows, rows that saturate FP8, NaN and ±inf.
pub(crate) fn kernel_rows(rows: usize, h: usize, rng: &mut SplitMix64) -> Vec<f32> {
    let mut x = Vec::with_capacity(rows * h);
    for r in 0..rows {
        let kind = r % 8;
        for j in 0..h {
            let u = 2.0 * rng.unit();
            x.push(match kind {
                1 => 0.0,
                2 => u * 1e-39,
                3 => u * 1e4,
                4 if j == h / 3 => f32::NAN,
                5 if j == 7 => f32::INFINITY,
                6 if j == 5 => f32::NEG_INFINITY,
                _ => u,
            });
        }
    }
    x
}

/// bf16's step at `x` (its unit in the last place; subnormals' step below).
fn bf16_ulp(x: f64) -> f64 {
    let e = if x == 0.0 { -126 } else { (x.abs().log2().floor() as i32).max(-126) };
    2f64.powi(e - 7)
}

/// `@qwen3_qk_norm_rope`, `@qwen3_qk_norm_rope_native` and
/// `@qwen3_qk_norm_rope_native_gptj` (vLLM's native rotary, neox and GPT-J,
/// computed in bf16) before and after `vllm-fuse-qk-norm-rope` (and
/// fix-functionalization: the in-place op runs), against the exact value
/// of each output, computed here in f64 from the inputs: `y = x * s * w`
/// per head, rotated by its position's cache row (neox halves, or GPT-J's
/// even/odd pairs). With `m` the size of the rotation's terms (`|y_a cos| +
/// |y_b sin|`, or `|y|` where nothing rotates):
/// - the fused op rounds once: within half a bf16 step of the exact value
///   (plus f32's error, 2^-20 m);
/// - the unfused ops round after `x * s`, after `* w` and after the
///   rotation: within 2^-7 m plus one step;
/// - the value heads are the same bits.
fn qk_norm_rope_fusion() -> Result<(), Failed> {
    let pipeline = |partial: bool| {
        let option = if partial { "{partial-rotary=true}" } else { "" };
        format!("builtin.module(func.func(vllm-fuse-qk-norm-rope{option},vllm-fix-functionalization,vllm-dce))")
    };
    let (heads_q, head, eps) = (2usize, 64usize, 1e-6f64);
    let (mut checked, mut unfused_off, mut worst_fused, mut worst_unfused) = (0usize, 0usize, 0f64, 0f64);
    // The custom rotary op (f32, one rounding) and vLLM's native form (in
    // bf16); a partial rotary (32 of 64 dims) where vLLM's kernel takes one.
    // (graph, neox, rotary dims)
    let graphs = [
        (graph("qwen3_qk_norm_rope")?, true, 64),
        (graph("qwen3_qk_norm_rope_native")?, true, 64),
        (graph("qwen3_qk_norm_rope_native_gptj")?, false, 64),
        (graph("qwen3_qk_norm_rope_partial")?, true, 32),
    ];
    for (seed, (text, neox, rot)) in (9000..9016).flat_map(|s| graphs.iter().map(move |g| (s, g))) {
        let rot = *rot;
        let args = inputs(text, seed)?;
        let (before, _) = run(text, None, &deep(&args))?;
        let (after, ir) = run(text, Some(&pipeline(rot < head)), &deep(&args))?;
        if count(&ir, "vllm.fused_qk_norm_rope_") != 1 || count(&ir, "vllm.rotary_embedding") != 0 || count(&ir, "aten.cat") != 0 {
            return Err(format!("expected one in-place fused_qk_norm_rope and no rotary embedding:\n{ir}").into());
        }
        if let Some(d) = differences(&before[2..], &after[2..])?.first() {
            return Err(format!("seed {seed}: the value heads changed: {d:?}").into());
        }
        let arg = |i: usize| args[i].tensor().map(|t| t.to_vec()).ok_or("a non-tensor argument");
        let (qkv, qw, kw, cache, pos) = (arg(0)?, arg(1)?, arg(2)?, arg(3)?, arg(4)?);
        let row = qkv.len() / pos.len();
        for (t, p) in pos.iter().enumerate() {
            let c = &cache[*p as usize * rot..(*p as usize + 1) * rot];
            for h in 0..heads_q + 1 {
                let x: Vec<f64> = qkv[t * row + h * head..t * row + (h + 1) * head].iter().map(|v| *v as f64).collect();
                let w = if h < heads_q { &qw } else { &kw };
                let s = 1.0 / (x.iter().map(|v| v * v).sum::<f64>() / head as f64 + eps).sqrt();
                let y: Vec<f64> = x.iter().zip(w.iter()).map(|(x, w)| x * s * *w as f64).collect();
                let (out, col) = if h < heads_q { (0, h * head) } else { (1, 0) };
                let (b, a) = (before[out].tensor().ok_or("no result")?.to_vec(), after[out].tensor().ok_or("no result")?.to_vec());
                let width = b.len() / pos.len();
                for j in 0..head {
                    let half = rot / 2;
                    let (exact, m) = if j < rot {
                        // Neox pairs j with j ± rot/2, GPT-J with its even/odd neighbour.
                        let (i, first, partner) = if *neox { (j % half, j < half, (j + half) % rot) } else { (j / 2, j % 2 == 0, j ^ 1) };
                        let (cos, sin) = (c[i] as f64, c[half + i] as f64);
                        let (ya, yb) = if first { (y[j], -y[partner]) } else { (y[j], y[partner]) };
                        (ya * cos + yb * sin, (ya * cos).abs() + (yb * sin).abs())
                    } else {
                        (y[j], y[j].abs())
                    };
                    let i = t * width + col + j;
                    let (fused, unfused) = (a[i] as f64, b[i] as f64);
                    let (df, du) = ((fused - exact).abs(), (unfused - exact).abs());
                    let (fused_bound, unfused_bound) = (0.5 * bf16_ulp(exact) + m * 2f64.powi(-20), m * 2f64.powi(-7) + bf16_ulp(exact));
                    if df > fused_bound {
                        return Err(format!("seed {seed} token {t} head {h} dim {j}: fused {fused}, exact {exact}").into());
                    }
                    if du > unfused_bound {
                        return Err(format!("seed {seed} token {t} head {h} dim {j}: unfused {unfused}, exact {exact}").into());
                    }
                    checked += 1;
                    unfused_off += usize::from(fused != unfused);
                    worst_fused = worst_fused.max(df / fused_bound);
                    worst_unfused = worst_unfused.max(du / unfused_bound);
                }
            }
        }
    }
    eprintln!(
        "qk-norm + rope: {checked} values; fused at {worst_fused:.2} of its bound (half a step: rounded once), \
         the unfused graph at {worst_unfused:.2} of its bound; {unfused_off} ({:.1} %) differ between the two",
        100.0 * unfused_off as f64 / checked as f64
    );
    Ok(())
}

/// `@add_rms_norm` (a plain residual add, then a norm without residual:
/// custom op with a static FP8 quant, and vLLM's native form) before and
/// after `vllm-fuse-add-rms-norm`, the static quant fusion and
/// fix-functionalization: every output bit for bit the same (the kernel
/// adds in the activation type and rounds once, as `aten.add`), the adds
/// and norms gone into one fused norm + quant and one fused add + norm.
fn add_rms_norm_fusion() -> Result<(), Failed> {
    let text = graph("add_rms_norm")?;
    let pipeline = "builtin.module(func.func(vllm-fuse-add-rms-norm,vllm-fuse-rms-quant,vllm-fix-functionalization,vllm-dce))";
    for seed in 0..4 {
        let args = inputs(&text, 700 + seed)?;
        let (before, _) = run(&text, None, &deep(&args))?;
        let (after, ir) = run(&text, Some(pipeline), &deep(&args))?;
        let fused = [("vllm.fused_add_rms_norm_static_fp8_quant_", 1), ("vllm.fused_add_rms_norm_", 1), ("aten.add", 0), ("aten.rsqrt", 0)];
        expect_ops(&ir, &fused, "after the fusions")?;
        same_bits(&before, &after, &format!("seed {seed}, after the add + norm fusion"))?;
    }
    Ok(())
}

/// The NVFP4 reference (vllm_interp::kernels, vLLM's nvfp4_utils.cuh) on
/// values worked out by hand: e2m1 rounding at every midpoint (ties to the
/// even code), saturation, signed zero, NaN; the swizzled scale layout; one
/// block end to end.
fn nvfp4_reference_encodes_known_values() -> Result<(), Failed> {
    use vllm_interp::kernels::{e2m1, e2m1_value, nvfp4_scale_offset, scaled_fp4_quant};
    let cases: &[(f32, u8)] = &[
        (0.0, 0),
        (0.25, 0), // tie: 0 (code 0) over 0.5 (code 1)
        (next_up(0.25), 1),
        (0.75, 2), // tie: 1.0 (code 2) over 0.5
        (next_down(0.75), 1),
        (1.25, 2),
        (next_up(1.25), 3),
        (1.75, 4),
        (2.5, 4),
        (next_up(2.5), 5),
        (3.5, 6),
        (5.0, 6),
        (next_up(5.0), 7),
        (6.0, 7),
        (1e30, 7),
        (f32::INFINITY, 7),
        (f32::NEG_INFINITY, 15),
        (f32::NAN, 7),
        (-0.0, 8),
        (-0.1, 8),
        (-3.0, 13),
    ];
    for &(v, code) in cases {
        if e2m1(v) != code {
            return Err(format!("e2m1({v:e}) = {}, want {code}", e2m1(v)).into());
        }
    }
    for code in 0..16u8 {
        if e2m1(e2m1_value(code)) != code {
            return Err(format!("code {code} does not round-trip").into());
        }
    }
    // The layout: [T/128, n/64, 32, 4, 4] bytes, every (row, block) its own byte.
    let (rows, n) = (200, 256);
    let mut seen = std::collections::HashSet::new();
    for m in 0..rows {
        for k in 0..n / 16 {
            if !seen.insert(nvfp4_scale_offset(m, k, n)) {
                return Err(format!("row {m} block {k} shares a scale byte").into());
            }
        }
    }
    let expect = [
        ((0, 0), 0),
        ((1, 0), 16),
        ((32, 0), 4),
        ((0, 1), 1),
        ((0, 4), 512),
        ((128, 0), 4 * 512),
        ((199, 15), 2048 + 3 * 512 + 7 * 16 + 2 * 4 + 3),
    ];
    for ((m, k), off) in expect {
        if nvfp4_scale_offset(m, k, n) != off {
            return Err(format!("scale of row {m} block {k} at {}, want {off}", nvfp4_scale_offset(m, k, n)).into());
        }
    }
    // One block: max 3, g = 896: s = e4m3(896 * 3/6) = 448 (0x7e), 1/(448/896) = 2;
    // the elements times 2 are 6, -3, 0.5, 0.75, 5, -0, 2, 0. A zero block: scale 0.
    let mut x = vec![3.0, -1.5, 0.25, 0.375, 2.5, -0.0, 1.0, 0.0];
    x.resize(32, 0.0);
    let (q, sf) = scaled_fp4_quant(&x, 32, 896.0);
    let bytes: Vec<u8> = q.iter().map(|v| *v as u8).collect();
    let want = [0xd7, 0x21, 0x86, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    if bytes != want {
        return Err(format!("packed {bytes:02x?}, want {want:02x?}").into());
    }
    if sf.len() != 128 || sf[0] != 0x7e as f64 || sf[1..].iter().any(|w| *w != 0.0) {
        return Err(format!("scale words {:?}, want 0x7e then 127 zeros", &sf[..4]).into());
    }
    // A dynamic width that is not whole blocks is an error, not a short output.
    let text = r#"func.func @odd(%x: tensor<4x?xbf16>, %g: tensor<f32>) -> (tensor<4x16xui8>, tensor<128x1xi32>) {
  %q, %s = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<4x?xbf16>, tensor<f32>) -> (tensor<4x16xui8>, tensor<128x1xi32>)
  return %q, %s : tensor<4x16xui8>, tensor<128x1xi32>
}"#;
    let args = [Val::Tensor(Tensor::zeros(DType::BF16, vec![4, 24])), Val::Tensor(Tensor::new(DType::F32, vec![], vec![1.0]))];
    match run(text, None, &args) {
        Err(e) if format!("{e:?}").contains("not whole NVFP4 blocks") => {}
        Err(e) => return Err(format!("a 24-wide row: wrong error {e:?}").into()),
        Ok(_) => return Err("a 24-wide row was quantized".into()),
    }
    // Whole blocks, but not the 32 elements the result type says: an error, not a short result.
    let args = [Val::Tensor(Tensor::zeros(DType::BF16, vec![4, 48])), Val::Tensor(Tensor::new(DType::F32, vec![], vec![1.0]))];
    match run(text, None, &args) {
        Err(e) if format!("{e:?}").contains("computed 96 values of 'output'") => Ok(()),
        Err(e) => Err(format!("a 48-wide row: wrong error {e:?}").into()),
        Ok(_) => Err("a 48-wide row filled a 32-wide result".into()),
    }
}

/// SiLU-and-mul + NVFP4 quant fused (vllm-fuse-act-quant), then
/// fix-functionalization, against the unfused graph in the interpreter:
/// the values and the block-scale words (padding included) bit for bit,
/// 200 tokens (two 128-row tiles, the second part padding) with rows of
/// zeros, denormals, huge values, NaN and ±inf, under a global scale that
/// gives normal e4m3 block scales and one that gives subnormal ones. The
/// fused op is the reference's composition, so this checks the rewrite:
/// operands, which result replaces what, and the buffers' sizes (the block
/// scales' round_up(T, 128) rows come from the graph's arithmetic).
fn silu_nvfp4_fusion() -> Result<(), Failed> {
    let text = graph("silu_nvfp4")?;
    let pipeline = "builtin.module(func.func(vllm-fuse-act-quant,vllm-fix-functionalization,vllm-dce))";
    let (t, two_d) = (200usize, 2048usize);
    for (seed, g) in [(0u64, 2688.0f32 / 8.0), (1, 0.03)] {
        let mut rng = SplitMix64(800 + seed);
        let x = Tensor::new(DType::BF16, vec![t, two_d], kernel_rows(t, two_d, &mut rng));
        let args = vec![Val::Index(t as i64), Val::Tensor(x), Val::Tensor(Tensor::new(DType::F32, vec![], vec![g]))];
        let (before, _) = run(&text, None, &deep(&args))?;
        let (after, ir) = run(&text, Some(pipeline), &deep(&args))?;
        let fused = [
            ("vllm.silu_and_mul_nvfp4_quant_", 1),
            ("vllm.silu_and_mul", 0),
            ("vllm.scaled_fp4_quant", 0),
            ("aten.empty", 1),
            ("aten.full", 1),
        ];
        expect_ops(&ir, &fused, "after the fusion")?;
        same_bits(&before, &after, &format!("global scale {g}, after the SiLU + NVFP4 fusion"))?;
        let sf = after.get(1).and_then(Val::tensor).ok_or("no block scales")?;
        if sf.shape != [256, 16] {
            return Err(format!("block scales {:?}, want [256, 16]", sf.shape).into());
        }
        // Little-endian bytes of the words; those no (row, block) owns are padding, and zero.
        let bytes: Vec<u8> = sf.to_exact().iter().flat_map(|w| (*w as i32).to_le_bytes()).collect();
        let owned: std::collections::HashSet<usize> =
            (0..t).flat_map(|m| (0..two_d / 2 / 16).map(move |k| vllm_interp::kernels::nvfp4_scale_offset(m, k, two_d / 2))).collect();
        let padding_set = bytes.iter().enumerate().any(|(i, b)| *b != 0 && !owned.contains(&i));
        if padding_set || owned.iter().all(|i| bytes[*i] == 0) {
            return Err("block scales: padding not zero, or every real scale zero".into());
        }
    }
    Ok(())
}

/// vLLM main's NVFP4 quant (`vllm.scaled_fp4_quant_out`, the `.out`
/// overload) in the interpreter, value form and in place after
/// fix-functionalization: with swizzled scales, vLLM 0.11's op bit for bit
/// (values and block-scale words, padding included); with row-major scales,
/// the same values and row `m`'s block `k` scale at `[m, k]`, the byte the
/// swizzled layout holds at its offset. 200 rows of 256 with rows of zeros,
/// denormals, huge values, NaN and ±inf. Then the graph Inductor captured
/// with vLLM main's schemas, and its form with the functional overload (the
/// padded rows built by fix-functionalization): SiLU + NVFP4 fused against
/// unfused, bit for bit.
fn nvfp4_main_schema() -> Result<(), Failed> {
    let text = r#"func.func @q(%x: tensor<200x256xbf16>, %g: tensor<f32>) -> (tensor<200x128xui8>, tensor<256x4xi32>, tensor<200x128xui8>, tensor<256x4xi32>, tensor<200x128xui8>, tensor<200x16xui8>) {
  %a, %as = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<200x256xbf16>, tensor<f32>) -> (tensor<200x128xui8>, tensor<256x4xi32>)
  %b, %bs = "vllm.scaled_fp4_quant_out"(%x, %g) {is_sf_swizzled_layout = true} : (tensor<200x256xbf16>, tensor<f32>) -> (tensor<200x128xui8>, tensor<256x4xi32>)
  %c, %cs = "vllm.scaled_fp4_quant_out"(%x, %g) {is_sf_swizzled_layout = false} : (tensor<200x256xbf16>, tensor<f32>) -> (tensor<200x128xui8>, tensor<200x16xui8>)
  return %a, %as, %b, %bs, %c, %cs : tensor<200x128xui8>, tensor<256x4xi32>, tensor<200x128xui8>, tensor<256x4xi32>, tensor<200x128xui8>, tensor<200x16xui8>
}"#;
    let (t, n) = (200usize, 256usize);
    let mut rng = SplitMix64(900);
    let x = Tensor::new(DType::BF16, vec![t, n], kernel_rows(t, n, &mut rng));
    let args = vec![Val::Tensor(x), Val::Tensor(Tensor::new(DType::F32, vec![], vec![2688.0 / 8.0]))];
    for pipeline in [None, Some("builtin.module(func.func(vllm-fix-functionalization,vllm-dce))")] {
        let (out, ir) = run(text, pipeline, &deep(&args))?;
        if pipeline.is_some() {
            expect_ops(&ir, &[("vllm.scaled_fp4_quant_out_", 2), ("aten.full", 2), ("aten.empty", 4)], "in place")?;
        }
        let exact = |i: usize| out.get(i).and_then(Val::tensor).map(Tensor::to_exact).ok_or("missing result");
        let what = if pipeline.is_some() { "in place" } else { "value form" };
        same_bits(&out[0..2], &out[2..4], &format!("{what}: .out swizzled against 0.11's op"))?;
        same_bits(&out[0..1], &out[4..5], &format!("{what}: .out row-major values"))?;
        let words = exact(1)?;
        let swizzled: Vec<u8> = words.iter().flat_map(|w| (*w as i32).to_le_bytes()).collect();
        let linear = exact(5)?;
        for m in 0..t {
            for k in 0..n / 16 {
                let want = swizzled[vllm_interp::kernels::nvfp4_scale_offset(m, k, n)];
                if linear[m * (n / 16) + k] != f64::from(want) {
                    return Err(format!("{what}: row-major scale of row {m} block {k} is {}, want {want}", linear[m * (n / 16) + k]).into());
                }
            }
        }
        if linear.iter().all(|b| *b == 0.0) {
            return Err(format!("{what}: every row-major scale is zero").into());
        }
    }
    // The captured graph: [s, 256] rows, SiLU-and-mul then the swizzled `.out` quant.
    let captured = captured_graph("silu_nvfp4_main_inductor.json")?;
    let x = Tensor::new(DType::BF16, vec![t, n], kernel_rows(t, n, &mut rng));
    let args = vec![Val::Index(t as i64), Val::Tensor(x), Val::Tensor(Tensor::new(DType::F32, vec![], vec![0.03]))];
    let (before, _) = run(&captured, None, &deep(&args))?;
    let fused = "builtin.module(func.func(vllm-fuse-act-quant,vllm-fix-functionalization,vllm-dce))";
    let (after, ir) = run(&captured, Some(fused), &deep(&args))?;
    expect_ops(&ir, &[("vllm.silu_and_mul_nvfp4_quant_", 1), ("vllm.scaled_fp4_quant_out", 0), ("aten.full", 1)], "captured, fused")?;
    same_bits(&before, &after, "the captured vLLM main graph, after the SiLU + NVFP4 fusion")?;
    // The functional overload, whose graph computes no padded size: fix-functionalization builds it.
    let functional = captured_graph("silu_nvfp4_functional.json")?;
    let (before, _) = run(&functional, None, &deep(&args))?;
    let (after, ir) = run(&functional, Some(fused), &deep(&args))?;
    expect_ops(&ir, &[("vllm.silu_and_mul_nvfp4_quant_", 1), ("torch.operator", 3), ("aten.full", 1)], "functional, fused")?;
    same_bits(&before, &after, "the functional quant, after the SiLU + NVFP4 fusion")
}

/// The captured FX graph tests/pipeline/inputs/`name`, imported, as MLIR text.
fn captured_graph(name: &str) -> Result<String, Failed> {
    let ctx = vllm_dialect::new_context()?;
    let text = std::fs::read_to_string(crate::root().join("tests/pipeline/inputs").join(name))?;
    let module = vllm_fx::import(&ctx, &text, name).map_err(|d| format!("{name}: {d:?}"))?;
    Ok(module.as_operation().to_string())
}

/// vLLM main's IR norms on the graph Inductor captured
/// (tests/pipeline/inputs/vllm_ir_norms_inductor.json: an IR rms_norm and an
/// IR fused_add_rms_norm each into a static FP8 quant, then an IR norm
/// nothing fuses): the whole pipeline's passes (the norm + quant fusions,
/// fix-functionalization) against the imported graph, bit for bit, 200
/// tokens with rows of zeros, denormals, huge values, NaN and ±inf. The IR
/// norms run as the ops they import as (the kernels' rounding).
fn vllm_ir_norms() -> Result<(), Failed> {
    let text = captured_graph("vllm_ir_norms_inductor.json")?;
    let (t, h) = (200usize, 256usize);
    let mut rng = SplitMix64(1000);
    let weight = |rng: &mut SplitMix64| Tensor::new(DType::BF16, vec![h], (0..h).map(|_| 1.0 + 0.5 * rng.unit()).collect());
    let args = vec![
        Val::Index(t as i64),
        Val::Tensor(Tensor::new(DType::BF16, vec![t, h], kernel_rows(t, h, &mut rng))),
        Val::Tensor(weight(&mut rng)),
        Val::Tensor(Tensor::new(DType::F32, vec![1], vec![0.02])),
        Val::Tensor(Tensor::new(DType::BF16, vec![t, h], kernel_rows(t, h, &mut rng))),
        Val::Tensor(weight(&mut rng)),
    ];
    let (before, _) = run(&text, None, &deep(&args))?;
    let pipeline = "builtin.module(func.func(vllm-fuse-rms-quant,vllm-fix-functionalization,vllm-dce))";
    let (after, ir) = run(&text, Some(pipeline), &deep(&args))?;
    let fused = [
        ("vllm.rms_norm_static_fp8_quant_", 1),
        ("vllm.fused_add_rms_norm_static_fp8_quant_", 1),
        ("vllm.static_scaled_fp8_quant", 0),
        ("vllm.rms_norm", 1),
        ("vllm.rms_norm_", 0),
    ];
    expect_ops(&ir, &fused, "after the norm + quant fusion")?;
    same_bits(&before, &after, "vLLM IR norms, after the norm + quant fusion")
}

/// vLLM main's per-group quants on the graph Inductor captured
/// (tests/pipeline/inputs/per_group_main_inductor.json: a norm + row-major
/// quant, an add-norm + column-major quant, SiLU-and-mul + column-major
/// quant, a norm + TMA-padded quant, SiLU-and-mul + TMA-padded quant, which
/// stays unfused): the fusions and fix-functionalization
/// (transposed and padded scale buffers) against the imported graph, 201
/// tokens (not a multiple of 4) with the edge-case rows. Bit-identical but
/// for the residual form's values (the fused kernel normalizes the f32 sum:
/// one FP8 step at most) and its scales.
fn per_group_main_schema() -> Result<(), Failed> {
    let text = captured_graph("per_group_main_inductor.json")?;
    let (t, h) = (201usize, 256usize);
    let mut total = (0usize, 0usize);
    for seed in 1100..1104 {
        let mut rng = SplitMix64(seed);
        let args = vec![
            Val::Index(t as i64),
            Val::Tensor(Tensor::new(DType::BF16, vec![t, h], kernel_rows(t, h, &mut rng))),
            Val::Tensor(Tensor::new(DType::BF16, vec![h], (0..h).map(|_| 1.0 + 0.5 * rng.unit()).collect())),
            Val::Index(t as i64),
            Val::Tensor(Tensor::new(DType::BF16, vec![t, h], kernel_rows(t, h, &mut rng))),
            Val::Index(t as i64),
            Val::Tensor(Tensor::new(DType::BF16, vec![t, 2 * h], kernel_rows(t, 2 * h, &mut rng))),
        ];
        let (before, _) = run(&text, None, &deep(&args))?;
        let pipeline = "builtin.module(func.func(vllm-fuse-rms-quant,vllm-fuse-act-quant,vllm-fix-functionalization,vllm-dce))";
        let (after, ir) = run(&text, Some(pipeline), &deep(&args))?;
        let fused = [
            ("vllm.rms_norm_per_block_quant_", 3),
            ("vllm.silu_and_mul_per_block_quant_", 1),
            ("aten.permute", 2),
            ("aten.empty_strided", 2),
            // SiLU-and-mul + TMA-padded quant: in place, unfused (vLLM's fused SiLU ignores the padding).
            ("vllm.silu_and_mul_", 1),
            ("vllm.per_token_group_fp8_quant_", 1),
        ];
        expect_ops(&ir, &fused, "after the per-group fusions")?;
        // q1, s1 (row-major), q2, s2 (the residual form), q3, s3 (SiLU-and-mul, column-major), q4, s4
        // (TMA-padded), q5, s5 (SiLU-and-mul + TMA-padded, unfused).
        for i in [0, 1, 4, 5, 6, 7, 8, 9] {
            same_bits(&before[i..=i], &after[i..=i], &format!("seed {seed}: result {i} after the per-group fusions"))?;
        }
        let (n, d) = fp8_steps_apart(&before[2], &after[2], seed)?;
        total = (total.0 + n, total.1 + d);
    }
    eprintln!("vLLM main's per-group fusions, residual form: {} of {} FP8 values one step apart", total.1, total.0);
    Ok(())
}
