// vLLM main's per-group FP8 quant passes `dummy_is_scale_transposed` and
// `dummy_is_tma_aligned` (vLLM 0.11's call has neither): its kernel reads the
// scales' layout from their strides. On a graph Inductor captured
// (python/torch_tests/test_per_group_main_schema.py, which also checks eager's
// bytes and strides): a norm + row-major quant, an add-norm + column-major
// quant (`empty([2, T]).permute(1, 0)`) and a SiLU-and-mul + column-major quant
// fuse, each fused op writing the layout its quant had (a transposed buffer
// where it was one); and a norm + TMA-padded quant (DeepGEMM's: rows padded to
// a multiple of 4) fuses too, into a fused op that pads them (our internal
// `is_scale_tma_aligned`, never exported: vLLM's kernel reads the strides),
// with an `empty_strided` buffer as vLLM allocates one; a SiLU-and-mul +
// TMA-padded quant does not (vLLM's fused SiLU kernel ignores the padding):
// both go in place, unfused.
// RUN: vllm-opt %S/inputs/per_group_main_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s
// RUN: vllm-opt %S/inputs/per_group_main_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=FX
// Fusion off: the quants go in place with the flags they came with, in their layouts (the TMA one too).
// RUN: vllm-opt %S/inputs/per_group_main_inductor.json --config '{"eliminate_noops": true}' | FileCheck %s --check-prefix=OFF

// CHECK: %[[S1:.*]] = "aten.empty"(%arg0) {dtype = f32, size = array<i64: -9223372036854775808, 2>}
// CHECK: "vllm.rms_norm_per_block_quant_"(%{{.*}}, %arg1, %arg2, %[[S1]]) {{{.*}}is_scale_transposed = false
// CHECK: %[[B2:.*]] = "aten.empty"(%arg0) {dtype = f32, size = array<i64: 2, -9223372036854775808>}
// CHECK: %[[S2:.*]] = "aten.permute"(%[[B2]]) {dims = array<i64: 1, 0>} : (tensor<2x?xf32>) -> tensor<?x2xf32>
// CHECK: "vllm.rms_norm_per_block_quant_"(%{{.*}}, %{{.*}}, %arg2, %[[S2]], %{{.*}}) {{{.*}}is_scale_transposed = true
// CHECK: %[[B3:.*]] = "aten.empty"(%arg5) {dtype = f32, size = array<i64: 2, -9223372036854775808>}
// CHECK: %[[S3:.*]] = "aten.permute"(%[[B3]])
// CHECK: "vllm.silu_and_mul_per_block_quant_"(%{{.*}}, %arg6, %[[S3]]) {group_size = 128 : i64, is_scale_transposed = true}
// CHECK: %[[PAD:.*]] = "torch.operator"({{.*}}target = "operator.mul"
// CHECK: %[[S4:.*]] = "aten.empty_strided"(%arg0, %[[PAD]]) {dtype = f32, size = array<i64: -9223372036854775808, 2>, stride = array<i64: 1, -9223372036854775808>}
// CHECK: "vllm.rms_norm_per_block_quant_"(%{{.*}}, %{{.*}}, %arg2, %[[S4]]) {{{.*}}is_scale_tma_aligned = true, is_scale_transposed = true
// CHECK: "vllm.silu_and_mul_"(%[[A5:.*]], %{{.*}})
// CHECK: %[[S5:.*]] = "aten.empty_strided"(%arg5, %{{.*}})
// CHECK: "vllm.per_token_group_fp8_quant_"(%[[A5]], %{{.*}}, %[[S5]]) {dummy_is_scale_transposed = true, dummy_is_tma_aligned = true,
// CHECK-NOT: auto_functionalized

// The SiLU op positionally, in its schema's order (`out, input, scales, group_size, scale_ub, is_scale_transposed`).
// FX: "target":"torch.ops._C.rms_norm_per_block_quant.default","args":[],"kwargs":{{.*}}"is_scale_transposed":false}
// FX: "name":"permute","op":"call_function","target":"torch.ops.aten.permute.default","args":[{"node":"empty_3"},[1,0]],"kwargs":{},"meta":{"val":{"shape":["s77",2],"dtype":"float32","stride":[1,"s77"]
// FX: "target":"torch.ops._C.rms_norm_per_block_quant.default","args":[],"kwargs":{{.*}}"scale":{"node":"permute"}{{.*}}"is_scale_transposed":true}
// FX: "target":"torch.ops._C.silu_and_mul_per_block_quant.default","args":[{"node":"empty_4"},{"node":"arg6_1"},{"node":"permute_1"},128,null,true],"kwargs":{}
// FX: "target":"torch.ops.aten.empty_strided.default","args":{{\[\[}}{"node":"arg0_1"},2],[1,{"node":"mul{{(_[0-9]+)?}}"}{{\]\]}},{{.*}}"stride":[1,"4*((s77 + 3)//4)"]
// FX: "target":"torch.ops._C.rms_norm_per_block_quant.default","args":[],"kwargs":{{.*}}"scale":{"node":"empty_strided"}{{.*}}"is_scale_transposed":true}
// FX-NOT: is_scale_tma_aligned

// OFF: "vllm.per_token_group_fp8_quant_"(%0, %1, %2) {dummy_is_scale_transposed = false, dummy_is_tma_aligned = false,
// OFF: %[[P:.*]] = "aten.permute"
// OFF: "vllm.per_token_group_fp8_quant_"(%{{.*}}, %{{.*}}, %[[P]]) {dummy_is_scale_transposed = true, dummy_is_tma_aligned = false,
// OFF: %[[P2:.*]] = "aten.permute"
// OFF: "vllm.per_token_group_fp8_quant_"(%{{.*}}, %{{.*}}, %[[P2]]) {dummy_is_scale_transposed = true, dummy_is_tma_aligned = false,
// OFF: %[[E:.*]] = "aten.empty_strided"
// OFF: "vllm.per_token_group_fp8_quant_"(%{{.*}}, %{{.*}}, %[[E]]) {dummy_is_scale_transposed = true, dummy_is_tma_aligned = true,
// OFF-NOT: auto_functionalized
