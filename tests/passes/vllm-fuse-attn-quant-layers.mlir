// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-attn-quant{fp8-static-layers=l0,l2 nvfp4-layers=l0 fp8-group128-layers=l3 fp8-group64-layers=}))' --mlir-pass-statistics 2>%t.stats | FileCheck %s
// RUN: FileCheck %s --check-prefix=STATS < %t.stats

// Each rewrite only for the layers listed for its quant (the pipeline's
// `attn_output_quant`: where the layer's attention backend writes it; vLLM's
// FlashAttention writes none). Unlisted layers keep their quant.

// Static FP8: l0 and l2 listed, l1 and a layer without a name not.
// CHECK-LABEL: func.func @static_quant_only_for_listed_layers
// CHECK: "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}
// CHECK: "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2) {layer_name = "l1", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
// CHECK-NEXT: "aten.reshape"
// CHECK-NEXT: "vllm.static_scaled_fp8_quant"
// CHECK: "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2) {layer_name = "", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
// CHECK-NEXT: "aten.reshape"
// CHECK-NEXT: "vllm.static_scaled_fp8_quant"
func.func @static_quant_only_for_listed_layers(%q: tensor<8x32x128xbf16>, %k: tensor<8x8x128xbf16>, %v: tensor<8x8x128xbf16>, %s: tensor<f32>) -> (tensor<8x4096xf8E4M3FN>, tensor<8x4096xf8E4M3FN>, tensor<8x4096xf8E4M3FN>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x32x128xbf16>, tensor<8x8x128xbf16>, tensor<8x8x128xbf16>) -> tensor<8x32x128xbf16>
  %r = "aten.reshape"(%o) {shape = array<i64: -1, 4096>} : (tensor<8x32x128xbf16>) -> tensor<8x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%r, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  %o1 = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l1", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x32x128xbf16>, tensor<8x8x128xbf16>, tensor<8x8x128xbf16>) -> tensor<8x32x128xbf16>
  %r1 = "aten.reshape"(%o1) {shape = array<i64: -1, 4096>} : (tensor<8x32x128xbf16>) -> tensor<8x4096xbf16>
  %x1 = "vllm.static_scaled_fp8_quant"(%r1, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  %o2 = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x32x128xbf16>, tensor<8x8x128xbf16>, tensor<8x8x128xbf16>) -> tensor<8x32x128xbf16>
  %r2 = "aten.reshape"(%o2) {shape = array<i64: -1, 4096>} : (tensor<8x32x128xbf16>) -> tensor<8x4096xbf16>
  %x2 = "vllm.static_scaled_fp8_quant"(%r2, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  return %x, %x1, %x2 : tensor<8x4096xf8E4M3FN>, tensor<8x4096xf8E4M3FN>, tensor<8x4096xf8E4M3FN>
}

// -----

// NVFP4: l0 listed, l1 not.
// CHECK-LABEL: func.func @nvfp4_quant_only_for_listed_layers
// CHECK: "vllm.unified_attention_with_output"(%arg1, %arg2, %arg3, %arg4) {{{.*}}layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}
// CHECK: "vllm.unified_attention_with_output"(%arg1, %arg2, %arg3) {{{.*}}layer_name = "l1", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}
// CHECK: "vllm.scaled_fp4_quant"
func.func @nvfp4_quant_only_for_listed_layers(%n: index, %q: tensor<?x4x64xbf16>, %k: tensor<?x2x64xbf16>, %v: tensor<?x2x64xbf16>, %g: tensor<f32>) -> (tensor<?x128xui8>, tensor<?x16xf8E4M3FN>, tensor<?x128xui8>, tensor<?x16xf8E4M3FN>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>, fx.meta = "[null,{\"shape\":[\"s0\",4,64],\"dtype\":\"bfloat16\"}]"} : (tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>) -> tensor<?x4x64xbf16>
  %r = "aten.reshape"(%o, %n) {shape = array<i64: -9223372036854775808, 256>} : (tensor<?x4x64xbf16>, index) -> tensor<?x256xbf16>
  %p, %s = "vllm.scaled_fp4_quant"(%r, %g) : (tensor<?x256xbf16>, tensor<f32>) -> (tensor<?x128xui8>, tensor<?x4xi32>)
  %s8 = "torch.operator"(%s) {target = "torch.ops.aten.view.dtype", fx_args = "{\"args\":[{\"operand\":0},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}", fx.meta = "{\"shape\":[\"128*((s0 + 127)//128)\",16],\"dtype\":\"float8_e4m3fn\"}"} : (tensor<?x4xi32>) -> tensor<?x16xf8E4M3FN>
  %o1 = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l1", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>, fx.meta = "[null,{\"shape\":[\"s0\",4,64],\"dtype\":\"bfloat16\"}]"} : (tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>) -> tensor<?x4x64xbf16>
  %r1 = "aten.reshape"(%o1, %n) {shape = array<i64: -9223372036854775808, 256>} : (tensor<?x4x64xbf16>, index) -> tensor<?x256xbf16>
  %p1, %s1 = "vllm.scaled_fp4_quant"(%r1, %g) : (tensor<?x256xbf16>, tensor<f32>) -> (tensor<?x128xui8>, tensor<?x4xi32>)
  %s18 = "torch.operator"(%s1) {target = "torch.ops.aten.view.dtype", fx_args = "{\"args\":[{\"operand\":0},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}", fx.meta = "{\"shape\":[\"128*((s0 + 127)//128)\",16],\"dtype\":\"float8_e4m3fn\"}"} : (tensor<?x4xi32>) -> tensor<?x16xf8E4M3FN>
  return %p, %s8, %p1, %s18 : tensor<?x128xui8>, tensor<?x16xf8E4M3FN>, tensor<?x128xui8>, tensor<?x16xf8E4M3FN>
}

// -----

// MLA per-group FP8: groups of 128 listed for l3; no layer writes groups of
// 64 (an empty list: not even a layer with an empty name).
// CHECK-LABEL: func.func @group_quant_only_for_listed_layers_and_group_size
// CHECK: "vllm.unified_mla_attention_with_output"(%arg0, %arg1, %arg2) {layer_name = "l3", {{.*}}quant_group_size = 128 : i64
// CHECK: "vllm.unified_mla_attention_with_output"(%arg0, %arg1, %arg2) {layer_name = "", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>}
// CHECK-NEXT: "vllm.per_token_group_fp8_quant"{{.*}}group_size = 64
// CHECK: "vllm.unified_mla_attention_with_output"(%arg0, %arg1, %arg2) {layer_name = "l4", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>}
// CHECK-NEXT: "vllm.per_token_group_fp8_quant"{{.*}}group_size = 128
func.func @group_quant_only_for_listed_layers_and_group_size(%q: tensor<?x16x192xbf16>, %kv: tensor<?x512xbf16>, %pe: tensor<?x64xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>, tensor<?x2048xf8E4M3FN>, tensor<?x32xf32>, tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>) {
  %o = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %x, %s = "vllm.per_token_group_fp8_quant"(%o) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>)
  %o2 = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %x2, %s2 = "vllm.per_token_group_fp8_quant"(%o2) {group_size = 64 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x32xf32>)
  %o3 = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "l4", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %x3, %s3 = "vllm.per_token_group_fp8_quant"(%o3) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>)
  return %x, %s, %x2, %s2, %x3, %s3 : tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>, tensor<?x2048xf8E4M3FN>, tensor<?x32xf32>, tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>
}

// Three splits: 1 + 1 + 1 fused, 2 + 1 + 2 left for their layer.
// STATS: vllm-fuse-attn-quant
// STATS: (1) attn-group-quant
// STATS: (1) attn-nvfp4-quant
// STATS: (1) attn-static-quant
// STATS: (5) layer-cannot-write
