// RUN: vllm-opt %s --split-input-file --vllm-fuse-rms-quant | FileCheck %s
// Why the per-group quants named `gq` below stay (each check of the shared
// per-group defaults names itself):
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-rms-quant{debug-node=gq}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN
// EXPLAIN: remark: rule 'rms-per-group-quant' did not match: Root("scale_ue8m0") is true, the fused kernel assumes false
// EXPLAIN: remark: rule 'rms-per-group-quant' did not match: Root("group_size") is 32 : i64, the fused kernel is built for 64 : i64 or 128 : i64
// EXPLAIN: remark: rule 'rms-per-group-quant' did not match: Root("eps") is {{.*}} : f64, the fused kernel assumes 1.000000e-10 : f64

// CHECK-LABEL: func.func @fuse_rms_static_quant
// CHECK: %[[Q:.*]] = "vllm.rms_norm_static_fp8_quant"(%arg0, %arg1, %arg2) {epsilon = 1.000000e-05 : f64}
// CHECK-NOT: "vllm.rms_norm"(
// CHECK-NOT: static_scaled_fp8_quant
// CHECK: return %[[Q]]
func.func @fuse_rms_static_quant(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> tensor<?x4096xf8E4M3FN> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q : tensor<?x4096xf8E4M3FN>
}

// -----

// Any epsilon fuses (vLLM: only 1e-5 and 1e-6); static shapes too.
// CHECK-LABEL: func.func @fuse_any_epsilon_static_shape
// CHECK: "vllm.rms_norm_static_fp8_quant"{{.*}}epsilon = 3.000000e-04 : f64{{.*}} -> tensor<256x4096xf8E4M3FN>
func.func @fuse_any_epsilon_static_shape(%x: tensor<256x4096xf16>, %w: tensor<4096xf16>, %s: tensor<f32>) -> tensor<256x4096xf8E4M3FN> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 3.0e-04 : f64} : (tensor<256x4096xf16>, tensor<4096xf16>) -> tensor<256x4096xf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<256x4096xf16>, tensor<f32>) -> tensor<256x4096xf8E4M3FN>
  return %q : tensor<256x4096xf8E4M3FN>
}

// -----

// The residual result is rewired to the fused op's.
// CHECK-LABEL: func.func @fuse_add_rms_static_quant
// CHECK: %[[F:.*]]:2 = "vllm.fused_add_rms_norm_static_fp8_quant"(%arg0, %arg1, %arg2, %arg3)
// CHECK: return %[[F]]#0, %[[F]]#1
func.func @fuse_add_rms_static_quant(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>) {
  %y, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-06 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %r2 : tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>
}

// -----

// CHECK-LABEL: func.func @fuse_rms_dynamic_per_token_quant
// CHECK: %[[F:.*]]:2 = "vllm.rms_norm_dynamic_per_token_quant"(%arg0, %arg1) {epsilon = {{.*}}, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
// CHECK: return %[[F]]#0, %[[F]]#1
func.func @fuse_rms_dynamic_per_token_quant(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %sc = "vllm.dynamic_per_token_scaled_fp8_quant"(%y) : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>)
  return %q, %sc : tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>
}

// -----

// CHECK-LABEL: func.func @fuse_add_rms_dynamic_per_token_quant
// CHECK: %[[F:.*]]:3 = "vllm.rms_norm_dynamic_per_token_quant"(%arg0, %arg2, %arg1) {epsilon = {{.*}}, operandSegmentSizes = array<i32: 1, 1, 0, 1>}
// CHECK: return %[[F]]#0, %[[F]]#1, %[[F]]#2
func.func @fuse_add_rms_dynamic_per_token_quant(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xbf16>) {
  %y, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %q, %sc = "vllm.dynamic_per_token_scaled_fp8_quant"(%y) : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>)
  return %q, %sc, %r2 : tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xbf16>
}

// -----

// Two layers, each fused on its own.
// CHECK-LABEL: func.func @fuse_two_layers
// CHECK: "vllm.rms_norm_static_fp8_quant"
// CHECK: "vllm.fused_add_rms_norm_static_fp8_quant"
// CHECK-NOT: "vllm.rms_norm"(
func.func @fuse_two_layers(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>, %h: tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %y2, %r2 = "vllm.fused_add_rms_norm"(%h, %x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %q2 = "vllm.static_scaled_fp8_quant"(%y2, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %q2 : tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>
}

// -----

// The normalized tensor has another user: fusing would drop it.
// CHECK-LABEL: func.func @no_fuse_when_norm_has_another_user
// CHECK: "vllm.rms_norm"(
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_when_norm_has_another_user(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %y : tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>
}

// -----

// scale_ub caps the per-token scale; the fused kernel would ignore it.
// CHECK-LABEL: func.func @no_fuse_when_scale_ub_is_given
// CHECK: "vllm.rms_norm"(
// CHECK: "vllm.dynamic_per_token_scaled_fp8_quant"
func.func @no_fuse_when_scale_ub_is_given(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %ub: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %sc = "vllm.dynamic_per_token_scaled_fp8_quant"(%y, %ub) : (tensor<?x4096xbf16>, tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>)
  return %q, %sc : tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>
}

// -----

// Dynamic per-tensor quant needs a global max first: never fused.
// CHECK-LABEL: func.func @no_fuse_dynamic_per_tensor_quant
// CHECK: "vllm.rms_norm"(
// CHECK: "vllm.dynamic_scaled_fp8_quant"
func.func @no_fuse_dynamic_per_tensor_quant(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<1xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %sc = "vllm.dynamic_scaled_fp8_quant"(%y) : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<1xf32>)
  return %q, %sc : tensor<?x4096xf8E4M3FN>, tensor<1xf32>
}

// -----

// The fused kernel reads input and weight in one dtype.
// CHECK-LABEL: func.func @no_fuse_when_weight_dtype_differs
// CHECK: "vllm.rms_norm"(
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_when_weight_dtype_differs(%x: tensor<?x4096xbf16>, %w: tensor<4096xf32>, %s: tensor<f32>) -> tensor<?x4096xf8E4M3FN> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xf32>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q : tensor<?x4096xf8E4M3FN>
}

// -----

// The residual is read before the quant: the fused op (at the quant) would
// come after that reader, so nothing moves.
// CHECK-LABEL: func.func @no_fuse_when_residual_is_read_before_the_quant
// CHECK: "vllm.fused_add_rms_norm"(
// CHECK: "aten.neg"
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_when_residual_is_read_before_the_quant(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>) {
  %y, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %n = "aten.neg"(%r2) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %n : tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>
}

// -----

// A reshape in between is no-op elimination's to remove first (see pipeline order).
// CHECK-LABEL: func.func @no_fuse_across_a_reshape
// CHECK: "vllm.rms_norm"(
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_across_a_reshape(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> tensor<?x4096xf8E4M3FN> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %r = "aten.reshape"(%y) {shape = array<i64: -1, 4096>} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%r, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q : tensor<?x4096xf8E4M3FN>
}

// -----

// CHECK-LABEL: func.func @fuse_rms_per_group_quant
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.rms_norm_per_block_quant"(%arg0, %arg1) {epsilon = 1.000000e-05 : f64, group_size = 128 : i64, is_scale_transposed = false, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @fuse_rms_per_group_quant(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  return %q, %s : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>
}

// -----

// CHECK-LABEL: func.func @fuse_fused_add_per_group_quant
// CHECK-NEXT: %[[Q:.*]]:3 = "vllm.rms_norm_per_block_quant"(%arg0, %arg2, %arg1) {epsilon = 1.000000e-05 : f64, group_size = 64 : i64, is_scale_transposed = false, operandSegmentSizes = array<i32: 1, 1, 0, 1>}
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1, %[[Q]]#2
func.func @fuse_fused_add_per_group_quant(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x64xf32>, tensor<?x4096xbf16>) {
  %y, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 64 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x64xf32>)
  return %q, %s, %r2 : tensor<?x4096xf8E4M3FN>, tensor<?x64xf32>, tensor<?x4096xbf16>
}

// -----

// vLLM main's call, column-major scales: the fused op writes them so.
// CHECK-LABEL: func.func @fuse_per_group_quant_column_major
// CHECK-NEXT: %[[Q:.*]]:3 = "vllm.rms_norm_per_block_quant"(%arg0, %arg2, %arg1) {epsilon = 1.000000e-05 : f64, group_size = 128 : i64, is_scale_tma_aligned = false, is_scale_transposed = true, operandSegmentSizes = array<i32: 1, 1, 0, 1>}
func.func @fuse_per_group_quant_column_major(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xbf16>) {
  %y, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  return %q, %s, %r2 : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xbf16>
}

// -----

// TMA-padded scales (DeepGEMM's: rows padded to a multiple of 4): the fused
// op pads them too (vLLM's kernel reads it from the buffer's strides, ours
// from `is_scale_tma_aligned`).
// CHECK-LABEL: func.func @fuse_per_group_tma_aligned
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.rms_norm_per_block_quant"(%arg0, %arg1) {epsilon = 1.000000e-05 : f64, group_size = 128 : i64, is_scale_tma_aligned = true, is_scale_transposed = true, operandSegmentSizes = array<i32: 1, 1, 0, 0>}
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @fuse_per_group_tma_aligned(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = true} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  return %q, %s : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>
}

// -----

// Power-of-two (UE8M0) scales: the fused kernel does not round scales.
// CHECK-LABEL: func.func @no_fuse_per_group_ue8m0
// CHECK: "vllm.rms_norm"(
// CHECK: "vllm.per_token_group_fp8_quant"
func.func @no_fuse_per_group_ue8m0(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = true} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) loc("gq")
  return %q, %s : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>
}

// -----

// Groups of 32 and 256: vLLM builds its fused per-block kernels for groups
// of 64 and 128 only ("Unsupported group size" at run time); groups of 64 fuse.
// CHECK-LABEL: func.func @per_group_sizes
// CHECK: "vllm.rms_norm"(
// CHECK-NEXT: "vllm.per_token_group_fp8_quant"{{.*}}group_size = 32
// CHECK: "vllm.rms_norm"(
// CHECK-NEXT: "vllm.per_token_group_fp8_quant"{{.*}}group_size = 256
// CHECK: "vllm.rms_norm_per_block_quant"{{.*}}group_size = 64
func.func @per_group_sizes(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x128xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x16xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x64xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 32 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x128xf32>) loc("gq")
  %y2 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q2, %s2 = "vllm.per_token_group_fp8_quant"(%y2) {group_size = 256 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x16xf32>)
  %y3 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q3, %s3 = "vllm.per_token_group_fp8_quant"(%y3) {group_size = 64 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x64xf32>)
  return %q, %s, %q2, %s2, %q3, %s3 : tensor<?x4096xf8E4M3FN>, tensor<?x128xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x16xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x64xf32>
}

// -----

// A different group eps: the fused kernel hard-codes 1e-10.
// CHECK-LABEL: func.func @no_fuse_per_group_other_eps
// CHECK: "vllm.rms_norm"(
// CHECK: "vllm.per_token_group_fp8_quant"
func.func @no_fuse_per_group_other_eps(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-06 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) loc("gq")
  return %q, %s : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>
}

// -----

// Scales recorded in another layout than the call's flags name: vLLM 0.11's
// call (no flags; its kernel reads column-major scales from the strides),
// and a flagged call whose record disagrees. The fused op would write what
// the flags say, so neither fuses; a flagless call recorded as rows does.
// CHECK-LABEL: func.func @per_group_layout_as_recorded
// CHECK-NEXT: "vllm.rms_norm"(
// CHECK-NEXT: "vllm.per_token_group_fp8_quant"
// CHECK-NEXT: "vllm.rms_norm"(
// CHECK-NEXT: "vllm.per_token_group_fp8_quant"
// CHECK-NEXT: "vllm.rms_norm_per_block_quant"(%arg0, %arg1) {{.*}}group_size = 128 : i64, is_scale_transposed = false,
func.func @per_group_layout_as_recorded(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, fx.meta = "[null,{\"shape\":[\"s0\",4096],\"dtype\":\"float8_e4m3fn\",\"stride\":[4096,1]},{\"shape\":[\"s0\",32],\"dtype\":\"float32\",\"stride\":[1,\"s0\"]}]"} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %y2 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q2, %s2 = "vllm.per_token_group_fp8_quant"(%y2) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false, fx.meta = "[null,{\"shape\":[\"s0\",4096],\"dtype\":\"float8_e4m3fn\",\"stride\":[4096,1]},{\"shape\":[\"s0\",32],\"dtype\":\"float32\",\"stride\":[32,1]}]"} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %y3 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q3, %s3 = "vllm.per_token_group_fp8_quant"(%y3) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, fx.meta = "[null,{\"shape\":[\"s0\",4096],\"dtype\":\"float8_e4m3fn\",\"stride\":[4096,1]},{\"shape\":[\"s0\",32],\"dtype\":\"float32\",\"stride\":[32,1]}]"} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  return %s, %s2, %s3 : tensor<?x32xf32>, tensor<?x32xf32>, tensor<?x32xf32>
}
