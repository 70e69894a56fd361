//! Any input to the FX graph JSON importer must give a module or located
//! diagnostics: never a panic, an abort or a hang. Each accepted module is
//! also exported, since the exporter must handle whatever the importer built.
//!
//! The binary defines `main` itself and hands control to libFuzzer's
//! `LLVMFuzzerRunDriver`: the statically linked MLIR archives carry a `main`
//! of their own (libMLIRMlirOptMain.a) that would otherwise win the link.
use libfuzzer_sys::fuzz_target;
use mlir_support::melior::Context;
use std::ffi::{CString, c_char, c_int};

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

unsafe extern "C" {
    fn LLVMFuzzerRunDriver(
        argc: *mut c_int,
        argv: *mut *mut *mut c_char,
        callback: unsafe extern "C" fn(*const u8, usize) -> c_int,
    ) -> c_int;
    fn LLVMFuzzerTestOneInput(data: *const u8, size: usize) -> c_int;
}

fn main() {
    let args: Vec<CString> = std::env::args().map(|a| CString::new(a).expect("argument")).collect();
    let mut ptrs: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    ptrs.push(std::ptr::null_mut());
    let mut argc = args.len() as c_int;
    let mut argv = ptrs.as_mut_ptr();
    let code = unsafe { LLVMFuzzerRunDriver(&mut argc, &mut argv, LLVMFuzzerTestOneInput) };
    std::process::exit(code);
}
