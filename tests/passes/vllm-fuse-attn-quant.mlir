// RUN: vllm-opt %s --split-input-file --vllm-fuse-attn-quant | FileCheck %s

// One rule for every layer: the layer name is an attribute.
// CHECK-LABEL: func.func @fuse_attention_static_quant_every_layer
// CHECK: %[[A:.*]] = "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : {{.*}} -> tensor<?x32x128xf8E4M3FN>
// CHECK: %[[R:.*]] = "aten.reshape"(%[[A]]) {shape = array<i64: -1, 4096>} : (tensor<?x32x128xf8E4M3FN>) -> tensor<?x4096xf8E4M3FN>
// CHECK: "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {layer_name = "model.layers.1.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>}
// CHECK-NOT: static_scaled_fp8_quant
func.func @fuse_attention_static_quant_every_layer(%q: tensor<?x32x128xbf16>, %k: tensor<?x8x128xbf16>, %v: tensor<?x8x128xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<?x32x128xbf16>, tensor<?x8x128xbf16>, tensor<?x8x128xbf16>) -> tensor<?x32x128xbf16>
  %r = "aten.reshape"(%o) {shape = array<i64: -1, 4096>} : (tensor<?x32x128xbf16>) -> tensor<?x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%r, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %o1 = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "model.layers.1.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<?x32x128xbf16>, tensor<?x8x128xbf16>, tensor<?x8x128xbf16>) -> tensor<?x32x128xbf16>
  %r1 = "aten.reshape"(%o1) {shape = array<i64: -1, 4096>} : (tensor<?x32x128xbf16>) -> tensor<?x4096xbf16>
  %x1 = "vllm.static_scaled_fp8_quant"(%r1, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %x, %x1 : tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>
}

// -----

// Without the reshape, on a static shape.
// CHECK-LABEL: func.func @fuse_attention_quant_without_reshape
// CHECK: "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3){{.*}} -> tensor<8x4096xf8E4M3FN>
func.func @fuse_attention_quant_without_reshape(%q: tensor<8x4096xbf16>, %k: tensor<8x1024xbf16>, %v: tensor<8x1024xbf16>, %s: tensor<f32>) -> tensor<8x4096xf8E4M3FN> {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x4096xbf16>, tensor<8x1024xbf16>, tensor<8x1024xbf16>) -> tensor<8x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%o, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  return %x : tensor<8x4096xf8E4M3FN>
}

// -----

// The bf16 attention output is read elsewhere: it must stay bf16.
// CHECK-LABEL: func.func @no_fuse_when_attention_output_has_another_user
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_when_attention_output_has_another_user(%q: tensor<8x4096xbf16>, %k: tensor<8x1024xbf16>, %v: tensor<8x1024xbf16>, %s: tensor<f32>) -> (tensor<8x4096xf8E4M3FN>, tensor<8x4096xbf16>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<8x4096xbf16>, tensor<8x1024xbf16>, tensor<8x1024xbf16>) -> tensor<8x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%o, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  return %x, %o : tensor<8x4096xf8E4M3FN>, tensor<8x4096xbf16>
}

// -----

// Already quantized in the epilogue: nothing to fuse.
// CHECK-LABEL: func.func @no_fuse_when_output_scale_is_set
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_when_output_scale_is_set(%q: tensor<8x4096xbf16>, %k: tensor<8x1024xbf16>, %v: tensor<8x1024xbf16>, %s: tensor<f32>) -> tensor<8x4096xf8E4M3FN> {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v, %s) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<8x4096xbf16>, tensor<8x1024xbf16>, tensor<8x1024xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  %b = "aten.convert_element_type"(%o) {dtype = bf16} : (tensor<8x4096xf8E4M3FN>) -> tensor<8x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%b, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  return %x : tensor<8x4096xf8E4M3FN>
}

// -----

// NVFP4 (vLLM 0.11's AttentionNvfp4QuantPattern): the attention writes the
// packed values ([T, H, D/2] bytes, reshaped to the quant's rows) and the
// block scales as the FP8 view the graph reads; the global scale becomes its
// output_scale. It keeps the view's record (round_up(T, 128) rows) and its
// output's, in bytes.
// CHECK-LABEL: func.func @fuse_attention_nvfp4_quant
// CHECK-NEXT: %[[A:.*]]:2 = "vllm.unified_attention_with_output"(%arg1, %arg2, %arg3, %arg4) {fx.meta = "[null,{\22shape\22:[\22s0\22,4,32],\22dtype\22:\22uint8\22},{\22shape\22:[\22128*((s0 + 127)//128)\22,16]{{.*}}}]", layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>, tensor<f32>) -> (tensor<?x4x32xui8>, tensor<?x16xf8E4M3FN>)
// CHECK-NEXT: %[[R:.*]] = "aten.reshape"(%[[A]]#0) {shape = array<i64: -1, 128>} : (tensor<?x4x32xui8>) -> tensor<?x128xui8>
// CHECK-NEXT: return %[[R]], %[[A]]#1
func.func @fuse_attention_nvfp4_quant(%n: index, %q: tensor<?x4x64xbf16>, %k: tensor<?x2x64xbf16>, %v: tensor<?x2x64xbf16>, %g: tensor<f32>) -> (tensor<?x128xui8>, tensor<?x16xf8E4M3FN>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>, fx.meta = "[null,{\"shape\":[\"s0\",4,64],\"dtype\":\"bfloat16\"}]"} : (tensor<?x4x64xbf16>, tensor<?x2x64xbf16>, tensor<?x2x64xbf16>) -> tensor<?x4x64xbf16>
  %r = "aten.reshape"(%o, %n) {shape = array<i64: -9223372036854775808, 256>} : (tensor<?x4x64xbf16>, index) -> tensor<?x256xbf16>
  %p, %s = "vllm.scaled_fp4_quant"(%r, %g) : (tensor<?x256xbf16>, tensor<f32>) -> (tensor<?x128xui8>, tensor<?x4xi32>)
  %s8 = "torch.operator"(%s) {target = "torch.ops.aten.view.dtype", fx_args = "{\"args\":[{\"operand\":0},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}", fx.meta = "{\"shape\":[\"128*((s0 + 127)//128)\",16],\"dtype\":\"float8_e4m3fn\"}"} : (tensor<?x4xi32>) -> tensor<?x16xf8E4M3FN>
  return %p, %s8 : tensor<?x128xui8>, tensor<?x16xf8E4M3FN>
}

// -----

// vLLM main's quant call (the `.out` overload) with swizzled scales fuses the same way.
// CHECK-LABEL: func.func @fuse_attention_nvfp4_out_quant
// CHECK-NEXT: %[[A:.*]]:2 = "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<16x256xbf16>, tensor<16x128xbf16>, tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x16xf8E4M3FN>)
// CHECK-NEXT: return %[[A]]#0, %[[A]]#1
func.func @fuse_attention_nvfp4_out_quant(%q: tensor<16x256xbf16>, %k: tensor<16x128xbf16>, %v: tensor<16x128xbf16>, %g: tensor<f32>) -> (tensor<16x128xui8>, tensor<128x16xf8E4M3FN>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<16x256xbf16>, tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x256xbf16>
  %p, %s = "vllm.scaled_fp4_quant_out"(%o, %g) {is_sf_swizzled_layout = true} : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  %s8 = "torch.operator"(%s) {target = "torch.ops.aten.view.dtype", fx_args = "{\"args\":[{\"operand\":0},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<128x4xi32>) -> tensor<128x16xf8E4M3FN>
  return %p, %s8 : tensor<16x128xui8>, tensor<128x16xf8E4M3FN>
}

// -----

// Row-major block scales (`is_sf_swizzled_layout = false`): the attention
// writes the swizzled layout only, so nothing fuses.
// CHECK-LABEL: func.func @no_fuse_nvfp4_out_row_major_scales
// CHECK: "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2) {
// CHECK: "vllm.scaled_fp4_quant_out"
func.func @no_fuse_nvfp4_out_row_major_scales(%q: tensor<16x256xbf16>, %k: tensor<16x128xbf16>, %v: tensor<16x128xbf16>, %g: tensor<f32>) -> (tensor<16x128xui8>, tensor<16x16xf8E4M3FN>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<16x256xbf16>, tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x256xbf16>
  %p, %s = "vllm.scaled_fp4_quant_out"(%o, %g) {is_sf_swizzled_layout = false} : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<16x16xui8>)
  %s8 = "torch.operator"(%s) {target = "torch.ops.aten.view.dtype", fx_args = "{\"args\":[{\"operand\":0},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<16x16xui8>) -> tensor<16x16xf8E4M3FN>
  return %p, %s8 : tensor<16x128xui8>, tensor<16x16xf8E4M3FN>
}

// -----

// The block scales are read as int32 (not through the FP8 view vLLM's
// attention writes): nothing fuses.
// CHECK-LABEL: func.func @no_fuse_nvfp4_when_scales_are_read_as_int32
// CHECK: "vllm.scaled_fp4_quant"
func.func @no_fuse_nvfp4_when_scales_are_read_as_int32(%q: tensor<16x256xbf16>, %k: tensor<16x128xbf16>, %v: tensor<16x128xbf16>, %g: tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<16x256xbf16>, tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x256xbf16>
  %p, %s = "vllm.scaled_fp4_quant"(%o, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  return %p, %s : tensor<16x128xui8>, tensor<128x4xi32>
}

// -----

// The bf16 attention output is read elsewhere: it must stay bf16.
// CHECK-LABEL: func.func @no_fuse_nvfp4_when_attention_output_has_another_user
// CHECK: "vllm.scaled_fp4_quant"
func.func @no_fuse_nvfp4_when_attention_output_has_another_user(%q: tensor<16x256xbf16>, %k: tensor<16x128xbf16>, %v: tensor<16x128xbf16>, %g: tensor<f32>) -> (tensor<16x128xui8>, tensor<128x16xf8E4M3FN>, tensor<16x256xbf16>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<16x256xbf16>, tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x256xbf16>
  %p, %s = "vllm.scaled_fp4_quant"(%o, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  %s8 = "torch.operator"(%s) {target = "torch.ops.aten.view.dtype", fx_args = "{\"args\":[{\"operand\":0},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<128x4xi32>) -> tensor<128x16xf8E4M3FN>
  return %p, %s8, %o : tensor<16x128xui8>, tensor<128x16xf8E4M3FN>, tensor<16x256xbf16>
}

// -----

// An NVFP4 quant of something other than attention (a SiLU) stays here.
// CHECK-LABEL: func.func @no_fuse_nvfp4_of_a_silu
// CHECK: "vllm.scaled_fp4_quant"
func.func @no_fuse_nvfp4_of_a_silu(%gu: tensor<16x512xbf16>, %g: tensor<f32>) -> (tensor<16x128xui8>, tensor<128x16xf8E4M3FN>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x512xbf16>) -> tensor<16x256xbf16>
  %p, %s = "vllm.scaled_fp4_quant"(%a, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  %s8 = "torch.operator"(%s) {target = "torch.ops.aten.view.dtype", fx_args = "{\"args\":[{\"operand\":0},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<128x4xi32>) -> tensor<128x16xf8E4M3FN>
  return %p, %s8 : tensor<16x128xui8>, tensor<128x16xf8E4M3FN>
}

// -----

// Multi-head latent attention (DeepSeek; vLLM main's MLA patterns): the same
// rules, static FP8 and NVFP4.
// CHECK-LABEL: func.func @fuse_mla_static_quant
// CHECK-NEXT: %[[A:.*]] = "vllm.unified_mla_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {layer_name = "model.layers.3.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : {{.*}} -> tensor<?x2048xf8E4M3FN>
// CHECK-NEXT: return %[[A]]
func.func @fuse_mla_static_quant(%q: tensor<?x16x192xbf16>, %kv: tensor<?x512xbf16>, %pe: tensor<?x64xbf16>, %s: tensor<f32>) -> tensor<?x2048xf8E4M3FN> {
  %o = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "model.layers.3.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%o, %s) : (tensor<?x2048xbf16>, tensor<f32>) -> tensor<?x2048xf8E4M3FN>
  return %x : tensor<?x2048xf8E4M3FN>
}

// -----

// CHECK-LABEL: func.func @fuse_mla_nvfp4_quant
// CHECK-NEXT: %[[A:.*]]:2 = "vllm.unified_mla_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : {{.*}} -> (tensor<16x1024xui8>, tensor<128x128xf8E4M3FN>)
// CHECK-NEXT: return %[[A]]#0, %[[A]]#1
func.func @fuse_mla_nvfp4_quant(%q: tensor<16x16x192xbf16>, %kv: tensor<16x512xbf16>, %pe: tensor<16x64xbf16>, %g: tensor<f32>) -> (tensor<16x1024xui8>, tensor<128x128xf8E4M3FN>) {
  %o = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<16x16x192xbf16>, tensor<16x512xbf16>, tensor<16x64xbf16>) -> tensor<16x2048xbf16>
  %p, %s = "vllm.scaled_fp4_quant"(%o, %g) : (tensor<16x2048xbf16>, tensor<f32>) -> (tensor<16x1024xui8>, tensor<128x32xi32>)
  %s8 = "torch.operator"(%s) {target = "torch.ops.aten.view.dtype", fx_args = "{\"args\":[{\"operand\":0},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<128x32xi32>) -> tensor<128x128xf8E4M3FN>
  return %p, %s8 : tensor<16x1024xui8>, tensor<128x128xf8E4M3FN>
}

// -----

// The MLA output is read elsewhere: it stays bf16.
// CHECK-LABEL: func.func @no_fuse_mla_when_output_has_another_user
// CHECK: "vllm.static_scaled_fp8_quant"
func.func @no_fuse_mla_when_output_has_another_user(%q: tensor<8x16x192xbf16>, %kv: tensor<8x512xbf16>, %pe: tensor<8x64xbf16>, %s: tensor<f32>) -> (tensor<8x2048xf8E4M3FN>, tensor<8x2048xbf16>) {
  %o = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<8x16x192xbf16>, tensor<8x512xbf16>, tensor<8x64xbf16>) -> tensor<8x2048xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%o, %s) : (tensor<8x2048xbf16>, tensor<f32>) -> tensor<8x2048xf8E4M3FN>
  return %x, %o : tensor<8x2048xf8E4M3FN>, tensor<8x2048xbf16>
}

// -----

// The fused attention keeps its output's record in the quantized type:
// MLA's rows are not its query's shape, so fix-functionalization sizes the
// output buffer by it (python/torch_tests/test_mla_quant.py runs that).
// CHECK-LABEL: func.func @fused_mla_keeps_the_output_record
// CHECK-NEXT: "vllm.unified_mla_attention_with_output"(%arg0, %arg1, %arg2, %arg3) {fx.meta = "[null,{\22shape\22:[\22s0\22,2048],\22dtype\22:\22float8_e4m3fn\22}]", layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>}
func.func @fused_mla_keeps_the_output_record(%q: tensor<?x16x192xbf16>, %kv: tensor<?x512xbf16>, %pe: tensor<?x64xbf16>, %s: tensor<f32>) -> tensor<?x2048xf8E4M3FN> {
  %o = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>, fx.meta = "[null,{\"shape\":[\"s0\",2048],\"dtype\":\"bfloat16\",\"stride\":[2048,1]}]"} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%o, %s) {fx.meta = "[null,{\"shape\":[\"s0\",2048],\"dtype\":\"float8_e4m3fn\"}]"} : (tensor<?x2048xbf16>, tensor<f32>) -> tensor<?x2048xf8E4M3FN>
  return %x : tensor<?x2048xf8E4M3FN>
}

// -----

// vLLM main's attention reads the KV-cache update's result
// (kv_cache_dummy_dep) so that torch.compile keeps the two in order; the
// fused attention keeps that dependency.
// CHECK-LABEL: func.func @fuse_attention_keeps_the_kv_cache_dependency
// CHECK: %[[D:.*]] = "torch.operator"
// CHECK-NEXT: %[[A:.*]] = "vllm.unified_attention_with_output"(%arg0, %arg1, %arg2, %arg3, %[[D]]) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}
// CHECK-NEXT: return %[[A]]
func.func @fuse_attention_keeps_the_kv_cache_dependency(%q: tensor<8x4096xbf16>, %k: tensor<8x1024xbf16>, %v: tensor<8x1024xbf16>, %s: tensor<f32>) -> tensor<8x4096xf8E4M3FN> {
  %d = "torch.operator"(%k, %v) {target = "torch.ops.vllm.unified_kv_cache_update.default", fx_args = "{\"args\":[{\"operand\":0},{\"operand\":1},\"l0\"],\"kwargs\":{}}"} : (tensor<8x1024xbf16>, tensor<8x1024xbf16>) -> tensor<0xbf16>
  %o = "vllm.unified_attention_with_output"(%q, %k, %v, %d) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 1>} : (tensor<8x4096xbf16>, tensor<8x1024xbf16>, tensor<8x1024xbf16>, tensor<0xbf16>) -> tensor<8x4096xbf16>
  %x = "vllm.static_scaled_fp8_quant"(%o, %s) : (tensor<8x4096xbf16>, tensor<f32>) -> tensor<8x4096xf8E4M3FN>
  return %x : tensor<8x4096xf8E4M3FN>
}

// -----

// MLA + per-group FP8 (vLLM main's MLAAttnFp8GroupQuantPattern): the
// attention writes the values and the group scales, with the quant's flags;
// its dependency and `q_dcp_replicated` stay. vLLM 0.11's quant call (no
// layout flags) and UE8M0 scales fuse too (the attention's epilogue rounds them).
// CHECK-LABEL: func.func @fuse_mla_group_quant
// CHECK-NEXT: %[[A:.*]]:2 = "vllm.unified_mla_attention_with_output"(%arg0, %arg1, %arg2, %arg3, %arg4) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1>, quant_col_major = true, quant_group_size = 128 : i64, quant_scale_ue8m0 = false, quant_tma_aligned = false} : {{.*}} -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>)
// CHECK-NEXT: %[[B:.*]]:2 = "vllm.unified_mla_attention_with_output"(%arg0, %arg1, %arg2) {layer_name = "l4", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>, quant_col_major = false, quant_group_size = 64 : i64, quant_scale_ue8m0 = true, quant_tma_aligned = false} : {{.*}} -> (tensor<?x2048xf8E4M3FN>, tensor<?x32xf32>)
// CHECK-NEXT: return %[[A]]#0, %[[A]]#1, %[[B]]#0, %[[B]]#1
func.func @fuse_mla_group_quant(%q: tensor<?x16x192xbf16>, %kv: tensor<?x512xbf16>, %pe: tensor<?x64xbf16>, %dep: tensor<0xbf16>, %qdcp: tensor<?x16x192xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>, tensor<?x2048xf8E4M3FN>, tensor<?x32xf32>) {
  %o = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe, %dep, %qdcp) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 1>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>, tensor<0xbf16>, tensor<?x16x192xbf16>) -> tensor<?x2048xbf16>
  %x, %s = "vllm.per_token_group_fp8_quant"(%o) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>)
  %o2 = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "l4", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %x2, %s2 = "vllm.per_token_group_fp8_quant"(%o2) {group_size = 64 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = true} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x32xf32>)
  return %x, %s, %x2, %s2 : tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>, tensor<?x2048xf8E4M3FN>, tensor<?x32xf32>
}

// -----

// Not fused: regular attention (vLLM has no per-group pattern for it), groups
// of 256 (vLLM registers 64 and 128), another eps, an attention output read
// twice.
// CHECK-LABEL: func.func @no_fuse_group_quant
// CHECK-NOT: quant_group_size
// CHECK: return
func.func @no_fuse_group_quant(%q: tensor<?x32x128xbf16>, %k: tensor<?x8x128xbf16>, %v: tensor<?x8x128xbf16>, %mq: tensor<?x16x192xbf16>, %kv: tensor<?x512xbf16>, %pe: tensor<?x64xbf16>)
    -> (tensor<?x4096xf8E4M3FN>, tensor<?x2048xf8E4M3FN>, tensor<?x2048xf8E4M3FN>, tensor<?x2048xf8E4M3FN>, tensor<?x2048xbf16>) {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>} : (tensor<?x32x128xbf16>, tensor<?x8x128xbf16>, tensor<?x8x128xbf16>) -> tensor<?x32x128xbf16>
  %r = "aten.reshape"(%o) {shape = array<i64: -1, 4096>} : (tensor<?x32x128xbf16>) -> tensor<?x4096xbf16>
  %a, %as = "vllm.per_token_group_fp8_quant"(%r) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %m1 = "vllm.unified_mla_attention_with_output"(%mq, %kv, %pe) {layer_name = "l1", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %b, %bs = "vllm.per_token_group_fp8_quant"(%m1) {group_size = 256 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x8xf32>)
  %m2 = "vllm.unified_mla_attention_with_output"(%mq, %kv, %pe) {layer_name = "l2", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %c, %cs = "vllm.per_token_group_fp8_quant"(%m2) {group_size = 128 : i64, eps = 1.000000e-06 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>)
  %m3 = "vllm.unified_mla_attention_with_output"(%mq, %kv, %pe) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %d, %ds = "vllm.per_token_group_fp8_quant"(%m3) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>)
  return %a, %b, %c, %d, %m3 : tensor<?x4096xf8E4M3FN>, tensor<?x2048xf8E4M3FN>, tensor<?x2048xf8E4M3FN>, tensor<?x2048xf8E4M3FN>, tensor<?x2048xbf16>
}

// -----

// vLLM 0.11's group quant call (no flags) recorded column-major: the attention
// would write rows (no `quant_col_major` to say otherwise).
// CHECK-LABEL: func.func @no_fuse_mla_group_quant_recorded_column_major
// CHECK: "vllm.unified_mla_attention_with_output"(
// CHECK: "vllm.per_token_group_fp8_quant"
func.func @no_fuse_mla_group_quant_recorded_column_major(%q: tensor<?x16x192xbf16>, %kv: tensor<?x512xbf16>, %pe: tensor<?x64xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>) {
  %o = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> tensor<?x2048xbf16>
  %x, %s = "vllm.per_token_group_fp8_quant"(%o) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, fx.meta = "[null,{\"shape\":[\"s0\",2048],\"dtype\":\"float8_e4m3fn\",\"stride\":[2048,1]},{\"shape\":[\"s0\",16],\"dtype\":\"float32\",\"stride\":[1,\"s0\"]}]"} : (tensor<?x2048xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>)
  return %x, %s : tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>
}
