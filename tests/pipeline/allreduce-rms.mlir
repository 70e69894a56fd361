// The all-reduce + norm fusion on the captured tensor-parallel graph (tp = 2,
// 2 layers, five all-reduces, each feeding a norm): every one becomes a
// FlashInfer fused op, with the static quant after all but the last (the
// model's output norm). The first norm has no residual: a residual of zeros,
// which fix-functionalization then keeps as the residual buffer every later
// layer updates in place.
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_noop": true, "enable_fusion": true, "enable_fi_allreduce_fusion": true}' --runtime-shape 256 --tp-size 2 > %t.mlir
// RUN: FileCheck %s < %t.mlir
// RUN: grep -c 'pattern_code = 2' %t.mlir | FileCheck %s --check-prefix=FOUR
// RUN: vllm-opt %t.mlir --emit fx-json > %t.json
// RUN: FileCheck %s --check-prefix=FX < %t.json
// RUN: vllm-opt %t.json --emit fx-json | diff - %t.json
// A compile range ending at or below the limit applies (the zeros sized by the symbolic row count):
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_fi_allreduce_fusion": true}' --compile-range 1:512 --tp-size 2 | FileCheck %s --check-prefix=RANGE
// Above fi_allreduce_fusion_max_token_num it does not run; on the symbolic
// graph it runs and leaves every site, whose row count has no bound:
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_fi_allreduce_fusion": true, "fi_allreduce_fusion_max_token_num": 128}' --runtime-shape 256 --tp-size 2 --pass-summary -o /dev/null 2>&1 | FileCheck %s --check-prefix=LIMIT
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_fi_allreduce_fusion": true}' --tp-size 2 --pass-summary -o /dev/null 2>&1 | FileCheck %s --check-prefix=SYMBOLIC
// RUN: vllm-opt --config '{"enable_fi_allreduce_fusion": true, "fi_allreduce_fusion_max_token_num": 4096}' --runtime-shape 256 --tp-size 4 --print-pipeline | FileCheck %s --check-prefix=PIPE
// With vLLM main's byte budget (fi_allreduce_fusion_max_size_mb: 1 MiB holds
// 128 rows of 4096 bf16) each site's limit is 128 tokens: 64 tokens fuse with
// that limit, 256 do not (the pass counts the sites it left).
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_fi_allreduce_fusion": true, "fi_allreduce_fusion_max_size_mb": 1}' --runtime-shape 64 --tp-size 2 | FileCheck %s --check-prefix=SIZED
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_fi_allreduce_fusion": true, "fi_allreduce_fusion_max_size_mb": 1}' --runtime-shape 256 --tp-size 2 --pass-summary -o /dev/null 2>&1 | FileCheck %s --check-prefix=OVER

// CHECK-NOT: "vllm.all_reduce"
// CHECK: %[[Z:.*]] = "aten.full"() {{.*}}size = array<i64: 256, 4096>} : () -> tensor<256x4096xbf16>
// CHECK: "vllm.flashinfer_trtllm_fused_allreduce_norm_"(%{{.*}}, %[[Z]], %arg3, %{{.*}}, %arg5) {fp32_acc = true, launch_with_pdl = true, max_token_num = 16384 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1>, pattern_code = 2 : i64, rms_eps = 1.000000e-05 : f64, weight_bias = 0.000000e+00 : f64, world_size = 2 : i64}
// CHECK: "vllm.cutlass_scaled_mm_"
// CHECK: "vllm.flashinfer_trtllm_fused_allreduce_norm_"(%{{.*}}, %[[Z]], %arg13, {{.*}}pattern_code = 2 : i64
// CHECK: "vllm.flashinfer_trtllm_fused_allreduce_norm_"(%{{.*}}, %[[Z]], %arg35) {{.*}}operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>, pattern_code = 1 : i64
// CHECK-NOT: "vllm.all_reduce"
// FOUR: 4

// FX: "target":"torch.ops.vllm.flashinfer_trtllm_fused_allreduce_norm.default","args":[],"kwargs":{"allreduce_in":{"node":"{{[a-z_0-9]+}}"},"residual":{"node":"{{full[_0-9]*}}"},"rms_gamma":{"node":"arg3_1"},"quant_out":{"node":"{{empty[_0-9]*}}"},"scale_out":null,"scale_factor":{"node":"arg5_1"},"rms_eps":0.00001,"world_size":2,"launch_with_pdl":true,"fp32_acc":true,"max_token_num":16384,"pattern_code":2,"weight_bias":0.0}

// RANGE: %[[N:.*]] = "aten.sym_size"
// RANGE: "aten.full"(%[[N]])
// RANGE-COUNT-5: "vllm.flashinfer_trtllm_fused_allreduce_norm_"
// LIMIT: vllm-fuse-allreduce-rms skipped: up to 256 tokens exceeds fi_allreduce_fusion_max_token_num = 128
// SYMBOLIC: vllm-fuse-allreduce-rms {{.*}} over-token-limit=5
// PIPE: func.func(vllm-fuse-allreduce-rms{tp-size=4 max-token-num=4096})
// SIZED-COUNT-5: "vllm.flashinfer_trtllm_fused_allreduce_norm_"({{.*}}max_token_num = 128 : i64
// SIZED-NOT: flashinfer
// OVER: vllm-fuse-allreduce-rms {{.*}} over-token-limit=5
