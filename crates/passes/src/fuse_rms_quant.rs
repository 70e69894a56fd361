//! `vllm-fuse-rms-quant`: RMSNorm (+ residual add) + FP8 quant -> one kernel.
use crate::fusion::{self, Check, Rule, V};
use crate::native;
use mlir_support::{
    ir,
    melior::ir::{
        RegionLike, Value,
        operation::{OperationLike, OperationRef},
    },
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
    Rule {
        name: "rms-per-group-quant",
        rewrite: "per_token_group_fp8_quant(rms_norm(x, w)) -> rms_norm_per_block_quant(x, w)",
        root: "vllm.per_token_group_fp8_quant",
        via: "input",
        producer: "vllm.rms_norm",
        producer_result: "result",
        checks: GROUP_CHECKS_RMS,
        fused: "vllm.rms_norm_per_block_quant",
        operands: &[Some(Prod("input")), Some(Prod("weight")), None, None],
        attrs: &[("epsilon", Prod("epsilon")), ("group_size", Root("group_size")), ("is_scale_transposed", TRANSPOSED), TMA],
        replaces: &[Root("output_q"), Root("output_s")],
    },
    Rule {
        name: "fused-add-rms-per-group-quant",
        rewrite: "per_token_group_fp8_quant(fused_add_rms_norm(x, r, w)#0) -> rms_norm_per_block_quant(x, w, residual = r)",
        root: "vllm.per_token_group_fp8_quant",
        via: "input",
        producer: "vllm.fused_add_rms_norm",
        producer_result: "output",
        checks: GROUP_CHECKS_ADD,
        fused: "vllm.rms_norm_per_block_quant",
        operands: &[Some(Prod("input")), Some(Prod("weight")), None, Some(Prod("residual"))],
        attrs: &[("epsilon", Prod("epsilon")), ("group_size", Root("group_size")), ("is_scale_transposed", TRANSPOSED), TMA],
        replaces: &[Root("output_q"), Root("output_s"), Prod("residual_out")],
    },
];

/// vLLM's per-group quant constants (eps 1e-10, ±448), which every fused
/// per-group kernel bakes in (MLA attention's epilogue too).
pub(crate) const GROUP_CONSTANTS: [Check; 3] = [
    AttrIs(Root("eps"), "1.000000e-10 : f64"),
    AttrIs(Root("fp8_min"), "-4.480000e+02 : f64"),
    AttrIs(Root("fp8_max"), "4.480000e+02 : f64"),
];
/// What the fused per-group norm and SiLU kernels hard-code: the constants,
/// scales not rounded to powers of two, groups of 64 or 128 (vLLM builds
/// its per-block kernels for those two: another is "Unsupported group size"
/// at run time; its own passes register those two).
pub(crate) const GROUP_DEFAULTS: Check =
    All(&[All(&GROUP_CONSTANTS), AttrIs(Root("scale_ue8m0"), "false"), AttrIn(Root("group_size"), &["64 : i64", "128 : i64"])]);
/// The fused op pads column-major scales for TMA where the quant's did (vLLM
/// main's `dummy_is_tma_aligned`; left out where its vLLM's call has none).
pub(crate) const TMA: (&str, V) = ("is_scale_tma_aligned", Root("dummy_is_tma_aligned"));
/// The fused op writes the scales in the quant's layout: column-major where
/// vLLM main's call says so (CUTLASS's block-FP8 GEMM reads them so).
const TRANSPOSED: V = RootOr("dummy_is_scale_transposed", "false");
const GROUP_CHECKS_RMS: &[Check] =
    &[OneUse(Prod("result")), SameElementType(Prod("input"), Prod("weight")), GROUP_DEFAULTS, LaidOutAsFlagged(Root("output_s"))];
const GROUP_CHECKS_ADD: &[Check] =
    &[OneUse(Prod("output")), SameElementType(Prod("input"), Prod("weight")), GROUP_DEFAULTS, LaidOutAsFlagged(Root("output_s"))];

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
  (scale and residual rewired);
- `rms_norm` / `fused_add_rms_norm` -> `per_token_group_fp8_quant` (DeepSeek
  1×G groups, vLLM ≥ 0.12) => `rms_norm_per_block_quant` (with the residual),
  when the group quant has the fused kernel's constants (eps 1e-10, ±448, no
  power-of-two scales) and groups of 64 or 128 (the two vLLM builds the
  kernel for; another is an error at its first call); row-major scales, or column-major ones where vLLM
  main's call says so (`dummy_is_scale_transposed`: `is_scale_transposed`,
  and fix-functionalization gives the scales a transposed buffer), padded
  for TMA where it says that too (`dummy_is_tma_aligned`: our
  `is_scale_tma_aligned`, which vLLM's op reads from the buffer's strides;
  the buffer is `empty_strided([T, G], [1, round_up(T, 4)])`, as vLLM
  allocates it); never where the scales were recorded in another layout
  than the flags say (a call without flags, an older vLLM's, whose kernel
  reads column-major scales from their strides: the fused op would write
  rows). (vLLM main registers the
  pattern for power-of-two scales too; its fused op has no flag for them.)

Never when the normalized tensor has another user, when `scale_ub` is given,
for dynamic per-tensor quant (no rule), or when the input and weight element
types differ. With a residual, the fused per-token and per-group kernels add
in f32 without rounding the sum (fused_add_rms_norm rounds it): at most one
FP8 step apart, measured by tests/all/numerics.rs.

The decomposed ATen forms (custom ops off, vLLM's default under Inductor)
fuse too: a native RMSNorm (`to(f32)`, `pow`, `mean`, `add eps`, `rsqrt`,
`mul`, `to(T)`, `* w`, with or without the f32 residual add in front) that
feeds a native static quant (`* reciprocal(s)`, clamp ±448, `to(fp8)`) or a
custom quant is first raised to the custom op (recognizers in `native.rs`),
then the rules above apply. Chains that would not fuse are left as they are.
The native residual form normalizes the unrounded f32 sum while the fused
kernel normalizes the bf16 one (as in vLLM ≥ 0.12, which fuses this form
too): tests/all/numerics.rs measures it.",
    anchor: Some("func.func"),
    options: &[crate::fusion::DEBUG_NODE, crate::fusion::UNAVAILABLE_OPS, crate::fusion::CONTIGUOUS_INPUT_OPS],
    statistics: &[
        PassStatistic { name: "rms-static-quant", description: "rms_norm + static quant fused" },
        PassStatistic { name: "fused-add-rms-static-quant", description: "fused_add_rms_norm + static quant fused" },
        PassStatistic { name: "rms-dynamic-per-token-quant", description: "rms_norm + per-token quant fused" },
        PassStatistic { name: "fused-add-rms-dynamic-per-token-quant", description: "fused_add_rms_norm + per-token quant fused" },
        PassStatistic { name: "rms-per-group-quant", description: "rms_norm + per-group quant fused" },
        PassStatistic { name: "fused-add-rms-per-group-quant", description: "fused_add_rms_norm + per-group quant fused" },
        PassStatistic { name: "native-rms", description: "Decomposed RMSNorms raised to the custom op (then fused)" },
        PassStatistic { name: "native-quant", description: "Decomposed static quants raised to the custom op (then fused)" },
    ],
    sources: &[include_str!("fuse_rms_quant.rs"), include_str!("fusion.rs"), include_str!("native.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseRmsQuantPass;

impl Pass for FuseRmsQuantPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, op: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        raise_natives(op, run);
        fusion::run(op, run, RULES)
    }
}

fn is_norm_output(y: Value<'_, '_>) -> bool {
    native::producer_named(y, "vllm.rms_norm").is_some()
        || native::producer_named(y, "vllm.fused_add_rms_norm").is_some_and(|p| p.result(0).is_ok_and(|r| Value::from(r) == y))
}

/// Raises the native norms and quants that a rule above will then fuse:
/// native quant of (native or custom) norm, custom quant of a native norm.
fn raise_natives(func: OperationRef<'_, '_>, run: &PassRun<'_>) {
    let handle = ir::ContextHandle::of(&func);
    let ctx = handle.get();
    let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return };
    let (mut norms, mut quants) = (0u64, 0u64);
    let mut erased = std::collections::HashSet::new();
    for op in ir::block_ops(block) {
        if erased.contains(&ir::op_id(&op)) {
            continue;
        }
        let name = op.name();
        let name = name.as_string_ref().as_str().unwrap_or("");
        if native::is_quant_end(&op) {
            let Some(q) = op.result(0).ok().and_then(|r| native::static_quant(r.into()).ok()) else { continue };
            let y = q.input;
            if !native::single_use(y) {
                continue;
            }
            let input = if is_norm_output(y) {
                y
            } else {
                let Ok(m) = native::rms(y) else { continue };
                let Some(v) = native::raise_rms(ctx, block, &m, &mut erased) else { continue };
                norms += 1;
                v
            };
            if native::raise_quant(ctx, block, &q, input, &mut erased).is_some() {
                quants += 1;
            }
        } else if name == "vllm.static_scaled_fp8_quant" || (name == "vllm.dynamic_per_token_scaled_fp8_quant" && op.operand_count() == 1) {
            let Ok(y) = op.operand(0) else { continue };
            if !native::single_use(y) {
                continue;
            }
            if let Ok(m) = native::rms(y)
                && native::raise_rms(ctx, block, &m, &mut erased).is_some()
            {
                norms += 1;
            }
        }
    }
    run.bump("native-rms", norms);
    run.bump("native-quant", quants);
}
