// Verifier errors of the torch-like dialects: every check of the table-driven
// verifier (crates/dialect/src/verify.rs) fails here once, with its message.
// RUN: vllm-opt %s --split-input-file --verify-diagnostics

func.func @wrong_operand_count(%x: tensor<?x4096xbf16>) {
  // expected-error @+1 {{'vllm.rms_norm' op expects exactly 2 operands (input, weight), but got 1}}
  %0 = "vllm.rms_norm"(%x) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @wrong_result_count(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) {
  // expected-error @+1 {{'vllm.fused_add_rms_norm' op expects exactly 2 results (output, residual_out), but got 1}}
  %0 = "vllm.fused_add_rms_norm"(%x, %x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @inplace_op_with_a_result(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) {
  // expected-error @+1 {{'vllm.rms_norm_' op expects exactly 0 results (none), but got 1}}
  %0 = "vllm.rms_norm_"(%x, %x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @missing_attribute(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) {
  // expected-error @+1 {{'vllm.rms_norm' op requires attribute 'epsilon' (an f64 float attribute)}}
  %0 = "vllm.rms_norm"(%x, %w) : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @epsilon_of_the_wrong_width(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) {
  // An f32 epsilon would round 1e-5; the table requires the exact Python float.
  // expected-error @+1 {{attribute 'epsilon' must be an f64 float attribute, but got 9.99999974E-6 : f32}}
  %0 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f32} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @attribute_of_the_wrong_kind(%p: tensor<?xi64>, %q: tensor<?x4096xbf16>, %c: tensor<131072x128xbf16>) {
  // expected-error @+1 {{attribute 'is_neox' must be a bool attribute, but got 1 : i64}}
  %0 = "vllm.rotary_embedding"(%p, %q, %c) {head_size = 128 : i64, is_neox = 1 : i64} : (tensor<?xi64>, tensor<?x4096xbf16>, tensor<131072x128xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @misspelled_attribute(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) {
  // expected-error @+1 {{'vllm.rms_norm' op has unknown attribute 'epsilonn' (known: epsilon)}}
  %0 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64, epsilonn = 1.0e-06 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @scale_must_be_f32(%x: tensor<?x4096xbf16>, %s: tensor<bf16>) {
  // expected-error @+1 {{operand #1 ('scale') must be a tensor of f32, but got tensor<bf16>}}
  %0 = "vllm.static_scaled_fp8_quant"(%x, %s) : (tensor<?x4096xbf16>, tensor<bf16>) -> tensor<?x4096xf8E4M3FN>
  return
}

// -----

func.func @quant_result_must_be_fp8(%x: tensor<?x4096xbf16>, %s: tensor<f32>) {
  // expected-error @+1 {{result #0 ('result') must be a tensor of f8E4M3FN or f8E4M3FNUZ, but got tensor<?x4096xbf16>}}
  %0 = "vllm.static_scaled_fp8_quant"(%x, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @activation_must_be_a_float_tensor(%x: tensor<?x4096xi32>, %w: tensor<4096xbf16>) {
  // expected-error @+1 {{operand #0 ('input') must be a tensor of f16, bf16 or f32, but got tensor<?x4096xi32>}}
  %0 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xi32>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @size_operand_must_be_index(%n: i64) {
  // expected-error @+1 {{operand #0 ('dyn') must be an index, but got i64}}
  %0 = "aten.empty"(%n) {size = array<i64: -9223372036854775808, 4096>, dtype = bf16} : (i64) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @symbolic_sizes_need_operands() {
  // expected-error @+1 {{has 1 symbolic size(s) (-9223372036854775808) in its attributes but 0 'dyn' operand(s)}}
  %0 = "aten.empty"() {size = array<i64: -9223372036854775808, 4096>, dtype = bf16} : () -> tensor<?x4096xbf16>
  return
}

// -----

func.func @dtype_must_be_a_type(%n: index) {
  // expected-error @+1 {{attribute 'dtype' must be a type attribute, but got "bf16"}}
  %0 = "aten.empty"(%n) {size = array<i64: -9223372036854775808, 4096>, dtype = "bf16"} : (index) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @two_optional_groups_need_segments(%b: tensor<?x4096xf8E4M3FN>, %x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<?x1xf32>) {
  // expected-error @+1 {{needs a 'operandSegmentSizes' attribute: it has more than one optional or variadic operand}}
  "vllm.rms_norm_dynamic_per_token_quant_"(%b, %x, %w, %s) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>, tensor<4096xbf16>, tensor<?x1xf32>) -> ()
  return
}

// -----

func.func @segments_must_add_up(%b: tensor<?x4096xf8E4M3FN>, %x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<?x1xf32>) {
  // expected-error @+1 {{'operandSegmentSizes' sums to 5, but the op has 4 operands}}
  "vllm.rms_norm_dynamic_per_token_quant_"(%b, %x, %w, %s) {epsilon = 1.0e-05 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>} : (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>, tensor<4096xbf16>, tensor<?x1xf32>) -> ()
  return
}

// -----

func.func @optional_given_twice(%b: tensor<?x4096xf8E4M3FN>, %x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>, %s: tensor<?x1xf32>) {
  // expected-error @+1 {{optional operand 'scale_ub' is given 2 times}}
  "vllm.rms_norm_dynamic_per_token_quant_"(%b, %x, %w, %s, %s, %s) {epsilon = 1.0e-05 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 2, 0>} : (tensor<?x4096xf8E4M3FN>, tensor<?x4096xbf16>, tensor<4096xbf16>, tensor<?x1xf32>, tensor<?x1xf32>, tensor<?x1xf32>) -> ()
  return
}

// -----

func.func @unknown_op_in_a_known_dialect(%x: tensor<?x4096xbf16>) {
  // expected-error @+1 {{unregistered operation 'vllm.rms_nrom'}}
  %0 = "vllm.rms_nrom"(%x) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @unknown_dialect(%x: tensor<?x4096xbf16>) {
  // expected-error @+1 {{Dialect `frob' not found for custom op 'frob.op'}}
  %0 = frob.op %x : tensor<?x4096xbf16>
  return
}

// -----

func.func @shapes_must_agree(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) {
  // expected-error @+1 {{'result' (tensor<?x2048xbf16>) must have the shape of 'input' (tensor<?x4096xbf16>)}}
  %0 = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x2048xbf16>
  return
}

// -----

func.func @norm_weight_is_one_row(%x: tensor<?x4096xbf16>, %g: tensor<16x4096xbf16>) {
  // expected-error @+1 {{'weight' (tensor<16x4096xbf16>) must be one vector as wide as the rows}}
  %0 = "vllm.rms_norm"(%x, %g) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<16x4096xbf16>) -> tensor<?x4096xbf16>
  return
}

// -----

func.func @norm_weight_as_wide_as_the_rows(%x: tensor<?x4096xbf16>, %r: tensor<?x4096xbf16>, %w: tensor<2048xbf16>) {
  // expected-error @+1 {{'rms_gamma' (tensor<2048xbf16>) must be one vector as wide as the rows (4096 elements)}}
  %0:2 = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%x, %r, %w) {rms_eps = 1.0e-05 : f64, world_size = 2 : i64, launch_with_pdl = true, fp32_acc = true, max_token_num = 16 : i64, pattern_code = 1 : i64, weight_bias = 0.0 : f64, resultSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x4096xbf16>, tensor<?x4096xbf16>, tensor<2048xbf16>) -> (tensor<?x4096xbf16>, tensor<?x4096xbf16>)
  return
}

// -----

func.func @ranks_must_agree(%x: tensor<?x4096xbf16>, %s: tensor<f32>) {
  // expected-error @+1 {{'result' (tensor<4096xf8E4M3FN>) must have the shape of 'input' (tensor<?x4096xbf16>)}}
  %0 = "vllm.static_scaled_fp8_quant"(%x, %s) : (tensor<?x4096xbf16>, tensor<f32>) -> tensor<4096xf8E4M3FN>
  return
}

// -----

func.func @reduce_scatter_wrong_rows(%x: tensor<256x4096xbf16>) {
  // expected-error @+1 {{'vllm.reduce_scatter' op result dim 0 is 256, expected 128 (operand 256, world_size 2)}}
  %0 = "vllm.reduce_scatter"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<256x4096xbf16>) -> tensor<256x4096xbf16>
  return
}

// -----

func.func @reduce_scatter_indivisible(%x: tensor<255x4096xbf16>) {
  // expected-error @+1 {{'vllm.reduce_scatter' op dim 0 has 255 rows, which world_size 2 does not divide}}
  %0 = "vllm.reduce_scatter"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<255x4096xbf16>) -> tensor<127x4096xbf16>
  return
}

// -----

func.func @all_gather_wrong_hidden(%x: tensor<128x4096xbf16>) {
  // expected-error @+1 {{'vllm.all_gather' op result dim 1 is 2048, expected 4096 (operand 4096, world_size 2)}}
  %0 = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x4096xbf16>) -> tensor<256x2048xbf16>
  return
}

// -----

func.func @all_gather_dim_out_of_range(%x: tensor<128x4096xbf16>) {
  // expected-error @+1 {{'vllm.all_gather' op 'dim' 2 is out of range for rank 2}}
  %0 = "vllm.all_gather"(%x) {dim = 2 : i64, world_size = 2 : i64, group_name = "tp:0"} : (tensor<128x4096xbf16>) -> tensor<256x4096xbf16>
  return
}

// -----

func.func @all_gather_no_world(%x: tensor<128x4096xbf16>) {
  // expected-error @+1 {{'vllm.all_gather' op 'world_size' must be at least 1, got 0}}
  %0 = "vllm.all_gather"(%x) {dim = 0 : i64, world_size = 0 : i64, group_name = "tp:0"} : (tensor<128x4096xbf16>) -> tensor<128x4096xbf16>
  return
}

// -----

func.func @all_reduce_changes_shape(%x: tensor<128x4096xbf16>) {
  // expected-error @+1 {{'vllm.all_reduce' op 'result' (tensor<256x4096xbf16>) must have the shape of 'tensor' (tensor<128x4096xbf16>)}}
  %0 = "vllm.all_reduce"(%x) {group_name = "tp:0"} : (tensor<128x4096xbf16>) -> tensor<256x4096xbf16>
  return
}

// -----

// A `list` attribute holds None (unit), bools and dtypes only.
func.func @list_attribute_with_an_integer(%a: tensor<64x64xf8E4M3FN>, %b: tensor<64x32xf8E4M3FN>, %s: tensor<f32>) {
  // expected-error @+1 {{'vllm.fused_all_gather_scaled_matmul' op attribute 'use_fast_accum' must be an array of unit (None), bool and type attributes, but got [0]}}
  %g, %o = "vllm.fused_all_gather_scaled_matmul"(%a, %b, %s, %s) {operandSegmentSizes = array<i32: 1, 1, 1, 1>, gather_dim = 0 : i64, group_name = "0", biases = [unit], result_scales = [unit], out_dtypes = [bf16], use_fast_accum = [0]} : (tensor<64x64xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<f32>, tensor<f32>) -> (tensor<128x64xf8E4M3FN>, tensor<128x32xbf16>)
  return
}

// -----

// Two variadic operand groups need their sizes.
func.func @two_variadic_groups_without_sizes(%a: tensor<64x64xf8E4M3FN>, %b: tensor<64x32xf8E4M3FN>, %s: tensor<f32>) {
  // expected-error @+1 {{'vllm.fused_all_gather_scaled_matmul' op needs a 'operandSegmentSizes' attribute: it has more than one optional or variadic operand}}
  %g, %o = "vllm.fused_all_gather_scaled_matmul"(%a, %b, %s, %s) {gather_dim = 0 : i64, group_name = "0", biases = [unit], result_scales = [unit], out_dtypes = [bf16], use_fast_accum = [false]} : (tensor<64x64xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<f32>, tensor<f32>) -> (tensor<128x64xf8E4M3FN>, tensor<128x32xbf16>)
  return
}

// -----

// With return_A = false torch returns None for the gathered rows: nothing may read them.
func.func @unreturned_gathered_rows_read(%a: tensor<64x64xbf16>, %b: tensor<64x32xbf16>) -> tensor<128x64xbf16> {
  // expected-error @+1 {{'vllm.fused_all_gather_matmul' op 'gathered' is read, but with 'return_A' false PyTorch returns None for it}}
  %g, %o = "vllm.fused_all_gather_matmul"(%a, %b) {gather_dim = 0 : i64, group_name = "0", return_A = false} : (tensor<64x64xbf16>, tensor<64x32xbf16>) -> (tensor<128x64xbf16>, tensor<128x32xbf16>)
  return %g : tensor<128x64xbf16>
}

// -----

// The fused all-reduce's FP8 output is an FP8 tensor.
func.func @allreduce_norm_quant_out_not_fp8(%x: tensor<8x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>) {
  // expected-error @+1 {{'vllm.flashinfer_trtllm_fused_allreduce_norm' op result #2 ('quant_out') must be a tensor of f8E4M3FN, f8E4M3FNUZ or ui8 (NVFP4's packed pairs), but got tensor<8x64xbf16>}}
  %n, %r, %q = "vllm.flashinfer_trtllm_fused_allreduce_norm"(%x, %x, %w, %s) {rms_eps = 1.0e-05 : f64, world_size = 2 : i64, launch_with_pdl = true, fp32_acc = true, max_token_num = 64 : i64, pattern_code = 2 : i64, weight_bias = 0.0 : f64, resultSegmentSizes = array<i32: 1, 1, 1, 0>} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>, tensor<f32>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>)
  return
}

// -----

// Packed heads: the rows are exactly the heads (4 + 2 + 2 of 64 = 512).
func.func @qk_rows_not_the_heads(%qkv: tensor<?x448xbf16>, %w: tensor<64xbf16>, %c: tensor<4096x64xbf16>, %p: tensor<?xi64>) {
  // expected-error @+1 {{'qkv' rows must be (num_heads_q + num_heads_k + num_heads_v) * head_dim = 512 wide}}
  %o = "vllm.fused_qk_norm_rope"(%qkv, %w, %w, %c, %p) {num_heads_q = 4 : i64, num_heads_k = 2 : i64, num_heads_v = 2 : i64, head_dim = 64 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x448xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<4096x64xbf16>, tensor<?xi64>) -> tensor<?x448xbf16>
  return
}

// -----

// The norm weights are one head wide.
func.func @qk_weight_not_a_head(%qkv: tensor<?x512xbf16>, %w: tensor<128xbf16>, %c: tensor<4096x64xbf16>, %p: tensor<?xi64>) {
  // expected-error @+1 {{'q_weight' (tensor<128xbf16>) must be one vector of head_dim (64) elements}}
  %o = "vllm.fused_qk_norm_rope"(%qkv, %w, %w, %c, %p) {num_heads_q = 4 : i64, num_heads_k = 2 : i64, num_heads_v = 2 : i64, head_dim = 64 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x512xbf16>, tensor<128xbf16>, tensor<128xbf16>, tensor<4096x64xbf16>, tensor<?xi64>) -> tensor<?x512xbf16>
  return
}

// -----

// The cache's rows rotate at most a head, an even number of elements (in place too).
func.func @qk_cache_wider_than_a_head(%qkv: tensor<?x512xbf16>, %w: tensor<64xbf16>, %c: tensor<4096x66xbf16>, %p: tensor<?xi64>) {
  // expected-error @+1 {{'cos_sin_cache' rows (66 elements) must be an even number, at most head_dim (64)}}
  "vllm.fused_qk_norm_rope_"(%qkv, %w, %w, %c, %p) {num_heads_q = 4 : i64, num_heads_k = 2 : i64, num_heads_v = 2 : i64, head_dim = 64 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x512xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<4096x66xbf16>, tensor<?xi64>) -> ()
  return
}

// -----

// Positive head counts.
func.func @qk_no_query_heads(%qkv: tensor<?x256xbf16>, %w: tensor<64xbf16>, %c: tensor<4096x64xbf16>, %p: tensor<?xi64>) {
  // expected-error @+1 {{head_dim (64) and num_heads_q/k (0, 2) must be positive, num_heads_v (2) not negative}}
  %o = "vllm.fused_qk_norm_rope"(%qkv, %w, %w, %c, %p) {num_heads_q = 0 : i64, num_heads_k = 2 : i64, num_heads_v = 2 : i64, head_dim = 64 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x256xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<4096x64xbf16>, tensor<?xi64>) -> tensor<?x256xbf16>
  return
}

// -----

// qkv is rows.
func.func @qk_rows_not_2d(%qkv: tensor<?x8x64xbf16>, %w: tensor<64xbf16>, %c: tensor<4096x64xbf16>, %p: tensor<?xi64>) {
  // expected-error @+1 {{'qkv' must be rows (rank 2)}}
  %o = "vllm.fused_qk_norm_rope"(%qkv, %w, %w, %c, %p) {num_heads_q = 4 : i64, num_heads_k = 2 : i64, num_heads_v = 2 : i64, head_dim = 64 : i64, eps = 1.0e-6 : f64, is_neox = true} : (tensor<?x8x64xbf16>, tensor<64xbf16>, tensor<64xbf16>, tensor<4096x64xbf16>, tensor<?xi64>) -> tensor<?x8x64xbf16>
  return
}

// -----

// The opaque op takes tensors and SymInts (index), nothing else.
func.func @opaque_op_with_a_scalar(%f: f32) {
  // expected-error @+1 {{'torch.operator' op operand #0 ('inputs') must be a ranked tensor, an index or none (an opaque input), but got f32}}
  "torch.operator"(%f) {target = "operator.neg", fx_args = "{\"args\":[{\"operand\":0}],\"kwargs\":{}}"} : (f32) -> ()
  return
}

// -----

// NVFP4 layout (nvfp4 in the table): 16 elements share a block scale.
func.func @nvfp4_width_not_a_multiple_of_16(%x: tensor<16x24xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output' rows (12 bytes) must pack a multiple of 16 elements (16 share a block scale)}}
  %q, %s = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<16x24xbf16>, tensor<f32>) -> (tensor<16x12xui8>, tensor<128x1xi32>)
  return
}

// -----

func.func @nvfp4_values_not_half_the_input(%x: tensor<16x64xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output' rows (16 bytes) must pack 2 elements of 'input' a byte}}
  %q, %s = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<16x64xbf16>, tensor<f32>) -> (tensor<16x16xui8>, tensor<128x1xi32>)
  return
}

// -----

func.func @nvfp4_silu_values_a_quarter_of_the_input(%x: tensor<?x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'result' rows (128 bytes) must pack 4 elements of 'input' a byte}}
  %q, %s = "vllm.silu_and_mul_nvfp4_quant"(%x, %g) : (tensor<?x256xbf16>, tensor<f32>) -> (tensor<?x128xui8>, tensor<?x4xi32>)
  return
}

// -----

func.func @nvfp4_scale_words(%x: tensor<16x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output_scale' rows must be ceil(128 / 32) = 4 words (four e4m3 block scales each)}}
  %q, %s = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x16xi32>)
  return
}

// -----

func.func @nvfp4_scale_rows_not_padded(%x: tensor<200x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output_scale' must have round_up(200, 128) = 256 rows (the FP4 GEMM's 128-row tiles)}}
  %q, %s = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<200x256xbf16>, tensor<f32>) -> (tensor<200x128xui8>, tensor<200x4xi32>)
  return
}

// -----

func.func @nvfp4_rows(%x: tensor<16x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output' must have a row per row of 'input'}}
  %q, %s = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<8x128xui8>, tensor<128x4xi32>)
  return
}

// -----

func.func @nvfp4_in_place_rank(%q: tensor<16x128xui8>, %x: tensor<16x256xbf16>, %s: tensor<512xi32>, %g: tensor<f32>) {
  // expected-error @+1 {{'input', 'output' and 'output_scale' must be rows (rank 2)}}
  "vllm.scaled_fp4_quant_"(%q, %x, %s, %g) : (tensor<16x128xui8>, tensor<16x256xbf16>, tensor<512xi32>, tensor<f32>) -> ()
  return
}

// -----

func.func @nvfp4_values_not_bytes(%x: tensor<16x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output' must be ui8 (NVFP4), but got tensor<16x128xi8>}}
  %q, %s = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xi8>, tensor<128x4xi32>)
  return
}

// -----

func.func @nvfp4_scales_not_words(%x: tensor<16x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output_scale' must be i32 (NVFP4), but got tensor<128x4xi64>}}
  %q, %s = "vllm.scaled_fp4_quant"(%x, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi64>)
  return
}

// -----

// vLLM main's `.out` call: `is_sf_swizzled_layout` chooses the block-scale layout.
func.func @nvfp4_out_swizzled_scales_not_words(%x: tensor<16x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output_scale' must be i32 (NVFP4), but got tensor<16x16xui8>}}
  %q, %s = "vllm.scaled_fp4_quant_out"(%x, %g) {is_sf_swizzled_layout = true} : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<16x16xui8>)
  return
}

// -----

func.func @nvfp4_out_row_major_scales_not_bytes(%x: tensor<16x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output_scale' must be ui8 (NVFP4, row-major), but got tensor<128x4xi32>}}
  %q, %s = "vllm.scaled_fp4_quant_out"(%x, %g) {is_sf_swizzled_layout = false} : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  return
}

// -----

func.func @nvfp4_out_row_major_scale_width(%x: tensor<16x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{'output_scale' rows must be 128 / 8 = 16 bytes (one e4m3 scale a block, row-major)}}
  %q, %s = "vllm.scaled_fp4_quant_out"(%x, %g) {is_sf_swizzled_layout = false} : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<16x4xui8>)
  return
}

// -----

func.func @nvfp4_out_row_major_scales_padded(%q: tensor<200x128xui8>, %x: tensor<200x256xbf16>, %s: tensor<256x16xui8>, %g: tensor<f32>) {
  // expected-error @+1 {{'output_scale' must have a row per row of 'input' (200; row-major, unpadded)}}
  "vllm.scaled_fp4_quant_out_"(%x, %g, %q, %s) {is_sf_swizzled_layout = false} : (tensor<200x256xbf16>, tensor<f32>, tensor<200x128xui8>, tensor<256x16xui8>) -> ()
  return
}

// -----

func.func @nvfp4_out_without_layout(%x: tensor<16x256xbf16>, %g: tensor<f32>) {
  // expected-error @+1 {{requires attribute 'is_sf_swizzled_layout' (a bool attribute)}}
  %q, %s = "vllm.scaled_fp4_quant_out"(%x, %g) : (tensor<16x256xbf16>, tensor<f32>) -> (tensor<16x128xui8>, tensor<128x4xi32>)
  return
}

// -----

// A padded stride is a symbolic size too: one `dyn` operand per kDynamic entry of size and stride.
func.func @empty_strided_missing_stride_operand(%n: index) {
  // expected-error @+1 {{has 2 symbolic size(s) (-9223372036854775808) in its attributes but 1 'dyn' operand(s)}}
  %e = "aten.empty_strided"(%n) {size = array<i64: -9223372036854775808, 32>, stride = array<i64: 1, -9223372036854775808>, dtype = f32} : (index) -> tensor<?x32xf32>
  return
}

// -----

// Ours, but typed like every attribute: the TMA flag is a bool.
func.func @tma_flag_not_bool(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) {
  // expected-error @+1 {{attribute 'is_scale_tma_aligned' must be a bool attribute}}
  %q, %s = "vllm.rms_norm_per_block_quant"(%x, %w) {epsilon = 1.0e-6 : f64, group_size = 128 : i64, is_scale_transposed = true, is_scale_tma_aligned = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 0, 0>} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> (tensor<?x4096xf8E4M3FN>, tensor<?x32xf32>)
  return
}
