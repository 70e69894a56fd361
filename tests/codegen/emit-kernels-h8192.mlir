// Every norm and quant kernel kind at H = 8192 (a 70B-class hidden size),
// which scripts/prepare-gpu-check carries to the GPU check beside the
// H = 4096 ones of the fixtures: the issue times each kind at both. The
// kernels differ from H = 4096 in their block (twice the chunks) and, for
// the per-group kinds, in the number of groups (64 scales a row).
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: not grep -l "extern .func" %t/*.ptx

// LOG: kernels: 11 unique for 12 sites
// Many tokens: 256 threads of four 16-byte chunks each (128 at H = 4096).
// CHECK: "name": "rms_norm_static_fp8_quant_h8192_bf16"
// CHECK: "hidden": 8192,
// CHECK: "threads": 256,
// CHECK: "name": "fused_add_rms_norm_static_fp8_quant_h8192_bf16"
// CHECK: "name": "fused_add_rms_norm_h8192_bf16"
// CHECK: "name": "rms_norm_dynamic_per_token_quant_h8192_bf16"
// CHECK: "name": "rms_norm_dynamic_per_token_quant_residual_h8192_bf16"
// CHECK: "name": "rms_norm_per_block_quant_g128_h8192_bf16"
// CHECK: "name": "rms_norm_per_block_quant_residual_g128_h8192_bf16"
// CHECK: "name": "static_scaled_fp8_quant_h8192_bf16"
// CHECK: "name": "dynamic_per_token_scaled_fp8_quant_h8192_bf16"
// CHECK: "name": "dynamic_scaled_fp8_quant_max_h8192_bf16"
// CHECK: "then": "static_scaled_fp8_quant_h8192_bf16"
// CHECK: "name": "per_token_group_fp8_quant_g128_h8192_bf16"

func.func @h8192(%x: tensor<?x8192xbf16>, %r: tensor<?x8192xbf16>, %w: tensor<8192xbf16>, %s: tensor<f32>)
    -> (tensor<?x8192xf8E4M3FN>, tensor<?x8192xf8E4M3FN>, tensor<?x8192xbf16>, tensor<?x8192xbf16>, tensor<?x8192xbf16>,
        tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>, tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>, tensor<?x8192xbf16>,
        tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>, tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>, tensor<?x8192xbf16>,
        tensor<?x8192xf8E4M3FN>, tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>, tensor<?x8192xf8E4M3FN>, tensor<1xf32>,
        tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>) {
  %a = "vllm.rms_norm_static_fp8_quant"(%x, %w, %s) {epsilon = 1.0e-5 : f64} : (tensor<?x8192xbf16>, tensor<8192xbf16>, tensor<f32>) -> tensor<?x8192xf8E4M3FN>
  %b, %br = "vllm.fused_add_rms_norm_static_fp8_quant"(%x, %r, %w, %s) {epsilon = 1.0e-5 : f64} : (tensor<?x8192xbf16>, tensor<?x8192xbf16>, tensor<8192xbf16>, tensor<f32>) -> (tensor<?x8192xf8E4M3FN>, tensor<?x8192xbf16>)
  %c, %cr = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x8192xbf16>, tensor<?x8192xbf16>, tensor<8192xbf16>) -> (tensor<?x8192xbf16>, tensor<?x8192xbf16>)
  %d, %ds = "vllm.rms_norm_dynamic_per_token_quant"(%x, %w) {epsilon = 1.0e-5 : f64, operandSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x8192xbf16>, tensor<8192xbf16>) -> (tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>)
  %e, %es, %er = "vllm.rms_norm_dynamic_per_token_quant"(%x, %w, %r) {epsilon = 1.0e-5 : f64, operandSegmentSizes = array<i32: 1, 1, 0, 1>} : (tensor<?x8192xbf16>, tensor<8192xbf16>, tensor<?x8192xbf16>) -> (tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>, tensor<?x8192xbf16>)
  %f, %fs = "vllm.rms_norm_per_block_quant"(%x, %w) {epsilon = 1.0e-5 : f64, group_size = 128 : i64, is_scale_transposed = false, operandSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x8192xbf16>, tensor<8192xbf16>) -> (tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>)
  %g, %gs, %gr = "vllm.rms_norm_per_block_quant"(%x, %w, %r) {epsilon = 1.0e-5 : f64, group_size = 128 : i64, is_scale_transposed = false, operandSegmentSizes = array<i32: 1, 1, 0, 1>} : (tensor<?x8192xbf16>, tensor<8192xbf16>, tensor<?x8192xbf16>) -> (tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>, tensor<?x8192xbf16>)
  %h = "vllm.static_scaled_fp8_quant"(%x, %s) : (tensor<?x8192xbf16>, tensor<f32>) -> tensor<?x8192xf8E4M3FN>
  %i, %is = "vllm.dynamic_per_token_scaled_fp8_quant"(%x) : (tensor<?x8192xbf16>) -> (tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>)
  %j, %js = "vllm.dynamic_scaled_fp8_quant"(%x) : (tensor<?x8192xbf16>) -> (tensor<?x8192xf8E4M3FN>, tensor<1xf32>)
  %k, %ks = "vllm.per_token_group_fp8_quant"(%x) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x8192xbf16>) -> (tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>)
  return %a, %b, %br, %c, %cr, %d, %ds, %e, %es, %er, %f, %fs, %g, %gs, %gr, %h, %i, %is, %j, %js, %k, %ks
    : tensor<?x8192xf8E4M3FN>, tensor<?x8192xf8E4M3FN>, tensor<?x8192xbf16>, tensor<?x8192xbf16>, tensor<?x8192xbf16>,
      tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>, tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>, tensor<?x8192xbf16>,
      tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>, tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>, tensor<?x8192xbf16>,
      tensor<?x8192xf8E4M3FN>, tensor<?x8192xf8E4M3FN>, tensor<?x1xf32>, tensor<?x8192xf8E4M3FN>, tensor<1xf32>,
      tensor<?x8192xf8E4M3FN>, tensor<?x64xf32>
}
