//! Any FX graph JSON through the whole post-grad pipeline (no-op elimination,
//! sequence parallelism, async TP, the all-reduce + norm fusion, the fusions
//! with their native-form recognizers, the q/k-norm + RoPE fusion,
//! fix-functionalization, DCE, FX export)
//! must give a result or located diagnostics: never a panic, an abort or a
//! hang. Each input runs four times: for the symbolic graph, and for a static
//! 256-token context with tp = 2 where sequence parallelism applies, alone,
//! with async TP, and with the all-reduce fusion instead (under vLLM's 64 MiB
//! TP = 2 byte budget, so each site's token limit is computed).
use libfuzzer_sys::fuzz_target;
use vllm_pipeline::{CompileOptions, Input, PassConfig, ShapeContext, compile};

fn options(config: &str, shape: Option<ShapeContext>) -> CompileOptions {
    CompileOptions {
        config: PassConfig::from_json(config).expect("config").0,
        shape,
        tp_size: 2,
        emit_fx: true,
        ..Default::default()
    }
}

thread_local! {
    static SYMBOLIC: CompileOptions = options(
        // The per-token norm fused only on contiguous input (vLLM before PR 36551); partial rotaries fuse.
        r#"{"eliminate_noops": true, "enable_fusion": true, "enable_attn_fusion": true, "enable_qk_norm_rope_fusion": true,
            "qk_norm_rope_partial_rotary": true,
            "contiguous_input_ops": ["torch.ops._C.rms_norm_dynamic_per_token_quant.default"]}"#,
        None,
    );
    static STATIC_TP2: CompileOptions = options(
        // Attention + quant only where the (fixtures') layer 0 writes static FP8 and every layer NVFP4.
        r#"{"eliminate_noops": true, "enable_sp": true, "enable_fusion": true, "enable_attn_fusion": true,
            "attn_output_quant": {"fp8_static": ["model.layers.0.self_attn.attn"], "nvfp4": ["*"]}}"#,
        Some(ShapeContext::Static(256)),
    );
    static ASYNC_TP2: CompileOptions = options(
        r#"{"eliminate_noops": true, "enable_async_tp": true, "c10d_group_names": {"tp:0": "0"}, "enable_fusion": true}"#,
        Some(ShapeContext::Static(256)),
    );
    static ALLREDUCE_TP2: CompileOptions = options(
        // The fusions a vLLM without their kernels leaves off (the per-block norm, q/k-norm + RoPE).
        r#"{"eliminate_noops": true, "enable_fi_allreduce_fusion": true, "fi_allreduce_fusion_max_size_mb": 64, "enable_fusion": true,
            "enable_qk_norm_rope_fusion": true,
            "unavailable_ops": ["torch.ops._C.rms_norm_per_block_quant.default", "torch.ops._C.fused_qk_norm_rope.default"]}"#,
        Some(ShapeContext::Static(256)),
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for options in [&SYMBOLIC, &STATIC_TP2, &ASYNC_TP2, &ALLREDUCE_TP2] {
        options.with(|o| {
            let _ = compile(Input::FxJson(text), "fuzz.json", o);
        });
    }
});

#[path = "driver.rs"]
mod driver;

fn main() {
    driver::run()
}
