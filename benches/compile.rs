//! Compile-time benchmarks (the one bench binary).
//!
//! Each group measures a baseline in the same run, so that ratios, not
//! absolute times, are what docs/benchmarks.md reports: this machine is shared
//! and noisy.
//!
//! - `import/L32`: FX graph JSON of the 32-layer fixture -> verified module,
//!   against `json_parse/L32` (serde_json parsing the same text into `Value`:
//!   the reference cost a JSON-reading importer is compared with).
//! - `export/L32`: module -> FX graph JSON text.
//! - `compile_sizes_8xL32`: the post-grad pipeline for 8 token counts of the
//!   32-layer fixture, sequential against parallel (the scaling of
//!   `vllm-opt --compile-sizes`).
//!
//! - `fusion_L32`, `fusion_L80`: import + every post-grad pass (no-op
//!   elimination, the fusions, fix-functionalization, DCE) on the 32-layer
//!   fixture and on a generated 80-layer graph (tests/support/llama.rs),
//!   against a bare serde_json parse of the same text (`json_parse_baseline`)
//!   and import alone. `passes_in_one_pipeline` is the library path a
//!   backend takes, without printing the result; `compile_with_text_output`
//!   is `vllm_pipeline::compile` (steps run one by one, text printed).
//!
//! - `kernels_L32`: `vllm_codegen::emit` on the compiled 32-layer fixture
//!   (collect the unique kernels, lower each to PTX, build the manifest),
//!   against `compile_baseline` (the post-grad compile that precedes it).
//!   The issue's target: PTX for all unique kernels in under 1 s.
//!
//! Run: `cargo bench --bench compile` (add `-- import` to filter).
use criterion::{Criterion, criterion_group, criterion_main};
use mlir_support::melior::ir::operation::OperationLike;

/// The vllm-opt binary's allocator, so the numbers are the tool's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../tests/support/llama.rs"]
mod llama;
use std::{hint::black_box, path::Path, time::Duration};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn import_export(c: &mut Criterion) {
    let text = fixture("llama_fp8_custom_L32_dyn.json");
    let ctx = vllm_dialect::new_context().expect("context");
    let mut g = c.benchmark_group("fx");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("json_parse/L32", |b| {
        b.iter(|| black_box(serde_json::from_str::<serde_json::Value>(black_box(&text)).expect("json")))
    });
    g.bench_function("graph_parse/L32", |b| b.iter(|| black_box(vllm_fx::graph::parse(black_box(&text)).is_ok())));
    g.bench_function("new_context", |b| b.iter(|| black_box(vllm_dialect::new_context().is_ok())));
    g.bench_function("import/L32", |b| b.iter(|| black_box(vllm_fx::import(&ctx, black_box(&text), "L32.json").expect("import"))));
    let module = vllm_fx::import(&ctx, &text, "L32.json").expect("import");
    g.bench_function("export/L32", |b| b.iter(|| black_box(vllm_fx::to_text(&vllm_fx::export(black_box(&module)).expect("export")))));
    g.finish();
}

/// 8 sizes of the 32-layer fixture: one after another, then on all cores
/// (what `vllm-opt --compile-sizes` does). The ratio is the scaling.
fn compile_sizes(c: &mut Criterion) {
    use vllm_pipeline::{CompileOptions, Input, ShapeContext, compile};
    let text = fixture("llama_fp8_custom_L32_dyn.json");
    let sizes = [1u64, 2, 4, 8, 16, 32, 64, 128];
    let one = |n: u64| {
        let o = CompileOptions { shape: Some(ShapeContext::Static(n)), ..Default::default() };
        compile(Input::FxJson(&text), "L32.json", &o).expect("compile")
    };
    let mut g = c.benchmark_group("compile_sizes_8xL32");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("sequential", |b| b.iter(|| sizes.iter().map(|&n| black_box(one(n)).mlir.len()).sum::<usize>()));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    g.bench_function(format!("parallel_{workers}_threads"), |b| {
        let chunks: Vec<Vec<u64>> = (0..workers).map(|w| sizes.iter().copied().skip(w).step_by(workers).collect()).collect();
        b.iter(|| {
            std::thread::scope(|s| {
                let hs: Vec<_> = chunks.iter().map(|ch| s.spawn(|| ch.iter().map(|&n| one(n).mlir.len()).sum::<usize>())).collect();
                hs.into_iter().map(|h| h.join().unwrap_or(0)).sum::<usize>()
            })
        })
    });
    g.finish();
}

/// Import + every post-grad pass, against import alone, in the same run.
fn pipeline_group(c: &mut Criterion, group: &str, text: &str) {
    use vllm_pipeline::{CompileOptions, Input, PassConfig, compile, plan};
    let config =
        PassConfig::from_json(r#"{"eliminate_noops": true, "enable_fusion": true, "enable_attn_fusion": true}"#).expect("config").0;
    let options = CompileOptions { config, ..Default::default() };
    let pipeline_text = plan(&options).expect("plan").0.pipeline_text();
    vllm_passes::register_all();
    let mut g = c.benchmark_group(group);
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(6));
    // The baseline: a bare serde_json parse of the same text into `Value`.
    g.bench_function("json_parse_baseline", |b| b.iter(|| black_box(serde_json::from_str::<serde_json::Value>(black_box(text)).is_ok())));
    g.bench_function("import_only", |b| {
        b.iter(|| {
            let ctx = vllm_dialect::new_context().expect("context");
            black_box(vllm_fx::import(&ctx, text, "graph.json").is_ok())
        })
    });
    g.bench_function("passes_in_one_pipeline", |b| {
        b.iter(|| {
            let ctx = vllm_dialect::new_context().expect("context");
            let mut m = vllm_fx::import(&ctx, text, "graph.json").expect("import");
            let p = mlir_support::pipeline::Pipeline::parse(&ctx, &pipeline_text).expect("pipeline");
            // As compile() does: verify the input (import did) and the result, not every pass.
            p.verify_each(false);
            let ok = p.run(&mut m).is_ok() && m.as_operation().verify();
            black_box(ok)
        })
    });
    g.bench_function("compile_with_text_output", |b| {
        b.iter(|| black_box(compile(Input::FxJson(text), "graph.json", &options).expect("compile").mlir.len()))
    });
    g.finish();
}

fn fusion_pipeline(c: &mut Criterion) {
    pipeline_group(c, "fusion_L32", &fixture("llama_fp8_custom_L32_dyn.json"));
    pipeline_group(c, "fusion_L80", &llama::llama_fx_json(80).expect("generated graph"));
}

/// Kernel generation for the 32-layer fixture, against its compile.
fn kernels(c: &mut Criterion) {
    use vllm_pipeline::{CompileOptions, Input, PassConfig, compile};
    let text = fixture("llama_fp8_custom_L32_dyn.json");
    let config = PassConfig::from_json(r#"{"eliminate_noops": true, "enable_fusion": true}"#).expect("config").0;
    let options = CompileOptions { config, ..Default::default() };
    let compiled = compile(Input::FxJson(&text), "graph.json", &options).expect("compile").mlir;
    let mut g = c.benchmark_group("kernels_L32");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("compile_baseline", |b| {
        b.iter(|| black_box(compile(Input::FxJson(&text), "graph.json", &options).expect("compile").mlir.len()))
    });
    g.bench_function("emit_ptx_and_manifest", |b| {
        b.iter(|| black_box(vllm_codegen::emit(&[(None, compiled.as_str())], "sm_90").expect("emit").kernels.len()))
    });
    g.finish();
}

/// The captured tp = 2 graph at 256 tokens: the whole compile with sequence
/// parallelism against the same compile without it, in the same run.
fn sequence_parallelism(c: &mut Criterion) {
    collective_group(c, "sp_tp2_n256", &fixture("llama_fp8_custom_tp2_L2_dyn.json"));
    collective_group(c, "collectives_L80_tp2_n256", &llama::llama_fx_json_with(80, true).expect("generated graph"));
}

/// One graph compiled at 256 tokens on tp 2: the fusions alone (the
/// baseline), then with each collective pass, in the same run.
fn collective_group(c: &mut Criterion, group: &str, text: &str) {
    use vllm_pipeline::{CompileOptions, Input, PassConfig, ShapeContext, compile};
    let options = |collectives: &str| CompileOptions {
        config: PassConfig::from_json(&format!(r#"{{"eliminate_noops": true, "enable_fusion": true{collectives}}}"#)).expect("config").0,
        shape: Some(ShapeContext::Static(256)),
        tp_size: 2,
        ..Default::default()
    };
    // The baseline and, in the same run, each collective pass on top of it.
    let variants = [
        ("compile_baseline_without_sp", options("")),
        ("compile_with_sp", options(r#", "enable_sp": true"#)),
        ("compile_with_sp_and_async_tp", options(r#", "enable_async_tp": true, "c10d_group_names": {"tp:0": "0"}"#)),
        ("compile_with_allreduce_rms", options(r#", "enable_fi_allreduce_fusion": true"#)),
    ];
    let mut g = c.benchmark_group(group);
    g.sample_size(20);
    for (name, opts) in &variants {
        g.bench_function(*name, |b| b.iter(|| black_box(compile(Input::FxJson(text), "tp.json", opts).expect("compile").mlir.len())));
    }
    g.finish();
}

criterion_group!(benches, import_export, compile_sizes, fusion_pipeline, sequence_parallelism, kernels);
criterion_main!(benches);
