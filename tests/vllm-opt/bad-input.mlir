// Bad input gets a located `error:` and exit code 1 (`not` also fails on a
// crash, so an abort or a panic fails this test).
// RUN: not vllm-opt %s --split-input-file 2>&1 | FileCheck %s

// CHECK: bad-input.mlir:[[@LINE+1]]:1: error: custom op 'garbage' is unknown
garbage input {

// -----

func.func @unknown_op(%x: tensor<4xf32>) {
  // CHECK: bad-input.mlir:[[@LINE+1]]:8: error: unregistered operation 'vllm.frobnicate'
  %0 = "vllm.frobnicate"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @wrong_operand_count(%x: tensor<?x4096xbf16>, %s: tensor<f32>) {
  // CHECK: bad-input.mlir:[[@LINE+1]]:8: error: 'vllm.static_scaled_fp8_quant' op expects exactly 2 operands (input, scale), but got 3
  %0 = "vllm.static_scaled_fp8_quant"(%x, %s, %s) : (tensor<?x4096xbf16>, tensor<f32>, tensor<f32>) -> tensor<?x4096xf8E4M3FN>
  return
}

// -----

func.func @use_of_undefined_value() {
  // CHECK: bad-input.mlir:[[@LINE+1]]:19: error: use of undeclared SSA value name
  %0 = "aten.neg"(%undefined) : (tensor<4xf32>) -> tensor<4xf32>
  return
}
