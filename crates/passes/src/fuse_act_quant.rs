//! `vllm-fuse-act-quant`: SiLU-and-mul + its quant (static FP8, per-group FP8, NVFP4) -> one kernel.
use crate::fusion::{self, Check, Rule, V};
use crate::native;
use mlir_support::{
    ir,
    melior::ir::{
        RegionLike,
        operation::{OperationLike, OperationRef},
    },
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};

pub static RULES: &[Rule] = &[
    Rule {
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
    },
    Rule {
        name: "silu-mul-per-group-quant",
        rewrite: "per_token_group_fp8_quant(silu_and_mul(x)) -> silu_and_mul_per_block_quant(x)",
        root: "vllm.per_token_group_fp8_quant",
        via: "input",
        producer: "vllm.silu_and_mul",
        producer_result: "result",
        checks: &[
            Check::OneUse(V::Prod("result")),
            crate::fuse_rms_quant::GROUP_DEFAULTS,
            // vLLM's fused kernel writes column `g` at `g * T`, whatever the strides.
            Check::AttrIsOrAbsent(V::Root("dummy_is_tma_aligned"), "false"),
            Check::LaidOutAsFlagged(V::Root("output_s")),
        ],
        fused: "vllm.silu_and_mul_per_block_quant",
        operands: &[Some(V::Prod("input")), None],
        // The quant's scale layout (left out where its vLLM's call has none).
        attrs: &[("group_size", V::Root("group_size")), ("is_scale_transposed", V::Root("dummy_is_scale_transposed"))],
        replaces: &[V::Root("output_q"), V::Root("output_s")],
    },
    Rule {
        name: "silu-mul-nvfp4-quant",
        rewrite: "scaled_fp4_quant(silu_and_mul(x), g) -> silu_and_mul_nvfp4_quant(x, g)",
        root: "vllm.scaled_fp4_quant",
        via: "input",
        producer: "vllm.silu_and_mul",
        producer_result: "result",
        checks: &[Check::OneUse(V::Prod("result"))],
        fused: "vllm.silu_and_mul_nvfp4_quant",
        operands: &[Some(V::Prod("input")), Some(V::Root("input_scale"))],
        attrs: &[],
        replaces: &[V::Root("output"), V::Root("output_scale")],
    },
    // vLLM main's call of the same quant (the `.out` overload); its pattern takes the swizzled layout only.
    Rule {
        name: "silu-mul-nvfp4-quant",
        rewrite: "scaled_fp4_quant.out(silu_and_mul(x), g, swizzled) -> silu_and_mul_nvfp4_quant(x, g)",
        root: "vllm.scaled_fp4_quant_out",
        via: "input",
        producer: "vllm.silu_and_mul",
        producer_result: "result",
        checks: &[Check::OneUse(V::Prod("result")), Check::AttrIs(V::Root("is_sf_swizzled_layout"), "true")],
        fused: "vllm.silu_and_mul_nvfp4_quant",
        operands: &[Some(V::Prod("input")), Some(V::Root("input_scale"))],
        attrs: &[],
        replaces: &[V::Root("output"), V::Root("output_scale")],
    },
];

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fuse-act-quant",
    summary: "Fuse SiLU-and-mul with the static FP8 quant that follows it",
    description: "
vLLM's ActivationQuantFusionPass: `silu_and_mul` -> static FP8 quant =>
`silu_and_mul_quant`, when the activation has no other user. The decomposed
form fuses too: `F.silu(x[..., :d]) * x[..., d:]` (as `aten.silu` or as
`to(a/(1+exp(-a)), T)`) feeding a native or custom static quant is raised to
the custom ops first (`native.rs`); both compute the same values. So does
the decomposed form feeding a custom per-group quant with the fused
kernel's constants, or an NVFP4 quant (vLLM fuses only the custom op
there).
`silu_and_mul` -> `per_token_group_fp8_quant` => `silu_and_mul_per_block_quant`
when the group quant has the fused kernel's constants (eps 1e-10, ±448,
groups of 64 or 128, the two vLLM builds it for; no power-of-two scales,
not TMA-padded: vLLM's fused kernel writes column `g`
of the scales at `g * T` whatever their strides; vLLM 0.33 registers its
SiluMulBlockQuantPattern for UE8M0 and TMA-padded quants too, and its
replacement passes neither to a kernel that has no flag for them: plain
scales, unpadded, where the quant wrote powers of two in padded rows), in
the quant's scale
layout (vLLM main's `dummy_is_scale_transposed` becomes
`is_scale_transposed`; vLLM 0.11's call has neither, and fuses only where
its scales were recorded as rows). `silu_and_mul` -> `scaled_fp4_quant` (NVFP4) =>
`silu_and_mul_nvfp4_quant` (vLLM 0.11's SiluMulNvfp4QuantPattern; vLLM
main's quant, `scaled_fp4_quant.out`, when its scales are swizzled); the fused
op keeps the quant's recorded shapes, so its block-scale buffer gets
`round_up(T, 128)` rows. vLLM registers that pattern only where its CUDA
build has the fused kernel (SM100); a graph with `scaled_fp4_quant` in it
comes from such a build.",
    anchor: Some("func.func"),
    options: &[crate::fusion::DEBUG_NODE, crate::fusion::UNAVAILABLE_OPS, crate::fusion::CONTIGUOUS_INPUT_OPS],
    statistics: &[
        PassStatistic { name: "silu-mul-static-quant", description: "silu_and_mul + static quant fused" },
        PassStatistic { name: "silu-mul-per-group-quant", description: "silu_and_mul + per-group quant fused" },
        PassStatistic { name: "silu-mul-nvfp4-quant", description: "silu_and_mul + NVFP4 quant fused" },
        PassStatistic { name: "native-silu-mul", description: "Decomposed SiLU-and-muls raised to the custom op (then fused)" },
        PassStatistic { name: "native-quant", description: "Decomposed static quants raised to the custom op (then fused)" },
    ],
    sources: &[include_str!("fuse_act_quant.rs"), include_str!("fusion.rs"), include_str!("native.rs"), include_str!("fuse_rms_quant.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseActQuantPass;

impl Pass for FuseActQuantPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, op: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        raise_natives(op, run);
        fusion::run(op, run, RULES)
    }
}

/// Raises native silu-mul and quant chains that the rule will then fuse.
fn raise_natives(func: OperationRef<'_, '_>, run: &PassRun<'_>) {
    let handle = ir::ContextHandle::of(&func);
    let ctx = handle.get();
    let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return };
    let (mut acts, mut quants) = (0u64, 0u64);
    let mut erased = std::collections::HashSet::new();
    for op in ir::block_ops(block) {
        if erased.contains(&ir::op_id(&op)) {
            continue;
        }
        let native_quant =
            if native::is_quant_end(&op) { op.result(0).ok().and_then(|r| native::static_quant(r.into()).ok()) } else { None };
        // A custom quant that a rule would fuse with a silu_and_mul producing its input.
        let name = op.name();
        let rule = RULES.iter().find(|r| Ok(r.root) == name.as_string_ref().as_str() && r.producer == "vllm.silu_and_mul");
        let y = match (&native_quant, rule.and_then(|r| fusion::root_input(ctx, r, op))) {
            (Some(q), _) => q.input,
            (None, Some(y)) => y,
            (None, None) => continue,
        };
        if !native::single_use(y) {
            continue;
        }
        let input = if native::producer_named(y, "vllm.silu_and_mul").is_some() {
            y
        } else {
            let Ok(m) = native::silu_mul(y) else { continue };
            let Some(v) = native::raise_silu_mul(ctx, block, &m, &mut erased) else { continue };
            acts += 1;
            v
        };
        if let Some(q) = &native_quant
            && native::raise_quant(ctx, block, q, input, &mut erased).is_some()
        {
            quants += 1;
        }
    }
    run.bump("native-silu-mul", acts);
    run.bump("native-quant", quants);
}
