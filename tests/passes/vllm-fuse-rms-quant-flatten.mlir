// vLLM main's RMSNormReshapeFusionPass, part of vllm-fuse-rms-quant: the
// Transformers backend's rows are [1, T, H] and its linear layers flatten
// the norm's output to [T, H] before the quant; the flatten moves ahead of
// the norm (a norm is row-wise), and the norm + quant then fuse.
// RUN: vllm-opt %s --split-input-file --vllm-fuse-rms-quant | FileCheck %s
// RUN: vllm-opt %s --split-input-file --vllm-fuse-rms-quant --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// STATS: (3) flatten-before-norm

// CHECK-LABEL: func.func @flatten_then_fuse
// CHECK: %[[R:.*]] = "aten.reshape"(%arg0) {shape = array<i64: -1, 4096>}
// CHECK: "vllm.rms_norm_static_fp8_quant"(%[[R]], %arg1, %arg2)
// CHECK-NOT: "vllm.rms_norm"(
func.func @flatten_then_fuse(%x: tensor<1x?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> tensor<?x4096xf8E4M3FN> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-06 : f64} : (tensor<1x?x4096xbf16>, tensor<4096xbf16>) -> tensor<1x?x4096xbf16>
  %r = "aten.view"(%y) {shape = array<i64: -1, 4096>} : (tensor<1x?x4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%r, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q : tensor<?x4096xf8E4M3FN>
}

// -----

// Without a quant the flatten still moves (exact; the norm runs on rows).
// CHECK-LABEL: func.func @flatten_alone
// CHECK: %[[R:.*]] = "aten.reshape"(%arg0) {shape = array<i64: -1, 4096>}
// CHECK: %[[N:.*]] = "vllm.rms_norm"(%[[R]], %arg1) {epsilon = {{.*}} : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
// CHECK: return %[[N]]
func.func @flatten_alone(%x: tensor<1x?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-06 : f64} : (tensor<1x?x4096xbf16>, tensor<4096xbf16>) -> tensor<1x?x4096xbf16>
  %r = "aten.reshape"(%y) {shape = array<i64: -1, 4096>} : (tensor<1x?x4096xbf16>) -> tensor<?x4096xbf16>
  return %r : tensor<?x4096xbf16>
}

// -----

// Not when the norm's rows are read unflattened too (both would be needed).
// CHECK-LABEL: func.func @no_flatten_when_the_rows_are_read_too
// CHECK: "vllm.rms_norm"(%arg0, %arg1)
// CHECK: "aten.view"
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_flatten_when_the_rows_are_read_too(%x: tensor<1x?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<1x?x4096xbf16>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-06 : f64} : (tensor<1x?x4096xbf16>, tensor<4096xbf16>) -> tensor<1x?x4096xbf16>
  %r = "aten.view"(%y) {shape = array<i64: -1, 4096>} : (tensor<1x?x4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%r, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %y : tensor<?x4096xf8E4M3FN>, tensor<1x?x4096xbf16>
}

// -----

// Not a reshape that splits the rows (heads): the norm would not be row-wise over it.
// CHECK-LABEL: func.func @no_flatten_into_heads
// CHECK: "vllm.rms_norm"(%arg0, %arg1)
// CHECK: "aten.reshape"(%{{.*}}) {shape = array<i64: -1, 32, 128>}
func.func @no_flatten_into_heads(%x: tensor<1x?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x32x128xbf16> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-06 : f64} : (tensor<1x?x4096xbf16>, tensor<4096xbf16>) -> tensor<1x?x4096xbf16>
  %r = "aten.reshape"(%y) {shape = array<i64: -1, 32, 128>} : (tensor<1x?x4096xbf16>) -> tensor<?x32x128xbf16>
  return %r : tensor<?x32x128xbf16>
}

// -----

// fused_add_rms_norm (the Transformers backend's residual add, fused by
// vllm-fuse-add-rms-norm): its input and residual are flattened, and its new
// residual is reshaped back to the rows the next layer reads.
// CHECK-LABEL: func.func @flatten_add_norm
// CHECK: %[[X:.*]] = "aten.reshape"(%arg0) {shape = array<i64: -1, 4096>}
// CHECK: %[[R:.*]] = "aten.reshape"(%arg1) {shape = array<i64: -1, 4096>}
// CHECK: %[[F:.*]]:2 = "vllm.fused_add_rms_norm_static_fp8_quant"(%[[X]], %[[R]], %arg2, %arg3)
// CHECK: %[[B:.*]] = "aten.reshape"(%[[F]]#1) {shape = array<i64: 1, -1, 4096>} : (tensor<?x4096xbf16>) -> tensor<1x?x4096xbf16>
// CHECK: return %[[F]]#0, %[[B]]
func.func @flatten_add_norm(%x: tensor<1x?x4096xbf16>, %r: tensor<1x?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<1x?x4096xbf16>) {
  %y, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-06 : f64} : (tensor<1x?x4096xbf16>, tensor<1x?x4096xbf16>, tensor<4096xbf16>) -> (tensor<1x?x4096xbf16>, tensor<1x?x4096xbf16>)
  %f = "aten.view"(%y) {shape = array<i64: -1, 4096>} : (tensor<1x?x4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%f, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %r2 : tensor<?x4096xf8E4M3FN>, tensor<1x?x4096xbf16>
}
