//! `vllm-fuse-rms-quant`: RMSNorm (+ residual add) + FP8 quant -> one kernel.
use crate::fusion::{self, Check, Rule, V};
use crate::native;
use mlir_support::{
    ir,
    melior::ir::{
        Attribute, BlockLike, BlockRef, Identifier, RegionLike, ShapedTypeLike, Type, Value, ValueLike,
        attribute::{DenseI64ArrayAttribute, StringAttribute},
        operation::{OperationBuilder, OperationLike, OperationRef},
        r#type::DimSize,
    },
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};
use vllm_dialect::provenance;

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
too): tests/all/numerics.rs measures it.

First, as vLLM main's RMSNormReshapeFusionPass does for the Transformers
backend (whose rows are `[1, T, H]`, flattened to `[T, H]` by the linear
layer after the norm), a flatten `reshape(norm, [-1, H])` that is the norm
output's only reader moves ahead of the norm (`rms_norm`, or
`fused_add_rms_norm` with its residual flattened too and its new residual
reshaped back before its first reader): exact, as the norm is row-wise;
then the rules see the norm and the quant together (statistic
`flatten-before-norm`; vLLM runs it only for that backend, here it runs
wherever the pattern is).",
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
        PassStatistic {
            name: "flatten-before-norm",
            description: "Flattens of a norm's [.., T, H] rows moved ahead of it (Transformers backend)",
        },
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
        run.bump("flatten-before-norm", flatten_before_norms(op));
        fusion::run(op, run, RULES)
    }
}

/// vLLM main's RMSNormReshapeFusionPass: `reshape(rms_norm(x, w), [-1, H])`
/// -> `rms_norm(reshape(x, [-1, H]), w)`, and for `fused_add_rms_norm` the
/// input and residual flattened, its new residual reshaped back to the old
/// shape. The Transformers backend's rows are `[1, T, H]` and its linear
/// layers flatten the norm's output before they quantize it, which hides
/// the norm from the quant; a norm is row-wise, so the flatten moves ahead
/// of it exactly. The flattens are `reshape`s (an input may be strided,
/// where a `view` fails); the output's has the old flatten's record, the
/// new norm is a pass's op (its record: the rows it writes; functional
/// where the old one was). Returns the count.
fn flatten_before_norms(func: OperationRef<'_, '_>) -> u64 {
    let handle = ir::ContextHandle::of(&func);
    let ctx = handle.get();
    let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return 0 };
    let mut count = 0;
    for norm in ir::block_ops(block) {
        if flatten_before(ctx, block, norm).is_some() {
            count += 1;
        }
    }
    count
}

fn flatten_before<'c: 'a, 'a>(ctx: &'c mlir_support::melior::Context, block: BlockRef<'c, 'a>, norm: OperationRef<'c, 'a>) -> Option<()> {
    let name = norm.name();
    let name = name.as_string_ref().as_str().ok()?.to_string();
    let with_residual = match name.as_str() {
        "vllm.rms_norm" => false,
        "vllm.fused_add_rms_norm" => true,
        _ => return None,
    };
    let def = vllm_dialect::op(&name)?;
    let inputs: Vec<Value> = norm.operands().collect();
    let (x, w) = (*inputs.first()?, *inputs.last()?);
    let y: Value = norm.result(0).ok()?.into();
    let [flat] = ir::users(y).try_into().ok()?;
    let kind = flat.name();
    if !matches!(kind.as_string_ref().as_str(), Ok("aten.reshape" | "aten.view")) || flat.operand_count() != 1 {
        return None;
    }
    let rows: Value = flat.result(0).ok()?.into();
    let (xt, rt) = (ir::ranked_tensor(x.r#type())?, ir::ranked_tensor(rows.r#type())?);
    let DimSize::Static(h) = xt.dim_size(xt.rank().checked_sub(1)?).ok()? else { return None };
    let shape = DenseI64ArrayAttribute::try_from(flat.attribute("shape").ok()?).ok()?;
    let entries: Vec<i64> = (0..shape.len()).filter_map(|i| shape.element(i).ok()).collect();
    if xt.rank() < 3 || rt.rank() != 2 || entries != [-1, h as i64] || rt.element() != xt.element() {
        return None;
    }
    // The old shape of the new residual, for its reshape back: one dynamic dim (the -1).
    let back: Vec<i64> = (0..xt.rank())
        .map(|i| match xt.dim_size(i) {
            Ok(DimSize::Static(d)) => d as i64,
            _ => -1,
        })
        .collect();
    if with_residual && back.iter().filter(|d| **d == -1).count() != 1 {
        return None;
    }
    // The new residual's readers, all in this block (checked before anything is built).
    let old_residual: Option<Value> = if with_residual { Some(norm.result(1).ok()?.into()) } else { None };
    let readers = old_residual.map(ir::users).unwrap_or_default();
    if readers.iter().any(|r| r.block() != Some(block)) || flat.block() != Some(block) {
        return None;
    }
    let reshape = |v: Value<'c, 'a>, to: &[i64], ty: Type<'c>, attrs: &[(Identifier<'c>, Attribute<'c>)], before: OperationRef<'c, 'a>| {
        let mut all = vec![(Identifier::new(ctx, "shape"), DenseI64ArrayAttribute::new(ctx, to).into())];
        all.extend(attrs.iter().filter(|(n, _)| n.as_string_ref().as_str() != Ok("shape")).cloned());
        let op = OperationBuilder::new("aten.reshape", flat.location())
            .add_operands(&[v])
            .add_results(&[ty])
            .add_attributes(&all)
            .build()
            .ok()?;
        Some(Value::from(block.insert_operation_before(before, op).result(0).ok()?))
    };
    // The input's flatten has the old flatten's record (the same rows); the residual's none.
    let recorded: Vec<(Identifier, Attribute)> = flat.attributes().collect();
    let mut operands = vec![reshape(x, &entries, rows.r#type(), &recorded, norm)?];
    if with_residual {
        operands.push(reshape(*inputs.get(1)?, &entries, rows.r#type(), &[], norm)?);
    }
    operands.push(w);
    let mut attrs = vec![(Identifier::new(ctx, "epsilon"), norm.attribute("epsilon").ok()?)];
    let functional = ir::string_attr(&norm, provenance::FUNCTIONAL);
    if let Some(target) = &functional {
        attrs.push((Identifier::new(ctx, provenance::FUNCTIONAL), StringAttribute::new(ctx, target).into()));
    }
    let types = vec![rows.r#type(); 1 + with_residual as usize];
    let op =
        OperationBuilder::new(&name, norm.location()).add_operands(&operands).add_results(&types).add_attributes(&attrs).build().ok()?;
    // Everything before the old norm: its operands are defined there, and its readers come after.
    let new_norm = block.insert_operation_before(norm, op);
    let mut replaced = vec![rows];
    if let Some(old_residual) = old_residual {
        let res2d: Value = new_norm.result(1).ok()?.into();
        // Before its first reader, as late as it may go: a fusion of the new
        // norm skips a match whose residual is read before the quant.
        if let Some(first) = readers.iter().copied().reduce(|a, b| if b.is_before_in_block(a) { b } else { a }) {
            let back_value = reshape(res2d, &back, old_residual.r#type(), &[], first)?;
            ir::replace_all_uses(old_residual, back_value);
        }
        replaced.push(res2d);
    }
    // (The flattened rows' record; none with a residual, whose old record is of the old rows.)
    fusion::keep_recorded_meta(ctx, new_norm, def, &replaced, functional.is_some());
    ir::replace_all_uses(rows, new_norm.result(0).ok()?.into());
    ir::erase(flat);
    ir::erase(norm);
    Some(())
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
