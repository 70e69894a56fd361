//! Any FX graph JSON, compiled for the symbolic context and for 256 tokens,
//! then through kernel generation (`vllm_codegen::emit_with`: collect the
//! fused ops, generate each kernel, lower it to PTX, lint it), default and
//! with the opt-in variants: a result or an error, never a panic, an abort or a hang. Hidden
//! sizes, element types and group sizes come from the graph, so this reaches
//! shapes no test writes (it is how a 1M-element row was found to produce a
//! kernel that did not parse).
use libfuzzer_sys::fuzz_target;
use vllm_pipeline::{CompileOptions, Input, PassConfig, ShapeContext, compile};

fn options(shape: Option<ShapeContext>) -> CompileOptions {
    CompileOptions {
        config: PassConfig::from_json(
            r#"{"eliminate_noops": true, "enable_fusion": true, "enable_qk_norm_rope_fusion": true, "qk_norm_rope_partial_rotary": true}"#,
        )
        .expect("config")
        .0,
        shape,
        ..Default::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut compiled = Vec::new();
    for (tokens, shape) in [(None, None), (Some(256), Some(ShapeContext::Static(256)))] {
        if let Ok(r) = compile(Input::FxJson(text), "fuzz.json", &options(shape)) {
            compiled.push((tokens, r.mlir));
        }
    }
    let texts: Vec<(Option<u64>, &str)> = compiled.iter().map(|(t, m)| (*t, m.as_str())).collect();
    // The default kernels, then the opt-in variants (persistent schedule, SiLU's fast-path division).
    for variants in [false, true] {
        let options = vllm_codegen::Options { arch: "sm_90".into(), persistent: variants, silu_fast_division: variants };
        let _ = vllm_codegen::emit_with(&texts, &options);
    }
});

#[path = "driver.rs"]
mod driver;

fn main() {
    driver::run()
}
