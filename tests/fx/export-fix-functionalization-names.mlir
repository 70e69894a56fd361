// The ops fix-functionalization makes for a functionalized call keep its
// location (diagnostics point at the call), but only an auto_functionalized
// node is named `auto_functionalized*` in the export: the size a new buffer
// reads (no SymInt input carries it here) and the in-place call are named
// by what they are, as PyTorch names them.
// RUN: vllm-opt %s --vllm-fix-functionalization --emit=fx-json | FileCheck %s

// CHECK: "name":"sym_size","op":"call_function","target":"torch.ops.aten.sym_size.int"
// CHECK: "name":"empty","op":"call_function","target":"torch.ops.aten.empty.memory_format","args":{{\[\[}}{"node":"sym_size"},4096]]
// CHECK: "name":"rms_norm","op":"call_function","target":"torch.ops._C.rms_norm.default"
// CHECK-NOT: "name":"auto_functionalized
// CHECK: "op":"output"
module attributes {torch.symbols = {s0 = {min = 2 : i64}}} {
  func.func @g(%x: tensor<?x4096xbf16> {fx.name = "x", fx.meta = "{\"shape\":[\"s0\",4096],\"dtype\":\"bfloat16\",\"stride\":[4096,1],\"device\":\"cuda:0\"}"},
               %w: tensor<4096xbf16> {fx.name = "w", fx.meta = "{\"shape\":[4096],\"dtype\":\"bfloat16\",\"stride\":[1],\"device\":\"cuda:0\"}"}) -> tensor<?x4096xbf16> {
    %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16> loc("auto_functionalized")
    return %y : tensor<?x4096xbf16>
  }
}
