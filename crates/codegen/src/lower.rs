//! A kernel's body lowered: to PTX for the GPU (in-process, through MLIR's
//! NVVM path; linted for unresolved libdevice calls), and to host code that
//! MLIR's ExecutionEngine runs (the host twin the numerics tests check).
use crate::Kernel;
use crate::body::{Form, Target};
use mlir_support::ir;

/// The `gpu.module` text of one kernel.
pub fn kernel_mlir(k: &Kernel) -> String {
    format!("module attributes {{gpu.container_module}} {{\n  gpu.module @{} {{\n{}\n  }}\n}}\n", k.name, k.body(Target::Gpu))
}

/// The architectures the kernels target, with the PTX ISA version each is
/// emitted for: what LLVM 22's NVPTX backend needs for the FP8 conversion
/// there (8.1 on sm_89, 8.0 on sm_90/sm_90a), or the architecture's own
/// minimum where that is newer (Blackwell: 8.6-8.8).
pub const CUDA_ARCHS: &[(&str, u32)] = &[
    ("sm_89", 81),
    ("sm_90", 80),
    ("sm_90a", 80),
    ("sm_100", 86),
    ("sm_100a", 86),
    ("sm_103", 88),
    ("sm_103a", 88),
    ("sm_120", 87),
    ("sm_120a", 87),
    ("sm_121", 88),
    ("sm_121a", 88),
];

/// The PTX ISA version (e.g. 80 for 8.0) to emit for `arch`, or why it
/// cannot be targeted: LLVM aborts on an architecture it does not know, so
/// this is checked before any lowering.
fn ptx_isa(arch: &str) -> Result<u32, String> {
    if let Some((_, v)) = CUDA_ARCHS.iter().find(|(a, _)| *a == arch) {
        return Ok(*v);
    }
    let known = CUDA_ARCHS.iter().map(|(a, _)| *a).collect::<Vec<_>>().join(", ");
    let sm: Option<u32> = arch.strip_prefix("sm_").map(|n| n.trim_end_matches('a')).and_then(|n| n.parse().ok());
    Err(match sm {
        Some(n) if n < 89 => format!("--cuda-arch {arch}: the FP8 conversion (cvt.rn.satfinite.e4m3x2) needs sm_89 or newer"),
        Some(_) => format!("--cuda-arch {arch}: not an architecture the kernels target; one of {known}"),
        None => format!("--cuda-arch {arch}: expected sm_<NN>, e.g. sm_90; one of {known}"),
    })
}

/// Lowers one kernel to PTX for `arch` (e.g. `sm_90`). A PTX that calls an
/// external function (libdevice's `__nv_*`, which is not linked) is an error.
pub fn ptx(k: &Kernel, arch: &str) -> Result<String, String> {
    let ptx_isa = ptx_isa(arch)?;
    let pipeline = format!(
        "builtin.module(gpu.module(convert-scf-to-cf,convert-gpu-to-nvvm),nvvm-attach-target{{chip={arch} features=+ptx{ptx_isa}}},reconcile-unrealized-casts,gpu-module-to-binary{{format=isa}})"
    );
    let objects = lowered(k, Target::Gpu, &kernel_mlir(k), &pipeline, |m| Ok(ir::gpu_binary_objects(m)))?;
    let text = objects.into_iter().next().map(|(_, p)| p).ok_or_else(|| format!("{}: no PTX produced", k.name))?;
    if let Some(line) = text.lines().find(|l| l.contains(".extern .func")) {
        return Err(format!("{}: the PTX calls an external function ({}): libdevice is not linked", k.name, line.trim()));
    }
    Ok(text)
}

/// The host (CPU) twin of a kernel, as a `func.func` over all rows.
pub fn host_mlir(k: &Kernel) -> String {
    host_mlir_in(k, Form::Loops)
}

/// The host twin in `form`: `Form::Registers` runs the GPU's register
/// layout (one thread per row) on the host.
pub fn host_mlir_in(k: &Kernel, form: Form) -> String {
    format!("module {{\n{}}}\n", k.body_in(Target::Cpu, form))
}

/// Buffers of one host call: one per pointer parameter, by name, row-major
/// with `rows` rows, as raw little-endian bytes (activations as 16-bit
/// patterns, FP8/int8 as bytes, scales as f32). [`Kernel::span`] gives each
/// size; written buffers hold the results afterwards.
#[derive(Debug)]
pub struct HostCall<'a> {
    pub buffers: Vec<(&'static str, &'a mut [u8])>,
    pub epsilon: f32,
    pub rows: usize,
    /// Elements between the input's rows, for kernels with an `input_stride`
    /// parameter (`None`: `hidden`, contiguous rows).
    pub input_stride: Option<u64>,
}

/// Runs the host twin of `k` through MLIR's ExecutionEngine.
pub fn run_on_host(k: &Kernel, call: HostCall<'_>) -> Result<(), String> {
    run_on_host_in(k, call, Form::Loops)
}

/// `run_on_host` with the body in `form`.
pub fn run_on_host_in(k: &Kernel, call: HostCall<'_>, form: Form) -> Result<(), String> {
    let mut buffers = call.buffers;
    for (name, b) in &buffers {
        let p = k
            .params
            .iter()
            .find(|p| p.name == *name && p.kind == "ptr")
            .ok_or_else(|| format!("{}: no pointer parameter '{name}'", k.name))?;
        let need = k.span(p, call.rows, call.input_stride).map_err(|e| format!("{}: {e}", k.name))?;
        if b.len() != need {
            return Err(format!("{}: '{name}' has {} bytes, {} rows need {need}", k.name, b.len(), call.rows));
        }
    }
    let lower = "builtin.module(convert-scf-to-cf,arith-expand{include-bf16=true},convert-math-to-llvm,convert-vector-to-llvm,convert-arith-to-llvm,convert-cf-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)";
    use mlir_support::jit::Arg;
    // Exactly the kernel's parameters, in their order (then the row count).
    let mut args = Vec::new();
    for p in &k.params {
        match p.kind {
            "f32" => {
                args.push(Arg::F32(call.epsilon));
                continue;
            }
            // The persistent kernels' `num_tokens`.
            "i32" => {
                args.push(Arg::I32(i32::try_from(call.rows).map_err(|_| format!("{}: {} rows", k.name, call.rows))?));
                continue;
            }
            // The norms' `input_stride`.
            "i64" => {
                args.push(Arg::I64(call.input_stride.unwrap_or(k.hidden) as i64));
                continue;
            }
            _ => {}
        }
        let i =
            buffers.iter().position(|(n, _)| *n == p.name).ok_or_else(|| format!("{}: no buffer for parameter '{}'", k.name, p.name))?;
        args.push(Arg::Buffer(buffers.swap_remove(i).1));
    }
    args.push(Arg::Index(call.rows as i64));
    lowered(k, Target::Cpu, &host_mlir_in(k, form), lower, |m| mlir_support::jit::call(m, &k.name, &mut args))
}

/// Parses `text`, kernel `k`'s MLIR for `target`, in a fresh context with the
/// LLVM translations, runs `pipeline` on it and hands the result to `then`.
fn lowered<T>(
    k: &Kernel,
    target: Target,
    text: &str,
    pipeline: &str,
    then: impl FnOnce(&mlir_support::melior::ir::Module<'_>) -> Result<T, String>,
) -> Result<T, String> {
    let (what, file) = match target {
        Target::Gpu => ("generated kernel", format!("{}.mlir", k.name)),
        Target::Cpu => ("host kernel", format!("{}.host.mlir", k.name)),
    };
    // `Kernel`'s fields are public: a persistent flag set by hand on a kind
    // without that form is refused here, not generated.
    if k.persistent && (!k.has_persistent_form() || k.params.last().is_none_or(|p| p.kind != "i32")) {
        return Err(format!("{}: no persistent form for {} (see Kernel::persistent)", k.name, k.op));
    }
    if (k.op == "vllm.fused_qk_norm_rope") != k.heads.is_some() {
        return Err(format!("{}: a head layout is for fused_qk_norm_rope alone (see qk_norm_rope_kernel)", k.name));
    }
    let ctx = vllm_dialect::new_context()?;
    mlir_support::context::register_llvm_translations(&ctx);
    let mut module = mlir_support::source::parse(&ctx, text, &file)
        .map_err(|d| format!("{}: the {what} does not parse: {}", k.name, first_message(&d)))?;
    mlir_support::pipeline::Pipeline::parse(&ctx, pipeline)
        .map_err(|d| format!("{d:?}"))?
        .run(&mut module)
        .map_err(|d| format!("{}: lowering the {what} failed: {}", k.name, first_message(&d)))?;
    then(&module)
}

/// The first diagnostic of a failure, with its line in the generated MLIR.
pub(crate) fn first_message(d: &[mlir_support::Diag]) -> String {
    d.first().map_or_else(
        || "no diagnostic".into(),
        |d| match &d.loc {
            Some(l) => format!("line {}: {}", l.line, d.message),
            None => d.message.clone(),
        },
    )
}
