// In-place ops export as plain calls with their schema's kwargs; an absent
// optional operand is None, whichever optional group it is.
// RUN: vllm-opt %s --emit=fx-json | FileCheck %s

// CHECK: "target":"torch.ops._C.rms_norm_dynamic_per_token_quant.default","args":[],"kwargs":{"result":{"node":"arg0"},"input":{"node":"arg1"},"weight":{"node":"arg2"},"scale":{"node":"arg3"},"scale_ub":null,"residual":{"node":"arg4"},"epsilon":0.00001}
func.func @f(%buf: tensor<?x4096xf8E4M3FN>, %x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %sbuf: tensor<?x1xf32>, %r: tensor<?x4096xbf16>) {
  "vllm.rms_norm_dynamic_per_token_quant_"(%buf, %x, %w, %sbuf, %r) {epsilon = 1.000000e-05 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1>} : (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>, tensor<4096xbf16>, tensor<?x1xf32>, tensor<?x4096xbf16>) -> ()
  return
}
