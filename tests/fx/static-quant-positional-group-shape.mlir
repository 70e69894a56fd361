// vLLM's own fix-functionalization writes vLLM main's static FP8 quant as a
// plain call with `group_shape` positional: `static_scaled_fp8_quant(q, y,
// s, [-1, -1])`. A tolerated argument (ops.toml `tolerated`) with its
// per-tensor value: the call imports as the in-place op, and exports by
// keyword without it (its default, None with one scale, is per tensor too). (The fusion-off export of the captured graph of
// tests/pipeline/static-quant-group-shape.mlir, that call made positional.)
// RUN: vllm-opt %S/inputs/static_quant_positional_group_shape.json --pass-pipeline='builtin.module()' | FileCheck %s
// RUN: vllm-opt %S/inputs/static_quant_positional_group_shape.json --pass-pipeline='builtin.module()' --emit fx-json | FileCheck %s --check-prefix=FX

// CHECK: "vllm.static_scaled_fp8_quant_"(%{{.*}}, %{{.*}}, %arg3) {fx.args = "{\22args\22:[{\22operand\22:0},{\22operand\22:1},{\22operand\22:2},[-1,-1]]
// CHECK: "torch.operator"({{.*}}target = "torch.ops.higher_order.auto_functionalized"}

// FX: "target":"torch.ops._C.static_scaled_fp8_quant.default","args":[],"kwargs":{"result":{"node":"empty_1"},"input":{"node":"empty"},"scale":{"node":"arg3_1"}}
