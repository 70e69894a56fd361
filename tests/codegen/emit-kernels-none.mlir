// Ops that get no kernel are left out, never a crash: a scalar input (no
// row), an empty row, a row of odd width, f32 activations, a group quant
// with constants the kernel does not bake in (eps 1e-6) and a symbolic row
// width. Each is named, with its count, as not generated (stderr and the
// manifest's `not_generated`): vLLM's own kernels run them.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s
// RUN: FileCheck %s --check-prefix=MANIFEST --input-file %t/manifest.json

// CHECK: kernels: 0 unique for 0 sites
// CHECK-NEXT: not generated (vLLM's own kernels run them; manifest.json: not_generated): vllm.per_token_group_fp8_quant_ (1), vllm.rms_norm_ (2), vllm.static_scaled_fp8_quant_ (3)
// MANIFEST: "kernels": []
// MANIFEST: "not_generated": [
// MANIFEST: "op": "vllm.per_token_group_fp8_quant_",
// MANIFEST-NEXT: "sites": 1
// MANIFEST: "op": "vllm.rms_norm_",
// MANIFEST-NEXT: "sites": 2
// MANIFEST: "op": "vllm.static_scaled_fp8_quant_",
// MANIFEST-NEXT: "sites": 3

func.func @none(%s0: tensor<bf16>, %s: tensor<f32>, %odd: tensor<?x4095xbf16>, %w: tensor<4095xbf16>, %f: tensor<?x4096xf32>, %y: tensor<?x4096xbf16>, %dyn: tensor<?x?xbf16>, %e: tensor<?x0xbf16>, %we: tensor<0xbf16>)
    -> (tensor<f8E4M3FN>, tensor<?x4095xbf16>, tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x?xf8E4M3FN>, tensor<?x0xbf16>) {
  %a = "vllm.static_scaled_fp8_quant"(%s0, %s) : (tensor<bf16>, tensor<f32>) -> tensor<f8E4M3FN>
  %b = "vllm.rms_norm"(%odd, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4095xbf16>, tensor<4095xbf16>) -> tensor<?x4095xbf16>
  %c = "vllm.static_scaled_fp8_quant"(%f, %s) : (tensor<?x4096xf32>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %u8, %us = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-06 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %d = "vllm.static_scaled_fp8_quant"(%dyn, %s) : (tensor<?x?xbf16>, tensor<f32>) -> tensor<?x?xf8E4M3FN>
  %z = "vllm.rms_norm"(%e, %we) {epsilon = 1.0e-6 : f64} : (tensor<?x0xbf16>, tensor<0xbf16>) -> tensor<?x0xbf16>
  return %a, %b, %c, %u8, %us, %d, %z : tensor<f8E4M3FN>, tensor<?x4095xbf16>, tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x?xf8E4M3FN>, tensor<?x0xbf16>
}
