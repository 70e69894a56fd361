// --persistent-kernels: for many tokens (here 4096; also the symbolic
// context) the norms and per-token quants get their persistent form (`_p`):
// the row count is the last parameter (i32), the grid is at most the CTAs
// the GPU holds at once, and each CTA walks its rows with the next row's
// loads issued before this row's block reductions. Few tokens (16) keep the
// one-CTA-a-row kernel of their block; SiLU-and-mul, which has no row
// reduction, has no persistent form.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --compile-sizes 16,4096 --persistent-kernels --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: FileCheck %s --check-prefix=PTX --input-file %t/rms_norm_dynamic_per_token_quant_h4096_bf16_p.ptx
// Without the flag, no persistent kernel:
// RUN: rm -rf %t.off && vllm-opt %s --config %S/../../examples/pass_config.json --compile-sizes 16,4096 --emit-kernels %t.off -o /dev/null
// RUN: FileCheck %s --check-prefix=OFF --input-file %t.off/manifest.json

// LOG: kernels: 6 unique for 6 sites

func.func @g(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %r: tensor<?x4096xbf16>, %gu: tensor<?x8192xbf16>)
    -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %q, %s = "vllm.rms_norm_dynamic_per_token_quant"(%x, %w) {epsilon = 1.0e-6 : f64, operandSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>)
  %q2, %s2, %r2 = "vllm.rms_norm_dynamic_per_token_quant"(%x, %w, %r) {epsilon = 1.0e-6 : f64, operandSegmentSizes = array<i32: 1, 1, 0, 1>} : (tensor<?x4096xbf16>, tensor<4096xbf16>, tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xbf16>)
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x8192xbf16>) -> tensor<?x4096xbf16>
  return %q, %s, %q2, %s2, %r2, %a : tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xbf16>, tensor<?x4096xbf16>
}

// CHECK: "name": "rms_norm_dynamic_per_token_quant_h4096_bf16_b512"
// CHECK: "persistent": false,
// CHECK: "name": "rms_norm_dynamic_per_token_quant_h4096_bf16_p"
// CHECK: "threads": 128,
// CHECK: "persistent": true,
// CHECK: "name": "num_tokens"
// CHECK-NEXT: "kind": "i32"
// CHECK: "access": "value"
// CHECK: "launch": [
// CHECK-NEXT: {
// CHECK-NEXT: "num_tokens": 4096,
// CHECK-NEXT: "grid": [
// CHECK-NEXT: "min(4096, resident_ctas)",
// With a residual the loop carries the row's f32 sum (not rounded) instead.
// CHECK: "name": "rms_norm_dynamic_per_token_quant_residual_h4096_bf16_p"
// CHECK: "persistent": true,
// CHECK: "name": "silu_and_mul_d4096_bf16"
// CHECK: "persistent": false,

// OFF-NOT: "persistent": true
// OFF-NOT: _p"

// The weights (4 chunks of 16 bytes a thread) once, the CTA's first row,
// then the loop: the next row's 4 loads before this row's two reductions.
// PTX: .visible .entry rms_norm_dynamic_per_token_quant_h4096_bf16_p(
// PTX: .param .u64 rms_norm_dynamic_per_token_quant_h4096_bf16_p_param_2,
// PTX: .param .u32 rms_norm_dynamic_per_token_quant_h4096_bf16_p_param_6
// PTX: %nctaid.x
// PTX-COUNT-8: ld.global.v4.b32
// PTX: $L__BB0_
// PTX-COUNT-4: ld.global.v4.b32
// PTX: bar.sync
// PTX: bar.sync
// PTX-NOT: ld.global.v4.b32
