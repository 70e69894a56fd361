// vllm-opt --emit-kernels for DeepSeek-style per-group (1x128) FP8 quant:
// the fused norms (with and without residual) and SiLU-mul, and a standalone
// per_token_group_fp8_quant; the standalone quant with UE8M0 scales and the
// norm with column-major (transposed) scales get their own kernels.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: FileCheck %s --check-prefix=PTX --input-file %t/rms_norm_per_block_quant_residual_g128_h4096_bf16.ptx
// RUN: FileCheck %s --check-prefix=CVT --input-file %t/rms_norm_per_block_quant_residual_g128_h4096_bf16.ptx
// RUN: FileCheck %s --check-prefix=UE8M0 --input-file %t/per_token_group_fp8_quant_g128_h4096_bf16_ue8m0.ptx
// RUN: FileCheck %s --check-prefix=COLMAJOR --input-file %t/rms_norm_per_block_quant_g128_h4096_bf16_colmajor.ptx
// RUN: not grep -h "extern .func" %t/rms_norm_per_block_quant_g128_h4096_bf16.ptx %t/rms_norm_per_block_quant_residual_g128_h4096_bf16.ptx %t/silu_and_mul_per_block_quant_g128_d14336_bf16.ptx %t/per_token_group_fp8_quant_g128_h4096_bf16.ptx %t/per_token_group_fp8_quant_g128_h4096_bf16_ue8m0.ptx %t/rms_norm_per_block_quant_g128_h4096_bf16_colmajor.ptx

// LOG: kernels: 6 unique for 6 sites

// Few tokens: the loop-form group kernels split each row over CTAs of 128
// threads (whole groups each: a group's max is a shuffle within a warp);
// the fused norms keep the register form, with the few-row block.
// RUN: rm -rf %t.few && vllm-opt %s --config %S/../../examples/pass_config.json --compile-sizes 16 --emit-kernels %t.few -o /dev/null 2>&1 | FileCheck %s --check-prefix=FEW
// RUN: ls %t.few | FileCheck %s --check-prefix=FEWFILES
// FEW: kernels: 6 unique for 6 sites
// FEWFILES: per_token_group_fp8_quant_g128_h4096_bf16_s4.ptx
// FEWFILES-NEXT: per_token_group_fp8_quant_g128_h4096_bf16_ue8m0_s4.ptx
// FEWFILES-NEXT: rms_norm_per_block_quant_g128_h4096_bf16_b512.ptx
// FEWFILES: silu_and_mul_per_block_quant_g128_d14336_bf16_s14.ptx
// CHECK: "name": "rms_norm_per_block_quant_g128_h4096_bf16"
// CHECK: "group_size": 128
// CHECK: "scale_layout": "row-major [num_tokens, hidden / group_size]"
// CHECK-NEXT: "scale_ue8m0": false
// CHECK: "name": "rms_norm_per_block_quant_residual_g128_h4096_bf16"
// CHECK: "name": "silu_and_mul_per_block_quant_g128_d14336_bf16"
// The standalone quant keeps vLLM's parameter order: input, output_q, output_s.
// CHECK: "name": "per_token_group_fp8_quant_g128_h4096_bf16"
// CHECK: "params": [
// CHECK-NEXT: {
// CHECK-NEXT: "name": "input",
// CHECK: "name": "output_q",
// CHECK: "name": "output_s",
// CHECK-NOT: "name": "per_token_group
// CHECK: "name": "per_token_group_fp8_quant_g128_h4096_bf16_ue8m0"
// CHECK: "scale_layout": "row-major [num_tokens, hidden / group_size]"
// CHECK-NEXT: "scale_ue8m0": true
// CHECK: "name": "rms_norm_per_block_quant_g128_h4096_bf16_colmajor"
// CHECK: "scale_layout": "column-major [hidden / group_size, num_tokens]"
// CHECK-NEXT: "scale_ue8m0": false

// UE8M0 rounds the scale up to a power of two on its bits (mantissa mask,
// exponent mask, one exponent step), with no libdevice log2/exp2:
// UE8M0: .visible .entry per_token_group_fp8_quant_g128_h4096_bf16_ue8m0(
// UE8M0-DAG: and.b32 {{.*}}, 8388607;
// UE8M0-DAG: and.b32 {{.*}}, 2139095040;
// UE8M0-DAG: add.s32 {{.*}}, 8388608;
// Column-major scales are at group * T + row, T being the grid size:
// COLMAJOR: .visible .entry rms_norm_per_block_quant_g128_h4096_bf16_colmajor(
// COLMAJOR: mov.u32 {{.*}}, %nctaid.x;

// The group max is an xor butterfly over the group's 16 threads (offsets
// 8, 4, 2, 1; one max.f32 each), then the scale is max/448 by a multiply
// and Markstein's fma correction (+inf kept), no div.rn.f32; each lane
// divides by the scale through its reciprocal and two fmas (one select a
// group, for an infinite scale; none a lane) and
// NaN clamps to -448 (fmaxf; `satfinite` is the upper bound):
// PTX: .visible .entry rms_norm_per_block_quant_residual_g128_h4096_bf16(
// PTX: rsqrt.approx.f32
// PTX: shfl.sync.bfly.b32 {{.*}}, 8, 31, -1;
// PTX-NEXT: max.f32
// PTX-NEXT: shfl.sync.bfly.b32 {{.*}}, 4, 31, -1;
// PTX-NEXT: max.f32
// PTX-NEXT: shfl.sync.bfly.b32 {{.*}}, 2, 31, -1;
// PTX-NEXT: max.f32
// PTX-NEXT: shfl.sync.bfly.b32 {{.*}}, 1, 31, -1;
// PTX-NEXT: max.f32 [[M:%r[0-9]+]],
// PTX-NEXT: mul.rn.f32 [[Q0:%r[0-9]+]], [[M]], 0f3B124925;
// PTX-NEXT: neg.f32
// PTX-NEXT: fma.rn.f32 [[E:%r[0-9]+]], [[Q0]], 0f43E00000,
// PTX-NEXT: fma.rn.f32 {{%r[0-9]+}}, [[E]], 0fBB124925, [[Q0]];
// PTX-NEXT: setp.eq.f32 {{%p[0-9]+}}, [[M]], 0f7F800000;
// PTX-NOT: div.rn.f32
// PTX: rcp.rn.f32 [[R:%r[0-9]+]], [[S:%r[0-9]+]];
// PTX-NEXT: neg.f32 [[NR:%r[0-9]+]], [[R]];
// PTX-NEXT: setp.eq.f32 [[INF:%p[0-9]+]], [[S]], 0f7F800000;
// PTX-NEXT: selp.f32 [[SF:%r[0-9]+]], 0f00000000, [[S]], [[INF]];
// PTX-NOT: selp
// PTX: fma.rn.f32 {{%r[0-9]+}}, {{%r[0-9]+}}, [[SF]],
// PTX-NOT: selp
// PTX: fma.rn.f32 {{%r[0-9]+}}, {{%r[0-9]+}}, [[NR]],
// PTX-NOT: selp
// PTX-NOT: min.f32
// PTX: max.f32 {{%r[0-9]+}}, {{%r[0-9]+}}, 0fC3E00000;
// PTX-NOT: min.f32
// PTX: st.global.v4.b16
// (The conversion is laid out before the butterfly in the PTX.)
// CVT: cvt.rn.satfinite.e4m3x2.f32

func.func @per_group(%x: tensor<?x4096xbf16>, %w_in: tensor<4096xbf16>, %o: tensor<?x4096xbf16>, %gu: tensor<?x28672xbf16>, %y: tensor<?x4096xbf16>)
    -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xbf16>, tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) {
  %h = "vllm.rms_norm"(%x, %w_in) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %h8, %hs = "vllm.per_token_group_fp8_quant"(%h) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %n2, %r2 = "vllm.fused_add_rms_norm"(%o, %x, %w_in) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  %n8, %ns = "vllm.per_token_group_fp8_quant"(%n2) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %act = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
  %a8, %as = "vllm.per_token_group_fp8_quant"(%act) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x14336xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  %y8, %ys = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %u8, %us = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = true} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %t8, %ts = "vllm.rms_norm_per_block_quant"(%x, %w_in) {epsilon = 1.0e-6 : f64, group_size = 128 : i64, is_scale_transposed = true, operandSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  return %h8, %hs, %n8, %ns, %r2, %a8, %as, %y8, %ys, %u8, %us, %t8, %ts : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xbf16>, tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>
}
