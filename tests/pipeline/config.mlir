// PassConfig errors name the field; typos are never silently ignored.
// RUN: not vllm-opt %s --config '{"fuse_gemm_comm": true}' 2>&1 | FileCheck %s --check-prefix=TYPO
// RUN: not vllm-opt %s --config '{"enable_noop": "yes"}' 2>&1 | FileCheck %s --check-prefix=TYPE
// RUN: not vllm-opt %s --config '{"enable_noop": true, "eliminate_noops": false}' 2>&1 | FileCheck %s --check-prefix=CONFLICT
// RUN: not vllm-opt %s --config '{"c10d_group_names": {"tp:0": 3}}' 2>&1 | FileCheck %s --check-prefix=GROUPS
// RUN: not vllm-opt %s --config '{"c10d_group_names": {"tp:0": "a b"}}' 2>&1 | FileCheck %s --check-prefix=GROUPS
// RUN: not vllm-opt %s --config '{"donated_inputs": ["arg 1"]}' 2>&1 | FileCheck %s --check-prefix=DONATED
// RUN: not vllm-opt %s --config '{"donated_inputs": "arg1"}' 2>&1 | FileCheck %s --check-prefix=DONATED
// RUN: not vllm-opt %s --config %S/does-not-exist.json 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: not vllm-opt %s --config '{"dump_graph_dir": "/tmp"}' --pass-pipeline='builtin.module(cse)' 2>&1 | FileCheck %s --check-prefix=MIX
// RUN: not vllm-opt %s --runtime-shape 0 2>&1 | FileCheck %s --check-prefix=ZERO
// RUN: not vllm-opt %s --compile-range 9:3 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not vllm-opt %s --custom-pass vllm-nope 2>&1 | FileCheck %s --check-prefix=CUSTOM
// Dump settings do not change the cache key; the alias spellings give the same key.
// RUN: vllm-opt --print-uuid --config '{"donate_inputs": true}' > %t.a
// RUN: vllm-opt --print-uuid --config '{"donate_inputs": true, "dump_graph_stages": ["vllm-dce"], "dump_graph_dir": "/x"}' > %t.b
// RUN: diff %t.a %t.b
// RUN: vllm-opt --print-uuid --config '{"enable_fi_allreduce_fusion": false, "fi_allreduce_fusion_max_token_num": 8}' > %t.c
// RUN: vllm-opt --print-uuid --config '{"fuse_allreduce_rms": false, "fi_allreduce_fusion_max_token_num": 8}' > %t.d
// RUN: diff %t.c %t.d
// RUN: not diff %t.a %t.c
// Async TP's c10d group names are part of the key when given (they are in
// the graph it writes), and an empty map is no map:
// RUN: vllm-opt --print-uuid --config '{"donate_inputs": true, "c10d_group_names": {}}' > %t.e
// RUN: diff %t.a %t.e
// RUN: vllm-opt --print-uuid --config '{"donate_inputs": true, "c10d_group_names": {"tp:0": "1"}}' > %t.f
// RUN: vllm-opt --print-uuid --config '{"donate_inputs": true, "c10d_group_names": {"tp:0": "2"}}' > %t.g
// RUN: not diff %t.a %t.f
// RUN: not diff %t.f %t.g
// Donated inputs change the graph written, so the key; none given is none:
// RUN: vllm-opt --print-uuid --config '{"donate_inputs": true, "donated_inputs": []}' > %t.h
// RUN: diff %t.a %t.h
// RUN: vllm-opt --print-uuid --config '{"donate_inputs": true, "donated_inputs": ["arg4_1"]}' > %t.i
// RUN: not diff %t.a %t.i

// TYPO: error: config: unknown field(s) 'fuse_gemm_comm' (did you mean 'fuse_gemm_comms'?)
// TYPE: error: config: 'enable_noop' must be true or false, got "yes"
// CONFLICT: error: config: 'eliminate_noops' and 'enable_noop' set the same option to different values
// GROUPS: error: config: 'c10d_group_names' must map group names to c10d group names (strings without spaces)
// DONATED: error: config: 'donated_inputs' must be a list of placeholder names
// NOFILE: does-not-exist.json: error: cannot read the config
// MIX: error: the post-grad pipeline (--config, --runtime-shape, ...) cannot be combined with --pass-pipeline
// ZERO: error: a runtime shape must be at least 1 token
// RANGE: error: compile range '9:3' must satisfy 1 <= start <= end
// CUSTOM: --custom-pass: error: custom pass 'vllm-nope' is not a registered pass
func.func @f() {
  return
}
