// `-o` writes a regular file through a temporary file and a rename (no torn
// output on failure), but writes anything else in place: `-o /dev/null` once
// replaced the device node with a regular file, and a symlink must stay a
// symlink to the file it names.
// RUN: vllm-opt %s -o /dev/null && test -c /dev/null
// RUN: vllm-opt %s --vllm-dce -o /dev/null && test -c /dev/null
// RUN: rm -rf %t && mkdir -p %t && touch %t/target.mlir && ln -s target.mlir %t/link.mlir
// RUN: vllm-opt %s -o %t/link.mlir && test -L %t/link.mlir && FileCheck %s --input-file %t/target.mlir
// RUN: vllm-opt %s -o %t/new.mlir && test -f %t/new.mlir && FileCheck %s --input-file %t/new.mlir

// CHECK: func.func @f
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
