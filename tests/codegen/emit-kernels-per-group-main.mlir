// vLLM main's per-group quant flags in --emit-kernels: a column-major call
// (`dummy_is_scale_transposed`) gets the column-major kernel, standalone or
// fused with SiLU-and-mul (`is_scale_transposed` then); a TMA-padded one
// (`dummy_is_tma_aligned`) the kernel whose column stride is round_up(T, 4),
// its scale buffer sized so in the manifest.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json

// LOG: kernels: 3 unique for 3 sites
// LOG-NOT: not generated

// CHECK: "name": "per_token_group_fp8_quant_g128_h4096_bf16_colmajor"
// CHECK: "scale_layout": "column-major [hidden / group_size, num_tokens]"
// CHECK: "name": "silu_and_mul_per_block_quant_g128_d14336_bf16_colmajor"
// CHECK: "scale_layout": "column-major [hidden / group_size, num_tokens]"
// CHECK: "name": "per_token_group_fp8_quant_g128_h4096_bf16_colmajor_tma"
// CHECK: "scale_layout": "column-major TMA-padded [hidden / group_size, round_up(num_tokens, 4)]"
// CHECK: "name": "output_s"
// CHECK-NEXT: "kind": "ptr"
// CHECK: "elements": {
// CHECK-NEXT: "per_token": 32,
// CHECK-NEXT: "fixed": 0,
// CHECK-NEXT: "tokens_multiple_of": 4

func.func @main_flags(%y: tensor<?x4096xbf16>, %gu: tensor<?x28672xbf16>)
    -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) {
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %act = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %a8, %as = "vllm.per_token_group_fp8_quant"(%act) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  %t8, %ts = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = true} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  return %q, %s, %a8, %as, %t8, %ts : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>
}
