//! `vllm-fuse-rms-quant`: RMSNorm (+ residual add) + FP8 quant -> one kernel.
use crate::fusion::{self, Check, Rule, V};
use mlir_support::{
    melior::ir::operation::OperationRef,
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};

use Check::*;
use V::*;

/// The rules, most specific first. Any epsilon: it is an attribute, copied.
pub static RULES: &[Rule] = &[
    Rule {
        name: "rms-static-quant",
        rewrite: "static_scaled_fp8_quant(rms_norm(x, w), s) -> rms_norm_static_fp8_quant(x, w, s)",
        root: "vllm.static_scaled_fp8_quant",
        via: "input",
        producer: "vllm.rms_norm",
        producer_result: "result",
        checks: &[OneUse(Prod("result")), SameElementType(Prod("input"), Prod("weight"))],
        fused: "vllm.rms_norm_static_fp8_quant",
        operands: &[Some(Prod("input")), Some(Prod("weight")), Some(Root("scale"))],
        attrs: &[("epsilon", Prod("epsilon"))],
        replaces: &[Root("result")],
    },
    Rule {
        name: "fused-add-rms-static-quant",
        rewrite: "static_scaled_fp8_quant(fused_add_rms_norm(x, r, w)#0, s) -> fused_add_rms_norm_static_fp8_quant(x, r, w, s)",
        root: "vllm.static_scaled_fp8_quant",
        via: "input",
        producer: "vllm.fused_add_rms_norm",
        producer_result: "output",
        checks: &[OneUse(Prod("output")), SameElementType(Prod("input"), Prod("weight"))],
        fused: "vllm.fused_add_rms_norm_static_fp8_quant",
        operands: &[Some(Prod("input")), Some(Prod("residual")), Some(Prod("weight")), Some(Root("scale"))],
        attrs: &[("epsilon", Prod("epsilon"))],
        replaces: &[Root("result"), Prod("residual_out")],
    },
    Rule {
        name: "rms-dynamic-per-token-quant",
        rewrite: "dynamic_per_token_scaled_fp8_quant(rms_norm(x, w)) -> rms_norm_dynamic_per_token_quant(x, w)",
        root: "vllm.dynamic_per_token_scaled_fp8_quant",
        via: "input",
        producer: "vllm.rms_norm",
        producer_result: "result",
        checks: &[OneUse(Prod("result")), Absent(Root("scale_ub")), SameElementType(Prod("input"), Prod("weight"))],
        fused: "vllm.rms_norm_dynamic_per_token_quant",
        operands: &[Some(Prod("input")), Some(Prod("weight")), None, None],
        attrs: &[("epsilon", Prod("epsilon"))],
        replaces: &[Root("result"), Root("scale")],
    },
    Rule {
        name: "fused-add-rms-dynamic-per-token-quant",
        rewrite: "dynamic_per_token_scaled_fp8_quant(fused_add_rms_norm(x, r, w)#0) -> rms_norm_dynamic_per_token_quant(x, w, residual = r)",
        root: "vllm.dynamic_per_token_scaled_fp8_quant",
        via: "input",
        producer: "vllm.fused_add_rms_norm",
        producer_result: "output",
        checks: &[OneUse(Prod("output")), Absent(Root("scale_ub")), SameElementType(Prod("input"), Prod("weight"))],
        fused: "vllm.rms_norm_dynamic_per_token_quant",
        operands: &[Some(Prod("input")), Some(Prod("weight")), None, Some(Prod("residual"))],
        attrs: &[("epsilon", Prod("epsilon"))],
        replaces: &[Root("result"), Root("scale"), Prod("residual_out")],
    },
];

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fuse-rms-quant",
    summary: "Fuse RMSNorm (+ residual add) with the FP8 quant that follows it",
    description: "
vLLM's FusionPass (RMSNormQuantFusionPass), for any epsilon (vLLM registers
patterns for 1e-5 and 1e-6 only):

- `rms_norm` -> static FP8 quant => `rms_norm_static_fp8_quant`;
- `fused_add_rms_norm` -> static quant => `fused_add_rms_norm_static_fp8_quant`
  (the new residual is rewired);
- `rms_norm` -> dynamic per-token quant => `rms_norm_dynamic_per_token_quant`;
- `fused_add_rms_norm` -> dynamic per-token quant => the same op with a residual
  (scale and residual rewired).

Never when the normalized tensor has another user, when `scale_ub` is given,
for dynamic per-tensor quant (no rule), or when the input and weight element
types differ. Not yet: the decomposed ATen forms and per-group quant.",
    anchor: Some("func.func"),
    options: &[crate::fusion::DEBUG_NODE],
    statistics: &[
        PassStatistic { name: "rms-static-quant", description: "rms_norm + static quant fused" },
        PassStatistic { name: "fused-add-rms-static-quant", description: "fused_add_rms_norm + static quant fused" },
        PassStatistic { name: "rms-dynamic-per-token-quant", description: "rms_norm + per-token quant fused" },
        PassStatistic { name: "fused-add-rms-dynamic-per-token-quant", description: "fused_add_rms_norm + per-token quant fused" },
    ],
    sources: &[include_str!("fuse_rms_quant.rs"), include_str!("fusion.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseRmsQuantPass;

impl Pass for FuseRmsQuantPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, op: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        fusion::run(op, run, RULES)
    }
}
