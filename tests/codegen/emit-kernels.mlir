// vllm-opt --emit-kernels: the 32-layer fixture's 96 fused ops (64 norm+quant,
// 32 SiLU-mul+quant) and its final (unfused) fused_add_rms_norm need 4 unique
// kernels (layers share them), compiled to PTX in-process. The three norms
// keep the row in registers and come in two blocks, one per shape context
// (1 token: 512 threads; 256 tokens: 128); SiLU-mul+quant splits its one
// token's row over 14 CTAs (`_s14`) and takes a CTA a row for 256: 8 kernels.
// RUN: rm -rf %t && vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_L32_dyn.json --config %S/../../examples/pass_config.json --compile-sizes 1,256 --emit-kernels %t -o %t.mlir 2>&1 | FileCheck %s --check-prefix=LOG
// RUN: FileCheck %s --input-file %t/manifest.json
// RUN: FileCheck %s --check-prefix=PTX --input-file %t/rms_norm_static_fp8_quant_h4096_bf16.ptx
// RUN: FileCheck %s --check-prefix=ADD --input-file %t/fused_add_rms_norm_static_fp8_quant_h4096_bf16.ptx
// RUN: FileCheck %s --check-prefix=SSQ --input-file %t/rms_norm_static_fp8_quant_h4096_bf16.ptx
// No libdevice call may remain (it would fail to load, silently until then):
// RUN: FileCheck %s --check-prefix=SILU --input-file %t/silu_and_mul_quant_d14336_bf16.ptx
// RUN: not grep -h "extern .func" %t/rms_norm_static_fp8_quant_h4096_bf16.ptx %t/fused_add_rms_norm_static_fp8_quant_h4096_bf16.ptx %t/silu_and_mul_quant_d14336_bf16.ptx

// Bad targets and directories are located errors with exit status 1:
// RUN: not vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_L2_dyn.json --config %S/../../examples/pass_config.json --emit-kernels %t.arch --cuda-arch sm_80 -o /dev/null 2>&1 | FileCheck %s --check-prefix=ARCH
// RUN: not vllm-opt %S/../../../shared/fixtures/llama_fp8_custom_L2_dyn.json --config %S/../../examples/pass_config.json --emit-kernels /proc/no/such/dir -o /dev/null 2>&1 | FileCheck %s --check-prefix=DIR

// LOG: kernels: 8 unique for 194 sites
// ARCH: error: --cuda-arch sm_80: the FP8 conversion (cvt.rn.satfinite.e4m3x2) needs sm_89 or newer
// DIR: /proc/no/such/dir: error: cannot create the kernel directory

// A graph that fails to compile writes no kernels (a partial manifest would
// look complete):
// RUN: rm -rf %t.bad && not vllm-opt %S/../fx/inputs/unknown-dtype.json --config %S/../../examples/pass_config.json --emit-kernels %t.bad -o /dev/null 2>&1 | FileCheck %s --check-prefix=BAD
// RUN: not test -e %t.bad
// BAD: error:
// BAD-NOT: kernels:

// CHECK: "arch": "sm_90"
// CHECK: "name": "rms_norm_static_fp8_quant_h4096_bf16_b512"
// CHECK: "implements": "vllm.rms_norm_static_fp8_quant"
// CHECK: "row_in_registers": true,
// CHECK-NEXT: "threads": 512,
// Each parameter says how the kernel uses it (the static scale is read) and
// the alignment its address needs (8 FP8 or 8 bf16 moved at once).
// CHECK: "name": "result",
// CHECK-NEXT: "kind": "ptr",
// CHECK-NEXT: "elem": "f8E4M3FN",
// CHECK-NEXT: "access": "write",
// CHECK-NEXT: "align": 8
// CHECK: "name": "input",
// CHECK: "access": "read",
// CHECK-NEXT: "align": 16
// The input's rows may lie apart (vLLM's input_stride, in elements).
// CHECK: "name": "input_stride",
// CHECK-NEXT: "kind": "i64",
// CHECK-NEXT: "elem": "i64",
// CHECK-NEXT: "access": "value",
// CHECK: "name": "weight",
// CHECK: "name": "scale",
// CHECK-NEXT: "kind": "ptr",
// CHECK-NEXT: "elem": "f32",
// CHECK-NEXT: "access": "read",
// CHECK-NEXT: "align": 4
// CHECK: "name": "epsilon",
// CHECK-NEXT: "kind": "f32",
// CHECK-NEXT: "elem": "f32",
// CHECK-NEXT: "access": "value",
// CHECK-NEXT: "align": null
// The row stays in registers: a kernel is compiled for one block, one
// 16-byte chunk per thread for one token, four for 256 tokens; each lists
// only the context that launches it.
// CHECK: "launch": [
// CHECK-NEXT: {
// CHECK-NEXT: "num_tokens": 1,
// CHECK: "block": [
// CHECK-NEXT: 512,
// CHECK: ]
// CHECK-NEXT: }
// CHECK-NEXT: ],
// CHECK: "sites": 1
// CHECK: "name": "fused_add_rms_norm_static_fp8_quant_h4096_bf16_b512"
// CHECK: "name": "residual",
// CHECK: "sites": 63
// CHECK: "name": "rms_norm_static_fp8_quant_h4096_bf16"
// CHECK: "threads": 128,
// CHECK: "num_tokens": 256,
// CHECK: "block": [
// CHECK-NEXT: 128,
// CHECK: "name": "fused_add_rms_norm_static_fp8_quant_h4096_bf16"
// CHECK: "sites": 63

// PTX: .version 8.0
// PTX: .target sm_90
// PTX: .visible .entry rms_norm_static_fp8_quant_h4096_bf16(
// PTX-NEXT: .param .u64 .ptr .align 1 rms_norm_static_fp8_quant_h4096_bf16_param_0,
// PTX-NEXT: .param .u64 .ptr .align 1 rms_norm_static_fp8_quant_h4096_bf16_param_1,
// PTX-NEXT: .param .u64 rms_norm_static_fp8_quant_h4096_bf16_param_2,
// PTX: .param .f32 rms_norm_static_fp8_quant_h4096_bf16_param_5
// 16-byte loads of 8 bf16, 8-byte stores of 8 FP8. Every load (the scale,
// the row's 4 chunks a thread, their weights) is issued before the block
// reduction's first barrier: after it, an L2 round trip per row.
// PTX: ld.global.b32
// PTX-COUNT-8: ld.global.v4.b32
// PTX-NOT: ld.global
// The block sum: a butterfly in each warp, one barrier, then every thread
// reads the 4 warps' sums at once (gpu.all_reduce took two barriers).
// PTX: shfl.sync.bfly.b32
// PTX: bar.sync
// PTX-NOT: {{bar.sync|ld.global}}
// PTX: ld.shared.v4.b32
// PTX-NOT: {{bar.sync|ld.global}}
// PTX: rsqrt.approx.f32
// The row stays in the 32-bit words it was loaded in (two bf16 each) across
// the reduction and is widened after it: the upper lane by a mask.
// PTX: and.b32 {{%r[0-9]+}}, {{%r[0-9]+}}, -65536;
// vLLM's clamp sends NaN to +448 (fminf first); `satfinite` is the lower
// bound, so no max.f32 a lane. The four converted pairs are stored as they
// are (not taken apart into bytes and packed again).
// PTX: min.f32 {{%r[0-9]+}}, {{%r[0-9]+}}, 0f43E00000;
// PTX-NOT: max.f32 {{%r[0-9]+}}, {{%r[0-9]+}}, 0fC3E00000;
// PTX-COUNT-4: cvt.rn.satfinite.e4m3x2.f32
// PTX-NOT: {{prmt|shr|shl|or\.b|and\.b|cvt}}
// PTX: st.global.v4.b16 [{{%rd[0-9]+}}], {{[{]}}%rs{{[0-9]+}}, %rs{{[0-9]+}}, %rs{{[0-9]+}}, %rs{{[0-9]+}}};
// PTX-NOT: bar.sync

// The sum of squares is one fma a lane (vLLM's `variance += x * x`, which
// nvcc contracts), 32 a thread (4 chunks of 8), then the block sum:
// SSQ-COUNT-32: fma.rn.f32 {{%r[0-9]+}}, [[X:%r[0-9]+]], [[X]], {{%r[0-9]+|0f00000000}};
// SSQ-NOT: fma.rn.f32
// SSQ: shfl.sync.bfly.b32

// The residual form adds in bf16 (LLVM folds extf/addf/truncf into the
// native bf16x2 add, vLLM's half2 add) and stores the sum into the residual.
// ADD: .visible .entry fused_add_rms_norm_static_fp8_quant_h4096_bf16(
// ADD: add.rn.bf16x2
// ADD: st.global.v4.b32
// ADD: cvt.rn.satfinite.e4m3x2.f32

// Dynamic per-token quant (the fp8tok fixture): with and without the residual.
// RUN: rm -rf %t.tok && vllm-opt %S/../../../shared/fixtures/llama_fp8tok_custom_L2_dyn.json --config %S/../../examples/pass_config.json --emit-kernels %t.tok -o /dev/null 2>&1 | FileCheck %s --check-prefix=TOKLOG
// RUN: FileCheck %s --check-prefix=TOK --input-file %t.tok/rms_norm_dynamic_per_token_quant_residual_h4096_bf16.ptx
// RUN: not grep -h "extern .func" %t.tok/rms_norm_dynamic_per_token_quant_h4096_bf16.ptx %t.tok/rms_norm_dynamic_per_token_quant_residual_h4096_bf16.ptx
// With the unfused ops the fixture also needs (emit-kernels-unfused.mlir):
// TOKLOG: kernels: 6 unique for 11 sites
// The row max is an integer max of |y|'s bits (no libdevice fmaxf); the
// quant divides by the row scale as IEEE division rounds, through one
// reciprocal per row and a correction by fma per lane (not a div.rn each).
// TOK: .visible .entry rms_norm_dynamic_per_token_quant_residual_h4096_bf16(
// TOK: rsqrt.approx.f32
// TOK: max.bf16x2
// TOK: max.s32
// The row max of |y| is taken on y's packed bf16 lanes (max.bf16x2, two
// lanes an instruction, no widening for it), before the block's integer max.
// The lanes take no select: an infinite row scale is replaced by 0 in the
// correction once a row (body::div_by_max_scale).
// TOK: div.rn.f32
// TOK-NOT: div.rn.f32
// TOK: rcp.rn.f32 [[R:%r[0-9]+]], [[S:%r[0-9]+]];
// TOK: setp.eq.f32 [[INF:%p[0-9]+]], [[S]], 0f7F800000;
// TOK-NEXT: selp.f32 {{%r[0-9]+}}, 0f00000000, [[S]], [[INF]];
// TOK-NOT: {{selp|div.rn.f32}}
// TOK: fma.rn.f32
// TOK-NOT: {{selp|div.rn.f32}}
// TOK: cvt.rn.satfinite.e4m3x2.f32
// TOK-NOT: {{selp|div.rn.f32}}

// SiLU-and-mul + quant: exp as ex2.approx (no libdevice), IEEE division.
// SILU: .visible .entry silu_and_mul_quant_d14336_bf16(
// SILU: ex2.approx.f32
// SILU: div.rn.f32
// SILU: cvt.rn.satfinite.e4m3x2.f32
