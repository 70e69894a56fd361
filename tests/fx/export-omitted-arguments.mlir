// Arguments a later vLLM added with a default (attention's
// output_block_scale, vLLM main's kv_cache_dummy_dep: `omit_if_absent` in the
// table) are left out of an exported call when absent, so the call binds to
// the schema of the version that lacks them; given, they are passed. Any
// other absent optional is None (export-inplace.mlir).
// RUN: vllm-opt %s --split-input-file --emit=fx-json | FileCheck %s

// CHECK: "target":"torch.ops.vllm.unified_attention_with_output.default","args":[],"kwargs":{"query":{"node":"arg0"},"key":{"node":"arg1"},"value":{"node":"arg2"},"output":{"node":"arg3"},"output_scale":null,"layer_name":"l0"}
func.func @older_schema(%q: tensor<8x32x128xbf16>, %k: tensor<8x8x128xbf16>, %v: tensor<8x8x128xbf16>, %o: tensor<8x32x128xbf16>) {
  "vllm.unified_attention_with_output_"(%q, %k, %v, %o) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0>} : (tensor<8x32x128xbf16>, tensor<8x8x128xbf16>, tensor<8x8x128xbf16>, tensor<8x32x128xbf16>) -> ()
  return
}

// -----

// CHECK: "target":"torch.ops.vllm.unified_mla_attention_with_output.default","args":[],"kwargs":{"q":{"node":"arg0"},"kv_c_normed":{"node":"arg1"},"k_pe":{"node":"arg2"},"output":{"node":"arg3"},"output_scale":null,"kv_cache_dummy_dep":{"node":"arg4"},"layer_name":"l0"}
func.func @main_schema(%q: tensor<8x16x192xbf16>, %kv: tensor<8x512xbf16>, %pe: tensor<8x64xbf16>, %o: tensor<8x2048xbf16>, %d: tensor<0xbf16>) {
  "vllm.unified_mla_attention_with_output_"(%q, %kv, %pe, %o, %d) {layer_name = "l0", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 1, 0>} : (tensor<8x16x192xbf16>, tensor<8x512xbf16>, tensor<8x64xbf16>, tensor<8x2048xbf16>, tensor<0xbf16>) -> ()
  return
}
