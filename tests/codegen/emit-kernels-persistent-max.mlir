// --persistent-kernels and the per-tensor dynamic quant: its max kernel's
// persistent form walks the whole tensor as one run of 16-byte chunks (four
// loads in flight a thread a step, then one at a time), then one block
// reduction and one atomic max a CTA; the static quant that follows keeps
// its one-CTA-a-row form. Few tokens (16) keep the one-CTA-a-row max kernel,
// and each launch names the static quant of its own context (split over
// CTAs for 16 tokens), a kernel the manifest has.
// Its numerics: kernels::persistent_max_kernel_reads_every_chunk_once.
// RUN: rm -rf %t && vllm-opt %s --compile-sizes 16,4096 --persistent-kernels --emit-kernels %t -o /dev/null
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: FileCheck %s --check-prefix=PTX --input-file %t/dynamic_scaled_fp8_quant_max_h4096_bf16_p.ptx

func.func @g(%x: tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<1xf32>) {
  %q, %s = "vllm.dynamic_scaled_fp8_quant"(%x) : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<1xf32>)
  return %q, %s : tensor<?x4096xf8E4M3FN>, tensor<1xf32>
}

// CHECK: "name": "dynamic_scaled_fp8_quant_max_h4096_bf16",
// CHECK: "persistent": false,
// CHECK: "num_tokens": 16,
// CHECK: "then": "static_scaled_fp8_quant_h4096_bf16_s4"
// CHECK: "name": "static_scaled_fp8_quant_h4096_bf16_s4"
// CHECK: "name": "dynamic_scaled_fp8_quant_max_h4096_bf16_p"
// CHECK: "threads": 128,
// CHECK: "persistent": true,
// CHECK: "zero_before_launch": [
// CHECK-NEXT: "scale"
// CHECK: "name": "num_tokens"
// CHECK-NEXT: "kind": "i32"
// CHECK: "num_tokens": 4096,
// CHECK-NEXT: "grid": [
// CHECK-NEXT: "min(4096, resident_ctas)",
// CHECK: "then": "static_scaled_fp8_quant_h4096_bf16"
// CHECK: "name": "static_scaled_fp8_quant_h4096_bf16",

// PTX: .visible .entry dynamic_scaled_fp8_quant_max_h4096_bf16_p(
// PTX: .param .u64 dynamic_scaled_fp8_quant_max_h4096_bf16_p_param_1,
// PTX: .param .u32 dynamic_scaled_fp8_quant_max_h4096_bf16_p_param_3
// The walk for packed rows first (the flat offset), then the one for rows
// `input_stride` apart; one reduction and one atomic after both.
// PTX: %nctaid.x
// PTX-COUNT-4: ld.global.v4.b32
// PTX: ld.global.v4.b32
// PTX: bar.sync
// PTX-NOT: bar.sync
// PTX: atom.global.max.u32
// PTX-NOT: atom.global
