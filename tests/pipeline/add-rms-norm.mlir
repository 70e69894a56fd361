// The add + RMSNorm fusion in the post-grad pipeline (the pass itself:
// tests/passes/vllm-fuse-add-rms-norm.mlir): it runs right after no-op
// elimination whenever a pass that fuses or shards fused_add_rms_norm is on,
// so a Transformers-backend layer boundary (residual add, then a norm
// without residual, then the static FP8 quant) becomes one in-place kernel,
// and an all-reduce before the add fuses into FlashInfer's kernel.
// RUN: vllm-opt %s --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=QUANT
// RUN: vllm-opt %s --config '{"enable_fusion": true}' --print-pipeline | FileCheck %s --check-prefix=PIPE
// RUN: vllm-opt %s --config '{"eliminate_noops": true}' --print-pipeline | FileCheck %s --check-prefix=OFF
// RUN: vllm-opt %s --config '{"fuse_allreduce_rms": true}' --tp-size 2 --runtime-shape 16 | FileCheck %s --check-prefix=AR

// A graph Inductor captured (torch 2.15, CPU) from
// python/torch_tests/test_add_rms_norm.py's layer_boundary (a plain residual
// add, vLLM's native RMSNorm and static quant, custom ops off; the token
// count marked dynamic), captured with vllm_opt.post_grad_dump_pass; symbolic
// and at 16 tokens:
// RUN: vllm-opt %S/inputs/add_rms_norm_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=CAPTURED
// RUN: vllm-opt %S/inputs/add_rms_norm_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --runtime-shape 16 | FileCheck %s --check-prefix=CAPTURED
// RUN: vllm-opt %S/inputs/add_rms_norm_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --pass-summary -o /dev/null 2>&1 | FileCheck %s --check-prefix=SUMMARY
// SUMMARY: vllm-fuse-add-rms-norm {{.*}} add-rms-norm=1 native-rms=1
// SUMMARY: vllm-fuse-rms-quant {{.*}} fused-add-rms-static-quant=1 {{.*}}native-quant=1
// CAPTURED: "vllm.fused_add_rms_norm_static_fp8_quant_"
// CAPTURED-NOT: aten.add
// CAPTURED-NOT: aten.rsqrt
// CAPTURED-NOT: aten.reciprocal
// CAPTURED: return

// PIPE: func.func(vllm-fuse-add-rms-norm),func.func(vllm-fuse-rms-quant)
// OFF-NOT: vllm-fuse-add-rms-norm

// QUANT-LABEL: func.func @layer
// QUANT: %[[R:.*]] = "aten.clone"(%arg1)
// QUANT-NEXT: "vllm.fused_add_rms_norm_static_fp8_quant_"(%{{.*}}, %arg0, %[[R]], %arg2, %arg3)
// QUANT-NOT: aten.add
// QUANT-NOT: vllm.rms_norm
// QUANT: return %{{.*}}, %[[R]]
func.func @layer(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>) {
  %z = "aten.add"(%x, %r) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %y = "vllm.rms_norm"(%z, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q, %z : tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>
}


// AR-LABEL: func.func @tp_layer
// AR: "vllm.flashinfer_trtllm_fused_allreduce_norm_"
// AR-SAME: pattern_code = 1 : i64
// AR-NOT: vllm.all_reduce
// AR-NOT: aten.add
func.func @tp_layer(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %z = "aten.add"(%a, %r) : (tensor<?x4096xbf16>, tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %y = "vllm.rms_norm"(%z, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %y, %z : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}
