// TMA-padded per-group scales in IR written by hand (no recorded symbols):
// fix-functionalization builds `empty_strided([T, G], [1, round_up(T, 4)])`
// with the SymInt arithmetic unrecorded, and the exporter writes each step's
// expression from T's symbol, as Inductor records them; the fused op's
// `is_scale_tma_aligned` is ours and never reaches vLLM's call (its kernel
// reads the padding from the buffer's strides).
// RUN: vllm-opt %s --vllm-fuse-rms-quant --vllm-fix-functionalization --emit fx-json | FileCheck %s

// CHECK: "target":"operator.add","args":[{"node":"[[T:[a-z_0-9]+]]"},3],{{.*}}"meta":{"val":{"sym":"s0 + 3"}}
// CHECK: "target":"operator.floordiv",{{.*}}"meta":{"val":{"sym":"((s0 + 3)//4)"}}
// CHECK: "name":"[[PAD:[a-z_0-9]+]]",{{.*}}"target":"operator.mul",{{.*}}"meta":{"val":{"sym":"4*((s0 + 3)//4)"}}
// CHECK: "name":"[[BUF:[a-z_0-9]+]]","op":"call_function","target":"torch.ops.aten.empty_strided.default","args":{{\[\[}}{"node":"[[T]]"},32],[1,{"node":"[[PAD]]"}{{\]\]}},"kwargs":{"dtype":{"dtype":"float32"}{{.*}}"meta":{"val":{"shape":["s0",32],"dtype":"float32","stride":[1,"4*((s0 + 3)//4)"]
// CHECK: "target":"torch.ops._C.rms_norm_per_block_quant.default","args":[],"kwargs":{{.*}}"scale":{"node":"[[BUF]]"}{{.*}}"group_size":128,"is_scale_transposed":true}
// CHECK-NOT: is_scale_tma_aligned
func.func @tma(%n: index, %x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>) {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %q, %s = "vllm.per_token_group_fp8_quant"(%y) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = true} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  return %q, %s : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>
}
