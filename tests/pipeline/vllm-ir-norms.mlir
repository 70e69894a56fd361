// vLLM main's IR norms (and quants, below) on graphs Inductor captured with the token count
// dynamic (python/torch_tests/test_vllm_ir.py, which also checks eager's
// bytes): `torch.ops.vllm_ir.rms_norm` and `fused_add_rms_norm` are
// functional calls that vLLM lowers to a kernel after its passes. They import
// as `vllm.rms_norm` / `vllm.fused_add_rms_norm` (marked `fx.functional`), so every
// norm fusion applies: here each quantized norm becomes vLLM's fused kernel,
// as vLLM main's RMSNormQuantFusionPass does. The norm nothing fuses stays
// the functional IR call, for vLLM's lowering to pick its kernel.
// RUN: vllm-opt %S/inputs/vllm_ir_norms_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' 2>/dev/null | FileCheck %s --check-prefix=FUSED
// RUN: vllm-opt %S/inputs/vllm_ir_norms_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' --emit fx-json 2>/dev/null | FileCheck %s --check-prefix=FX
// The residual input vLLM main marks donated (its model passed it to
// `fused_add_rms_norm.maybe_inplace`; VllmOptPass forwards the names): the
// fused kernel writes it in place, with no copy. Donating another input does not.
// RUN: vllm-opt %S/inputs/vllm_ir_norms_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true, "donated_inputs": ["arg4_1"]}' 2>&1 | FileCheck %s --check-prefix=DONATED
// RUN: vllm-opt %S/inputs/vllm_ir_norms_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true, "donated_inputs": ["arg1_1"]}' 2>&1 | FileCheck %s --check-prefix=KEPT
// A residual add and the IR norm of the sum (Transformers-style): fused into
// the IR fused_add_rms_norm, functional, as vLLM main's AddRMSNormPattern
// writes it, and exported as that call with its two results.
// RUN: vllm-opt %S/inputs/vllm_ir_add_norm_inductor.json --config '{"fuse_norm_quant": true, "eliminate_noops": true}' | FileCheck %s --check-prefix=ADD
// RUN: vllm-opt %S/inputs/vllm_ir_add_norm_inductor.json --config '{"fuse_norm_quant": true, "eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=ADDFX
// Fusion off: the IR norms stay functional calls; only the custom quants go in place.
// RUN: vllm-opt %S/inputs/vllm_ir_norms_inductor.json --config '{"eliminate_noops": true}' | FileCheck %s --check-prefix=OFF
// RUN: vllm-opt %S/inputs/vllm_ir_norms_inductor.json --config '{"eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=OFFFX
// vLLM main's newest form, its quants IR ops too (vllm_ir.static_quant_fp8,
// dynamic_quant_fp8): the norm + static quant and the add + norm + per-token
// quant fuse into vLLM's kernels; a static quant with per-token scales
// ([T, 1], which `vllm.static_scaled_fp8_quant` does not model) stays opaque.
// RUN: vllm-opt %S/inputs/vllm_ir_quants_inductor.json --config '{"enable_fusion": true, "eliminate_noops": true}' 2>/dev/null | FileCheck %s --check-prefix=QUANTS
// RUN: vllm-opt %S/inputs/vllm_ir_quants_inductor.json --config '{"eliminate_noops": true}' --emit fx-json | FileCheck %s --check-prefix=QOFF

// FUSED: "vllm.rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %arg2, %arg3) {epsilon = 9.9999999999999995E-7 : f64}
// FUSED: %[[R:.*]] = "aten.clone"(%arg4)
// FUSED: "vllm.fused_add_rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %[[R]], %arg2, %arg3)
// FUSED: %[[N:.*]] = "vllm.rms_norm"(%[[R]], %arg5) {{{.*}}fx.functional = "torch.ops.vllm_ir.rms_norm.default"
// FUSED-NOT: vllm.static_scaled_fp8_quant
// FUSED: return {{.*}}, %[[R]], %[[N]]

// FX: "target":"torch.ops._C.rms_norm_static_fp8_quant.default"
// FX: "target":"torch.ops._C.fused_add_rms_norm_static_fp8_quant.default"
// FX: "name":"rms_norm_1","op":"call_function","target":"torch.ops.vllm_ir.rms_norm.default","args":[{"node":"clone"},{"node":"arg5_1"},1e-6],"kwargs":{}
// FX-NOT: vllm_ir.fused_add_rms_norm

// OFF: %[[N:.*]] = "vllm.rms_norm"(%arg1, %arg2) {{{.*}}fx.functional = "torch.ops.vllm_ir.rms_norm.default"
// OFF: "vllm.static_scaled_fp8_quant_"(%{{.*}}, %[[N]], %arg3)
// OFF: %[[F:.*]]:2 = "vllm.fused_add_rms_norm"(%arg1, %arg4, %arg2) {{{.*}}fx.functional = "torch.ops.vllm_ir.fused_add_rms_norm.default"
// OFF: "vllm.static_scaled_fp8_quant_"(%{{.*}}, %[[F]]#0, %arg3)
// OFF: "vllm.rms_norm"(%[[F]]#1, %arg5)
// OFF-NOT: vllm.rms_norm_"
// OFF-NOT: vllm.fused_add_rms_norm_"

// OFFFX: "name":"rms_norm","op":"call_function","target":"torch.ops.vllm_ir.rms_norm.default","args":[{"node":"arg1_1"},{"node":"arg2_1"},1e-6]
// OFFFX: "name":"fused_add_rms_norm","op":"call_function","target":"torch.ops.vllm_ir.fused_add_rms_norm.default","args":[{"node":"arg1_1"},{"node":"arg4_1"},{"node":"arg2_1"},1e-6]
// OFFFX: "target":"operator.getitem","args":[{"node":"fused_add_rms_norm"},0]
// OFFFX: "target":"operator.getitem","args":[{"node":"fused_add_rms_norm"},1]

// QUANTS: %[[R:.*]] = "aten.clone"(%arg4)
// QUANTS: "vllm.rms_norm_dynamic_per_token_quant_"(%{{.*}}, %arg1, %arg2, %{{.*}}, %[[R]]) {epsilon = 9.9999999999999995E-7 : f64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 1>}
// QUANTS: "vllm.rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %arg2, %arg3)
// QUANTS: "torch.operator"(%[[R]], %arg5) {{{.*}}target = "torch.ops.vllm_ir.static_quant_fp8.default"}
// QUANTS-NOT: fx.functional

// Fusion off: every modeled IR call exports back as it came, positional, the dtype included.
// QOFF: "target":"torch.ops.vllm_ir.fused_add_rms_norm.default","args":[{"node":"arg1_1"},{"node":"arg4_1"},{"node":"arg2_1"},1e-6]
// QOFF: "target":"torch.ops.vllm_ir.dynamic_quant_fp8.default","args":[{"node":"getitem"},true,{"dtype":"float8_e4m3fn"}]
// QOFF: "target":"torch.ops.vllm_ir.rms_norm.default","args":[{"node":"arg1_1"},{"node":"arg2_1"},1e-6]
// QOFF: "target":"torch.ops.vllm_ir.static_quant_fp8.default","args":[{"node":"rms_norm"},{"node":"arg3_1"},{"dtype":"float8_e4m3fn"}]
// QOFF: "target":"torch.ops.vllm_ir.static_quant_fp8.default","args":[{"node":"getitem_1"},{"node":"arg5_1"},{"dtype":"float8_e4m3fn"}]

// DONATED-NOT: aten.clone
// DONATED-NOT: remark
// DONATED: "vllm.fused_add_rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %arg4, %arg2, %arg3)

// KEPT: remark: copied 'residual' before writing it in place: its storage is graph input #4, which the caller still owns (not donated)
// KEPT: %[[R:.*]] = "aten.clone"(%arg4)
// KEPT: "vllm.fused_add_rms_norm_static_fp8_quant_"(%{{.*}}, %arg1, %[[R]], %arg2, %arg3)

// ADD: %[[F:.*]]:2 = "vllm.fused_add_rms_norm"(%arg1, %arg2, %arg3) {epsilon = 9.9999999999999995E-7 : f64, fx.functional = "torch.ops.vllm_ir.fused_add_rms_norm.default", fx.meta = "[{
// ADD-NOT: aten.add
// ADD-NOT: vllm.fused_add_rms_norm_
// ADD: return %[[F]]#0, %[[F]]#1

// ADDFX: "name":"fused_add_rms_norm","op":"call_function","target":"torch.ops.vllm_ir.fused_add_rms_norm.default","args":[{"node":"arg1_1"},{"node":"arg2_1"},{"node":"arg3_1"},1e-6],"kwargs":{},"meta":{"val":[{
// ADDFX: "target":"operator.getitem","args":[{"node":"fused_add_rms_norm"},0]
// ADDFX: "target":"operator.getitem","args":[{"node":"fused_add_rms_norm"},1]
