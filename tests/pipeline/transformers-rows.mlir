// The Transformers backend's rows, [1, T, H], flattened to [T, H] after
// the norm (its linear layer's `view(-1, H)`) and then quantized: a graph
// make_fx captured (torch 2.15, fake tensors, vLLM 0.11's `_C` schemas as in
// python/torch_tests). The flatten moves ahead of the norm (vLLM main's
// RMSNormReshapeFusionPass, part of vllm-fuse-rms-quant) and the norm and
// quant fuse; written back as one in-place call on the flattened input.
// RUN: vllm-opt %S/inputs/transformers_rows_3d.json --config '{"enable_noop": true, "enable_fusion": true}' --emit=fx-json | FileCheck %s
// RUN: vllm-opt %S/inputs/transformers_rows_3d.json --config '{"enable_noop": true}' --emit=fx-json | FileCheck %s --check-prefix=OFF

// CHECK: "target":"torch.ops.aten.reshape.default","args":[{"node":"x_1"},[-1,256]]
// CHECK: "target":"torch.ops._C.rms_norm_static_fp8_quant.default","args":[],"kwargs":{"result":{"node":"empty"},"input":{"node":"view"}
// CHECK-NOT: "torch.ops._C.rms_norm.default"
// CHECK-NOT: static_scaled_fp8_quant

// Without the fusion the graph keeps its order (the norm on [1, T, H]).
// OFF: "target":"torch.ops._C.rms_norm.default"
// OFF: "target":"torch.ops.aten.view.default"
// OFF: "target":"torch.ops._C.static_scaled_fp8_quant.default"
