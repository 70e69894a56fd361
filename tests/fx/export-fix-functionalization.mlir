// After vllm-fix-functionalization the FX export is vLLM's form after its
// FixFunctionalizationPass: plain in-place calls (keyword arguments, but
// positional ones for the silu ops), new buffers as `empty` on the graph's
// device sized by the SymInt input, and no auto_functionalized at all.
// RUN: vllm-opt %s --vllm-fix-functionalization --emit=fx-json | FileCheck %s

// CHECK: "name":"empty","op":"call_function","target":"torch.ops.aten.empty.memory_format","args":{{\[\[}}{"node":"n"},4096]],"kwargs":{"dtype":{"dtype":"bfloat16"},"device":{"device":"cuda:0"},"pin_memory":false},"meta":{"val":{"shape":["s0",4096],"dtype":"bfloat16"
// CHECK: "target":"torch.ops._C.rms_norm.default","args":[],"kwargs":{"result":{"node":"empty"},"input":{"node":"x"},"weight":{"node":"w"},"epsilon":0.00001}
// CHECK: "target":"torch.ops.aten.empty.memory_format","args":{{\[\[}}{"node":"n"},14336]]
// CHECK: "target":"torch.ops._C.silu_and_mul_quant.default","args":[{"node":"empty_1"},{"node":"gu"},{"node":"s"}],"kwargs":{}
// CHECK-NOT: auto_functionalized
// CHECK: "op":"output"
module attributes {torch.symbols = {s0 = {min = 2 : i64}}} {
  func.func @g(%n: index {fx.name = "n", fx.meta = "{\"sym\":\"s0\"}"},
               %x: tensor<?x4096xbf16> {fx.name = "x", fx.meta = "{\"shape\":[\"s0\",4096],\"dtype\":\"bfloat16\",\"stride\":[4096,1],\"device\":\"cuda:0\"}"},
               %w: tensor<4096xbf16> {fx.name = "w", fx.meta = "{\"shape\":[4096],\"dtype\":\"bfloat16\",\"stride\":[1],\"device\":\"cuda:0\"}"},
               %gu: tensor<?x28672xbf16> {fx.name = "gu", fx.meta = "{\"shape\":[\"s0\",28672],\"dtype\":\"bfloat16\",\"stride\":[28672,1],\"device\":\"cuda:0\"}"},
               %s: tensor<f32> {fx.name = "s", fx.meta = "{\"shape\":[],\"dtype\":\"float32\",\"stride\":[],\"device\":\"cuda:0\"}"}) -> (tensor<?x4096xbf16>, tensor<?x14336xf8E4M3FN>) {
    %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
    %q = "vllm.silu_and_mul_quant"(%gu, %s) : (tensor<?x28672xbf16>, tensor<f32>) -> tensor<?x14336xf8E4M3FN>
    return %y, %q : tensor<?x4096xbf16>, tensor<?x14336xf8E4M3FN>
  }
}
