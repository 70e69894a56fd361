//! `vllm-fuse-allreduce-rms`: all-reduce + (residual add) + RMSNorm (+ static
//! FP8 or NVFP4 quant) -> one FlashInfer/TRT-LLM communication kernel.
use crate::native;
use mlir_support::{
    ir,
    melior::{
        Context,
        ir::{
            Attribute, BlockLike, BlockRef, Location, RegionLike, ShapedTypeLike, Type, Value, ValueLike,
            attribute::{BoolAttribute, DenseI32ArrayAttribute, DenseI64ArrayAttribute, FloatAttribute, IntegerAttribute, StringAttribute},
            operation::{OperationBuilder, OperationLike, OperationRef},
            r#type::DimSize,
        },
    },
    pass::{Pass, PassFailed, PassInfo, PassOption, PassRun, PassStatistic},
};
use std::collections::HashSet;

/// FlashInfer's `AllReduceFusionPattern`.
const K_AR_RESIDUAL_RMS_NORM: i64 = 1;
const K_AR_RESIDUAL_RMS_NORM_FP8_QUANT: i64 = 2;
const K_AR_RESIDUAL_RMS_NORM_FP4_QUANT: i64 = 3;

const FUSED: &str = "vllm.flashinfer_trtllm_fused_allreduce_norm";

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fuse-allreduce-rms",
    summary: "All-reduce + (residual add) + RMSNorm (+ static FP8 quant) -> one FlashInfer communication kernel",
    description: "
vLLM's AllReduceFusionPass (vLLM main's op schema, without a rank argument,
so every rank compiles the same graph):
- `fused_add_rms_norm(all_reduce(x), residual, w)` ->
  `flashinfer_trtllm_fused_allreduce_norm(x, residual, w)` (pattern 1): the
  norm comes back in `allreduce_in`, the new residual in `residual`;
- `rms_norm(all_reduce(x), w)`: the same with a residual of zeros (its new
  residual is the all-reduced value, which other readers of the all-reduce
  then read), where vLLM passes zeros and a `norm_out` buffer;
- either, followed by `static_scaled_fp8_quant` as the norm's only reader ->
  pattern 2, the FP8 rows in `quant_out`; by `scaled_fp4_quant` (NVFP4,
  vLLM's SM100 patterns; vLLM main's `.out` call with swizzled scales) -> pattern 3, the packed rows in `quant_out`, the
  block scales in `scale_out`, the global scale as `scale_factor`.

Decomposed norms (custom ops off, vLLM's default under Inductor) of a
tensor-parallel all-reduce, and a decomposed static quant that is such a
norm's only reader, are raised to the custom ops first, as the fusion passes
raise theirs (vLLM main matches these forms too); the residual add then
rounds to the activation type before the norm, the choice vLLM makes.

Gemma's norm (vLLM's native `GemmaRMSNorm`: the rows scaled in f32, times
`1 + w` in f32, rounded once, its residual added in the activation type)
of such an all-reduce becomes the fused op with `weight_bias = 1`, as vLLM
main's Gemma patterns (whose kernel computes `T(x * s * (w + 1))`, the
native form's one rounding), without a quant after it (vLLM fuses none).

Any epsilon (vLLM: 1e-5 and 1e-6). `world_size` is the pass's tp-size,
`launch_with_pdl` and `fp32_acc` true, as vLLM sets them. `max_token_num`
is the site's token limit: max-token-num (the pipeline's
`fi_allreduce_fusion_max_token_num`), and with max-size-bytes (the
pipeline's `fi_allreduce_fusion_max_size_mb`) at most the rows that many
bytes hold, `bytes / (hidden * element size)`, as vLLM main derives it;
computed per site, so layers of another width or type get their own.
The FlashInfer workspace is sized for that many tokens, and above it vLLM
0.10's op falls back to the unfused path while vLLM main's asserts, so a
site whose shape context may exceed it is not fused: its static row count,
else the module's `torch.compile_range` end, must be at most the limit
(symbolic rows without a compile range have no bound and are not fused;
static rows are, in any context). Runs before RMSNorm + quant fusion. The residual add commutes: either of
`fused_add_rms_norm`'s first two operands may be the all-reduce (the one only
this norm reads is taken). Not fused (explained at `debug-node`):
an all-reduce with other readers than the norm (except the no-residual form),
a weight of another type than the rows, an all-reduce over another group
than the tensor-parallel one (vLLM names it `tp:N`; the kernel's workspace
is that group's), rows over the token limit, tp-size below 2.",
    anchor: Some("func.func"),
    options: &[
        PassOption { name: "tp-size", description: "Tensor-parallel world size (the pass does nothing below 2)", default: "1" },
        PassOption {
            name: "max-token-num",
            description: "The most tokens the fused kernel's workspace holds (vLLM's max_token_num)",
            default: "16384",
        },
        PassOption {
            name: "max-size-bytes",
            description: "With a value above 0, the most bytes of one rank's rows the kernel takes: the token limit is at most bytes / (hidden * element size) (vLLM main's fi_allreduce_fusion_max_size_mb)",
            default: "0",
        },
        crate::fusion::DEBUG_NODE,
    ],
    statistics: &[
        PassStatistic { name: "allreduce-fused-add-rms", description: "all_reduce + fused_add_rms_norm fused" },
        PassStatistic { name: "allreduce-rms", description: "all_reduce + rms_norm fused (residual of zeros)" },
        PassStatistic { name: "with-static-quant", description: "... with the static FP8 or NVFP4 quant after the norm" },
        PassStatistic { name: "native-rms", description: "Decomposed RMSNorms of an all-reduce raised to the custom op (then fused)" },
        PassStatistic { name: "native-quant", description: "Decomposed static quants after them raised (then fused)" },
        PassStatistic {
            name: "native-gemma-rms",
            description: "Decomposed Gemma RMSNorms (weight 1 + w) of an all-reduce fused, weight_bias 1",
        },
        PassStatistic { name: "over-token-limit", description: "Sites not fused: the shape context may exceed their token limit" },
    ],
    sources: &[include_str!("fuse_allreduce_rms.rs"), include_str!("fusion.rs"), include_str!("native.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseAllreduceRmsPass;

/// The NVFP4 fused op's recorded `fx.meta`, as an `auto_functionalized`
/// node's: the rows (the first of `rows` with a record, for both the norm
/// and the residual: one shape), then the quant's packed rows and block
/// scales, whose `round_up(T, 128)` rows fix-functionalization sizes the
/// scale buffer by. `None` when something has no record.
fn nvfp4_meta(rows: &[Value<'_, '_>], quant: &[Value<'_, '_>]) -> Option<String> {
    use vllm_dialect::provenance::{value_meta, written_meta};
    let r = rows.iter().find_map(|v| value_meta(*v))?;
    let (q, s) = (value_meta(*quant.first()?)?, value_meta(*quant.get(1)?)?);
    Some(written_meta([r.clone(), r, q, s]))
}

impl Pass for FuseAllreduceRmsPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, func: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let tp = crate::fusion::count_option(func, run, "tp-size", 1)? as i64;
        let max_tokens = crate::fusion::count_option(func, run, "max-token-num", 16384)? as i64;
        let max_bytes = crate::fusion::count_option(func, run, "max-size-bytes", 0)? as i64;
        if tp < 2 {
            return Ok(());
        }
        let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return Ok(()) };
        let handle = ir::ContextHandle::of(&func);
        let mut f = Fuser {
            ctx: handle.get(),
            block,
            tp,
            limit: TokenLimit { max_tokens, max_bytes, context_end: context_end(func) },
            erased: HashSet::new(),
            debug: run.option("debug-node"),
            over_limit: 0,
        };
        let (norms, quants) = f.raise_natives();
        run.bump("native-rms", norms);
        run.bump("native-quant", quants);
        // A fresh snapshot: the raised ops' addresses may be ones the raising freed.
        f.erased.clear();
        run.bump("native-gemma-rms", f.fuse_gemma_natives());
        f.erased.clear(); // a fresh snapshot again: freed addresses may be reused
        for op in ir::block_ops(block) {
            if f.erased.contains(&ir::op_id(&op)) {
                continue;
            }
            let name = op.name();
            let residual = match name.as_string_ref().as_str() {
                Ok("vllm.fused_add_rms_norm") => true,
                Ok("vllm.rms_norm") => false,
                _ => continue,
            };
            match f.fuse(op, residual) {
                Some(quant) => {
                    run.bump(if residual { "allreduce-fused-add-rms" } else { "allreduce-rms" }, 1);
                    run.bump("with-static-quant", quant as u64);
                }
                None => continue,
            }
        }
        run.bump("over-token-limit", f.over_limit);
        Ok(())
    }
}

/// The most tokens the shape context allows: the specialized count, or the
/// compile range's end (`vllm-specialize-shapes` records both on the module);
/// `None` for an unbounded symbolic graph.
fn context_end(func: OperationRef<'_, '_>) -> Option<i64> {
    let module = func.parent_operation()?;
    if let Some(n) = module.attribute("torch.runtime_shape").ok().and_then(|a| IntegerAttribute::try_from(a).ok()) {
        return Some(n.value());
    }
    let range = module.attribute("torch.compile_range").ok().and_then(|a| DenseI64ArrayAttribute::try_from(a).ok())?;
    range.element(1).ok()
}

/// A site's token limit (vLLM's `max_token_num`).
struct TokenLimit {
    max_tokens: i64,
    /// 0: no byte budget.
    max_bytes: i64,
    context_end: Option<i64>,
}

impl TokenLimit {
    /// The limit for all-reduced `rows`, or why the site is not fused (true
    /// when its row count, static or else the context's end, may exceed it).
    fn of(&self, rows: Type<'_>) -> Result<i64, (bool, String)> {
        let other = |why: String| (false, why);
        let t = ir::ranked_tensor(rows).ok_or_else(|| other("the rows are not a ranked tensor".into()))?;
        let mut limit = self.max_tokens;
        if self.max_bytes > 0 {
            let elem = match ir::type_name(t.element()) {
                Some("bf16" | "f16") => 2,
                Some("f32") => 4,
                _ => return Err(other(format!("rows of {} have no byte size for max-size-bytes", ir::type_string(t.element())))),
            };
            let row_bytes = match t.rank().checked_sub(1).map(|d| t.dim_size(d)) {
                Some(Ok(DimSize::Static(h))) => (h as i64).checked_mul(elem).filter(|b| *b > 0),
                _ => return Err(other("the hidden size is not static, so max-size-bytes gives no token limit".into())),
            };
            let row_bytes = row_bytes.ok_or_else(|| other("rows of no bytes (or too many to count) give no token limit".into()))?;
            limit = limit.min(self.max_bytes / row_bytes);
        }
        let tokens = match t.dim_size(0) {
            Ok(DimSize::Static(n)) => Some(n as i64),
            _ => self.context_end,
        };
        match tokens {
            _ if limit < 1 => Err((true, format!("the token limit is {limit}: one row exceeds max-size-bytes"))),
            Some(n) if n > limit => Err((true, format!("up to {n} tokens exceed the fused kernel's limit of {limit} tokens"))),
            Some(_) => Ok(limit),
            None => Err((true, format!("the row count is unbounded (no static count, no compile range), the limit {limit} tokens"))),
        }
    }
}

/// A norm of an all-reduce, as the fused op takes it.
struct Site<'c, 'a> {
    /// Where the norm begins: the fused op goes before it.
    at: OperationRef<'c, 'a>,
    ar: OperationRef<'c, 'a>,
    /// The all-reduced rows.
    x: Value<'c, 'a>,
    residual: Option<Value<'c, 'a>>,
    weight: Value<'c, 'a>,
    epsilon: Attribute<'c>,
    /// The normalized rows, and the new residual, which the fused op's replace.
    out: Value<'c, 'a>,
    residual_out: Option<Value<'c, 'a>>,
    weight_bias: f64,
    /// The norm's ops, erased once nothing reads them.
    ops: Vec<OperationRef<'c, 'a>>,
}

struct Fuser<'c, 'a, 'd> {
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    tp: i64,
    limit: TokenLimit,
    erased: HashSet<usize>,
    debug: &'d str,
    /// Sites left alone for the token limit.
    over_limit: u64,
}

impl<'c, 'a> Fuser<'c, 'a, '_> {
    fn explain(&self, op: OperationRef<'c, 'a>, why: &str) {
        crate::fusion::explain(self.debug, "vllm-fuse-allreduce-rms", &op, why);
    }

    /// A bf16/f16 tensor of zeros shaped like `like` (a symbolic row count read with `sym_size`), before `before`.
    fn zeros_like(&self, like: Value<'c, 'a>, before: OperationRef<'c, 'a>) -> Option<Value<'c, 'a>> {
        let t = ir::ranked_tensor(like.r#type())?;
        let mut size = Vec::new();
        let mut dyns = Vec::new();
        for i in 0..t.rank() {
            match t.dim_size(i) {
                Ok(DimSize::Static(d)) => size.push(d as i64),
                _ => {
                    dyns.push(crate::fusion::sym_size(self.ctx, self.block, before, like, i)?);
                    size.push(vllm_dialect::K_DYNAMIC);
                }
            }
        }
        let loc = Location::name(self.ctx, "full", before.location());
        let zeros = OperationBuilder::new("aten.full", loc)
            .add_operands(&dyns)
            .add_results(&[like.r#type()])
            .add_attributes(&[
                ir::named(self.ctx, "size", DenseI64ArrayAttribute::new(self.ctx, &size).into()),
                ir::named(self.ctx, "fill_value", FloatAttribute::new(self.ctx, Type::float64(self.ctx), 0.0).into()),
                ir::named(self.ctx, "dtype", mlir_support::melior::ir::attribute::TypeAttribute::new(t.element()).into()),
            ])
            .build()
            .ok()?;
        self.block.insert_operation_before(before, zeros).result(0).ok().map(Into::into)
    }

    /// Whether `x` is rows a tensor-parallel all-reduce produced that the
    /// fused kernel may take for a norm of weight `w` that starts at `at`
    /// (the norm's reader of `x`): read by the norm only (`only`: with a
    /// residual, the kernel consumes them), or also by ops after `at`, which
    /// then read the new residual. Returns the all-reduce.
    fn all_reduced(
        &self,
        x: Value<'c, 'a>,
        w: Value<'c, 'a>,
        at: OperationRef<'c, 'a>,
        only: bool,
    ) -> Result<OperationRef<'c, 'a>, String> {
        let ar = native::producer_named(x, "vllm.all_reduce").ok_or("the norm's input is not an all_reduce")?;
        // The kernel's workspace belongs to the tensor-parallel group
        // (vLLM's `tp:N`); another group's all-reduce is not its to fuse.
        let group = ir::string_attr(&ar, "group_name").unwrap_or_default();
        if !group.starts_with("tp:") {
            return Err(format!("the all-reduce is over '{group}', not the tensor-parallel group"));
        }
        let elem = |v: Value| ir::ranked_tensor(v.r#type()).map(|t| ir::type_string(t.element()));
        if elem(w) != elem(x) {
            return Err("the weight's type is not the rows' type".to_string());
        }
        let others: Vec<_> = ir::users(x).into_iter().filter(|u| *u != at).collect();
        if only && !others.is_empty() {
            return Err("the all-reduced value has other readers than the norm".into());
        }
        if others.iter().any(|u| !at.is_before_in_block(*u)) {
            return Err("the all-reduced value is read before the norm".into());
        }
        Ok(ar)
    }

    /// The all-reduce among a norm's row operands `a` and (with a residual
    /// add, which commutes) `b`, checked by `all_reduced`: (the all-reduce,
    /// its rows, the other operand). Without `b`, `a` must be it.
    fn all_reduced_of(
        &self,
        a: Value<'c, 'a>,
        b: Option<Value<'c, 'a>>,
        w: Value<'c, 'a>,
        at: OperationRef<'c, 'a>,
    ) -> Result<(OperationRef<'c, 'a>, Value<'c, 'a>, Option<Value<'c, 'a>>), String> {
        let Some(b) = b else { return self.all_reduced(a, w, at, false).map(|ar| (ar, a, None)) };
        match self.all_reduced(a, w, at, true) {
            Ok(ar) => Ok((ar, a, Some(b))),
            Err(why) => self.all_reduced(b, w, at, true).map(|ar| (ar, b, Some(a))).map_err(|_| why),
        }
    }

    /// The custom norm `op` of an all-reduce (with its residual when
    /// `residual`), and the static quant that is its only reader, as one
    /// fused op. Returns whether the quant was fused too.
    fn fuse(&mut self, op: OperationRef<'c, 'a>, residual: bool) -> Option<bool> {
        let found = (|| {
            let w = op.operand(if residual { 2 } else { 1 }).map_err(|_| "no weight")?;
            let a = op.operand(0).map_err(|_| "no operand")?;
            let b = if residual { Some(op.operand(1).map_err(|_| "no residual")?) } else { None };
            self.all_reduced_of(a, b, w, op).map(|(ar, x, r)| (ar, x, r, w))
        })();
        let (ar, x, residual_in, weight) = match found {
            Ok(f) => f,
            Err(why) => {
                self.explain(op, &why);
                return None;
            }
        };
        let out: Value = op.result(0).ok()?.into();
        let residual_out = if residual { Some(op.result(1).ok()?.into()) } else { None };
        let epsilon = op.attribute("epsilon").ok()?;
        self.rewrite(Site { at: op, ar, x, residual: residual_in, weight, epsilon, out, residual_out, weight_bias: 0.0, ops: vec![op] })
    }

    /// Fuses each decomposed Gemma RMSNorm (`1 + w` as its weight, one
    /// rounding; `native::gemma_rms`) of a tensor-parallel all-reduce into
    /// the fused op with `weight_bias = 1`, as vLLM main's Gemma patterns
    /// do. The kernel computes `T(x * s * (w + 1))` in f32, the native
    /// form's rounding; its residual add is in T, as the native bf16 form's.
    /// Without a static quant (vLLM fuses none after these). Returns how
    /// many were fused.
    fn fuse_gemma_natives(&mut self) -> u64 {
        let mut fused = 0;
        for op in ir::block_ops(self.block) {
            let name = op.name();
            if self.erased.contains(&ir::op_id(&op))
                || !matches!(name.as_string_ref().as_str(), Ok("aten.convert_element_type" | "aten.to_dtype"))
            {
                continue;
            }
            let Some(out) = op.results().next().map(Value::from) else { continue };
            let Ok(m) = native::gemma_rms(out) else { continue };
            // The norm starts at its residual add, or at to(x, f32) (its reader of x).
            let Some(at) = (match m.residual_out {
                Some(z) => ir::producer(z),
                None => m.ops.iter().copied().find(|o| o.operand(0).ok() == Some(m.x)),
            }) else {
                continue;
            };
            let found = self.all_reduced_of(m.x, m.residual, m.weight, at).and_then(|f| {
                let defined_before =
                    ir::block_argument(m.weight).is_some() || ir::producer(m.weight).is_some_and(|p| p.is_before_in_block(at));
                if defined_before { Ok(f) } else { Err("the weight is defined after the norm begins".into()) }
            });
            let (ar, x, residual) = match found {
                Ok(f) => f,
                Err(why) => {
                    self.explain(op, &why);
                    continue;
                }
            };
            let epsilon = FloatAttribute::new(self.ctx, Type::float64(self.ctx), m.epsilon).into();
            let site =
                Site { at, ar, x, residual, weight: m.weight, epsilon, out, residual_out: m.residual_out, weight_bias: 1.0, ops: m.ops };
            fused += u64::from(self.rewrite(site).is_some());
        }
        fused
    }

    /// One norm of an all-reduce as the fused op, inserted before `site.at`
    /// (the all-reduce moves down to it; every rank runs the same program,
    /// so the collectives stay in one order across ranks); with a custom
    /// norm (`weight_bias` 0), the static quant that is its only reader too.
    /// Returns whether the quant was fused.
    fn rewrite(&mut self, site: Site<'c, 'a>) -> Option<bool> {
        let Site { at, ar, x, residual, weight, epsilon, out, residual_out, weight_bias, ops } = site;
        let norm_op = ir::producer(out)?;
        if residual == Some(x) {
            self.explain(norm_op, "the residual is the all-reduced value itself");
            return None;
        }
        let max_tokens = match self.limit.of(x.r#type()) {
            Ok(n) => n,
            Err((over, why)) => {
                self.over_limit += u64::from(over);
                self.explain(norm_op, &why);
                return None;
            }
        };
        // The norm's only reader a static FP8 or NVFP4 quant of its rows (with
        // a scale defined before the norm): fused too.
        let before_op = |v: Value<'c, 'a>| ir::block_argument(v).is_some() || ir::producer(v).is_some_and(|p| p.is_before_in_block(at));
        let quant = match ir::users(out).as_slice() {
            [q] if weight_bias == 0.0
                && (q.name().as_string_ref().as_str() == Ok("vllm.static_scaled_fp8_quant") || crate::fusion::swizzled_nvfp4_quant(q))
                && q.operand(0).ok() == Some(out)
                && q.operand(1).is_ok_and(before_op) =>
            {
                Some(*q)
            }
            _ => None,
        };
        let nvfp4 = quant.is_some_and(|q| q.result_count() == 2);
        let input = ar.operand(0).ok()?;
        let res_in = match residual {
            Some(r) => r,
            None => self.zeros_like(input, at)?,
        };
        let mut attrs = vec![
            ir::named(self.ctx, "rms_eps", epsilon),
            ir::named(self.ctx, "world_size", ir::i64_attr(self.ctx, self.tp)),
            ir::named(self.ctx, "launch_with_pdl", BoolAttribute::new(self.ctx, true).into()),
            ir::named(self.ctx, "fp32_acc", BoolAttribute::new(self.ctx, true).into()),
            ir::named(self.ctx, "max_token_num", ir::i64_attr(self.ctx, max_tokens)),
            ir::named(
                self.ctx,
                "pattern_code",
                ir::i64_attr(
                    self.ctx,
                    match (quant, nvfp4) {
                        (None, _) => K_AR_RESIDUAL_RMS_NORM,
                        (Some(_), false) => K_AR_RESIDUAL_RMS_NORM_FP8_QUANT,
                        (Some(_), true) => K_AR_RESIDUAL_RMS_NORM_FP4_QUANT,
                    },
                ),
            ),
            ir::named(self.ctx, "weight_bias", FloatAttribute::new(self.ctx, Type::float64(self.ctx), weight_bias).into()),
        ];
        let mut operands = vec![input, res_in, weight];
        let mut types = vec![out.r#type(), out.r#type()];
        // The quant's results: its FP8 rows, or NVFP4's packed rows and block scales.
        let quant_results: Vec<Value> = quant.map(|q| q.results().map(Value::from).collect()).unwrap_or_default();
        if let Some(q) = quant {
            operands.push(q.operand(1).ok()?);
            types.extend(quant_results.iter().map(|v| v.r#type()));
        }
        let segments = [1, 1, i32::from(quant.is_some()), i32::from(nvfp4)];
        attrs.push(ir::named(self.ctx, "resultSegmentSizes", DenseI32ArrayAttribute::new(self.ctx, &segments).into()));
        if nvfp4 && let Some(text) = nvfp4_meta(&[out, x], &quant_results) {
            attrs.push(ir::named(self.ctx, vllm_dialect::provenance::META, StringAttribute::new(self.ctx, &text).into()));
        }
        let loc = Location::fused(self.ctx, &[ar.location(), norm_op.location()], Attribute::unit(self.ctx));
        let fused = OperationBuilder::new(FUSED, loc).add_operands(&operands).add_results(&types).add_attributes(&attrs).build().ok()?;
        let fused = self.block.insert_operation_before(at, fused);
        let (Ok(norm), Ok(new_res)) = (fused.result(0), fused.result(1)) else { return None };
        let mut dead = ops;
        match quant {
            Some(q) => {
                for (i, r) in quant_results.iter().enumerate() {
                    ir::replace_all_uses(*r, fused.result(2 + i).ok()?.into());
                }
                dead.insert(0, q);
            }
            None => ir::replace_all_uses(out, norm.into()),
        }
        if let Some(r) = residual_out {
            ir::replace_all_uses(r, new_res.into());
        }
        // Without a residual, the all-reduced value is the new residual (all-reduce + zeros).
        ir::replace_all_uses(x, new_res.into());
        dead.push(ar);
        let ids: Vec<usize> = dead.iter().map(ir::op_id).collect();
        let left: HashSet<usize> = ir::erase_dead(dead).iter().map(ir::op_id).collect();
        self.erased.extend(ids.into_iter().filter(|id| !left.contains(id)));
        Some(quant.is_some())
    }

    /// Raises each decomposed norm of a tensor-parallel all-reduce (either
    /// operand of the residual add: it commutes) and a decomposed static
    /// quant that is its only reader. Returns (norms, quants) raised.
    fn raise_natives(&mut self) -> (u64, u64) {
        let is_tp_all_reduce = |v: Value<'c, 'a>| {
            native::producer_named(v, "vllm.all_reduce")
                .is_some_and(|ar| ir::string_attr(&ar, "group_name").is_some_and(|g| g.starts_with("tp:")))
        };
        let (mut norms, mut quants) = (0, 0);
        for op in ir::block_ops(self.block) {
            if self.erased.contains(&ir::op_id(&op)) || op.name().as_string_ref().as_str() != Ok("aten.mul") {
                continue;
            }
            let Some(out) = op.results().next().map(Value::from) else { continue };
            let Ok(mut m) = native::rms(out) else { continue };
            match m.residual {
                _ if is_tp_all_reduce(m.x) => {}
                Some(r) if is_tp_all_reduce(r) => {
                    m.residual = Some(m.x);
                    m.x = r;
                }
                _ => continue,
            }
            let quant = native::quant_reader(m.out);
            let Some(y) = native::raise_rms(self.ctx, self.block, &m, &mut self.erased) else { continue };
            norms += 1;
            if let Some(q) = quant
                && native::raise_quant(self.ctx, self.block, &q, y, &mut self.erased).is_some()
            {
                quants += 1;
            }
        }
        (norms, quants)
    }
}
