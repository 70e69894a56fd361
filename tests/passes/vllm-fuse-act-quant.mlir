// RUN: vllm-opt %s --split-input-file --vllm-fuse-act-quant | FileCheck %s

// CHECK-LABEL: func.func @fuse_silu_mul_static_quant
// CHECK: %[[Q:.*]] = "vllm.silu_and_mul_quant"(%arg0, %arg1) : (tensor<?x28672xbf16>, tensor<f32>) -> tensor<?x14336xf8E4M3FN>
// CHECK-NOT: "vllm.silu_and_mul"(
// CHECK: return %[[Q]]
func.func @fuse_silu_mul_static_quant(%gu: tensor<?x28672xbf16>, %s: tensor<f32>) -> tensor<?x14336xf8E4M3FN> {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%a, %s) : (tensor<?x14336xbf16>, tensor<f32>) -> tensor<?x14336xf8E4M3FN>
  return %q : tensor<?x14336xf8E4M3FN>
}

// -----

// CHECK-LABEL: func.func @no_fuse_when_activation_has_another_user
// CHECK: "vllm.silu_and_mul"(
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_when_activation_has_another_user(%gu: tensor<16x28672xbf16>, %s: tensor<f32>) -> (tensor<16x14336xf8E4M3FN>, tensor<16x14336xbf16>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x28672xbf16>) -> tensor<16x14336xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%a, %s) : (tensor<16x14336xbf16>, tensor<f32>) -> tensor<16x14336xf8E4M3FN>
  return %q, %a : tensor<16x14336xf8E4M3FN>, tensor<16x14336xbf16>
}

// -----

// CHECK-LABEL: func.func @no_fuse_dynamic_quant
// CHECK: "vllm.silu_and_mul"(
func.func @no_fuse_dynamic_quant(%gu: tensor<16x28672xbf16>) -> (tensor<16x14336xf8E4M3FN>, tensor<16x1xf32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x28672xbf16>) -> tensor<16x14336xbf16>
  %q, %sc = "vllm.dynamic_per_token_scaled_fp8_quant"(%a) : (tensor<16x14336xbf16>) -> (tensor<16x14336xf8E4M3FN>, tensor<16x1xf32>)
  return %q, %sc : tensor<16x14336xf8E4M3FN>, tensor<16x1xf32>
}

// -----

// CHECK-LABEL: func.func @fuse_silu_mul_per_group_quant
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.silu_and_mul_per_block_quant"(%arg0) {group_size = 128 : i64}
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @fuse_silu_mul_per_group_quant(%gu: tensor<?x28672xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%a) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  return %q, %s : tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>
}

// -----

// Groups of 32: vLLM builds its fused kernel for groups of 64 and 128 only.
// CHECK-LABEL: func.func @no_fuse_silu_mul_per_group_of_32
// CHECK: "vllm.silu_and_mul"(
// CHECK-NEXT: "vllm.per_token_group_fp8_quant"
func.func @no_fuse_silu_mul_per_group_of_32(%gu: tensor<?x28672xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x448xf32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%a) {group_size = 32 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x448xf32>)
  return %q, %s : tensor<?x14336xf8E4M3FN>, tensor<?x448xf32>
}

// -----

// vLLM main's call: its scale layout goes to the fused op (row-major: false).
// CHECK-LABEL: func.func @fuse_silu_mul_per_group_quant_main
// CHECK-NEXT: "vllm.silu_and_mul_per_block_quant"(%arg0) {group_size = 128 : i64, is_scale_transposed = false}
// CHECK-NEXT: "vllm.silu_and_mul_per_block_quant"(%arg0) {group_size = 128 : i64, is_scale_transposed = true}
func.func @fuse_silu_mul_per_group_quant_main(%gu: tensor<?x28672xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>, tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%a) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = false, dummy_is_tma_aligned = false} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  %b = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %q2, %s2 = "vllm.per_token_group_fp8_quant"(%b) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  return %q, %s, %q2, %s2 : tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>, tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>
}

// -----

// TMA-padded scales: vLLM's fused SiLU kernel writes column g at g * T,
// whatever the strides (unlike its fused norm, which pads).
// CHECK-LABEL: func.func @no_fuse_per_group_tma_aligned
// CHECK: "vllm.silu_and_mul"(
// CHECK: "vllm.per_token_group_fp8_quant"
func.func @no_fuse_per_group_tma_aligned(%gu: tensor<?x28672xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%a) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = true} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  return %q, %s : tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>
}

// -----

// CHECK-LABEL: func.func @no_fuse_per_group_when_activation_has_another_user
// CHECK: "vllm.silu_and_mul"(
// CHECK: "vllm.per_token_group_fp8_quant"
func.func @no_fuse_per_group_when_activation_has_another_user(%gu: tensor<?x28672xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>, tensor<?x14336xbf16>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%a) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  return %q, %s, %a : tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>, tensor<?x14336xbf16>
}

// -----

// NVFP4 (vLLM 0.11's SiluMulNvfp4QuantPattern). The fused op keeps the
// quant's recorded shapes (its block scales have round_up(T, 128) rows),
// for fix-functionalization to size its buffers by.
// CHECK-LABEL: func.func @fuse_silu_mul_nvfp4_quant
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.silu_and_mul_nvfp4_quant"(%arg1, %arg2) {fx.meta = "[null,{\22shape\22:[\22s0\22,64]{{.*}},{\22shape\22:[\22128*((s0 + 127)//128)\22,2]{{.*}}]"} : (tensor<?x256xbf16>, tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>)
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @fuse_silu_mul_nvfp4_quant(%n: index, %gu: tensor<?x256xbf16>, %g: tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %q, %s = "vllm.scaled_fp4_quant"(%a, %g) {fx.meta = "[null,{\"shape\":[\"s0\",64],\"dtype\":\"uint8\"},{\"shape\":[\"128*((s0 + 127)//128)\",2],\"dtype\":\"int32\"}]"} : (tensor<?x128xbf16>, tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>)
  return %q, %s : tensor<?x64xui8>, tensor<?x2xi32>
}

// -----

// The activation is read again: nothing fuses (the SiLU output must exist).
// CHECK-LABEL: func.func @no_fuse_nvfp4_when_activation_has_another_user
// CHECK: "vllm.silu_and_mul"(
// CHECK: "vllm.scaled_fp4_quant"
func.func @no_fuse_nvfp4_when_activation_has_another_user(%gu: tensor<16x256xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>, tensor<16x128xbf16>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %q, %s = "vllm.scaled_fp4_quant"(%a, %g) : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>)
  return %q, %s, %a : tensor<16x64xui8>, tensor<128x2xi32>, tensor<16x128xbf16>
}

// -----

// An NVFP4 quant of anything but silu_and_mul (here a norm) stays.
// CHECK-LABEL: func.func @no_fuse_nvfp4_of_a_norm
// CHECK: "vllm.rms_norm"
// CHECK: "vllm.scaled_fp4_quant"
func.func @no_fuse_nvfp4_of_a_norm(%x: tensor<16x128xbf16>, %w: tensor<128xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-06 : f64} : (tensor<16x128xbf16>, tensor<128xbf16>) -> tensor<16x128xbf16>
  %q, %s = "vllm.scaled_fp4_quant"(%y, %g) : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>)
  return %q, %s : tensor<16x64xui8>, tensor<128x2xi32>
}

// -----

// vLLM main's quant call (the `.out` overload) with swizzled scales: fused
// the same way (vLLM main's SiluMulNvfp4QuantPattern takes this form).
// CHECK-LABEL: func.func @fuse_silu_mul_nvfp4_out_quant
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.silu_and_mul_nvfp4_quant"(%arg0, %arg1) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>)
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @fuse_silu_mul_nvfp4_out_quant(%gu: tensor<16x256xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %q, %s = "vllm.scaled_fp4_quant_out"(%a, %g) {is_sf_swizzled_layout = true} : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>)
  return %q, %s : tensor<16x64xui8>, tensor<128x2xi32>
}

// -----

// Row-major scales (`is_sf_swizzled_layout = false`): the fused kernel writes
// the swizzled layout only, so nothing fuses.
// CHECK-LABEL: func.func @no_fuse_nvfp4_out_row_major_scales
// CHECK: "vllm.silu_and_mul"(
// CHECK: "vllm.scaled_fp4_quant_out"({{.*}}is_sf_swizzled_layout = false
func.func @no_fuse_nvfp4_out_row_major_scales(%gu: tensor<16x256xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<16x8xui8>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %q, %s = "vllm.scaled_fp4_quant_out"(%a, %g) {is_sf_swizzled_layout = false} : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<16x8xui8>)
  return %q, %s : tensor<16x64xui8>, tensor<16x8xui8>
}

// -----

// The `.out` quant's activation is read again: nothing fuses.
// CHECK-LABEL: func.func @no_fuse_nvfp4_out_when_activation_has_another_user
// CHECK: "vllm.silu_and_mul"(
// CHECK: "vllm.scaled_fp4_quant_out"
func.func @no_fuse_nvfp4_out_when_activation_has_another_user(%gu: tensor<16x256xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>, tensor<16x128xbf16>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %q, %s = "vllm.scaled_fp4_quant_out"(%a, %g) {is_sf_swizzled_layout = true} : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>)
  return %q, %s, %a : tensor<16x64xui8>, tensor<128x2xi32>, tensor<16x128xbf16>
}

// -----

// vLLM 0.11's call (no flags) recorded column-major: the fused op would write rows.
// CHECK-LABEL: func.func @no_fuse_per_group_recorded_column_major
// CHECK: "vllm.silu_and_mul"(
// CHECK: "vllm.per_token_group_fp8_quant"
func.func @no_fuse_per_group_recorded_column_major(%gu: tensor<?x28672xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%a) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, fx.meta = "[null,{\"shape\":[\"s0\",14336],\"dtype\":\"float8_e4m3fn\",\"stride\":[14336,1]},{\"shape\":[\"s0\",112],\"dtype\":\"float32\",\"stride\":[1,\"s0\"]}]"} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  return %q, %s : tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>
}
