// vLLM IR norm calls that `vllm.rms_norm` / `vllm.fused_add_rms_norm` do not
// model stay opaque (unfused, exported as they came): a `variance_size`
// (the variance of a prefix of the row), a weight of another dtype than the
// input (the IR op then multiplies in f32 before rounding, which the
// kernels do not), no weight. Made from the captured graph of
// tests/pipeline/vllm-ir-norms.mlir by changing those arguments.
// RUN: vllm-opt %S/inputs/vllm_ir_unmodeled.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s

// CHECK: %[[A:.*]] = "torch.operator"(%arg1, %arg2) {{{.*}}fx_args = "{\22args\22:[{\22operand\22:0},{\22operand\22:1},1e-6,4],{{.*}}target = "torch.ops.vllm_ir.rms_norm.default"}
// CHECK: "vllm.static_scaled_fp8_quant_"(%{{.*}}, %[[A]], %arg3)
// CHECK: %[[F:.*]]:2 = "torch.operator"(%arg1, %arg4, %arg5) {{{.*}}target = "torch.ops.vllm_ir.fused_add_rms_norm.default"}
// CHECK: "vllm.static_scaled_fp8_quant_"(%{{.*}}, %[[F]]#0, %arg3)
// CHECK: "torch.operator"(%[[F]]#1) {{{.*}}null,1e-6]{{.*}}target = "torch.ops.vllm_ir.rms_norm.default"}
// CHECK-NOT: vllm.rms_norm
// CHECK-NOT: vllm.fused_add_rms_norm
