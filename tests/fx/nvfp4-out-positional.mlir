// vLLM's own fix-functionalization writes vLLM main's NVFP4 quant as a plain
// call with its positional arguments first and the keyword-only outputs as
// keywords: `scaled_fp4_quant.out(y, g, True, output=q, output_scale=s)`.
// The keyword-only outputs take no positional slot, so the call imports as
// the in-place op (not an opaque one), the bool as its attribute.
// RUN: vllm-opt %S/inputs/nvfp4_out_positional.json --pass-pipeline='builtin.module()' | FileCheck %s

// CHECK: %[[Y:.*]] = "aten.empty"(%arg0) {dtype = bf16
// CHECK: "vllm.silu_and_mul_"(%[[Y]], %arg1)
// CHECK: %[[Q:.*]] = "aten.empty"(%arg0) {dtype = ui8
// CHECK: %[[S:.*]] = "aten.full"(%{{.*}}) {dtype = i32
// CHECK: "vllm.scaled_fp4_quant_out_"(%[[Y]], %arg2, %[[Q]], %[[S]]) {{{.*}}is_sf_swizzled_layout = true{{.*}}} : (tensor<?x128xbf16>, tensor<f32>, tensor<?x64xui8>, tensor<?x2xi32>) -> ()
// CHECK-NOT: torch.operator"(%{{.*}}) {{{.*}}scaled_fp4_quant
