// A runtime shape fixes the token count, and vLLM's inputs are symbolic only
// there (their leading dim). An input with a symbolic size elsewhere (a hidden
// size traced symbolically, e.g. by make_fx) would be specialized wrongly if
// every symbol took the token count: refused, naming the input.
// RUN: not vllm-opt %s --pass-pipeline='builtin.module(vllm-specialize-shapes{num-tokens=16})' 2>&1 | FileCheck %s
// CHECK: error: vllm-specialize-shapes: input 'x' has the symbolic size "s1" in dim 1; a runtime shape fixes the token count, which must be the only symbolic size of the inputs (their leading dim)
module attributes {torch.symbols = {s0 = {min = 2 : i64}, s1 = {min = 2 : i64}}} {
  func.func @hidden_is_symbolic(%x: tensor<?x?xbf16>) -> tensor<?x?xbf16>
      attributes {arg_attrs = [{fx.name = "x", fx.meta = "{\"shape\":[\"s0\",\"s1\"],\"dtype\":\"bfloat16\"}"}]} {
    return %x : tensor<?x?xbf16>
  }
}
