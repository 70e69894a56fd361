//! Running lowered code on the host through MLIR's ExecutionEngine (the CPU
//! twin of the CUDA kernels, for numerics tests on any machine).
use melior::ir::Module;

/// One argument of a packed call.
#[derive(Debug)]
pub enum Arg<'a> {
    /// A pointer to this buffer (an `!llvm.ptr` parameter).
    Buffer(&'a mut [u8]),
    F32(f32),
    Index(i64),
}

/// JIT-compiles `module` (already in the LLVM dialect) and calls `name` with
/// `args` through its packed wrapper.
pub fn call(module: &Module<'_>, name: &str, args: &mut [Arg<'_>]) -> Result<(), String> {
    let engine = unsafe { mlir_sys::mlirExecutionEngineCreate(module.to_raw(), 2, 0, std::ptr::null(), false, false) };
    if engine.ptr.is_null() {
        return Err("the module could not be compiled for the host (is it fully in the LLVM dialect?)".into());
    }
    // Each packed argument is a pointer to the argument's value.
    let mut ptrs: Vec<*mut u8> = Vec::new();
    let mut f32s: Vec<f32> = Vec::new();
    let mut i64s: Vec<i64> = Vec::new();
    for a in args.iter_mut() {
        match a {
            Arg::Buffer(b) => ptrs.push(b.as_mut_ptr()),
            Arg::F32(v) => f32s.push(*v),
            Arg::Index(v) => i64s.push(*v),
        }
    }
    let (mut p, mut f, mut i) = (0, 0, 0);
    let mut packed: Vec<*mut std::ffi::c_void> = Vec::new();
    for a in args.iter() {
        packed.push(match a {
            Arg::Buffer(_) => {
                p += 1;
                &mut ptrs[p - 1] as *mut *mut u8 as *mut std::ffi::c_void
            }
            Arg::F32(_) => {
                f += 1;
                &mut f32s[f - 1] as *mut f32 as *mut std::ffi::c_void
            }
            Arg::Index(_) => {
                i += 1;
                &mut i64s[i - 1] as *mut i64 as *mut std::ffi::c_void
            }
        });
    }
    let name_ref = crate::ffi::string_ref(name);
    let ok = unsafe { mlir_sys::mlirExecutionEngineInvokePacked(engine, name_ref, packed.as_mut_ptr()) };
    unsafe { mlir_sys::mlirExecutionEngineDestroy(engine) };
    if ok.value == 0 { Err(format!("no function '{name}' to call")) } else { Ok(()) }
}
