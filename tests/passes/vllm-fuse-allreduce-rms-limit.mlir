// The fused kernel's token limit per site (vLLM's max_token_num): max-token-num,
// and with max-size-bytes at most bytes / (hidden * element size) rows, as vLLM
// main derives it from fi_allreduce_fusion_max_size_mb. 131072 bytes hold 16
// rows of 4096 bf16, 8 of f32. A site whose shape context may hold more rows
// (a static count, else the module's compile range end) is not fused: the
// workspace is sized for the limit.
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2 max-size-bytes=131072}))' | FileCheck %s
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2 max-size-bytes=131072}))' --mlir-pass-statistics 2>&1 >/dev/null | FileCheck %s --check-prefix=STATS
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2 max-size-bytes=131072 debug-node=ar}))' 2>&1 >/dev/null | FileCheck %s --check-prefix=EXPLAIN
// Without a byte budget, max-token-num alone: 16 static rows over a limit of 8 are not fused.
// RUN: vllm-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(vllm-fuse-allreduce-rms{tp-size=2 max-token-num=8}))' | FileCheck %s --check-prefix=TOKENS

// STATS: (3) allreduce-fused-add-rms
// STATS: (5) over-token-limit
// EXPLAIN: remark: vllm-fuse-allreduce-rms: up to 17 tokens exceed the fused kernel's limit of 16 tokens
// EXPLAIN: remark: vllm-fuse-allreduce-rms: up to 32 tokens exceed the fused kernel's limit of 16 tokens
// EXPLAIN: remark: vllm-fuse-allreduce-rms: up to 16 tokens exceed the fused kernel's limit of 8 tokens
// EXPLAIN: remark: vllm-fuse-allreduce-rms: the hidden size is not static, so max-size-bytes gives no token limit
// EXPLAIN: remark: vllm-fuse-allreduce-rms: the token limit is 0: one row exceeds max-size-bytes
// EXPLAIN: remark: vllm-fuse-allreduce-rms: rows of no bytes (or too many to count) give no token limit
// EXPLAIN: remark: vllm-fuse-allreduce-rms: the row count is unbounded (no static count, no compile range), the limit 16 tokens

// 16 rows fit: fused, with the site's limit as max_token_num.
// CHECK-LABEL: func.func @fits
// CHECK-NEXT: "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %arg1, %arg2) {{.*}}max_token_num = 16 : i64
// TOKENS-LABEL: func.func @fits
// TOKENS-NEXT: "vllm.all_reduce"
func.func @fits(%x: tensor<16x4096xbf16>, %res: tensor<16x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<16x4096xbf16>) -> tensor<16x4096xbf16> loc("ar")
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xbf16>, tensor<16x4096xbf16>, tensor<4096xbf16>) -> (tensor<16x4096xbf16>, tensor<16x4096xbf16>) loc("ar")
  return %n, %r : tensor<16x4096xbf16>, tensor<16x4096xbf16>
}

// -----

// One row more: left alone.
// CHECK-LABEL: func.func @one_row_over
// CHECK-NEXT: "vllm.all_reduce"
// CHECK-NEXT: "vllm.fused_add_rms_norm"
func.func @one_row_over(%x: tensor<17x4096xbf16>, %res: tensor<17x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<17x4096xbf16>, tensor<17x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<17x4096xbf16>) -> tensor<17x4096xbf16> loc("ar")
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<17x4096xbf16>, tensor<17x4096xbf16>, tensor<4096xbf16>) -> (tensor<17x4096xbf16>, tensor<17x4096xbf16>) loc("ar")
  return %n, %r : tensor<17x4096xbf16>, tensor<17x4096xbf16>
}

// -----

// Symbolic rows: the compile range bounds them. Up to 16: fused.
// CHECK-LABEL: func.func @range_fits
// CHECK-NEXT: "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %arg1, %arg2) {{.*}}max_token_num = 16 : i64
module attributes {torch.compile_range = array<i64: 1, 16>} {
func.func @range_fits(%x: tensor<?x4096xbf16>, %res: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> loc("ar")
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) loc("ar")
  return %n, %r : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}
}

// -----

// Up to 32: not.
// CHECK-LABEL: func.func @range_over
// CHECK-NEXT: "vllm.all_reduce"
module attributes {torch.compile_range = array<i64: 17, 32>} {
func.func @range_over(%x: tensor<?x4096xbf16>, %res: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> loc("ar")
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) loc("ar")
  return %n, %r : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}
}

// -----

// f32 rows take twice the bytes: 8 rows fit, 16 do not.
// CHECK-LABEL: func.func @f32_rows
// CHECK-NEXT: "vllm.flashinfer_trtllm_fused_allreduce_norm"(%arg0, %arg1, %arg2) {{.*}}max_token_num = 8 : i64
// CHECK-NEXT: "vllm.all_reduce"(%arg3)
func.func @f32_rows(%x: tensor<8x4096xf32>, %res: tensor<8x4096xf32>, %w: tensor<4096xf32>, %y: tensor<16x4096xf32>, %res2: tensor<16x4096xf32>) -> (tensor<8x4096xf32>, tensor<8x4096xf32>, tensor<16x4096xf32>, tensor<16x4096xf32>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<8x4096xf32>) -> tensor<8x4096xf32> loc("ar")
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x4096xf32>, tensor<8x4096xf32>, tensor<4096xf32>) -> (tensor<8x4096xf32>, tensor<8x4096xf32>) loc("ar")
  %b = "vllm.all_reduce"(%y) {group_name = "tp:0"} : (tensor<16x4096xf32>) -> tensor<16x4096xf32> loc("ar")
  %m, %s = "vllm.fused_add_rms_norm"(%b, %res2, %w) {epsilon = 1.0e-5 : f64} : (tensor<16x4096xf32>, tensor<16x4096xf32>, tensor<4096xf32>) -> (tensor<16x4096xf32>, tensor<16x4096xf32>) loc("ar")
  return %n, %r, %m, %s : tensor<8x4096xf32>, tensor<8x4096xf32>, tensor<16x4096xf32>, tensor<16x4096xf32>
}

// -----

// A hidden size that is not static gives no limit from bytes: not fused (not
// counted as over the limit); nor is a row wider than the whole budget.
// CHECK-LABEL: func.func @no_limit
// CHECK-NEXT: "vllm.all_reduce"
// CHECK: "vllm.all_reduce"
// CHECK-NOT: flashinfer
func.func @no_limit(%x: tensor<4x?xbf16>, %res: tensor<4x?xbf16>, %w: tensor<?xbf16>, %y: tensor<1x131072xbf16>, %res2: tensor<1x131072xbf16>, %w2: tensor<131072xbf16>) -> (tensor<4x?xbf16>, tensor<4x?xbf16>, tensor<1x131072xbf16>, tensor<1x131072xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<4x?xbf16>) -> tensor<4x?xbf16> loc("ar")
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<4x?xbf16>, tensor<4x?xbf16>, tensor<?xbf16>) -> (tensor<4x?xbf16>, tensor<4x?xbf16>) loc("ar")
  %b = "vllm.all_reduce"(%y) {group_name = "tp:0"} : (tensor<1x131072xbf16>) -> tensor<1x131072xbf16> loc("ar")
  %m, %s = "vllm.fused_add_rms_norm"(%b, %res2, %w2) {epsilon = 1.0e-5 : f64} : (tensor<1x131072xbf16>, tensor<1x131072xbf16>, tensor<131072xbf16>) -> (tensor<1x131072xbf16>, tensor<1x131072xbf16>) loc("ar")
  return %n, %r, %m, %s : tensor<4x?xbf16>, tensor<4x?xbf16>, tensor<1x131072xbf16>, tensor<1x131072xbf16>
}

// -----

// Rows of no elements: no division by zero, no fusion.
// CHECK-LABEL: func.func @empty_rows
// CHECK-NEXT: "vllm.all_reduce"
func.func @empty_rows(%x: tensor<4x0xbf16>, %res: tensor<4x0xbf16>, %w: tensor<0xbf16>) -> (tensor<4x0xbf16>, tensor<4x0xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<4x0xbf16>) -> tensor<4x0xbf16> loc("ar")
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<4x0xbf16>, tensor<4x0xbf16>, tensor<0xbf16>) -> (tensor<4x0xbf16>, tensor<4x0xbf16>) loc("ar")
  return %n, %r : tensor<4x0xbf16>, tensor<4x0xbf16>
}

// -----

// Symbolic rows and no compile range: unbounded, so not fused (vLLM main's op
// asserts past its limit; the pipeline only runs the pass on bounded contexts).
// CHECK-LABEL: func.func @unbounded
// CHECK-NEXT: "vllm.all_reduce"
func.func @unbounded(%x: tensor<?x4096xbf16>, %res: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) {
  %a = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16> loc("ar")
  %n, %r = "vllm.fused_add_rms_norm"(%a, %res, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>) loc("ar")
  return %n, %r : tensor<?x4096xbf16>, tensor<?x4096xbf16>
}
