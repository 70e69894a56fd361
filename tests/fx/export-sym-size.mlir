// A buffer sized by aten.sym_size (no SymInt input records the symbol)
// exports as `sym_size.int` with the symbol of the input's dim, and imports back.
// RUN: vllm-opt %s --vllm-fix-functionalization --emit=fx-json | FileCheck %s --check-prefix=FX
// RUN: vllm-opt %s --vllm-fix-functionalization --emit=fx-json | vllm-opt - --input-format=fx-json | FileCheck %s

// FX: "target":"torch.ops.aten.sym_size.int","args":[{"node":"gu"},0],"kwargs":{},"meta":{"val":{"sym":"s7"}}
// CHECK: %[[N:.*]] = "aten.sym_size"(%arg0) {dim = 0 : i64{{.*}}} : (tensor<?x28672xbf16>) -> index
// CHECK: "aten.empty"(%[[N]])
// CHECK: "vllm.silu_and_mul_"
module attributes {torch.symbols = {s7 = {min = 2 : i64}}} {
  func.func @g(%gu: tensor<?x28672xbf16> {fx.name = "gu", fx.meta = "{\"shape\":[\"s7\",28672],\"dtype\":\"bfloat16\",\"stride\":[28672,1],\"device\":\"cuda:0\"}"}) -> tensor<?x14336xbf16> {
    %a = "vllm.silu_and_mul"(%gu) : (tensor<?x28672xbf16>) -> tensor<?x14336xbf16>
    return %a : tensor<?x14336xbf16>
  }
}
