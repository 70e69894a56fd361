// A result PyTorch returns as None (`fused_all_gather_matmul` with
// return_A=False: vllm-async-tp sets it where only the GEMMs read the
// gathered rows): FX gets the kwarg and a null in meta.val for it, and no
// getitem; the products keep theirs. Read back, the op has the result again
// (nothing reads it; its sizes unknown) and exports the same call.
// RUN: vllm-opt %s --emit=fx-json | FileCheck %s
// RUN: vllm-opt %s --emit=fx-json -o %t.json && vllm-opt %t.json | FileCheck %s --check-prefix=REIMPORT
// RUN: vllm-opt %t.json --emit=fx-json | FileCheck %s

// CHECK: {"name":"fused_all_gather_matmul","op":"call_function","target":"torch.ops.symm_mem.fused_all_gather_matmul.default","args":[{"node":"x"},[{"node":"w1"},{"node":"w2"}],0,"0"],"kwargs":{"return_A":false},"meta":{"val":[null,[{"shape":[256,32]{{.*}}},{"shape":[256,16]{{.*}}}]]}}
// CHECK-NEXT: {"name":"[[L:getitem[_0-9]*]]","op":"call_function","target":"operator.getitem","args":[{"node":"fused_all_gather_matmul"},1]
// CHECK-NEXT: {"name":"[[A:getitem[_0-9]*]]","op":"call_function","target":"operator.getitem","args":[{"node":"[[L]]"},0]
// CHECK-NEXT: {"name":"[[B:getitem[_0-9]*]]","op":"call_function","target":"operator.getitem","args":[{"node":"[[L]]"},1]
// CHECK-NOT: "args":[{"node":"fused_all_gather_matmul"},0]
// CHECK: "output","target":"output","args":{{\[\[}}{"node":"[[B]]"},{"node":"[[A]]"}]]

// REIMPORT: %[[F:.*]]:3 = "vllm.fused_all_gather_matmul"(%arg0, %arg1, %arg2) {{.*}}return_A = false} : {{.*}} -> (tensor<?x?xbf16>, tensor<256x32xbf16>, tensor<256x16xbf16>)
// REIMPORT: return %[[F]]#2, %[[F]]#1
func.func @f(%x: tensor<128x64xbf16> {fx.name = "x"}, %w1: tensor<64x32xbf16> {fx.name = "w1"}, %w2: tensor<64x16xbf16> {fx.name = "w2"}) -> (tensor<256x16xbf16>, tensor<256x32xbf16>) {
  %g, %a, %b = "vllm.fused_all_gather_matmul"(%x, %w1, %w2) {gather_dim = 0 : i64, group_name = "0", return_A = false} : (tensor<128x64xbf16>, tensor<64x32xbf16>, tensor<64x16xbf16>) -> (tensor<256x64xbf16>, tensor<256x32xbf16>, tensor<256x16xbf16>)
  return %b, %a : tensor<256x16xbf16>, tensor<256x32xbf16>
}
