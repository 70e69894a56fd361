// RUN: vllm-opt %s --split-input-file --vllm-fix-functionalization 2>/dev/null | FileCheck %s
// RUN: vllm-opt %s --split-input-file --vllm-fix-functionalization 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fix-functionalization{donate-inputs=true}))' 2>/dev/null | FileCheck %s --check-prefix=DONATE

// A pure output gets a new buffer; the SymInt input carrying the symbol sizes it.
// CHECK-LABEL: func.func @rms_norm_output_buffer
// CHECK: %[[B:.*]] = "aten.empty"(%arg0) {dtype = bf16, size = array<i64: -9223372036854775808, 4096>}
// CHECK-NEXT: "vllm.rms_norm_"(%[[B]], %arg1, %arg2) {epsilon = 9.9999999999999995E-7 : f64}
// CHECK-NOT: "vllm.rms_norm"(
// CHECK: return %[[B]]
func.func @rms_norm_output_buffer(%n: index {fx.meta = "{\"sym\":\"s0\"}"},
                                  %x: tensor<?x4096xbf16> {fx.meta = "{\"shape\":[\"s0\",4096],\"dtype\":\"bfloat16\"}"},
                                  %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
  %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return %y : tensor<?x4096xbf16>
}

// -----

// Without provenance, the size comes from aten.sym_size of the input.
// CHECK-LABEL: func.func @silu_sizes_from_input
// CHECK: %[[N:.*]] = "aten.sym_size"(%arg0) {dim = 0 : i64}
// CHECK-NEXT: %[[B:.*]] = "aten.empty"(%[[N]]) {dtype = f8E4M3FN, size = array<i64: -9223372036854775808, 14336>}
// CHECK-NEXT: "vllm.silu_and_mul_quant_"(%[[B]], %arg0, %arg1)
// CHECK: return %[[B]]
func.func @silu_sizes_from_input(%gu: tensor<?x28672xbf16>, %s: tensor<f32>) -> tensor<?x14336xf8E4M3FN> {
  %q = "vllm.silu_and_mul_quant"(%gu, %s) : (tensor<?x28672xbf16>, tensor<f32>) -> tensor<?x14336xf8E4M3FN>
  return %q : tensor<?x14336xf8E4M3FN>
}

// -----

// Static shapes need no size operands; both outputs of the dynamic quant get buffers.
// CHECK-LABEL: func.func @per_token_quant_static_shape
// CHECK: %[[Q:.*]] = "aten.empty"() {dtype = f8E4M3FN, size = array<i64: 16, 4096>}
// CHECK-NEXT: %[[S:.*]] = "aten.empty"() {dtype = f32, size = array<i64: 16, 1>}
// CHECK-NEXT: "vllm.dynamic_per_token_scaled_fp8_quant_"(%[[Q]], %arg0, %[[S]])
// CHECK: return %[[Q]], %[[S]]
func.func @per_token_quant_static_shape(%y: tensor<16x4096xbf16>) -> (tensor<16x4096xf8E4M3FN>, tensor<16x1xf32>) {
  %q, %s = "vllm.dynamic_per_token_scaled_fp8_quant"(%y) : (tensor<16x4096xbf16>) -> (tensor<16x4096xf8E4M3FN>, tensor<16x1xf32>)
  return %q, %s : tensor<16x4096xf8E4M3FN>, tensor<16x1xf32>
}

// -----

// fused_add_rms_norm on intermediate values nobody reads again: fully in place.
// CHECK-LABEL: func.func @fused_add_in_place
// CHECK: %[[X:.*]] = "aten.mm"
// CHECK: %[[R:.*]] = "aten.mm"
// CHECK-NEXT: "vllm.fused_add_rms_norm_"(%[[X]], %[[R]], %arg2)
// CHECK-NOT: aten.clone
// CHECK: return %[[X]], %[[R]]
// REMARK-NOT: remark: copied {{.*}}fused_add_in_place
func.func @fused_add_in_place(%a: tensor<16x64xbf16>, %b: tensor<64x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>) {
  %x = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %r = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %o, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>)
  return %o, %r2 : tensor<16x4096xbf16>, tensor<16x4096xbf16>
}

// -----

// The old residual IS read after the norm: writing it in place would corrupt
// that reader, so the pass writes into a copy (vLLM would not).
// CHECK-LABEL: func.func @old_value_read_later
// CHECK: "aten.mm"
// CHECK: %[[R:.*]] = "aten.mm"
// CHECK: %[[C:.*]] = "aten.clone"(%[[R]])
// CHECK-NEXT: "vllm.fused_add_rms_norm_"(%{{.*}}, %[[C]], %arg2)
// CHECK-NEXT: %[[SUM:.*]] = "aten.add"(%[[R]], %[[C]])
// REMARK: remark: copied 'residual' before writing it in place: its old value is read later by 'aten.add' (line 76)
func.func @old_value_read_later(%a: tensor<16x64xbf16>, %b: tensor<64x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>) {
  %x = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %r = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %o, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>)
  %sum = "aten.add"(%r, %r2) : (tensor<16x4096xbf16>, tensor<16x4096xbf16>) -> tensor<16x4096xbf16>
  return %o, %sum : tensor<16x4096xbf16>, tensor<16x4096xbf16>
}

// -----

// A read through a view of the same storage counts too.
// CHECK-LABEL: func.func @old_value_read_through_view
// CHECK: %[[V:.*]] = "aten.reshape"(%[[X:.*]]) {shape
// CHECK: %[[C:.*]] = "aten.clone"(%[[X]])
// CHECK-NEXT: "vllm.fused_add_rms_norm_"(%[[C]],
// REMARK: remark: copied 'input' before writing it in place: its old value is read later by 'aten.mul'
func.func @old_value_read_through_view(%a: tensor<16x64xbf16>, %b: tensor<64x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x32x128xbf16>) {
  %x = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %r = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %v = "aten.reshape"(%x) {shape = array<i64: 16, 32, 128>} : (tensor<16x4096xbf16>) -> tensor<16x32x128xbf16>
  %o, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>)
  %m = "aten.mul"(%v, %v) : (tensor<16x32x128xbf16>, tensor<16x32x128xbf16>) -> tensor<16x32x128xbf16>
  return %o, %m : tensor<16x4096xbf16>, tensor<16x32x128xbf16>
}

// -----

// Graph inputs belong to the caller: copied, unless donate-inputs says otherwise.
// CHECK-LABEL: func.func @graph_input_residual
// CHECK: %[[C:.*]] = "aten.clone"(%arg1)
// CHECK-NEXT: "vllm.fused_add_rms_norm_"(%{{.*}}, %[[C]], %arg2)
// REMARK: remark: copied 'residual' before writing it in place: its storage is graph input #1, which the caller still owns
// DONATE-LABEL: func.func @graph_input_residual
// DONATE-NOT: aten.clone
// DONATE: "vllm.fused_add_rms_norm_"(%{{.*}}, %arg1, %arg2)
func.func @graph_input_residual(%a: tensor<16x64xbf16>, %r: tensor<16x4096xbf16>, %w: tensor<4096xbf16>, %b: tensor<64x4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>) {
  %x = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %o, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>)
  return %o, %r2 : tensor<16x4096xbf16>, tensor<16x4096xbf16>
}

// -----

// input and residual are the same tensor: one of them must be a copy.
// CHECK-LABEL: func.func @aliasing_operands
// CHECK: %[[X:.*]] = "aten.mm"
// CHECK: %[[C:.*]] = "aten.clone"(%[[X]])
// CHECK-NEXT: "vllm.fused_add_rms_norm_"(%[[C]], %[[X]], %arg2)
// CHECK-NOT: aten.clone
// REMARK: remark: copied 'input' before writing it in place: operand #1 of the same op shares its storage
func.func @aliasing_operands(%a: tensor<16x64xbf16>, %b: tensor<64x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>) {
  %x = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %o, %r2 = "vllm.fused_add_rms_norm"(%x, %x, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>)
  return %o, %r2 : tensor<16x4096xbf16>, tensor<16x4096xbf16>
}

// -----

// vLLM's rotary case, proven: q and k are disjoint slices of qkv and are
// written back by a slice_scatter chain over exactly those slices, so after
// the in-place call the chain is qkv itself.
// CHECK-LABEL: func.func @rotary_write_back
// CHECK: %[[QKV:.*]] = "aten.mm"
// CHECK: %[[Q:.*]] = "aten.slice"(%[[QKV]]) {dim = -1 : i64, end = 4096
// CHECK: %[[K:.*]] = "aten.slice"(%[[QKV]]) {dim = -1 : i64, end = 5120
// CHECK-NEXT: "vllm.rotary_embedding_"(%arg2, %[[Q]], %[[K]], %arg3)
// CHECK-NOT: slice_scatter
// CHECK-NOT: aten.clone
// CHECK: return %[[QKV]]
func.func @rotary_write_back(%a: tensor<16x64xbf16>, %b: tensor<64x6144xbf16>, %pos: tensor<16xi64>, %cache: tensor<4096x128xbf16>) -> tensor<16x6144xbf16> {
  %qkv = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x6144xbf16>) -> tensor<16x6144xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64} : (tensor<16x6144xbf16>) -> tensor<16x4096xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 4096 : i64, end = 5120 : i64, step = 1 : i64} : (tensor<16x6144xbf16>) -> tensor<16x1024xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %q, %k, %cache) {head_size = 128 : i64, is_neox = true} : (tensor<16xi64>, tensor<16x4096xbf16>, tensor<16x1024xbf16>, tensor<4096x128xbf16>) -> (tensor<16x4096xbf16>, tensor<16x1024xbf16>)
  %s1 = "aten.slice_scatter"(%qkv, %q2) {dim = 1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64} : (tensor<16x6144xbf16>, tensor<16x4096xbf16>) -> tensor<16x6144xbf16>
  %s2 = "aten.slice_scatter"(%s1, %k2) {dim = 1 : i64, start = 4096 : i64, end = 5120 : i64, step = 1 : i64} : (tensor<16x6144xbf16>, tensor<16x1024xbf16>) -> tensor<16x6144xbf16>
  return %s2 : tensor<16x6144xbf16>
}

// -----

// The half-written intermediate of the chain is read by someone else (it has
// the new q but the OLD k): no proof, so q and k are rotated in copies.
// CHECK-LABEL: func.func @rotary_incomplete_write_back
// CHECK: "aten.clone"
// CHECK: "aten.clone"
// CHECK: "vllm.rotary_embedding_"
// CHECK: "aten.slice_scatter"
// CHECK: "aten.slice_scatter"
// REMARK: remark: copied 'query' before writing it in place: its old value is read later by 'aten.slice_scatter'
func.func @rotary_incomplete_write_back(%a: tensor<16x64xbf16>, %b: tensor<64x6144xbf16>, %pos: tensor<16xi64>, %cache: tensor<4096x128xbf16>) -> (tensor<16x6144xbf16>, tensor<16x6144xbf16>) {
  %qkv = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x6144xbf16>) -> tensor<16x6144xbf16>
  %q = "aten.slice"(%qkv) {dim = 1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64} : (tensor<16x6144xbf16>) -> tensor<16x4096xbf16>
  %k = "aten.slice"(%qkv) {dim = 1 : i64, start = 4096 : i64, end = 5120 : i64, step = 1 : i64} : (tensor<16x6144xbf16>) -> tensor<16x1024xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %q, %k, %cache) {head_size = 128 : i64, is_neox = true} : (tensor<16xi64>, tensor<16x4096xbf16>, tensor<16x1024xbf16>, tensor<4096x128xbf16>) -> (tensor<16x4096xbf16>, tensor<16x1024xbf16>)
  %s1 = "aten.slice_scatter"(%qkv, %q2) {dim = 1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64} : (tensor<16x6144xbf16>, tensor<16x4096xbf16>) -> tensor<16x6144xbf16>
  %s2 = "aten.slice_scatter"(%s1, %k2) {dim = 1 : i64, start = 4096 : i64, end = 5120 : i64, step = 1 : i64} : (tensor<16x6144xbf16>, tensor<16x1024xbf16>) -> tensor<16x6144xbf16>
  return %s2, %s1 : tensor<16x6144xbf16>, tensor<16x6144xbf16>
}

// -----

// Attention writes its output buffer; the fused FP8 form gets an FP8 buffer.
// CHECK-LABEL: func.func @attention_output
// CHECK: %[[O:.*]] = "aten.empty"() {dtype = f8E4M3FN, size = array<i64: 16, 32, 128>}
// CHECK-NEXT: "vllm.unified_attention_with_output_"(%arg0, %arg1, %arg2, %[[O]], %arg3) {layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0, 0>}
func.func @attention_output(%q: tensor<16x32x128xbf16>, %k: tensor<16x8x128xbf16>, %v: tensor<16x8x128xbf16>, %s: tensor<f32>) -> tensor<16x32x128xf8E4M3FN> {
  %o = "vllm.unified_attention_with_output"(%q, %k, %v, %s) {layer_name = "model.layers.0.self_attn.attn", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0>} : (tensor<16x32x128xbf16>, tensor<16x8x128xbf16>, tensor<16x8x128xbf16>, tensor<f32>) -> tensor<16x32x128xf8E4M3FN>
  return %o : tensor<16x32x128xf8E4M3FN>
}

// -----

// MLA with an NVFP4 epilogue: the packed output and the FP8 view of the block
// scales (round_up(16, 128) = 128 rows, static here) get their buffers, the
// scales' zero-filled (their padding rows are zero in the value form).
// CHECK-LABEL: func.func @mla_nvfp4_output
// CHECK: %[[O:.*]] = "aten.empty"() {dtype = ui8, size = array<i64: 16, 1024>}
// CHECK-NEXT: %[[S:.*]] = "aten.full"() {dtype = f8E4M3FN, fill_value = 0 : i64, size = array<i64: 128, 128>}
// CHECK-NEXT: "vllm.unified_mla_attention_with_output_"(%arg0, %arg1, %arg2, %[[O]], %arg3, %[[S]]) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 0, 0>}
// CHECK-NEXT: return %[[O]], %[[S]]
func.func @mla_nvfp4_output(%q: tensor<16x16x192xbf16>, %kv: tensor<16x512xbf16>, %pe: tensor<16x64xbf16>, %g: tensor<f32>) -> (tensor<16x1024xui8>, tensor<128x128xf8E4M3FN>) {
  %o, %s = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe, %g) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>} : (tensor<16x16x192xbf16>, tensor<16x512xbf16>, tensor<16x64xbf16>, tensor<f32>) -> (tensor<16x1024xui8>, tensor<128x128xf8E4M3FN>)
  return %o, %s : tensor<16x1024xui8>, tensor<128x128xf8E4M3FN>
}

// -----

// The fused per-token op with a residual: result and scale buffers are new,
// the residual (an intermediate) is updated in place.
// CHECK-LABEL: func.func @rms_per_token_with_residual
// CHECK: %[[R:.*]] = "aten.mm"
// CHECK: %[[Q:.*]] = "aten.empty"() {dtype = f8E4M3FN, size = array<i64: 16, 4096>}
// CHECK: %[[S:.*]] = "aten.empty"() {dtype = f32, size = array<i64: 16, 1>}
// CHECK-NEXT: "vllm.rms_norm_dynamic_per_token_quant_"(%[[Q]], %arg0, %arg1, %[[S]], %[[R]]) {epsilon = 1.000000e-05 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1>}
// CHECK: return %[[Q]], %[[S]], %[[R]]
func.func @rms_per_token_with_residual(%x: tensor<16x4096xbf16>, %w: tensor<4096xbf16>, %a: tensor<16x64xbf16>, %b: tensor<64x4096xbf16>) -> (tensor<16x4096xf8E4M3FN>, tensor<16x1xf32>, tensor<16x4096xbf16>) {
  %r = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %q, %s, %r2 = "vllm.rms_norm_dynamic_per_token_quant"(%x, %w, %r) {epsilon = 1.0e-5 : f64, operandSegmentSizes = array<i32: 1, 1, 0, 1>} : (tensor<16x4096xbf16>, tensor<4096xbf16>, tensor<16x4096xbf16>) -> (tensor<16x4096xf8E4M3FN>, tensor<16x1xf32>, tensor<16x4096xbf16>)
  return %q, %s, %r2 : tensor<16x4096xf8E4M3FN>, tensor<16x1xf32>, tensor<16x4096xbf16>
}

// -----

// Negative: ops without an in-place kernel, and in-place calls, are left alone.
// CHECK-LABEL: func.func @leaves_others_alone
// CHECK-NEXT: %[[A:.*]] = "aten.add"(%arg0, %arg0)
// CHECK-NEXT: "vllm.rms_norm_"(%arg1, %[[A]], %arg2)
// CHECK-NEXT: return
func.func @leaves_others_alone(%x: tensor<16x4096xbf16>, %buf: tensor<16x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<16x4096xbf16> {
  %a = "aten.add"(%x, %x) : (tensor<16x4096xbf16>, tensor<16x4096xbf16>) -> tensor<16x4096xbf16>
  "vllm.rms_norm_"(%buf, %a, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> ()
  return %buf : tensor<16x4096xbf16>
}

// -----

// The same proof when q and k come from split_with_sizes (the bf16 graphs).
// CHECK-LABEL: func.func @rotary_split_write_back
// CHECK: %[[QKV:.*]] = "aten.mm"
// CHECK: %[[S:.*]]:3 = "aten.split_with_sizes"(%[[QKV]])
// CHECK-NEXT: "vllm.rotary_embedding_"(%arg2, %[[S]]#0, %[[S]]#1, %arg3)
// CHECK-NOT: slice_scatter
// CHECK: return %[[QKV]]
func.func @rotary_split_write_back(%a: tensor<16x64xbf16>, %b: tensor<64x6144xbf16>, %pos: tensor<16xi64>, %cache: tensor<4096x128xbf16>) -> tensor<16x6144xbf16> {
  %qkv = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x6144xbf16>) -> tensor<16x6144xbf16>
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {dim = -1 : i64, split_sizes = array<i64: 4096, 1024, 1024>} : (tensor<16x6144xbf16>) -> (tensor<16x4096xbf16>, tensor<16x1024xbf16>, tensor<16x1024xbf16>)
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %q, %k, %cache) {head_size = 128 : i64, is_neox = true} : (tensor<16xi64>, tensor<16x4096xbf16>, tensor<16x1024xbf16>, tensor<4096x128xbf16>) -> (tensor<16x4096xbf16>, tensor<16x1024xbf16>)
  %s1 = "aten.slice_scatter"(%qkv, %q2) {dim = 1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64} : (tensor<16x6144xbf16>, tensor<16x4096xbf16>) -> tensor<16x6144xbf16>
  %s2 = "aten.slice_scatter"(%s1, %k2) {dim = 1 : i64, start = 4096 : i64, end = 5120 : i64, step = 1 : i64} : (tensor<16x6144xbf16>, tensor<16x1024xbf16>) -> tensor<16x6144xbf16>
  return %s2 : tensor<16x6144xbf16>
}

// -----

// The fused norm+quant ops: the FP8 result is a new buffer; the fused-add
// form updates the residual in place and leaves `input` alone (its kernel
// does not write it). A second layer then reads and updates the same residual.
// CHECK-LABEL: func.func @fused_norm_quant_layers
// CHECK: %[[Q0:.*]] = "aten.empty"() {dtype = f8E4M3FN, size = array<i64: 16, 4096>}
// CHECK-NEXT: "vllm.rms_norm_static_fp8_quant_"(%[[Q0]], %[[R:.*]], %arg2, %arg3)
// CHECK: %[[O1:.*]] = "aten.empty"() {dtype = bf16
// CHECK-NEXT: "vllm.cutlass_scaled_mm_"(%[[O1]], %[[Q0]], %arg4, %arg3, %arg3)
// CHECK: %[[Q1:.*]] = "aten.empty"() {dtype = f8E4M3FN, size = array<i64: 16, 4096>}
// CHECK-NEXT: "vllm.fused_add_rms_norm_static_fp8_quant_"(%[[Q1]], %[[O1]], %[[R]], %arg2, %arg3)
// CHECK: %[[Q2:.*]] = "aten.empty"() {dtype = f8E4M3FN, size = array<i64: 16, 4096>}
// CHECK-NEXT: "vllm.fused_add_rms_norm_static_fp8_quant_"(%[[Q2]], %{{.*}}, %[[R]], %arg2, %arg3)
// CHECK-NOT: aten.clone
// CHECK: return %[[Q2]], %[[R]]
func.func @fused_norm_quant_layers(%a: tensor<16x64xbf16>, %b: tensor<64x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<f32>, %wq: tensor<4096x4096xf8E4M3FN>) -> (tensor<16x4096xf8E4M3FN>, tensor<16x4096xbf16>) {
  %r = "aten.mm"(%a, %b) : (tensor<16x64xbf16>, tensor<64x4096xbf16>) -> tensor<16x4096xbf16>
  %q0 = "vllm.rms_norm_static_fp8_quant"(%r, %w, %s) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<4096xbf16>, tensor<f32>) -> tensor<16x4096xf8E4M3FN>
  %o1 = "vllm.cutlass_scaled_mm"(%q0, %wq, %s, %s) : (tensor<16x4096xf8E4M3FN>, tensor<4096x4096xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<16x4096xbf16>
  %q1, %r1 = "vllm.fused_add_rms_norm_static_fp8_quant"(%o1, %r, %w, %s) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>, tensor<f32>) -> (tensor<16x4096xf8E4M3FN>, tensor<16x4096xbf16>)
  %o2 = "vllm.cutlass_scaled_mm"(%q1, %wq, %s, %s) : (tensor<16x4096xf8E4M3FN>, tensor<4096x4096xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<16x4096xbf16>
  %q2, %r2 = "vllm.fused_add_rms_norm_static_fp8_quant"(%o2, %r1, %w, %s) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>, tensor<f32>) -> (tensor<16x4096xf8E4M3FN>, tensor<16x4096xbf16>)
  return %q2, %r2 : tensor<16x4096xf8E4M3FN>, tensor<16x4096xbf16>
}

// -----

// Standalone quants and silu_and_mul: new buffers, argument order of the schemas.
// CHECK-LABEL: func.func @standalone_ops
// CHECK: %[[A:.*]] = "aten.empty"() {dtype = bf16, size = array<i64: 16, 14336>}
// CHECK-NEXT: "vllm.silu_and_mul_"(%[[A]], %arg0)
// CHECK: %[[Q:.*]] = "aten.empty"() {dtype = f8E4M3FN, size = array<i64: 16, 14336>}
// CHECK-NEXT: "vllm.static_scaled_fp8_quant_"(%[[Q]], %[[A]], %arg1)
// CHECK: %[[G:.*]] = "aten.empty"() {dtype = f8E4M3FN, size = array<i64: 16, 14336>}
// CHECK-NEXT: %[[GS:.*]] = "aten.empty"() {dtype = f32, size = array<i64: 16, 112>}
// CHECK-NEXT: "vllm.per_token_group_fp8_quant_"(%[[A]], %[[G]], %[[GS]]) {eps = 1.000000e-10 : f64, fp8_max = 4.480000e+02 : f64, fp8_min = -4.480000e+02 : f64, group_size = 128 : i64, scale_ue8m0 = false}
func.func @standalone_ops(%gu: tensor<16x28672xbf16>, %s: tensor<f32>) -> (tensor<16x14336xf8E4M3FN>, tensor<16x14336xf8E4M3FN>, tensor<16x112xf32>) {
  %a = "vllm.silu_and_mul"(%gu) : (tensor<16x28672xbf16>) -> tensor<16x14336xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%a, %s) : (tensor<16x14336xbf16>, tensor<f32>) -> tensor<16x14336xf8E4M3FN>
  %g, %gs = "vllm.per_token_group_fp8_quant"(%a) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<16x14336xbf16>) -> (tensor<16x14336xf8E4M3FN>, tensor<16x112xf32>)
  return %q, %g, %gs : tensor<16x14336xf8E4M3FN>, tensor<16x14336xf8E4M3FN>, tensor<16x112xf32>
}

// -----

// Column-major scales where the op says so (`transposed_if`), recorded or not:
// the buffer is the transpose of a row-major one, `empty([G, T]).permute(1, 0)`,
// as vLLM allocates it; row-major where the flag is false.
// CHECK-LABEL: func.func @transposed_scales
// CHECK: %[[B1:.*]] = "aten.empty"(%{{.*}}) {dtype = f32, size = array<i64: 32, -9223372036854775808>} : (index) -> tensor<32x?xf32>
// CHECK-NEXT: %[[S1:.*]] = "aten.permute"(%[[B1]]) {dims = array<i64: 1, 0>} : (tensor<32x?xf32>) -> tensor<?x32xf32>
// CHECK-NEXT: "vllm.rms_norm_per_block_quant_"(%{{.*}}, %arg0, %arg1, %[[S1]]) {{{.*}}is_scale_transposed = true
// CHECK: %[[S2:.*]] = "aten.empty"(%{{.*}}) {dtype = f32, size = array<i64: -9223372036854775808, 32>} : (index) -> tensor<?x32xf32>
// CHECK-NEXT: "vllm.per_token_group_fp8_quant_"(%arg0, %{{.*}}, %[[S2]]) {{{.*}}dummy_is_scale_transposed = false
// CHECK: %[[B3:.*]] = "aten.empty"(%{{.*}}) {dtype = f32, size = array<i64: 112, -9223372036854775808>}
// CHECK-NEXT: %[[S3:.*]] = "aten.permute"(%[[B3]])
// CHECK-NEXT: "vllm.silu_and_mul_per_block_quant_"(%{{.*}}, %arg2, %[[S3]]) {group_size = 128 : i64, is_scale_transposed = true}
func.func @transposed_scales(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %gu: tensor<?x28672xbf16>)
    -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>) {
  %q, %s = "vllm.rms_norm_per_block_quant"(%x, %w) {epsilon = 1.0e-6 : f64, group_size = 128 : i64, is_scale_transposed = true, operandSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %q2, %s2 = "vllm.per_token_group_fp8_quant"(%x) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = false, dummy_is_tma_aligned = false} : (tensor<?x4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %q3, %s3 = "vllm.silu_and_mul_per_block_quant"(%gu) {group_size = 128 : i64, is_scale_transposed = true} : (tensor<?x28672xbf16>) -> (tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>)
  return %q, %s, %q2, %s2, %q3, %s3 : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<?x14336xf8E4M3FN>, tensor<?x112xf32>
}

// -----

// TMA-padded column-major scales (`tma_aligned_if`): `empty_strided([T, G],
// [1, round_up(T, 4)])`, as vLLM main allocates them, the padded stride as the
// graph's SymInt arithmetic on T (named by T's recorded symbol), or folded
// where T is static; the flag is ours alone, vLLM's op reads the strides.
// CHECK-LABEL: func.func @tma_padded_scales
// CHECK: %[[A:.*]] = "torch.operator"(%[[T:.*]]) {fx.meta = "{\22sym\22:\22s7 + 3\22}", {{.*}}target = "operator.add"}
// CHECK-NEXT: %[[D:.*]] = "torch.operator"(%[[A]]) {{{.*}}target = "operator.floordiv"}
// CHECK-NEXT: %[[M:.*]] = "torch.operator"(%[[D]]) {fx.meta = "{\22sym\22:\224*((s7 + 3)//4)\22}", {{.*}}target = "operator.mul"}
// CHECK-NEXT: %[[S1:.*]] = "aten.empty_strided"(%[[T]], %[[M]]) {dtype = f32, size = array<i64: -9223372036854775808, 32>, stride = array<i64: 1, -9223372036854775808>} : (index, index) -> tensor<?x32xf32>
// CHECK-NEXT: "vllm.rms_norm_per_block_quant_"(%{{.*}}, %arg0, %arg1, %[[S1]]) {{{.*}}is_scale_tma_aligned = true, is_scale_transposed = true
// CHECK: %[[S2:.*]] = "aten.empty_strided"() {dtype = f32, size = array<i64: 18, 112>, stride = array<i64: 1, 20>} : () -> tensor<18x112xf32>
// CHECK-NEXT: "vllm.per_token_group_fp8_quant_"(%{{.*}}, %{{.*}}, %[[S2]]) {{{.*}}dummy_is_scale_transposed = true, dummy_is_tma_aligned = true
// Not padded where the flag says no, whatever the record:
// CHECK: %[[B3:.*]] = "aten.empty"() {dtype = f32, size = array<i64: 112, 18>}
// CHECK-NEXT: "aten.permute"(%[[B3]])
func.func @tma_padded_scales(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %gu: tensor<18x28672xbf16>)
    -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<18x14336xf8E4M3FN>, tensor<18x112xf32>, tensor<18x14336xf8E4M3FN>, tensor<18x112xf32>) {
  %q, %s = "vllm.rms_norm_per_block_quant"(%x, %w) {epsilon = 1.0e-6 : f64, group_size = 128 : i64, is_scale_transposed = true, is_scale_tma_aligned = true, operandSegmentSizes = array<i32: 1, 1, 0, 0>, fx.meta = "[null,{\"shape\":[\"s7\",4096],\"dtype\":\"float8_e4m3fn\",\"stride\":[4096,1]},{\"shape\":[\"s7\",32],\"dtype\":\"float32\",\"stride\":[1,\"4*(((s7 + 3)//4))\"]}]"} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  %a = "vllm.silu_and_mul"(%gu) : (tensor<18x28672xbf16>) -> tensor<18x14336xbf16>
  %q2, %s2 = "vllm.per_token_group_fp8_quant"(%a) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = true} : (tensor<18x14336xbf16>) -> (tensor<18x14336xf8E4M3FN>, tensor<18x112xf32>)
  %q3, %s3 = "vllm.per_token_group_fp8_quant"(%a) {group_size = 128 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false, dummy_is_scale_transposed = true, dummy_is_tma_aligned = false, fx.meta = "[null,{\"shape\":[18,14336],\"dtype\":\"float8_e4m3fn\",\"stride\":[14336,1]},{\"shape\":[18,112],\"dtype\":\"float32\",\"stride\":[1,20]}]"} : (tensor<18x14336xbf16>) -> (tensor<18x14336xf8E4M3FN>, tensor<18x112xf32>)
  return %q, %s, %q2, %s2, %q3, %s3 : tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>, tensor<18x14336xf8E4M3FN>, tensor<18x112xf32>, tensor<18x14336xf8E4M3FN>, tensor<18x112xf32>
}

// -----

// MLA attention + a TMA-aligned per-group quant, fused (`quant_tma_aligned`):
// the group scales' buffer is padded too (`tma_aligned_if`), rows as recorded.
// CHECK-LABEL: func.func @mla_tma_group_scales
// CHECK: %[[PAD:.*]] = "torch.operator"({{.*}}target = "operator.mul"
// CHECK-NEXT: %[[S:.*]] = "aten.empty_strided"(%arg0, %[[PAD]]) {dtype = f32, size = array<i64: -9223372036854775808, 16>, stride = array<i64: 1, -9223372036854775808>}
// CHECK-NEXT: "vllm.unified_mla_attention_with_output_"(%arg1, %arg2, %arg3, %{{.*}}, %[[S]]) {{{.*}}quant_tma_aligned = true
func.func @mla_tma_group_scales(%n: index {fx.meta = "{\"sym\":\"s7\"}"}, %q: tensor<?x16x192xbf16>, %kv: tensor<?x512xbf16>, %pe: tensor<?x64xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>) {
  %o, %s = "vllm.unified_mla_attention_with_output"(%q, %kv, %pe) {layer_name = "l3", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0, 0>, quant_col_major = true, quant_group_size = 128 : i64, quant_scale_ue8m0 = false, quant_tma_aligned = true, fx.meta = "[null,{\"shape\":[\"s7\",2048],\"dtype\":\"float8_e4m3fn\",\"stride\":[2048,1]},{\"shape\":[\"s7\",16],\"dtype\":\"float32\",\"stride\":[1,\"4*(((s7 + 3)//4))\"]}]"} : (tensor<?x16x192xbf16>, tensor<?x512xbf16>, tensor<?x64xbf16>) -> (tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>)
  return %o, %s : tensor<?x2048xf8E4M3FN>, tensor<?x16xf32>
}
