// --silu-fast-division: the SiLU kinds (alone, + static FP8, + per-block
// FP8) divide `a / (1 + e)` by div.rn.f32's fast path written out for all
// 8 lanes of a thread step in one block (`rcp.approx.ftz`, a Newton step,
// the quotient and its fma correction), and fall back to div.rn.f32 for
// the whole step only when a lane is outside the range where that path is
// IEEE's (one branch a step instead of ptxas's one a lane). Named `_fdiv`,
// before the few-token kernels' `_s<ctas>`; the manifest says
// "silu_division". The norms are not SiLU kinds and keep their names.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --compile-sizes 1,4096 --silu-fast-division --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: FileCheck %s --check-prefix=PTX --input-file %t/silu_and_mul_quant_d4096_bf16_fdiv_s4.ptx
// Without the flag: div.rn.f32 a lane, no fast path.
// RUN: rm -rf %t.off && vllm-opt %s --config %S/../../examples/pass_config.json --compile-sizes 1,4096 --emit-kernels %t.off -o /dev/null
// RUN: FileCheck %s --check-prefix=OFF --input-file %t.off/manifest.json
// RUN: FileCheck %s --check-prefix=OFF-PTX --input-file %t.off/silu_and_mul_quant_d4096_bf16_s4.ptx

// LOG: kernels: 8 unique for 8 sites

func.func @g(%gu: tensor<?x8192xbf16>, %s: tensor<f32>, %x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>)
    -> (tensor<?x4096xbf16>, tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xbf16>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x8192xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.silu_and_mul_quant"(%gu, %s) : (tensor<?x8192xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %g, %gs = "vllm.silu_and_mul_per_block_quant"(%gu) {group_size = 128 : i64} : (tensor<?x8192xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %n = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %a, %q, %g, %gs, %n : tensor<?x4096xbf16>, tensor<?x4096xf8E4M3FN>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xbf16>
}

// CHECK: "name": "silu_and_mul_d4096_bf16_fdiv_s4"
// CHECK: "silu_division": "fast-path"
// CHECK: "name": "silu_and_mul_quant_d4096_bf16_fdiv_s4"
// CHECK: "name": "silu_and_mul_per_block_quant_g128_d4096_bf16_fdiv_s4"
// CHECK: "name": "rms_norm_h4096_bf16_b512"
// CHECK: "silu_division": null
// CHECK: "name": "silu_and_mul_d4096_bf16_fdiv"
// CHECK: "name": "silu_and_mul_quant_d4096_bf16_fdiv"
// CHECK: "name": "silu_and_mul_per_block_quant_g128_d4096_bf16_fdiv"

// The range check of the 8 lanes (2^-14 <= |a| < inf: LLVM compares
// |a| - 0x38800000 < 0x47000000; den <= 2^64: den < 0x5f800001), one
// branch, the fast path's 8 reciprocals, then the fallback's 8 divisions.
// PTX: .entry silu_and_mul_quant_d4096_bf16_fdiv_s4(
// PTX-COUNT-8: ex2.approx.f32
// PTX: setp.lt.u32 {{.*}}1191182336;
// PTX: setp.lt.u32 {{.*}}1602224129;
// PTX: bra
// PTX-COUNT-8: rcp.approx.ftz.f32
// PTX-NOT: div.rn.f32
// PTX: bra.uni
// PTX-COUNT-8: div.rn.f32
// PTX-NOT: div.rn.f32
// PTX-NOT: rcp.approx

// OFF-NOT: fdiv
// OFF: "silu_division": "ieee"
// OFF-NOT: fdiv
// OFF-PTX-NOT: rcp.approx
// OFF-PTX-COUNT-8: div.rn.f32
// OFF-PTX-NOT: div.rn.f32
