// SiLU-and-mul + NVFP4 quant on a graph Inductor captured with the token
// count dynamic (python/torch_tests/test_nvfp4_silu_quant.py, which also
// checks eager's bytes): vLLM's `ops.scaled_fp4_quant` allocates the block
// scales with round_up(T, 128) rows, SymInt arithmetic in the graph. The
// pair becomes one in-place `silu_and_mul_nvfp4_quant_` whose block-scale
// buffer is sized by that arithmetic (symbolic) or its value (200 tokens:
// 256 rows), never by the input's T rows.
// RUN: vllm-opt %S/inputs/silu_nvfp4_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=SYM
// RUN: vllm-opt %S/inputs/silu_nvfp4_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --runtime-shape 200 | FileCheck %s --check-prefix=T200
// Fusion off: both kernels stay, in place, with the same buffers.
// RUN: vllm-opt %S/inputs/silu_nvfp4_inductor.json --config '{"eliminate_noops": true}' | FileCheck %s --check-prefix=OFF
// Exported as FX JSON: vLLM's positional call, as its fix-functionalization writes it.
// RUN: vllm-opt %S/inputs/silu_nvfp4_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=FX
// No PTX is generated for NVFP4 (its conversions need sm_100a): --emit-kernels says so.
// RUN: rm -rf %t && vllm-opt %S/inputs/silu_nvfp4_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --runtime-shape 200 --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=KERNELS

// SYM: %[[P:.*]] = "torch.operator"({{.*}}target = "operator.mul"
// SYM: %[[Q:.*]] = "aten.empty"(%arg0) {dtype = ui8
// SYM: %[[S:.*]] = "aten.full"(%[[P]]) {dtype = i32, fill_value = 0 : i64
// SYM-NOT: vllm.silu_and_mul_"
// SYM-NOT: vllm.scaled_fp4_quant
// SYM: "vllm.silu_and_mul_nvfp4_quant_"(%[[Q]], %[[S]], %arg1, %arg2) : (tensor<?x64xui8>, tensor<?x2xi32>, tensor<?x256xbf16>, tensor<f32>) -> ()
// SYM: return %[[Q]], %[[S]]

// T200: "aten.full"() {dtype = i32, fill_value = 0 : i64, size = array<i64: 256, 2>} : () -> tensor<256x2xi32>
// T200: "vllm.silu_and_mul_nvfp4_quant_"({{.*}}) : (tensor<200x64xui8>, tensor<256x2xi32>, tensor<200x256xbf16>, tensor<f32>) -> ()

// OFF: "vllm.silu_and_mul_"
// OFF: %[[S:.*]] = "aten.full"(%{{.*}}) {dtype = i32
// OFF: "vllm.scaled_fp4_quant_"({{.*}}, %[[S]],
// OFF-NOT: nvfp4_quant

// FX: "target":"torch.ops._C.silu_and_mul_nvfp4_quant.default","args":[{"node":"empty"},{"node":"full"},{"node":"arg1_1"},{"node":"arg2_1"}]
// FX-NOT: scaled_fp4_quant

// KERNELS: kernels: 0 unique for 0 sites
// KERNELS-NEXT: not generated {{.*}}: vllm.silu_and_mul_nvfp4_quant_ (1)
