// An op whose value form has several optional results (the all-reduce +
// norm's quant_out and scale_out) imports from auto_functionalized with
// resultSegmentSizes saying which it has: both (NVFP4), the first (FP8).
// Made here by exporting the fused graphs before fix-functionalization.
// RUN: rm -rf %t && mkdir -p %t
// RUN: vllm-opt %s --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2}))' --emit fx-json -o %t/g.json
// RUN: vllm-opt %t/g.json | FileCheck %s

// CHECK: %[[F:.*]]:4 = "vllm.flashinfer_trtllm_fused_allreduce_norm"({{.*}}pattern_code = 3 : i64, resultSegmentSizes = array<i32: 1, 1, 1, 1>{{.*}} -> (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<16x128xui8>, tensor<128x4xi32>)
// CHECK: %[[G:.*]]:3 = "vllm.flashinfer_trtllm_fused_allreduce_norm"({{.*}}pattern_code = 2 : i64, resultSegmentSizes = array<i32: 1, 1, 1, 0>{{.*}} -> (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<16x256xf8E4M3FN>)
// CHECK: return %[[F]]#2, %[[F]]#3, %[[G]]#2
func.func @two_layers(%x: tensor<16x256xbf16>, %x2: tensor<16x256xbf16>, %res: tensor<16x256xbf16>, %w: tensor<256xbf16>, %g: tensor<f32>, %s: tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>, tensor<16x256xf8E4M3FN>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-6 : f64} : (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<256xbf16>) -> (tensor<16x256xbf16>, tensor<16x256xbf16>)
  %q, %sf = "vllm.scaled_fp4_quant"(%n, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  %a2 = "vllm.all_reduce"(%x2) {group_name = "tp:0"} : (tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%a2, %r, %w) {epsilon = 1.0e-6 : f64} : (tensor<16x256xbf16>, tensor<16x256xbf16>, tensor<256xbf16>) -> (tensor<16x256xbf16>, tensor<16x256xbf16>)
  %q2 = "vllm.static_scaled_fp8_quant"(%n2, %s) : (tensor<16x256xbf16>, tensor<f32>) -> tensor<16x256xf8E4M3FN>
  return %q, %sf, %q2 : tensor<16x128xui8>, tensor<128x4xi32>, tensor<16x256xf8E4M3FN>
}
