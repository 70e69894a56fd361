// vLLM main's QKNormRoPEFusionPass: the per-head RMSNorms of the query and
// key heads (Qwen3's q_norm/k_norm) of one qkv projection, viewed back to
// rows and rotated by rotary_embedding -> fused_qk_norm_rope on the packed
// rows, sliced into the new q, k and v. Numerics: tests/all/numerics.rs
// (@qwen3_qk_norm_rope, against the unfused graph and the kernel's formula).
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-qk-norm-rope))' | FileCheck %s
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-qk-norm-rope))' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-qk-norm-rope{debug-node=rope}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN
// Fix-functionalization then writes qkv in place (no copy: nothing reads it
// after the fused op). The pipeline and FX: vllm-fuse-qk-norm-rope-pipeline.mlir.
// With `partial-rotary=true` (the running vLLM's kernel rotates part of a
// head, as 0.33.0's does) a partial rotary fuses too.
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-qk-norm-rope{partial-rotary=true}))' | FileCheck %s --check-prefix=PARTIAL
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-qk-norm-rope,vllm-fix-functionalization))' | FileCheck %s --check-prefix=PIPE

// STATS: vllm-fuse-qk-norm-rope
// STATS-NEXT: (2) native-rms
// STATS-NEXT: (2) native-rope
// STATS-NEXT: (5) qk-norm-rope
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the norms' epsilons differ (0.000001 and 0.00001); the kernel takes one
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: a value between the qkv chunk and the rotary has another reader
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: head_size 96 is not one the kernel is built for (64, 128, 256)
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the kernel takes bf16 or f16 rows, not f32
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the value chunk is read before the rotary embedding
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the query and key are not cut out of the same qkv
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the query and key are not qkv's first two chunks
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the rotary's input is not a view of a norm
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the rotary turns 32 of the head's 64 dims; a partial rotary fuses only where vLLM's kernel takes one (partial-rotary)
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the first half is not a difference
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: x1 * cos not found
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the halves are not rotated as GPT-J rotates them (x1 cos - x2 sin, x2 cos + x1 sin)
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: the concatenation is not of two halves of the head
// EXPLAIN: remark: vllm-fuse-qk-norm-rope: qkv's rows are recorded apart (strided); the kernel takes contiguous rows

// PIPE-LABEL: func.func @qwen3
// PIPE-NEXT: %[[QKV:.*]] = "aten.mm"(%arg0, %arg1)
// PIPE-NEXT: "vllm.fused_qk_norm_rope_"(%[[QKV]], %arg2, %arg3, %arg4, %arg5)
// PIPE-NEXT: "aten.slice"(%[[QKV]]) {{.*}}end = 256
// PIPE-NOT: aten.clone
// PIPE: return

// Slices of the last dim, neox, symbolic rows: fused; the value chunk is
// sliced from the new rows too.
// CHECK-LABEL: func.func @qwen3
// CHECK-NEXT: %[[QKV:.*]] = "aten.mm"(%arg0, %arg1)
// CHECK-NEXT: %[[F:.*]] = "vllm.fused_qk_norm_rope"(%[[QKV]], %arg2, %arg3, %arg4, %arg5) {eps = 9.9999999999999995E-7 : f64, head_dim = 64 : i64, is_neox = true, num_heads_k = 2 : i64, num_heads_q = 4 : i64, num_heads_v = 2 : i64} : (tensor<?x512xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<4096x64xbf16>, tensor<?xi64>) -> tensor<?x512xbf16>
// CHECK-NEXT: %[[Q:.*]] = "aten.slice"(%[[F]]) {dim = -1 : i64, end = 256 : i64, start = 0 : i64, step = 1 : i64}
// CHECK-NEXT: %[[K:.*]] = "aten.slice"(%[[F]]) {dim = -1 : i64, end = 384 : i64, start = 256 : i64, step = 1 : i64}
// CHECK-NEXT: %[[V:.*]] = "aten.slice"(%[[F]]) {dim = -1 : i64, end = 512 : i64, start = 384 : i64, step = 1 : i64}
// CHECK-NEXT: return %[[Q]], %[[K]], %[[V]]
func.func @qwen3(%x: tensor<?x64xbf16>, %wqkv: tensor<64x512xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x512xbf16>) -> tensor<?x512xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x256xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 256 : i64, end = 384 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x128xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 384 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x128xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 4, 64>} : (tensor<?x256xbf16>) -> tensor<?x4x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x4x64xbf16>, tensor<64xbf16>) -> tensor<?x4x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 256>} : (tensor<?x4x64xbf16>) -> tensor<?x256xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<4096x64xbf16>) -> (tensor<?x256xbf16>, tensor<?x128xbf16>)
  return %q2, %k2, %v : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>
}

// -----

// One split_with_sizes, GPT-J (interleaved) rotation, reshape instead of
// view, f16, eps 1e-5, static rows.
// CHECK-LABEL: func.func @split_gptj
// CHECK-NEXT: %[[F:.*]] = "vllm.fused_qk_norm_rope"(%arg0, %arg1, %arg2, %arg3, %arg4) {eps = 1.000000e-05 : f64, head_dim = 64 : i64, is_neox = false, num_heads_k = 1 : i64, num_heads_q = 2 : i64, num_heads_v = 1 : i64}
// CHECK-NOT: aten.split_with_sizes
// CHECK: return
func.func @split_gptj(%qkv: tensor<16x256xf16>, %qw: tensor<64xf16>, %kw: tensor<64xf16>, %cache: tensor<128x64xf16>, %pos: tensor<16xi64>) -> (tensor<16x128xf16>, tensor<16x64xf16>, tensor<16x64xf16>) {
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<16x256xf16>) -> (tensor<16x128xf16>, tensor<16x64xf16>, tensor<16x64xf16>)
  %qh = "aten.reshape"(%q) {shape = array<i64: 16, 2, 64>} : (tensor<16x128xf16>) -> tensor<16x2x64xf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-5 : f64} : (tensor<16x2x64xf16>, tensor<64xf16>) -> tensor<16x2x64xf16>
  %qf = "aten.reshape"(%qn) {shape = array<i64: 16, 128>} : (tensor<16x2x64xf16>) -> tensor<16x128xf16>
  %kh = "aten.reshape"(%k) {shape = array<i64: 16, 1, 64>} : (tensor<16x64xf16>) -> tensor<16x1x64xf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-5 : f64} : (tensor<16x1x64xf16>, tensor<64xf16>) -> tensor<16x1x64xf16>
  %kf = "aten.reshape"(%kn) {shape = array<i64: 16, 64>} : (tensor<16x1x64xf16>) -> tensor<16x64xf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = false} : (tensor<16xi64>, tensor<16x128xf16>, tensor<16x64xf16>, tensor<128x64xf16>) -> (tensor<16x128xf16>, tensor<16x64xf16>)
  return %q2, %k2, %v : tensor<16x128xf16>, tensor<16x64xf16>, tensor<16x64xf16>
}

// -----

// vLLM's native RMSNorm (custom ops off) per head: raised, then fused.
// CHECK-LABEL: func.func @native_norms
// CHECK-NEXT: "vllm.fused_qk_norm_rope"(%arg0, %arg1, %arg2, %arg3, %arg4) {eps = 9.9999999999999995E-7 : f64, head_dim = 64 : i64, is_neox = true, num_heads_k = 1 : i64, num_heads_q = 2 : i64, num_heads_v = 1 : i64}
// CHECK-NOT: aten.rsqrt
// CHECK: return
func.func @native_norms(%qkv: tensor<?x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %q = "aten.slice"(%qkv) {dim = 1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = 1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = 1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qx = "aten.convert_element_type"(%qh) {dtype = f32} : (tensor<?x2x64xbf16>) -> tensor<?x2x64xf32>
  %qs = "aten.pow_scalar"(%qx) {other = 2 : i64} : (tensor<?x2x64xf32>) -> tensor<?x2x64xf32>
  %qm = "aten.mean"(%qs) {dim = array<i64: -1>, keepdim = true} : (tensor<?x2x64xf32>) -> tensor<?x2x1xf32>
  %qe = "aten.add_scalar"(%qm) {other = 1.0e-6 : f64} : (tensor<?x2x1xf32>) -> tensor<?x2x1xf32>
  %qr = "aten.rsqrt"(%qe) : (tensor<?x2x1xf32>) -> tensor<?x2x1xf32>
  %qy = "aten.mul"(%qx, %qr) : (tensor<?x2x64xf32>, tensor<?x2x1xf32>) -> tensor<?x2x64xf32>
  %qt = "aten.convert_element_type"(%qy) {dtype = bf16} : (tensor<?x2x64xf32>) -> tensor<?x2x64xbf16>
  %qn = "aten.mul"(%qt, %qw) : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kx = "aten.convert_element_type"(%kh) {dtype = f32} : (tensor<?x1x64xbf16>) -> tensor<?x1x64xf32>
  %ks = "aten.pow_scalar"(%kx) {other = 2 : i64} : (tensor<?x1x64xf32>) -> tensor<?x1x64xf32>
  %km = "aten.mean"(%ks) {dim = array<i64: -1>, keepdim = true} : (tensor<?x1x64xf32>) -> tensor<?x1x1xf32>
  %ke = "aten.add_scalar"(%km) {other = 1.0e-6 : f64} : (tensor<?x1x1xf32>) -> tensor<?x1x1xf32>
  %kr = "aten.rsqrt"(%ke) : (tensor<?x1x1xf32>) -> tensor<?x1x1xf32>
  %ky = "aten.mul"(%kx, %kr) : (tensor<?x1x64xf32>, tensor<?x1x1xf32>) -> tensor<?x1x64xf32>
  %kt = "aten.convert_element_type"(%ky) {dtype = bf16} : (tensor<?x1x64xf32>) -> tensor<?x1x64xbf16>
  %kn = "aten.mul"(%kt, %kw) : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x64xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>)
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The two norms' epsilons differ: the kernel takes one.
// CHECK-LABEL: func.func @eps_differ
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @eps_differ(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>, %other: tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-5 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x64xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>) loc("rope")
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The query's norm is read again: it must stay.
// CHECK-LABEL: func.func @norm_read_twice
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @norm_read_twice(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>, %other: tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<?x2x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x64xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>) loc("rope")
  return %q2, %k2, %v, %qn : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<?x2x64xbf16>
}

// -----

// A head size vLLM's kernel is not built for.
// CHECK-LABEL: func.func @head_dim_96
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @head_dim_96(%x: tensor<?x64xbf16>, %wqkv: tensor<64x384xbf16>, %qw: tensor<96xbf16>, %kw: tensor<96xbf16>, %cache: tensor<4096x96xbf16>, %pos: tensor<?xi64>, %other: tensor<?x384xbf16>) -> (tensor<?x192xbf16>, tensor<?x96xbf16>, tensor<?x96xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x384xbf16>) -> tensor<?x384xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x384xbf16>) -> tensor<?x192xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 288 : i64, step = 1 : i64} : (tensor<?x384xbf16>) -> tensor<?x96xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 288 : i64, end = 384 : i64, step = 1 : i64} : (tensor<?x384xbf16>) -> tensor<?x96xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 96>} : (tensor<?x192xbf16>) -> tensor<?x2x96xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x96xbf16>, tensor<96xbf16>) -> tensor<?x2x96xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 192>} : (tensor<?x2x96xbf16>) -> tensor<?x192xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 96>} : (tensor<?x96xbf16>) -> tensor<?x1x96xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x96xbf16>, tensor<96xbf16>) -> tensor<?x1x96xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 96>} : (tensor<?x1x96xbf16>) -> tensor<?x96xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 96 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x192xbf16>, tensor<?x96xbf16>, tensor<4096x96xbf16>) -> (tensor<?x192xbf16>, tensor<?x96xbf16>) loc("rope")
  return %q2, %k2, %v : tensor<?x192xbf16>, tensor<?x96xbf16>, tensor<?x96xbf16>
}

// -----

// f32 rows: the kernel takes bf16 or f16.
// CHECK-LABEL: func.func @f32_rows
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @f32_rows(%x: tensor<?x64xf32>, %wqkv: tensor<64x256xf32>, %qw: tensor<64xf32>, %kw: tensor<64xf32>, %cache: tensor<4096x64xf32>, %pos: tensor<?xi64>, %other: tensor<?x256xf32>) -> (tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xf32>, tensor<64x256xf32>) -> tensor<?x256xf32>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xf32>) -> tensor<?x128xf32>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xf32>) -> tensor<?x64xf32>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xf32>) -> tensor<?x64xf32>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xf32>) -> tensor<?x2x64xf32>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xf32>, tensor<64xf32>) -> tensor<?x2x64xf32>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xf32>) -> tensor<?x128xf32>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xf32>) -> tensor<?x1x64xf32>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xf32>, tensor<64xf32>) -> tensor<?x1x64xf32>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xf32>) -> tensor<?x64xf32>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xf32>, tensor<?x64xf32>, tensor<4096x64xf32>) -> (tensor<?x128xf32>, tensor<?x64xf32>) loc("rope")
  return %q2, %k2, %v : tensor<?x128xf32>, tensor<?x64xf32>, tensor<?x64xf32>
}

// -----

// The value chunk read before the rotary: its readers would see the new rows' slice before it exists.
// CHECK-LABEL: func.func @v_read_before
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @v_read_before(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>, %other: tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %vv = "aten.add"(%v, %v) : (tensor<?x64xbf16>, tensor<?x64xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x64xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>) loc("rope")
  return %q2, %k2, %v, %vv : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The key cut from another projection than the query.
// CHECK-LABEL: func.func @two_projections
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @two_projections(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>, %other: tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%other) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x64xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>) loc("rope")
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The key heads before the query heads in the rows.
// CHECK-LABEL: func.func @key_first
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @key_first(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>, %other: tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 64 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 64 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x64xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>) loc("rope")
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// No per-head norm: a plain rotary embedding.
// CHECK-LABEL: func.func @no_norm
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @no_norm(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>, %other: tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %q, %k, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x64xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>) loc("rope")
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// A partial rotary (32 of 64 dims, the cache's width): only where vLLM's
// kernel takes one; then the fused op gets that cache.
// CHECK-LABEL: func.func @partial_rotary
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
// PARTIAL-LABEL: func.func @partial_rotary
// PARTIAL: "vllm.fused_qk_norm_rope"({{.*}}) {eps = {{.*}}, head_dim = 64 : i64, is_neox = true, num_heads_k = 1 : i64, num_heads_q = 2 : i64, num_heads_v = 1 : i64} : (tensor<?x256xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<4096x32xbf16>, tensor<?xi64>) -> tensor<?x256xbf16>
func.func @partial_rotary(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x32xbf16>, %pos: tensor<?xi64>, %other: tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x32xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>) loc("rope")
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// vLLM's native neox rotary (custom ops off), as Inductor leaves it: fused; the
// products in either order, the cos/sin rows indexed and split once per chunk.
// CHECK-LABEL: func.func @native_rope
// CHECK-NEXT: %[[QKV:.*]] = "aten.mm"
// CHECK-NEXT: %[[F:.*]] = "vllm.fused_qk_norm_rope"(%[[QKV]], %arg2, %arg3, %arg4, %arg6) {eps = 9.9999999999999995E-7 : f64, head_dim = 64 : i64, is_neox = true, num_heads_k = 1 : i64, num_heads_q = 2 : i64, num_heads_v = 1 : i64}
// CHECK-NOT: aten.cat
// CHECK-NOT: aten.index
// CHECK-NOT: aten.unsqueeze
// CHECK: return
func.func @native_rope(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<32x64xbf16>, %cache2: tensor<32x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cs2 = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos2, %sin2 = "aten.split"(%cs2) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1, %q2 = "aten.split"(%qn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x2x64xbf16>) -> (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>)
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1, %k2 = "aten.split"(%kn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x1x64xbf16>) -> (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%su, %q1) : (tensor<?x1x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qd, %qc) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qcat = "aten.cat"(%qo1, %qo2) {dim = -1 : i64} : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qcat) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16> loc("rope")
  %cu2 = "aten.unsqueeze"(%cos2) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su2 = "aten.unsqueeze"(%sin2) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %ka = "aten.mul"(%k1, %cu2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%k1, %su2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kc, %kd) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kcat = "aten.cat"(%ko1, %ko2) {dim = -1 : i64} : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kcat) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// A native rotation that adds where neox subtracts: not a rotary embedding.
// CHECK-LABEL: func.func @native_rope_wrong_sign
// CHECK-NOT: fused_qk_norm_rope
// CHECK: aten.cat
func.func @native_rope_wrong_sign(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<32x64xbf16>, %cache2: tensor<32x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cs2 = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos2, %sin2 = "aten.split"(%cs2) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1, %q2 = "aten.split"(%qn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x2x64xbf16>) -> (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>)
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1, %k2 = "aten.split"(%kn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x1x64xbf16>) -> (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.add"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%su, %q1) : (tensor<?x1x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qd, %qc) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qcat = "aten.cat"(%qo1, %qo2) {dim = -1 : i64} : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qcat) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16> loc("rope")
  %cu2 = "aten.unsqueeze"(%cos2) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su2 = "aten.unsqueeze"(%sin2) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %ka = "aten.mul"(%k1, %cu2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%k1, %su2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kc, %kd) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kcat = "aten.cat"(%ko1, %ko2) {dim = -1 : i64} : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kcat) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The query and the key rotated by different caches.
// CHECK-LABEL: func.func @native_rope_two_caches
// CHECK-NOT: fused_qk_norm_rope
// CHECK: aten.cat
func.func @native_rope_two_caches(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<32x64xbf16>, %cache2: tensor<32x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cs2 = "aten.index"(%cache2, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos2, %sin2 = "aten.split"(%cs2) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1, %q2 = "aten.split"(%qn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x2x64xbf16>) -> (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>)
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1, %k2 = "aten.split"(%kn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x1x64xbf16>) -> (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%su, %q1) : (tensor<?x1x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qd, %qc) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qcat = "aten.cat"(%qo1, %qo2) {dim = -1 : i64} : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qcat) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16> loc("rope")
  %cu2 = "aten.unsqueeze"(%cos2) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su2 = "aten.unsqueeze"(%sin2) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %ka = "aten.mul"(%k1, %cu2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%k1, %su2) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kc, %kd) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kcat = "aten.cat"(%ko1, %ko2) {dim = -1 : i64} : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kcat) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// vLLM's native GPT-J rotary (custom ops off: the even and odd elements of
// each head, stack((o1, o2), -1).flatten(-2)), as Inductor leaves it
// (unsqueeze, cat, two views): fused with is_neox = false.
// CHECK-LABEL: func.func @native_rope_gptj
// CHECK-NEXT: %[[QKV:.*]] = "aten.mm"
// CHECK-NEXT: %[[F:.*]] = "vllm.fused_qk_norm_rope"(%[[QKV]], %arg2, %arg3, %arg4, %arg5) {eps = 9.9999999999999995E-7 : f64, head_dim = 64 : i64, is_neox = false, num_heads_k = 1 : i64, num_heads_q = 2 : i64, num_heads_v = 1 : i64}
// CHECK-NOT: aten.cat
// CHECK-NOT: aten.slice"(%{{.*}}) {{{{.*}}}}step = 2
// CHECK-NOT: aten.unsqueeze
// CHECK: return
func.func @native_rope_gptj(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<32x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1 = "aten.slice"(%qn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %q2 = "aten.slice"(%qn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%su, %q1) : (tensor<?x1x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qd, %qc) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qu1 = "aten.unsqueeze"(%qo1) {dim = 3 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x32x1xbf16>
  %qu2 = "aten.unsqueeze"(%qo2) {dim = -1 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x32x1xbf16>
  %qcat = "aten.cat"(%qu1, %qu2) {dim = -1 : i64} : (tensor<?x2x32x1xbf16>, tensor<?x2x32x1xbf16>) -> tensor<?x2x32x2xbf16>
  %qf = "aten.reshape"(%qcat) {shape = array<i64: -1, 2, 64>} : (tensor<?x2x32x2xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qf) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16> loc("rope")
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1 = "aten.slice"(%kn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %k2 = "aten.slice"(%kn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %ka = "aten.mul"(%k1, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%su, %k1) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kd, %kc) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ku1 = "aten.unsqueeze"(%ko1) {dim = 3 : i64} : (tensor<?x1x32xbf16>) -> tensor<?x1x32x1xbf16>
  %ku2 = "aten.unsqueeze"(%ko2) {dim = -1 : i64} : (tensor<?x1x32xbf16>) -> tensor<?x1x32x1xbf16>
  %kcat = "aten.cat"(%ku1, %ku2) {dim = -1 : i64} : (tensor<?x1x32x1xbf16>, tensor<?x1x32x1xbf16>) -> tensor<?x1x32x2xbf16>
  %kf = "aten.reshape"(%kcat) {shape = array<i64: -1, 1, 64>} : (tensor<?x1x32x2xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kf) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// GPT-J's even/odd halves concatenated as neox concatenates: neither form
// (the rotated elements land elsewhere).
// CHECK-LABEL: func.func @native_rope_gptj_halves_as_neox
// CHECK-NOT: fused_qk_norm_rope
// CHECK: aten.cat
func.func @native_rope_gptj_halves_as_neox(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<32x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1 = "aten.slice"(%qn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %q2 = "aten.slice"(%qn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%su, %q1) : (tensor<?x1x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qd, %qc) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qf = "aten.cat"(%qo1, %qo2) {dim = -1 : i64} : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qf) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16> loc("rope")
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1 = "aten.slice"(%kn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %k2 = "aten.slice"(%kn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %ka = "aten.mul"(%k1, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%su, %k1) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kd, %kc) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kf = "aten.cat"(%ko1, %ko2) {dim = -1 : i64} : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kf) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The odd elements taken as x1: not GPT-J's rotation.
// CHECK-LABEL: func.func @native_rope_gptj_odd_first
// CHECK-NOT: fused_qk_norm_rope
// CHECK: aten.cat
func.func @native_rope_gptj_odd_first(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<32x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1 = "aten.slice"(%qn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %q2 = "aten.slice"(%qn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%su, %q1) : (tensor<?x1x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qd, %qc) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qu1 = "aten.unsqueeze"(%qo1) {dim = 3 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x32x1xbf16>
  %qu2 = "aten.unsqueeze"(%qo2) {dim = -1 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x32x1xbf16>
  %qcat = "aten.cat"(%qu1, %qu2) {dim = -1 : i64} : (tensor<?x2x32x1xbf16>, tensor<?x2x32x1xbf16>) -> tensor<?x2x32x2xbf16>
  %qf = "aten.reshape"(%qcat) {shape = array<i64: -1, 2, 64>} : (tensor<?x2x32x2xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qf) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16> loc("rope")
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1 = "aten.slice"(%kn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %k2 = "aten.slice"(%kn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %ka = "aten.mul"(%k1, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%su, %k1) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kd, %kc) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ku1 = "aten.unsqueeze"(%ko1) {dim = 3 : i64} : (tensor<?x1x32xbf16>) -> tensor<?x1x32x1xbf16>
  %ku2 = "aten.unsqueeze"(%ko2) {dim = -1 : i64} : (tensor<?x1x32xbf16>) -> tensor<?x1x32x1xbf16>
  %kcat = "aten.cat"(%ku1, %ku2) {dim = -1 : i64} : (tensor<?x1x32x1xbf16>, tensor<?x1x32x1xbf16>) -> tensor<?x1x32x2xbf16>
  %kf = "aten.reshape"(%kcat) {shape = array<i64: -1, 1, 64>} : (tensor<?x1x32x2xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kf) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// stack((o1, o2), -2): all the o1 first, not interleaved pairs.
// CHECK-LABEL: func.func @native_rope_gptj_stacked_before_the_pairs
// CHECK-NOT: fused_qk_norm_rope
// CHECK: aten.cat
func.func @native_rope_gptj_stacked_before_the_pairs(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<32x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1 = "aten.slice"(%qn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %q2 = "aten.slice"(%qn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%su, %q1) : (tensor<?x1x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qd, %qc) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qu1 = "aten.unsqueeze"(%qo1) {dim = 2 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x1x32xbf16>
  %qu2 = "aten.unsqueeze"(%qo2) {dim = 2 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x1x32xbf16>
  %qcat = "aten.cat"(%qu1, %qu2) {dim = 2 : i64} : (tensor<?x2x1x32xbf16>, tensor<?x2x1x32xbf16>) -> tensor<?x2x2x32xbf16>
  %qf = "aten.reshape"(%qcat) {shape = array<i64: -1, 2, 64>} : (tensor<?x2x2x32xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qf) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16> loc("rope")
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1 = "aten.slice"(%kn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %k2 = "aten.slice"(%kn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %ka = "aten.mul"(%k1, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%su, %k1) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kd, %kc) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ku1 = "aten.unsqueeze"(%ko1) {dim = 2 : i64} : (tensor<?x1x32xbf16>) -> tensor<?x1x1x32xbf16>
  %ku2 = "aten.unsqueeze"(%ko2) {dim = 2 : i64} : (tensor<?x1x32xbf16>) -> tensor<?x1x1x32xbf16>
  %kcat = "aten.cat"(%ku1, %ku2) {dim = 2 : i64} : (tensor<?x1x1x32xbf16>, tensor<?x1x1x32xbf16>) -> tensor<?x1x2x32xbf16>
  %kf = "aten.reshape"(%kcat) {shape = array<i64: -1, 1, 64>} : (tensor<?x1x2x32xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kf) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The query rotated as GPT-J, the key as neox: two rotations the one kernel
// cannot do together.
// CHECK-LABEL: func.func @native_rope_gptj_query_neox_key
// CHECK-NOT: fused_qk_norm_rope
// CHECK: aten.cat
func.func @native_rope_gptj_query_neox_key(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<32x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<32x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1 = "aten.slice"(%qn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %q2 = "aten.slice"(%qn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%su, %q1) : (tensor<?x1x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qd, %qc) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qu1 = "aten.unsqueeze"(%qo1) {dim = 3 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x32x1xbf16>
  %qu2 = "aten.unsqueeze"(%qo2) {dim = -1 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x32x1xbf16>
  %qcat = "aten.cat"(%qu1, %qu2) {dim = -1 : i64} : (tensor<?x2x32x1xbf16>, tensor<?x2x32x1xbf16>) -> tensor<?x2x32x2xbf16>
  %qf = "aten.reshape"(%qcat) {shape = array<i64: -1, 2, 64>} : (tensor<?x2x32x2xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qf) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1, %k2 = "aten.split"(%kn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x1x64xbf16>) -> (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>)
  %ka = "aten.mul"(%k1, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%k1, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kc, %kd) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kf = "aten.cat"(%ko1, %ko2) {dim = -1 : i64} : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kf) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// qkv recorded as rows of a wider tensor (1024 elements apart): vLLM's
// kernel checks `qkv.is_contiguous()`, and writes the packed rows in place.
// CHECK-LABEL: func.func @strided_qkv
// CHECK-NOT: fused_qk_norm_rope
// CHECK: vllm.rotary_embedding
func.func @strided_qkv(%qkv: tensor<?x512xbf16> {fx.name = "qkv", fx.meta = "{\"shape\":[\"s0\",512],\"dtype\":\"bfloat16\",\"stride\":[1024,1],\"device\":\"cuda:0\"}"}, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x64xbf16>, %pos: tensor<?xi64>) -> (tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>) {
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x256xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 256 : i64, end = 384 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x128xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 384 : i64, end = 512 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x128xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 4, 64>} : (tensor<?x256xbf16>) -> tensor<?x4x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x4x64xbf16>, tensor<64xbf16>) -> tensor<?x4x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 256>} : (tensor<?x4x64xbf16>) -> tensor<?x256xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<4096x64xbf16>) -> (tensor<?x256xbf16>, tensor<?x128xbf16>) loc("rope")
  return %q2, %k2, %v : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>
}

// -----

// An odd rotary width: no kernel takes it.
// PARTIAL-LABEL: func.func @odd_partial_rotary
// PARTIAL-NOT: fused_qk_norm_rope
// PARTIAL: vllm.rotary_embedding
func.func @odd_partial_rotary(%x: tensor<?x64xbf16>, %wqkv: tensor<64x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<4096x31xbf16>, %pos: tensor<?xi64>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x256xbf16>) -> tensor<?x256xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<4096x31xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>)
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}
