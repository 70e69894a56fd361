// Graphs for the numerics tests (tests/all/numerics.rs): the reference
// interpreter runs each one before and after passes on random inputs. Small
// Llama-shaped dims: hidden 64, q 64 / k 32 / v 32, head 16, intermediate 96.
// Here they only need to verify:
// RUN: vllm-opt %s --split-input-file -o /dev/null

// Static FP8, custom ops, as imported: every fusion of the default pipeline
// applies (attention is stood in for by the rotated q).
func.func @llama_static(%x: tensor<?x64xbf16>, %pos: tensor<?xi64>, %cache: tensor<16x16xbf16>,
                        %w_in: tensor<64xbf16>, %s_qkv: tensor<f32>, %wqkv: tensor<64x128xf8E4M3FN>, %sw: tensor<f32>,
                        %s_o: tensor<f32>, %wo: tensor<64x64xf8E4M3FN>, %w_post: tensor<64xbf16>,
                        %s_gu: tensor<f32>, %wgu: tensor<64x192xf8E4M3FN>, %s_d: tensor<f32>, %wd: tensor<96x64xf8E4M3FN>,
                        %w_final: tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %h = "vllm.rms_norm"(%x, %w_in) {epsilon = 1.0e-5 : f64} : (tensor<?x64xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16>
  %h8 = "vllm.static_scaled_fp8_quant"(%h, %s_qkv) : (tensor<?x64xbf16>, tensor<f32>) -> tensor<?x64xf8E4M3FN>
  %qkv = "vllm.cutlass_scaled_mm"(%h8, %wqkv, %s_qkv, %sw) : (tensor<?x64xf8E4M3FN>, tensor<64x128xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<?x128xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 64 : i64, step = 1 : i64} : (tensor<?x128xbf16>) -> tensor<?x64xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 64 : i64, end = 96 : i64, step = 1 : i64} : (tensor<?x128xbf16>) -> tensor<?x32xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %q, %k, %cache) {head_size = 16 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<16x16xbf16>) -> (tensor<?x64xbf16>, tensor<?x32xbf16>)
  %s1 = "aten.slice_scatter"(%qkv, %q2) {dim = 1 : i64, start = 0 : i64, end = 64 : i64, step = 1 : i64} : (tensor<?x128xbf16>, tensor<?x64xbf16>) -> tensor<?x128xbf16>
  %s2 = "aten.slice_scatter"(%s1, %k2) {dim = 1 : i64, start = 64 : i64, end = 96 : i64, step = 1 : i64} : (tensor<?x128xbf16>, tensor<?x32xbf16>) -> tensor<?x128xbf16>
  %attn = "aten.slice"(%s2) {dim = -1 : i64, start = 0 : i64, end = 64 : i64, step = 1 : i64} : (tensor<?x128xbf16>) -> tensor<?x64xbf16>
  %a8 = "vllm.static_scaled_fp8_quant"(%attn, %s_o) : (tensor<?x64xbf16>, tensor<f32>) -> tensor<?x64xf8E4M3FN>
  %o = "vllm.cutlass_scaled_mm"(%a8, %wo, %s_o, %sw) : (tensor<?x64xf8E4M3FN>, tensor<64x64xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<?x64xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%o, %x, %w_post) {epsilon = 1.0e-5 : f64} : (tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>)
  %n8 = "vllm.static_scaled_fp8_quant"(%n2, %s_gu) : (tensor<?x64xbf16>, tensor<f32>) -> tensor<?x64xf8E4M3FN>
  %gu = "vllm.cutlass_scaled_mm"(%n8, %wgu, %s_gu, %sw) : (tensor<?x64xf8E4M3FN>, tensor<64x192xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<?x192xbf16>
  %act = "vllm.silu_and_mul"(%gu) : (tensor<?x192xbf16>) -> tensor<?x96xbf16>
  %act8 = "vllm.static_scaled_fp8_quant"(%act, %s_d) : (tensor<?x96xbf16>, tensor<f32>) -> tensor<?x96xf8E4M3FN>
  %d = "vllm.cutlass_scaled_mm"(%act8, %wd, %s_d, %sw) : (tensor<?x96xf8E4M3FN>, tensor<96x64xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<?x64xbf16>
  %y, %r3 = "vllm.fused_add_rms_norm"(%d, %r2, %w_final) {epsilon = 1.0e-5 : f64} : (tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>)
  return %y, %r3 : tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// Dynamic per-token FP8: rms_norm and fused_add_rms_norm feed per-token quants.
func.func @llama_per_token(%x: tensor<?x64xbf16>, %w_in: tensor<64xbf16>, %wqkv: tensor<64x128xf8E4M3FN>, %sw: tensor<f32>,
                           %w_post: tensor<64xbf16>) -> (tensor<?x64xf8E4M3FN>, tensor<?x1xf32>, tensor<?x64xf8E4M3FN>, tensor<?x1xf32>, tensor<?x64xbf16>) {
  %h = "vllm.rms_norm"(%x, %w_in) {epsilon = 1.0e-6 : f64} : (tensor<?x64xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16>
  %h8, %hs = "vllm.dynamic_per_token_scaled_fp8_quant"(%h) : (tensor<?x64xbf16>) -> (tensor<?x64xf8E4M3FN>, tensor<?x1xf32>)
  %qkv = "vllm.cutlass_scaled_mm"(%h8, %wqkv, %hs, %sw) : (tensor<?x64xf8E4M3FN>, tensor<64x128xf8E4M3FN>, tensor<?x1xf32>, tensor<f32>) -> tensor<?x128xbf16>
  %o = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 64 : i64, step = 1 : i64} : (tensor<?x128xbf16>) -> tensor<?x64xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%o, %x, %w_post) {epsilon = 1.0e-6 : f64} : (tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>)
  %n8, %ns = "vllm.dynamic_per_token_scaled_fp8_quant"(%n2) : (tensor<?x64xbf16>) -> (tensor<?x64xf8E4M3FN>, tensor<?x1xf32>)
  return %h8, %hs, %n8, %ns, %r2 : tensor<?x64xf8E4M3FN>, tensor<?x1xf32>, tensor<?x64xf8E4M3FN>, tensor<?x1xf32>, tensor<?x64xbf16>
}

// -----

// Hazards for fix-functionalization: the old residual and a view of the old
// input are read after the norm, and input/residual alias in a second norm.
func.func @hazards(%a: tensor<?x32xbf16>, %b: tensor<32x64xbf16>, %b2: tensor<32x64xbf16>, %w: tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x4x16xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %x = "aten.mm"(%a, %b) : (tensor<?x32xbf16>, tensor<32x64xbf16>) -> tensor<?x64xbf16>
  %r = "aten.mm"(%a, %b2) : (tensor<?x32xbf16>, tensor<32x64xbf16>) -> tensor<?x64xbf16>
  %v = "aten.reshape"(%x) {shape = array<i64: -1, 4, 16>} : (tensor<?x64xbf16>) -> tensor<?x4x16xbf16>
  %o, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>)
  %m = "aten.mul"(%v, %v) : (tensor<?x4x16xbf16>, tensor<?x4x16xbf16>) -> tensor<?x4x16xbf16>
  %sum = "aten.add"(%r, %r2) : (tensor<?x64xbf16>, tensor<?x64xbf16>) -> tensor<?x64xbf16>
  %o2, %r4 = "vllm.fused_add_rms_norm"(%sum, %sum, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>)
  return %o, %m, %sum, %o2, %r4 : tensor<?x64xbf16>, tensor<?x4x16xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// Only caller-owned inputs are at stake: writing them is invisible in the
// results, but not to the caller.
func.func @owned_inputs(%x: tensor<?x64xbf16>, %r: tensor<?x64xbf16>, %w: tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %o, %r2 = "vllm.fused_add_rms_norm"(%x, %r, %w) {epsilon = 1.0e-5 : f64} : (tensor<?x64xbf16>, tensor<?x64xbf16>, tensor<64xbf16>) -> (tensor<?x64xbf16>, tensor<?x64xbf16>)
  return %o, %r2 : tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The decomposed forms (custom ops off): native RMSNorm, residual add,
// static quant and SiLU-mul, as the native fixtures have them.
func.func @llama_native(%x: tensor<?x64xbf16>, %w_in: tensor<64xbf16>, %s_in: tensor<f32>, %wqkv: tensor<64x64xf8E4M3FN>, %sw: tensor<f32>,
                        %w_post: tensor<64xbf16>, %s_post: tensor<f32>, %gu: tensor<?x192xbf16>, %s_act: tensor<f32>)
    -> (tensor<?x64xf8E4M3FN>, tensor<?x96xf8E4M3FN>, tensor<?x64xf8E4M3FN>, tensor<?x64xbf16>) {
  %xf = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  %p = "aten.pow_scalar"(%xf) {other = 2 : i64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %m = "aten.mean"(%p) {dim = array<i64: -1>, keepdim = true} : (tensor<?x64xf32>) -> tensor<?x1xf32>
  %a = "aten.add_scalar"(%m) {other = 1.000000e-05 : f64} : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %r = "aten.rsqrt"(%a) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = "aten.mul"(%xf, %r) : (tensor<?x64xf32>, tensor<?x1xf32>) -> tensor<?x64xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  %y = "aten.mul"(%nt, %w_in) : (tensor<?x64xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16>
  %yf = "aten.convert_element_type"(%y) {dtype = f32} : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  %inv = "aten.reciprocal"(%s_in) : (tensor<f32>) -> tensor<f32>
  %q0 = "aten.mul"(%yf, %inv) : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  %q1 = "aten.clamp_min"(%q0) {other = -4.480000e+02 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %q2 = "aten.clamp_max"(%q1) {other = 4.480000e+02 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %q = "aten.convert_element_type"(%q2) {dtype = f8E4M3FN} : (tensor<?x64xf32>) -> tensor<?x64xf8E4M3FN>
  %o = "vllm.cutlass_scaled_mm"(%q, %wqkv, %s_in, %sw) : (tensor<?x64xf8E4M3FN>, tensor<64x64xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<?x64xbf16>
  %of = "aten.convert_element_type"(%o) {dtype = f32} : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  %xf2 = "aten.convert_element_type"(%x) {dtype = f32} : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  %sum = "aten.add"(%of, %xf2) : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  %p2 = "aten.pow_scalar"(%sum) {other = 2 : i64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %m2 = "aten.mean"(%p2) {dim = array<i64: -1>, keepdim = true} : (tensor<?x64xf32>) -> tensor<?x1xf32>
  %a2 = "aten.add_scalar"(%m2) {other = 1.000000e-05 : f64} : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %r2 = "aten.rsqrt"(%a2) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n2 = "aten.mul"(%sum, %r2) : (tensor<?x64xf32>, tensor<?x1xf32>) -> tensor<?x64xf32>
  %nt2 = "aten.convert_element_type"(%n2) {dtype = bf16} : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  %y2 = "aten.mul"(%nt2, %w_post) : (tensor<?x64xbf16>, tensor<64xbf16>) -> tensor<?x64xbf16>
  %res = "aten.convert_element_type"(%sum) {dtype = bf16} : (tensor<?x64xf32>) -> tensor<?x64xbf16>
  %y2f = "aten.convert_element_type"(%y2) {dtype = f32} : (tensor<?x64xbf16>) -> tensor<?x64xf32>
  %inv2 = "aten.reciprocal"(%s_post) : (tensor<f32>) -> tensor<f32>
  %z0 = "aten.mul"(%y2f, %inv2) : (tensor<?x64xf32>, tensor<f32>) -> tensor<?x64xf32>
  %z1 = "aten.clamp_min"(%z0) {other = -4.480000e+02 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %z2 = "aten.clamp_max"(%z1) {other = 4.480000e+02 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %z = "aten.convert_element_type"(%z2) {dtype = f8E4M3FN} : (tensor<?x64xf32>) -> tensor<?x64xf8E4M3FN>
  %ga = "aten.slice"(%gu) {dim = 1 : i64, start = 0 : i64, end = 96 : i64, step = 1 : i64} : (tensor<?x192xbf16>) -> tensor<?x96xbf16>
  %gaf = "aten.convert_element_type"(%ga) {dtype = f32} : (tensor<?x96xbf16>) -> tensor<?x96xf32>
  %gn = "aten.neg"(%gaf) : (tensor<?x96xf32>) -> tensor<?x96xf32>
  %ge = "aten.exp"(%gn) : (tensor<?x96xf32>) -> tensor<?x96xf32>
  %g1 = "aten.add_scalar"(%ge) {other = 1 : i64} : (tensor<?x96xf32>) -> tensor<?x96xf32>
  %gs = "aten.div"(%gaf, %g1) : (tensor<?x96xf32>, tensor<?x96xf32>) -> tensor<?x96xf32>
  %gst = "aten.convert_element_type"(%gs) {dtype = bf16} : (tensor<?x96xf32>) -> tensor<?x96xbf16>
  %gb = "aten.slice"(%gu) {dim = 1 : i64, start = 96 : i64, end = 9223372036854775807 : i64, step = 1 : i64} : (tensor<?x192xbf16>) -> tensor<?x96xbf16>
  %act = "aten.mul"(%gst, %gb) : (tensor<?x96xbf16>, tensor<?x96xbf16>) -> tensor<?x96xbf16>
  %actf = "aten.convert_element_type"(%act) {dtype = f32} : (tensor<?x96xbf16>) -> tensor<?x96xf32>
  %inv3 = "aten.reciprocal"(%s_act) : (tensor<f32>) -> tensor<f32>
  %k0 = "aten.mul"(%actf, %inv3) : (tensor<?x96xf32>, tensor<f32>) -> tensor<?x96xf32>
  %k1 = "aten.clamp_min"(%k0) {other = -4.480000e+02 : f64} : (tensor<?x96xf32>) -> tensor<?x96xf32>
  %k2 = "aten.clamp_max"(%k1) {other = 4.480000e+02 : f64} : (tensor<?x96xf32>) -> tensor<?x96xf32>
  %k = "aten.convert_element_type"(%k2) {dtype = f8E4M3FN} : (tensor<?x96xf32>) -> tensor<?x96xf8E4M3FN>
  return %q, %k, %z, %res : tensor<?x64xf8E4M3FN>, tensor<?x96xf8E4M3FN>, tensor<?x64xf8E4M3FN>, tensor<?x64xbf16>
}

// -----

// DeepSeek-style per-group (1x64 here: vLLM builds its fused per-block
// kernels for groups of 64 and 128) FP8 quant after the norms and SiLU-mul.
func.func @per_group(%x: tensor<?x256xbf16>, %w_in: tensor<256xbf16>, %o: tensor<?x256xbf16>, %w_post: tensor<256xbf16>, %gu: tensor<?x384xbf16>)
    -> (tensor<?x256xf8E4M3FN>, tensor<?x4xf32>, tensor<?x256xf8E4M3FN>, tensor<?x4xf32>, tensor<?x256xbf16>, tensor<?x192xf8E4M3FN>, tensor<?x3xf32>) {
  %h = "vllm.rms_norm"(%x, %w_in) {epsilon = 1.0e-6 : f64} : (tensor<?x256xbf16>, tensor<256xbf16>) -> tensor<?x256xbf16>
  %h8, %hs = "vllm.per_token_group_fp8_quant"(%h) {group_size = 64 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x256xbf16>) -> (tensor<?x256xf8E4M3FN>, tensor<?x4xf32>)
  %oo = "aten.clone"(%o) : (tensor<?x256xbf16>) -> tensor<?x256xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%oo, %x, %w_post) {epsilon = 1.0e-6 : f64} : (tensor<?x256xbf16>, tensor<?x256xbf16>, tensor<256xbf16>) -> (tensor<?x256xbf16>, tensor<?x256xbf16>)
  %n8, %ns = "vllm.per_token_group_fp8_quant"(%n2) {group_size = 64 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x256xbf16>) -> (tensor<?x256xf8E4M3FN>, tensor<?x4xf32>)
  %act = "vllm.silu_and_mul"(%gu) : (tensor<?x384xbf16>) -> tensor<?x192xbf16>
  %a8, %as = "vllm.per_token_group_fp8_quant"(%act) {group_size = 64 : i64, eps = 1.000000e-10 : f64, fp8_min = -4.480000e+02 : f64, fp8_max = 4.480000e+02 : f64, scale_ue8m0 = false} : (tensor<?x192xbf16>) -> (tensor<?x192xf8E4M3FN>, tensor<?x3xf32>)
  return %h8, %hs, %n8, %ns, %r2, %a8, %as : tensor<?x256xf8E4M3FN>, tensor<?x4xf32>, tensor<?x256xf8E4M3FN>, tensor<?x4xf32>, tensor<?x256xbf16>, tensor<?x192xf8E4M3FN>, tensor<?x3xf32>
}

// -----

// A tensor-parallel decoder as every rank runs it (static 8 rows, the
// partial sums %p0..%p2 differ per rank, the weights are replicated): the
// all-reduced residual stream through a first norm, a middle and a last
// fused add + norm, with the residual stream also returned (read by
// something other than a norm).
func.func @tp_decoder(%p0: tensor<8x64xbf16>, %p1: tensor<8x64xbf16>, %p2: tensor<8x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>)
    -> (tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n0 = "vllm.rms_norm"(%a0, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %q0 = "vllm.static_scaled_fp8_quant"(%n0, %s) : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n1, %r1 = "vllm.fused_add_rms_norm"(%a1, %a0, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  %q1 = "vllm.static_scaled_fp8_quant"(%n1, %s) : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %a2 = "vllm.all_reduce"(%p2) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%a2, %r1, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  return %q0, %q1, %n2, %r2, %a0 : tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>
}

// -----

// @tp_decoder as vLLM main's graph holds it: the norms and quants are its
// IR ops (imported marked `fx.functional`, with their recorded calls).
func.func @tp_decoder_ir(%p0: tensor<8x64xbf16>, %p1: tensor<8x64xbf16>, %p2: tensor<8x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>)
    -> (tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n0 = "vllm.rms_norm"(%a0, %w) {epsilon = 1.0e-5 : f64, fx.functional = "torch.ops.vllm_ir.rms_norm.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},1e-05],\"kwargs\":{}}", fx.meta = "{\"shape\":[8,64],\"dtype\":\"bfloat16\"}"} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %q0 = "vllm.static_scaled_fp8_quant"(%n0, %s) {fx.functional = "torch.ops.vllm_ir.static_quant_fp8.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n1, %r1 = "vllm.fused_add_rms_norm"(%a1, %a0, %w) {epsilon = 1.0e-5 : f64, fx.functional = "torch.ops.vllm_ir.fused_add_rms_norm.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},{\"operand\":2},1e-05],\"kwargs\":{}}"} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  %q1 = "vllm.static_scaled_fp8_quant"(%n1, %s) {fx.functional = "torch.ops.vllm_ir.static_quant_fp8.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},{\"dtype\":\"float8_e4m3fn\"}],\"kwargs\":{}}"} : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %a2 = "vllm.all_reduce"(%p2) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%a2, %r1, %w) {epsilon = 1.0e-5 : f64, fx.functional = "torch.ops.vllm_ir.fused_add_rms_norm.default", fx.args = "{\"args\":[{\"operand\":0},{\"operand\":1},{\"operand\":2},1e-05],\"kwargs\":{}}"} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  return %q0, %q1, %n2, %r2, %a0 : tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>
}

// -----

// The same decoder with dynamic per-token FP8 quants after the norms.
func.func @tp_decoder_per_token(%p0: tensor<8x64xbf16>, %p1: tensor<8x64xbf16>, %p2: tensor<8x64xbf16>, %w: tensor<64xbf16>)
    -> (tensor<8x64xf8E4M3FN>, tensor<8x1xf32>, tensor<8x64xf8E4M3FN>, tensor<8x1xf32>, tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n0 = "vllm.rms_norm"(%a0, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %q0, %s0 = "vllm.dynamic_per_token_scaled_fp8_quant"(%n0) : (tensor<8x64xbf16>) -> (tensor<8x64xf8E4M3FN>, tensor<8x1xf32>)
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n1, %r1 = "vllm.fused_add_rms_norm"(%a1, %a0, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  %q1, %s1 = "vllm.dynamic_per_token_scaled_fp8_quant"(%n1) : (tensor<8x64xbf16>) -> (tensor<8x64xf8E4M3FN>, tensor<8x1xf32>)
  %a2 = "vllm.all_reduce"(%p2) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%a2, %r1, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  return %q0, %s0, %q1, %s1, %n2, %r2 : tensor<8x64xf8E4M3FN>, tensor<8x1xf32>, tensor<8x64xf8E4M3FN>, tensor<8x1xf32>, tensor<8x64xbf16>, tensor<8x64xbf16>
}


// -----

// @llama_static as one tensor-parallel rank runs it: all-reduces of the
// embedding and of the o_proj and down_proj products. Per rank: the first
// five arguments (the embedding partial sum and the GEMM weight shards);
// the norm weights and scales are replicated.
func.func @tp_llama_static(%xp: tensor<8x64xbf16>, %wqkv: tensor<64x128xf8E4M3FN>, %wo: tensor<64x64xf8E4M3FN>, %wgu: tensor<64x192xf8E4M3FN>, %wd: tensor<96x64xf8E4M3FN>,
                            %pos: tensor<8xi64>, %cache: tensor<16x16xbf16>,
                            %w_in: tensor<64xbf16>, %s_qkv: tensor<f32>, %sw: tensor<f32>,
                            %s_o: tensor<f32>, %w_post: tensor<64xbf16>,
                            %s_gu: tensor<f32>, %s_d: tensor<f32>,
                            %w_final: tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %x = "vllm.all_reduce"(%xp) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %h = "vllm.rms_norm"(%x, %w_in) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %h8 = "vllm.static_scaled_fp8_quant"(%h, %s_qkv) : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %qkv = "vllm.cutlass_scaled_mm"(%h8, %wqkv, %s_qkv, %sw) : (tensor<8x64xf8E4M3FN>, tensor<64x128xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<8x128xbf16>
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 64 : i64, step = 1 : i64} : (tensor<8x128xbf16>) -> tensor<8x64xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 64 : i64, end = 96 : i64, step = 1 : i64} : (tensor<8x128xbf16>) -> tensor<8x32xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %q, %k, %cache) {head_size = 16 : i64, is_neox = true} : (tensor<8xi64>, tensor<8x64xbf16>, tensor<8x32xbf16>, tensor<16x16xbf16>) -> (tensor<8x64xbf16>, tensor<8x32xbf16>)
  %s1 = "aten.slice_scatter"(%qkv, %q2) {dim = 1 : i64, start = 0 : i64, end = 64 : i64, step = 1 : i64} : (tensor<8x128xbf16>, tensor<8x64xbf16>) -> tensor<8x128xbf16>
  %s2 = "aten.slice_scatter"(%s1, %k2) {dim = 1 : i64, start = 64 : i64, end = 96 : i64, step = 1 : i64} : (tensor<8x128xbf16>, tensor<8x32xbf16>) -> tensor<8x128xbf16>
  %attn = "aten.slice"(%s2) {dim = -1 : i64, start = 0 : i64, end = 64 : i64, step = 1 : i64} : (tensor<8x128xbf16>) -> tensor<8x64xbf16>
  %a8 = "vllm.static_scaled_fp8_quant"(%attn, %s_o) : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %o = "vllm.cutlass_scaled_mm"(%a8, %wo, %s_o, %sw) : (tensor<8x64xf8E4M3FN>, tensor<64x64xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<8x64xbf16>
  %oa = "vllm.all_reduce"(%o) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n2, %r2 = "vllm.fused_add_rms_norm"(%oa, %x, %w_post) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  %n8 = "vllm.static_scaled_fp8_quant"(%n2, %s_gu) : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %gu = "vllm.cutlass_scaled_mm"(%n8, %wgu, %s_gu, %sw) : (tensor<8x64xf8E4M3FN>, tensor<64x192xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<8x192xbf16>
  %act = "vllm.silu_and_mul"(%gu) : (tensor<8x192xbf16>) -> tensor<8x96xbf16>
  %act8 = "vllm.static_scaled_fp8_quant"(%act, %s_d) : (tensor<8x96xbf16>, tensor<f32>) -> tensor<8x96xf8E4M3FN>
  %d = "vllm.cutlass_scaled_mm"(%act8, %wd, %s_d, %sw) : (tensor<8x96xf8E4M3FN>, tensor<96x64xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<8x64xbf16>
  %da = "vllm.all_reduce"(%d) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %y, %r3 = "vllm.fused_add_rms_norm"(%da, %r2, %w_final) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  return %y, %r3 : tensor<8x64xbf16>, tensor<8x64xbf16>
}

// -----

// A tensor-parallel MLP with dynamic per-token FP8 activations, as one rank
// runs it (per rank: the partial sum and the two weight shards): after
// sequence parallelism the per-token quant runs on the shard and its rows
// and row scales are all-gathered before the gate GEMM; async TP then
// passes the shard's own scales to the fused all-gather GEMM.
func.func @tp_mlp_per_token(%p: tensor<8x64xbf16>, %wg: tensor<64x32xf8E4M3FN>, %wd: tensor<32x64xf8E4M3FN>,
                            %w: tensor<64xbf16>, %sw: tensor<f32>, %sd: tensor<f32>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %x = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %q, %s = "vllm.dynamic_per_token_scaled_fp8_quant"(%n) : (tensor<8x64xbf16>) -> (tensor<8x64xf8E4M3FN>, tensor<8x1xf32>)
  %g = "vllm.cutlass_scaled_mm"(%q, %wg, %s, %sw) : (tensor<8x64xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<8x1xf32>, tensor<f32>) -> tensor<8x32xbf16>
  %g8 = "vllm.static_scaled_fp8_quant"(%g, %sd) : (tensor<8x32xbf16>, tensor<f32>) -> tensor<8x32xf8E4M3FN>
  %d = "vllm.cutlass_scaled_mm"(%g8, %wd, %sd, %sw) : (tensor<8x32xf8E4M3FN>, tensor<32x64xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<8x64xbf16>
  %da = "vllm.all_reduce"(%d) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %y, %r = "vllm.fused_add_rms_norm"(%da, %x, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<64xbf16>) -> (tensor<8x64xbf16>, tensor<8x64xbf16>)
  return %y, %r : tensor<8x64xbf16>, tensor<8x64xbf16>
}

// -----

// @tp_decoder with custom ops off (vLLM's default under Inductor): each norm
// decomposed (the residual add in f32, the new residual its to(bf16)), the
// first and middle norm read by a decomposed static FP8 quant. Per rank: the
// three partial sums.
func.func @tp_native_decoder(%p0: tensor<8x64xbf16>, %p1: tensor<8x64xbf16>, %p2: tensor<8x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>)
    -> (tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %xf0 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sq0 = "aten.pow_scalar"(%xf0) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-05 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n0 = "aten.mul"(%xf0, %r0) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %t0 = "aten.convert_element_type"(%n0) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %y0 = "aten.mul"(%t0, %w) : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %yf0 = "aten.convert_element_type"(%y0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %inv0 = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %qm0 = "aten.mul"(%yf0, %inv0) : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  %qa0 = "aten.clamp_min"(%qm0) {other = -4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %qb0 = "aten.clamp_max"(%qa0) {other = 4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %q0 = "aten.convert_element_type"(%qb0) {dtype = f8E4M3FN} : (tensor<8x64xf32>) -> tensor<8x64xf8E4M3FN>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %xf1 = "aten.convert_element_type"(%a1) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %rf1 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sum1 = "aten.add"(%xf1, %rf1) : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
  %sq1 = "aten.pow_scalar"(%sum1) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m1 = "aten.mean"(%sq1) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e1 = "aten.add_scalar"(%m1) {other = 1.000000e-05 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r1 = "aten.rsqrt"(%e1) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n1 = "aten.mul"(%sum1, %r1) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %t1 = "aten.convert_element_type"(%n1) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %y1 = "aten.mul"(%t1, %w) : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %res1 = "aten.convert_element_type"(%sum1) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %yf1 = "aten.convert_element_type"(%y1) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %inv1 = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %qm1 = "aten.mul"(%yf1, %inv1) : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  %qa1 = "aten.clamp_min"(%qm1) {other = -4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %qb1 = "aten.clamp_max"(%qa1) {other = 4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %q1 = "aten.convert_element_type"(%qb1) {dtype = f8E4M3FN} : (tensor<8x64xf32>) -> tensor<8x64xf8E4M3FN>
  %a2 = "vllm.all_reduce"(%p2) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %rf2 = "aten.convert_element_type"(%res1) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %xf2 = "aten.convert_element_type"(%a2) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sum2 = "aten.add"(%rf2, %xf2) : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
  %sq2 = "aten.pow_scalar"(%sum2) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m2 = "aten.mean"(%sq2) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e2 = "aten.add_scalar"(%m2) {other = 1.000000e-05 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r2 = "aten.rsqrt"(%e2) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n2 = "aten.mul"(%sum2, %r2) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %t2 = "aten.convert_element_type"(%n2) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %y2 = "aten.mul"(%t2, %w) : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %res2 = "aten.convert_element_type"(%sum2) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  return %q0, %q1, %y2, %res2 : tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>, tensor<8x64xbf16>
}

// -----

// @tp_native_decoder with the last norm quantized too: every norm is raised
// the same way with or without the all-reduce fusion.
func.func @tp_native_decoder_quant(%p0: tensor<8x64xbf16>, %p1: tensor<8x64xbf16>, %p2: tensor<8x64xbf16>, %w: tensor<64xbf16>, %s: tensor<f32>)
    -> (tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %xf0 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sq0 = "aten.pow_scalar"(%xf0) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-05 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n0 = "aten.mul"(%xf0, %r0) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %t0 = "aten.convert_element_type"(%n0) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %y0 = "aten.mul"(%t0, %w) : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %yf0 = "aten.convert_element_type"(%y0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %inv0 = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %qm0 = "aten.mul"(%yf0, %inv0) : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  %qa0 = "aten.clamp_min"(%qm0) {other = -4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %qb0 = "aten.clamp_max"(%qa0) {other = 4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %q0 = "aten.convert_element_type"(%qb0) {dtype = f8E4M3FN} : (tensor<8x64xf32>) -> tensor<8x64xf8E4M3FN>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %xf1 = "aten.convert_element_type"(%a1) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %rf1 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sum1 = "aten.add"(%xf1, %rf1) : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
  %sq1 = "aten.pow_scalar"(%sum1) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m1 = "aten.mean"(%sq1) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e1 = "aten.add_scalar"(%m1) {other = 1.000000e-05 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r1 = "aten.rsqrt"(%e1) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n1 = "aten.mul"(%sum1, %r1) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %t1 = "aten.convert_element_type"(%n1) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %y1 = "aten.mul"(%t1, %w) : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %res1 = "aten.convert_element_type"(%sum1) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %yf1 = "aten.convert_element_type"(%y1) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %inv1 = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %qm1 = "aten.mul"(%yf1, %inv1) : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  %qa1 = "aten.clamp_min"(%qm1) {other = -4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %qb1 = "aten.clamp_max"(%qa1) {other = 4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %q1 = "aten.convert_element_type"(%qb1) {dtype = f8E4M3FN} : (tensor<8x64xf32>) -> tensor<8x64xf8E4M3FN>
  %a2 = "vllm.all_reduce"(%p2) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %rf2 = "aten.convert_element_type"(%res1) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %xf2 = "aten.convert_element_type"(%a2) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sum2 = "aten.add"(%rf2, %xf2) : (tensor<8x64xf32>, tensor<8x64xf32>) -> tensor<8x64xf32>
  %sq2 = "aten.pow_scalar"(%sum2) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m2 = "aten.mean"(%sq2) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e2 = "aten.add_scalar"(%m2) {other = 1.000000e-05 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r2 = "aten.rsqrt"(%e2) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n2 = "aten.mul"(%sum2, %r2) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %t2 = "aten.convert_element_type"(%n2) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %y2 = "aten.mul"(%t2, %w) : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %res2 = "aten.convert_element_type"(%sum2) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %yf2 = "aten.convert_element_type"(%y2) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %inv2 = "aten.reciprocal"(%s) : (tensor<f32>) -> tensor<f32>
  %qm2 = "aten.mul"(%yf2, %inv2) : (tensor<8x64xf32>, tensor<f32>) -> tensor<8x64xf32>
  %qa2 = "aten.clamp_min"(%qm2) {other = -4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %qb2 = "aten.clamp_max"(%qa2) {other = 4.480000e+02 : f64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %q2 = "aten.convert_element_type"(%qb2) {dtype = f8E4M3FN} : (tensor<8x64xf32>) -> tensor<8x64xf8E4M3FN>
  return %q0, %q1, %q2, %res2 : tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<8x64xbf16>
}

// -----

// Separate projections of one normalized activation (two GEMMs of the same
// all-gathered FP8 rows after sequence parallelism): async TP gives both to
// one fused op. Per rank: the partial sum and the two weight shards.
func.func @tp_two_projections(%p: tensor<8x64xbf16>, %wa: tensor<64x32xf8E4M3FN>, %wb: tensor<64x16xf8E4M3FN>,
                              %w: tensor<64xbf16>, %s: tensor<f32>, %sw: tensor<f32>) -> (tensor<8x32xbf16>, tensor<8x16xbf16>) {
  %x = "vllm.all_reduce"(%p) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %n = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-5 : f64} : (tensor<8x64xbf16>, tensor<64xbf16>) -> tensor<8x64xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%n, %s) : (tensor<8x64xbf16>, tensor<f32>) -> tensor<8x64xf8E4M3FN>
  %a = "vllm.cutlass_scaled_mm"(%q, %wa, %s, %sw) : (tensor<8x64xf8E4M3FN>, tensor<64x32xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<8x32xbf16>
  %b = "vllm.cutlass_scaled_mm"(%q, %wb, %s, %sw) : (tensor<8x64xf8E4M3FN>, tensor<64x16xf8E4M3FN>, tensor<f32>, tensor<f32>) -> tensor<8x16xbf16>
  return %a, %b : tensor<8x32xbf16>, tensor<8x16xbf16>
}

// -----

// A Gemma decoder under tensor parallelism: three all-reduces, each normed
// by vLLM's native GemmaRMSNorm (f32 scale times (1 + w), rounded once; the
// residual added in bf16), the first without a residual (its all-reduced
// rows are the next layer's residual), the last with the residual add's
// operands the other way round.
func.func @tp_gemma_decoder(%p0: tensor<8x64xbf16>, %p1: tensor<8x64xbf16>, %p2: tensor<8x64xbf16>, %w: tensor<64xbf16>)
    -> (tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %zf0 = "aten.convert_element_type"(%a0) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sq0 = "aten.pow_scalar"(%zf0) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m0 = "aten.mean"(%sq0) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e0 = "aten.add_scalar"(%m0) {other = 1.000000e-06 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r0 = "aten.rsqrt"(%e0) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n0 = "aten.mul"(%zf0, %r0) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %wf0 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %w10 = "aten.add_scalar"(%wf0) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y0 = "aten.mul"(%n0, %w10) : (tensor<8x64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
  %o0 = "aten.convert_element_type"(%y0) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %z1 = "aten.add"(%a1, %a0) : (tensor<8x64xbf16>, tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %zf1 = "aten.convert_element_type"(%z1) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sq1 = "aten.pow_scalar"(%zf1) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m1 = "aten.mean"(%sq1) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e1 = "aten.add_scalar"(%m1) {other = 1.000000e-06 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r1 = "aten.rsqrt"(%e1) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n1 = "aten.mul"(%zf1, %r1) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %wf1 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %w11 = "aten.add_scalar"(%wf1) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y1 = "aten.mul"(%n1, %w11) : (tensor<8x64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
  %o1 = "aten.convert_element_type"(%y1) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  %a2 = "vllm.all_reduce"(%p2) {group_name = "tp:0"} : (tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %z2 = "aten.add"(%z1, %a2) : (tensor<8x64xbf16>, tensor<8x64xbf16>) -> tensor<8x64xbf16>
  %zf2 = "aten.convert_element_type"(%z2) {dtype = f32} : (tensor<8x64xbf16>) -> tensor<8x64xf32>
  %sq2 = "aten.pow_scalar"(%zf2) {other = 2 : i64} : (tensor<8x64xf32>) -> tensor<8x64xf32>
  %m2 = "aten.mean"(%sq2) {dim = array<i64: -1>, keepdim = true} : (tensor<8x64xf32>) -> tensor<8x1xf32>
  %e2 = "aten.add_scalar"(%m2) {other = 1.000000e-06 : f64} : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %r2 = "aten.rsqrt"(%e2) : (tensor<8x1xf32>) -> tensor<8x1xf32>
  %n2 = "aten.mul"(%zf2, %r2) : (tensor<8x64xf32>, tensor<8x1xf32>) -> tensor<8x64xf32>
  %wf2 = "aten.convert_element_type"(%w) {dtype = f32} : (tensor<64xbf16>) -> tensor<64xf32>
  %w12 = "aten.add_scalar"(%wf2) {other = 1.000000e+00 : f64} : (tensor<64xf32>) -> tensor<64xf32>
  %y2 = "aten.mul"(%n2, %w12) : (tensor<8x64xf32>, tensor<64xf32>) -> tensor<8x64xf32>
  %o2 = "aten.convert_element_type"(%y2) {dtype = bf16} : (tensor<8x64xf32>) -> tensor<8x64xbf16>
  return %o0, %o1, %o2, %z2 : tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>, tensor<8x64xbf16>
}

// -----

// Qwen3-style attention input: per-head q/k RMSNorms (custom op for q, the
// native form for k) and the rotary embedding (neox, head 64) ->
// fused_qk_norm_rope (numerics::qk_norm_rope_fusion).
// Arguments: qkv, q_weight, k_weight, cache, positions.
func.func @qwen3_qk_norm_rope(%qkv: tensor<?x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<16x64xbf16>, %pos: tensor<?xi64>)
    -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kx = "aten.convert_element_type"(%kh) {dtype = f32} : (tensor<?x1x64xbf16>) -> tensor<?x1x64xf32>
  %ks = "aten.pow_scalar"(%kx) {other = 2 : i64} : (tensor<?x1x64xf32>) -> tensor<?x1x64xf32>
  %km = "aten.mean"(%ks) {dim = array<i64: -1>, keepdim = true} : (tensor<?x1x64xf32>) -> tensor<?x1x1xf32>
  %ke = "aten.add_scalar"(%km) {other = 1.0e-6 : f64} : (tensor<?x1x1xf32>) -> tensor<?x1x1xf32>
  %kr = "aten.rsqrt"(%ke) : (tensor<?x1x1xf32>) -> tensor<?x1x1xf32>
  %ky = "aten.mul"(%kx, %kr) : (tensor<?x1x64xf32>, tensor<?x1x1xf32>) -> tensor<?x1x64xf32>
  %kt = "aten.convert_element_type"(%ky) {dtype = bf16} : (tensor<?x1x64xf32>) -> tensor<?x1x64xbf16>
  %kn = "aten.mul"(%kt, %kw) : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<16x64xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>)
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The same with a partial rotary (GLM-4's: the first 32 of the head's 64
// dims, the cache 32 wide) -> fused_qk_norm_rope where vLLM's kernel takes
// one (`partial-rotary=true`; numerics::qk_norm_rope_fusion).
// Arguments: qkv, q_weight, k_weight, cache, positions.
func.func @qwen3_qk_norm_rope_partial(%qkv: tensor<?x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<16x32xbf16>, %pos: tensor<?xi64>)
    -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %q = "aten.slice"(%qkv) {dim = -1 : i64, start = 0 : i64, end = 128 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x128xbf16>
  %k = "aten.slice"(%qkv) {dim = -1 : i64, start = 128 : i64, end = 192 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %v = "aten.slice"(%qkv) {dim = -1 : i64, start = 192 : i64, end = 256 : i64, step = 1 : i64} : (tensor<?x256xbf16>) -> tensor<?x64xbf16>
  %qh = "aten.view"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %qf = "aten.view"(%qn) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.view"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kx = "aten.convert_element_type"(%kh) {dtype = f32} : (tensor<?x1x64xbf16>) -> tensor<?x1x64xf32>
  %ks = "aten.pow_scalar"(%kx) {other = 2 : i64} : (tensor<?x1x64xf32>) -> tensor<?x1x64xf32>
  %km = "aten.mean"(%ks) {dim = array<i64: -1>, keepdim = true} : (tensor<?x1x64xf32>) -> tensor<?x1x1xf32>
  %ke = "aten.add_scalar"(%km) {other = 1.0e-6 : f64} : (tensor<?x1x1xf32>) -> tensor<?x1x1xf32>
  %kr = "aten.rsqrt"(%ke) : (tensor<?x1x1xf32>) -> tensor<?x1x1xf32>
  %ky = "aten.mul"(%kx, %kr) : (tensor<?x1x64xf32>, tensor<?x1x1xf32>) -> tensor<?x1x64xf32>
  %kt = "aten.convert_element_type"(%ky) {dtype = bf16} : (tensor<?x1x64xf32>) -> tensor<?x1x64xbf16>
  %kn = "aten.mul"(%kt, %kw) : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %kf = "aten.view"(%kn) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  %q2, %k2 = "vllm.rotary_embedding"(%pos, %qf, %kf, %cache) {head_size = 64 : i64, is_neox = true} : (tensor<?xi64>, tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<16x32xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>)
  return %q2, %k2, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The same with vLLM's native neox rotary (custom ops off: the halves of
// cache[positions] times the halves of each head, in bf16, concatenated)
// -> fused_qk_norm_rope (numerics::qk_norm_rope_fusion). Arguments: qkv,
// q_weight, k_weight, cache, positions.
func.func @qwen3_qk_norm_rope_native(%qkv: tensor<?x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<16x64xbf16>, %pos: tensor<?xi64>)
    -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<16x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1, %q2 = "aten.split"(%qn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x2x64xbf16>) -> (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>)
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1, %k2 = "aten.split"(%kn) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x1x64xbf16>) -> (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%q1, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qc, %qd) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qcat = "aten.cat"(%qo1, %qo2) {dim = -1 : i64} : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qcat) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %ka = "aten.mul"(%k1, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kc = "aten.mul"(%k2, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%k1, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kc, %kd) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kcat = "aten.cat"(%ko1, %ko2) {dim = -1 : i64} : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kcat) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// The same with vLLM's native GPT-J rotary (custom ops off: the even and odd
// elements of each head times the halves of cache[positions], in bf16,
// stacked and flattened) -> fused_qk_norm_rope with is_neox = false
// (numerics::qk_norm_rope_fusion). Arguments: qkv, q_weight, k_weight,
// cache, positions.
func.func @qwen3_qk_norm_rope_native_gptj(%qkv: tensor<?x256xbf16>, %qw: tensor<64xbf16>, %kw: tensor<64xbf16>, %cache: tensor<16x64xbf16>, %pos: tensor<?xi64>)
    -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>) {
  %q, %k, %v = "aten.split_with_sizes"(%qkv) {split_sizes = array<i64: 128, 64, 64>, dim = -1 : i64} : (tensor<?x256xbf16>) -> (tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>)
  %cs = "aten.index"(%cache, %pos) : (tensor<16x64xbf16>, tensor<?xi64>) -> tensor<?x64xbf16>
  %cos, %sin = "aten.split"(%cs) {split_size = 32 : i64, dim = -1 : i64} : (tensor<?x64xbf16>) -> (tensor<?x32xbf16>, tensor<?x32xbf16>)
  %cu = "aten.unsqueeze"(%cos) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %su = "aten.unsqueeze"(%sin) {dim = -2 : i64} : (tensor<?x32xbf16>) -> tensor<?x1x32xbf16>
  %qh = "aten.reshape"(%q) {shape = array<i64: -1, 2, 64>} : (tensor<?x128xbf16>) -> tensor<?x2x64xbf16>
  %qn = "vllm.rms_norm"(%qh, %qw) {epsilon = 1.0e-6 : f64} : (tensor<?x2x64xbf16>, tensor<64xbf16>) -> tensor<?x2x64xbf16>
  %q1 = "aten.slice"(%qn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %q2 = "aten.slice"(%qn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x2x64xbf16>) -> tensor<?x2x32xbf16>
  %qa = "aten.mul"(%q1, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qb = "aten.mul"(%q2, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo1 = "aten.sub"(%qa, %qb) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qu1 = "aten.unsqueeze"(%qo1) {dim = 3 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x32x1xbf16>
  %qc = "aten.mul"(%q2, %cu) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qd = "aten.mul"(%q1, %su) : (tensor<?x2x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x2x32xbf16>
  %qo2 = "aten.add"(%qc, %qd) : (tensor<?x2x32xbf16>, tensor<?x2x32xbf16>) -> tensor<?x2x32xbf16>
  %qu2 = "aten.unsqueeze"(%qo2) {dim = 3 : i64} : (tensor<?x2x32xbf16>) -> tensor<?x2x32x1xbf16>
  %qcat = "aten.cat"(%qu1, %qu2) {dim = -1 : i64} : (tensor<?x2x32x1xbf16>, tensor<?x2x32x1xbf16>) -> tensor<?x2x32x2xbf16>
  %qf = "aten.reshape"(%qcat) {shape = array<i64: -1, 2, 64>} : (tensor<?x2x32x2xbf16>) -> tensor<?x2x64xbf16>
  %qr = "aten.reshape"(%qf) {shape = array<i64: -1, 128>} : (tensor<?x2x64xbf16>) -> tensor<?x128xbf16>
  %kh = "aten.reshape"(%k) {shape = array<i64: -1, 1, 64>} : (tensor<?x64xbf16>) -> tensor<?x1x64xbf16>
  %kn = "vllm.rms_norm"(%kh, %kw) {epsilon = 1.0e-6 : f64} : (tensor<?x1x64xbf16>, tensor<64xbf16>) -> tensor<?x1x64xbf16>
  %k1 = "aten.slice"(%kn) {dim = 2 : i64, start = 0 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %k2 = "aten.slice"(%kn) {dim = 2 : i64, start = 1 : i64, end = 9223372036854775807 : i64, step = 2 : i64} : (tensor<?x1x64xbf16>) -> tensor<?x1x32xbf16>
  %ka = "aten.mul"(%k1, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kb = "aten.mul"(%k2, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko1 = "aten.sub"(%ka, %kb) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ku1 = "aten.unsqueeze"(%ko1) {dim = 3 : i64} : (tensor<?x1x32xbf16>) -> tensor<?x1x32x1xbf16>
  %kc = "aten.mul"(%k2, %cu) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %kd = "aten.mul"(%k1, %su) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ko2 = "aten.add"(%kc, %kd) : (tensor<?x1x32xbf16>, tensor<?x1x32xbf16>) -> tensor<?x1x32xbf16>
  %ku2 = "aten.unsqueeze"(%ko2) {dim = 3 : i64} : (tensor<?x1x32xbf16>) -> tensor<?x1x32x1xbf16>
  %kcat = "aten.cat"(%ku1, %ku2) {dim = -1 : i64} : (tensor<?x1x32x1xbf16>, tensor<?x1x32x1xbf16>) -> tensor<?x1x32x2xbf16>
  %kf = "aten.reshape"(%kcat) {shape = array<i64: -1, 1, 64>} : (tensor<?x1x32x2xbf16>) -> tensor<?x1x64xbf16>
  %kr = "aten.reshape"(%kf) {shape = array<i64: -1, 64>} : (tensor<?x1x64xbf16>) -> tensor<?x64xbf16>
  return %qr, %kr, %v : tensor<?x128xbf16>, tensor<?x64xbf16>, tensor<?x64xbf16>
}

// -----

// A Transformers-backend layer boundary: the residual add as a plain add,
// the norm without a residual (custom op, and vLLM's native form on the
// second sum), a static FP8 quant; the sums are the next residuals
// (numerics::add_rms_norm_fusion). Arguments: x, r, x2, w, scale.
func.func @add_rms_norm(%x: tensor<?x256xbf16>, %r: tensor<?x256xbf16>, %x2: tensor<?x256xbf16>, %w: tensor<256xbf16>, %s: tensor<f32>)
    -> (tensor<?x256xf8E4M3FN>, tensor<?x256xbf16>, tensor<?x256xbf16>, tensor<?x256xbf16>) {
  %z = "aten.add"(%x, %r) : (tensor<?x256xbf16>, tensor<?x256xbf16>) -> tensor<?x256xbf16>
  %y = "vllm.rms_norm"(%z, %w) {epsilon = 1.0e-6 : f64} : (tensor<?x256xbf16>, tensor<256xbf16>) -> tensor<?x256xbf16>
  %q = "vllm.static_scaled_fp8_quant"(%y, %s) : (tensor<?x256xbf16>, tensor<f32>) -> tensor<?x256xf8E4M3FN>
  %z2 = "aten.add"(%x2, %z) : (tensor<?x256xbf16>, tensor<?x256xbf16>) -> tensor<?x256xbf16>
  %zf = "aten.convert_element_type"(%z2) {dtype = f32} : (tensor<?x256xbf16>) -> tensor<?x256xf32>
  %sq = "aten.pow_scalar"(%zf) {other = 2 : i64} : (tensor<?x256xf32>) -> tensor<?x256xf32>
  %m = "aten.mean"(%sq) {dim = array<i64: -1>, keepdim = true} : (tensor<?x256xf32>) -> tensor<?x1xf32>
  %e = "aten.add_scalar"(%m) {other = 1.0e-6 : f64} : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %rs = "aten.rsqrt"(%e) : (tensor<?x1xf32>) -> tensor<?x1xf32>
  %n = "aten.mul"(%zf, %rs) : (tensor<?x256xf32>, tensor<?x1xf32>) -> tensor<?x256xf32>
  %nt = "aten.convert_element_type"(%n) {dtype = bf16} : (tensor<?x256xf32>) -> tensor<?x256xbf16>
  %y2 = "aten.mul"(%nt, %w) : (tensor<?x256xbf16>, tensor<256xbf16>) -> tensor<?x256xbf16>
  return %q, %z2, %y2, %z : tensor<?x256xf8E4M3FN>, tensor<?x256xbf16>, tensor<?x256xbf16>, tensor<?x256xbf16>
}

// -----

// SiLU-and-mul, then the NVFP4 quant, with the token count symbolic: the
// block scales' rows are round_up(T, 128), computed by the graph as vLLM's
// `ops.scaled_fp4_quant` allocates them (numerics::silu_nvfp4_fusion).
// Arguments: T, the gate-up rows, the global scale.
func.func @silu_nvfp4(%n: index {fx.meta = "{\"sym\":\"s0\"}"}, %gu: tensor<?x2048xbf16> {fx.meta = "{\"shape\":[\"s0\",2048],\"dtype\":\"bfloat16\"}"}, %g: tensor<f32>)
    -> (tensor<?x512xui8>, tensor<?x16xi32>) {
  %a1 = "torch.operator"(%n) {target = "operator.add", fx_args = "{\"args\":[{\"operand\":0},127],\"kwargs\":{}}", fx.meta = "{\"sym\":\"s0 + 127\"}"} : (index) -> index
  %a2 = "torch.operator"(%a1) {target = "operator.floordiv", fx_args = "{\"args\":[{\"operand\":0},128],\"kwargs\":{}}", fx.meta = "{\"sym\":\"((s0 + 127)//128)\"}"} : (index) -> index
  %p = "torch.operator"(%a2) {target = "operator.mul", fx_args = "{\"args\":[{\"operand\":0},128],\"kwargs\":{}}", fx.meta = "{\"sym\":\"128*((s0 + 127)//128)\"}"} : (index) -> index
  %a = "vllm.silu_and_mul"(%gu) : (tensor<?x2048xbf16>) -> tensor<?x1024xbf16>
  %q, %s = "vllm.scaled_fp4_quant"(%a, %g) {fx.meta = "[null,{\"shape\":[\"s0\",512],\"dtype\":\"uint8\"},{\"shape\":[\"128*((s0 + 127)//128)\",16],\"dtype\":\"int32\"}]"} : (tensor<?x1024xbf16>, tensor<f32>) -> (tensor<?x512xui8>, tensor<?x16xi32>)
  return %q, %s : tensor<?x512xui8>, tensor<?x16xi32>
}

// -----

// Two all-reduces, each normalized (without and with a residual) and
// quantized to NVFP4: the all-reduce + norm fusion's pattern 3
// (numerics::sequence_parallelism_keeps_every_ranks_results, "ar,fuse").
// Arguments: the two partial sums (per rank), the residual, w, the global scale.
func.func @tp_nvfp4(%p0: tensor<8x256xbf16>, %p1: tensor<8x256xbf16>, %r: tensor<8x256xbf16>, %w: tensor<256xbf16>, %g: tensor<f32>)
    -> (tensor<8x128xui8>, tensor<128x4xi32>, tensor<8x128xui8>, tensor<128x4xi32>, tensor<8x256xbf16>, tensor<8x256xbf16>) {
  %a0 = "vllm.all_reduce"(%p0) {group_name = "tp:0"} : (tensor<8x256xbf16>) -> tensor<8x256xbf16>
  %n0 = "vllm.rms_norm"(%a0, %w) {epsilon = 1.0e-6 : f64} : (tensor<8x256xbf16>, tensor<256xbf16>) -> tensor<8x256xbf16>
  %q0, %s0 = "vllm.scaled_fp4_quant"(%n0, %g) : (tensor<8x256xbf16>, tensor<f32>) -> (tensor<8x128xui8>, tensor<128x4xi32>)
  %a1 = "vllm.all_reduce"(%p1) {group_name = "tp:0"} : (tensor<8x256xbf16>) -> tensor<8x256xbf16>
  %n1, %r1 = "vllm.fused_add_rms_norm"(%a1, %r, %w) {epsilon = 1.0e-6 : f64} : (tensor<8x256xbf16>, tensor<8x256xbf16>, tensor<256xbf16>) -> (tensor<8x256xbf16>, tensor<8x256xbf16>)
  %q1, %s1 = "vllm.scaled_fp4_quant"(%n1, %g) : (tensor<8x256xbf16>, tensor<f32>) -> (tensor<8x128xui8>, tensor<128x4xi32>)
  return %q0, %s0, %q1, %s1, %r1, %a0 : tensor<8x128xui8>, tensor<128x4xi32>, tensor<8x128xui8>, tensor<128x4xi32>, tensor<8x256xbf16>, tensor<8x256xbf16>
}
