//! `main` for the fuzz targets: the statically linked MLIR archives carry a
//! `main` of their own (libMLIRMlirOptMain.a) that would otherwise win the
//! link, so each target defines `main` and hands control to libFuzzer.
use std::ffi::{CString, c_char, c_int};

unsafe extern "C" {
    fn LLVMFuzzerRunDriver(
        argc: *mut c_int,
        argv: *mut *mut *mut c_char,
        callback: unsafe extern "C" fn(*const u8, usize) -> c_int,
    ) -> c_int;
    fn LLVMFuzzerTestOneInput(data: *const u8, size: usize) -> c_int;
}

pub fn run() -> ! {
    let args: Vec<CString> = std::env::args().map(|a| CString::new(a).expect("argument")).collect();
    let mut ptrs: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    ptrs.push(std::ptr::null_mut());
    let mut argc = args.len() as c_int;
    let mut argv = ptrs.as_mut_ptr();
    let code = unsafe { LLVMFuzzerRunDriver(&mut argc, &mut argv, LLVMFuzzerTestOneInput) };
    std::process::exit(code);
}
