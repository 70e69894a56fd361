// VLLM_OPT_DEBUG=<node> / --debug-node explains, at that FX node, what each
// fusion rule did and why it did not fire. It does not change the cache key.
// RUN: vllm-opt %s --config '{"enable_fusion": true}' --debug-node q -o /dev/null 2>&1 | FileCheck %s
// RUN: env VLLM_OPT_DEBUG=q2 vllm-opt %s --config '{"enable_fusion": true}' -o /dev/null 2>&1 | FileCheck %s --check-prefix=FUSED
// RUN: vllm-opt --print-uuid --config '{"enable_fusion": true}' > %t.a
// RUN: env VLLM_OPT_DEBUG=q vllm-opt --print-uuid --config '{"enable_fusion": true}' > %t.b
// RUN: diff %t.a %t.b

// CHECK: node 'q': remark: rule 'rms-static-quant' did not match: Prod("result") has 2 uses; fusing would drop what the others read
// CHECK: node 'q': remark: rule 'fused-add-rms-static-quant' did not match: 'input' comes from vllm.rms_norm, not vllm.fused_add_rms_norm
// FUSED: node 'q2': remark: rule 'rms-static-quant' fused node 'q2'
func.func @f(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>, tensor<?x4096xf8E4M3FN>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16> loc("y")
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN> loc("q")
  %y2 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16> loc("y2")
  %q2 = "vllm.static_scaled_fp8_quant"(%y2, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN> loc("q2")
  return %q, %y, %q2 : tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>, tensor<?x4096xf8E4M3FN>
}
