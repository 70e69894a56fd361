//! `vllm-fuse-act-quant`: SiLU-and-mul + static FP8 quant -> one kernel.
use crate::fusion::{self, Check, Rule, V};
use mlir_support::{
    melior::ir::operation::OperationRef,
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};

pub static RULES: &[Rule] = &[Rule {
    name: "silu-mul-static-quant",
    rewrite: "static_scaled_fp8_quant(silu_and_mul(x), s) -> silu_and_mul_quant(x, s)",
    root: "vllm.static_scaled_fp8_quant",
    via: "input",
    producer: "vllm.silu_and_mul",
    producer_result: "result",
    checks: &[Check::OneUse(V::Prod("result"))],
    fused: "vllm.silu_and_mul_quant",
    operands: &[Some(V::Prod("input")), Some(V::Root("scale"))],
    attrs: &[],
    replaces: &[V::Root("result")],
}];

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fuse-act-quant",
    summary: "Fuse SiLU-and-mul with the static FP8 quant that follows it",
    description: "
vLLM's ActivationQuantFusionPass: `silu_and_mul` -> static FP8 quant =>
`silu_and_mul_quant`, when the activation has no other user. Not yet: the
decomposed `silu(x[..., :d]) * x[..., d:]` form and per-group quant.",
    anchor: Some("func.func"),
    options: &[crate::fusion::DEBUG_NODE],
    statistics: &[PassStatistic { name: "silu-mul-static-quant", description: "silu_and_mul + static quant fused" }],
    sources: &[include_str!("fuse_act_quant.rs"), include_str!("fusion.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseActQuantPass;

impl Pass for FuseActQuantPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, op: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        fusion::run(op, run, RULES)
    }
}
