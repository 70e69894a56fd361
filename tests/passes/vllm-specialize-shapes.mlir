// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(vllm-specialize-shapes{num-tokens=256})' | FileCheck %s
// RUN: not vllm-opt %s --pass-pipeline='builtin.module(vllm-specialize-shapes)' 2>&1 | FileCheck %s --check-prefix=NOSIZE
// RUN: not vllm-opt %s --pass-pipeline='builtin.module(vllm-specialize-shapes{num-tokens=0})' 2>&1 | FileCheck %s --check-prefix=ZERO

// Without provenance every `?` is the token count; the signature follows.
// CHECK-LABEL: func.func @token_dims_become_static
// CHECK-SAME: (%{{.*}}: tensor<256x4096xbf16>, %{{.*}}: tensor<4096xbf16>) -> tensor<256x4096xbf16>
// CHECK: "vllm.rms_norm"{{.*}} -> tensor<256x4096xbf16>
func.func @token_dims_become_static(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// Size expressions from the FX metadata evaluate: 2*s0 is 512, not 256.
// A symbolic size whose operand is a SymInt input folds into the attribute.
// CHECK: module attributes {torch.runtime_shape = 256 : i64, torch.symbols = {}}
// CHECK-LABEL: func.func @size_expressions_and_folding
// CHECK-SAME: %{{.*}}: index {fx.meta = "256"
// CHECK: "aten.cat"{{.*}} -> tensor<512x8xf32>
// CHECK: "aten.empty"()
// CHECK-SAME: size = array<i64: 256, 4096>
// CHECK-SAME: () -> tensor<256x4096xbf16>
module attributes {torch.symbols = {s0 = {min = 2 : i64}}} {
  func.func @size_expressions_and_folding(%n: index, %a: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x4096xbf16>)
      attributes {arg_attrs = [{fx.name = "n", fx.meta = "{\"sym\":\"s0\"}"}, {fx.name = "a", fx.meta = "{\"shape\":[\"s0\",8],\"dtype\":\"float32\"}"}]} {
    %c = "aten.cat"(%a, %a) {dim = 0 : i64, fx.meta = "{\"shape\":[\"2*s0\",8],\"dtype\":\"float32\"}"} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    %e = "aten.empty"(%n) {size = array<i64: -9223372036854775808, 4096>, dtype = bf16, fx.meta = "{\"shape\":[\"s0\",4096],\"dtype\":\"bfloat16\"}"} : (index) -> tensor<?x4096xbf16>
    return %c, %e : tensor<?x8xf32>, tensor<?x4096xbf16>
  }
}

// NOSIZE: error: vllm-specialize-shapes needs num-tokens=<a positive integer>
// ZERO: error: vllm-specialize-shapes: num-tokens must be positive
