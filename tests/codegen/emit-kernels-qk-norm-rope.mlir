// fused_qk_norm_rope (vllm-fuse-qk-norm-rope's op) gets a kernel: Qwen3-8B's
// layout (32 query, 8 key, 8 value heads of 128; bf16; neox), value and
// in-place forms sharing it; GPT-J with an f32 cache is another kernel;
// the cache's rows are part of the ABI and of the name (`_pos40960`). One
// warp a (token, head), 8 warps a CTA here (40 heads normalized a token: 5
// CTAs a row); qkv read and written, the rest read; the row count is the
// grid's. A partial rotary (GLM-4's: the first 64 of 128 dims, the cache 64
// wide) is its own kernel (`_r64`, `rotary_dim` in the manifest); one over
// 96 of 128 dims, and a head size the kernel is not built for (96), get none. Numerics: kernels::qk_norm_rope_kernel_matches_the_reference.
// RUN: rm -rf %t && vllm-opt %s --config %S/../../examples/pass_config.json --compile-sizes 1,4096 --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: FileCheck %s --check-prefix=PTX --input-file %t/fused_qk_norm_rope_q32k8v8_d128_neox_bf16_pos40960.ptx
// RUN: FileCheck %s --check-prefix=PARTIAL --input-file %t/fused_qk_norm_rope_q32k8v8_d128_r64_neox_bf16_pos40960.ptx

// LOG: kernels: 3 unique for 8 sites

// CHECK: "name": "fused_qk_norm_rope_q32k8v8_d128_neox_bf16_pos40960"
// CHECK: "implements": "vllm.fused_qk_norm_rope"
// CHECK: "hidden": 6144
// CHECK: "elements_per_thread_step": 4
// CHECK: "threads": 256
// CHECK: "ctas_per_row": 5
// CHECK: "heads": {
// CHECK-NEXT: "num_heads_q": 32,
// CHECK-NEXT: "num_heads_k": 8,
// CHECK-NEXT: "num_heads_v": 8,
// CHECK-NEXT: "head_dim": 128,
// CHECK-NEXT: "rotary_dim": 128,
// CHECK-NEXT: "is_neox": true,
// CHECK-NEXT: "cache_rows": 40960,
// CHECK-NEXT: "cache_dtype": "bf16"
// CHECK: "name": "qkv"
// CHECK: "access": "read_write"
// CHECK: "name": "position_ids"
// CHECK-NEXT: "kind": "ptr"
// CHECK-NEXT: "elem": "i64"
// CHECK-NEXT: "access": "read"
// CHECK: "name": "epsilon"
// CHECK: "num_tokens": 1
// CHECK-NEXT: "grid": [
// CHECK-NEXT: 5,
// CHECK: "num_tokens": 4096
// CHECK-NEXT: "grid": [
// CHECK-NEXT: 20480,
// CHECK: "sites": 4
// CHECK: "name": "fused_qk_norm_rope_q32k8v8_d128_gptj_bf16_cf32_pos40960"
// CHECK: "sites": 2
// CHECK: "name": "fused_qk_norm_rope_q32k8v8_d128_r64_neox_bf16_pos40960"
// CHECK: "head_dim": 128,
// CHECK-NEXT: "rotary_dim": 64,
// CHECK: "sites": 2
// CHECK-NOT: "name": "fused_qk_norm_rope

// One 8-byte load of the head's 4 elements a lane, the weights', the
// position; the butterfly; rsqrt.approx; the cache's cos and sin; the
// partner 16 lanes away; one 8-byte store.
// PTX: .entry fused_qk_norm_rope_q32k8v8_d128_neox_bf16_pos40960(
// PTX-COUNT-2: ld.global.v4.b16
// PTX: ld.global.b64
// PTX-COUNT-5: shfl.sync.bfly.b32 {{.*}}, {{16|8|4|2|1}}, 31, -1;
// PTX: rsqrt.approx.f32
// PTX-COUNT-2: ld.global.v4.b16
// PTX-COUNT-4: shfl.sync.bfly.b32 {{.*}}, 16, 31, -1;
// PTX: st.global.v2.b32
// PTX-NOT: st.global

// The partial rotary's partner is 8 lanes away (the 32 rotated dims' halves
// in lanes 0-7 and 8-15); lanes 16-31 store their normalized values.
// PARTIAL: .entry fused_qk_norm_rope_q32k8v8_d128_r64_neox_bf16_pos40960(
// PARTIAL-COUNT-5: shfl.sync.bfly.b32 {{.*}}, {{16|8|4|2|1}}, 31, -1;
// PARTIAL: rsqrt.approx.f32
// PARTIAL-COUNT-4: shfl.sync.bfly.b32 {{.*}}, 8, 31, -1;
// PARTIAL: st.global.v2.b32

func.func @qwen3(%qkv: tensor<?x6144xbf16>, %qw: tensor<128xbf16>, %kw: tensor<128xbf16>, %cache: tensor<40960x128xbf16>, %cf: tensor<40960x128xf32>, %pos: tensor<?xi64>,
                 %q96: tensor<?x768xbf16>, %w96: tensor<96xbf16>, %c96: tensor<64x96xbf16>,
                 %half: tensor<40960x64xbf16>, %three_q: tensor<40960x96xbf16>)
    -> (tensor<?x6144xbf16>, tensor<?x6144xbf16>, tensor<?x768xbf16>, tensor<?x6144xbf16>, tensor<?x6144xbf16>) {
  %a = "vllm.fused_qk_norm_rope"(%qkv, %qw, %kw, %cache, %pos) {num_heads_q = 32 : i64, num_heads_k = 8 : i64, num_heads_v = 8 : i64, head_dim = 128 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x6144xbf16>, tensor<128xbf16>, tensor<128xbf16>, tensor<40960x128xbf16>, tensor<?xi64>) -> tensor<?x6144xbf16>
  "vllm.fused_qk_norm_rope_"(%a, %qw, %kw, %cache, %pos) {num_heads_q = 32 : i64, num_heads_k = 8 : i64, num_heads_v = 8 : i64, head_dim = 128 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x6144xbf16>, tensor<128xbf16>, tensor<128xbf16>, tensor<40960x128xbf16>, tensor<?xi64>) -> ()
  %b = "vllm.fused_qk_norm_rope"(%qkv, %qw, %kw, %cf, %pos) {num_heads_q = 32 : i64, num_heads_k = 8 : i64, num_heads_v = 8 : i64, head_dim = 128 : i64, eps = 1.0e-6 : f64, is_neox = false} : (tensor<?x6144xbf16>, tensor<128xbf16>, tensor<128xbf16>, tensor<40960x128xf32>, tensor<?xi64>) -> tensor<?x6144xbf16>
  %c = "vllm.fused_qk_norm_rope"(%q96, %w96, %w96, %c96, %pos) {num_heads_q = 4 : i64, num_heads_k = 2 : i64, num_heads_v = 2 : i64, head_dim = 96 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x768xbf16>, tensor<96xbf16>, tensor<96xbf16>, tensor<64x96xbf16>, tensor<?xi64>) -> tensor<?x768xbf16>
  %d = "vllm.fused_qk_norm_rope"(%qkv, %qw, %kw, %half, %pos) {num_heads_q = 32 : i64, num_heads_k = 8 : i64, num_heads_v = 8 : i64, head_dim = 128 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x6144xbf16>, tensor<128xbf16>, tensor<128xbf16>, tensor<40960x64xbf16>, tensor<?xi64>) -> tensor<?x6144xbf16>
  %e = "vllm.fused_qk_norm_rope"(%qkv, %qw, %kw, %three_q, %pos) {num_heads_q = 32 : i64, num_heads_k = 8 : i64, num_heads_v = 8 : i64, head_dim = 128 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x6144xbf16>, tensor<128xbf16>, tensor<128xbf16>, tensor<40960x96xbf16>, tensor<?xi64>) -> tensor<?x6144xbf16>
  return %a, %b, %c, %d, %e : tensor<?x6144xbf16>, tensor<?x6144xbf16>, tensor<?x768xbf16>, tensor<?x6144xbf16>, tensor<?x6144xbf16>
}
