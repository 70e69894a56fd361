// vLLM main's NVFP4 quant call, `_C.scaled_fp4_quant.out(input, input_scale,
// is_sf_swizzled_layout, *, output, output_scale)`, on graphs Inductor
// captured with vLLM main's schemas and the token count dynamic
// (python/torch_tests/test_nvfp4_main_schema.py, which also checks eager's
// bytes). vLLM main zero-fills the swizzled block scales (`aten.full`): the
// fused op's buffer is zero-filled too, with round_up(T, 128) rows.
// RUN: vllm-opt %S/inputs/silu_nvfp4_main_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=SYM
// RUN: vllm-opt %S/inputs/silu_nvfp4_main_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --runtime-shape 200 | FileCheck %s --check-prefix=T200
// Fusion off: the quant comes back as the `.out` call, its outputs keywords,
// the recorded zero-filled buffer recreated.
// RUN: vllm-opt %S/inputs/silu_nvfp4_main_inductor.json --config '{"eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=OFF
// Row-major scales (`is_sf_swizzled_layout=False`, MoE's layout): nothing
// fuses (every fused NVFP4 kernel writes the swizzled layout); the scale
// buffer is [T, n / 16] bytes, unpadded.
// RUN: vllm-opt %S/inputs/nvfp4_row_major_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=ROW
// RUN: vllm-opt %S/inputs/nvfp4_row_major_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=ROWFX
// vLLM main's functional overload, `scaled_fp4_quant(y, g, True) -> (q, sf)`,
// which allocates inside the op, so the graph has no arithmetic for the
// padded rows (the swizzled capture with its quant rewritten into that
// call): fused the same; fix-functionalization builds round_up(T, 128) from
// T. Fusion off: the functional call comes back as it came.
// RUN: vllm-opt %S/inputs/silu_nvfp4_functional.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=FUNC
// RUN: vllm-opt %S/inputs/silu_nvfp4_functional.json --config '{"eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=FUNCOFF

// SYM: %[[P:.*]] = "torch.operator"({{.*}}target = "operator.mul"
// SYM: %[[Q:.*]] = "aten.empty"(%arg0) {dtype = ui8
// SYM: %[[S:.*]] = "aten.full"(%[[P]]) {dtype = i32, fill_value = 0 : i64
// SYM-NOT: vllm.scaled_fp4_quant
// SYM: "vllm.silu_and_mul_nvfp4_quant_"(%[[Q]], %[[S]], %arg1, %arg2) : (tensor<?x64xui8>, tensor<?x2xi32>, tensor<?x256xbf16>, tensor<f32>) -> ()
// SYM: return %[[Q]], %[[S]]

// T200: "aten.full"() {dtype = i32, fill_value = 0 : i64, size = array<i64: 256, 2>} : () -> tensor<256x2xi32>
// T200: "vllm.silu_and_mul_nvfp4_quant_"({{.*}}) : (tensor<200x64xui8>, tensor<256x2xi32>, tensor<200x256xbf16>, tensor<f32>) -> ()

// OFF: "target":"torch.ops._C.silu_and_mul.default"
// OFF: "name":"full_default","op":"call_function","target":"torch.ops.aten.full.default"
// OFF: "target":"torch.ops._C.scaled_fp4_quant.out","args":[],"kwargs":{"input":{"node":"empty"},"input_scale":{"node":"arg2_1"},"output":{"node":"empty_1"},"output_scale":{"node":"full_default"},"is_sf_swizzled_layout":true}

// ROW: "vllm.silu_and_mul_"
// ROW: %[[Q:.*]] = "aten.empty"(%arg0) {dtype = ui8, size = array<i64: -9223372036854775808, 64>}
// ROW: %[[S:.*]] = "aten.empty"(%arg0) {dtype = ui8, size = array<i64: -9223372036854775808, 8>}
// ROW: "vllm.scaled_fp4_quant_out_"(%{{.*}}, %arg2, %[[Q]], %[[S]]) {is_sf_swizzled_layout = false} : (tensor<?x128xbf16>, tensor<f32>, tensor<?x64xui8>, tensor<?x8xui8>) -> ()

// ROWFX: "target":"torch.ops._C.scaled_fp4_quant.out","args":[],"kwargs":{"input":{"node":"empty"},"input_scale":{"node":"arg2_1"},"output":{"node":"empty_1"},"output_scale":{"node":"empty_2"},"is_sf_swizzled_layout":false}

// FUNC: %[[A:.*]] = "torch.operator"(%arg0) {{{.*}}target = "operator.add"}
// FUNC: %[[F:.*]] = "torch.operator"(%[[A]]) {{{.*}}target = "operator.floordiv"}
// FUNC: %[[M:.*]] = "torch.operator"(%[[F]]) {{{.*}}target = "operator.mul"}
// FUNC: %[[S:.*]] = "aten.full"(%[[M]]) {dtype = i32, fill_value = 0 : i64
// FUNC: "vllm.silu_and_mul_nvfp4_quant_"(%{{.*}}, %[[S]], %arg1, %arg2)

// FUNCOFF: "name":"scaled_fp4_quant","op":"call_function","target":"torch.ops._C.scaled_fp4_quant.default","args":[{"node":"empty"},{"node":"arg2_1"},true]
// FUNCOFF: "target":"operator.getitem","args":[{"node":"scaled_fp4_quant"},0]
// FUNCOFF: "target":"operator.getitem","args":[{"node":"scaled_fp4_quant"},1]
