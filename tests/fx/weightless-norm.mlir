// vLLM main's `_C.rms_norm` and `_C.fused_add_rms_norm` take `Tensor? weight`:
// a norm without a weight, which `vllm.rms_norm` (as the kernels vllm-opt
// models) does not. Such a call stays opaque, exported as it came, and its
// quant unfused; it was an import error ("argument 'weight' must be a tensor
// node"), which failed the whole compile inside vLLM. The same chain with a
// weight still fuses. (The plain in-place call, after vLLM's own
// fix-functionalization, stays opaque too.)
// RUN: vllm-opt %S/inputs/weightless-norm.json --config '{"enable_noop": true, "enable_fusion": true}' | FileCheck %s
// RUN: vllm-opt %S/inputs/weightless-norm.json --config '{"enable_noop": true, "enable_fusion": true}' --emit=fx-json | FileCheck %s --check-prefix=FX

// CHECK: %[[N:.*]] = "torch.operator"(%{{.*}}, %arg0) {{{.*}}\22weight\22:null{{.*}}target = "torch.ops.higher_order.auto_functionalized"}
// CHECK: "vllm.static_scaled_fp8_quant_"(%{{.*}}, %[[N]], %arg2)
// CHECK: "vllm.rms_norm_static_fp8_quant_"(%{{.*}}, %arg0, %arg1, %arg2)
// CHECK-NOT: "vllm.rms_norm"

// FX: "args":[{"op":"torch.ops._C.rms_norm.default"}],"kwargs":{"result":{"node":"empty_nw"},"input":{"node":"x"},"weight":null,"epsilon":0.00001}
// FX: "target":"torch.ops._C.rms_norm_static_fp8_quant.default"
