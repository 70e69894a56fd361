// Async TP on the captured tensor-parallel graph (tp = 2, rank 0's shard of
// a 2-layer Llama), compiled for 256 tokens: sequence parallelism leaves an
// all-gather of the FP8 rows before the qkv and gate_up GEMMs and a
// reduce-scatter after the o_proj and down_proj GEMMs; each pair becomes
// one symmetric-memory op (4 + 4), named by the group's c10d name. What
// remains: the embedding's reduce-scatter (no GEMM) and the output's
// all-gather.
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_noop": true, "enable_fusion": true, "enable_async_tp": true, "c10d_group_names": {"tp:0": "3"}}' --runtime-shape 256 --tp-size 2 > %t.mlir
// RUN: FileCheck %s < %t.mlir
// RUN: grep -c '"vllm.fused_all_gather_scaled_matmul"' %t.mlir | FileCheck %s --check-prefix=FOUR
// RUN: grep -c '"vllm.fused_scaled_matmul_reduce_scatter"' %t.mlir | FileCheck %s --check-prefix=FOUR
// RUN: grep -c '"vllm.reduce_scatter"\|"vllm.all_gather"' %t.mlir | FileCheck %s --check-prefix=TWO
// The FX graph it writes calls torch's ops with their schemas' arguments
// (`(Tensor, Tensor[])` read by a getitem of a getitem), and reads back:
// RUN: vllm-opt %t.mlir --emit fx-json > %t.json
// RUN: FileCheck %s --check-prefix=FX < %t.json
// RUN: vllm-opt %t.json --emit fx-json | diff - %t.json
// Without the c10d name the pass fails, at the collective it would fuse:
// RUN: not vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_async_tp": true}' --runtime-shape 256 --tp-size 2 2>&1 | FileCheck %s --check-prefix=NONAME
// Like sequence parallelism, not for the symbolic graph:
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_async_tp": true}' --tp-size 2 --pass-summary -o /dev/null 2>&1 | FileCheck %s --check-prefix=SKIP
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_async_tp": true, "c10d_group_names": {"tp:0": "3"}}' --runtime-shape 256 --tp-size 2 --print-pipeline | FileCheck %s --check-prefix=PIPE

// CHECK: "vllm.reduce_scatter"
// CHECK: "vllm.rms_norm_static_fp8_quant_"
// CHECK: %[[QKV:.*]]:2 = "vllm.fused_all_gather_scaled_matmul"({{.*}}) {biases = [unit], gather_dim = 0 : i64, group_name = "3", operandSegmentSizes = array<i32: 1, 1, 1, 1>, out_dtypes = [bf16], result_scales = [unit], use_fast_accum = [false]} : (tensor<128x4096xf8E4M3FN>, tensor<4096x3072xf8E4M3FN>, tensor<f32>, tensor<f32>) -> (tensor<256x4096xf8E4M3FN>, tensor<256x3072xbf16>)
// CHECK: "vllm.rotary_embedding_"
// CHECK: %[[O:.*]] = "vllm.fused_scaled_matmul_reduce_scatter"({{.*}}) {group_name = "3", orig_scatter_dim = 0 : i64, out_dtype = bf16, output_shape = array<i64: 256, 4096>, reduce_op = "sum", scatter_dim_after_maybe_reshape = 0 : i64} : (tensor<256x2048xf8E4M3FN>, tensor<2048x4096xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x4096xbf16>
// CHECK: "vllm.fused_add_rms_norm_static_fp8_quant_"({{.*}}, %[[O]],
// CHECK: "vllm.fused_all_gather_scaled_matmul"({{.*}} -> (tensor<256x4096xf8E4M3FN>, tensor<256x14336xbf16>)
// CHECK: "vllm.silu_and_mul_quant_"
// CHECK: "vllm.fused_scaled_matmul_reduce_scatter"({{.*}} : (tensor<256x7168xf8E4M3FN>, tensor<7168x4096xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<128x4096xbf16>
// CHECK-NOT: cutlass_scaled_mm
// CHECK: "vllm.all_gather"({{.*}} : (tensor<128x4096xbf16>) -> tensor<256x4096xbf16>

// FOUR: 4
// TWO: 2

// FX: "target":"torch.ops.symm_mem.fused_all_gather_scaled_matmul.default","args":[{"node":"[[A:[a-z_0-9]+]]"},[{"node":"arg4_1"}],{"node":"arg5_1"},[{"node":"arg6_1"}],0,"3",[null],[null],[{"dtype":"bfloat16"}],[false]],"kwargs":{}
// FX-NEXT: {"name":"[[L:getitem[_0-9]*]]","op":"call_function","target":"operator.getitem","args":[{"node":"fused_all_gather_scaled_matmul"},1]
// FX-NEXT: {"name":"{{getitem[_0-9]*}}","op":"call_function","target":"operator.getitem","args":[{"node":"[[L]]"},0]
// FX: "target":"torch.ops.symm_mem.fused_scaled_matmul_reduce_scatter.default","args":[{"node":"{{[a-z_0-9]+}}"},{"node":"arg10_1"},{"node":"arg11_1"},{"node":"arg12_1"},"sum",0,0,"3",[256,4096]],"kwargs":{"out_dtype":{"dtype":"bfloat16"}}

// NONAME: node 'all_gather' node 'auto_functionalized_1': error: vllm-async-tp: no c10d process-group name for group 'tp:0'
// SKIP: vllm-async-tp skipped: needs a static runtime shape, compiling for symbolic
// PIPE: func.func(vllm-async-tp{tp-size=2 group-names=tp:0=3})
