// vLLM's own fix-functionalization writes some in-place calls positionally
// (`rotary_embedding(positions, query, key, head_size, cos_sin_cache,
// is_neox)`), and their schemas interleave tensors and scalars. The table's
// `schema_order` binds them: both import as the in-place ops (operands and
// attributes where they belong), not as opaque calls, and export by keyword.
// RUN: vllm-opt %S/inputs/positional_plain_calls.json --pass-pipeline='builtin.module()' | FileCheck %s
// RUN: vllm-opt %S/inputs/positional_plain_calls.json --pass-pipeline='builtin.module()' --emit fx-json | FileCheck %s --check-prefix=FX

// CHECK: "vllm.rotary_embedding_"(%arg1, %arg2, %arg3, %arg4) {{{.*}}head_size = 128 : i64, is_neox = true}
// CHECK: "vllm.rms_norm_dynamic_per_token_quant_"(%arg7, %arg5, %arg6, %arg8) {epsilon = 9.9999999999999995E-7 : f64, {{.*}}operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>}
// CHECK-NOT: torch.operator

// FX: "target":"torch.ops._C.rotary_embedding.default","args":[],"kwargs":{"positions":{"node":"positions"},"query":{"node":"query"},"key":{"node":"key"},"cos_sin_cache":{"node":"cos_sin_cache"},"head_size":128,"is_neox":true}
// FX: "target":"torch.ops._C.rms_norm_dynamic_per_token_quant.default","args":[],"kwargs":{"result":{"node":"result"},"input":{"node":"x"},"weight":{"node":"w"},"scale":{"node":"scale"},"scale_ub":null,"residual":null,"epsilon":1e-6}
