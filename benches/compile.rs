//! Compile-time benchmarks (the one bench binary).
//!
//! Each group measures a baseline in the same run, so that ratios, not
//! absolute times, are what docs/benchmarks.md reports: this machine is shared
//! and noisy.
//!
//! - `import/L32`: FX graph JSON of the 32-layer fixture -> verified module,
//!   against `json_parse/L32` (serde_json parsing the same text, the floor any
//!   importer pays).
//! - `export/L32`: module -> FX graph JSON text.
//!
//! Run: `cargo bench --bench compile` (add `-- import` to filter).
use criterion::{Criterion, criterion_group, criterion_main};
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
    g.bench_function("import/L32", |b| {
        b.iter(|| black_box(vllm_fx::import(&ctx, black_box(&text), "L32.json").expect("import")))
    });
    let module = vllm_fx::import(&ctx, &text, "L32.json").expect("import");
    g.bench_function("export/L32", |b| {
        b.iter(|| black_box(vllm_fx::to_text(&vllm_fx::export(black_box(&module)).expect("export"))))
    });
    g.finish();
}

criterion_group!(benches, import_export);
criterion_main!(benches);
