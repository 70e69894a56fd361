// vLLM main on torch >= 2.11 passes attention's `layer_name` as an opaque
// `LayerName` object, which torch.compile hoists into a placeholder; the
// Python exporter writes its value as null (naming its class under
// `meta.opaque`, which readers ignore). Captured by
// python/torch_tests/test_layer_name.py, which also checks eager's bytes.
// The placeholder imports as a `none` argument; the attention, whose
// `layer_name` attribute cannot hold it, stays opaque with its buffer (no
// attention fusion on such a graph: set VLLM_USE_LAYERNAME=0 for it); the
// rest of the graph fuses as usual, and the export gives the placeholder
// and the attention back as they came.
// RUN: vllm-opt %S/inputs/layer_name_opaque.json --config '{"enable_fusion": true, "enable_attn_fusion": true, "eliminate_noops": true}' | FileCheck %s
// RUN: vllm-opt %S/inputs/layer_name_opaque.json --config '{"enable_fusion": true, "enable_attn_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=FX

// CHECK: func.func @graph_0({{.*}}%arg4: none {fx.meta = "null", fx.name = "arg4_1"})
// CHECK: "vllm.rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %arg2, %arg3)
// CHECK: %[[B:.*]] = "aten.empty"(%arg0) {dtype = bf16
// CHECK: "torch.operator"(%arg1, %[[B]], %arg4) {{{.*}}target = "torch.ops.higher_order.auto_functionalized"}

// FX: "name":"arg4_1","op":"placeholder","target":"arg4_1","args":[],"kwargs":{},"meta":{"val":null}
// FX: "target":"torch.ops._C.rms_norm_static_fp8_quant.default"
// FX: "target":"torch.ops.higher_order.auto_functionalized","args":[{"op":"torch.ops.vllm.unified_attention_with_output.default"}],"kwargs":{"query":{"node":"arg1_1"},"key":{"node":"arg1_1"},"value":{"node":"arg1_1"},"output":{"node":"empty_2"},"layer_name":{"node":"arg4_1"}
