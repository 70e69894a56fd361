//! Kernel generation beyond what the fixtures reach: every kernel kind and
//! output type compiles to PTX with exactly its manifest parameters, and no
//! unresolved libdevice call (`ptx` refuses those).
use libtest_mimic::Failed;

pub const TESTS: &[crate::RustTest] = &[("codegen::every_kernel_compiles_to_ptx", every_kernel_compiles_to_ptx)];

fn every_kernel_compiles_to_ptx() -> Result<(), Failed> {
    const F8: &str = "f8E4M3FN";
    let cases = [
        ("vllm.rms_norm", false, "f16", "f16", &[][..]),
        ("vllm.fused_add_rms_norm_", true, "bf16", "bf16", &["add.rn.bf16x2"][..]),
        ("vllm.rms_norm_static_fp8_quant", false, "bf16", F8, &["cvt.rn.satfinite.e4m3x2.f32"][..]),
        ("vllm.fused_add_rms_norm_static_fp8_quant_", true, "f16", F8, &["cvt.rn.satfinite.e4m3x2.f32"][..]),
        ("vllm.rms_norm_dynamic_per_token_quant", true, "bf16", F8, &["max.s32", "div.rn.f32"][..]),
        // int8: round to nearest even into an integer, no FP8 conversion.
        ("vllm.rms_norm_dynamic_per_token_quant_", false, "bf16", "i8", &["cvt.rni.s32.f32", "max.s32"][..]),
        ("vllm.static_scaled_fp8_quant_", false, "f16", F8, &["cvt.rn.satfinite.e4m3x2.f32"][..]),
        ("vllm.dynamic_per_token_scaled_fp8_quant", false, "bf16", F8, &["max.s32"][..]),
        ("vllm.silu_and_mul_", false, "bf16", "bf16", &["ex2.approx.f32"][..]),
        ("vllm.silu_and_mul_quant", false, "f16", F8, &["ex2.approx.f32", "cvt.rn.satfinite.e4m3x2.f32"][..]),
    ];
    for (op, residual, elem, out, must) in cases {
        for h in [4096u64, 66] {
            let k = vllm_codegen::kernel_for(op, h, elem, residual, out).ok_or_else(|| format!("no kernel for {op} -> {out}"))?;
            let ptx = vllm_codegen::ptx(&k, "sm_90")?;
            let decl = format!("{}_param_", k.name);
            let params = ptx.lines().filter(|l| l.trim_start().starts_with(".param") && l.contains(&decl)).count();
            if params != k.params.len() {
                return Err(format!("{}: the PTX entry has {params} parameters, the manifest {}", k.name, k.params.len()).into());
            }
            for m in must.iter().copied().chain(["shfl.sync.bfly.b32"].into_iter().filter(|_| !op.starts_with("vllm.s"))) {
                if !ptx.contains(m) {
                    return Err(format!("{}: no {m} in its PTX", k.name).into());
                }
            }
        }
    }
    // What is not generated is refused, not miscompiled.
    for (op, elem, out) in [("vllm.static_scaled_fp8_quant", "bf16", "i8"), ("vllm.rms_norm", "f32", "f32"), ("vllm.rotary_embedding", "bf16", "bf16")] {
        if vllm_codegen::kernel_for(op, 4096, elem, false, out).is_some() {
            return Err(format!("{op} {elem} -> {out} should have no kernel").into());
        }
    }
    Ok(())
}
