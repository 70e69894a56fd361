// A vLLM whose per-group quant call has no layout flags (vLLM 0.11's schema;
// its kernel reads column-major scales from their strides) on vLLM main's
// captured graph with the flags taken out (per_group_main_inductor.json, see
// per-group-main.mlir): the fused ops would write the layout their flags
// say, rows here, so only the layer recorded as rows fuses; the column-major
// and TMA-padded quants go in place as they came, their norms and SiLUs
// beside them, each buffer in its recorded layout.
// RUN: vllm-opt %S/inputs/per_group_flagless_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s
// The unfused quants' kernels write their buffers' layouts, as vLLM's reads
// them from the strides (column-major, and TMA-padded with the padded stride
// the graph's `4*((T + 3)//4)`); none writes rows into them:
// RUN: rm -rf %t && vllm-opt %S/inputs/per_group_flagless_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --emit-kernels %t -o /dev/null 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json --check-prefix=KERNELS
// RUN: not grep '"name": "per_token_group_fp8_quant_g128_h256_bf16",' %t/manifest.json

// CHECK: "vllm.rms_norm_per_block_quant_"(%{{.*}}, %arg1, %arg2, %{{.*}}) {{{.*}}is_scale_transposed = false
// CHECK: "vllm.fused_add_rms_norm_"(
// CHECK: %[[P1:.*]] = "aten.permute"
// CHECK: "vllm.per_token_group_fp8_quant_"(%{{.*}}, %{{.*}}, %[[P1]]) {eps
// CHECK: "vllm.silu_and_mul_"(
// CHECK: %[[P2:.*]] = "aten.permute"
// CHECK: "vllm.per_token_group_fp8_quant_"(%{{.*}}, %{{.*}}, %[[P2]]) {eps
// CHECK: "vllm.rms_norm_"(
// CHECK: %[[T1:.*]] = "aten.empty_strided"
// CHECK: "vllm.per_token_group_fp8_quant_"(%{{.*}}, %{{.*}}, %[[T1]]) {eps
// CHECK: "vllm.silu_and_mul_"(
// CHECK: %[[T2:.*]] = "aten.empty_strided"
// CHECK: "vllm.per_token_group_fp8_quant_"(%{{.*}}, %{{.*}}, %[[T2]]) {eps
// CHECK-NOT: _per_block_quant
// CHECK-NOT: dummy_is

// LOG: kernels: 6 unique for 9 sites
// LOG-NOT: not generated
// KERNELS-DAG: "name": "per_token_group_fp8_quant_g128_h256_bf16_colmajor",
// KERNELS-DAG: "name": "per_token_group_fp8_quant_g128_h256_bf16_colmajor_tma",
