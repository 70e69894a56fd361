// A reader that stops early (`| head`) closes vllm-opt's stdout. That is not
// a failure: no panic (Rust's println!), no LLVM fatal error at exit (MLIR's
// pass listing left llvm::outs() in an error state), exit code 0 (the RUN
// lines run under pipefail).
// RUN: vllm-opt --help 2>%t.err | head -n 1 | FileCheck %s --check-prefix=HELP
// RUN: not grep -E "panicked|fatal error" %t.err
// RUN: vllm-opt %s 2>%t.err2 | head -c 10 > /dev/null
// RUN: not grep -E "panicked|fatal error" %t.err2

// HELP: vLLM's post-grad graph compiler
func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
