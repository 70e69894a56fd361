// All-reduce + RMSNorm + NVFP4 quant (vLLM's SM100 patterns): pattern 3
// (kARResidualRMSNormFP4Quant), the packed rows in quant_out, the block
// scales in scale_out, the global scale as scale_factor. The fused op keeps
// the quant's records, so fix-functionalization sizes the block-scale buffer
// with the graph's round_up(T, 128) rows. Numerics on every rank:
// numerics::sequence_parallelism_keeps_every_ranks_results (tp_nvfp4).
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(vllm-specialize-shapes{range=1:2048},func.func(vllm-fuse-allreduce-rms{tp-size=2}))' | FileCheck %s
// (The caller's input rows are copied before the kernel writes them: remarks on stderr.)
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(vllm-specialize-shapes{range=1:2048},func.func(vllm-fuse-allreduce-rms{tp-size=2},vllm-fix-functionalization,vllm-dce))' 2>/dev/null | FileCheck %s --check-prefix=FIX

// CHECK-LABEL: func.func @fused_add_nvfp4
// CHECK: %[[F:.*]]:4 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg1, %arg2, %arg3, %arg4) {fp32_acc = true, fx.meta = "[null,{{.*}},{\22shape\22:[\22s0\22,2048],\22dtype\22:\22uint8\22},{\22shape\22:[\22128*((s0 + 127)//128)\22,64],\22dtype\22:\22int32\22}]", launch_with_pdl = true, max_token_num = 16384 : i64, pattern_code = 3 : i64, resultSegmentSizes = array<i32: 1, 1, 1, 1>, {{.*}}} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>, tensor<f32>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<?x2048xui8>, tensor<?x64xi32>)
// CHECK-NEXT: return %[[F]]#2, %[[F]]#3, %[[F]]#1

// FIX-LABEL: func.func @fused_add_nvfp4
// FIX: %[[P:.*]] = "torch.operator"(%arg0) {{.*}}target = "operator.mul"
// FIX: %[[Q:.*]] = "aten.empty"({{.*}}) {dtype = ui8
// FIX: %[[S:.*]] = "aten.full"(%[[P]]) {dtype = i32, fill_value = 0 : i64
// FIX: "vllm.flashinfer_trtllm_fused_allreduce_norm_"(%[[X:.*]], %[[R:.*]], %arg3, %[[Q]], %[[S]], %arg4) {{{.*}}operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1>, pattern_code = 3 : i64
// FIX: return %[[Q]], %[[S]], %[[R]]
func.func @fused_add_nvfp4(%n: index {fx.meta = "{\"sym\":\"s0\"}"}, %x: tensor<?x4096xbf16> {fx.meta = "{\"shape\":[\"s0\",4096],\"dtype\":\"bfloat16\"}"}, %res: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %g: tensor<f32>) -> (tensor<?x2048xui8>, tensor<?x64xi32>, tensor<?x4096xbf16>) {
  %p = "torch.operator"(%n) {target = "operator.mul", fx_args = "{\"args\":[{\"operand\":0},128],\"kwargs\":{}}", fx.meta = "{\"sym\":\"128*((s0 + 127)//128)\"}"} : (index) -> index
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0", fx.meta = "{\"shape\":[\"s0\",4096],\"dtype\":\"bfloat16\"}"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %nn, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %q, %s = "vllm.scaled_fp4_quant"(%nn, %g) {fx.meta = "[null,{\"shape\":[\"s0\",2048],\"dtype\":\"uint8\"},{\"shape\":[\"128*((s0 + 127)//128)\",64],\"dtype\":\"int32\"}]"} : (tensor<?x4096xbf16>, tensor<f32>) -> (tensor<?x2048xui8>, tensor<?x64xi32>)
  return %q, %s, %r : tensor<?x2048xui8>, tensor<?x64xi32>, tensor<?x4096xbf16>
}

// -----

// The normalized rows are read besides the quant: the norm fuses without it
// (pattern 1), the quant stays.
// CHECK-LABEL: func.func @nvfp4_norm_read_elsewhere
// CHECK: "vllm.flashinfer_trtllm_fused_allreduce_norm"({{.*}}pattern_code = 1 : i64
// CHECK: "vllm.scaled_fp4_quant"
func.func @nvfp4_norm_read_elsewhere(%x: tensor<16x256xbf16>, %res: tensor<16x256xbf16>, %w: tensor<256xbf16>, %g: tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>, tensor<16x256xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %nn, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-6 : f64} : (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<256xbf16>) -> (tensor<16x256xbf16>, tensor<16x256xbf16>)
  %q, %s = "vllm.scaled_fp4_quant"(%nn, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  return %q, %s, %nn : tensor<16x128xui8>, tensor<128x4xi32>, tensor<16x256xbf16>
}

// -----

// The global scale is computed after the norm: the fused kernel, which runs
// where the all-reduce was, could not read it; the quant stays.
// CHECK-LABEL: func.func @nvfp4_scale_defined_after_the_norm
// CHECK: "vllm.flashinfer_trtllm_fused_allreduce_norm"({{.*}}pattern_code = 1 : i64
// CHECK: "vllm.scaled_fp4_quant"
func.func @nvfp4_scale_defined_after_the_norm(%x: tensor<16x256xbf16>, %res: tensor<16x256xbf16>, %w: tensor<256xbf16>, %g0: tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %nn, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-6 : f64} : (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<256xbf16>) -> (tensor<16x256xbf16>, tensor<16x256xbf16>)
  %g = "aten.mul"(%g0, %g0) : (tensor<f32>, tensor<f32>) -> tensor<f32>
  %q, %s = "vllm.scaled_fp4_quant"(%nn, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  return %q, %s : tensor<16x128xui8>, tensor<128x4xi32>
}

// -----

// vLLM main's quant call (the `.out` overload) with swizzled scales: pattern 3 too.
// CHECK-LABEL: func.func @fused_add_nvfp4_out
// CHECK: %[[F:.*]]:4 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %arg1, %arg2, %arg3) {{.*}}pattern_code = 3 : i64{{.*}} -> (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<16x128xui8>, tensor<128x4xi32>)
// CHECK-NEXT: return %[[F]]#2, %[[F]]#3, %[[F]]#1
func.func @fused_add_nvfp4_out(%x: tensor<16x256xbf16>, %res: tensor<16x256xbf16>, %w: tensor<256xbf16>, %g: tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>, tensor<16x256xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %nn, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-6 : f64} : (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<256xbf16>) -> (tensor<16x256xbf16>, tensor<16x256xbf16>)
  %q, %s = "vllm.scaled_fp4_quant_out"(%nn, %g) {is_sf_swizzled_layout = true} : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  return %q, %s, %r : tensor<16x128xui8>, tensor<128x4xi32>, tensor<16x256xbf16>
}

// -----

// Row-major scales: the fused kernel writes the swizzled layout only; the
// norm fuses with the all-reduce (pattern 1), the quant stays.
// CHECK-LABEL: func.func @fused_add_nvfp4_out_row_major
// CHECK: "vllm.flashinfer_trtllm_fused_allreduce_norm"({{.*}}pattern_code = 1 : i64
// CHECK: "vllm.scaled_fp4_quant_out"({{.*}}is_sf_swizzled_layout = false
func.func @fused_add_nvfp4_out_row_major(%x: tensor<16x256xbf16>, %res: tensor<16x256xbf16>, %w: tensor<256xbf16>, %g: tensor<f32>) -> (tensor<16x128xui8>, tensor<16x16xui8>, tensor<16x256xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %nn, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-6 : f64} : (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<256xbf16>) -> (tensor<16x256xbf16>, tensor<16x256xbf16>)
  %q, %s = "vllm.scaled_fp4_quant_out"(%nn, %g) {is_sf_swizzled_layout = false} : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<16x16xui8>)
  return %q, %s, %r : tensor<16x128xui8>, tensor<16x16xui8>, tensor<16x256xbf16>
}
