// vLLM 0.11's per-group quant call lacks vLLM main's `dummy_is_scale_transposed`
// and `dummy_is_tma_aligned` (ops.toml `omit_if_absent`): it imports as the op
// without them and is exported without them, in place, as that schema takes it.
// (tests/pipeline/per-group-main.mlir: vLLM main's call.)
// RUN: vllm-opt %S/inputs/per_group_v011.json --pass-pipeline='builtin.module()' | FileCheck %s
// RUN: vllm-opt %S/inputs/per_group_v011.json --config '{}' --emit fx-json | FileCheck %s --check-prefix=FX

// CHECK: "vllm.per_token_group_fp8_quant"(%{{.*}}) {eps = 1.000000e-10 : f64, fp8_max = 4.480000e+02 : f64, fp8_min = -4.480000e+02 : f64, fx.{{.*}}group_size = 128 : i64, scale_ue8m0 = false}

// FX: "target":"torch.ops._C.per_token_group_fp8_quant.default","args":[],"kwargs":{"input":{"node":"empty"},"output_q":{"node":"empty_1"},"output_s":{"node":"empty_2"},"group_size":128,"eps":1e-10,"fp8_min":-448.0,"fp8_max":448.0,"scale_ue8m0":false}
