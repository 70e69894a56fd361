// One decoder step as vLLM's post-grad graph holds it, in the torch-like
// dialects: RMSNorm, a reshape that is a no-op in 2-D, static FP8 quant, an FP8
// GEMM; plus a dead reshape left over from tracing.
// Run it: scripts/run-example   (or: vllm-opt examples/rms_quant.mlir --vllm-dce)
func.func @rms_quant(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %scale: tensor<f32>,
                     %wq: tensor<4096x6144xf8E4M3FN>, %wscale: tensor<f32>) -> tensor<?x6144xbf16> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.000000e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  %dead = "aten.reshape"(%x) {shape = array<i64: -1, 32, 128>} : (tensor<?x4096xbf16>) -> tensor<?x32x128xbf16>
  %y2 = "aten.reshape"(%y) {shape = array<i64: -1, 4096>} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y2, %scale) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  %out = "vllm.cutlass_scaled_mm"(%q, %wq, %scale, %wscale) : (tensor<?x4096xf8E4M3FN>, tensor<4096x6144xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<?x6144xbf16>
  return %out : tensor<?x6144xbf16>
}
