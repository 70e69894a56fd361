//! `vllm-fuse-attn-quant`: attention whose output feeds a static FP8 quant
//! writes FP8 directly.
use crate::native;
use mlir_support::{
    ir,
    melior::ir::{
        Attribute, BlockLike, Identifier, Location, RegionLike, ShapedTypeLike, Type, Value, ValueLike,
        operation::{OperationBuilder, OperationLike, OperationRef},
        r#type::RankedTensorType,
    },
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fuse-attn-quant",
    summary: "Let attention write FP8 when its output feeds a static FP8 quant",
    description: "
vLLM's AttnFusionPass, one rule for every layer (the layer name is an
attribute, not part of the pattern):

    static_scaled_fp8_quant(reshape?(unified_attention_with_output(q, k, v)), s)
      -> reshape?(unified_attention_with_output(q, k, v, output_scale = s))

The attention then quantizes in its epilogue and the quant disappears. The
reshape between them (`[T, H, D] -> [T, H*D]`, as vLLM's graphs have it) is
kept, on FP8 data. Never when the attention output or the reshape has another
user, or when the attention already has an `output_scale`.",
    anchor: Some("func.func"),
    options: &[],
    statistics: &[
        PassStatistic { name: "attn-static-quant", description: "attention + static quant fused" },
        PassStatistic { name: "native-quant", description: "Decomposed static quants raised to the custom op (then fused)" },
    ],
    sources: &[include_str!("fuse_attn_quant.rs"), include_str!("native.rs")],
};

const ATTN: &str = "vllm.unified_attention_with_output";
const RESHAPES: &[&str] = &["aten.reshape", "aten.view"];

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseAttnQuantPass;

fn producer<'c, 'a>(v: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    ir::producer(v)
}

fn name_is(op: &OperationRef<'_, '_>, names: &[&str]) -> bool {
    op.name().as_string_ref().as_str().is_ok_and(|n| names.contains(&n))
}

/// `t` with element type `elem` (same shape).
pub(crate) fn with_element<'c>(t: Type<'c>, elem: Type<'c>) -> Option<Type<'c>> {
    let r = ir::ranked_tensor(t)?;
    let dims: Vec<u64> = (0..r.rank())
        .map(|i| match r.dim_size(i) {
            Ok(mlir_support::melior::ir::r#type::DimSize::Static(d)) => d,
            _ => i64::MIN as u64,
        })
        .collect();
    Some(RankedTensorType::new(&dims, elem, None).into())
}

/// Semantic attributes (provenance `fx.*` describes the old op and is dropped).
fn semantic_attrs<'c>(op: &OperationRef<'c, '_>) -> Vec<(Identifier<'c>, Attribute<'c>)> {
    op.attributes().filter(|(id, _)| !id.as_string_ref().as_str().unwrap_or("").starts_with("fx.")).collect()
}

impl Pass for FuseAttnQuantPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&self, func: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let handle = ir::ContextHandle::of(&func);
        let ctx = handle.get();
        let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return Ok(()) };
        raise_native_quants(ctx, block, run);
        let mut fused = 0u64;
        for quant in ir::block_ops(block) {
            if !name_is(&quant, &["vllm.static_scaled_fp8_quant"]) || quant.operand_count() != 2 {
                continue;
            }
            let (Ok(input), Ok(scale)) = (quant.operand(0), quant.operand(1)) else { continue };
            let Some(mut p) = producer(input) else { continue };
            let reshape = if name_is(&p, RESHAPES) { Some(p) } else { None };
            if let Some(r) = reshape {
                if ir::users(input).len() != 1 {
                    continue;
                }
                let Some(a) = r.operand(0).ok().and_then(producer) else { continue };
                p = a;
            }
            let attn = p;
            // One result (no output_block_scale), three operands (no output_scale), one use.
            if !name_is(&attn, &[ATTN]) || attn.operand_count() != 3 || attn.result_count() != 1 {
                continue;
            }
            let Ok(out) = attn.result(0) else { continue };
            if ir::users(out.into()).len() != 1 {
                continue;
            }
            let Ok(qres) = quant.result(0) else { continue };
            let fp8 = ir::ranked_tensor(qres.r#type()).map(|t| t.element());
            let Some(out_ty) = fp8.and_then(|e| with_element(out.r#type(), e)) else { continue };
            let loc = Location::fused(ctx, &[attn.location(), quant.location()], Attribute::unit(ctx));
            let operands: Vec<Value> = attn.operands().chain(std::iter::once(scale)).collect();
            let Ok(new_attn) = OperationBuilder::new(ATTN, loc)
                .add_operands(&operands)
                .add_results(&[out_ty])
                .add_attributes(&semantic_attrs(&attn))
                .build()
            else {
                continue;
            };
            let new_attn = block.insert_operation_before(quant, new_attn);
            let Ok(new_out) = new_attn.result(0) else { continue };
            let mut replacement: Value = new_out.into();
            if let Some(r) = reshape {
                let mut ops: Vec<Value> = vec![replacement];
                ops.extend(r.operands().skip(1));
                let Ok(new_r) = OperationBuilder::new(r.name().as_string_ref().as_str().unwrap_or("aten.reshape"), r.location())
                    .add_operands(&ops)
                    .add_results(&[qres.r#type()])
                    .add_attributes(&semantic_attrs(&r))
                    .build()
                else {
                    continue;
                };
                let new_r = block.insert_operation_before(quant, new_r);
                if let Ok(v) = new_r.result(0) {
                    replacement = v.into();
                }
            }
            ir::replace_all_uses(qres.into(), replacement);
            ir::erase(quant);
            if let Some(r) = reshape {
                ir::erase(r);
            }
            ir::erase(attn);
            fused += 1;
        }
        run.bump("attn-static-quant", fused);
        Ok(())
    }
}

/// An attention output with no `output_scale`, possibly through one reshape,
/// used once.
fn fusable_attention(y: Value<'_, '_>) -> bool {
    let Some(mut p) = producer(y) else { return false };
    if name_is(&p, RESHAPES) {
        let Some(a) = p.operand(0).ok().filter(|v| ir::users(*v).len() == 1).and_then(producer) else { return false };
        p = a;
    }
    name_is(&p, &[ATTN]) && p.operand_count() == 3 && p.result_count() == 1
}

/// Raises native static quants of attention outputs, which the loop then fuses.
fn raise_native_quants<'c: 'a, 'a>(
    ctx: &'c mlir_support::melior::Context,
    block: mlir_support::melior::ir::BlockRef<'c, 'a>,
    run: &PassRun<'_>,
) {
    let mut erased = std::collections::HashSet::new();
    let mut raised = 0u64;
    for op in ir::block_ops(block) {
        if erased.contains(&ir::op_id(&op)) || !native::is_quant_end(&op) {
            continue;
        }
        let Some(q) = op.result(0).ok().and_then(|r| native::static_quant(r.into()).ok()) else { continue };
        if native::single_use(q.input) && fusable_attention(q.input) && native::raise_quant(ctx, block, &q, q.input, &mut erased).is_some()
        {
            raised += 1;
        }
    }
    run.bump("native-quant", raised);
}
