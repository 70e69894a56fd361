// RUN: vllm-opt %s --split-input-file --vllm-noop-elimination | FileCheck %s

// reshape(x:[s0,4096], [-1,4096]): the -1 is forced by the element count.
// CHECK-LABEL: func.func @reshape_to_the_same_symbolic_shape
// CHECK-NOT: aten.reshape
// CHECK: %[[Y:.*]] = "vllm.static_scaled_fp8_quant"(%arg0, %arg1)
func.func @reshape_to_the_same_symbolic_shape(%x: tensor<?x4096xbf16>, %s: tensor<f32>) -> tensor<?x4096xf8E4M3FN> {
  %r = "aten.reshape"(%x) {shape = array<i64: -1, 4096>} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%r, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return %q : tensor<?x4096xf8E4M3FN>
}

// -----

// A symbolic size whose SymInt is the input's own symbol.
// CHECK-LABEL: func.func @reshape_with_the_same_symbol
// CHECK-NOT: aten.reshape
// CHECK: return %arg1
func.func @reshape_with_the_same_symbol(%n: index, %x: tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
    attributes {arg_attrs = [{fx.meta = "{\"sym\":\"s0\"}"}, {fx.meta = "{\"shape\":[\"s0\",4096],\"dtype\":\"bfloat16\"}"}]} {
  %r = "aten.reshape"(%x, %n) {shape = array<i64: -9223372036854775808, 4096>} : (tensor<?x4096xbf16>, index) -> tensor<?x4096xbf16>
  return %r : tensor<?x4096xbf16>
}

// -----

// Another symbol: not provably the same size.
// CHECK-LABEL: func.func @no_noop_reshape_with_another_symbol
// CHECK: "aten.reshape"
func.func @no_noop_reshape_with_another_symbol(%n: index, %x: tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
    attributes {arg_attrs = [{fx.meta = "{\"sym\":\"s1\"}"}, {fx.meta = "{\"shape\":[\"s0\",4096],\"dtype\":\"bfloat16\"}"}]} {
  %r = "aten.reshape"(%x, %n) {shape = array<i64: -9223372036854775808, 4096>} : (tensor<?x4096xbf16>, index) -> tensor<?x4096xbf16>
  return %r : tensor<?x4096xbf16>
}

// -----

// Two inferred dims cannot be proven; a real reshape is kept.
// CHECK-LABEL: func.func @no_noop_reshape_when_unprovable
// CHECK: "aten.reshape"
// CHECK: "aten.reshape"
func.func @no_noop_reshape_when_unprovable(%x: tensor<?x?xbf16>, %y: tensor<?x4096xbf16>) -> (tensor<?x?xbf16>, tensor<?x32x128xbf16>) {
  %r = "aten.reshape"(%x) {shape = array<i64: -1, -1>} : (tensor<?x?xbf16>) -> tensor<?x?xbf16>
  %t = "aten.reshape"(%y) {shape = array<i64: -1, 32, 128>} : (tensor<?x4096xbf16>) -> tensor<?x32x128xbf16>
  return %r, %t : tensor<?x?xbf16>, tensor<?x32x128xbf16>
}

// -----

// Full-extent slices go: end past the size, or INT64_MAX on a symbolic dim.
// CHECK-LABEL: func.func @full_slices
// CHECK-NOT: aten.slice
// CHECK: return %arg0, %arg0
func.func @full_slices(%x: tensor<?x4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %a = "aten.slice"(%x) {dim = 1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %b = "aten.slice"(%x) {dim = 0 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  return %a, %b : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}

// -----

// x[0:-1] drops the last row (vLLM bug #17078): never a no-op, even where
// the types cannot show it; a partial slice and a strided one stay too.
// CHECK-LABEL: func.func @no_noop_partial_slices
// CHECK-COUNT-3: "aten.slice"
func.func @no_noop_partial_slices(%x: tensor<?x4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x2048xbf16>, tensor<?x4096xbf16>) {
  %a = "aten.slice"(%x) {dim = 0 : i64, start = 0 : i64, end = -1 : i64, step = 1 : i64} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  %b = "aten.slice"(%x) {dim = 1 : i64, start = 0 : i64, end = 2048 : i64, step = 1 : i64} : (tensor<?x4096xbf16>) -> tensor<?x2048xbf16>
  %c = "aten.slice"(%x) {dim = 0 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  return %a, %b, %c : tensor<?x4096xbf16>, tensor<?x2048xbf16>, tensor<?x4096xbf16>
}

// -----

// A slice_scatter that overwrites everything is its source.
// CHECK-LABEL: func.func @full_slice_scatter
// CHECK-NOT: aten.slice_scatter
// CHECK: return %arg1
func.func @full_slice_scatter(%x: tensor<8x4096xbf16>, %src: tensor<8x4096xbf16>) -> tensor<8x4096xbf16> {
  %r = "aten.slice_scatter"(%x, %src) {dim = 1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64} : (tensor<8x4096xbf16>, tensor<8x4096xbf16>) -> tensor<8x4096xbf16>
  return %r : tensor<8x4096xbf16>
}

// -----

// Writing part of it (rotary's write-back of q into qkv) is not a no-op.
// CHECK-LABEL: func.func @no_noop_partial_slice_scatter
// CHECK: "aten.slice_scatter"
func.func @no_noop_partial_slice_scatter(%qkv: tensor<8x6144xbf16>, %q: tensor<8x4096xbf16>) -> tensor<8x6144xbf16> {
  %r = "aten.slice_scatter"(%qkv, %q) {dim = 1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64} : (tensor<8x6144xbf16>, tensor<8x4096xbf16>) -> tensor<8x6144xbf16>
  return %r : tensor<8x6144xbf16>
}
