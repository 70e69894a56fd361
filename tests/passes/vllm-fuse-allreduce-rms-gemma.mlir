// vLLM's native GemmaRMSNorm of a tensor-parallel all-reduce (custom ops
// off: `GemmaRMSNorm.forward_native`, the rows scaled in f32 and times
// `1 + w` in f32, rounded once; the residual added in bf16) -> the FlashInfer
// fused op with weight_bias = 1, as vLLM main's Gemma patterns. Numerics:
// tests/all/numerics.rs (@tp_gemma_decoder, bit-identical).
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2}))' | FileCheck %s
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2}))' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2 debug-node=norm}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN
// The fused op goes to FX with its weight_bias:
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2}))' -o %t.mlir
// RUN: vllm-opt %t.mlir --split-input-file --emit fx-json | FileCheck %s --check-prefix=FX

// STATS: vllm-fuse-allreduce-rms
// STATS-NEXT: (4) native-gemma-rms
// EXPLAIN: remark: vllm-fuse-allreduce-rms: the norm's input is not an all_reduce
// EXPLAIN: remark: vllm-fuse-allreduce-rms: the all-reduced value has other readers than the norm
// FX: "args":[{"op":"torch.ops.vllm.flashinfer_trtllm_fused_allreduce_norm.default"}],"kwargs":{"allreduce_in":{"node":"arg0"},"residual":{"node":"full"},"rms_gamma":{"node":"arg1"},{{.*}}"pattern_code":1,"weight_bias":1.0}

// No residual: zeros as the residual, whose new value (the all-reduced
// rows) the later reader of the all-reduce reads.
// CHECK-LABEL: func.func @no_residual
// CHECK-NEXT: %[[Z:.*]] = "aten.full"() {{.*}}size = array<i64: 16, 64>}
// CHECK-NEXT: %[[F:.*]]:2 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %[[Z]], %arg1) {{.*}}pattern_code = 1 : i64, resultSegmentSizes = array<i32: 1, 1, 0, 0>, rms_eps = 9.9999999999999995E-7 : f64, weight_bias = 1.000000e+00 : f64, world_size = 2 : i64}
// CHECK-NEXT: %[[A:.*]] = "aten.add"(%[[F]]#1, %arg2)
// CHECK-NEXT: return %[[F]]#0, %[[A]]
func.func @no_residual(%p: tensor<16x64xbf16>, %w: tensor<64xbf16>, %q: tensor<16x64xbf16>) -> (tensor<16x64xbf16>, tensor<16x64xbf16>) {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%a) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16> loc("norm")
  %later = "aten.add"(%a, %q) : (tensor<16x64xbf16>, tensor<16x64xbf16>) -> tensor<16x64xbf16>
  return %o0, %later : tensor<16x64xbf16>, tensor<16x64xbf16>
}

// -----

// The residual add in bf16 (either order): the new residual is the fused
// op's second result, for every later reader of the sum.
// CHECK-LABEL: func.func @residual
// CHECK-NEXT: %[[F:.*]]:2 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %arg2, %arg1) {{.*}}weight_bias = 1.000000e+00
// CHECK-NEXT: %[[G:.*]]:2 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg3, %[[F]]#1, %arg1) {{.*}}weight_bias = 1.000000e+00
// CHECK-NEXT: return %[[F]]#0, %[[G]]#0, %[[G]]#1
// CHECK-NOT: aten.
func.func @residual(%p: tensor<16x64xbf16>, %w: tensor<64xbf16>, %res: tensor<16x64xbf16>, %p2: tensor<16x64xbf16>) -> (tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16x64xbf16>) {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %z = "aten.add"(%a, %res) : (tensor<16x64xbf16>, tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%z) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16> loc("norm")
  %b = "vllm.all_reduce"(%p2) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %z2 = "aten.add"(%z, %b) : (tensor<16x64xbf16>, tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf1 = "aten.convert_element_type"(%z2) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq1 = "aten.pow_scalar"(%zf1) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m1 = "aten.mean"(%sq1) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e1 = "aten.add_scalar"(%m1) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r1 = "aten.rsqrt"(%e1) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n1 = "aten.mul"(%zf1, %r1) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf1 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb1 = "aten.add_scalar"(%wf1) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y1 = "aten.mul"(%n1, %wb1) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o1 = "aten.convert_element_type"(%y1) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16> loc("norm")
  return %o0, %o1, %z2 : tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16x64xbf16>
}

// -----

// Not a Gemma norm: a weight of 2 + w (the multiply stays decomposed).
// CHECK-LABEL: func.func @not_one_plus_w
// CHECK-NEXT: "vllm.all_reduce"
// CHECK-NOT: flashinfer
func.func @not_one_plus_w(%p: tensor<16x64xbf16>, %w: tensor<64xbf16>) -> tensor<16x64xbf16> {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%a) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 2.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16> loc("norm")
  return %o0 : tensor<16x64xbf16>
}

// -----

// No all-reduce in front: a Gemma norm alone is not this pass's.
// CHECK-LABEL: func.func @no_all_reduce
// CHECK-NOT: flashinfer
func.func @no_all_reduce(%x: tensor<16x64xbf16>, %w: tensor<64xbf16>) -> tensor<16x64xbf16> {
  %zf0 = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16> loc("norm")
  return %o0 : tensor<16x64xbf16>
}

// -----

// The all-reduced rows also read before the residual add consumes them:
// the kernel takes them whole.
// CHECK-LABEL: func.func @all_reduce_read_twice
// CHECK-NOT: flashinfer
func.func @all_reduce_read_twice(%p: tensor<16x64xbf16>, %w: tensor<64xbf16>, %res: tensor<16x64xbf16>) -> (tensor<16x64xbf16>, tensor<16x64xbf16>) {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %z = "aten.add"(%a, %res) : (tensor<16x64xbf16>, tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%z) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16> loc("norm")
  return %o0, %a : tensor<16x64xbf16>, tensor<16x64xbf16>
}

// -----

// An intermediate of the norm read elsewhere: the chain stays.
// CHECK-LABEL: func.func @intermediate_read
// CHECK-NEXT: "vllm.all_reduce"
// CHECK-NOT: flashinfer
func.func @intermediate_read(%p: tensor<16x64xbf16>, %w: tensor<64xbf16>) -> (tensor<16x64xbf16>, tensor<16x64xf32>) {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%a) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16> loc("norm")
  return %o0, %n0 : tensor<16x64xbf16>, tensor<16x64xf32>
}

// -----

// A static FP8 quant after the Gemma norm stays separate (pattern 1; vLLM
// fuses no quant after these).
// CHECK-LABEL: func.func @quant_after
// CHECK-NEXT: %[[Z:.*]] = "aten.full"
// CHECK-NEXT: %[[F:.*]]:2 = "vllm.flashinfer_trtllm_fused_allreduce_norm"({{.*}}pattern_code = 1 : i64{{.*}}weight_bias = 1.000000e+00
// CHECK-NEXT: "vllm.static_scaled_fp8_quant"(%[[F]]#0, %arg2)
func.func @quant_after(%p: tensor<16x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>) -> tensor<16x64xf8E4M3FN> {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%a) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16> loc("norm")
  %q = "vllm.static_scaled_fp8_quant"(%o0, %s) : (tensor<16x64xbf16>, tensor<f32>) -> tensor<16x64xf8E4M3FN>
  return %q : tensor<16x64xf8E4M3FN>
}

// -----

// A broadcast bias added to the all-reduced rows is not a residual add: the
// norm reads the sum, not the all-reduce, so nothing fuses.
// CHECK-LABEL: func.func @bias
// CHECK-NEXT: "vllm.all_reduce"
// CHECK-NOT: flashinfer
func.func @bias(%p: tensor<16x64xbf16>, %w: tensor<64xbf16>, %b: tensor<64xbf16>) -> (tensor<16x64xbf16>, tensor<16x64xbf16>) {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %z = "aten.add"(%a, %b) : (tensor<16x64xbf16>, tensor<64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%z) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16>
  return %o0, %z : tensor<16x64xbf16>, tensor<16x64xbf16>
}

// -----

// A gated form, norm(x) * (1 + g) with g rows: g is no weight vector.
// CHECK-LABEL: func.func @gated
// CHECK-NEXT: "vllm.all_reduce"
// CHECK-NOT: flashinfer
func.func @gated(%p: tensor<16x64xbf16>, %g: tensor<16x64xbf16>) -> tensor<16x64xbf16> {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%a) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %gf = "aten.convert_element_type"(%g) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %g1 = "aten.add_scalar"(%gf) {other = 1.000000e+00 : f64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %y0 = "aten.mul"(%n0, %g1) : (tensor<16x64xf32>, tensor<16x64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16>
  return %o0 : tensor<16x64xbf16>
}
