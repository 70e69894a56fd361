// vLLM main's AddRMSNormFusionPass: a residual add in the activation type
// feeding an RMSNorm becomes fused_add_rms_norm, whose new residual replaces
// the sum for every other reader. Bit for bit the same values
// (numerics::add_rms_norm_fusion). In the pipeline:
// tests/pipeline/add-rms-norm.mlir.
// RUN: vllm-opt %s --split-input-file --vllm-fuse-add-rms-norm | FileCheck %s
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-add-rms-norm))' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-add-rms-norm{debug-node=norm}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN

// STATS: vllm-fuse-add-rms-norm
// STATS-NEXT: (2) add-rms-norm
// STATS-NEXT: (1) native-rms
// EXPLAIN: remark: rule 'add-rms-norm' fused node 'norm'
// EXPLAIN: remark: rule 'add-rms-norm' did not match: Prod("self") is tensor<?x4096xbf16> but Prod("other") is tensor<4096xbf16>
// EXPLAIN: remark: rule 'add-rms-norm' matched but a replaced value is read before the root
// EXPLAIN: remark: rule 'add-rms-norm' did not match: 'input' comes from aten.sub, not aten.add

// The Transformers backend's layer boundary: the sum is the next residual
// too (returned here), and reads the fused op's residual output.
// CHECK-LABEL: func.func @residual_add_then_norm
// CHECK-NEXT: %[[F:.*]]:2 = "vllm.fused_add_rms_norm"(%arg0, %arg1, %arg2) {epsilon = 9.9999999999999995E-7 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
// CHECK-NEXT: return %[[F]]#0, %[[F]]#1
func.func @residual_add_then_norm(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %z = "aten.add"(%x, %r) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %y = "vllm.rms_norm"(%z, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16> loc("norm")
  return %y, %z : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}

// -----

// vLLM's native RMSNorm (custom ops off) of the sum: raised, then fused.
// CHECK-LABEL: func.func @native_norm_of_a_sum
// CHECK-NEXT: %[[F:.*]]:2 = "vllm.fused_add_rms_norm"(%arg0, %arg1, %arg2) {epsilon = 9.9999999999999995E-7 : f64}
// CHECK-NOT: aten.rsqrt
// CHECK: return %[[F]]#0, %[[F]]#1
func.func @native_norm_of_a_sum(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %z = "aten.add"(%x, %r) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %zf = "aten.convert_element_type"(%z) {dtype = f32} : (tensor<?x4096xbf16>) -> tensor<?x4096xf32>
  %sq = "aten.pow_scalar"(%zf) {other = 2 : i64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %m = "aten.mean"(%sq) {dim = array<i64: -1>, keepdim = true} : (tensor<?x4096xf32>) -> tensor<?x1xf32>
  %e = "aten.add_scalar"(%m) {other = 1.0e-6 : f64} : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %rs = "aten.rsqrt"(%e) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = "aten.mul"(%zf, %rs) : (tensor<?x4096xf32>, tensor<?x1xf32>) -> tensor<?x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<?x4096xf32>) -> tensor<?x4096xbf16>
  %y = "aten.mul"(%nt, %w) : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %y, %z : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}

// -----

// A bias added by broadcasting is not a residual: the kernel adds rows.
// CHECK-LABEL: func.func @broadcast_bias
// CHECK: "aten.add"
// CHECK: "vllm.rms_norm"
func.func @broadcast_bias(%x: tensor<?x4096xbf16>, %b: tensor<4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %z = "aten.add"(%x, %b) : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %y = "vllm.rms_norm"(%z, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16> loc("norm")
  return %y : tensor<?x4096xbf16>
}

// -----

// The sum is read between the add and the norm: the fused op, at the norm,
// would come after that reader.
// CHECK-LABEL: func.func @sum_read_before_the_norm
// CHECK: "aten.add"
// CHECK: "vllm.rms_norm"
func.func @sum_read_before_the_norm(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %z = "aten.add"(%x, %r) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %d = "aten.mul"(%z, %z) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %y = "vllm.rms_norm"(%z, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16> loc("norm")
  return %y, %d : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}

// -----

// A difference is not a residual add.
// CHECK-LABEL: func.func @difference
// CHECK: "aten.sub"
// CHECK: "vllm.rms_norm"
func.func @difference(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %z = "aten.sub"(%x, %r) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %y = "vllm.rms_norm"(%z, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16> loc("norm")
  return %y : tensor<?x4096xbf16>
}

// -----

// A norm that already has its residual is left alone.
// CHECK-LABEL: func.func @already_fused
// CHECK-NEXT: "aten.add"
// CHECK-NEXT: "vllm.fused_add_rms_norm"(%0, %arg1, %arg2)
func.func @already_fused(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %z = "aten.add"(%x, %x) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %y, %r2 = "vllm.fused_add_rms_norm"(%z, %r, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  return %y, %r2 : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}

// -----

// A native norm of a broadcast sum: the rule would not fuse it, so it is
// not raised either (a native chain is raised only where it then fuses).
// CHECK-LABEL: func.func @native_norm_of_a_bias_add
// CHECK: "aten.add"
// CHECK: "aten.rsqrt"
// CHECK-NOT: vllm.rms_norm
func.func @native_norm_of_a_bias_add(%x: tensor<?x4096xbf16>, %b: tensor<4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %z = "aten.add"(%x, %b) : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %zf = "aten.convert_element_type"(%z) {dtype = f32} : (tensor<?x4096xbf16>) -> tensor<?x4096xf32>
  %sq = "aten.pow_scalar"(%zf) {other = 2 : i64} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>
  %m = "aten.mean"(%sq) {dim = array<i64: -1>, keepdim = true} : (tensor<?x4096xf32>) -> tensor<?x1xf32>
  %e = "aten.add_scalar"(%m) {other = 1.0e-6 : f64} : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %rs = "aten.rsqrt"(%e) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = "aten.mul"(%zf, %rs) : (tensor<?x4096xf32>, tensor<?x1xf32>) -> tensor<?x4096xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<?x4096xf32>) -> tensor<?x4096xbf16>
  %y = "aten.mul"(%nt, %w) : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}
