// A norm of a slice (DeepSeek's `q_a_layernorm` on the first 1536 columns of
// the fused q/kv projection, rows 2112 apart) feeding a per-token or
// per-block FP8 quant. vLLM before PR 36551 (March 2026) checks
// `input.is_contiguous()` in its per-token and per-block norm kernels, so the
// fused call would fail there at its first run; the schema does not say so,
// the running library does. The config's `contiguous_input_ops` (which
// VllmOptPass fills in from that library) keeps those fusions off where the
// input is recorded strided, and only there.
// RUN: vllm-opt %s --config '{"enable_fusion": true, "eliminate_noops": true, "contiguous_input_ops": ["torch.ops._C.rms_norm_dynamic_per_token_quant.default", "torch.ops._C.rms_norm_per_block_quant.default"]}' | FileCheck %s --check-prefix=OLD
// Without it (vLLM main's kernels read `input.stride(-2)`), every site fuses.
// RUN: vllm-opt %s --config '{"enable_fusion": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=MAIN
// --debug-node says why.
// RUN: vllm-opt %s --config '{"enable_fusion": true, "eliminate_noops": true, "contiguous_input_ops": ["torch.ops._C.rms_norm_dynamic_per_token_quant.default"]}' --debug-node q 2>&1 >/dev/null | FileCheck %s --check-prefix=WHY
// It is part of the cache key, and takes PyTorch targets only.
// RUN: vllm-opt --config '{"enable_fusion": true}' --print-uuid > %t.a
// RUN: vllm-opt --config '{"enable_fusion": true, "contiguous_input_ops": ["torch.ops._C.rms_norm_dynamic_per_token_quant.default"]}' --print-uuid > %t.b
// RUN: not diff %t.a %t.b
// RUN: not vllm-opt --config '{"contiguous_input_ops": ["rms_norm_dynamic_per_token_quant"]}' --print-uuid 2>&1 | FileCheck %s --check-prefix=BAD

// OLD-LABEL: func.func @graph
// OLD: "vllm.rms_norm_"(%{{.*}}, %arg0, %arg2
// OLD: "vllm.dynamic_per_token_scaled_fp8_quant_"
// OLD: "vllm.rms_norm_"(%{{.*}}, %arg0, %arg2
// OLD: "vllm.per_token_group_fp8_quant_"
// OLD: "vllm.rms_norm_dynamic_per_token_quant_"({{.*}}, %arg1, %arg2
// OLD: "vllm.rms_norm_per_block_quant_"({{.*}}, %arg1, %arg2
// OLD: return

// MAIN-LABEL: func.func @graph
// MAIN-NOT: "vllm.rms_norm_"
// MAIN-NOT: _fp8_quant_"
// MAIN: "vllm.rms_norm_dynamic_per_token_quant_"({{.*}}, %arg0, %arg2
// MAIN: "vllm.rms_norm_per_block_quant_"({{.*}}, %arg0, %arg2
// MAIN: "vllm.rms_norm_dynamic_per_token_quant_"({{.*}}, %arg1, %arg2
// MAIN: "vllm.rms_norm_per_block_quant_"({{.*}}, %arg1, %arg2
// MAIN: return

// WHY: node 'q': remark: rule 'rms-dynamic-per-token-quant' matched but its input is strided and torch.ops._C.rms_norm_dynamic_per_token_quant.default takes contiguous input in the running vLLM (contiguous-input-ops)
// BAD: error: config: 'contiguous_input_ops' must be a list of PyTorch op targets

module {
  func.func @graph(%qc: tensor<?x1536xbf16> {fx.name = "q_c", fx.meta = "{\"shape\":[\"s0\",1536],\"dtype\":\"bfloat16\",\"stride\":[2112,1],\"device\":\"cuda:0\"}"},
                   %x: tensor<?x1536xbf16> {fx.name = "x", fx.meta = "{\"shape\":[\"s0\",1536],\"dtype\":\"bfloat16\",\"stride\":[1536,1],\"device\":\"cuda:0\"}"},
                   %w: tensor<1536xbf16>) -> (tensor<?x1536xf8E4M3FN>, tensor<?x1xf32>, tensor<?x1536xf8E4M3FN>, tensor<?x12xf32>, tensor<?x1536xf8E4M3FN>, tensor<?x1xf32>, tensor<?x1536xf8E4M3FN>, tensor<?x12xf32>) {
    %y = "vllm.rms_norm"(%qc, %w) {epsilon = 1.0e-06 : f64} : (tensor<?x1536xbf16>, tensor<1536xbf16>) -> tensor<?x1536xbf16> loc("y")
    %q, %s = "vllm.dynamic_per_token_scaled_fp8_quant"(%y) : (tensor<?x1536xbf16>) -> (tensor<?x1536xf8E4M3FN>, tensor<?x1xf32>) loc("q")
    %y2 = "vllm.rms_norm"(%qc, %w) {epsilon = 1.0e-06 : f64} : (tensor<?x1536xbf16>, tensor<1536xbf16>) -> tensor<?x1536xbf16>
    %g, %gs = "vllm.per_token_group_fp8_quant"(%y2) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x1536xbf16>) -> (tensor<?x1536xf8E4M3FN>, tensor<?x12xf32>)
    %z = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-06 : f64} : (tensor<?x1536xbf16>, tensor<1536xbf16>) -> tensor<?x1536xbf16>
    %q2, %s2 = "vllm.dynamic_per_token_scaled_fp8_quant"(%z) : (tensor<?x1536xbf16>) -> (tensor<?x1536xf8E4M3FN>, tensor<?x1xf32>)
    %z2 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-06 : f64} : (tensor<?x1536xbf16>, tensor<1536xbf16>) -> tensor<?x1536xbf16>
    %g2, %gs2 = "vllm.per_token_group_fp8_quant"(%z2) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x1536xbf16>) -> (tensor<?x1536xf8E4M3FN>, tensor<?x12xf32>)
    return %q, %s, %g, %gs, %q2, %s2, %g2, %gs2 : tensor<?x1536xf8E4M3FN>, tensor<?x1xf32>, tensor<?x1536xf8E4M3FN>, tensor<?x12xf32>, tensor<?x1536xf8E4M3FN>, tensor<?x1xf32>, tensor<?x1536xf8E4M3FN>, tensor<?x12xf32>
  }
}

