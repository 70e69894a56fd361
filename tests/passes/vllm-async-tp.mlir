// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-async-tp{tp-size=2 group-names=tp:0=7,tp:1=9}))' | FileCheck %s
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-async-tp{tp-size=2 group-names=tp:0=7,tp:1=9}))' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-async-tp{tp-size=2 group-names=tp:0=7,tp:1=9 debug-node=mm_bias}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN
// Without the c10d name of a group it would fuse, the pass fails at the collective:
// RUN: not vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-async-tp{tp-size=2 group-names=tp:1=9}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=NONAME
// RUN: not vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-async-tp{group-names=tp:0}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=BADNAMES

// NONAME: error: vllm-async-tp: no c10d process-group name for group 'tp:0': set the pipeline config's c10d_group_names (the pass option group-names='tp:0=NAME') to its device_group.group_name
// BADNAMES: error: vllm-async-tp: group-names entry 'tp:0' is not GROUP=C10D_NAME

// STATS: vllm-async-tp
// STATS-NEXT: (7) all-gather-gemm
// STATS-NEXT: (2) gathered-not-returned
// STATS-NEXT: (3) gemm-reduce-scatter
// STATS-NEXT: (2) gemms-sharing-an-all-gather
// STATS-NEXT: (1) row-wise-scale-sharded

// EXPLAIN: remark: vllm-async-tp: the aten.scaled_mm has a bias

// bf16: mm + reduce-scatter, all-gather + mm. The reduce is a sum; the
// group is the c10d name. Only the GEMM reads the gathered rows: torch need
// not return them (return_A = false; its multimem path needs that).
// CHECK-LABEL: func.func @bf16_pair
// CHECK: %[[G:.*]]:2 = "vllm.fused_all_gather_matmul"(%arg0, %arg1) {gather_dim = 0 : i64, group_name = "7", return_A = false} : (tensor<128x4096xbf16>, tensor<4096x6144xbf16>) -> (tensor<256x4096xbf16>, tensor<256x6144xbf16>)
// CHECK: %[[R:.*]] = "vllm.fused_matmul_reduce_scatter"(%arg2, %arg3) {group_name = "7", reduce_op = "sum", scatter_dim = 0 : i64} : (tensor<256x2048xbf16>, tensor<2048x4096xbf16>) -> tensor<128x4096xbf16>
// CHECK-NOT: "aten.mm"
// CHECK-NOT: "vllm.all_gather"
// CHECK-NOT: "vllm.reduce_scatter"
// CHECK: return %[[G]]#1, %[[R]]
func.func @bf16_pair(%x: tensor<128x4096xbf16>, %w: tensor<4096x6144xbf16>, %a: tensor<256x2048xbf16>, %wd: tensor<2048x4096xbf16>) -> (tensor<256x6144xbf16>, tensor<128x4096xbf16>) {
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x4096xbf16>) -> tensor<256x4096xbf16>
  %y = "aten.mm"(%g, %w) : (tensor<256x4096xbf16>, tensor<4096x6144xbf16>) -> tensor<256x6144xbf16>
  %d = "aten.mm"(%a, %wd) : (tensor<256x2048xbf16>, tensor<2048x4096xbf16>) -> tensor<256x4096xbf16>
  %r = "vllm.reduce_scatter"(%d) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<128x4096xbf16>
  return %y, %r : tensor<256x6144xbf16>, tensor<128x4096xbf16>
}

// -----

// FP8, per-tensor scales (the tp2 fixture's GEMMs): cutlass_scaled_mm after
// an all-gather of the FP8 rows and before a reduce-scatter; the group
// keeps its own c10d name.
// CHECK-LABEL: func.func @fp8_static
// CHECK: %[[G:.*]]:2 = "vllm.fused_all_gather_scaled_matmul"(%arg0, %arg1, %arg2, %arg3) {biases = [unit], gather_dim = 0 : i64, group_name = "9", operandSegmentSizes = array<i32: 1, 1, 1, 1>, out_dtypes = [bf16], result_scales = [unit], use_fast_accum = [false]} : (tensor<64x4096xf8E4M3FN>, tensor<4096x6144xf8E4M3FN>, tensor<f32>, tensor<f32>) -> (tensor<128x4096xf8E4M3FN>, tensor<128x6144xbf16>)
// CHECK: %[[R:.*]] = "vllm.fused_scaled_matmul_reduce_scatter"(%arg4, %arg5, %arg2, %arg3) {group_name = "9", orig_scatter_dim = 0 : i64, out_dtype = bf16, output_shape = array<i64: 128, 4096>, reduce_op = "sum", scatter_dim_after_maybe_reshape = 0 : i64} : (tensor<128x2048xf8E4M3FN>, tensor<2048x4096xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<64x4096xbf16>
// CHECK-NOT: "vllm.cutlass_scaled_mm"
// CHECK: return %[[G]]#1, %[[R]]
func.func @fp8_static(%x: tensor<64x4096xf8E4M3FN>, %w: tensor<4096x6144xf8E4M3FN>, %sa: tensor<f32>, %sb: tensor<f32>, %a: tensor<128x2048xf8E4M3FN>, %wd: tensor<2048x4096xf8E4M3FN>) -> (tensor<128x6144xbf16>, tensor<64x4096xbf16>) {
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:1"} : (tensor<64x4096xf8E4M3FN>) -> tensor<128x4096xf8E4M3FN>
  %y = "vllm.cutlass_scaled_mm"(%g, %w, %sa, %sb) : (tensor<128x4096xf8E4M3FN>, tensor<4096x6144xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x6144xbf16>
  %d = "vllm.cutlass_scaled_mm"(%a, %wd, %sa, %sb) : (tensor<128x2048xf8E4M3FN>, tensor<2048x4096xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x4096xbf16>
  %r = "vllm.reduce_scatter"(%d) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:1"} : (tensor<128x4096xbf16>) -> tensor<64x4096xbf16>
  return %y, %r : tensor<128x6144xbf16>, tensor<64x4096xbf16>
}

// -----

// Per-token FP8 after sequence parallelism: the FP8 rows and their row
// scales are all-gathered side by side. The fused op takes the shard's
// scale ([64, 1], which it gathers with the rows), and the scale's
// all-gather goes. The gathered rows have another reader: it reads the
// fused op's gathered result.
// CHECK-LABEL: func.func @fp8_per_token
// CHECK-NOT: "vllm.all_gather"
// CHECK: %[[G:.*]]:2 = "vllm.fused_all_gather_scaled_matmul"(%arg0, %arg2, %arg1, %arg3) {{.*}} : (tensor<64x4096xf8E4M3FN>, tensor<4096x6144xf8E4M3FN>, tensor<64x1xf32>, tensor<1x6144xf32>) -> (tensor<128x4096xf8E4M3FN>, tensor<128x6144xbf16>)
// CHECK-NOT: "vllm.all_gather"
// CHECK: return %[[G]]#1, %[[G]]#0
func.func @fp8_per_token(%x: tensor<64x4096xf8E4M3FN>, %s: tensor<64x1xf32>, %w: tensor<4096x6144xf8E4M3FN>, %sb: tensor<1x6144xf32>) -> (tensor<128x6144xbf16>, tensor<128x4096xf8E4M3FN>) {
  %gs = "vllm.all_gather"(%s) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<64x1xf32>) -> tensor<128x1xf32>
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<64x4096xf8E4M3FN>) -> tensor<128x4096xf8E4M3FN>
  %y = "vllm.cutlass_scaled_mm"(%g, %w, %gs, %sb) : (tensor<128x4096xf8E4M3FN>, tensor<4096x6144xf8E4M3FN>, tensor<128x1xf32>, tensor<1x6144xf32>) -> tensor<128x6144xbf16>
  return %y, %g : tensor<128x6144xbf16>, tensor<128x4096xf8E4M3FN>
}

// -----

// PyTorch's own _scaled_mm fuses the same way.
// CHECK-LABEL: func.func @torch_scaled_mm
// CHECK: "vllm.fused_all_gather_scaled_matmul"(%arg0, %arg1, %arg2, %arg3)
// CHECK: "vllm.fused_scaled_matmul_reduce_scatter"(%arg4, %arg1, %arg2, %arg3) {{.*}} out_dtype = f16
func.func @torch_scaled_mm(%x: tensor<64x4096xf8E4M3FN>, %w: tensor<4096x4096xf8E4M3FN>, %sa: tensor<f32>, %sb: tensor<f32>, %a: tensor<128x4096xf8E4M3FN>) -> (tensor<128x4096xbf16>, tensor<64x4096xf16>) {
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<64x4096xf8E4M3FN>) -> tensor<128x4096xf8E4M3FN>
  %y = "aten.scaled_mm"(%g, %w, %sa, %sb) {out_dtype = bf16} : (tensor<128x4096xf8E4M3FN>, tensor<4096x4096xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x4096xbf16>
  %d = "aten.scaled_mm"(%a, %w, %sa, %sb) {out_dtype = f16} : (tensor<128x4096xf8E4M3FN>, tensor<4096x4096xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x4096xf16>
  %r = "vllm.reduce_scatter"(%d) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x4096xf16>) -> tensor<64x4096xf16>
  return %y, %r : tensor<128x4096xbf16>, tensor<64x4096xf16>
}

// -----

// An all-gather read by two GEMMs (separate projections): one fused op with
// two `B`s (torch's ops take a list).
// CHECK-LABEL: func.func @two_gemms
// CHECK: %[[G:.*]]:3 = "vllm.fused_all_gather_matmul"(%arg0, %arg1, %arg2) {{.*}} return_A = false} : {{.*}} -> (tensor<256x64xbf16>, tensor<256x32xbf16>, tensor<256x16xbf16>)
// CHECK-NOT: "aten.mm"
// CHECK: return %[[G]]#1, %[[G]]#2
func.func @two_gemms(%x: tensor<128x64xbf16>, %w1: tensor<64x32xbf16>, %w2: tensor<64x16xbf16>) -> (tensor<256x32xbf16>, tensor<256x16xbf16>) {
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x64xbf16>) -> tensor<256x64xbf16>
  %a = "aten.mm"(%g, %w1) : (tensor<256x64xbf16>, tensor<64x32xbf16>) -> tensor<256x32xbf16>
  %b = "aten.mm"(%g, %w2) : (tensor<256x64xbf16>, tensor<64x16xbf16>) -> tensor<256x16xbf16>
  return %a, %b : tensor<256x32xbf16>, tensor<256x16xbf16>
}

// -----

// Scaled: two GEMMs with the same activation scale share one fused op, one
// with another scale reads its gathered rows.
// CHECK-LABEL: func.func @two_scaled_gemms
// CHECK: %[[G:.*]]:3 = "vllm.fused_all_gather_scaled_matmul"(%arg0, %arg1, %arg2, %arg3, %arg4, %arg4) {biases = [unit, unit], gather_dim = 0 : i64, group_name = "7", operandSegmentSizes = array<i32: 1, 2, 1, 2>, out_dtypes = [bf16, bf16], result_scales = [unit, unit], use_fast_accum = [false, false]}
// CHECK: %[[C:.*]] = "vllm.cutlass_scaled_mm"(%[[G]]#0, %arg1, %arg5, %arg4)
// CHECK: return %[[G]]#1, %[[G]]#2, %[[C]]
func.func @two_scaled_gemms(%x: tensor<64x64xf8E4M3FN>, %w1: tensor<64x32xf8E4M3FN>, %w2: tensor<64x16xf8E4M3FN>, %sa: tensor<f32>, %sb: tensor<f32>, %sa2: tensor<f32>) -> (tensor<128x32xbf16>, tensor<128x16xbf16>, tensor<128x32xbf16>) {
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<64x64xf8E4M3FN>) -> tensor<128x64xf8E4M3FN>
  %a = "vllm.cutlass_scaled_mm"(%g, %w1, %sa, %sb) : (tensor<128x64xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x32xbf16>
  %b = "vllm.cutlass_scaled_mm"(%g, %w2, %sa, %sb) : (tensor<128x64xf8E4M3FN>, tensor<64x16xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x16xbf16>
  %c = "vllm.cutlass_scaled_mm"(%g, %w1, %sa2, %sb) : (tensor<128x64xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x32xbf16>
  return %a, %b, %c : tensor<128x32xbf16>, tensor<128x16xbf16>, tensor<128x32xbf16>
}

// -----

// Left alone: a product with another reader; a GEMM with a bias; the
// all-gathered value as the GEMM's second operand; a weight computed after
// the all-gather; f16 with row-wise scales; a collective along dim 1; a
// collective over another world size.
// CHECK-LABEL: func.func @negatives
// CHECK-NOT: fused
// CHECK: return
func.func @negatives(%a: tensor<128x64xbf16>, %w: tensor<64x64xbf16>, %x: tensor<64x64xbf16>,
                     %a8: tensor<128x64xf8E4M3FN>, %w8: tensor<64x64xf8E4M3FN>, %s: tensor<f32>, %bias: tensor<64xbf16>,
                     %x8: tensor<64x64xf8E4M3FN>, %st: tensor<128x1xf32>, %sc: tensor<1x64xf32>, %a2: tensor<64x128xbf16>)
    -> (tensor<64x64xbf16>, tensor<128x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<128x64xbf16>, tensor<128x64xf16>, tensor<64x128xbf16>, tensor<32x64xbf16>) {
  %p = "aten.mm"(%a, %w) : (tensor<128x64xbf16>, tensor<64x64xbf16>) -> tensor<128x64xbf16>
  %r = "vllm.reduce_scatter"(%p) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x64xbf16>) -> tensor<64x64xbf16>
  %pb = "aten.scaled_mm"(%a8, %w8, %s, %s, %bias) {out_dtype = bf16} : (tensor<128x64xf8E4M3FN>, tensor<64x64xf8E4M3FN>, tensor<f32>, tensor<f32>, tensor<64xbf16>) -> tensor<128x64xbf16> loc("mm_bias")
  %rb = "vllm.reduce_scatter"(%pb) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x64xbf16>) -> tensor<64x64xbf16> loc("mm_bias")
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<64x64xbf16>) -> tensor<128x64xbf16>
  %m2 = "aten.mm"(%a2, %g) : (tensor<64x128xbf16>, tensor<128x64xbf16>) -> tensor<64x64xbf16>
  %g2 = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<64x64xbf16>) -> tensor<128x64xbf16>
  %wl = "aten.mm"(%w, %w) : (tensor<64x64xbf16>, tensor<64x64xbf16>) -> tensor<64x64xbf16>
  %m3 = "aten.mm"(%g2, %wl) : (tensor<128x64xbf16>, tensor<64x64xbf16>) -> tensor<128x64xbf16>
  %g3 = "vllm.all_gather"(%x8) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<64x64xf8E4M3FN>) -> tensor<128x64xf8E4M3FN>
  %m4 = "vllm.cutlass_scaled_mm"(%g3, %w8, %st, %sc) : (tensor<128x64xf8E4M3FN>, tensor<64x64xf8E4M3FN>, tensor<128x1xf32>, tensor<1x64xf32>) -> tensor<128x64xf16>
  %g4 = "vllm.all_gather"(%x) {dim = 1 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<64x64xbf16>) -> tensor<64x128xbf16>
  %p5 = "aten.mm"(%a, %w) : (tensor<128x64xbf16>, tensor<64x64xbf16>) -> tensor<128x64xbf16>
  %r5 = "vllm.reduce_scatter"(%p5) {dim = 0 : i64, world_size = 4 : i64, group_name = "tp:0"} : (tensor<128x64xbf16>) -> tensor<32x64xbf16>
  return %r, %p, %rb, %m2, %m3, %m4, %g4, %r5 : tensor<64x64xbf16>, tensor<128x64xbf16>, tensor<64x64xbf16>, tensor<64x64xbf16>, tensor<128x64xbf16>, tensor<128x64xf16>, tensor<64x128xbf16>, tensor<32x64xbf16>
}

// -----

// The gathered rows have another reader (the residual here): torch must
// return them (return_A = true), and that reader reads them from the fused op.
// CHECK-LABEL: func.func @gathered_also_read
// CHECK: %[[G:.*]]:2 = "vllm.fused_all_gather_matmul"(%arg0, %arg1) {gather_dim = 0 : i64, group_name = "7", return_A = true}
// CHECK: %[[S:.*]] = "aten.add"(%[[G]]#0, %arg2)
// CHECK: return %[[G]]#1, %[[S]]
func.func @gathered_also_read(%x: tensor<128x64xbf16>, %w: tensor<64x32xbf16>, %r: tensor<256x64xbf16>) -> (tensor<256x32xbf16>, tensor<256x64xbf16>) {
  %g = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x64xbf16>) -> tensor<256x64xbf16>
  %y = "aten.mm"(%g, %w) : (tensor<256x64xbf16>, tensor<64x32xbf16>) -> tensor<256x32xbf16>
  %s = "aten.add"(%g, %r) : (tensor<256x64xbf16>, tensor<256x64xbf16>) -> tensor<256x64xbf16>
  return %y, %s : tensor<256x32xbf16>, tensor<256x64xbf16>
}
