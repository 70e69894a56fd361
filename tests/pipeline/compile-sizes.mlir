// --compile-sizes compiles every size in one run, each to its own output.
// RUN: rm -rf %t.dir && mkdir -p %t.dir
// RUN: vllm-opt %S/../fx/inputs/rms_quant.json --compile-sizes 1,16,256 --emit=fx-json -o %t.dir/out.json
// RUN: FileCheck %s --check-prefix=N1 < %t.dir/out.n1.json
// RUN: FileCheck %s --check-prefix=N256 < %t.dir/out.n256.json
// RUN: vllm-opt %S/../fx/inputs/rms_quant.json --compile-sizes 1,16 | FileCheck %s --check-prefix=STDOUT
// RUN: not vllm-opt %S/../fx/inputs/rms_quant.json --compile-sizes 1,16 --emit=fx-json 2>&1 | FileCheck %s --check-prefix=NEEDS-O

// N1: "symbols": {}
// N1: {"name":"x","op":"placeholder","target":"x","args":[],"kwargs":{},"meta":{"val":{"shape":[1,4096]
// N1: "args":{{\[\[}}1,4096]]
// N256: {"name":"x","op":"placeholder","target":"x","args":[],"kwargs":{},"meta":{"val":{"shape":[256,4096]
// STDOUT: // ----- runtime_shape=1
// STDOUT: tensor<1x4096xbf16>
// STDOUT: // ----- runtime_shape=16
// STDOUT: tensor<16x4096xbf16>
// NEEDS-O: error: --compile-sizes with --emit=fx-json needs -o
