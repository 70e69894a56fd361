// Export to FX graph JSON of ops that passes create (no import provenance):
// value-form custom ops become auto_functionalized + getitem with `empty`
// buffers recreated; ATen ops take operands then attributes; the result
// imports again.
// RUN: vllm-opt %s --emit=fx-json | FileCheck %s
// RUN: vllm-opt %s --emit=fx-json -o %t.json && vllm-opt %t.json | FileCheck %s --check-prefix=REIMPORT

// CHECK: "symbols": {"s0":{}}
// CHECK: {"name":"x","op":"placeholder"
// CHECK: {"name":"[[BUF:empty[_0-9]*]]","op":"call_function","target":"torch.ops.aten.empty.memory_format","args":{{\[\[}}{"sym":"s0"},4096]],"kwargs":{"dtype":{"dtype":"float8_e4m3fn"}
// CHECK-NEXT: {"name":"[[AF:[a-z_0-9]+]]","op":"call_function","target":"torch.ops.higher_order.auto_functionalized","args":[{"op":"torch.ops._C.rms_norm_static_fp8_quant.default"}],"kwargs":{"result":{"node":"[[BUF]]"},"input":{"node":"x"},"weight":{"node":"w"},"scale":{"node":"s"},"epsilon":1e-6}
// CHECK-NEXT: {"name":"[[G:getitem[_0-9]*]]","op":"call_function","target":"operator.getitem","args":[{"node":"[[AF]]"},1]
// CHECK: "target":"torch.ops.aten.reshape.default","args":[{"node":"[[G]]"},[-1,2048]]
// CHECK: {"name":"output","op":"output","target":"output","args":{{\[\[}}{"node":"reshape"}]]

// REIMPORT: "vllm.rms_norm_static_fp8_quant"
// REIMPORT-SAME: epsilon = 9.9999999999999995E-7 : f64
// REIMPORT: "aten.reshape"
func.func @g(%x: tensor<?x4096xbf16> {fx.name = "x"}, %w: tensor<4096xbf16> {fx.name = "w"}, %s: tensor<f32> {fx.name = "s"}) -> tensor<?x2048xf8E4M3FN> {
  %q = "vllm.rms_norm_static_fp8_quant"(%x, %w, %s) {epsilon = 1.0e-06 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %r = "aten.reshape"(%q) {shape = array<i64: -1, 2048>} : (tensor<?x4096xf8E4M3FN>) -> tensor<?x2048xf8E4M3FN>
  return %r : tensor<?x2048xf8E4M3FN>
}
