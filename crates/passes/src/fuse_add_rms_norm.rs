//! `vllm-fuse-add-rms-norm`: a residual add in the activation type feeding
//! an RMSNorm -> `fused_add_rms_norm` (vLLM main's AddRMSNormFusionPass).
use crate::fusion::{self, Check, Rule, V};
use crate::native;
use mlir_support::{
    ir,
    melior::ir::{
        RegionLike, ValueLike,
        operation::{OperationLike, OperationRef},
    },
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};

pub static RULES: &[Rule] = &[Rule {
    name: "add-rms-norm",
    rewrite: "rms_norm(add(x, r), w) -> fused_add_rms_norm(x, r, w)",
    root: "vllm.rms_norm",
    via: "input",
    producer: "aten.add",
    producer_result: "result",
    // No broadcasting: the kernel adds two rows of the same shape and type.
    checks: &[Check::SameType(V::Prod("self"), V::Prod("other")), Check::SameType(V::Prod("self"), V::Root("input"))],
    fused: "vllm.fused_add_rms_norm",
    operands: &[Some(V::Prod("self")), Some(V::Prod("other")), Some(V::Root("weight"))],
    attrs: &[("epsilon", V::Root("epsilon"))],
    replaces: &[V::Root("result"), V::Prod("result")],
}];

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fuse-add-rms-norm",
    summary: "Fuse a residual add with the RMSNorm that reads it into fused_add_rms_norm",
    description: "
vLLM main's AddRMSNormFusionPass, for models whose residual add is a plain
tensor add (the Transformers backend: `hidden = residual + hidden`, then the
norm without a residual argument):

    %z = aten.add(%x, %r); %y = vllm.rms_norm(%z, %w)
      -> %y, %z = vllm.fused_add_rms_norm(%x, %r, %w)

The add may have any number of other readers (the residual stream reads
`%z` again): they read the fused op's new residual. The result is bit for
bit the same: the kernel adds in the activation type and rounds once, as
`aten.add` does, then normalizes that sum (numerics::add_rms_norm_fusion).
The fusions after it then see vLLM's fused op: + static FP8 quant
(`vllm-fuse-rms-quant`), all-reduce + add + norm (`vllm-fuse-allreduce-rms`)
and sequence parallelism. A decomposed RMSNorm without residual (vLLM's
native one, custom ops off) of such an add is raised to the custom op first.

On vLLM main's IR (`vllm_ir.rms_norm`, marked `fx.functional`) the fused
op is the IR `fused_add_rms_norm`, functional, as vLLM's pattern writes it:
vLLM's IR lowering picks its kernel.

Never when the two addends differ in shape or type (a broadcast bias is not
a residual), when the sum is read before the norm, or when the add takes an
`alpha` (imported as `torch.operator`, not `aten.add`).

Runs where a pass that fuses or shards `fused_add_rms_norm` runs:
`fuse_norm_quant`, `fuse_allreduce_rms` or `enable_sp` (vLLM gates it on
the Transformers backend, which vllm-opt cannot see; the pattern itself
does not occur in vLLM's own models, which call the fused op).",
    anchor: Some("func.func"),
    options: &[crate::fusion::DEBUG_NODE, crate::fusion::UNAVAILABLE_OPS, crate::fusion::CONTIGUOUS_INPUT_OPS],
    statistics: &[
        PassStatistic { name: "add-rms-norm", description: "add + rms_norm fused" },
        PassStatistic { name: "native-rms", description: "Decomposed RMSNorms of an add raised to the custom op (then fused)" },
    ],
    sources: &[include_str!("fuse_add_rms_norm.rs"), include_str!("fusion.rs"), include_str!("native.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseAddRmsNormPass;

impl Pass for FuseAddRmsNormPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, op: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        run.bump("native-rms", raise_natives(op));
        fusion::run(op, run, RULES)
    }
}

/// Raises each decomposed RMSNorm without a residual that the rule will
/// then fuse (an `aten.add` of two values of its input's type, the sum read
/// before the norm by nothing else; an unfused native chain stays as it
/// is); returns how many.
fn raise_natives(func: OperationRef<'_, '_>) -> u64 {
    let handle = ir::ContextHandle::of(&func);
    let ctx = handle.get();
    let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return 0 };
    native::raise_rms_where(ctx, block, &mut std::collections::HashSet::new(), |m, end| {
        let Some(add) = native::producer_named(m.x, "aten.add").filter(|_| m.residual.is_none()) else { return false };
        let same = add.operands().all(|v| v.r#type() == m.x.r#type());
        let after = ir::users(m.x).iter().all(|u| m.ops.contains(u) || end.is_before_in_block(*u));
        same && after
    })
}
