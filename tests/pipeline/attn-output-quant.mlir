// Attention + quant fuses only where the layer's attention backend writes
// that quant: vLLM asks each layer (`impl.fused_output_quant_supported`), and
// FlashAttention, its default on Hopper, writes none (given an `output_scale`
// it fails at run time). The graph does not say which backend a layer has;
// the config's `attn_output_quant` does (VllmOptPass fills it in from vLLM's
// layers): quant kind -> the layers that write it, "*" for every layer, a
// kind left out for none. Without the key, every layer writes every quant.
// On the captured two-layer FP8 Llama (static FP8 into o_proj).
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_L2_dyn.json --config '{"enable_fusion": true, "enable_attn_fusion": true, "eliminate_noops": true, "attn_output_quant": {"fp8_static": ["model.layers.1.self_attn.attn"]}}' --pass-summary 2>%t.summary | FileCheck %s --check-prefix=ONE
// RUN: FileCheck %s --check-prefix=ONESUM < %t.summary
// No layer writes one (FlashAttention everywhere): both quants stay.
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_L2_dyn.json --config '{"enable_fusion": true, "enable_attn_fusion": true, "eliminate_noops": true, "attn_output_quant": {"nvfp4": ["*"]}}' | FileCheck %s --check-prefix=NONE
// "*": every layer, as without the key.
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_L2_dyn.json --config '{"enable_fusion": true, "enable_attn_fusion": true, "eliminate_noops": true, "attn_output_quant": {"fp8_static": ["*"]}}' | FileCheck %s --check-prefix=ALL
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_L2_dyn.json --config '{"enable_fusion": true, "enable_attn_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=ALL
// A layer name held by a graph input (torch >= 2.11 hoists vLLM's LayerName)
// is known only at run time: a list of names does not cover it, "*" does.
// RUN: vllm-opt %S/../fx/inputs/layer_name_attention_quant.json --config '{"enable_attn_fusion": true, "eliminate_noops": true, "attn_output_quant": {"fp8_static": ["model.layers.0.self_attn.attn"]}}' | FileCheck %s --check-prefix=HOISTED
// RUN: vllm-opt %S/../fx/inputs/layer_name_attention_quant.json --config '{"enable_attn_fusion": true, "eliminate_noops": true, "attn_output_quant": {"fp8_static": ["*"]}}' | FileCheck %s --check-prefix=HOISTED-ALL
// The pass's options, which the pipeline sets from the key.
// RUN: vllm-opt --config '{"enable_attn_fusion": true, "attn_output_quant": {"fp8_static": ["b", "a"], "fp8_group64": ["*"]}}' --print-pipeline | FileCheck %s --check-prefix=PIPE
// It is part of the cache key.
// RUN: vllm-opt --config '{"enable_attn_fusion": true}' --print-uuid > %t.a
// RUN: vllm-opt --config '{"enable_attn_fusion": true, "attn_output_quant": {"fp8_static": ["*"]}}' --print-uuid > %t.b
// RUN: not diff %t.a %t.b
// Only the kinds the pass knows, and lists of names.
// RUN: not vllm-opt --config '{"attn_output_quant": {"fp8": ["*"]}}' --print-uuid 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not vllm-opt --config '{"attn_output_quant": {"fp8_static": "*"}}' --print-uuid 2>&1 | FileCheck %s --check-prefix=BAD

// ONE: "vllm.unified_attention_with_output_"({{[^)]*}}) {layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0>}
// ONE: "vllm.static_scaled_fp8_quant_"
// ONE: "vllm.unified_attention_with_output_"({{[^)]*}}) {layer_name = "model.layers.1.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>}
// ONE-NOT: "vllm.static_scaled_fp8_quant_"
// ONE: return

// ONESUM: vllm-fuse-attn-quant {{.*}} attn-static-quant=1 layer-cannot-write=1

// NONE: layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0>
// NONE: "vllm.static_scaled_fp8_quant_"
// NONE: layer_name = "model.layers.1.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0>
// NONE: "vllm.static_scaled_fp8_quant_"

// ALL-NOT: "vllm.static_scaled_fp8_quant_"
// ALL: layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>
// ALL-NOT: "vllm.static_scaled_fp8_quant_"
// ALL: layer_name = "model.layers.1.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>
// ALL-NOT: "vllm.static_scaled_fp8_quant_"

// HOISTED: "vllm.unified_attention_with_output_"{{.*}}layer_name = @arg2_1, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0>
// HOISTED: "vllm.static_scaled_fp8_quant_"

// HOISTED-ALL-NOT: "vllm.static_scaled_fp8_quant_"
// HOISTED-ALL: "vllm.unified_attention_with_output_"{{.*}}layer_name = @arg2_1, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>
// HOISTED-ALL-NOT: "vllm.static_scaled_fp8_quant_"

// PIPE: vllm-fuse-attn-quant{fp8-static-layers=a,b nvfp4-layers= fp8-group128-layers= fp8-group64-layers=*}

// BAD: error: config: 'attn_output_quant' must map quant kinds (fp8_static, nvfp4, fp8_group128, fp8_group64) to lists of layer names
