// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2}))' | FileCheck %s
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=1}))' | FileCheck %s --check-prefix=TP1
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2}))' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: not vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=two}))' 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2 debug-node=fused_add_rms_norm_7}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN

// TP1-NOT: "vllm.reduce_scatter"
// TP1-NOT: "vllm.all_gather"
// BAD: error: vllm-sequence-parallelism: tp-size 'two' is not a count

// Summed over the functions below: the decoder chain shards 1 + 2 norms and
// 2 quants; the second function shards 1 norm and gathers for 1 other
// reader; @another_group shards 1 norm and gathers for the other group's
// norm; the last two shard 1 norm and 1 quant each.
// STATS: vllm-sequence-parallelism
// STATS-NEXT: (2) all-gather-for-other-readers
// STATS-NEXT: (2) fused-add-rms-norm
// STATS-NEXT: (4) quant-sharded
// STATS-NEXT: (5) rms-norm

// The decoder chain of a TP=2 model (the captured tp2 fixture's shape): the
// first layer's input norm, a middle fused add + norm, the last one. The
// residual stream is sharded from the first reduce-scatter on; each static
// quant runs on the shard, so its all-gather moves FP8; the last norm's
// output is gathered as bf16.
// CHECK-LABEL: func.func @decoder_chain
// CHECK: %[[RS0:.*]] = "vllm.reduce_scatter"(%arg0) {dim = 0 : i64, group_name = "tp:0", world_size = 2 : i64} : (tensor<256x4096xbf16>) -> tensor<128x4096xbf16>
// CHECK: %[[N0:.*]] = "vllm.rms_norm"(%[[RS0]], %arg3) {epsilon = 1.000000e-05 : f64} : (tensor<128x4096xbf16>, tensor<4096xbf16>) -> tensor<128x4096xbf16>
// CHECK: %[[Q0:.*]] = "vllm.static_scaled_fp8_quant"(%[[N0]], %arg4) : (tensor<128x4096xbf16>, tensor<f32>) -> tensor<128x4096xf8E4M3FN>
// CHECK: %[[G0:.*]] = "vllm.all_gather"(%[[Q0]]) {dim = 0 : i64, group_name = "tp:0", world_size = 2 : i64} : (tensor<128x4096xf8E4M3FN>) -> tensor<256x4096xf8E4M3FN>
// CHECK: %[[RS1:.*]] = "vllm.reduce_scatter"(%arg1)
// CHECK: %[[F1:.*]]:2 = "vllm.fused_add_rms_norm"(%[[RS1]], %[[RS0]], %arg3) {epsilon = 1.000000e-05 : f64} : (tensor<128x4096xbf16>, tensor<128x4096xbf16>, tensor<4096xbf16>) -> (tensor<128x4096xbf16>, tensor<128x4096xbf16>)
// CHECK: %[[Q1:.*]] = "vllm.static_scaled_fp8_quant"(%[[F1]]#0, %arg4)
// CHECK: %[[G1:.*]] = "vllm.all_gather"(%[[Q1]])
// CHECK: %[[RS2:.*]] = "vllm.reduce_scatter"(%arg2)
// CHECK: %[[F2:.*]]:2 = "vllm.fused_add_rms_norm"(%[[RS2]], %[[F1]]#1, %arg3)
// CHECK: %[[G2:.*]] = "vllm.all_gather"(%[[F2]]#0) {{.*}} : (tensor<128x4096xbf16>) -> tensor<256x4096xbf16>
// CHECK-NOT: all_reduce
// CHECK: return %[[G0]], %[[G1]], %[[G2]]
func.func @decoder_chain(%emb: tensor<256x4096xbf16>, %o: tensor<256x4096xbf16>, %down: tensor<256x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>)
    -> (tensor<256x4096xf8E4M3FN>, tensor<256x4096xf8E4M3FN>, tensor<256x4096xbf16>) {
  %a0 = "vllm.all_reduce"(%emb) {group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %n0 = "vllm.rms_norm"(%a0, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<4096xbf16>) -> tensor<256x4096xbf16>
  %q0 = "vllm.static_scaled_fp8_quant"(%n0, %s) : (tensor<256x4096xbf16>, tensor<f32>) -> tensor<256x4096xf8E4M3FN>
  %a1 = "vllm.all_reduce"(%o) {group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %n1, %r1 = "vllm.fused_add_rms_norm"(%a1, %a0, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<256x4096xbf16>, tensor<4096xbf16>) -> (tensor<256x4096xbf16>, tensor<256x4096xbf16>)
  %q1 = "vllm.static_scaled_fp8_quant"(%n1, %s) : (tensor<256x4096xbf16>, tensor<f32>) -> tensor<256x4096xf8E4M3FN>
  %a2 = "vllm.all_reduce"(%down) {group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%a2, %r1, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<256x4096xbf16>, tensor<4096xbf16>) -> (tensor<256x4096xbf16>, tensor<256x4096xbf16>)
  return %q0, %q1, %n2 : tensor<256x4096xf8E4M3FN>, tensor<256x4096xf8E4M3FN>, tensor<256x4096xbf16>
}

// -----

// The residual stream read by something other than a norm (here returned):
// that reader gets the all-gather of its shard, which equals the all-reduce
// it read (vLLM's patterns would leave it reading a shard). The norm output
// with two readers is gathered before the quant, in bf16.
// CHECK-LABEL: func.func @other_readers_get_an_all_gather
// CHECK: %[[RS:.*]] = "vllm.reduce_scatter"(%arg0)
// CHECK: %[[AR:.*]] = "vllm.all_gather"(%[[RS]]) {{.*}} -> tensor<256x4096xbf16>
// CHECK: %[[N:.*]] = "vllm.rms_norm"(%[[RS]], %arg1)
// CHECK: %[[G:.*]] = "vllm.all_gather"(%[[N]]) {{.*}} : (tensor<128x4096xbf16>) -> tensor<256x4096xbf16>
// CHECK: %[[Q:.*]] = "vllm.static_scaled_fp8_quant"(%[[G]], %arg2) : (tensor<256x4096xbf16>, tensor<f32>)
// CHECK: return %[[Q]], %[[G]], %[[AR]]
func.func @other_readers_get_an_all_gather(%x: tensor<256x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>)
    -> (tensor<256x4096xf8E4M3FN>, tensor<256x4096xbf16>, tensor<256x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %n = "vllm.rms_norm"(%a, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<4096xbf16>) -> tensor<256x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%n, %s) : (tensor<256x4096xbf16>, tensor<f32>) -> tensor<256x4096xf8E4M3FN>
  return %q, %n, %a : tensor<256x4096xf8E4M3FN>, tensor<256x4096xbf16>, tensor<256x4096xbf16>
}

// -----

// A residual no rewritten norm produced cannot be sharded here (which rows
// are this rank's is not in the graph): the site stays an all-reduce, and
// `debug-node` says why.
// EXPLAIN: remark: vllm-sequence-parallelism: the residual is not sharded (no earlier norm of this pass produced it)
// CHECK-LABEL: func.func @unsharded_residual_is_left_alone
// CHECK: "vllm.all_reduce"
// CHECK: "vllm.fused_add_rms_norm"(%{{.*}}, %arg1, %arg2) {{.*}} : (tensor<256x4096xbf16>
// CHECK-NOT: reduce_scatter
func.func @unsharded_residual_is_left_alone(%x: tensor<256x4096xbf16>, %r: tensor<256x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<256x4096xbf16>, tensor<256x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %n, %r2 = "vllm.fused_add_rms_norm"(%a, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<256x4096xbf16>, tensor<4096xbf16>) -> (tensor<256x4096xbf16>, tensor<256x4096xbf16>) loc("fused_add_rms_norm_7")
  return %n, %r2 : tensor<256x4096xbf16>, tensor<256x4096xbf16>
}

// -----

// Rows sharded over one process group are not added to an all-reduce over another.
// CHECK-LABEL: func.func @another_group
// CHECK: "vllm.reduce_scatter"(%arg0) {{.*}}group_name = "tp:0"
// CHECK: "vllm.all_reduce"(%arg1) {group_name = "tp:1"}
// CHECK: "vllm.fused_add_rms_norm"({{.*}} : (tensor<256x4096xbf16>, tensor<256x4096xbf16>
func.func @another_group(%x: tensor<256x4096xbf16>, %y: tensor<256x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<256x4096xbf16>, tensor<256x4096xbf16>, tensor<256x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %n = "vllm.rms_norm"(%a, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<4096xbf16>) -> tensor<256x4096xbf16>
  %b = "vllm.all_reduce"(%y) {group_name = "tp:1"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %m, %r = "vllm.fused_add_rms_norm"(%b, %a, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<256x4096xbf16>, tensor<4096xbf16>) -> (tensor<256x4096xbf16>, tensor<256x4096xbf16>)
  return %n, %m, %r : tensor<256x4096xbf16>, tensor<256x4096xbf16>, tensor<256x4096xbf16>
}

// -----

// Rows not divisible by tp, symbolic rows, and an input that is not an
// all-reduce: nothing to shard.
// CHECK-LABEL: func.func @odd_rows
// CHECK: "vllm.all_reduce"
// CHECK-NEXT: "vllm.rms_norm"(%{{.*}}) {{.*}} -> tensor<255x4096xbf16>
func.func @odd_rows(%x: tensor<255x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<255x4096xbf16> {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<255x4096xbf16>) -> tensor<255x4096xbf16>
  %n = "vllm.rms_norm"(%a, %w) {epsilon = 1.0e-5 : f64} : (tensor<255x4096xbf16>, tensor<4096xbf16>) -> tensor<255x4096xbf16>
  return %n : tensor<255x4096xbf16>
}

// CHECK-LABEL: func.func @symbolic_rows
// CHECK: "vllm.all_reduce"
// CHECK-NEXT: "vllm.rms_norm"(%{{.*}}) {{.*}} -> tensor<?x4096xbf16>
func.func @symbolic_rows(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %n = "vllm.rms_norm"(%a, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %n : tensor<?x4096xbf16>
}

// CHECK-LABEL: func.func @not_an_all_reduce
// CHECK-NOT: reduce_scatter
// CHECK: "vllm.rms_norm"(%arg0, %arg1)
func.func @not_an_all_reduce(%x: tensor<256x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<256x4096xbf16> {
  %n = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<4096xbf16>) -> tensor<256x4096xbf16>
  return %n : tensor<256x4096xbf16>
}

// -----

// A dynamic per-token quant is row-wise too: it runs on the shard and both
// its FP8 rows and its per-row scales are gathered (vLLM keeps the bf16
// all-gather before it).
// CHECK-LABEL: func.func @per_token_quant_runs_on_the_shard
// CHECK: %[[RS:.*]] = "vllm.reduce_scatter"(%arg0)
// CHECK: %[[N:.*]] = "vllm.rms_norm"(%[[RS]], %arg1)
// CHECK: %[[Q:.*]]:2 = "vllm.dynamic_per_token_scaled_fp8_quant"(%[[N]]) : (tensor<128x4096xbf16>) -> (tensor<128x4096xf8E4M3FN>, tensor<128x1xf32>)
// CHECK-DAG: %[[GS:.*]] = "vllm.all_gather"(%[[Q]]#1) {{.*}} : (tensor<128x1xf32>) -> tensor<256x1xf32>
// CHECK-DAG: %[[GQ:.*]] = "vllm.all_gather"(%[[Q]]#0) {{.*}} : (tensor<128x4096xf8E4M3FN>) -> tensor<256x4096xf8E4M3FN>
// CHECK: return %[[GQ]], %[[GS]]
// An unread result gets no all-gather (a collective stays, whoever reads it):
// CHECK-LABEL: func.func @unread_scale_is_not_gathered
// CHECK: "vllm.dynamic_per_token_scaled_fp8_quant"
// CHECK-COUNT-1: "vllm.all_gather"
// CHECK-NOT: "vllm.all_gather"
// CHECK: return
func.func @per_token_quant_runs_on_the_shard(%x: tensor<256x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<256x4096xf8E4M3FN>, tensor<256x1xf32>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %n = "vllm.rms_norm"(%a, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<4096xbf16>) -> tensor<256x4096xbf16>
  %q, %s = "vllm.dynamic_per_token_scaled_fp8_quant"(%n) : (tensor<256x4096xbf16>) -> (tensor<256x4096xf8E4M3FN>, tensor<256x1xf32>)
  return %q, %s : tensor<256x4096xf8E4M3FN>, tensor<256x1xf32>
}

func.func @unread_scale_is_not_gathered(%x: tensor<256x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<256x4096xf8E4M3FN> {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  %n = "vllm.rms_norm"(%a, %w) {epsilon = 1.0e-5 : f64} : (tensor<256x4096xbf16>, tensor<4096xbf16>) -> tensor<256x4096xbf16>
  %q, %s = "vllm.dynamic_per_token_scaled_fp8_quant"(%n) : (tensor<256x4096xbf16>) -> (tensor<256x4096xf8E4M3FN>, tensor<256x1xf32>)
  return %q : tensor<256x4096xf8E4M3FN>
}
