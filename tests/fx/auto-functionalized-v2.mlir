// torch.compile's default functionalization (auto_functionalized_v2, which
// vLLM turns off): a mutated argument is an index into `_all_bases` and the
// tuple holds each base's new value. A graph Inductor captured (torch 2.15,
// CPU; `_C.rms_norm` then `_C.static_scaled_fp8_quant` on fresh buffers, the
// token count dynamic) imports as the value-form ops, exports node for node
// as it came (fx.target records v2), and fuses like a v1 graph.
// RUN: vllm-opt %S/inputs/rms_quant_v2_inductor.json | FileCheck %s
// RUN: vllm-opt %S/inputs/rms_quant_v2_inductor.json --emit=fx-json | FileCheck %s --check-prefix=FX
// RUN: vllm-opt %S/inputs/rms_quant_v2_inductor.json --emit=fx-json | vllm-opt - --input-format=fx-json | FileCheck %s
// RUN: vllm-opt %S/inputs/rms_quant_v2_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=FUSED
// A written argument that is a view of its base (here `_result_storage_offset`)
// is kept opaque, as every form the value op cannot express:
// RUN: vllm-opt %S/inputs/rms_quant_v2_view.json | FileCheck %s --check-prefix=VIEW

// CHECK: %[[N:.*]] = "vllm.rms_norm"(%arg1, %arg2) {epsilon = 1.000000e-05 : f64, {{.*}}fx.target = "torch.ops.higher_order.auto_functionalized_v2"{{.*}}} : (tensor<?x256xbf16>, tensor<256xbf16>) -> tensor<?x256xbf16>
// CHECK: %[[Q:.*]] = "vllm.static_scaled_fp8_quant"(%[[N]], %arg3) {{{.*}}fx.target = "torch.ops.higher_order.auto_functionalized_v2"{{.*}}} : (tensor<?x256xbf16>, tensor<1xf32>) -> tensor<?x256xf8E4M3FN>
// CHECK: return %[[Q]]

// FX: "name":"empty","op":"call_function","target":"torch.ops.aten.empty.memory_format"
// FX: "name":"auto_functionalized_v2","op":"call_function","target":"torch.ops.higher_order.auto_functionalized_v2","args":[{"op":"torch.ops._C.rms_norm.default"}],"kwargs":{"input":{"node":"arg1_1"},"weight":{"node":"arg2_1"},"epsilon":{{[0-9.e-]+}},"_result_base_index":0,"_all_bases":{{\[}}{"node":"empty"}]}
// FX: "name":"getitem_1","op":"call_function","target":"operator.getitem","args":[{"node":"auto_functionalized_v2"},1]

// FUSED: "vllm.rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %arg2, %arg3)
// FUSED-NOT: auto_functionalized
// FUSED: return

// VIEW: "torch.operator"{{.*}}target = "torch.ops.higher_order.auto_functionalized_v2"
// VIEW: "vllm.static_scaled_fp8_quant"
