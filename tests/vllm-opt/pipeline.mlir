// The driver's pipeline conventions, as mlir-opt has them.

// Project and upstream passes mix in one textual pipeline.
// RUN: vllm-opt %s --pass-pipeline='builtin.module(func.func(vllm-dce),canonicalize,cse)' | FileCheck %s
// Pass flags are a shorthand for the same pipeline.
// RUN: vllm-opt %s --vllm-dce --canonicalize --cse --dump-pass-pipeline 2>&1 | FileCheck %s --check-prefix=SHORT
// An unknown pass is a located error and exit 1.
// RUN: not vllm-opt %s --pass-pipeline='builtin.module(vllm-nope)' 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not vllm-opt %s --pass-pipeline='builtin.module(func.func(vllm-dce{bogus=1}))' 2>&1 | FileCheck %s --check-prefix=OPTION
// A pass anchored on func.func cannot run on the module without nesting.
// RUN: not vllm-opt %s --pass-pipeline='builtin.module(vllm-dce)' 2>&1 | FileCheck %s --check-prefix=NEST
// --pass-pipeline and pass flags do not mix.
// RUN: not vllm-opt %s --pass-pipeline='builtin.module(cse)' --vllm-dce 2>&1 | FileCheck %s --check-prefix=MIX
// Instrumentation goes to stderr.
// RUN: vllm-opt %s --vllm-dce --mlir-print-ir-after-all 2>&1 >/dev/null | FileCheck %s --check-prefix=AFTER
// RUN: vllm-opt %s --vllm-dce --mlir-timing 2>&1 >/dev/null | FileCheck %s --check-prefix=TIMING
// Standard input and -o.
// RUN: cat %s | vllm-opt - -o %t.out && FileCheck %s --check-prefix=ROUNDTRIP < %t.out
// A missing input file is an error naming it.
// RUN: not vllm-opt %s.does-not-exist 2>&1 | FileCheck %s --check-prefix=MISSING
// --help lists the registered passes, the project's and upstream's.
// RUN: vllm-opt --help | FileCheck %s --check-prefix=HELP

// CHECK-LABEL: func.func @f
// CHECK-NOT: aten.neg
// CHECK: return %arg0
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "aten.neg"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  return %x : tensor<4xf32>
}

// SHORT: builtin.module(func.func(vllm-dce),canonicalize
// SHORT: func.func @f
// SHORT-NOT: aten.neg

// UNKNOWN: <pass-pipeline>:1:{{[0-9]+}}: error: 'vllm-nope' does not refer to a registered pass or pass pipeline
// OPTION: error:
// OPTION-SAME: bogus
// NEST: error: {{.*}}vllm-dce{{.*}}func.func
// MIX: error: --pass-pipeline cannot be combined with individual pass flags

// AFTER: IR Dump After vllm-dce
// AFTER-NOT: aten.neg
// TIMING: Execution time report
// TIMING: vllm-dce

// ROUNDTRIP: "aten.neg"

// MISSING: does-not-exist: error: could not open input file

// HELP: vllm-opt passes:
// HELP-NEXT: --vllm-dce{{ +}}- Erase unused pure ops of the torch-like dialects
// HELP: --canonicalize
// HELP: --vllm-dce
