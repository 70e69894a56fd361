//! `vllm-fuse-attn-quant`: attention whose output feeds a static FP8 quant
//! (or an NVFP4 quant) writes the quantized values directly.
use crate::native;
use mlir_support::{
    ir,
    melior::ir::{
        Attribute, BlockLike, Identifier, Location, RegionLike, ShapedTypeLike, Type, Value, ValueLike,
        attribute::{DenseI32ArrayAttribute, DenseI64ArrayAttribute, StringAttribute},
        operation::{OperationBuilder, OperationLike, OperationRef},
        r#type::RankedTensorType,
    },
    pass::{Pass, PassFailed, PassInfo, PassOption, PassRun, PassStatistic},
};

/// The layers (comma-separated names, `*` for every layer) whose attention
/// backend writes a static FP8 output (vLLM asks each layer's
/// `impl.fused_output_quant_supported(kFp8StaticTensorSym)`).
pub const FP8_STATIC_LAYERS: PassOption = PassOption {
    name: "fp8-static-layers",
    description: "Layers (comma-separated, * for all) whose attention writes static FP8",
    default: "*",
};
/// As [`FP8_STATIC_LAYERS`], for NVFP4 (`kNvfp4Dynamic`, 0.11's `kNvfp4Quant`).
pub const NVFP4_LAYERS: PassOption =
    PassOption { name: "nvfp4-layers", description: "Layers (comma-separated, * for all) whose attention writes NVFP4", default: "*" };
/// As [`FP8_STATIC_LAYERS`], for per-group FP8 in groups of 128 (`kFp8Dynamic128Sym`).
pub const FP8_GROUP128_LAYERS: PassOption = PassOption {
    name: "fp8-group128-layers",
    description: "Layers (comma-separated, * for all) whose MLA attention writes per-group FP8 (groups of 128)",
    default: "*",
};
/// As [`FP8_STATIC_LAYERS`], for per-group FP8 in groups of 64 (`kFp8Dynamic64Sym`).
pub const FP8_GROUP64_LAYERS: PassOption = PassOption {
    name: "fp8-group64-layers",
    description: "Layers (comma-separated, * for all) whose MLA attention writes per-group FP8 (groups of 64)",
    default: "*",
};

/// The pipeline's `attn_output_quant` kinds and the option each sets.
pub const OUTPUT_QUANTS: [(&str, PassOption); 4] = [
    ("fp8_static", FP8_STATIC_LAYERS),
    ("nvfp4", NVFP4_LAYERS),
    ("fp8_group128", FP8_GROUP128_LAYERS),
    ("fp8_group64", FP8_GROUP64_LAYERS),
];

/// Whether `attn`'s layer is among `layers` (one of the options above): `*`,
/// or its `layer_name` listed. A layer name held by a graph input (torch >=
/// 2.11 hoists vLLM's `LayerName`s) is known only at run time (one compiled
/// graph may serve several layers): only `*` covers it.
fn layer_writes(attn: &OperationRef<'_, '_>, layers: &str) -> bool {
    let name = ir::string_attr(attn, "layer_name").filter(|n| !n.is_empty());
    crate::fusion::listed(layers, "*") || name.is_some_and(|n| crate::fusion::listed(layers, &n))
}

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fuse-attn-quant",
    summary: "Let attention write FP8 when its output feeds an FP8 (static, MLA per-group) or NVFP4 quant",
    description: "
vLLM's AttnFusionPass, one rule for every layer (the layer name is an
attribute, not part of the pattern), for `unified_attention_with_output`
and, as vLLM main's MLA patterns, `unified_mla_attention_with_output`:

    static_scaled_fp8_quant(reshape?(unified_attention_with_output(q, k, v)), s)
      -> reshape?(unified_attention_with_output(q, k, v, output_scale = s))

The attention then quantizes in its epilogue and the quant disappears. The
reshape between them (`[T, H, D] -> [T, H*D]`, as vLLM's graphs have it) is
kept, on FP8 data. Never when the attention output or the reshape has another
user, or when the attention already has an `output_scale`.

NVFP4 (vLLM 0.11's AttentionNvfp4QuantPattern, FlashInfer's TRT-LLM
attention on SM100):

    q, sf = scaled_fp4_quant(reshape?(unified_attention_with_output(q, k, v)), g)
    sf8 = aten.view.dtype(sf, float8_e4m3fn)
      -> o, sf8 = unified_attention_with_output(q, k, v, output_scale = g)
         q = reshape?(o)

The attention writes the packed e2m1 values (`[T, H, D/2]` bytes) and the
e4m3 block scales (the quant's `round_up(T, 128)` rows, viewed as FP8 as
vLLM's graphs read them; the fused op keeps their recorded shape).
Only when the block scales are read through that one view. vLLM main's
quant (`scaled_fp4_quant.out`) fuses the same way when its scales are
swizzled (`is_sf_swizzled_layout`), the layout the attention writes.

Per-group FP8 (vLLM main's MLAAttnFp8GroupQuantPattern, DeepSeek's block
FP8), MLA attention only:

    q, s = per_token_group_fp8_quant(unified_mla_attention_with_output(q, kv, pe))
      -> q, s = unified_mla_attention_with_output(q, kv, pe, quant_group_size = G,
                  quant_scale_ue8m0, quant_col_major, quant_tma_aligned)

with the quant's flags (absent ones false: vLLM 0.11's call, which then
fuses only where its scales were recorded as rows); the group scales keep
the quant's layout (a transposed buffer where it was column-major, padded
for TMA where it was). Only for vLLM's constants (eps 1e-10, ±448) and
groups of 64 or 128, the ones vLLM registers.

Each fusion needs the layer's attention backend to write that quant (vLLM
asks `impl.fused_output_quant_supported` per layer; FlashAttention, vLLM's
default on Hopper, writes none and fails at run time when given an
`output_scale`). The options `fp8-static-layers`, `nvfp4-layers`,
`fp8-group128-layers` and `fp8-group64-layers` list the layers that do
(default `*`: every layer; the pipeline's `attn_output_quant`, which
VllmOptPass fills in from vLLM's layers). A layer name held by a graph input
(torch >= 2.11 hoists vLLM's `LayerName`) fuses only under `*`: one compiled
graph may then serve several layers (why torch hoists it), so the name it
was compiled with does not say which layers it will run.",
    anchor: Some("func.func"),
    options: &[FP8_STATIC_LAYERS, NVFP4_LAYERS, FP8_GROUP128_LAYERS, FP8_GROUP64_LAYERS],
    statistics: &[
        PassStatistic { name: "attn-static-quant", description: "attention + static quant fused" },
        PassStatistic { name: "attn-nvfp4-quant", description: "attention + NVFP4 quant fused" },
        PassStatistic { name: "attn-group-quant", description: "MLA attention + per-group FP8 quant fused" },
        PassStatistic { name: "native-quant", description: "Decomposed static quants raised to the custom op (then fused)" },
        PassStatistic { name: "layer-cannot-write", description: "Attention + quant left: the layer's backend does not write that quant" },
    ],
    sources: &[include_str!("fuse_attn_quant.rs"), include_str!("native.rs")],
};

/// The attention ops whose kernels quantize their output (`output_scale`):
/// regular and multi-head latent (DeepSeek's MLA, vLLM main's MLA patterns).
const ATTNS: &[&str] = &["vllm.unified_attention_with_output", "vllm.unified_mla_attention_with_output"];
const RESHAPES: &[&str] = &["aten.reshape", "aten.view"];

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseAttnQuantPass;

fn producer<'c, 'a>(v: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    ir::producer(v)
}

/// The op's name (`ATTNS` holds the ones rebuilt here, all UTF-8).
fn name_of(op: &OperationRef<'_, '_>) -> String {
    op.name().as_string_ref().as_str().unwrap_or_default().to_string()
}

fn name_is(op: &OperationRef<'_, '_>, names: &[&str]) -> bool {
    op.name().as_string_ref().as_str().is_ok_and(|n| names.contains(&n))
}

/// `t`'s dims as `RankedTensorType::new` takes them (kDynamic for `?`).
fn dims_of(t: Type<'_>) -> Option<Vec<u64>> {
    let r = ir::ranked_tensor(t)?;
    Some(
        (0..r.rank())
            .map(|i| match r.dim_size(i) {
                Ok(mlir_support::melior::ir::r#type::DimSize::Static(d)) => d,
                _ => vllm_dialect::K_DYNAMIC as u64,
            })
            .collect(),
    )
}

/// `t` with element type `elem` (same shape).
pub(crate) fn with_element<'c>(t: Type<'c>, elem: Type<'c>) -> Option<Type<'c>> {
    Some(RankedTensorType::new(&dims_of(t)?, elem, None).into())
}

/// Semantic attributes (provenance `fx.*` describes the old op and is dropped).
/// (Segment sizes too: the fused op states its own.)
fn semantic_attrs<'c>(op: &OperationRef<'c, '_>) -> Vec<(Identifier<'c>, Attribute<'c>)> {
    op.attributes()
        .filter(|(id, _)| {
            let n = id.as_string_ref().as_str().unwrap_or("");
            !n.starts_with("fx.") && n != "operandSegmentSizes"
        })
        .collect()
}

/// The attention's operands around its output scale: q, k, v before it, the
/// optional ones after it (vLLM main's KV-cache dependency, MLA's
/// `q_dcp_replicated`), each present or not.
struct AttnOperands<'c, 'a> {
    qkv: Vec<Value<'c, 'a>>,
    after: Vec<Option<Value<'c, 'a>>>,
}

/// MLA attention's per-group output quant attributes (vLLM main).
const GROUP_QUANT_ATTRS: [&str; 4] = ["quant_group_size", "quant_scale_ue8m0", "quant_col_major", "quant_tma_aligned"];

/// An attention that quantizes nothing yet (no `output_scale`, no group
/// quant, one result): its operands.
fn unquantized<'c, 'a>(op: &OperationRef<'c, 'a>) -> Option<AttnOperands<'c, 'a>> {
    if !name_is(op, ATTNS) || op.result_count() != 1 || GROUP_QUANT_ATTRS.iter().any(|a| op.attribute(a).is_ok()) {
        return None;
    }
    let named = vllm_dialect::verify::named_operands(op)?;
    let [(_, q), (_, k), (_, v), (_, scale), after @ ..] = named.as_slice() else { return None };
    if !scale.is_empty() {
        return None;
    }
    Some(AttnOperands {
        qkv: q.iter().chain(k).chain(v).copied().collect(),
        after: after.iter().map(|(_, vs)| vs.first().copied()).collect(),
    })
}

/// The fused attention's operands (q, k, v, the output scale if any, the
/// optional ones after it) and their `operandSegmentSizes`.
fn with_scale<'c, 'a>(
    ctx: &'c mlir_support::melior::Context,
    attn: AttnOperands<'c, 'a>,
    scale: Option<Value<'c, 'a>>,
) -> (Vec<Value<'c, 'a>>, (Identifier<'c>, Attribute<'c>)) {
    let segments: Vec<i32> =
        [1, 1, 1, i32::from(scale.is_some())].into_iter().chain(attn.after.iter().map(|v| i32::from(v.is_some()))).collect();
    let operands = attn.qkv.into_iter().chain(scale).chain(attn.after.into_iter().flatten()).collect();
    (operands, ir::named(ctx, "operandSegmentSizes", DenseI32ArrayAttribute::new(ctx, &segments).into()))
}

impl Pass for FuseAttnQuantPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&self, func: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let handle = ir::ContextHandle::of(&func);
        let ctx = handle.get();
        let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return Ok(()) };
        let static_layers = run.option(FP8_STATIC_LAYERS.name);
        raise_native_quants(ctx, block, run, static_layers);
        // `cannot`: matched, but the layer's backend does not write that quant.
        let (mut fused, mut nvfp4, mut group, mut cannot) = (0u64, 0u64, 0u64, 0u64);
        for quant in ir::block_ops(block) {
            if crate::fusion::swizzled_nvfp4_quant(&quant) {
                nvfp4 += u64::from(fuse_nvfp4(ctx, block, quant, run.option(NVFP4_LAYERS.name), &mut cannot).is_some());
                continue;
            }
            if name_is(&quant, &["vllm.per_token_group_fp8_quant"]) {
                let layers = |g| run.option(if g == 64 { FP8_GROUP64_LAYERS.name } else { FP8_GROUP128_LAYERS.name });
                group += u64::from(fuse_group(ctx, block, quant, layers, &mut cannot).is_some());
                continue;
            }
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
            // One result (no output_block_scale), no output_scale, one use.
            let Some(operands) = unquantized(&attn) else { continue };
            let Ok(out) = attn.result(0) else { continue };
            if ir::users(out.into()).len() != 1 {
                continue;
            }
            if !layer_writes(&attn, static_layers) {
                cannot += 1;
                continue;
            }
            let Ok(qres) = quant.result(0) else { continue };
            let fp8 = ir::ranked_tensor(qres.r#type()).map(|t| t.element());
            let Some(out_ty) = fp8.and_then(|e| with_element(out.r#type(), e)) else { continue };
            let loc = Location::fused(ctx, &[attn.location(), quant.location()], Attribute::unit(ctx));
            let (operands, segments) = with_scale(ctx, operands, Some(scale));
            let mut attrs = semantic_attrs(&attn);
            attrs.push(segments);
            // The output's record in FP8 (MLA's rows are not its query's shape: the buffer is sized by it).
            attrs.extend(written_records(ctx, [quantized_meta(out.into(), qres.into())]));
            let Ok(new_attn) =
                OperationBuilder::new(&name_of(&attn), loc).add_operands(&operands).add_results(&[out_ty]).add_attributes(&attrs).build()
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
        run.bump("attn-nvfp4-quant", nvfp4);
        run.bump("attn-group-quant", group);
        run.bump("layer-cannot-write", cannot);
        Ok(())
    }
}

/// The FX target of `Tensor.view(dtype)`, which vLLM's NVFP4 graphs apply to
/// the block scales (imported as `torch.operator`).
const VIEW_DTYPE: &str = "torch.ops.aten.view.dtype";

/// Attention (possibly through one reshape) -> `scaled_fp4_quant`, whose
/// block scales are read only as one FP8 view: the attention writes both.
fn fuse_nvfp4<'c: 'a, 'a>(
    ctx: &'c mlir_support::melior::Context,
    block: mlir_support::melior::ir::BlockRef<'c, 'a>,
    quant: OperationRef<'c, 'a>,
    layers: &str,
    cannot: &mut u64,
) -> Option<()> {
    let (input, global) = (quant.operand(0).ok()?, quant.operand(1).ok()?);
    let (packed, scales) = (quant.result(0).ok()?, quant.result(1).ok()?);
    let mut p = producer(input)?;
    let reshape = name_is(&p, RESHAPES).then_some(p);
    if let Some(r) = reshape {
        if ir::users(input).len() != 1 {
            return None;
        }
        p = r.operand(0).ok().and_then(producer)?;
    }
    let attn = p;
    let attn_operands = unquantized(&attn)?;
    let out = attn.result(0).ok()?;
    if ir::users(out.into()).len() != 1 {
        return None;
    }
    let [view] = ir::users(scales.into())[..] else { return None };
    if !name_is(&view, &["torch.operator"]) || ir::string_attr(&view, "target").as_deref() != Some(VIEW_DTYPE) {
        return None;
    }
    if !layer_writes(&attn, layers) {
        *cannot += 1;
        return None;
    }
    let scales8 = view.result(0).ok()?;
    // The attention's packed output: its shape with the last dim halved, in bytes.
    let packed_t = ir::ranked_tensor(packed.r#type())?;
    let mut dims = dims_of(out.r#type())?;
    let last = dims.last_mut()?;
    if *last == vllm_dialect::K_DYNAMIC as u64 || *last % 2 != 0 {
        return None;
    }
    *last /= 2;
    let attn_out_ty: Type = RankedTensorType::new(&dims, packed_t.element(), None).into();
    let loc = Location::fused(ctx, &[attn.location(), quant.location()], Attribute::unit(ctx));
    let (operands, segments) = with_scale(ctx, attn_operands, Some(global));
    let mut attrs = semantic_attrs(&attn);
    attrs.push(segments);
    attrs.extend(written_records(
        ctx,
        [retyped_meta(out.into(), "uint8".into(), dims.last().copied()), vllm_dialect::provenance::value_meta(scales8.into())],
    ));
    let new_attn = OperationBuilder::new(&name_of(&attn), loc)
        .add_operands(&operands)
        .add_results(&[attn_out_ty, scales8.r#type()])
        .add_attributes(&attrs)
        .build()
        .ok()?;
    let new_attn = block.insert_operation_before(quant, new_attn);
    let mut values: Value = new_attn.result(0).ok()?.into();
    if let Some(r) = reshape {
        // Rows of H*D/2 bytes: the packed values as the quant gave them.
        let width = vllm_dialect::verify::shape_of(packed.r#type())?.last().copied().flatten()?;
        let new_r = OperationBuilder::new("aten.reshape", r.location())
            .add_operands(&[values])
            .add_results(&[packed.r#type()])
            .add_attributes(&[ir::named(ctx, "shape", DenseI64ArrayAttribute::new(ctx, &[-1, width]).into())])
            .build()
            .ok()?;
        values = block.insert_operation_before(quant, new_r).result(0).ok()?.into();
    }
    ir::replace_all_uses(packed.into(), values);
    ir::replace_all_uses(scales8.into(), new_attn.result(1).ok()?.into());
    for op in [view, quant] {
        ir::erase(op);
    }
    if let Some(r) = reshape {
        ir::erase(r);
    }
    ir::erase(attn);
    Some(())
}

/// MLA attention -> per-group FP8 quant: the attention quantizes its output
/// per group and writes the group scales (`quant_group_size` and the
/// quant's flags), in the quant's recorded layout.
fn fuse_group<'c: 'a, 'a>(
    ctx: &'c mlir_support::melior::Context,
    block: mlir_support::melior::ir::BlockRef<'c, 'a>,
    quant: OperationRef<'c, 'a>,
    layers: impl Fn(i64) -> &'a str,
    cannot: &mut u64,
) -> Option<()> {
    use mlir_support::melior::ir::attribute::{BoolAttribute, IntegerAttribute};
    let flag = |n: &str| quant.attribute(n).ok().and_then(|a| BoolAttribute::try_from(a).ok()).is_some_and(|b| b.value());
    let g = quant.attribute("group_size").ok().and_then(|a| IntegerAttribute::try_from(a).ok())?.value();
    // vLLM's constants; any scale layout, UE8M0 too (the attention's epilogue rounds).
    if !crate::fusion::root_checks_hold(ctx, &crate::fuse_rms_quant::GROUP_CONSTANTS, quant) || !matches!(g, 64 | 128) {
        return None;
    }
    let attn = producer(quant.operand(0).ok()?)?;
    if !name_is(&attn, &["vllm.unified_mla_attention_with_output"]) {
        return None;
    }
    let operands = unquantized(&attn)?;
    let out = attn.result(0).ok()?;
    if ir::users(out.into()).len() != 1 {
        return None;
    }
    let (values, scales) = (quant.result(0).ok()?, quant.result(1).ok()?);
    // The attention writes the layout the flags name (rows without them).
    if !crate::fusion::laid_out_as_flagged(&quant, "output_s", scales.into()) {
        return None;
    }
    if !layer_writes(&attn, layers(g)) {
        *cannot += 1;
        return None;
    }
    let loc = Location::fused(ctx, &[attn.location(), quant.location()], Attribute::unit(ctx));
    let (operands, segments) = with_scale(ctx, operands, None);
    let mut attrs = semantic_attrs(&attn);
    attrs.push(segments);
    attrs.push(ir::named(ctx, "quant_group_size", ir::i64_attr(ctx, g)));
    for (name, from) in [
        ("quant_scale_ue8m0", "scale_ue8m0"),
        ("quant_col_major", "dummy_is_scale_transposed"),
        ("quant_tma_aligned", "dummy_is_tma_aligned"),
    ] {
        attrs.push(ir::named(ctx, name, BoolAttribute::new(ctx, flag(from)).into()));
    }
    // The values' record in FP8 (sized by the attention's rows), the scales' as the quant had them.
    attrs.extend(written_records(ctx, [quantized_meta(out.into(), values.into()), vllm_dialect::provenance::value_meta(scales.into())]));
    let new_attn = OperationBuilder::new(&name_of(&attn), loc)
        .add_operands(&operands)
        .add_results(&[values.r#type(), scales.r#type()])
        .add_attributes(&attrs)
        .build()
        .ok()?;
    let new_attn = block.insert_operation_before(quant, new_attn);
    ir::replace_all_uses(values.into(), new_attn.result(0).ok()?.into());
    ir::replace_all_uses(scales.into(), new_attn.result(1).ok()?.into());
    ir::erase(quant);
    ir::erase(attn);
    Some(())
}

/// The fused op's `fx.meta` attribute holding these records of what it
/// writes; none when one is missing.
fn written_records<'c>(
    ctx: &'c mlir_support::melior::Context,
    records: impl IntoIterator<Item = Option<serde_json::Value>>,
) -> Option<(Identifier<'c>, Attribute<'c>)> {
    let records: Vec<serde_json::Value> = records.into_iter().collect::<Option<_>>()?;
    let meta = vllm_dialect::provenance::written_meta(records);
    Some(ir::named(ctx, vllm_dialect::provenance::META, StringAttribute::new(ctx, &meta).into()))
}

/// The attention output's record in the dtype of the quant's values
/// (`quantized`), which the fused attention now writes.
fn quantized_meta(out: Value<'_, '_>, quantized: Value<'_, '_>) -> Option<serde_json::Value> {
    let dtype = vllm_dialect::provenance::value_meta(quantized)?.get("dtype")?.clone();
    retyped_meta(out, dtype, None)
}

/// The fused attention's output record: the old output's, in the quantized
/// `dtype` (and, for NVFP4's packed bytes, with the `last` dim), strides
/// dropped. Fix-functionalization sizes the output buffer by it (the NVFP4
/// block scales by the view's record, MLA's rows by this one).
fn retyped_meta(out: Value<'_, '_>, dtype: serde_json::Value, last: Option<u64>) -> Option<serde_json::Value> {
    let mut o = vllm_dialect::provenance::value_meta(out)?;
    if let Some(last) = last {
        *o.get_mut("shape")?.as_array_mut()?.last_mut()? = serde_json::json!(last);
    }
    let m = o.as_object_mut()?;
    m.insert("dtype".into(), dtype);
    m.remove("stride");
    Some(o)
}

/// An attention output with no `output_scale`, possibly through one reshape,
/// used once, of a layer among `layers` (static FP8's).
fn fusable_attention(y: Value<'_, '_>, layers: &str) -> bool {
    let Some(mut p) = producer(y) else { return false };
    if name_is(&p, RESHAPES) {
        let Some(a) = p.operand(0).ok().filter(|v| ir::users(*v).len() == 1).and_then(producer) else { return false };
        p = a;
    }
    unquantized(&p).is_some() && layer_writes(&p, layers)
}

/// Raises native static quants of attention outputs, which the loop then fuses.
fn raise_native_quants<'c: 'a, 'a>(
    ctx: &'c mlir_support::melior::Context,
    block: mlir_support::melior::ir::BlockRef<'c, 'a>,
    run: &PassRun<'_>,
    layers: &str,
) {
    let mut erased = std::collections::HashSet::new();
    let mut raised = 0u64;
    for op in ir::block_ops(block) {
        if erased.contains(&ir::op_id(&op)) || !native::is_quant_end(&op) {
            continue;
        }
        let Some(q) = op.result(0).ok().and_then(|r| native::static_quant(r.into()).ok()) else { continue };
        if native::single_use(q.input)
            && fusable_attention(q.input, layers)
            && native::raise_quant(ctx, block, &q, q.input, &mut erased).is_some()
        {
            raised += 1;
        }
    }
    run.bump("native-quant", raised);
}
