// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(vllm-specialize-shapes{range=1:2048},func.func(vllm-fuse-allreduce-rms{tp-size=2 max-token-num=2048}))' | FileCheck %s
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(vllm-specialize-shapes{range=1:2048},func.func(vllm-fuse-allreduce-rms{tp-size=2}))' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(vllm-specialize-shapes{range=1:2048},func.func(vllm-fuse-allreduce-rms{tp-size=2 debug-node=busy}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN
// (Symbolic rows within a compile range of at most 2048 tokens: the fused
// kernel's limit holds them; vllm-fuse-allreduce-rms-limit.mlir tests the limit.)
// Below tp 2 there is nothing to fuse (vLLM disables the pass):
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=1}))' | FileCheck %s --check-prefix=TP1
// RUN: not vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2 max-token-num=lots}))' 2>&1 | FileCheck %s --check-prefix=BAD

// TP1-NOT: flashinfer
// BAD: error: vllm-fuse-allreduce-rms: max-token-num 'lots' is not a count
// STATS: vllm-fuse-allreduce-rms
// STATS-NEXT: (4) allreduce-fused-add-rms
// STATS-NEXT: (3) allreduce-rms
// STATS-NEXT: (0) native-gemma-rms
// STATS-NEXT: (1) native-quant
// STATS-NEXT: (2) native-rms
// STATS-NEXT: (0) over-token-limit
// STATS-NEXT: (4) with-static-quant
// EXPLAIN: remark: vllm-fuse-allreduce-rms: the all-reduced value has other readers than the norm
// EXPLAIN: remark: vllm-fuse-allreduce-rms: the residual is the all-reduced value itself

// all_reduce -> fused_add_rms_norm -> static FP8 quant (a middle layer):
// pattern 2; the quant's rows come back as quant_out, the new residual as
// residual_out. Any epsilon.
// CHECK-LABEL: func.func @fused_add_quant
// CHECK-NEXT: %[[F:.*]]:3 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %arg1, %arg2, %arg3) {fp32_acc = true, launch_with_pdl = true, max_token_num = 2048 : i64, pattern_code = 2 : i64, resultSegmentSizes = array<i32: 1, 1, 1, 0>, rms_eps = 1.000000e-03 : f64, weight_bias = 0.000000e+00 : f64, world_size = 2 : i64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>, tensor<f32>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x4096xf8E4M3FN>)
// CHECK-NEXT: return %[[F]]#2, %[[F]]#1
func.func @fused_add_quant(%x: tensor<?x4096xbf16>, %res: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-3 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %q = "vllm.static_scaled_fp8_quant"(%n, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %r : tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>
}

// -----

// The last layer's norm: no quant (pattern 1), the normalized rows come back
// in allreduce_out. A norm read by something besides the quant keeps its
// quant separate.
// CHECK-LABEL: func.func @fused_add_no_quant
// CHECK-NEXT: %[[F:.*]]:2 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %arg1, %arg2) {{.*}}pattern_code = 1 : i64
// CHECK-NEXT: %[[Q:.*]] = "vllm.static_scaled_fp8_quant"(%[[F]]#0, %arg3)
// CHECK-NEXT: return %[[F]]#0, %[[Q]], %[[F]]#1
func.func @fused_add_no_quant(%x: tensor<16x4096xbf16>, %res: tensor<16x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<16x4096xbf16>, tensor<16x4096xf8E4M3FN>, tensor<16x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<16x4096xbf16>) -> tensor<16x4096xbf16>
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>)
  %q = "vllm.static_scaled_fp8_quant"(%n, %s) : (tensor<16x4096xbf16>, tensor<f32>) -> tensor<16x4096xf8E4M3FN>
  return %n, %q, %r : tensor<16x4096xbf16>, tensor<16x4096xf8E4M3FN>, tensor<16x4096xbf16>
}

// -----

// The first layer's norm has no residual: a residual of zeros (sized by the
// symbolic row count), whose new value is the all-reduced rows that the next
// layer reads as its residual.
// CHECK-LABEL: func.func @rms_no_residual
// CHECK-NEXT: %[[N:.*]] = "aten.sym_size"(%arg0) {dim = 0 : i64}
// CHECK-NEXT: %[[Z:.*]] = "aten.full"(%[[N]]) {dtype = bf16, fill_value = 0.000000e+00 : f64, size = array<i64: -9223372036854775808, 4096>} : (index) -> tensor<?x4096xbf16>
// CHECK-NEXT: %[[F:.*]]:3 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %[[Z]], %arg2, %arg3) {{.*}}pattern_code = 2 : i64
// CHECK-NEXT: %[[G:.*]]:3 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg1, %[[F]]#1, %arg2, %arg3) {{.*}}pattern_code = 2 : i64
// CHECK-NEXT: return %[[F]]#2, %[[G]]#2, %[[G]]#1
func.func @rms_no_residual(%x: tensor<?x4096xbf16>, %o: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %n = "vllm.rms_norm"(%a, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%n, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %b = "vllm.all_reduce"(%o) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%b, %a, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %q2 = "vllm.static_scaled_fp8_quant"(%n2, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %q2, %r2 : tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>
}

// -----

// Static rows: the zeros need no symbolic size. No quant: pattern 1.
// CHECK-LABEL: func.func @rms_static
// CHECK-NEXT: %[[Z:.*]] = "aten.full"() {{.*}}size = array<i64: 8, 64>} : () -> tensor<8x64xbf16>
// CHECK-NEXT: %[[F:.*]]:2 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %[[Z]], %arg1) {{.*}}pattern_code = 1 : i64
// CHECK-NEXT: return %[[F]]#0
func.func @rms_static(%x: tensor<8x64xbf16>, %w: tensor<64xbf16>) -> tensor<8x64xbf16> {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n = "vllm.rms_norm"(%a, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  return %n : tensor<8x64xbf16>
}

// -----

// Left alone: an all-reduce with another reader (with a residual, the
// kernel consumes the all-reduced rows); a norm not of an all-reduce; a
// weight of another type; an all-reduced value read before its norm (no
// residual: it would be read before the fused op produces it); an
// all-reduce over another process group than tensor parallelism's.
// CHECK-LABEL: func.func @negatives
// CHECK-NOT: flashinfer
// CHECK: return
func.func @negatives(%x: tensor<8x64xbf16>, %res: tensor<8x64xbf16>, %w: tensor<64xbf16>, %wf: tensor<64xf32>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>) loc("busy")
  %n2 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %b = "vllm.all_reduce"(%res) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n3 = "vllm.rms_norm"(%b, %wf) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xf32>) -> tensor<8x64xbf16>
  %c = "vllm.all_reduce"(%n2) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %early = "aten.neg"(%c) : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n4 = "vllm.rms_norm"(%c, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %d = "vllm.all_reduce"(%x) {group_name = "dp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n5 = "vllm.rms_norm"(%d, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  return %a, %n, %r, %n2, %n3, %early, %n4, %n5 : tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>
}

// -----

// Custom ops off: decomposed norms of the all-reduces (the residual add with
// the all-reduce second, it commutes) and the decomposed static quant after
// the first are raised, then fused.
// CHECK-LABEL: func.func @decomposed
// CHECK: %[[Z:.*]] = "aten.full"()
// CHECK-NEXT: %[[F:.*]]:3 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %[[Z]], %arg2, %arg3) {{.*}}pattern_code = 2 : i64
// CHECK: %[[G:.*]]:2 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg1, %[[F]]#1, %arg2) {{.*}}pattern_code = 1 : i64
// CHECK-NOT: "aten.
// CHECK: return %[[F]]#2, %[[G]]#0
func.func @decomposed(%p0: tensor<8x64xbf16>, %p1: tensor<8x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>) -> (tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %xf0 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sq0 = "aten.pow_scalar"(%xf0) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-05 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n0 = "aten.mul"(%xf0, %r0) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %t0 = "aten.convert_element_type"(%n0) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %y0 = "aten.mul"(%t0, %w) : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %yf0 = "aten.convert_element_type"(%y0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %inv0 = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %qm0 = "aten.mul"(%yf0, %inv0) : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  %qa0 = "aten.clamp_min"(%qm0) {other = -4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %qb0 = "aten.clamp_max"(%qa0) {other = 4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %q0 = "aten.convert_element_type"(%qb0) {dtype = f8E4M3FN} : (tensor<8x64xf32>) -> tensor<8x64xf8E4M3FN>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %rf1 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %xf1 = "aten.convert_element_type"(%a1) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sum1 = "aten.add"(%rf1, %xf1) : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
  %sq1 = "aten.pow_scalar"(%sum1) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m1 = "aten.mean"(%sq1) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e1 = "aten.add_scalar"(%m1) {other = 1.000000e-05 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r1 = "aten.rsqrt"(%e1) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n1 = "aten.mul"(%sum1, %r1) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %t1 = "aten.convert_element_type"(%n1) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %y1 = "aten.mul"(%t1, %w) : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  return %q0, %y1 : tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>
}

// -----

// The all-reduced rows as their own residual (x + x): the fused op would
// read its own result, so it stays.
// CHECK-LABEL: func.func @own_residual
// CHECK-NEXT: "vllm.all_reduce"
// CHECK-NEXT: "vllm.fused_add_rms_norm"
func.func @own_residual(%x: tensor<16x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<16x4096xbf16>) -> tensor<16x4096xbf16>
  %n, %r = "vllm.fused_add_rms_norm"(%a, %a, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>) loc("busy")
  return %n, %r : tensor<16x4096xbf16>, tensor<16x4096xbf16>
}
