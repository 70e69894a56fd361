// Sizes computed from the token count: Inductor traces python/torch_tests/
// test_symint_arithmetic.py's padded buffer (round_up(T, 128) rows) as
// operator.add / floordiv / mul nodes on the SymInt input. They import as
// torch.operator on `index` values (their `fx_args` kept), feed aten.full's
// symbolic size, export unchanged and import again; specialized, their
// results and the buffer's rows evaluate (200 tokens: 256 rows), and no-op
// elimination keeps the slice_scatter into the padded rows (not a full
// overwrite). Before, the first arithmetic node was an error.
// RUN: vllm-opt %S/inputs/padded_rows_inductor.json --config '{"eliminate_noops": true}' | FileCheck %s
// RUN: vllm-opt %S/inputs/padded_rows_inductor.json --config '{"eliminate_noops": true}' --emit=fx-json | vllm-opt - --input-format=fx-json | FileCheck %s
// RUN: vllm-opt %S/inputs/padded_rows_inductor.json --config '{"eliminate_noops": true}' --emit=fx-json | FileCheck %s --check-prefix=FX
// RUN: vllm-opt %S/inputs/padded_rows_inductor.json --config '{"eliminate_noops": true}' --runtime-shape 200 | FileCheck %s --check-prefix=N200
// RUN: vllm-opt %S/inputs/padded_rows_inductor.json --config '{"eliminate_noops": true}' --runtime-shape 200 --emit=fx-json | FileCheck %s --check-prefix=FX200

// CHECK: %[[ADD:.*]] = "torch.operator"(%arg0) {{{.*}}target = "operator.add"} : (index) -> index
// CHECK: %[[DIV:.*]] = "torch.operator"(%[[ADD]]) {{{.*}}target = "operator.floordiv"} : (index) -> index
// CHECK: %[[MUL:.*]] = "torch.operator"(%[[DIV]]) {{{.*}}target = "operator.mul"} : (index) -> index
// CHECK: %[[FULL:.*]] = "aten.full"(%[[MUL]]) {{{.*}}size = array<i64: -9223372036854775808, 4>} : (index) -> tensor<?x4xi32>
// CHECK: "aten.slice_scatter"(%[[FULL]]
// CHECK-SAME: -> tensor<?x4xi32>

// FX: "name":"add","op":"call_function","target":"operator.add","args":[{"node":"arg0_1"},127],"kwargs":{},"meta":{"val":{"sym":"s77 + 127"}}
// FX: "name":"floordiv","op":"call_function","target":"operator.floordiv","args":[{"node":"add"},128]
// FX: "name":"mul","op":"call_function","target":"operator.mul","args":[{"node":"floordiv"},128]
// FX: "target":"torch.ops.aten.full.default","args":{{\[\[}}{"node":"mul"},4],0]

// N200: "aten.full"({{.*}}) -> tensor<256x4xi32>
// N200: "aten.slice_scatter"({{.*}}end = 200 : i64{{.*}} : (tensor<256x4xi32>, tensor<200x4xi32>) -> tensor<256x4xi32>

// FX200: "name":"add","op":"call_function","target":"operator.add","args":[{"node":"arg0_1"},127],"kwargs":{},"meta":{"val":327}
// FX200: "name":"mul",{{.*}}"meta":{"val":256}
