// Every kind of bad FX graph JSON gets an error naming the node (or the JSON
// position) and exit code 1, never a panic (`not` fails on a crash).
// RUN: vllm-opt %S/inputs/rms_quant.json | FileCheck %s --check-prefix=GOOD
// RUN: not vllm-opt %S/inputs/malformed.json 2>&1 | FileCheck %s --check-prefix=MALFORMED
// RUN: not vllm-opt %S/inputs/wrong-format.json 2>&1 | FileCheck %s --check-prefix=FORMAT
// RUN: not vllm-opt %S/inputs/wrong-version.json 2>&1 | FileCheck %s --check-prefix=VERSION
// RUN: not vllm-opt %S/inputs/dangling-ref.json 2>&1 | FileCheck %s --check-prefix=DANGLING
// RUN: not vllm-opt %S/inputs/forward-ref.json 2>&1 | FileCheck %s --check-prefix=FORWARD
// RUN: not vllm-opt %S/inputs/duplicate-name.json 2>&1 | FileCheck %s --check-prefix=DUPLICATE
// RUN: not vllm-opt %S/inputs/unknown-dtype.json 2>&1 | FileCheck %s --check-prefix=DTYPE
// RUN: not vllm-opt %S/inputs/shape-contradicts-op.json 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not vllm-opt %S/inputs/af-without-op.json 2>&1 | FileCheck %s --check-prefix=AFOP
// RUN: not vllm-opt %S/inputs/getitem-out-of-range.json 2>&1 | FileCheck %s --check-prefix=GETITEM
// make_fx writes `getitem(auto_functionalized, 0)` (the op's None) even when nothing reads it:
// RUN: vllm-opt %S/inputs/none-getitem-unused.json | FileCheck %s --check-prefix=GOOD
// RUN: not vllm-opt %S/inputs/none-getitem-used.json 2>&1 | FileCheck %s --check-prefix=NONE
// RUN: not vllm-opt %S/inputs/call-module.json 2>&1 | FileCheck %s --check-prefix=MODULE
// Inductor's control_deps (torch >= 2.12 keeps an order by wrapping an op and
// reading its body as a subgraph attribute; exported by python/vllm_opt from
// a make_fx graph): refused at the subgraph, by name.
// RUN: not vllm-opt %S/inputs/control-deps.json 2>&1 | FileCheck %s --check-prefix=SUBGRAPH
// A .json file can also be read from stdin with --input-format.
// RUN: not vllm-opt %S/inputs/bad-grammar.json 2>&1 | FileCheck %s --check-prefix=GRAMMAR
// RUN: not vllm-opt %S/inputs/tag-not-string.json 2>&1 | FileCheck %s --check-prefix=TAG
// RUN: not vllm-opt %S/inputs/args-not-array.json 2>&1 | FileCheck %s --check-prefix=ARGS
// RUN: not vllm-opt %S/inputs/node-not-object.json 2>&1 | FileCheck %s --check-prefix=NOTOBJECT
// RUN: not vllm-opt %S/inputs/repeated-field.json 2>&1 | FileCheck %s --check-prefix=REPEATED
// RUN: vllm-opt %S/inputs/escaped-names.json | FileCheck %s --check-prefix=ESCAPED
// RUN: vllm-opt %S/inputs/escaped-names.json --emit fx-json | FileCheck %s --check-prefix=ESCAPED-JSON
// RUN: cat %S/inputs/rms_quant.json | vllm-opt - --input-format=fx-json | FileCheck %s --check-prefix=GOOD

// GOOD: "vllm.rms_norm"
// GOOD: "vllm.static_scaled_fp8_quant"
// MALFORMED: malformed.json:{{[0-9]+}}:{{[0-9]+}}: error: malformed JSON
// FORMAT: wrong-format.json: error: 'format' must be "fx-graph", found "onnx"
// VERSION: wrong-version.json: error: unsupported FX graph JSON version 2
// DANGLING: dangling-ref.json: node 'reshape': error: refers to 'nonexistent', a node that does not exist
// FORWARD: forward-ref.json: node 'reshape': error: refers to 'getitem_1', a node that comes later (a forward reference)
// DUPLICATE: duplicate-name.json: node 'getitem': error: duplicate node name
// DTYPE: unknown-dtype.json: node 'w': error: unknown dtype 'float7'
// SHAPE: shape-contradicts-op.json: node 'auto_functionalized': error: 'vllm.rms_norm' op 'result' (tensor<?x2048xbf16>) must have the shape of 'input' (tensor<?x4096xbf16>)
// AFOP: af-without-op.json: node 'auto_functionalized': error: auto_functionalized needs the op it wraps
// GETITEM: getitem-out-of-range.json: node 'getitem': error: getitem index 3 is out of range: 'auto_functionalized' has 2 elements
// MODULE: call-module.json: node 'reshape': error: 'call_module' does not occur in post-grad graphs
// SUBGRAPH: control-deps.json: node 'subgraph_add': error: a get_attr without a tensor value (a subgraph, as Inductor's control_deps or another higher-order op reads one) is not supported
// GRAMMAR: bad-grammar.json: node 'view': error: value {"size":3} is not of the FX graph JSON grammar
// TAG: tag-not-string.json: node 'view': error: value {"node":3}: the 'node' tag takes a string
// ARGS: args-not-array.json: node 'view': error: 'args' must be an array
// NOTOBJECT: node-not-object.json: error: node #1 is not a JSON object
// REPEATED: repeated-field.json: error: node #1: the field 'name' is given twice
// Names with JSON escapes are decoded (the reader borrows only unescaped text).
// ESCAPED: fx.name = "x\C3\A9"
// ESCAPED: "aten.view"(%arg0)
// ESCAPED-JSON: "name":"xé"
// NONE: none-getitem-used.json: node 'output': error: uses 'getitem_none', which produces no value
