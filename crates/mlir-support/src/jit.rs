//! Running lowered code on the host through MLIR's ExecutionEngine (the CPU
//! twin of the CUDA kernels, for numerics tests on any machine).
use melior::ir::Module;

/// One argument of a packed call.
#[derive(Debug)]
pub enum Arg<'a> {
    /// A pointer to this buffer (an `!llvm.ptr` parameter).
    Buffer(&'a mut [u8]),
    F32(f32),
    I32(i32),
    I64(i64),
    Index(i64),
}

/// JIT-compiles `module` (already in the LLVM dialect) and calls `name` with
/// `args` through its packed wrapper.
pub fn call(module: &Module<'_>, name: &str, args: &mut [Arg<'_>]) -> Result<(), String> {
    let engine = unsafe { mlir_sys::mlirExecutionEngineCreate(module.to_raw(), 2, 0, std::ptr::null(), false, false) };
    if engine.ptr.is_null() {
        return Err("the module could not be compiled for the host (is it fully in the LLVM dialect?)".into());
    }
    // Each packed argument is a pointer to the argument's value; a slot at
    // offset 0 of a repr(C) union holds any of them.
    #[repr(C)]
    union Slot {
        ptr: *mut u8,
        f32: f32,
        i32: i32,
        i64: i64,
    }
    let mut slots: Vec<Slot> = args
        .iter_mut()
        .map(|a| match a {
            Arg::Buffer(b) => Slot { ptr: b.as_mut_ptr() },
            Arg::F32(v) => Slot { f32: *v },
            Arg::I32(v) => Slot { i32: *v },
            Arg::I64(v) | Arg::Index(v) => Slot { i64: *v },
        })
        .collect();
    let mut packed: Vec<*mut std::ffi::c_void> = slots.iter_mut().map(|s| s as *mut Slot as *mut std::ffi::c_void).collect();
    let name_ref = crate::ffi::string_ref(name);
    let ok = unsafe { mlir_sys::mlirExecutionEngineInvokePacked(engine, name_ref, packed.as_mut_ptr()) };
    unsafe { mlir_sys::mlirExecutionEngineDestroy(engine) };
    if ok.value == 0 { Err(format!("no function '{name}' to call")) } else { Ok(()) }
}
