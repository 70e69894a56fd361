//! Any FX graph JSON through the whole post-grad pipeline (no-op elimination,
//! the fusions with their native-form recognizers, fix-functionalization,
//! DCE, FX export) must give a result or located diagnostics: never a panic,
//! an abort or a hang.
use libfuzzer_sys::fuzz_target;
use vllm_pipeline::{CompileOptions, Input, PassConfig, compile};

thread_local! {
    static OPTIONS: CompileOptions = CompileOptions {
        config: PassConfig::from_json(r#"{"eliminate_noops": true, "enable_fusion": true, "enable_attn_fusion": true}"#)
            .expect("config")
            .0,
        emit_fx: true,
        ..Default::default()
    };
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    OPTIONS.with(|o| {
        let _ = compile(Input::FxJson(text), "fuzz.json", o);
    });
});

#[path = "driver.rs"]
mod driver;

fn main() {
    driver::run()
}
