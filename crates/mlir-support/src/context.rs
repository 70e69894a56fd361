//! Contexts with every dialect vllm-opt needs loaded.
use crate::ffi;
use melior::{
    Context,
    dialect::DialectRegistry,
    ir::operation::{OperationLike, OperationRef},
    utility::register_all_dialects,
};
use std::ffi::c_void;

/// Verifies one operation of a dynamic dialect: `Err(message)` makes the
/// verifier emit `'<op name>' op <message>` at the op and fail.
pub type OpVerifier = fn(OperationRef<'_, '_>) -> Result<(), String>;

/// A dialect defined at runtime from a data table: its name, its op names
/// (without the dialect prefix) and the verifier shared by its ops.
#[derive(Debug, Clone)]
pub struct DynamicDialectDef {
    pub name: &'static str,
    pub ops: Vec<&'static str>,
    pub verifier: OpVerifier,
}

/// Creates a context with every upstream dialect registered and loaded, and
/// the given dynamic dialects loaded. Unregistered dialects are refused.
pub fn new_context(dialects: &[DynamicDialectDef]) -> Context {
    install_fatal_error_handler();
    let registry = DialectRegistry::new();
    register_all_dialects(&registry);
    // Threading off: a post-grad graph is one function (docs/ARCHITECTURE.md).
    // Creating the context without threading is not enough: only an explicit
    // disable switches the attribute and type uniquers to their lock-free path.
    let context = Context::new_with_registry(&registry, false);
    context.enable_multi_threading(false);
    // Dialects load on demand (parsing, pass dependencies): loading all ~80
    // registered ones up front cost most of a context's creation time.
    context.get_or_load_dialect("func");
    context.set_allow_unregistered_dialects(false);
    for d in dialects {
        load_dynamic_dialect(&context, d);
    }
    context
}

/// Verifications of ops of the dynamic dialects, process-wide.
static VERIFICATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many times an op of the torch-like dialects has been verified in this
/// process. A work count, not a time: MLIR verifies once after parsing and
/// after each pass, but printing an op (melior builds its error messages that
/// way, e.g. for `operand(i)` out of range) verifies the whole function
/// again, so a pass that does that per site turns linear work quadratic.
/// `vllm-opt --pass-summary` reports it; a test bounds it per op.
pub fn verifications() -> u64 {
    VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed)
}

unsafe extern "C" fn verify_trampoline(user_data: *mut c_void, op: mlir_sys::MlirOperation) -> bool {
    VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let verifier: OpVerifier = unsafe { std::mem::transmute::<*mut c_void, OpVerifier>(user_data) };
    let op = unsafe { OperationRef::from_raw(op) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| verifier(op)))
        .unwrap_or_else(|_| Err("internal error: the verifier panicked".to_string()));
    match result {
        Ok(()) => true,
        Err(message) => {
            let name = op.name().as_string_ref().as_str().unwrap_or("?").to_string();
            crate::ir::emit_error(op.location(), &format!("'{name}' op {message}"));
            false
        }
    }
}

/// Loads one dynamic dialect into `context` (a no-op when already loaded).
pub fn load_dynamic_dialect(context: &Context, def: &DynamicDialectDef) {
    let names: Vec<mlir_sys::MlirStringRef> = def.ops.iter().map(|s| ffi::string_ref(s)).collect();
    unsafe {
        ffi::vllmLoadDynamicDialect(
            context.to_raw(),
            ffi::string_ref(def.name),
            names.as_ptr(),
            names.len(),
            verify_trampoline,
            def.verifier as *mut c_void,
        )
    }
}

/// LLVM's fatal errors would abort the process; report them as an error and
/// exit 1 instead. Idempotent.
pub fn install_fatal_error_handler() {
    unsafe { crate::ffi::vllmInstallFatalErrorHandler() }
}

/// Makes `context` able to translate to LLVM IR (needed to serialize GPU
/// modules to PTX with `gpu-module-to-binary`). Only code generation needs it.
pub fn register_llvm_translations(context: &Context) {
    unsafe { mlir_sys::mlirRegisterAllLLVMTranslations(context.to_raw()) }
}
