// Sequence parallelism on vLLM main's IR ops (imported marked
// `fx.functional`): the norms and quants move onto the shard as the same IR
// ops, and the export rebuilds each call from the op (its recorded
// arguments and shapes were the full rows'): the sharded rows' shapes, the
// fixed FP8 dtype. Numerics on every rank:
// numerics::sequence_parallelism_keeps_every_ranks_results (tp_decoder_ir).
// RUN: vllm-opt %s --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2}))' | FileCheck %s
// RUN: vllm-opt %s --pass-pipeline='builtin.module(func.func(vllm-sequence-parallelism{tp-size=2}))' --emit fx-json | FileCheck %s --check-prefix=FX

// CHECK: %[[S:.*]] = "vllm.reduce_scatter"(%arg0)
// CHECK: "vllm.rms_norm"(%[[S]], %arg3) {epsilon = 1.000000e-05 : f64, fx.functional = "torch.ops.vllm_ir.rms_norm.default"} : (tensor<4x64xbf16>
// CHECK: "vllm.static_scaled_fp8_quant"({{.*}}) {fx.functional = "torch.ops.vllm_ir.static_quant_fp8.default"} : (tensor<4x64xbf16>
// CHECK-NOT: fx.args

// FX: "name":"rms_norm","op":"call_function","target":"torch.ops.vllm_ir.rms_norm.default","args":[{"node":"reduce_scatter"},{"node":"arg3"},0.00001],"kwargs":{},"meta":{"val":{"shape":[4,64]
// FX: "target":"torch.ops.vllm_ir.static_quant_fp8.default","args":[{"node":"rms_norm"},{"node":"arg4"},{"dtype":"float8_e4m3fn"}],"kwargs":{},"meta":{"val":{"shape":[4,64]
// FX: "target":"torch.ops.vllm_ir.fused_add_rms_norm.default","args":[{"node":"reduce_scatter_1"},{"node":"reduce_scatter"},{"node":"arg3"},0.00001]
func.func @tp_decoder_ir(%p0: tensor<8x64xbf16>, %p1: tensor<8x64xbf16>, %p2: tensor<8x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>)
    -> (tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n0 = "vllm.rms_norm"(%a0, %w) {epsilon = 1.0e-5 : f64, fx.functional = "torch.ops.vllm_ir.rms_norm.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},1e-05],\"kwargs\":{}}", fx.meta = "{\"shape\":[8,64],\"dtype\":\"bfloat16\"}"} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %q0 = "vllm.static_scaled_fp8_quant"(%n0, %s) {fx.functional = "torch.ops.vllm_ir.static_quant_fp8.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n1, %r1 = "vllm.fused_add_rms_norm"(%a1, %a0, %w) {epsilon = 1.0e-5 : f64, fx.functional = "torch.ops.vllm_ir.fused_add_rms_norm.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},{\"operand\":2},1e-05],\"kwargs\":{}}"} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  %q1 = "vllm.static_scaled_fp8_quant"(%n1, %s) {fx.functional = "torch.ops.vllm_ir.static_quant_fp8.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %a2 = "vllm.all_reduce"(%p2) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%a2, %r1, %w) {epsilon = 1.0e-5 : f64, fx.functional = "torch.ops.vllm_ir.fused_add_rms_norm.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},{\"operand\":2},1e-05],\"kwargs\":{}}"} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  return %q0, %q1, %n2, %r2, %a0 : tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>
}
