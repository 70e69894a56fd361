//! Kernel generation beyond what the fixtures reach: every kernel kind and
//! output type compiles to PTX with exactly its manifest parameters, and no
//! unresolved libdevice call (`ptx` refuses those).
use libtest_mimic::Failed;

pub const TESTS: &[crate::RustTest] = &[
    ("codegen::every_kernel_compiles_to_ptx", every_kernel_compiles_to_ptx),
    ("codegen::every_listed_arch_compiles", every_listed_arch_compiles),
    ("codegen::a_backend_gets_kernels_from_the_library", a_backend_gets_kernels_from_the_library),
    ("codegen::persistent_form_of_the_register_kernels", persistent_form_of_the_register_kernels),
];

/// `Kernel::persistent` (`--persistent-kernels`): the kinds that keep their
/// row in registers, and the per-tensor quant's max kernel, get it, with the row count as a last i32
/// parameter in the PTX as in the manifest, the weights loaded once per CTA
/// (outside the loop over rows) and the row's reduction slots doubled; the
/// others have none. The simulator runs them (numerics).
fn persistent_form_of_the_register_kernels() -> Result<(), Failed> {
    const F8: &str = "f8E4M3FN";
    let with = [
        ("vllm.rms_norm", false, "bf16", None, 1),
        ("vllm.fused_add_rms_norm", true, "f16", None, 1),
        ("vllm.rms_norm_static_fp8_quant", false, F8, None, 1),
        ("vllm.fused_add_rms_norm_static_fp8_quant", true, F8, None, 1),
        ("vllm.rms_norm_dynamic_per_token_quant", false, F8, None, 2),
        ("vllm.rms_norm_dynamic_per_token_quant", false, "i8", None, 2),
        ("vllm.dynamic_per_token_scaled_fp8_quant", false, F8, None, 1),
        // The group max is a butterfly within a warp: one block reduction.
        ("vllm.rms_norm_per_block_quant", false, F8, Some(128), 1),
        // With a residual the row's f32 sum is carried instead.
        ("vllm.rms_norm_dynamic_per_token_quant", true, F8, None, 2),
        ("vllm.rms_norm_per_block_quant", true, F8, Some(128), 1),
    ];
    for (op, residual, out, group, barriers) in with {
        let elem = if out == "f16" { "f16" } else { "bf16" };
        let base = vllm_codegen::kernel_for(op, 4096, elem, residual, out, group, false).ok_or_else(|| format!("no kernel for {op}"))?;
        let k = base.clone().for_tokens(Some(16)).persistent().ok_or_else(|| format!("{op}: no persistent form"))?;
        let last = k.params.last().ok_or("no parameters")?;
        if k.name != format!("{}_p", base.name) || (last.name, last.kind) != ("num_tokens", "i32") || k.threads != base.threads {
            return Err(format!("{}: last parameter {last:?}, threads {:?} (many-token {:?})", k.name, k.threads, base.threads).into());
        }
        let ptx = vllm_codegen::ptx(&k, "sm_90")?;
        let decl = format!("{}_param_", k.name);
        let params = ptx.lines().filter(|l| l.trim_start().starts_with(".param") && l.contains(&decl)).count();
        let u32_last = ptx.contains(&format!(".param .u32 {decl}{}", k.params.len() - 1));
        // One block reduction per sum or max, each over a doubled buffer.
        let bars = ptx.matches("bar.sync").count();
        if params != k.params.len() || !u32_last || bars != barriers || !ptx.contains("%nctaid.x") {
            return Err(format!("{}: {params} PTX parameters (last u32: {u32_last}), {bars} barriers, expected {barriers}", k.name).into());
        }
        let buffers: Vec<&str> = ptx.lines().filter(|l| l.contains(".shared") && l.contains("__wg_")).collect();
        if buffers.is_empty() || !buffers.iter().all(|l| l.contains("[256]")) {
            return Err(format!("{}: the reduction buffers are not 64 slots of 4 bytes: {buffers:?}", k.name).into());
        }
        // Compiled again, it is already persistent.
        if k.clone().persistent().is_some() {
            return Err(format!("{}: persistent twice", k.name).into());
        }
    }
    // The per-tensor quant's max kernel: one grid-wide walk over the tensor
    // (5 loads: 4 in flight, then the rest; written twice, for packed rows
    // and for rows `input_stride` apart), one block reduction and one atomic
    // a CTA (kernels.rs checks its result).
    let base = vllm_codegen::kernel_for("vllm.dynamic_scaled_fp8_quant", 4096, "bf16", false, F8, None, false).ok_or("no max kernel")?;
    let k = base.clone().for_tokens(None).persistent().ok_or("the max kernel has no persistent form")?;
    let ptx = vllm_codegen::ptx(&k, "sm_90")?;
    let counts = (ptx.matches("bar.sync").count(), ptx.matches("atom.global").count(), ptx.matches("ld.global").count());
    if k.name != format!("{}_p", base.name) || counts != (1, 1, 10) || !ptx.contains("%nctaid.x") {
        return Err(format!("{}: (barriers, atomics, loads) {counts:?}, expected (1, 1, 10)", k.name).into());
    }
    let without = [
        ("vllm.per_token_group_fp8_quant", false, F8, Some(128)),
        ("vllm.silu_and_mul_quant", false, F8, None),
        ("vllm.static_scaled_fp8_quant", false, F8, None),
    ];
    for (op, residual, out, group) in without {
        let k = vllm_codegen::kernel_for(op, 4096, "bf16", residual, out, group, false).ok_or_else(|| format!("no kernel for {op}"))?;
        if let Some(p) = k.clone().persistent() {
            return Err(format!("{}: should have no persistent form", p.name).into());
        }
        // Forced by hand (the fields are public): an error, not a kernel.
        let forced = vllm_codegen::Kernel { persistent: true, ..k };
        match vllm_codegen::ptx(&forced, "sm_90") {
            Err(e) if e.contains("no persistent form") => {}
            other => return Err(format!("{}: forced persistent gave {other:?}", forced.name).into()),
        }
    }
    Ok(())
}

/// The library path a backend takes, without the binary: compile a captured
/// graph for two shape contexts with `vllm_pipeline::compile`, then
/// `vllm_codegen::emit` the kernels in memory: one PTX per unique kernel
/// (layers and contexts share them) and a manifest listing each kernel's
/// contexts.
fn a_backend_gets_kernels_from_the_library() -> Result<(), Failed> {
    use vllm_pipeline::{CompileOptions, Input, PassConfig, ShapeContext, compile};
    let graph = std::fs::read_to_string(crate::root().join("../shared/fixtures/llama_fp8_custom_L2_dyn.json"))?;
    let config = PassConfig::from_json(r#"{"eliminate_noops": true, "enable_fusion": true}"#).map_err(|e| e.0)?.0;
    let mut compiled = Vec::new();
    for (tokens, shape) in [(None, ShapeContext::Symbolic), (Some(16), ShapeContext::Static(16))] {
        let o = CompileOptions { config: config.clone(), shape: Some(shape), ..Default::default() };
        let r = compile(Input::FxJson(&graph), "graph.json", &o).map_err(|d| format!("{d:?}"))?;
        compiled.push((tokens, r.mlir));
    }
    let texts: Vec<(Option<u64>, &str)> = compiled.iter().map(|(t, m)| (*t, m.as_str())).collect();
    let emitted = vllm_codegen::emit(&texts, "sm_90")?;
    let listed = emitted.manifest["kernels"].as_array().ok_or("no kernels in the manifest")?;
    if listed.len() != emitted.kernels.len() || emitted.kernels.is_empty() {
        return Err(format!("{} kernels, {} in the manifest", emitted.kernels.len(), listed.len()).into());
    }
    for ((k, ptx), entry) in emitted.kernels.iter().zip(listed) {
        if !ptx.contains(&format!(".visible .entry {}(", k.name)) || entry["name"] != k.name.as_str() {
            return Err(format!("{}: PTX or manifest entry does not match", k.name).into());
        }
    }
    // The fused RMSNorm + static FP8 kernel serves both contexts: one block
    // for 16 tokens, another for any count.
    let names: Vec<&str> = emitted.kernels.iter().map(|(k, _)| k.name.as_str()).collect();
    for want in ["rms_norm_static_fp8_quant_h4096_bf16_b512", "rms_norm_static_fp8_quant_h4096_bf16", "silu_and_mul_quant_d14336_bf16"] {
        if !names.contains(&want) {
            return Err(format!("no {want} among {names:?}").into());
        }
    }
    if vllm_codegen::emit(&[(None, "func.func @f(")], "sm_90").is_ok() {
        return Err("a compiled graph that does not parse gave kernels".into());
    }
    Ok(())
}

/// Every `--cuda-arch` the kernels claim compiles the FP8 and shuffle paths
/// (per-token norm, per-group norm) with its own `.target` and at least the
/// PTX ISA version LLVM needs for it (an unlisted pair aborts in LLVM: the
/// FP8 conversion needs PTX 8.1 on sm_89, Blackwell 8.6-8.8). Anything else
/// is refused before lowering.
fn every_listed_arch_compiles() -> Result<(), Failed> {
    const F8: &str = "f8E4M3FN";
    let kernels = [
        vllm_codegen::kernel_for("vllm.rms_norm_dynamic_per_token_quant", 4096, "bf16", true, F8, None, false).ok_or("no kernel")?,
        vllm_codegen::kernel_for("vllm.rms_norm_per_block_quant", 4096, "bf16", true, F8, Some(128), false).ok_or("no kernel")?,
    ];
    for (arch, isa) in vllm_codegen::CUDA_ARCHS {
        for k in &kernels {
            let ptx = vllm_codegen::ptx(k, arch).map_err(|e| format!("{arch}: {e}"))?;
            let version = format!(".version {}.{}", isa / 10, isa % 10);
            if !ptx.lines().any(|l| l == format!(".target {arch}")) || !ptx.contains(&version) {
                return Err(format!("{arch}: {} lacks `.target {arch}` or `{version}`", k.name).into());
            }
        }
    }
    for (arch, why) in [("sm_95", "not an architecture"), ("sm_86", "needs sm_89"), ("gfx90a", "expected sm_")] {
        match vllm_codegen::ptx(&kernels[0], arch) {
            Err(e) if e.contains(why) => {}
            other => return Err(format!("{arch}: {other:?}, expected an error saying `{why}`").into()),
        }
    }
    Ok(())
}

fn every_kernel_compiles_to_ptx() -> Result<(), Failed> {
    const F8: &str = "f8E4M3FN";
    let cases = [
        ("vllm.rms_norm", false, "f16", "f16", &[][..]),
        ("vllm.fused_add_rms_norm_", true, "bf16", "bf16", &["add.rn.bf16x2"][..]),
        ("vllm.rms_norm_static_fp8_quant", false, "bf16", F8, &["cvt.rn.satfinite.e4m3x2.f32"][..]),
        ("vllm.fused_add_rms_norm_static_fp8_quant_", true, "f16", F8, &["cvt.rn.satfinite.e4m3x2.f32"][..]),
        ("vllm.rms_norm_dynamic_per_token_quant", true, "bf16", F8, &["max.s32", "div.rn.f32"][..]),
        // int8: vLLM's saturating conversion, no FP8 one.
        ("vllm.rms_norm_dynamic_per_token_quant_", false, "bf16", "i8", &["cvt.rni.sat.s8.f32", "max.s32"][..]),
        ("vllm.static_scaled_fp8_quant_", false, "f16", F8, &["cvt.rn.satfinite.e4m3x2.f32"][..]),
        ("vllm.dynamic_per_token_scaled_fp8_quant", false, "bf16", F8, &["max.s32"][..]),
        ("vllm.silu_and_mul_", false, "bf16", "bf16", &["ex2.approx.f32"][..]),
        ("vllm.silu_and_mul_quant", false, "f16", F8, &["ex2.approx.f32", "cvt.rn.satfinite.e4m3x2.f32"][..]),
    ];
    let groups = [
        ("vllm.per_token_group_fp8_quant_", false, "bf16", Some(128u64)),
        ("vllm.per_token_group_fp8_quant", false, "f16", Some(64)),
        ("vllm.rms_norm_per_block_quant", true, "bf16", Some(128)),
        ("vllm.rms_norm_per_block_quant_", false, "f16", Some(64)),
        ("vllm.silu_and_mul_per_block_quant", false, "bf16", Some(128)),
    ];
    let all = cases.iter().flat_map(|&(op, res, elem, out, must)| [4096u64, 66].map(|h| (op, res, elem, out, must, h, None))).chain(
        groups.iter().flat_map(|&(op, res, elem, g)| {
            [4096u64, 7168].map(|h| (op, res, elem, F8, &["cvt.rn.satfinite.e4m3x2.f32", "rcp.rn.f32"][..], h, g))
        }),
    );
    for (op, residual, elem, out, must, h, group) in all {
        let k = vllm_codegen::kernel_for(op, h, elem, residual, out, group, false).ok_or_else(|| format!("no kernel for {op} -> {out}"))?;
        let ptx = vllm_codegen::ptx(&k, "sm_90")?;
        let decl = format!("{}_param_", k.name);
        let params = ptx.lines().filter(|l| l.trim_start().starts_with(".param") && l.contains(&decl)).count();
        if params != k.params.len() {
            return Err(format!("{}: the PTX entry has {params} parameters, the manifest {}", k.name, k.params.len()).into());
        }
        // Every kernel with a row or group reduction shuffles within warps.
        let reduces = !matches!(op.trim_end_matches('_'), "vllm.silu_and_mul" | "vllm.silu_and_mul_quant" | "vllm.static_scaled_fp8_quant");
        for m in must.iter().copied().chain(["shfl.sync.bfly.b32"].into_iter().filter(|_| reduces)) {
            if !ptx.contains(m) {
                return Err(format!("{}: no {m} in its PTX", k.name).into());
            }
        }
        // The per-group kernels divide with fmas (`body::div_by_448`,
        // `body::div_by_max_scale`): `div.rn.f32` ends a basic block with
        // its branch to a slow path, once per group. What divides is a
        // norm's mean, once a row (by H, a multiply where H is a power of
        // two), and SiLU, once per exponential (`x / (1 + exp(-x))`).
        let allowed = if op.contains("silu") {
            ptx.matches("ex2.approx.f32").count()
        } else {
            usize::from(op.contains("rms_norm") && !h.is_power_of_two())
        };
        let divisions = ptx.matches("div.rn.f32").count();
        if group.is_some() && divisions != allowed {
            return Err(format!("{}: {divisions} div.rn.f32 in a per-group kernel, {allowed} expected", k.name).into());
        }
    }
    // A register-form kernel is compiled per block: few tokens take up to
    // 1024 threads (one chunk each here), many or unknown the fewest with at
    // most 4 chunks each (256 for H = 8192).
    let base = vllm_codegen::kernel_for("vllm.rms_norm_static_fp8_quant", 8192, "bf16", false, F8, None, false).ok_or("no kernel")?;
    let (few, many, symbolic) = (base.clone().for_tokens(Some(16)), base.clone().for_tokens(Some(4096)), base.clone().for_tokens(None));
    if few.block(Some(16)) != 1024
        || !few.name.ends_with("_b1024")
        || many.block(Some(4096)) != 256
        || many.name != base.name
        || symbolic != many
    {
        return Err(format!(
            "blocks {} {} {}, names {} {}",
            few.block(Some(16)),
            many.block(Some(4096)),
            symbolic.block(None),
            few.name,
            many.name
        )
        .into());
    }
    for k in [&few, &many] {
        let ptx = vllm_codegen::ptx(k, "sm_90")?;
        // x and w: one 16-byte chunk each per thread at 1024 threads, four at 256.
        let loads = ptx.matches("ld.global.v4.b32").count();
        let want = if k.threads == Some(1024) { 2 } else { 8 };
        if loads != want {
            return Err(format!("{}: {loads} 16-byte loads, expected {want} (x per chunk, w per chunk)", k.name).into());
        }
    }
    // A row past what registers hold (1M elements: 128 chunks a thread at
    // 1024 threads) loops instead, with no persistent form; its unrolled
    // register form did not even parse (chunk 64's offset `%j64` was also
    // a name the row loop uses).
    let long = vllm_codegen::kernel_for("vllm.rms_norm_dynamic_per_token_quant", 1 << 20, "bf16", false, F8, None, false)
        .ok_or("no kernel for a 1M-element row")?;
    if long.row_in_registers() || long.threads.is_some() || long.clone().persistent().is_some() {
        return Err(format!("{}: a 1M-element row should loop (threads {:?})", long.name, long.threads).into());
    }
    vllm_codegen::ptx(&long.for_tokens(Some(16)), "sm_90")?;
    // scale_ub: one more parameter, loaded once; FP8 only.
    for (op, residual) in [("vllm.rms_norm_dynamic_per_token_quant", true), ("vllm.dynamic_per_token_scaled_fp8_quant_", false)] {
        let k = vllm_codegen::kernel_for(op, 4096, "bf16", residual, F8, None, true).ok_or("no scale_ub kernel")?;
        let ptx = vllm_codegen::ptx(&k, "sm_90")?;
        let decl = format!("{}_param_", k.name);
        let params = ptx.lines().filter(|l| l.trim_start().starts_with(".param") && l.contains(&decl)).count();
        if params != k.params.len() || !k.params.iter().any(|p| p.name == "scale_ub") {
            return Err(format!("{}: {params} PTX parameters for {:?}", k.name, k.params).into());
        }
        if vllm_codegen::kernel_for(op, 4096, "bf16", residual, "i8", None, true).is_some() {
            return Err(format!("{op}: scale_ub with int8 output should have no kernel").into());
        }
    }
    // The group kernels' block divides the row's 16-byte chunks (uniform shuffles).
    let k = vllm_codegen::kernel_for("vllm.rms_norm_per_block_quant", 7168, "bf16", false, F8, Some(128), false).ok_or("no kernel")?;
    for t in [Some(1), Some(4096), None] {
        let b = k.block(t);
        if (7168 / 8) % b != 0 || b % 32 != 0 {
            return Err(format!("block {b} for 896 chunks").into());
        }
    }
    // Groups the kernel cannot split evenly over a warp, rows not of whole warps.
    for (h, g) in [(4096u64, 96u64), (4096, 512), (4160, 64), (4096, 4)] {
        if vllm_codegen::kernel_for("vllm.per_token_group_fp8_quant", h, "bf16", false, F8, Some(g), false).is_some() {
            return Err(format!("per-group h={h} g={g} should have no kernel").into());
        }
    }
    // What is not generated is refused, not miscompiled.
    for (op, elem, out) in
        [("vllm.static_scaled_fp8_quant", "bf16", "i8"), ("vllm.rms_norm", "f32", "f32"), ("vllm.rotary_embedding", "bf16", "bf16")]
    {
        if vllm_codegen::kernel_for(op, 4096, elem, false, out, None, false).is_some() {
            return Err(format!("{op} {elem} -> {out} should have no kernel").into());
        }
    }
    Ok(())
}
