// vLLM main's static FP8 quant takes `int[]? group_shape=None` and
// `ops.scaled_fp8_quant` always passes it. On a graph Inductor captured
// (python/torch_tests/test_static_quant_group_shape.py, which also checks
// eager's bytes): the per-tensor call (`[-1, -1]`) imports as
// `vllm.static_scaled_fp8_quant` and fuses with its norm; the call with
// per-token scales (`[T, 1]`, group_shape None) is not that op and stays as
// it came, its norm converted in place before it.
// RUN: vllm-opt %S/inputs/static_quant_group_shape_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s
// RUN: vllm-opt %S/inputs/static_quant_group_shape_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=FX
// Fusion off: the per-tensor call goes in place, without the argument it does not need.
// RUN: vllm-opt %S/inputs/static_quant_group_shape_inductor.json --config '{"eliminate_noops": true}' | FileCheck %s --check-prefix=OFF

// CHECK: "vllm.rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %arg2, %arg3)
// CHECK: "vllm.rms_norm_"(%[[Y:.*]], %{{.*}}, %arg2)
// CHECK: "torch.operator"(%{{.*}}, %[[Y]], %arg5) {{{.*}}\22group_shape\22:null{{.*}}target = "torch.ops.higher_order.auto_functionalized"}

// FX: "target":"torch.ops._C.rms_norm_static_fp8_quant.default"
// FX: "target":"torch.ops.higher_order.auto_functionalized","args":[{"op":"torch.ops._C.static_scaled_fp8_quant.default"}],"kwargs":{"result":{"node":"empty_3"},"input":{"node":"empty_2"},"scale":{"node":"arg5_1"},"group_shape":null}

// OFF: "vllm.static_scaled_fp8_quant_"(%{{.*}}, %{{.*}}, %arg3) : (tensor<?x64xf8E4M3FN>, tensor<?x64xbf16>, tensor<1xf32>) -> ()
// OFF: "torch.operator"({{.*}}target = "torch.ops.higher_order.auto_functionalized"}
