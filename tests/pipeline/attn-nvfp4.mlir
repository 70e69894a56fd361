// Attention + NVFP4 output quant on a graph Inductor captured with the token
// count dynamic (python/torch_tests/test_attn_nvfp4.py, which also checks
// eager's bytes): attention into a bf16 buffer, the reshape, vLLM's
// `ops.scaled_fp4_quant` (block scales with round_up(T, 128) rows, SymInt
// arithmetic), the FP8 view of the scales. One in-place attention remains,
// writing the packed values and the block scales with the global scale as
// its output_scale; the scales' buffer is sized by the graph's arithmetic
// (symbolic) or its value (200 tokens: 256 rows).
// The attention reads the KV-cache update's result (vLLM main's
// kv_cache_dummy_dep), which the fused attention keeps.
// RUN: vllm-opt %S/inputs/attn_nvfp4_inductor.json --config '{"enable_attn_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=SYM
// RUN: vllm-opt %S/inputs/attn_nvfp4_inductor.json --config '{"enable_attn_fusion": true, "eliminate_noops": true}' --runtime-shape 200 | FileCheck %s --check-prefix=T200
// Fusion off: attention, then the quant.
// RUN: vllm-opt %S/inputs/attn_nvfp4_inductor.json --config '{"eliminate_noops": true}' | FileCheck %s --check-prefix=OFF
// Exported to FX, the attention's keyword call with both buffers, no quant.
// RUN: vllm-opt %S/inputs/attn_nvfp4_inductor.json --config '{"enable_attn_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=JSON

// SYM: %[[D:.*]] = "torch.operator"(%arg3, %arg5) {{.*}}target = "torch.ops.vllm.unified_kv_cache_update.default"
// SYM: %[[P:.*]] = "torch.operator"({{.*}}target = "operator.mul"
// SYM: %[[O:.*]] = "aten.empty"(%arg0) {dtype = ui8, size = array<i64: -9223372036854775808, 4, 32>}
// SYM: %[[S:.*]] = "aten.full"(%[[P]]) {dtype = f8E4M3FN, fill_value = 0 : i64, size = array<i64: -9223372036854775808, 16>}
// SYM: "vllm.unified_attention_with_output_"(%arg1, %arg3, %arg5, %[[O]], %arg6, %[[S]], %[[D]]) {layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1>}
// SYM-NOT: scaled_fp4_quant
// SYM-NOT: view.dtype
// SYM: %[[R:.*]] = "aten.reshape"(%[[O]]) {shape = array<i64: -1, 128>} : (tensor<?x4x32xui8>) -> tensor<?x128xui8>
// SYM: return %[[R]], %[[S]]

// T200: "aten.full"() {dtype = f8E4M3FN, fill_value = 0 : i64, size = array<i64: 256, 16>} : () -> tensor<256x16xf8E4M3FN>
// T200: "vllm.unified_attention_with_output_"({{.*}} : (tensor<200x4x64xbf16>, tensor<200x2x64xbf16>, tensor<200x2x64xbf16>, tensor<200x4x32xui8>, tensor<f32>, tensor<256x16xf8E4M3FN>, tensor<0xbf16>) -> ()

// OFF: "vllm.unified_attention_with_output_"
// OFF: "vllm.scaled_fp4_quant_"
// OFF: "torch.operator"({{.*}}target = "torch.ops.aten.view.dtype"

// JSON: "target":"torch.ops.vllm.unified_attention_with_output.default","args":[],"kwargs":{"query":{"node":"arg1_1"},"key":{"node":"arg3_1"},"value":{"node":"arg5_1"},"output":{"node":"empty"},"output_scale":{"node":"arg6_1"},"output_block_scale":{"node":"full"},"kv_cache_dummy_dep":{"node":"unified_kv_cache_update"},"layer_name":"model.layers.0.self_attn.attn"}
// JSON-NOT: scaled_fp4_quant
