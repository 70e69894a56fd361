// What vllm-fix-functionalization cannot do is a located error, never a
// wrongly sized buffer. Here the output's last dim (d = input/2) is dynamic
// and nothing records its symbol: the input's last dim is 2d, not d.
// RUN: not vllm-opt %s --vllm-fix-functionalization 2>&1 | FileCheck %s
// A GEMM's output columns come from the weight, not from `a` (K vs N):
// RUN: not vllm-opt %s --split-input-file --vllm-fix-functionalization 2>&1 | FileCheck %s --check-prefix=GEMM
// Rows recorded as another size (padded) that nothing in the graph computes
// (the cases it sizes: vllm-fix-functionalization-sizes.mlir):
// RUN: not vllm-opt %s --split-input-file --vllm-fix-functionalization 2>&1 | FileCheck %s --check-prefix=PAD
// NVFP4 block scales (round_up(T, 128) rows) with no recorded size: never the input's T rows:
// RUN: not vllm-opt %s --split-input-file --vllm-fix-functionalization 2>&1 | FileCheck %s --check-prefix=NVFP4
// Scales recorded padded to 8 rows: neither row-major, a transpose nor TMA's 4 (the importer keeps such calls opaque):
// RUN: not vllm-opt %s --split-input-file --vllm-fix-functionalization 2>&1 | FileCheck %s --check-prefix=LAYOUT

// CHECK: error: 'vllm.silu_and_mul' has an in-place kernel but could not be converted: cannot size the buffer for 'result'
func.func @silu_dynamic_width(%gu: tensor<16x?xbf16>) -> tensor<16x?xbf16> {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x?xbf16>) -> tensor<16x?xbf16>
  return %a : tensor<16x?xbf16>
}

// -----

// GEMM: error: 'vllm.cutlass_scaled_mm' has an in-place kernel but could not be converted: cannot size the buffer for 'out'
func.func @gemm_dynamic_columns(%a: tensor<?x64xf8E4M3FN>, %b: tensor<64x?xf8E4M3FN>, %s: tensor<f32>) -> tensor<?x?xbf16> {
  %o = "vllm.cutlass_scaled_mm"(%a, %b, %s, %s) : (tensor<?x64xf8E4M3FN>, tensor<64x?xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<?x?xbf16>
  return %o : tensor<?x?xbf16>
}

// -----

// Recorded as another size that nothing in the graph computes, and not a
// round-up of a symbol the pass could compute itself: refused.
// PAD: vllm-fix-functionalization-invalid.mlir:[[@LINE+2]]:8: error: 'vllm.silu_and_mul' has an in-place kernel but could not be converted: cannot size the buffer for 'result'
func.func @padded_rows_unknown(%gu: tensor<?x8xbf16> {fx.meta = "{\"shape\":[\"s0\",8],\"dtype\":\"bfloat16\"}"}) -> tensor<?x4xbf16> {
  %a = "vllm.silu_and_mul"(%gu) {fx.meta = "{\"shape\":[\"2*s0 + 1\",4],\"dtype\":\"bfloat16\"}"} : (tensor<?x8xbf16>) -> tensor<?x4xbf16>
  return %a : tensor<?x4xbf16>
}

// -----

// NVFP4: error: 'vllm.silu_and_mul_nvfp4_quant' has an in-place kernel but could not be converted: cannot size the buffer for 'result_block_scale': its rows are round_up(T, 128), and the graph has no value recorded as that size
func.func @nvfp4_scales_unrecorded(%gu: tensor<?x256xbf16>, %g: tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>) {
  %q, %s = "vllm.silu_and_mul_nvfp4_quant"(%gu, %g) : (tensor<?x256xbf16>, tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>)
  return %q, %s : tensor<?x64xui8>, tensor<?x2xi32>
}

// -----

// The same for attention's NVFP4 block scales (padded_rows in the table).
// NVFP4: error: 'vllm.unified_attention_with_output' has an in-place kernel but could not be converted: cannot size the buffer for 'output_block_scale': its rows are round_up(T, 128), and the graph has no value recorded as that size
func.func @attention_block_scales_unrecorded(%q: tensor<?x4x64xbf16>, %k: tensor<?x2x64xbf16>, %v: tensor<?x2x64xbf16>, %g: tensor<f32>) -> (tensor<?x4x32xui8>, tensor<?x16xf8E4M3FN>) {
  %o, %s = "vllm.unified_attention_with_output"(%q, %k, %v, %g) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<f32>) -> (tensor<?x4x32xui8>, tensor<?x16xf8E4M3FN>)
  return %o, %s : tensor<?x4x32xui8>, tensor<?x16xf8E4M3FN>
}

// -----

// LAYOUT: error: 'vllm.per_token_group_fp8_quant' has an in-place kernel but could not be converted: the recorded strides of 'output_s' are neither row-major nor a transpose
func.func @tma_padded_scales(%y: tensor<18x256xbf16>) -> (tensor<18x256xf8E4M3FN>, tensor<18x2xf32>) {
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = true, fx.meta = "[null,{\"shape\":[18,256],\"dtype\":\"float8_e4m3fn\",\"stride\":[256,1]},{\"shape\":[18,2],\"dtype\":\"float32\",\"stride\":[1,24]}]"} : (tensor<18x256xbf16>) -> (tensor<18x256xf8E4M3FN>, tensor<18x2xf32>)
  return %q, %s : tensor<18x256xf8E4M3FN>, tensor<18x2xf32>
}
