//! Declarations of the C++ shim's functions (cpp/shim.cpp).
use mlir_sys::{MlirContext, MlirLocation, MlirModule, MlirOperation, MlirStringRef};
use std::ffi::{c_char, c_void};

pub type PassRunFn = unsafe extern "C" fn(
    user_data: *mut c_void,
    op: MlirOperation,
    options: *const MlirStringRef,
    num_options: usize,
    pass: *mut c_void,
) -> bool;

unsafe extern "C" {
    #[allow(clippy::too_many_arguments)]
    pub fn vllmRegisterPass(
        argument: *const c_char,
        summary: *const c_char,
        anchor: *const c_char,
        option_names: *const *const c_char,
        option_descs: *const *const c_char,
        option_defaults: *const *const c_char,
        num_options: usize,
        run: PassRunFn,
        user_data: *mut c_void,
    );
    pub fn vllmIsRegisteredPass(name: MlirStringRef) -> bool;
    pub fn vllmPrintRegisteredPasses();
    pub fn vllmInstallFatalErrorHandler();
    pub fn vllmEmitRemark(location: MlirLocation, message: *const c_char);
    pub fn vllmParseSourceWithName(context: MlirContext, source: MlirStringRef, name: MlirStringRef) -> MlirModule;
}

pub fn string_ref(s: &str) -> MlirStringRef {
    MlirStringRef { data: s.as_ptr() as *const c_char, length: s.len() }
}

/// # Safety
/// `s` must point to `length` valid bytes for the returned lifetime.
pub unsafe fn from_string_ref<'a>(s: MlirStringRef) -> &'a str {
    if s.data.is_null() || s.length == 0 {
        return "";
    }
    let bytes = unsafe { std::slice::from_raw_parts(s.data as *const u8, s.length) };
    std::str::from_utf8(bytes).unwrap_or("")
}

pub type VerifyFn = unsafe extern "C" fn(user_data: *mut c_void, op: MlirOperation) -> bool;

unsafe extern "C" {
    pub fn vllmLoadDynamicDialect(
        context: MlirContext,
        dialect: MlirStringRef,
        ops: *const MlirStringRef,
        num_ops: usize,
        verify: VerifyFn,
        user_data: *mut c_void,
    );
}
