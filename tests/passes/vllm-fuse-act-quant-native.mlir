// The decomposed SiLU-and-mul (custom ops off) fuses with a native static quant.
// RUN: vllm-opt %s --split-input-file --vllm-fuse-act-quant | FileCheck %s

// CHECK-LABEL: func.func @native_silu_mul_quant
// CHECK-NEXT: %[[Q:.*]] = "vllm.silu_and_mul_quant"(%arg0, %arg1)
// CHECK-NEXT: return %[[Q]]
func.func @native_silu_mul_quant(%gu: tensor<?x28672xbf16>, %s: tensor<f32>) -> tensor<?x14336xf8E4M3FN> {
  %a = "aten.slice"(%gu) {dim = 1 : i64, start = 0 : i64, end = 14336 : i64, step = 1 : i64} : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %af = "aten.convert_element_type"(%a) {dtype = f32} : (tensor<?x14336xbf16>) -> tensor<?x14336xf32>
  %ng = "aten.neg"(%af) : (tensor<?x14336xf32>) -> tensor<?x14336xf32>
  %e = "aten.exp"(%ng) : (tensor<?x14336xf32>) -> tensor<?x14336xf32>
  %d1 = "aten.add_scalar"(%e) {other = 1 : i64} : (tensor<?x14336xf32>) -> tensor<?x14336xf32>
  %sl = "aten.div"(%af, %d1) : (tensor<?x14336xf32>, tensor<?x14336xf32>) -> tensor<?x14336xf32>
  %st = "aten.convert_element_type"(%sl) {dtype = bf16} : (tensor<?x14336xf32>) -> tensor<?x14336xbf16>
  %b = "aten.slice"(%gu) {dim = 1 : i64, start = 14336 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %y = "aten.mul"(%st, %b) : (tensor<?x14336xbf16>, tensor<?x14336xbf16>) -> tensor<?x14336xbf16>
  %yf = "aten.convert_element_type"(%y) {dtype = f32} : (tensor<?x14336xbf16>) -> tensor<?x14336xf32>
  %inv = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %q0 = "aten.mul"(%yf, %inv) : (tensor<?x14336xf32>, tensor<f32>) -> tensor<?x14336xf32>
  %q1 = "aten.clamp_min"(%q0) {other = -4.480000e+02 : f64} : (tensor<?x14336xf32>) -> tensor<?x14336xf32>
  %q2 = "aten.clamp_max"(%q1) {other = 4.480000e+02 : f64} : (tensor<?x14336xf32>) -> tensor<?x14336xf32>
  %q = "aten.convert_element_type"(%q2) {dtype = f8E4M3FN} : (tensor<?x14336xf32>) -> tensor<?x14336xf8E4M3FN>
  return %q : tensor<?x14336xf8E4M3FN>
}

// -----

// aten.silu form with a custom quant.
// CHECK-LABEL: func.func @aten_silu_custom_quant
// CHECK-NEXT: %[[Q:.*]] = "vllm.silu_and_mul_quant"(%arg0, %arg1)
func.func @aten_silu_custom_quant(%gu: tensor<16x256xbf16>, %s: tensor<f32>) -> tensor<16x128xf8E4M3FN> {
  %a = "aten.slice"(%gu) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %sl = "aten.silu"(%a) : (tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %b = "aten.slice"(%gu) {dim = -1 : i64, start = 128 : i64, end = 256 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %y = "aten.mul"(%sl, %b) : (tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<16x128xbf16>, tensor<f32>) -> tensor<16x128xf8E4M3FN>
  return %q : tensor<16x128xf8E4M3FN>
}

// -----

// Negative: the halves are swapped (silu of the second half): a different op.
// CHECK-LABEL: func.func @halves_swapped
// CHECK-NOT: vllm.silu_and_mul
func.func @halves_swapped(%gu: tensor<16x256xbf16>, %s: tensor<f32>) -> tensor<16x128xf8E4M3FN> {
  %a = "aten.slice"(%gu) {dim = -1 : i64, start = 128 : i64, end = 256 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %sl = "aten.silu"(%a) : (tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %b = "aten.slice"(%gu) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %y = "aten.mul"(%sl, %b) : (tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<16x128xbf16>, tensor<f32>) -> tensor<16x128xf8E4M3FN>
  return %q : tensor<16x128xf8E4M3FN>
}

// -----

// Negative: a native silu-and-mul with no quant after it stays native.
// CHECK-LABEL: func.func @no_quant
// CHECK-NOT: vllm.
func.func @no_quant(%gu: tensor<16x256xbf16>) -> tensor<16x128xbf16> {
  %a = "aten.slice"(%gu) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %sl = "aten.silu"(%a) : (tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %b = "aten.slice"(%gu) {dim = -1 : i64, start = 128 : i64, end = 256 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %y = "aten.mul"(%sl, %b) : (tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x128xbf16>
  return %y : tensor<16x128xbf16>
}

// -----

// The decomposed form feeding an NVFP4 quant (custom ops off, vLLM's default
// under Inductor; vLLM's own pattern needs the custom op): raised, then fused.
// CHECK-LABEL: func.func @native_silu_mul_nvfp4_quant
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.silu_and_mul_nvfp4_quant"(%arg0, %arg1)
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @native_silu_mul_nvfp4_quant(%gu: tensor<16x256xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>) {
  %a = "aten.slice"(%gu) {dim = 1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %s = "aten.silu"(%a) : (tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %b = "aten.slice"(%gu) {dim = 1 : i64, start = 128 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %y = "aten.mul"(%s, %b) : (tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %q, %sf = "vllm.scaled_fp4_quant"(%y, %g) : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>)
  return %q, %sf : tensor<16x64xui8>, tensor<128x2xi32>
}

// -----

// The same into vLLM main's `.out` quant with swizzled scales: raised, then fused.
// CHECK-LABEL: func.func @native_silu_mul_nvfp4_out_quant
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.silu_and_mul_nvfp4_quant"(%arg0, %arg1)
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @native_silu_mul_nvfp4_out_quant(%gu: tensor<16x256xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>) {
  %a = "aten.slice"(%gu) {dim = 1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %s = "aten.silu"(%a) : (tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %b = "aten.slice"(%gu) {dim = 1 : i64, start = 128 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %y = "aten.mul"(%s, %b) : (tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %q, %sf = "vllm.scaled_fp4_quant_out"(%y, %g) {is_sf_swizzled_layout = true} : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>)
  return %q, %sf : tensor<16x64xui8>, tensor<128x2xi32>
}

// -----

// Into a row-major `.out` quant, which no rule fuses: nothing is raised either.
// CHECK-LABEL: func.func @native_silu_mul_nvfp4_out_row_major
// CHECK-NOT: vllm.silu_and_mul
// CHECK: "aten.silu"
// CHECK: "vllm.scaled_fp4_quant_out"
func.func @native_silu_mul_nvfp4_out_row_major(%gu: tensor<16x256xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<16x8xui8>) {
  %a = "aten.slice"(%gu) {dim = 1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %s = "aten.silu"(%a) : (tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %b = "aten.slice"(%gu) {dim = 1 : i64, start = 128 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %y = "aten.mul"(%s, %b) : (tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %q, %sf = "vllm.scaled_fp4_quant_out"(%y, %g) {is_sf_swizzled_layout = false} : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<16x8xui8>)
  return %q, %sf : tensor<16x64xui8>, tensor<16x8xui8>
}

// -----

// The product is read again: nothing is raised (the native form stays for
// Inductor), nothing fuses.
// CHECK-LABEL: func.func @native_silu_mul_nvfp4_with_another_reader
// CHECK-NOT: vllm.silu_and_mul
// CHECK: "vllm.scaled_fp4_quant"
func.func @native_silu_mul_nvfp4_with_another_reader(%gu: tensor<16x256xbf16>, %g: tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>, tensor<16x128xbf16>) {
  %a = "aten.slice"(%gu) {dim = 1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %s = "aten.silu"(%a) : (tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %b = "aten.slice"(%gu) {dim = 1 : i64, start = 128 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<16x256xbf16>) -> tensor<16x128xbf16>
  %y = "aten.mul"(%s, %b) : (tensor<16x128xbf16>, tensor<16x128xbf16>) -> tensor<16x128xbf16>
  %q, %sf = "vllm.scaled_fp4_quant"(%y, %g) : (tensor<16x128xbf16>, tensor<f32>) -> (tensor<16x64xui8>, tensor<128x2xi32>)
  return %q, %sf, %y : tensor<16x64xui8>, tensor<128x2xi32>, tensor<16x128xbf16>
}

// -----

// The decomposed form feeding a custom per-group quant with the fused
// kernel's constants: raised, then fused.
// CHECK-LABEL: func.func @native_silu_mul_per_group_quant
// CHECK-NEXT: %[[Q:.*]]:2 = "vllm.silu_and_mul_per_block_quant"(%arg0) {group_size = 128 : i64}
// CHECK-NEXT: return %[[Q]]#0, %[[Q]]#1
func.func @native_silu_mul_per_group_quant(%gu: tensor<16x512xbf16>) -> (tensor<16x256xf8E4M3FN>, tensor<16x2xf32>) {
  %a = "aten.slice"(%gu) {dim = 1 : i64, start = 0 : i64, end = 256 : i64, step = 1 : i64} : (tensor<16x512xbf16>) -> tensor<16x256xbf16>
  %s = "aten.silu"(%a) : (tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %b = "aten.slice"(%gu) {dim = 1 : i64, start = 256 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<16x512xbf16>) -> tensor<16x256xbf16>
  %y = "aten.mul"(%s, %b) : (tensor<16x256xbf16>, tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %q, %sc = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<16x256xbf16>) -> (tensor<16x256xf8E4M3FN>, tensor<16x2xf32>)
  return %q, %sc : tensor<16x256xf8E4M3FN>, tensor<16x2xf32>
}

// -----

// Constants the fused kernel does not bake in (eps 1e-6): nothing is raised,
// the decomposed form stays for Inductor.
// CHECK-LABEL: func.func @native_silu_mul_per_group_other_eps
// CHECK-NOT: vllm.silu_and_mul
// CHECK: "aten.silu"
// CHECK: "vllm.per_token_group_fp8_quant"
func.func @native_silu_mul_per_group_other_eps(%gu: tensor<16x512xbf16>) -> (tensor<16x256xf8E4M3FN>, tensor<16x2xf32>) {
  %a = "aten.slice"(%gu) {dim = 1 : i64, start = 0 : i64, end = 256 : i64, step = 1 : i64} : (tensor<16x512xbf16>) -> tensor<16x256xbf16>
  %s = "aten.silu"(%a) : (tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %b = "aten.slice"(%gu) {dim = 1 : i64, start = 256 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<16x512xbf16>) -> tensor<16x256xbf16>
  %y = "aten.mul"(%s, %b) : (tensor<16x256xbf16>, tensor<16x256xbf16>) -> tensor<16x256xbf16>
  %q, %sc = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-06 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<16x256xbf16>) -> (tensor<16x256xf8E4M3FN>, tensor<16x2xf32>)
  return %q, %sc : tensor<16x256xf8E4M3FN>, tensor<16x2xf32>
}
