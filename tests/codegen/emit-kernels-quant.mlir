// vllm-opt --emit-kernels for what no fixture reaches: a standalone static
// FP8 quant (nothing to fuse it with), the int8 output of the per-token
// RMSNorm quant (vLLM's W8A8 int8 path), a per-token quant with `scale_ub`
// (its row max clamped to the bound), and the per-tensor dynamic quant: two
// launches, its scale kernel (atomic max into a zeroed scale) `then` the
// static quant kernel, which it shares with the first site.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: FileCheck %s --check-prefix=I8 --input-file %t/rms_norm_dynamic_per_token_quant_i8_h4096_f16.ptx
// RUN: not grep -h "extern .func" %t/static_scaled_fp8_quant_h4096_bf16.ptx %t/rms_norm_dynamic_per_token_quant_i8_h4096_f16.ptx

// LOG: kernels: 4 unique for 5 sites
// CHECK: "name": "static_scaled_fp8_quant_h4096_bf16"
// CHECK: "name": "rms_norm_dynamic_per_token_quant_i8_h4096_f16"
// CHECK: "name": "result",
// CHECK-NEXT: "kind": "ptr",
// CHECK-NEXT: "elem": "i8"
// CHECK: "name": "dynamic_per_token_scaled_fp8_quant_ub_h4096_bf16"
// CHECK: "name": "scale",
// CHECK: "name": "scale_ub",
// CHECK: "name": "dynamic_scaled_fp8_quant_max_h4096_bf16"
// CHECK: "zero_before_launch": [
// CHECK-NEXT: "scale"
// CHECK: "launch": [
// CHECK: "num_tokens": "symbolic",
// CHECK: "then": "static_scaled_fp8_quant_h4096_bf16"
// RUN: FileCheck %s --check-prefix=MAX --input-file %t/dynamic_scaled_fp8_quant_max_h4096_bf16.ptx
// MAX: max.s32
// MAX: atom.global.max.u32

// int8: the reciprocal of the row scale (127 / max), then vLLM's own
// conversion, cvt.rni.sat.s8 (round to nearest even, saturate, NaN -> 0),
// right after the multiply: no clamp or NaN select of its own.
// I8: .visible .entry rms_norm_dynamic_per_token_quant_i8_h4096_f16(
// I8: max.s32
// I8: rcp.rn.f32
// I8: mul.rn.f32 [[Q:%r[0-9]+]],
// I8-NOT: {{selp|setp|min.f32|max.f32}}
// I8: cvt.rni.sat.s8.f32 {{%r[0-9]+}}, [[Q]];
// I8-NOT: cvt.rni.s32.f32
// I8-NOT: cvt.rn.satfinite.e4m3x2

func.func @quant(%x: tensor<?x4096xbf16>, %s: tensor<f32>, %h: tensor<?x4096xf16>, %w: tensor<4096xf16>)
    -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xi8>, tensor<?x1xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xf8E4M3FN>, tensor<1xf32>) {
  %q = "vllm.static_scaled_fp8_quant"(%x, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %i, %is = "vllm.rms_norm_dynamic_per_token_quant"(%h, %w) {epsilon = 1.0e-6 : f64, operandSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x4096xf16>, tensor<4096xf16>) -> (tensor<?x4096xi8>, tensor<?x1xf32>)
  %d, %ds = "vllm.dynamic_per_token_scaled_fp8_quant"(%x, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>)
  %p, %ps = "vllm.dynamic_scaled_fp8_quant"(%x) : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<1xf32>)
  return %q, %i, %is, %d, %ds, %p, %ps : tensor<?x4096xf8E4M3FN>, tensor<?x4096xi8>, tensor<?x1xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x1xf32>, tensor<?x4096xf8E4M3FN>, tensor<1xf32>
}
