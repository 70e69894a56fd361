// RUN: vllm-opt %s --split-input-file --vllm-dce | FileCheck %s
// RUN: vllm-opt %s --split-input-file --vllm-dce --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS

// A dead chain goes in one sweep; the live value and its producers stay.
// CHECK-LABEL: func.func @dead_chain_is_erased
// CHECK-NOT: aten.reshape
// CHECK-NOT: aten.mul
// CHECK: %[[Y:.*]] = "vllm.rms_norm"(%arg0, %arg1)
// CHECK-NEXT: return %[[Y]]
func.func @dead_chain_is_erased(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %0 = "aten.reshape"(%x) {shape = array<i64: -1, 4096>} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %1 = "aten.mul"(%0, %0) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// Ops with effects stay even when unused: a collective must run on every rank,
// an in-place op writes its buffer, and the opaque op may do anything.
// CHECK-LABEL: func.func @no_dce_of_ops_with_effects
// CHECK: "vllm.all_reduce"
// CHECK: "vllm.rms_norm_"
// CHECK: "torch.operator"
func.func @no_dce_of_ops_with_effects(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) {
  %0 = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  "vllm.rms_norm_"(%x, %x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> ()
  %1 = "torch.operator"(%x) {target = "torch.ops.aten.gelu.default", fx_args = "{}"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

// A pure op with one used result out of two stays.
// CHECK-LABEL: func.func @no_dce_when_one_result_is_used
// CHECK: %[[Y:.*]]:2 = "vllm.fused_add_rms_norm"
// CHECK: return %[[Y]]#1
func.func @no_dce_when_one_result_is_used(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %y, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  return %r2 : tensor<?x4096xbf16>
}

// -----

// Upstream ops are left to upstream passes.
// CHECK-LABEL: func.func @upstream_ops_are_not_touched
// CHECK: arith.addi
func.func @upstream_ops_are_not_touched(%a: i64) {
  %0 = arith.addi %a, %a : i64
  return
}

// Over the whole file: the dead chain's two ops and the dead SymInt arithmetic's two.
// STATS: vllm-dce
// STATS-NEXT: (4) num-erased

// -----

// SymInt arithmetic is pure: unread (its buffer sized statically after
// specialization) it goes, a whole chain at once; read, it stays. An
// operator.* target on a tensor is not SymInt arithmetic and stays.
// CHECK-LABEL: func.func @dead_symint_arithmetic_is_erased
// CHECK-NEXT: %[[A:.*]] = "torch.operator"(%arg0) {{.*}}target = "operator.mul"
// CHECK-NEXT: "torch.operator"(%arg1) {{.*}}target = "operator.add"
// CHECK-NEXT: return %[[A]]
func.func @dead_symint_arithmetic_is_erased(%n: index, %x: tensor<?x8xbf16>) -> index {
  %0 = "torch.operator"(%n) {target = "operator.add", fx_args = "{\"args\":[{\"operand\":0},127],\"kwargs\":{}}"} : (index) -> index
  %1 = "torch.operator"(%0) {target = "operator.floordiv", fx_args = "{\"args\":[{\"operand\":0},128],\"kwargs\":{}}"} : (index) -> index
  %live = "torch.operator"(%n) {target = "operator.mul", fx_args = "{\"args\":[{\"operand\":0},2],\"kwargs\":{}}"} : (index) -> index
  %t = "torch.operator"(%x) {target = "operator.add", fx_args = "{\"args\":[{\"operand\":0},1],\"kwargs\":{}}"} : (tensor<?x8xbf16>) -> tensor<?x8xbf16>
  return %live : index
}
