// Sequence parallelism on the captured tensor-parallel graph (tp = 2, rank 0's
// shard of a 2-layer Llama: five all-reduces, each feeding a norm). Compiled
// for 256 tokens: every all-reduce becomes a reduce-scatter to 128 rows, the
// norms and quants run on those rows and fuse, and the all-gathers move FP8
// (the last, the model's output, bf16). The residual stream stays sharded.
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_noop": true, "enable_fusion": true, "enable_sequence_parallelism": true}' --runtime-shape 256 --tp-size 2 | FileCheck %s
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_noop": true, "enable_fusion": true, "enable_sequence_parallelism": true}' --runtime-shape 256 --tp-size 2 | grep -c '"vllm.all_gather"' | FileCheck %s --check-prefix=FIVE
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_noop": true, "enable_fusion": true, "enable_sequence_parallelism": true}' --runtime-shape 256 --tp-size 2 | grep -c '"vllm.reduce_scatter"' | FileCheck %s --check-prefix=FIVE
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_noop": true, "enable_fusion": true, "enable_sequence_parallelism": true}' --runtime-shape 256 --tp-size 2 --emit fx-json | FileCheck %s --check-prefix=FX
// Not for the symbolic graph, nor for a token count tp does not divide (vLLM's gate):
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_sequence_parallelism": true}' --tp-size 2 | FileCheck %s --check-prefix=SKIP
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_sequence_parallelism": true}' --runtime-shape 255 --tp-size 2 | FileCheck %s --check-prefix=SKIP
// Nor below sp_min_token_num (vLLM main's threshold), which the pass summary names:
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_sequence_parallelism": true, "sp_min_token_num": 512}' --runtime-shape 256 --tp-size 2 | FileCheck %s --check-prefix=SKIP
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_sequence_parallelism": true, "sp_min_token_num": 512}' --runtime-shape 256 --tp-size 2 --pass-summary -o /dev/null 2>&1 | FileCheck %s --check-prefix=MIN
// MIN: vllm-sequence-parallelism skipped: runtime shape 256 is below sp_min_token_num = 512
// At the threshold it applies:
// RUN: vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_tp2_L2_dyn.json --config '{"enable_noop": true, "enable_fusion": true, "enable_sequence_parallelism": true, "sp_min_token_num": 256}' --runtime-shape 256 --tp-size 2 | grep -c '"vllm.reduce_scatter"' | FileCheck %s --check-prefix=FIVE

// CHECK-NOT: "vllm.all_reduce"
// CHECK: %[[RES:.*]] = "vllm.reduce_scatter"({{.*}}) {dim = 0 : i64, group_name = "tp:0", world_size = 2 : i64} : (tensor<256x4096xbf16>) -> tensor<128x4096xbf16>
// CHECK: "vllm.rms_norm_static_fp8_quant_"({{.*}}, %[[RES]], {{.*}} : (tensor<128x4096xf8E4M3FN>, tensor<128x4096xbf16>
// CHECK: "vllm.all_gather"({{.*}} : (tensor<128x4096xf8E4M3FN>) -> tensor<256x4096xf8E4M3FN>
// CHECK: "vllm.cutlass_scaled_mm_"
// CHECK: %[[O:.*]] = "vllm.reduce_scatter"
// The sharded residual, updated in place by every fused norm:
// CHECK: "vllm.fused_add_rms_norm_static_fp8_quant_"({{.*}}, %[[O]], %[[RES]], {{.*}} : (tensor<128x4096xf8E4M3FN>, tensor<128x4096xbf16>, tensor<128x4096xbf16>
// CHECK: "vllm.all_gather"({{.*}} : (tensor<128x4096xf8E4M3FN>) -> tensor<256x4096xf8E4M3FN>
// CHECK: "vllm.fused_add_rms_norm_"({{.*}}, %[[RES]], {{.*}} : (tensor<128x4096xbf16>, tensor<128x4096xbf16>
// CHECK: %[[OUT:.*]] = "vllm.all_gather"({{.*}} : (tensor<128x4096xbf16>) -> tensor<256x4096xbf16>
// CHECK: return %[[OUT]]
// CHECK-NOT: "vllm.all_reduce"
// FIVE: 5

// FX: {"name":"reduce_scatter","op":"call_function","target":"torch.ops.vllm.reduce_scatter.default","args":[{"node":"where"},0,2,"tp:0"],"kwargs":{},"meta":{"val":{"shape":[128,4096],"dtype":"bfloat16"
// FX: {"name":"rms_norm_static_fp8_quant",{{.*}}"input":{"node":"reduce_scatter"}
// FX-NEXT: {"name":"all_gather","op":"call_function","target":"torch.ops.vllm.all_gather.default","args":[{"node":"empty"},0,2,"tp:0"],"kwargs":{},"meta":{"val":{"shape":[256,4096],"dtype":"float8_e4m3fn"

// SKIP: "vllm.all_reduce"
// SKIP-NOT: "vllm.reduce_scatter"
