// The register-form kernels are compiled for a block that suits the shape
// context: with H = 8192, one token takes 1024 threads (one 16-byte chunk
// each), 4096 tokens take 256 (four chunks each: the block reductions paid
// over more elements, more loads in flight per thread).
// A pointwise kernel (SiLU-and-mul) splits one token's row over CTAs of
// 128 threads, one 16-byte chunk each (8192 / 8 / 128 = 8 CTAs, the grid
// row-major), so that a few rows still spread over the GPU; 4096 tokens take
// one CTA a row. Each variant lists only the contexts that use it.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --compile-sizes 1,4096 --emit-kernels %t -o %t.mlir 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: FileCheck %s --check-prefix=SMALL --input-file %t/rms_norm_h8192_bf16_b1024.ptx

// LOG: kernels: 4 unique for 4 sites
// CHECK: "name": "rms_norm_h8192_bf16_b1024"
// CHECK: "threads": 1024,
// CHECK: "launch": [
// CHECK-NEXT: {
// CHECK-NEXT: "num_tokens": 1,
// CHECK: "block": [
// CHECK-NEXT: 1024,
// CHECK: ]
// CHECK-NEXT: }
// CHECK-NEXT: ],
// CHECK: "name": "silu_and_mul_d8192_bf16_s8"
// CHECK: "threads": 128,
// CHECK-NEXT: "ctas_per_row": 8,
// CHECK: "launch": [
// CHECK-NEXT: {
// CHECK-NEXT: "num_tokens": 1,
// CHECK-NEXT: "grid": [
// CHECK-NEXT: 8,
// CHECK: "block": [
// CHECK-NEXT: 128,
// CHECK: ]
// CHECK-NEXT: }
// CHECK-NEXT: ],
// CHECK: "name": "rms_norm_h8192_bf16"
// CHECK: "threads": 256,
// CHECK: "launch": [
// CHECK-NEXT: {
// CHECK-NEXT: "num_tokens": 4096,
// CHECK: "block": [
// CHECK-NEXT: 256,
// CHECK: ]
// CHECK-NEXT: }
// CHECK-NEXT: ],

// SMALL: .visible .entry rms_norm_h8192_bf16_b1024(
// SMALL-COUNT-2: ld.global.v4.b32
// SMALL-NOT: ld.global.v4.b32
// RUN: FileCheck %s --check-prefix=LARGE --input-file %t/rms_norm_h8192_bf16.ptx
// LARGE: .visible .entry rms_norm_h8192_bf16(
// Four chunks of the row and four of the weight, each loaded once:
// LARGE-COUNT-8: ld.global.v4.b32
// LARGE-NOT: ld.global.v4.b32

func.func @g(%x: tensor<?x8192xbf16>, %w: tensor<8192xbf16>, %gu: tensor<?x16384xbf16>) -> (tensor<?x8192xbf16>, tensor<?x8192xbf16>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x8192xbf16>, tensor<8192xbf16>) -> tensor<?x8192xbf16>
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x16384xbf16>) -> tensor<?x8192xbf16>
  return %y, %a : tensor<?x8192xbf16>, tensor<?x8192xbf16>
}

// The many-token SiLU-and-mul: one CTA a row, the block `block` gives.
// CHECK: "name": "silu_and_mul_d8192_bf16"
// CHECK: "threads": null,
// CHECK-NEXT: "ctas_per_row": 1,
// CHECK: "num_tokens": 4096,
// CHECK-NEXT: "grid": [
// CHECK-NEXT: 4096,
// Its block for any token count (launchers read this step table, not a copy
// of the rule): 1024 threads below 256 tokens, 256 from there on.
// CHECK: "block_by_tokens": [
// CHECK-NEXT: [
// CHECK-NEXT: 1,
// CHECK-NEXT: 1024
// CHECK-NEXT: ],
// CHECK-NEXT: [
// CHECK-NEXT: 256,
// CHECK-NEXT: 256
// CHECK-NEXT: ]
// CHECK-NEXT: ],
