// The q/k-norm + RoPE fusion in the post-grad pipeline: off unless the
// config asks (vLLM main's enable_qk_norm_rope_fusion, off by default
// there too), after the attention fusion; fix-functionalization writes qkv
// in place; the FX graph calls vLLM's op with its keyword arguments. The
// pass itself: vllm-fuse-qk-norm-rope.mlir.
// RUN: vllm-opt %s --config '{"enable_qk_norm_rope_fusion": true}' | FileCheck %s
// RUN: vllm-opt %s --config '{"enable_qk_norm_rope_fusion": true}' --print-pipeline | FileCheck %s --check-prefix=PIPE
// RUN: vllm-opt %s --config '{"enable_noop": true}' | FileCheck %s --check-prefix=OFF
// RUN: vllm-opt %s --config '{"enable_qk_norm_rope_fusion": true}' --emit fx-json | FileCheck %s --check-prefix=FX
// A graph Inductor built (torch 2.15, CPU) from python/torch_tests/test_qk_norm_rope.py's
// qwen3_qkv (Qwen3Attention's projection, split, native per-head RMSNorms and
// _C.rotary_embedding; the token count marked dynamic, auto_functionalized v1
// as vLLM runs it), captured with vllm_opt.post_grad_dump_pass; symbolic and
// at 16 tokens:
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' | FileCheck %s --check-prefix=CAPTURED
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' --runtime-shape 16 | FileCheck %s --check-prefix=CAPTURED
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_inductor.json --config '{"enable_noop": true}' | FileCheck %s --check-prefix=OFF
// vLLM main's rotary call names `rope_dim_offset=0, inverse=False` (its added
// arguments, at the values that leave the op as it was): the same fusion; a
// rotary from another offset is another op and stays opaque, unfused.
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_main_rotary.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' | FileCheck %s --check-prefix=CAPTURED
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_rotary_offset.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' | FileCheck %s --check-prefix=OFFSET
// OFFSET-NOT: fused_qk_norm_rope
// OFFSET: \22rope_dim_offset\22:32{{.*}}target = "torch.ops.higher_order.auto_functionalized"
// OFFSET-NOT: fused_qk_norm_rope
// The same with vLLM's native rotary (RotaryEmbedding.forward_native, neox: the
// halves of cache[positions] times the halves of each head, concatenated),
// as vLLM compiles it by default (custom ops off):
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_native_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' | FileCheck %s --check-prefix=CAPTURED
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_native_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' --runtime-shape 16 | FileCheck %s --check-prefix=CAPTURED
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_native_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' --pass-summary -o /dev/null 2>&1 | FileCheck %s --check-prefix=NATIVE
// The same with vLLM's native GPT-J rotary (the even and odd elements of each
// head, stacked back as pairs: unsqueeze, cat and two views after Inductor):
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_native_gptj_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' | FileCheck %s --check-prefix=CAPTURED-GPTJ
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_native_gptj_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' --runtime-shape 16 | FileCheck %s --check-prefix=CAPTURED-GPTJ
// RUN: vllm-opt %S/inputs/qwen3_qk_norm_rope_native_gptj_inductor.json --config '{"enable_noop": true, "enable_qk_norm_rope_fusion": true}' --pass-summary -o /dev/null 2>&1 | FileCheck %s --check-prefix=NATIVE
// NATIVE: vllm-fuse-qk-norm-rope {{.*}} native-rms=2 native-rope=1 qk-norm-rope=1
// CAPTURED-GPTJ: %[[QKV:.*]] = "aten.mm"
// CAPTURED-GPTJ-NEXT: "vllm.fused_qk_norm_rope_"(%[[QKV]], {{.*}}) {eps = 9.9999999999999995E-7 : f64, head_dim = 64 : i64, is_neox = false, num_heads_k = 2 : i64, num_heads_q = 4 : i64, num_heads_v = 2 : i64}
// CAPTURED-GPTJ-NOT: aten.rsqrt
// CAPTURED-GPTJ-NOT: aten.clone
// CAPTURED-GPTJ-NOT: aten.cat
// CAPTURED-GPTJ-NOT: aten.unsqueeze
// CAPTURED-GPTJ-NOT: aten.index
// CAPTURED-GPTJ: return
// CAPTURED: %[[QKV:.*]] = "aten.mm"
// CAPTURED-NEXT: "vllm.fused_qk_norm_rope_"(%[[QKV]], {{.*}}) {eps = 9.9999999999999995E-7 : f64, head_dim = 64 : i64, is_neox = true, num_heads_k = 2 : i64, num_heads_q = 4 : i64, num_heads_v = 2 : i64}
// CAPTURED-NOT: aten.rsqrt
// CAPTURED-NOT: vllm.rotary_embedding
// CAPTURED-NOT: aten.clone
// CAPTURED-NOT: aten.cat
// CAPTURED-NOT: aten.index
// CAPTURED: return
// The option is part of the cache key only when on (older keys stay valid):
// RUN: vllm-opt %s --config '{}' --print-uuid > %t.off
// RUN: vllm-opt %s --config '{"enable_qk_norm_rope_fusion": false}' --print-uuid > %t.false
// RUN: vllm-opt %s --config '{"enable_qk_norm_rope_fusion": true}' --print-uuid > %t.on
// RUN: diff %t.off %t.false
// RUN: not diff %t.off %t.on

// CHECK-LABEL: func.func @qwen3
// CHECK-NEXT: %[[QKV:.*]] = "aten.mm"(%arg0, %arg1)
// CHECK-NEXT: "vllm.fused_qk_norm_rope_"(%[[QKV]], %arg2, %arg3, %arg4, %arg5) {eps = 9.9999999999999995E-7 : f64, head_dim = 128 : i64, is_neox = true, num_heads_k = 1 : i64, num_heads_q = 2 : i64, num_heads_v = 1 : i64}
// CHECK-NOT: vllm.rms_norm
// CHECK-NOT: vllm.rotary_embedding
// CHECK-NOT: aten.clone
// CHECK: return
// PIPE: vllm-fuse-qk-norm-rope
// PIPE-SAME: vllm-fix-functionalization
// OFF-NOT: fused_qk_norm_rope
// OFF: "vllm.rotary_embedding_"
// FX: "target":"torch.ops._C.fused_qk_norm_rope.default"
// FX-SAME: "kwargs":{"qkv":{"node":"mm"},"q_weight":{"node":"arg2"},"k_weight":{"node":"arg3"},"cos_sin_cache":{"node":"arg4"},"position_ids":{"node":"arg5"},"num_heads_q":2,"num_heads_k":1,"num_heads_v":1,"head_dim":128,"eps":1e-6,"is_neox":true}
func.func @qwen3(%x: tensor<?x64xbf16>, %wqkv: tensor<64x512xbf16>, %qw: tensor<128xbf16>, %kw: tensor<128xbf16>, %cache: tensor<4096x128xbf16>, %pos: tensor<?xi64>) -> (tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>) {
  %qkv = "aten.mm"(%x, %wqkv) : (tensor<?x64xbf16>, tensor<64x512xbf16>) -> tensor<?x512xbf16> loc("mm")
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x256xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 256 : i64, end = 384 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x128xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 384 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<?x512xbf16>) -> tensor<?x128xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 128>} : (tensor<?x256xbf16>) -> tensor<?x2x128xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x128xbf16>, tensor<128xbf16>) -> tensor<?x2x128xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 256>} : (tensor<?x2x128xbf16>) -> tensor<?x256xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 128>} : (tensor<?x128xbf16>) -> tensor<?x1x128xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x128xbf16>, tensor<128xbf16>) -> tensor<?x1x128xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 128>} : (tensor<?x1x128xbf16>) -> tensor<?x128xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 128 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<4096x128xbf16>) -> (tensor<?x256xbf16>, tensor<?x128xbf16>)
  return %q2, %k2, %v : tensor<?x256xbf16>, tensor<?x128xbf16>, tensor<?x128xbf16>
}
