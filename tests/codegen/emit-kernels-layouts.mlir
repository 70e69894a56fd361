// A kernel writes rows, and per-group scales in the layout its op's flags
// name (`transposed_if`, `tma_aligned_if`). In-place ops whose buffers lie
// otherwise get no kernel (vLLM's own kernels read the strides): a flag
// saying column-major over a row-major buffer, a norm writing a transpose,
// TMA padding over an unpadded transpose. Buffers that match do, and a call
// without a flag its op may have gets the kernel of its buffer's layout.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json

// LOG: kernels: 4 unique for 5 sites
// LOG-NEXT: not generated (vLLM's own kernels run them; manifest.json: not_generated): vllm.per_token_group_fp8_quant_ (2), vllm.rms_norm_ (1)

// CHECK: "name": "per_token_group_fp8_quant_g128_h256_bf16_colmajor"
// CHECK: "name": "per_token_group_fp8_quant_g128_h256_bf16_colmajor_tma"
// CHECK: "name": "rms_norm_h256_bf16"
// CHECK: "name": "rms_norm_per_block_quant_g128_h256_bf16_colmajor_tma"

func.func @layouts(%x: tensor<18x256xbf16>, %w: tensor<256xbf16>) {
  // Column-major flag, transposed buffer: generated.
  %q1 = "aten.empty"() {size = array<i64: 18, 256>, dtype = f8E4M3FN} : () -> tensor<18x256xf8E4M3FN>
  %b1 = "aten.empty"() {size = array<i64: 2, 18>, dtype = f32} : () -> tensor<2x18xf32>
  %s1 = "aten.permute"(%b1) {dims = array<i64: 1, 0>} : (tensor<2x18xf32>) -> tensor<18x2xf32>
  "vllm.per_token_group_fp8_quant_"(%x, %q1, %s1) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false} : (tensor<18x256xbf16>, tensor<18x256xf8E4M3FN>, tensor<18x2xf32>) -> ()
  // Column-major flag, row-major buffer: none.
  %q2 = "aten.empty"() {size = array<i64: 18, 256>, dtype = f8E4M3FN} : () -> tensor<18x256xf8E4M3FN>
  %s2 = "aten.empty"() {size = array<i64: 18, 2>, dtype = f32} : () -> tensor<18x2xf32>
  "vllm.per_token_group_fp8_quant_"(%x, %q2, %s2) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false} : (tensor<18x256xbf16>, tensor<18x256xf8E4M3FN>, tensor<18x2xf32>) -> ()
  // TMA flag, rows padded (18 -> 20): generated.
  %q3 = "aten.empty"() {size = array<i64: 18, 256>, dtype = f8E4M3FN} : () -> tensor<18x256xf8E4M3FN>
  %s3 = "aten.empty_strided"() {size = array<i64: 18, 2>, stride = array<i64: 1, 20>, dtype = f32} : () -> tensor<18x2xf32>
  "vllm.per_token_group_fp8_quant_"(%x, %q3, %s3) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = true} : (tensor<18x256xbf16>, tensor<18x256xf8E4M3FN>, tensor<18x2xf32>) -> ()
  // TMA flag, an unpadded transpose: none.
  %q4 = "aten.empty"() {size = array<i64: 18, 256>, dtype = f8E4M3FN} : () -> tensor<18x256xf8E4M3FN>
  %s4 = "aten.empty_strided"() {size = array<i64: 18, 2>, stride = array<i64: 1, 18>, dtype = f32} : () -> tensor<18x2xf32>
  "vllm.per_token_group_fp8_quant_"(%x, %q4, %s4) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = true} : (tensor<18x256xbf16>, tensor<18x256xf8E4M3FN>, tensor<18x2xf32>) -> ()
  // A norm into rows: generated; into a transpose: none.
  %y1 = "aten.empty"() {size = array<i64: 18, 256>, dtype = bf16} : () -> tensor<18x256xbf16>
  "vllm.rms_norm_"(%y1, %x, %w) {epsilon = 1.000000e-06 : f64} : (tensor<18x256xbf16>, tensor<18x256xbf16>, tensor<256xbf16>) -> ()
  %b5 = "aten.empty"() {size = array<i64: 256, 18>, dtype = bf16} : () -> tensor<256x18xbf16>
  %y2 = "aten.permute"(%b5) {dims = array<i64: 1, 0>} : (tensor<256x18xbf16>) -> tensor<18x256xbf16>
  "vllm.rms_norm_"(%y2, %x, %w) {epsilon = 1.000000e-06 : f64} : (tensor<18x256xbf16>, tensor<18x256xbf16>, tensor<256xbf16>) -> ()
  // A call without the layout flag (vLLM 0.11's): the kernel of its buffer's layout.
  %q6 = "aten.empty"() {size = array<i64: 18, 256>, dtype = f8E4M3FN} : () -> tensor<18x256xf8E4M3FN>
  %b6 = "aten.empty"() {size = array<i64: 2, 18>, dtype = f32} : () -> tensor<2x18xf32>
  %s6 = "aten.permute"(%b6) {dims = array<i64: 1, 0>} : (tensor<2x18xf32>) -> tensor<18x2xf32>
  "vllm.per_token_group_fp8_quant_"(%x, %q6, %s6) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<18x256xbf16>, tensor<18x256xf8E4M3FN>, tensor<18x2xf32>) -> ()
  // vLLM's own fused norm (no padding flag: the padding is in the strides).
  %q7 = "aten.empty"() {size = array<i64: 18, 256>, dtype = f8E4M3FN} : () -> tensor<18x256xf8E4M3FN>
  %s7 = "aten.empty_strided"() {size = array<i64: 18, 2>, stride = array<i64: 1, 20>, dtype = f32} : () -> tensor<18x2xf32>
  "vllm.rms_norm_per_block_quant_"(%q7, %x, %w, %s7) {epsilon = 1.000000e-06 : f64, group_size = 128 : i64, is_scale_transposed = true, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<18x256xf8E4M3FN>, tensor<18x256xbf16>, tensor<256xbf16>, tensor<18x2xf32>) -> ()
  return
}
