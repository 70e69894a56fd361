// Sequence parallelism on decomposed norms (custom ops off, vLLM's default
// under Inductor): the norm's ops are copied onto the shard as they are (no
// change in value), a decomposed static quant that is the norm's only reader
// moves onto the shard with it (the all-gather moves FP8), and the residual
// stream stays sharded from norm to norm.
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2}))' | FileCheck %s
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2}))' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2 debug-node=lonely}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN
// Then the fusion passes fuse norm and quant on the shard:
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2}),func.func(vllm-fuse-rms-quant))' | FileCheck %s --check-prefix=FUSED

// STATS: vllm-sequence-parallelism
// STATS-NEXT: (2) all-gather-for-other-readers
// STATS-NEXT: (2) native-gemma-rms-norm
// STATS-NEXT: (2) native-rms-norm
// STATS-NEXT: (1) quant-sharded
// EXPLAIN: remark: vllm-sequence-parallelism: the residual add is not of an all-reduce and a sharded residual

// CHECK-LABEL: func.func @native_decoder
// CHECK: %[[RS0:.*]] = "vllm.reduce_scatter"(%arg0) {{.*}} -> tensor<128x64xbf16>
// CHECK: %[[XF:.*]] = "aten.convert_element_type"(%[[RS0]]) {dtype = f32} : (tensor<128x64xbf16>) -> tensor<128x64xf32>
// CHECK: "aten.mean"({{.*}} : (tensor<128x64xf32>) -> tensor<128x1xf32>
// CHECK: %[[Y0:.*]] = "aten.mul"(%{{.*}}, %arg2) : (tensor<128x64xbf16>, tensor<64xbf16>) -> tensor<128x64xbf16>
// CHECK: %[[Q0:.*]] = "aten.convert_element_type"(%{{.*}}) {dtype = f8E4M3FN} : (tensor<128x64xf32>) -> tensor<128x64xf8E4M3FN>
// CHECK: %[[G0:.*]] = "vllm.all_gather"(%[[Q0]]) {{.*}} : (tensor<128x64xf8E4M3FN>) -> tensor<256x64xf8E4M3FN>
// CHECK: %[[RS1:.*]] = "vllm.reduce_scatter"(%arg1)
// CHECK-DAG: "aten.convert_element_type"(%[[RS1]]) {dtype = f32}
// CHECK-DAG: "aten.convert_element_type"(%[[RS0]]) {dtype = f32}
// CHECK: %[[SUM:.*]] = "aten.add"({{.*}} : (tensor<128x64xf32>, tensor<128x64xf32>) -> tensor<128x64xf32>
// CHECK: %[[Y1:.*]] = "aten.mul"(%{{.*}}, %arg2) : (tensor<128x64xbf16>, tensor<64xbf16>) -> tensor<128x64xbf16>
// CHECK: %[[G1:.*]] = "vllm.all_gather"(%[[Y1]])
// CHECK: %[[R1:.*]] = "aten.convert_element_type"(%[[SUM]]) {dtype = bf16} : (tensor<128x64xf32>) -> tensor<128x64xbf16>
// CHECK: %[[GR:.*]] = "vllm.all_gather"(%[[R1]])
// CHECK-NOT: "vllm.all_reduce"
// CHECK-NOT: tensor<256x64xf32>
// CHECK: return %[[G0]], %[[G1]], %[[GR]]

// FUSED-LABEL: func.func @native_decoder
// FUSED: %[[RS0:.*]] = "vllm.reduce_scatter"(%arg0)
// FUSED: %[[Q:.*]] = "vllm.rms_norm_static_fp8_quant"(%[[RS0]], %arg2, %arg3) {epsilon = 1.000000e-05 : f64} : (tensor<128x64xbf16>, tensor<64xbf16>, tensor<f32>) -> tensor<128x64xf8E4M3FN>
// FUSED: "vllm.all_gather"(%[[Q]])
func.func @native_decoder(%p0: tensor<256x64xbf16>, %p1: tensor<256x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>)
    -> (tensor<256x64xf8E4M3FN>, tensor<256x64xbf16>, tensor<256x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<256x64xbf16>) -> tensor<256x64xbf16>
  %xf0 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<256x64xbf16>) -> tensor<256x64xf32>
  %sq0 = "aten.pow_scalar"(%xf0) {other = 2 : i64} : (tensor<256x64xf32>) -> tensor<256x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<256x64xf32>) -> tensor<256x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-05 : f64} : (tensor<256x1xf32>) -> tensor<256x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<256x1xf32>) -> tensor<256x1xf32>
  %n0 = "aten.mul"(%xf0, %r0) : (tensor<256x64xf32>, tensor<256x1xf32>) -> tensor<256x64xf32>
  %t0 = "aten.convert_element_type"(%n0) {dtype = bf16} : (tensor<256x64xf32>) -> tensor<256x64xbf16>
  %y0 = "aten.mul"(%t0, %w) : (tensor<256x64xbf16>, tensor<64xbf16>) -> tensor<256x64xbf16>
  %yf0 = "aten.convert_element_type"(%y0) {dtype = f32} : (tensor<256x64xbf16>) -> tensor<256x64xf32>
  %inv0 = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %qm0 = "aten.mul"(%yf0, %inv0) : (tensor<256x64xf32>, tensor<f32>) -> tensor<256x64xf32>
  %qa0 = "aten.clamp_min"(%qm0) {other = -4.480000e+02 : f64} : (tensor<256x64xf32>) -> tensor<256x64xf32>
  %qb0 = "aten.clamp_max"(%qa0) {other = 4.480000e+02 : f64} : (tensor<256x64xf32>) -> tensor<256x64xf32>
  %q0 = "aten.convert_element_type"(%qb0) {dtype = f8E4M3FN} : (tensor<256x64xf32>) -> tensor<256x64xf8E4M3FN>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<256x64xbf16>) -> tensor<256x64xbf16>
  %rf1 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<256x64xbf16>) -> tensor<256x64xf32>
  %xf1 = "aten.convert_element_type"(%a1) {dtype = f32} : (tensor<256x64xbf16>) -> tensor<256x64xf32>
  %sum1 = "aten.add"(%rf1, %xf1) : (tensor<256x64xf32>, tensor<256x64xf32>) -> tensor<256x64xf32>
  %sq1 = "aten.pow_scalar"(%sum1) {other = 2 : i64} : (tensor<256x64xf32>) -> tensor<256x64xf32>
  %m1 = "aten.mean"(%sq1) {dim = array<i64: -1>, keepdim = true} : (tensor<256x64xf32>) -> tensor<256x1xf32>
  %e1 = "aten.add_scalar"(%m1) {other = 1.000000e-05 : f64} : (tensor<256x1xf32>) -> tensor<256x1xf32>
  %r1 = "aten.rsqrt"(%e1) : (tensor<256x1xf32>) -> tensor<256x1xf32>
  %n1 = "aten.mul"(%sum1, %r1) : (tensor<256x64xf32>, tensor<256x1xf32>) -> tensor<256x64xf32>
  %t1 = "aten.convert_element_type"(%n1) {dtype = bf16} : (tensor<256x64xf32>) -> tensor<256x64xbf16>
  %y1 = "aten.mul"(%t1, %w) : (tensor<256x64xbf16>, tensor<64xbf16>) -> tensor<256x64xbf16>
  %res1 = "aten.convert_element_type"(%sum1) {dtype = bf16} : (tensor<256x64xf32>) -> tensor<256x64xbf16>
  return %q0, %y1, %res1 : tensor<256x64xf8E4M3FN>, tensor<256x64xbf16>, tensor<256x64xbf16>
}

// -----

// A residual add whose residual is not sharded (a graph input) stays as it
// is, all-reduce included.
// CHECK-LABEL: func.func @lonely_residual
// CHECK-NOT: "vllm.reduce_scatter"
// CHECK: "vllm.all_reduce"
// CHECK: return
func.func @lonely_residual(%p: tensor<256x64xbf16>, %res: tensor<256x64xbf16>, %w: tensor<64xbf16>) -> tensor<256x64xbf16> {
  %a = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<256x64xbf16>) -> tensor<256x64xbf16>
  %xf = "aten.convert_element_type"(%a) {dtype = f32} : (tensor<256x64xbf16>) -> tensor<256x64xf32>
  %rf = "aten.convert_element_type"(%res) {dtype = f32} : (tensor<256x64xbf16>) -> tensor<256x64xf32>
  %sum = "aten.add"(%xf, %rf) : (tensor<256x64xf32>, tensor<256x64xf32>) -> tensor<256x64xf32>
  %sq = "aten.pow_scalar"(%sum) {other = 2 : i64} : (tensor<256x64xf32>) -> tensor<256x64xf32>
  %m = "aten.mean"(%sq) {dim = array<i64: -1>, keepdim = true} : (tensor<256x64xf32>) -> tensor<256x1xf32>
  %e = "aten.add_scalar"(%m) {other = 1.000000e-05 : f64} : (tensor<256x1xf32>) -> tensor<256x1xf32>
  %r = "aten.rsqrt"(%e) : (tensor<256x1xf32>) -> tensor<256x1xf32>
  %n = "aten.mul"(%sum, %r) : (tensor<256x64xf32>, tensor<256x1xf32>) -> tensor<256x64xf32>
  %t = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<256x64xf32>) -> tensor<256x64xbf16>
  %y = "aten.mul"(%t, %w) : (tensor<256x64xbf16>, tensor<64xbf16>) -> tensor<256x64xbf16> loc("lonely")
  return %y : tensor<256x64xbf16>
}

// -----

// Gemma's norm (weight 1 + w in f32, one rounding; the residual added in
// bf16): the same, the chain copied onto the shard, the residual sum's twin
// read by the next norm.
// CHECK-LABEL: func.func @gemma
// CHECK: %[[S0:.*]] = "vllm.reduce_scatter"(%arg0)
// CHECK: %[[Z0:.*]] = "aten.convert_element_type"(%[[S0]]) {{.*}} -> tensor<8x64xf32>
// CHECK: %[[O0:.*]] = "aten.convert_element_type"({{.*}}) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
// CHECK: "vllm.all_gather"(%[[O0]])
// CHECK: %[[S1:.*]] = "vllm.reduce_scatter"(%arg2)
// CHECK: %[[A1:.*]] = "aten.add"(%[[S1]], %[[S0]]) : (tensor<8x64xbf16>, tensor<8x64xbf16>) -> tensor<8x64xbf16>
// CHECK: "aten.convert_element_type"(%[[A1]]) {{.*}} -> tensor<8x64xf32>
// CHECK-NOT: "vllm.all_reduce"
func.func @gemma(%p0: tensor<16x64xbf16>, %w: tensor<64xbf16>, %p1: tensor<16x64xbf16>) -> (tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf0 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb0 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %wb0) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %z1 = "aten.add"(%a1, %a0) : (tensor<16x64xbf16>, tensor<16x64xbf16>) -> tensor<16x64xbf16>
  %zf1 = "aten.convert_element_type"(%z1) {dtype = f32} : (tensor<16x64xbf16>) -> tensor<16x64xf32>
  %sq1 = "aten.pow_scalar"(%zf1) {other = 2 : i64} : (tensor<16x64xf32>) -> tensor<16x64xf32>
  %m1 = "aten.mean"(%sq1) {dim = array<i64: -1>, keepdim = true} : (tensor<16x64xf32>) -> tensor<16x1xf32>
  %e1 = "aten.add_scalar"(%m1) {other = 1.000000e-06 : f64} : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %r1 = "aten.rsqrt"(%e1) : (tensor<16x1xf32>) -> tensor<16x1xf32>
  %n1 = "aten.mul"(%zf1, %r1) : (tensor<16x64xf32>, tensor<16x1xf32>) -> tensor<16x64xf32>
  %wf1 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %wb1 = "aten.add_scalar"(%wf1) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y1 = "aten.mul"(%n1, %wb1) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32>
  %o1 = "aten.convert_element_type"(%y1) {dtype = bf16} : (tensor<16x64xf32>) -> tensor<16x64xbf16>
  return %o0, %o1, %z1 : tensor<16x64xbf16>, tensor<16x64xbf16>, tensor<16x64xbf16>
}
