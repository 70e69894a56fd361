// vLLM main's graphs hold its IR norms (functional `vllm_ir.rms_norm`,
// `fused_add_rms_norm`) feeding `_C` per-group quants, as its
// RMSNormGroupQuantPattern matches them. On a graph Inductor captured
// (python/torch_tests/test_per_group_main_schema.py, eager's bytes and
// strides): both fuse into `rms_norm_per_block_quant`, column-major scales in
// a transposed buffer, nothing functional left. Fusion off: the IR norms stay
// functional (vLLM's lowering picks their kernels), the quants go in place.
// RUN: vllm-opt %S/inputs/per_group_ir_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' 2>/dev/null | FileCheck %s
// RUN: vllm-opt %S/inputs/per_group_ir_inductor.json --config '{"eliminate_noops": true}' 2>/dev/null | FileCheck %s --check-prefix=OFF

// CHECK: %[[S1:.*]] = "aten.permute"
// CHECK-NEXT: "vllm.rms_norm_per_block_quant_"(%{{.*}}, %arg1, %arg2, %[[S1]]) {{{.*}}is_scale_transposed = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>}
// CHECK: %[[S2:.*]] = "aten.permute"
// CHECK: "vllm.rms_norm_per_block_quant_"(%{{.*}}, %{{.*}}, %arg2, %[[S2]], %{{.*}}) {{{.*}}is_scale_transposed = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1>}
// CHECK-NOT: fx.functional
// CHECK-NOT: per_token_group_fp8_quant

// OFF: "vllm.rms_norm"({{.*}}fx.functional = "torch.ops.vllm_ir.rms_norm.default"
// OFF: "vllm.per_token_group_fp8_quant_"({{.*}}dummy_is_scale_transposed = true
// OFF: "vllm.fused_add_rms_norm"({{.*}}fx.functional = "torch.ops.vllm_ir.fused_add_rms_norm.default"
// OFF: "vllm.per_token_group_fp8_quant_"({{.*}}dummy_is_scale_transposed = true
