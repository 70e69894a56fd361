//! Rust passes that MLIR's pass infrastructure can name, schedule and run.
//!
//! A pass is a value implementing [`Pass`], described by a static
//! [`PassInfo`] record (dash-case argument, summary, description, options,
//! statistics). [`register`] puts it in MLIR's global registry through the C++
//! shim, after which it can appear in any textual pipeline next to upstream
//! passes, with its options validated and printed by MLIR itself:
//! `builtin.module(func.func(vllm-dce), canonicalize)`.
//!
//! MLIR may run passes on several worker threads at once (one per function),
//! hence `Send + Sync`.
use crate::ffi;
use melior::ir::operation::{OperationLike, OperationRef};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    ffi::{CString, c_void},
    sync::{Mutex, OnceLock},
};

/// One pass option: `name=value` inside the pass's `{...}` in a pipeline.
#[derive(Debug)]
pub struct PassOption {
    pub name: &'static str,
    pub description: &'static str,
    pub default: &'static str,
}

/// One counter a pass reports (rewrites made, copies inserted, ...). LLVM's
/// own `Statistic` is compiled out of release LLVM builds such as Debian's, so
/// counts are kept here, per context, and read back with [`take_statistics`].
#[derive(Debug)]
pub struct PassStatistic {
    pub name: &'static str,
    pub description: &'static str,
}

/// The declaration of a pass: everything `--help`, docs/passes.md and the
/// pipeline parser need to know about it.
#[derive(Debug)]
pub struct PassInfo {
    /// Dash-case pipeline name, prefixed with the project (`vllm-dce`).
    pub argument: &'static str,
    /// One line for `--help`.
    pub summary: &'static str,
    /// Rationale, restrictions, example; rendered in docs/passes.md.
    pub description: &'static str,
    /// The operation the pass runs on (`func.func`), or `None` for any.
    pub anchor: Option<&'static str>,
    pub options: &'static [PassOption],
    pub statistics: &'static [PassStatistic],
    /// The source text of everything that defines the pass's rewrites (its
    /// file, its rule files), via `include_str!`. The pass's cache uuid hashes
    /// it, so editing a rule invalidates compiled artifacts.
    pub sources: &'static [&'static str],
}

/// What a pass sees while it runs: its option values and its statistics.
pub struct PassRun<'a> {
    info: &'static PassInfo,
    values: Vec<&'a str>,
    context: usize,
}

impl PassRun<'_> {
    /// The value of option `name` (its default when not given).
    pub fn option(&self, name: &str) -> &str {
        self.info.options.iter().position(|o| o.name == name).and_then(|i| self.values.get(i).copied()).unwrap_or("")
    }

    /// The running pass's argument (`vllm-dce`), for diagnostics.
    pub fn pass_argument(&self) -> &'static str {
        self.info.argument
    }

    /// Adds `n` to the statistic called `name` (one of the pass's declared ones).
    pub fn bump(&self, name: &str, n: u64) {
        debug_assert!(self.info.statistics.iter().any(|s| s.name == name), "undeclared statistic {name}");
        let mut all = statistics().lock().unwrap_or_else(|e| e.into_inner());
        *all.entry(self.context).or_default().entry((self.info.argument, name.to_string())).or_default() += n;
    }
}

/// Why a pass failed; it has already emitted located diagnostics on the IR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassFailed;

pub trait Pass: Send + Sync + 'static {
    fn info(&self) -> &'static PassInfo;
    /// Runs on `op` (the anchor). Report problems with diagnostics on the IR
    /// (`ir::emit_error`) and return `Err(PassFailed)`; never panic.
    fn run(&self, op: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed>;
}

unsafe extern "C" fn run_trampoline(
    user_data: *mut c_void,
    op: mlir_sys::MlirOperation,
    options: *const mlir_sys::MlirStringRef,
    num_options: usize,
    _pass: *mut c_void,
) -> bool {
    let pass: &'static dyn Pass = unsafe { *(user_data as *const &'static dyn Pass) };
    let values = (0..num_options).map(|i| unsafe { ffi::from_string_ref(*options.add(i)) }).collect();
    let op = unsafe { OperationRef::from_raw(op) };
    let run = PassRun { info: pass.info(), values, context: unsafe { mlir_sys::mlirOperationGetContext(op.to_raw()) }.ptr as usize };
    // A panic must not unwind into C++.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pass.run(op, &run))) {
        Ok(result) => result.is_ok(),
        Err(_) => {
            crate::ir::emit_error(op.location(), &format!("internal error: pass '{}' panicked", pass.info().argument));
            false
        }
    }
}

type Counters = BTreeMap<(&'static str, String), u64>;

fn statistics() -> &'static Mutex<HashMap<usize, Counters>> {
    static STATS: OnceLock<Mutex<HashMap<usize, Counters>>> = OnceLock::new();
    STATS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Takes the statistics the passes recorded in `context` since the last call:
/// `(pass argument, statistic, value)`, sorted.
pub fn take_statistics(context: &melior::Context) -> Vec<(&'static str, String, u64)> {
    let mut all = statistics().lock().unwrap_or_else(|e| e.into_inner());
    all.remove(&(context.to_raw().ptr as usize)).unwrap_or_default().into_iter().map(|((p, s), v)| (p, s, v)).collect()
}

fn registered() -> &'static Mutex<HashSet<&'static str>> {
    static REGISTERED: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    REGISTERED.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Registers `pass` in MLIR's global pass registry under its argument.
/// Registering the same argument twice is a no-op (the first one stays).
pub fn register(pass: Box<dyn Pass>) {
    let info = pass.info();
    let mut seen = registered().lock().unwrap_or_else(|e| e.into_inner());
    if !seen.insert(info.argument) {
        return;
    }
    register_upstream_passes();
    // The pass lives as long as the registry: for the whole process.
    let pass: &'static dyn Pass = Box::leak(pass);
    let user_data = Box::leak(Box::new(pass)) as *mut &'static dyn Pass as *mut c_void;
    let c = |s: &str| CString::new(s).unwrap_or_default();
    let argument = c(info.argument);
    let summary = c(info.summary);
    let anchor = c(info.anchor.unwrap_or(""));
    let names: Vec<CString> = info.options.iter().map(|o| c(o.name)).collect();
    let descs: Vec<CString> = info.options.iter().map(|o| c(o.description)).collect();
    let defaults: Vec<CString> = info.options.iter().map(|o| c(o.default)).collect();
    let ptrs = |v: &Vec<CString>| v.iter().map(|s| s.as_ptr()).collect::<Vec<_>>();
    let (names_p, descs_p, defaults_p) = (ptrs(&names), ptrs(&descs), ptrs(&defaults));
    unsafe {
        ffi::vllmRegisterPass(
            argument.as_ptr(),
            summary.as_ptr(),
            anchor.as_ptr(),
            names_p.as_ptr(),
            descs_p.as_ptr(),
            defaults_p.as_ptr(),
            names.len(),
            run_trampoline,
            user_data,
        )
    }
}

/// Registers every upstream MLIR pass (canonicalize, cse, ...). Idempotent.
pub fn register_upstream_passes() {
    melior::utility::register_all_passes();
}

/// True when `name` names a registered pass or pass pipeline.
pub fn is_registered(name: &str) -> bool {
    unsafe { ffi::vllmIsRegisteredPass(ffi::string_ref(name)) }
}

/// Prints MLIR's list of every registered pass (with one-line summaries) to stdout.
pub fn print_registered_passes() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    unsafe { ffi::vllmPrintRegisteredPasses() }
}
