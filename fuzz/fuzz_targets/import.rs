//! Any input to the FX graph JSON importer must give a module or located
//! diagnostics: never a panic, an abort or a hang. Each accepted module is
//! also exported, since the exporter must handle whatever the importer built.
//!
//! `main` is in driver.rs (why: see there).
use libfuzzer_sys::fuzz_target;
use mlir_support::melior::Context;

thread_local! {
    static CTX: Context = vllm_dialect::new_context().expect("the op table is valid");
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    CTX.with(|ctx| {
        if let Ok(module) = vllm_fx::import(ctx, text, "fuzz.json") {
            let _ = vllm_fx::export(&module).map(|doc| vllm_fx::to_text(&doc));
        }
    });
});

#[path = "driver.rs"]
mod driver;

fn main() {
    driver::run()
}
