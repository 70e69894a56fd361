// vllm-opt --emit-kernels for what the fusions leave unfused: a bf16 model
// (no quantization: rms_norm, fused_add_rms_norm, silu_and_mul) and a
// per-token FP8 model (the standalone dynamic per-token quant after
// silu_and_mul, and the fused per-token norms with and without residual).
// RUN: rm -rf %t && vllm-opt %S/../../../shared/fixtures/llama_bf16_custom_L2_dyn.json --config %S/../../examples/pass_config.json --emit-kernels %t/bf16 -o /dev/null 2>&1 | FileCheck %s --check-prefix=BF16-LOG
// RUN: FileCheck %s --check-prefix=BF16 --input-file %t/bf16/manifest.json
// RUN: FileCheck %s --check-prefix=ADD --input-file %t/bf16/fused_add_rms_norm_h4096_bf16.ptx
// RUN: FileCheck %s --check-prefix=SILU --input-file %t/bf16/silu_and_mul_d14336_bf16.ptx
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8tok_custom_L2_dyn.json --config %S/../../examples/pass_config.json --emit-kernels %t/tok -o /dev/null 2>&1 | FileCheck %s --check-prefix=TOK-LOG
// RUN: FileCheck %s --check-prefix=TOK --input-file %t/tok/manifest.json
// RUN: FileCheck %s --check-prefix=QUANT --input-file %t/tok/dynamic_per_token_scaled_fp8_quant_h14336_bf16.ptx
// No libdevice call may remain:
// RUN: not grep -h "extern .func" %t/bf16/*.ptx %t/tok/*.ptx

// BF16-LOG: kernels: 3 unique for 7 sites
// BF16: "name": "rms_norm_h4096_bf16"
// BF16: "implements": "vllm.rms_norm"
// BF16: "name": "result",
// BF16-NEXT: "kind": "ptr",
// BF16-NEXT: "elem": "bf16"
// The in-place norm writes its input and residual; it has no result buffer.
// BF16: "name": "fused_add_rms_norm_h4096_bf16"
// BF16-NEXT: "file"
// BF16-NEXT: "implements": "vllm.fused_add_rms_norm"
// BF16: "params": [
// BF16-NEXT: {
// BF16-NEXT: "name": "input",
// BF16: "access": "read_write"
// BF16: "name": "residual",
// BF16: "access": "read_write"
// BF16: "name": "weight",
// BF16: "access": "read"
// BF16: "name": "epsilon",
// BF16: "name": "silu_and_mul_d14336_bf16"

// The add is bf16x2 (vLLM's half2 add), 16-byte loads and stores:
// ADD: .visible .entry fused_add_rms_norm_h4096_bf16(
// ADD: ld.global.v4.b32
// ADD: add.rn.bf16x2
// ADD: rsqrt.approx.f32
// ADD: st.global.v4.b32
// ADD-NOT: cvt.rn.satfinite

// SILU: .visible .entry silu_and_mul_d14336_bf16(
// SILU: ex2.approx.f32
// SILU: st.global.v4.b32

// TOK-LOG: kernels: 6 unique for 11 sites
// TOK-DAG: "name": "rms_norm_dynamic_per_token_quant_h4096_bf16"
// TOK-DAG: "name": "rms_norm_dynamic_per_token_quant_residual_h4096_bf16"
// TOK-DAG: "name": "dynamic_per_token_scaled_fp8_quant_h14336_bf16"
// TOK-DAG: "implements": "vllm.dynamic_per_token_scaled_fp8_quant"

// The row max is an integer max over the threads (no libdevice fmaxf), then
// the FP8 conversion:
// QUANT: .visible .entry dynamic_per_token_scaled_fp8_quant_h14336_bf16(
// QUANT: ld.global.v4.b32
// QUANT: max.s32
// QUANT: div.rn.f32
// QUANT: cvt.rn.satfinite.e4m3x2.f32
