// RUN: vllm-opt %s --split-input-file --vllm-fuse-attn-quant | FileCheck %s

// One rule for every layer: the layer name is an attribute.
// CHECK-LABEL: func.func @fuse_attention_static_quant_every_layer
// CHECK: %[[A:.*]] = "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {layer_name = "model.layers.0.self_attn.attn"} : {{.*}} -> tensor<?x32x128xf8E4M3FN>
// CHECK: %[[R:.*]] = "aten.reshape"(%[[A]]) {shape = array<i64: -1, 4096>} : (tensor<?x32x128xf8E4M3FN>) -> tensor<?x4096xf8E4M3FN>
// CHECK: "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {layer_name = "model.layers.1.self_attn.attn"}
// CHECK-NOT: static_scaled_fp8_quant
func.func @fuse_attention_static_quant_every_layer(%q: tensor<?x32x128xbf16>, %k: tensor<?x8x128xbf16>, %v: tensor<?x8x128xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "model.layers.0.self_attn.attn"} : (tensor<?x32x128xbf16>, tensor<?x8x128xbf16>, tensor<?x8x128xbf16>) -> tensor<?x32x128xbf16>
  %r = "aten.reshape"(%o) {shape = array<i64: -1, 4096>} : (tensor<?x32x128xbf16>) -> tensor<?x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%r, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %o1 = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "model.layers.1.self_attn.attn"} : (tensor<?x32x128xbf16>, tensor<?x8x128xbf16>, tensor<?x8x128xbf16>) -> tensor<?x32x128xbf16>
  %r1 = "aten.reshape"(%o1) {shape = array<i64: -1, 4096>} : (tensor<?x32x128xbf16>) -> tensor<?x4096xbf16>
  %x1 = "vllm.static_scaled_fp8_quant"(%r1, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %x, %x1 : tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>
}

// -----

// Without the reshape, on a static shape.
// CHECK-LABEL: func.func @fuse_attention_quant_without_reshape
// CHECK: "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3){{.*}} -> tensor<8x4096xf8E4M3FN>
func.func @fuse_attention_quant_without_reshape(%q: tensor<8x4096xbf16>, %k: tensor<8x1024xbf16>, %v: tensor<8x1024xbf16>, %s: tensor<f32>) -> tensor<8x4096xf8E4M3FN> {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0"} : (tensor<8x4096xbf16>, tensor<8x1024xbf16>, tensor<8x1024xbf16>) -> tensor<8x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%o, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  return %x : tensor<8x4096xf8E4M3FN>
}

// -----

// The bf16 attention output is read elsewhere: it must stay bf16.
// CHECK-LABEL: func.func @no_fuse_when_attention_output_has_another_user
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_when_attention_output_has_another_user(%q: tensor<8x4096xbf16>, %k: tensor<8x1024xbf16>, %v: tensor<8x1024xbf16>, %s: tensor<f32>) -> (tensor<8x4096xf8E4M3FN>, tensor<8x4096xbf16>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0"} : (tensor<8x4096xbf16>, tensor<8x1024xbf16>, tensor<8x1024xbf16>) -> tensor<8x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%o, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  return %x, %o : tensor<8x4096xf8E4M3FN>, tensor<8x4096xbf16>
}

// -----

// Already quantized in the epilogue: nothing to fuse.
// CHECK-LABEL: func.func @no_fuse_when_output_scale_is_set
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_when_output_scale_is_set(%q: tensor<8x4096xbf16>, %k: tensor<8x1024xbf16>, %v: tensor<8x1024xbf16>, %s: tensor<f32>) -> tensor<8x4096xf8E4M3FN> {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v, %s) {layer_name = "l0"} : (tensor<8x4096xbf16>, tensor<8x1024xbf16>, tensor<8x1024xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  %b = "aten.convert_element_type"(%o) {dtype = bf16} : (tensor<8x4096xf8E4M3FN>) -> tensor<8x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%b, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  return %x : tensor<8x4096xf8E4M3FN>
}
