// An auto_functionalized call with an argument the op table does not have
// (here `extra_flag`, as a newer vLLM could add) is kept opaque, and so is
// the buffer it writes: the importer and its buffer-dropping rule ask the
// same question (`value_form`). Before, the buffer was dropped while the call
// stayed opaque, and the import failed ("refers to 'empty', which was not
// imported"). The next op, which the table knows, is still imported.
// RUN: vllm-opt %S/inputs/af-unmodeled-arg.json | FileCheck %s
// RUN: vllm-opt %S/inputs/af-unmodeled-arg.json --emit=fx-json | FileCheck %s --check-prefix=FX

// CHECK: %[[E:.*]] = "torch.operator"() {{{.*}}target = "torch.ops.aten.empty.memory_format"}
// CHECK: "torch.operator"(%[[E]], %arg0, %arg1) {{{.*}}target = "torch.ops.higher_order.auto_functionalized"}
// CHECK: "vllm.static_scaled_fp8_quant"

// FX: "name":"auto_functionalized","op":"call_function","target":"torch.ops.higher_order.auto_functionalized","args":[{"op":"torch.ops._C.rms_norm.default"}],"kwargs":{{.*}}"extra_flag":true
