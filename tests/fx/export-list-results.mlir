// An op whose results are a tuple with a list inside (`(Tensor, Tensor[])`:
// the all-gather GEMM of async TP with two `B`s): FX reads the list with a
// getitem and each product with a getitem of that; an unread product gets
// none, an unread list neither. The graph reads back as it was.
// RUN: vllm-opt %s --emit=fx-json | FileCheck %s
// RUN: vllm-opt %s --emit=fx-json -o %t.json && vllm-opt %t.json | FileCheck %s --check-prefix=REIMPORT

// CHECK: {"name":"fused_all_gather_matmul","op":"call_function","target":"torch.ops.symm_mem.fused_all_gather_matmul.default","args":[{"node":"x"},[{"node":"w1"},{"node":"w2"}],0,"0"],"kwargs":{"return_A":true},"meta":{"val":[{"shape":[256,64]{{.*}}},[{"shape":[256,32]{{.*}}},{"shape":[256,16]{{.*}}}]]}}
// CHECK-NEXT: {"name":"[[G:getitem[_0-9]*]]","op":"call_function","target":"operator.getitem","args":[{"node":"fused_all_gather_matmul"},0]
// CHECK-NEXT: {"name":"[[L:getitem[_0-9]*]]","op":"call_function","target":"operator.getitem","args":[{"node":"fused_all_gather_matmul"},1],"kwargs":{},"meta":{"val":[{"shape":[256,32]{{.*}}},{"shape":[256,16]{{.*}}}]}}
// CHECK-NEXT: {"name":"[[P:getitem[_0-9]*]]","op":"call_function","target":"operator.getitem","args":[{"node":"[[L]]"},1],"kwargs":{},"meta":{"val":{"shape":[256,16]
// CHECK: "output","target":"output","args":{{\[\[}}{"node":"[[P]]"},{"node":"[[G]]"}]]

// REIMPORT: %[[F:.*]]:3 = "vllm.fused_all_gather_matmul"(%arg0, %arg1, %arg2)
// REIMPORT: return %[[F]]#2, %[[F]]#0
func.func @f(%x: tensor<128x64xbf16> {fx.name = "x"}, %w1: tensor<64x32xbf16> {fx.name = "w1"}, %w2: tensor<64x16xbf16> {fx.name = "w2"}) -> (tensor<256x16xbf16>, tensor<256x64xbf16>) {
  %g, %a, %b = "vllm.fused_all_gather_matmul"(%x, %w1, %w2) {gather_dim = 0 : i64, group_name = "0", return_A = true} : (tensor<128x64xbf16>, tensor<64x32xbf16>, tensor<64x16xbf16>) -> (tensor<256x64xbf16>, tensor<256x32xbf16>, tensor<256x16xbf16>)
  return %b, %g : tensor<256x16xbf16>, tensor<256x64xbf16>
}
