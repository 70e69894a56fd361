// vLLM main on torch >= 2.11 passes attention's `layer_name` as an opaque
// `LayerName` object, which torch.compile hoists into a placeholder; the
// Python exporter writes its value as null (naming its class under
// `meta.opaque`, which readers ignore). Captured by
// python/torch_tests/test_layer_name.py, which also checks eager's bytes.
// The placeholder imports as a `none` argument; a string attribute given it
// names it, `layer_name = @arg4_1`, so the attention imports, converts and
// fuses as with a string, and exports the reference back.
// RUN: vllm-opt %S/inputs/layer_name_opaque.json --config '{"enable_fusion": true, "enable_attn_fusion": true, "eliminate_noops": true}' | FileCheck %s
// RUN: vllm-opt %S/inputs/layer_name_opaque.json --config '{"enable_fusion": true, "enable_attn_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=FX
// The attention and its static FP8 quant: fused, the fused op naming the same input.
// RUN: vllm-opt %S/inputs/layer_name_attention_quant.json --config '{"enable_attn_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=QUANT
// RUN: vllm-opt %S/inputs/layer_name_attention_quant.json --config '{"enable_attn_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=QUANTFX
// A non-string attribute given the opaque input (here the norm's epsilon, edited in)
// cannot hold it: that node stays opaque, with its buffer; the rest imports as before.
// RUN: vllm-opt %S/inputs/opaque_input_non_string.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=NONSTR
// An attribute naming an input the graph does not have is a located error on export.
// RUN: not vllm-opt %s --emit fx-json 2>&1 | FileCheck %s --check-prefix=ERR

// CHECK: func.func @graph_0({{.*}}%arg4: none {fx.meta = "null", fx.name = "arg4_1"})
// CHECK: "vllm.rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %arg2, %arg3)
// CHECK: %[[B:.*]] = "aten.empty"(%arg0) {dtype = bf16
// CHECK: "vllm.unified_attention_with_output_"(%arg1, %arg1, %arg1, %[[B]]) {layer_name = @arg4_1,

// FX: "name":"arg4_1","op":"placeholder","target":"arg4_1","args":[],"kwargs":{},"meta":{"val":null}
// FX: "target":"torch.ops._C.rms_norm_static_fp8_quant.default"
// FX: "target":"torch.ops.vllm.unified_attention_with_output.default","args":[],"kwargs":{{.*}}"layer_name":{"node":"arg4_1"}

// QUANT: func.func @graph_0({{.*}}%arg2: none {fx.meta = "null", fx.name = "arg2_1"}, %arg3: tensor<1xf32>
// QUANT: %[[O:.*]] = "aten.empty"(%arg0) {dtype = f8E4M3FN, size = array<i64: -9223372036854775808, 2, 32>}
// QUANT: "vllm.unified_attention_with_output_"(%[[Q:.*]], %[[Q]], %[[Q]], %[[O]], %arg3) {layer_name = @arg2_1, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>}
// QUANT-NOT: static_scaled_fp8_quant

// QUANTFX: "target":"torch.ops.vllm.unified_attention_with_output.default","args":[],"kwargs":{"query":{"node":"view"},"key":{"node":"view"},"value":{"node":"view"},"output":{"node":"empty"},"output_scale":{"node":"arg3_1"},"layer_name":{"node":"arg2_1"}}

// NONSTR: %[[B:.*]] = "aten.empty"(%arg0) {dtype = bf16
// NONSTR: %[[N:.*]] = "torch.operator"(%[[B]], %arg1, %arg2, %arg4) {{{.*}}target = "torch.ops.higher_order.auto_functionalized"}
// NONSTR: "vllm.static_scaled_fp8_quant_"(%{{.*}}, %[[N]], %arg3)
// NONSTR: "vllm.unified_attention_with_output_"({{.*}}) {layer_name = @arg4_1,

// ERR: error: an attribute names the graph input '@nope', which the graph does not have
func.func @dangling(%q: tensor<4x2x32xbf16>) -> tensor<4x2x32xbf16> {
  %o = "vllm.unified_attention_with_output"(%q, %q, %q) {layer_name = @nope, operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<4x2x32xbf16>, tensor<4x2x32xbf16>, tensor<4x2x32xbf16>) -> tensor<4x2x32xbf16>
  return %o : tensor<4x2x32xbf16>
}
