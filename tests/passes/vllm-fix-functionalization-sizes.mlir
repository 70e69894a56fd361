// Buffers whose leading dim is recorded as another size than the input's
// (rows padded to a multiple, as NVFP4 block scales and MoE buffers have):
// fix-functionalization sizes them with the value the graph computes for
// that size (an imported SymInt expression, or a SymInt input), or, for a
// round-up of a symbol (`128*((s0 + 127)//128)`) that nothing computes, with
// that arithmetic built from the symbol's value; never with the input's
// rows; otherwise it is an error, not a short buffer.
// (The ops below are contrived: silu_and_mul's rows are its input's; the
// recorded fx.meta says otherwise, which is what the rule must follow.)
// RUN: vllm-opt %s --split-input-file --vllm-fix-functionalization | FileCheck %s
// With no value for the recorded size: vllm-fix-functionalization-invalid.mlir.

// The padded size as the graph computes it (operator.mul's result).
// CHECK-LABEL: func.func @padded_rows_from_the_graph
// CHECK: %[[P:.*]] = "torch.operator"(%arg0) {{.*}}target = "operator.mul"
// CHECK: "aten.empty"(%[[P]])
// CHECK-NOT: aten.sym_size
// CHECK: "vllm.silu_and_mul_"
func.func @padded_rows_from_the_graph(%n: index {fx.meta = "{\"sym\":\"s0\"}"}, %gu: tensor<?x8xbf16> {fx.meta = "{\"shape\":[\"s0\",8],\"dtype\":\"bfloat16\"}"}) -> (tensor<?x4xbf16>, index) {
  %p = "torch.operator"(%n) {target = "operator.mul", fx_args = "{\"args\":[{\"operand\":0},2],\"kwargs\":{}}", fx.meta = "{\"sym\":\"2*s0\"}"} : (index) -> index
  %a = "vllm.silu_and_mul"(%gu) {fx.meta = "{\"shape\":[\"2*s0\",4],\"dtype\":\"bfloat16\"}"} : (tensor<?x8xbf16>) -> tensor<?x4xbf16>
  return %a, %p : tensor<?x4xbf16>, index
}

// -----

// The input's rows are recorded as the same size: its sym_size, as always.
// CHECK-LABEL: func.func @same_rows
// CHECK: %[[S:.*]] = "aten.sym_size"(%arg0) {dim = 0 : i64}
// CHECK: "aten.empty"(%[[S]])
func.func @same_rows(%gu: tensor<?x8xbf16> {fx.meta = "{\"shape\":[\"s0\",8],\"dtype\":\"bfloat16\"}"}) -> tensor<?x4xbf16> {
  %a = "vllm.silu_and_mul"(%gu) {fx.meta = "{\"shape\":[\"s0\",4],\"dtype\":\"bfloat16\"}"} : (tensor<?x8xbf16>) -> tensor<?x4xbf16>
  return %a : tensor<?x4xbf16>
}

// -----

// Two buffers of the same rows: one sym_size reads them, not one per buffer.
// CHECK-LABEL: func.func @one_size_for_two_buffers
// CHECK: %[[S:.*]] = "aten.sym_size"(%arg0) {dim = 0 : i64}
// CHECK-NOT: aten.sym_size
// CHECK: "aten.empty"(%[[S]])
// CHECK: "aten.empty"(%[[S]])
func.func @one_size_for_two_buffers(%gu: tensor<?x8xbf16> {fx.meta = "{\"shape\":[\"s0\",8],\"dtype\":\"bfloat16\"}"}) -> (tensor<?x4xbf16>, tensor<?x4xbf16>) {
  %a = "vllm.silu_and_mul"(%gu) {fx.meta = "{\"shape\":[\"s0\",4],\"dtype\":\"bfloat16\"}"} : (tensor<?x8xbf16>) -> tensor<?x4xbf16>
  %b = "vllm.silu_and_mul"(%gu) {fx.meta = "{\"shape\":[\"s0\",4],\"dtype\":\"bfloat16\"}"} : (tensor<?x8xbf16>) -> tensor<?x4xbf16>
  return %a, %b : tensor<?x4xbf16>, tensor<?x4xbf16>
}


// -----

// NVFP4: the packed values' rows are the input's; the block scales' are the
// graph's round_up(T, 128) (the fused op's record, kept by the fusion), and
// zero-filled: the value form's padding is zero, which a kernel may not write.
// CHECK-LABEL: func.func @nvfp4_block_scales
// CHECK: %[[P:.*]] = "torch.operator"(%arg0) {{.*}}target = "operator.mul"
// CHECK: %[[Q:.*]] = "aten.empty"(%arg0) {dtype = ui8
// CHECK: %[[S:.*]] = "aten.full"(%[[P]]) {dtype = i32, fill_value = 0 : i64
// CHECK: "vllm.silu_and_mul_nvfp4_quant_"(%[[Q]], %[[S]], %arg1, %arg2)
// CHECK: return %[[Q]], %[[S]]
func.func @nvfp4_block_scales(%n: index {fx.meta = "{\"sym\":\"s0\"}"}, %gu: tensor<?x256xbf16> {fx.meta = "{\"shape\":[\"s0\",256],\"dtype\":\"bfloat16\"}"}, %g: tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>) {
  %p = "torch.operator"(%n) {target = "operator.mul", fx_args = "{\"args\":[{\"operand\":0},128],\"kwargs\":{}}", fx.meta = "{\"sym\":\"128*((s0 + 127)//128)\"}"} : (index) -> index
  %q, %s = "vllm.silu_and_mul_nvfp4_quant"(%gu, %g) {fx.meta = "[null,{\"shape\":[\"s0\",64],\"dtype\":\"uint8\"},{\"shape\":[\"128*((s0 + 127)//128)\",2],\"dtype\":\"int32\"}]"} : (tensor<?x256xbf16>, tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>)
  return %q, %s : tensor<?x64xui8>, tensor<?x2xi32>
}

// -----

// NVFP4 block scales recorded as round_up(s0, 128) rows, as Inductor prints it
// (redundant parentheses), where the graph computes no such value (vLLM
// main's functional quant allocates inside the op): the round-up is built
// from s0's value as the graph's SymInt arithmetic, and the buffer zero-filled.
// CHECK-LABEL: func.func @nvfp4_round_up_built
// CHECK: %[[A:.*]] = "torch.operator"(%arg0) {fx.meta = "{\22sym\22:\22s0 + 127\22}", {{.*}}target = "operator.add"}
// CHECK: %[[F:.*]] = "torch.operator"(%[[A]]) {{{.*}}target = "operator.floordiv"}
// CHECK: %[[M:.*]] = "torch.operator"(%[[F]]) {fx.meta = "{\22sym\22:\22128*((s0 + 127)//128)\22}", {{.*}}target = "operator.mul"}
// CHECK: %[[S:.*]] = "aten.full"(%[[M]]) {dtype = i32, fill_value = 0 : i64
// CHECK: "vllm.silu_and_mul_nvfp4_quant_"(%{{.*}}, %[[S]], %arg1, %arg2)
func.func @nvfp4_round_up_built(%n: index {fx.meta = "{\"sym\":\"s0\"}"}, %gu: tensor<?x256xbf16> {fx.meta = "{\"shape\":[\"s0\",256],\"dtype\":\"bfloat16\"}"}, %g: tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>) {
  %q, %s = "vllm.silu_and_mul_nvfp4_quant"(%gu, %g) {fx.meta = "[{\"shape\":[\"s0\",64],\"dtype\":\"uint8\"},{\"shape\":[\"128*(((s0 + 127)//128))\",2],\"dtype\":\"int32\"}]"} : (tensor<?x256xbf16>, tensor<f32>) -> (tensor<?x64xui8>, tensor<?x2xi32>)
  return %q, %s : tensor<?x64xui8>, tensor<?x2xi32>
}

// -----

// The same with no SymInt input: the symbol is the input's rows (`sym_size`).
// CHECK-LABEL: func.func @round_up_from_the_input_rows
// CHECK: %[[T:.*]] = "aten.sym_size"(%arg0) {dim = 0 : i64}
// CHECK: %[[A:.*]] = "torch.operator"(%[[T]]) {{{.*}}target = "operator.add"}
// CHECK: "vllm.silu_and_mul_"
func.func @round_up_from_the_input_rows(%gu: tensor<?x8xbf16> {fx.meta = "{\"shape\":[\"s0\",8],\"dtype\":\"bfloat16\"}"}) -> tensor<?x4xbf16> {
  %a = "vllm.silu_and_mul"(%gu) {fx.meta = "{\"shape\":[\"128*((s0 + 127)//128)\",4],\"dtype\":\"bfloat16\"}"} : (tensor<?x8xbf16>) -> tensor<?x4xbf16>
  return %a : tensor<?x4xbf16>
}
