// The decomposed ATen forms (custom ops off): raised to the custom ops where a
// rule then fuses them, left exactly as they are otherwise.
// RUN: vllm-opt %s --split-input-file --vllm-fuse-rms-quant | FileCheck %s
// RUN: vllm-opt %s --split-input-file --vllm-fuse-rms-quant --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// Only the two positive cases raise anything (the negatives stay native):
// STATS: (1) native-quant
// STATS-NEXT: (2) native-rms

// native rms_norm -> native static quant, epsilon 1e-3 (vLLM: 1e-5/1e-6 only).
// CHECK-LABEL: func.func @native_rms_static_quant
// CHECK-NEXT: %[[Q:.*]] = "vllm.rms_norm_static_fp8_quant"(%arg0, %arg1, %arg2) {epsilon = 1.000000e-03 : f64}
// CHECK-NEXT: return %[[Q]]
func.func @native_rms_static_quant(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> tensor<?x4096xf8E4M3FN> {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<?x4096xbf16>) -> tensor<?x4096xf32>
  %p = "aten.pow_scalar"(%xf) {other = 2 : i64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %m = "aten.mean"(%p) {dim = array<i64: -1>, keepdim = true} : (tensor<?x4096xf32>) -> tensor<?x1xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-03 : f64} : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %r = "aten.rsqrt"(%a) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = "aten.mul"(%xf, %r) : (tensor<?x4096xf32>, tensor<?x1xf32>) -> tensor<?x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<?x4096xf32>) -> tensor<?x4096xbf16>
  %y = "aten.mul"(%nt, %w) : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %yf = "aten.convert_element_type"(%y) {dtype = f32} : (tensor<?x4096xbf16>) -> tensor<?x4096xf32>
  %inv = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %q0 = "aten.mul"(%yf, %inv) : (tensor<?x4096xf32>, tensor<f32>) -> tensor<?x4096xf32>
  %q1 = "aten.clamp_min"(%q0) {other = -4.480000e+02 : f64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %q2 = "aten.clamp_max"(%q1) {other = 4.480000e+02 : f64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %q = "aten.convert_element_type"(%q2) {dtype = f8E4M3FN} : (tensor<?x4096xf32>) -> tensor<?x4096xf8E4M3FN>
  return %q : tensor<?x4096xf8E4M3FN>
}

// -----

// native residual add + rms_norm -> custom static quant; the new residual
// (to(T) of the f32 sum) is rewired to the fused op's.
// CHECK-LABEL: func.func @native_fused_add_custom_quant
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.fused_add_rms_norm_static_fp8_quant"(%arg0, %arg1, %arg2, %arg3) {epsilon = 9.9999999999999995E-7 : f64}
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @native_fused_add_custom_quant(%x: tensor<16x4096xbf16>, %res: tensor<16x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<16x4096xf8E4M3FN>, tensor<16x4096xbf16>) {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<16x4096xbf16>) -> tensor<16x4096xf32>
  %rf = "aten.convert_element_type"(%res) {dtype = f32} : (tensor<16x4096xbf16>) -> tensor<16x4096xf32>
  %sum = "aten.add"(%xf, %rf) : (tensor<16x4096xf32>, tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %p = "aten.pow_scalar"(%sum) {other = 2 : i64} : (tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %m = "aten.mean"(%p) {dim = array<i64: 1>, keepdim = true} : (tensor<16x4096xf32>) -> tensor<16x1xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r = "aten.rsqrt"(%a) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n = "aten.mul"(%r, %sum) : (tensor<16x1xf32>, tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<16x4096xf32>) -> tensor<16x4096xbf16>
  %y = "aten.mul"(%w, %nt) : (tensor<4096xbf16>, tensor<16x4096xbf16>) -> tensor<16x4096xbf16>
  %newres = "aten.convert_element_type"(%sum) {dtype = bf16} : (tensor<16x4096xf32>) -> tensor<16x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<16x4096xbf16>, tensor<f32>) -> tensor<16x4096xf8E4M3FN>
  return %q, %newres : tensor<16x4096xf8E4M3FN>, tensor<16x4096xbf16>
}

// -----

// Negative: a native norm with no quant after it stays native, op for op.
// CHECK-LABEL: func.func @native_rms_no_quant
// CHECK-NOT: vllm.
// CHECK: "aten.rsqrt"
// CHECK: return
func.func @native_rms_no_quant(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<?x4096xbf16>) -> tensor<?x4096xf32>
  %p = "aten.pow_scalar"(%xf) {other = 2 : i64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %m = "aten.mean"(%p) {dim = array<i64: -1>, keepdim = true} : (tensor<?x4096xf32>) -> tensor<?x1xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-05 : f64} : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %r = "aten.rsqrt"(%a) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = "aten.mul"(%xf, %r) : (tensor<?x4096xf32>, tensor<?x1xf32>) -> tensor<?x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<?x4096xf32>) -> tensor<?x4096xbf16>
  %y = "aten.mul"(%nt, %w) : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// Negative: the normalized value has another user (returned too).
// CHECK-LABEL: func.func @native_norm_two_users
// CHECK-NOT: vllm.rms_norm
// CHECK: "aten.clamp_max"
func.func @native_norm_two_users(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>) {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<?x4096xbf16>) -> tensor<?x4096xf32>
  %p = "aten.pow_scalar"(%xf) {other = 2 : i64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %m = "aten.mean"(%p) {dim = array<i64: -1>, keepdim = true} : (tensor<?x4096xf32>) -> tensor<?x1xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-05 : f64} : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %r = "aten.rsqrt"(%a) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = "aten.mul"(%xf, %r) : (tensor<?x4096xf32>, tensor<?x1xf32>) -> tensor<?x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<?x4096xf32>) -> tensor<?x4096xbf16>
  %y = "aten.mul"(%nt, %w) : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %yf = "aten.convert_element_type"(%y) {dtype = f32} : (tensor<?x4096xbf16>) -> tensor<?x4096xf32>
  %inv = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %q0 = "aten.mul"(%yf, %inv) : (tensor<?x4096xf32>, tensor<f32>) -> tensor<?x4096xf32>
  %q1 = "aten.clamp_min"(%q0) {other = -4.480000e+02 : f64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %q2 = "aten.clamp_max"(%q1) {other = 4.480000e+02 : f64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %q = "aten.convert_element_type"(%q2) {dtype = f8E4M3FN} : (tensor<?x4096xf32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %y : tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>
}

// -----

// Negative: the "quant" clamps to ±240 (not e4m3fn's ±448): numerics would change.
// CHECK-LABEL: func.func @native_quant_wrong_clamp
// CHECK-NOT: vllm.
func.func @native_quant_wrong_clamp(%y: tensor<?x4096xbf16>, %s: tensor<f32>) -> tensor<?x4096xf8E4M3FN> {
  %yf = "aten.convert_element_type"(%y) {dtype = f32} : (tensor<?x4096xbf16>) -> tensor<?x4096xf32>
  %inv = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %q0 = "aten.mul"(%yf, %inv) : (tensor<?x4096xf32>, tensor<f32>) -> tensor<?x4096xf32>
  %q1 = "aten.clamp_min"(%q0) {other = -2.400000e+02 : f64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %q2 = "aten.clamp_max"(%q1) {other = 2.400000e+02 : f64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %q = "aten.convert_element_type"(%q2) {dtype = f8E4M3FN} : (tensor<?x4096xf32>) -> tensor<?x4096xf8E4M3FN>
  return %q : tensor<?x4096xf8E4M3FN>
}

// -----

// Negative: the mean is over dim 0, not the hidden dim.
// CHECK-LABEL: func.func @native_mean_wrong_dim
// CHECK-NOT: vllm.rms_norm
func.func @native_mean_wrong_dim(%x: tensor<16x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> tensor<16x4096xf8E4M3FN> {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<16x4096xbf16>) -> tensor<16x4096xf32>
  %p = "aten.pow_scalar"(%xf) {other = 2 : i64} : (tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %m = "aten.mean"(%p) {dim = array<i64: 0>, keepdim = true} : (tensor<16x4096xf32>) -> tensor<1x4096xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-05 : f64} : (tensor<1x4096xf32>) -> tensor<1x4096xf32>
  %r = "aten.rsqrt"(%a) : (tensor<1x4096xf32>) -> tensor<1x4096xf32>
  %n = "aten.mul"(%xf, %r) : (tensor<16x4096xf32>, tensor<1x4096xf32>) -> tensor<16x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<16x4096xf32>) -> tensor<16x4096xbf16>
  %y = "aten.mul"(%nt, %w) : (tensor<16x4096xbf16>, tensor<4096xbf16>) -> tensor<16x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<16x4096xbf16>, tensor<f32>) -> tensor<16x4096xf8E4M3FN>
  return %q : tensor<16x4096xf8E4M3FN>
}

// -----

// Negative: fp16 activations with a bf16 weight.
// CHECK-LABEL: func.func @native_weight_dtype_differs
// CHECK-NOT: vllm.rms_norm
func.func @native_weight_dtype_differs(%x: tensor<16x4096xf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> tensor<16x4096xf8E4M3FN> {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<16x4096xf16>) -> tensor<16x4096xf32>
  %p = "aten.pow_scalar"(%xf) {other = 2 : i64} : (tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %m = "aten.mean"(%p) {dim = array<i64: -1>, keepdim = true} : (tensor<16x4096xf32>) -> tensor<16x1xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-05 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r = "aten.rsqrt"(%a) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n = "aten.mul"(%xf, %r) : (tensor<16x4096xf32>, tensor<16x1xf32>) -> tensor<16x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = f16} : (tensor<16x4096xf32>) -> tensor<16x4096xf16>
  %y = "aten.mul"(%nt, %w) : (tensor<16x4096xf16>, tensor<4096xbf16>) -> tensor<16x4096xf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<16x4096xf16>, tensor<f32>) -> tensor<16x4096xf8E4M3FN>
  return %q : tensor<16x4096xf8E4M3FN>
}

// -----

// Negative: a broadcast add (a bias of one row) before the norm is not a
// residual add: nothing fuses (it used to become a fused_add_rms_norm with a
// one-row residual, which the verifier then refused).
// CHECK-LABEL: func.func @native_bias_add_quant
// CHECK: "aten.add"
// CHECK: "aten.rsqrt"
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @native_bias_add_quant(%x: tensor<16x4096xbf16>, %b: tensor<4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> tensor<16x4096xf8E4M3FN> {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<16x4096xbf16>) -> tensor<16x4096xf32>
  %bf = "aten.convert_element_type"(%b) {dtype = f32} : (tensor<4096xbf16>) -> tensor<4096xf32>
  %sum = "aten.add"(%xf, %bf) : (tensor<16x4096xf32>, tensor<4096xf32>) -> tensor<16x4096xf32>
  %p = "aten.pow_scalar"(%sum) {other = 2 : i64} : (tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %m = "aten.mean"(%p) {dim = array<i64: 1>, keepdim = true} : (tensor<16x4096xf32>) -> tensor<16x1xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r = "aten.rsqrt"(%a) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n = "aten.mul"(%r, %sum) : (tensor<16x1xf32>, tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<16x4096xf32>) -> tensor<16x4096xbf16>
  %y = "aten.mul"(%w, %nt) : (tensor<4096xbf16>, tensor<16x4096xbf16>) -> tensor<16x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<16x4096xbf16>, tensor<f32>) -> tensor<16x4096xf8E4M3FN>
  return %q : tensor<16x4096xf8E4M3FN>
}

// -----

// Negative: a gated norm, norm(x) * g with g rows of the same shape: g is no
// weight vector, nothing fuses (it used to be fused with g as the weight, of
// which the kernel reads one row: a silent miscompile).
// CHECK-LABEL: func.func @gated
// CHECK: "aten.rsqrt"
// CHECK: "vllm.static_scaled_fp8_quant"
// CHECK-NOT: rms_norm
func.func @gated(%x: tensor<16x4096xbf16>, %g: tensor<16x4096xbf16>, %s: tensor<f32>) -> tensor<16x4096xf8E4M3FN> {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<16x4096xbf16>) -> tensor<16x4096xf32>
  %p = "aten.pow_scalar"(%xf) {other = 2 : i64} : (tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %m = "aten.mean"(%p) {dim = array<i64: 1>, keepdim = true} : (tensor<16x4096xf32>) -> tensor<16x1xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r = "aten.rsqrt"(%a) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n = "aten.mul"(%r, %xf) : (tensor<16x1xf32>, tensor<16x4096xf32>) -> tensor<16x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<16x4096xf32>) -> tensor<16x4096xbf16>
  %y = "aten.mul"(%g, %nt) : (tensor<16x4096xbf16>, tensor<16x4096xbf16>) -> tensor<16x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<16x4096xbf16>, tensor<f32>) -> tensor<16x4096xf8E4M3FN>
  return %q : tensor<16x4096xf8E4M3FN>
}
