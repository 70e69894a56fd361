// The graph does not say which vLLM runs it; a running vLLM may lack a fused
// kernel (vLLM 0.11 has no `rms_norm_per_block_quant` nor
// `silu_and_mul_per_block_quant`, whose calls would then fail to resolve).
// The config's `unavailable_ops` (which VllmOptPass fills in from the live
// op registry) turns off each fusion whose fused op is one: here the
// per-block norm, while SiLU + per-block quant still fuses. On the graph of
// per-group-main.mlir.
// RUN: vllm-opt %S/inputs/per_group_main_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true, "unavailable_ops": ["torch.ops._C.rms_norm_per_block_quant.default"]}' | FileCheck %s
// RUN: vllm-opt %S/inputs/per_group_main_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true, "unavailable_ops": ["torch.ops._C.rms_norm_per_block_quant.default"]}' --debug-node auto_functionalized_1 2>&1 >/dev/null | FileCheck %s --check-prefix=WHY
// The q/k-norm + RoPE fusion honours it too (nothing changes, not even the decomposed norms).
// RUN: vllm-opt %S/../passes/inputs/qwen3_qk_norm_rope_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true, "unavailable_ops": ["torch.ops._C.fused_qk_norm_rope.default"]}' | FileCheck %s --check-prefix=QK
// It is part of the cache key.
// RUN: vllm-opt --config '{"enable_fusion": true}' --print-uuid > %t.a
// RUN: vllm-opt --config '{"enable_fusion": true, "unavailable_ops": ["torch.ops._C.rms_norm_per_block_quant.default"]}' --print-uuid > %t.b
// RUN: not diff %t.a %t.b
// Only PyTorch targets are taken.
// RUN: not vllm-opt --config '{"unavailable_ops": ["rms_norm_per_block_quant"]}' --print-uuid 2>&1 | FileCheck %s --check-prefix=BAD
// The list of what the fusions may write (what VllmOptPass checks).
// RUN: vllm-opt --print-fused-targets | FileCheck %s --check-prefix=LIST

// CHECK-NOT: vllm.rms_norm_per_block_quant
// CHECK: "vllm.silu_and_mul_per_block_quant_"
// CHECK-NOT: vllm.rms_norm_per_block_quant

// WHY: remark: rule 'rms-per-group-quant' is off: torch.ops._C.rms_norm_per_block_quant.default is not in the running vLLM (unavailable-ops)

// QK-NOT: vllm.fused_qk_norm_rope
// QK: "vllm.rotary_embedding_"
// QK-NOT: vllm.fused_qk_norm_rope

// BAD: error: config: 'unavailable_ops' must be a list of PyTorch op targets

// LIST: torch.ops._C.fused_qk_norm_rope.default
// LIST: torch.ops._C.rms_norm_per_block_quant.default
// LIST: torch.ops._C.silu_and_mul_per_block_quant.default
