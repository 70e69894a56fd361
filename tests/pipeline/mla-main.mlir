// vLLM main's MLA attention takes per-group output quant arguments and
// `q_dcp_replicated` (its MLA layer passes None); Inductor's graph names every
// one. On a graph Inductor captured (python/torch_tests/test_mla_main_schema.py,
// which also checks eager's bytes and strides): a static FP8 quant and two
// per-group quants (column-major, 128; row-major UE8M0, 64) of three MLA layers
// fuse into the attention (vLLM main's MLAAttnFp8GroupQuantPattern), the group
// scales in the quant's layout; so does a TMA-padded per-group quant of a fourth
// layer that passes decode context parallelism's `q_dcp_replicated` (kept), its
// scales in an `empty_strided` buffer of `round_up(T, 4)` rows. Unfused, each
// call goes in place without the arguments it does not pass.
// RUN: vllm-opt %S/inputs/mla_main_inductor.json --config '{"enable_attn_fusion": true, "eliminate_noops": true}' | FileCheck %s
// RUN: vllm-opt %S/inputs/mla_main_inductor.json --config '{"enable_attn_fusion": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=FX
// RUN: vllm-opt %S/inputs/mla_main_inductor.json --config '{"eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=OFF

// CHECK: "vllm.unified_mla_attention_with_output_"(%arg1, %arg3, %arg5, %{{.*}}, %arg6) {layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0, 0>}
// CHECK: %[[B:.*]] = "aten.empty"(%arg0) {dtype = f32, size = array<i64: 2, -9223372036854775808>}
// CHECK: %[[S:.*]] = "aten.permute"(%[[B]]) {dims = array<i64: 1, 0>}
// CHECK: "vllm.unified_mla_attention_with_output_"(%{{.*}}, %arg3, %arg5, %{{.*}}, %[[S]]) {{{.*}}quant_col_major = true, quant_group_size = 128 : i64, quant_scale_ue8m0 = false, quant_tma_aligned = false}
// CHECK: %[[S2:.*]] = "aten.empty"(%arg0) {dtype = f32, size = array<i64: -9223372036854775808, 4>}
// CHECK: "vllm.unified_mla_attention_with_output_"(%{{.*}}, %arg3, %arg5, %{{.*}}, %[[S2]]) {{{.*}}quant_col_major = false, quant_group_size = 64 : i64, quant_scale_ue8m0 = true, quant_tma_aligned = false}
// CHECK: %[[Q5:.*]] = "aten.mul_scalar"(%arg1) {{.*}}other = 5 : i64}
// CHECK: %[[S3:.*]] = "aten.empty_strided"(%arg0, %{{.*}}) {dtype = f32, size = array<i64: -9223372036854775808, 2>, stride = array<i64: 1, -9223372036854775808>}
// CHECK: "vllm.unified_mla_attention_with_output_"(%{{.*}}, %arg3, %arg5, %{{.*}}, %[[S3]], %[[Q5]]) {{{.*}}operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1, 0, 1>, quant_col_major = true, quant_group_size = 128 : i64, quant_scale_ue8m0 = false, quant_tma_aligned = true}
// CHECK-NOT: per_token_group_fp8_quant
// CHECK-NOT: static_scaled_fp8_quant

// FX: "kwargs":{"q":{"node":"arg1_1"},"kv_c_normed":{"node":"arg3_1"},"k_pe":{"node":"arg5_1"},"output":{"node":"empty"},"output_scale":{"node":"arg6_1"},"layer_name":"model.layers.0.self_attn.attn"}
// FX: "output_block_scale":{"node":"permute"},"layer_name":"model.layers.0.self_attn.attn","quant_group_size":128,"quant_scale_ue8m0":false,"quant_col_major":true,"quant_tma_aligned":false}
// FX: "target":"torch.ops.aten.empty_strided.default",{{.*}}"stride":[1,"4*((s{{[0-9]+}} + 3)//4)"]
// FX: "output_block_scale":{"node":"empty_strided"},"q_dcp_replicated":{"node":"mul_3"},"layer_name":"model.layers.0.self_attn.attn","quant_group_size":128,"quant_scale_ue8m0":false,"quant_col_major":true,"quant_tma_aligned":true}

// OFF: "target":"torch.ops.vllm.unified_mla_attention_with_output.default","args":[],"kwargs":{"q":{"node":"arg1_1"},"kv_c_normed":{"node":"arg3_1"},"k_pe":{"node":"arg5_1"},"output":{"node":"empty_1"},"output_scale":null,"layer_name":"model.layers.0.self_attn.attn"}
// OFF: "target":"torch.ops._C.static_scaled_fp8_quant.default"
// OFF: "kwargs":{"q":{"node":"mul_2"},"kv_c_normed":{"node":"arg3_1"},"k_pe":{"node":"arg5_1"},"output":{"node":"empty_8"},"output_scale":null,"q_dcp_replicated":{"node":"mul_3"},"layer_name":"model.layers.0.self_attn.attn"}
// OFF: "output_s":{"node":"empty_strided"},{{.*}}"dummy_is_scale_transposed":true,"dummy_is_tma_aligned":true}
