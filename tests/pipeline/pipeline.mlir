// The post-grad pipeline: vLLM's order, shape contexts, one textual pipeline.
// RUN: vllm-opt --print-pipeline | FileCheck %s --check-prefix=SYMBOLIC
// RUN: vllm-opt --print-pipeline --runtime-shape 256 | FileCheck %s --check-prefix=STATIC
// RUN: vllm-opt --print-pipeline --compile-range 1:8192 | FileCheck %s --check-prefix=RANGE
// RUN: vllm-opt --print-pipeline --runtime-shape 8 --custom-pass canonicalize --custom-pass 'vllm-dce' | FileCheck %s --check-prefix=CUSTOM
// The printed pipeline, fed back to --pass-pipeline, gives the same result.
// RUN: vllm-opt %s --runtime-shape 64 --custom-pass cse > %t.config.mlir
// RUN: vllm-opt %s --pass-pipeline="$(vllm-opt --print-pipeline --runtime-shape 64 --custom-pass cse)" > %t.text.mlir
// RUN: diff %t.config.mlir %t.text.mlir
// RUN: FileCheck %s --input-file %t.config.mlir
// Skipped passes and the reasons are in the summary (also under --mlir-timing).
// RUN: vllm-opt %s --runtime-shape 64 --mlir-timing 2>&1 >/dev/null | FileCheck %s --check-prefix=SUMMARY
// A compile range keeps types symbolic and narrows the symbols' bounds.
// RUN: vllm-opt %s --compile-range 1:512 | FileCheck %s --check-prefix=RANGEIR

// SYMBOLIC: builtin.module(func.func(vllm-fix-functionalization),func.func(vllm-dce))
// STATIC: builtin.module(vllm-specialize-shapes{num-tokens=256},func.func(vllm-fix-functionalization),func.func(vllm-dce))
// RANGE: builtin.module(vllm-specialize-shapes{range=1:8192},func.func(vllm-fix-functionalization),func.func(vllm-dce))
// CUSTOM: builtin.module(vllm-specialize-shapes{num-tokens=8},canonicalize,func.func(vllm-dce),func.func(vllm-fix-functionalization),func.func(vllm-dce))

// CHECK: module attributes {torch.runtime_shape = 64 : i64, torch.symbols = {}}
// CHECK-LABEL: func.func @graph
// CHECK-SAME: tensor<64x4096xbf16>
// CHECK-NOT: aten.neg
// CHECK: "aten.empty"
// CHECK-NEXT: "vllm.rms_norm_"

// SUMMARY: vllm-opt pass summary (64)
// SUMMARY: vllm-specialize-shapes {{.*}} ms  num-folded-sizes=0 num-static-types=
// SUMMARY: vllm-fix-functionalization {{.*}} ms  buffers=1 converted=1 copies=0 functional=0 write-backs=0
// SUMMARY: vllm-dce {{.*}} num-erased=1

// RANGEIR: torch.compile_range = array<i64: 1, 512>
// RANGEIR-SAME: torch.symbols = {s0 = {max = 512 : i64, min = 1 : i64}}
// RANGEIR: tensor<?x4096xbf16>
module attributes {torch.symbols = {s0 = {min = 2 : i64}}} {
  func.func @graph(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
    %dead = "aten.neg"(%x) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
    %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
    return %y : tensor<?x4096xbf16>
  }
}
