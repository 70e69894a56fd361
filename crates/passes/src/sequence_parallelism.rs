//! `vllm-sequence-parallelism`: all-reduce + RMSNorm -> reduce-scatter,
//! RMSNorm on this rank's rows, all-gather; the residual stream stays
//! sharded between the norms.
//!
//! The rewrite works on *twins*: a full-size value and the value holding this
//! rank's `rows / tp` rows of it. `all_reduce(x)`'s twin is
//! `reduce_scatter(x)`; a rewritten norm's residual output has the new norm's
//! residual output as its twin. A norm is rewritten when its input is an
//! all-reduce and (for `fused_add_rms_norm`) its residual has a twin. Every
//! use of a full value that is not a rewritten norm reads
//! `all_gather(twin)` instead, which equals it: the rewrite is correct
//! whatever else reads the residual stream, with no whole-graph precondition.
use crate::native;
use mlir_support::{
    ir,
    melior::{
        Context,
        ir::{
            Attribute, BlockLike, BlockRef, Identifier, Location, RegionLike, ShapedTypeLike, Type, Value, ValueLike,
            operation::{OperationBuilder, OperationLike, OperationRef},
            r#type::{DimSize, RankedTensorType},
        },
    },
    pass::{Pass, PassFailed, PassInfo, PassOption, PassRun, PassStatistic},
};
use std::collections::{HashMap, HashSet};

/// Row-wise ops an all-gather moves past when one is a norm's only reader:
/// each row of every result depends only on the same row of operand 0 (the
/// other operands, scales, are replicated like the norm's weight), so they
/// run on the shard and the all-gathers move their results (FP8, and one f32
/// scale per row) instead of bf16.
const ROW_WISE: &[&str] = &["vllm.static_scaled_fp8_quant", "vllm.dynamic_per_token_scaled_fp8_quant"];

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-sequence-parallelism",
    summary: "All-reduce + RMSNorm -> reduce-scatter, local RMSNorm, all-gather (sharded residual stream)",
    description: "
vLLM's SequenceParallelismPass. `rms_norm(all_reduce(x))` becomes
`all_gather(rms_norm(reduce_scatter(x)))` and
`fused_add_rms_norm(all_reduce(x), residual)` becomes
`fused_add_rms_norm(reduce_scatter(x), residual_shard)` with an all-gather of
the normalized rows: each rank normalizes its `rows / tp-size` rows, and the
residual stream between the norms stays sharded. It prepares async TP
(`mm -> reduce_scatter`, `all_gather -> mm`) and sends less data: a static
FP8 quant that is the norm's only reader runs on the shard too, so the
all-gather moves FP8 bytes (vLLM's FP8 patterns), and the fusion passes
after it fuse the local norm and quant. A dynamic per-token FP8 quant does
too (beyond vLLM: its rows and its per-row scales are gathered), so
per-token models keep their fused norm + quant under sequence parallelism.

Unlike vLLM's patterns (first / middle / last layer, which are correct only
if every site of the graph matches), each full-size value keeps a sharded
twin and any other reader gets `all_gather(twin)`, equal to the value it
read: a residual read elsewhere, or an all-reduce with other users, stays
correct. A norm whose residual has no twin (not produced by a rewritten
norm) is left alone.

The decomposed forms (vLLM's default with custom ops off: `to(f32)`, `pow`,
`mean`, `rsqrt`, ..., with the residual add in f32) shard too: the norm's ops
are copied onto the shard as they are, so the values are bit-identical to the
unsharded graph's (vLLM instead matches them as its custom op), and a
decomposed static FP8 quant that is the norm's only reader moves onto the
shard with them, so the fusion passes after it still fuse norm and quant.
Gemma's decomposed norm (`GemmaRMSNorm`: weight `1 + w`, its residual added
in bf16) shards the same way.

Applies to 2-D rows with a static row count divisible by `tp-size` (the pass
manager runs it only for such a runtime shape, as vLLM does); anything else
is left as is. Collectives keep the all-reduce's `group_name`.",
    anchor: Some("func.func"),
    options: &[
        PassOption { name: "tp-size", description: "Tensor-parallel world size (the pass does nothing below 2)", default: "1" },
        crate::fusion::DEBUG_NODE,
    ],
    statistics: &[
        PassStatistic { name: "rms-norm", description: "rms_norm(all_reduce) sites sharded" },
        PassStatistic { name: "fused-add-rms-norm", description: "fused_add_rms_norm(all_reduce) sites sharded" },
        PassStatistic {
            name: "native-rms-norm",
            description: "Decomposed RMSNorms (with or without the residual add) of an all_reduce sharded",
        },
        PassStatistic { name: "native-gemma-rms-norm", description: "Decomposed Gemma RMSNorms (weight 1 + w) of an all_reduce sharded" },
        PassStatistic { name: "quant-sharded", description: "Row-wise quants (static, per-token FP8) moved before the all-gather" },
        PassStatistic { name: "all-gather-for-other-readers", description: "All-gathers of a twin for a reader that is not a norm" },
    ],
    sources: &[
        include_str!("sequence_parallelism.rs"),
        include_str!("fusion.rs"),
        include_str!("fuse_attn_quant.rs"),
        include_str!("native.rs"),
    ],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct SequenceParallelismPass;

impl Pass for SequenceParallelismPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, func: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let tp = crate::fusion::count_option(func, run, "tp-size", 1)?;
        if tp < 2 {
            return Ok(());
        }
        let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return Ok(()) };
        let handle = ir::ContextHandle::of(&func);
        let mut sp = Sharder {
            ctx: handle.get(),
            block,
            tp,
            twins: HashMap::new(),
            old: Vec::new(),
            all_reduces: Vec::new(),
            chains: Vec::new(),
            debug: run.option("debug-node"),
        };
        for op in ir::block_ops(block) {
            let name = op.name();
            match name.as_string_ref().as_str() {
                Ok("vllm.rms_norm") if sp.rms_norm(op) => run.bump("rms-norm", 1),
                Ok("vllm.fused_add_rms_norm") if sp.fused_add_rms_norm(op) => run.bump("fused-add-rms-norm", 1),
                // A decomposed RMSNorm ends in its weight multiply, a Gemma one in its to(T).
                Ok("aten.mul") if sp.native_rms(op, native::rms) => run.bump("native-rms-norm", 1),
                Ok("aten.convert_element_type" | "aten.to_dtype") if sp.native_rms(op, native::gemma_rms) => {
                    run.bump("native-gemma-rms-norm", 1)
                }
                _ => continue,
            }
        }
        run.bump("quant-sharded", sp.finish_quants());
        run.bump("all-gather-for-other-readers", sp.finish());
        Ok(())
    }
}

struct Sharder<'c, 'a, 'd> {
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    tp: u64,
    /// Full value (by id) -> (the value, its twin, the collective group).
    twins: HashMap<usize, (Value<'c, 'a>, Value<'c, 'a>, Attribute<'c>)>,
    /// Replaced norms (old op, its normalized result's twin, the group), in program order.
    old: Vec<(OperationRef<'c, 'a>, Value<'c, 'a>, Attribute<'c>)>,
    /// The all-reduces given a twin (erased at the end when nothing reads them).
    all_reduces: Vec<OperationRef<'c, 'a>>,
    /// The ops of decomposed norms and quants copied onto the shard (erased
    /// at the end when nothing reads them).
    chains: Vec<OperationRef<'c, 'a>>,
    debug: &'d str,
}

impl<'c, 'a> Sharder<'c, 'a, '_> {
    fn explain(&self, op: OperationRef<'c, 'a>, why: &str) {
        crate::fusion::explain(self.debug, "vllm-sequence-parallelism", &op, why);
    }

    /// The type of `rows / tp` rows of `v`, if it has a static row count divisible by tp.
    fn shard_type(&self, v: Value<'c, 'a>) -> Result<Type<'c>, String> {
        let t = ir::ranked_tensor(v.r#type()).ok_or("not a ranked tensor")?;
        if t.rank() != 2 {
            return Err(format!("rank {} rows, the pass shards 2-D [tokens, hidden] tensors", t.rank()));
        }
        // MLIR's kDynamic for a symbolic size.
        const DYNAMIC: u64 = i64::MIN as u64;
        let dims: Vec<u64> = (0..2)
            .map(|i| match t.dim_size(i) {
                Ok(DimSize::Static(d)) => d,
                _ => DYNAMIC,
            })
            .collect();
        match dims[0] {
            DYNAMIC => Err("the row count is symbolic; sequence parallelism needs a static runtime shape".into()),
            rows if rows % self.tp != 0 => Err(format!("{rows} rows are not divisible by tp-size {}", self.tp)),
            rows => Ok(RankedTensorType::new(&[rows / self.tp, dims[1]], t.element(), None).into()),
        }
    }

    /// The twin of `all_reduce(x)`'s result, `reduce_scatter(x)` right after
    /// it, and the all-reduce's group.
    fn scatter(&mut self, ar: OperationRef<'c, 'a>) -> Result<(Value<'c, 'a>, Attribute<'c>), String> {
        let full: Value = ar.result(0).map_err(|_| "no result")?.into();
        if let Some(&(_, twin, group)) = self.twins.get(&ir::value_id(full)) {
            return Ok((twin, group));
        }
        let ty = self.shard_type(full)?;
        let group = ar.attribute("group_name").map_err(|_| "the all-reduce has no group_name")?;
        let x = ar.operand(0).map_err(|_| "no operand")?;
        let rs = self.collective("vllm.reduce_scatter", x, ty, group, ar.location())?;
        let rs = self.block.insert_operation_after(ar, rs);
        let twin: Value = rs.result(0).map_err(|_| "no result")?.into();
        self.twins.insert(ir::value_id(full), (full, twin, group));
        self.all_reduces.push(ar);
        Ok((twin, group))
    }

    fn collective(
        &self,
        name: &str,
        x: Value<'c, 'a>,
        ty: Type<'c>,
        group: Attribute<'c>,
        loc: Location<'c>,
    ) -> Result<mlir_support::melior::ir::Operation<'c>, String> {
        let attrs = [
            ir::named(self.ctx, "dim", ir::i64_attr(self.ctx, 0)),
            ir::named(self.ctx, "world_size", ir::i64_attr(self.ctx, self.tp as i64)),
            ir::named(self.ctx, "group_name", group),
        ];
        // Named after the collective (the FX node's name on export), located at the op it came from.
        let loc = Location::name(self.ctx, name.trim_start_matches("vllm."), loc);
        OperationBuilder::new(name, loc).add_operands(&[x]).add_results(&[ty]).add_attributes(&attrs).build().map_err(|e| e.to_string())
    }

    /// The all-reduce that produces `v`, if any.
    fn all_reduce_of(v: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
        native::producer_named(v, "vllm.all_reduce")
    }

    /// A copy of `like` (a norm or a row-wise quant) on `operands` with result `types`, placed before it,
    /// with its attributes but not its FX provenance (`fx.*`: the shapes changed), except
    /// `fx.functional` (a vLLM IR op stays one; its call is rebuilt from the op).
    fn copy_before(&self, like: OperationRef<'c, 'a>, operands: &[Value<'c, 'a>], types: &[Type<'c>]) -> Option<OperationRef<'c, 'a>> {
        let name = like.name();
        let name = name.as_string_ref().as_str().ok()?.to_string();
        let attrs: Vec<(Identifier, Attribute)> = like
            .attributes()
            .filter(|(n, _)| n.as_string_ref().as_str().is_ok_and(|n| !n.starts_with("fx.") || n == vllm_dialect::provenance::FUNCTIONAL))
            .collect();
        let op =
            OperationBuilder::new(&name, like.location()).add_operands(operands).add_results(types).add_attributes(&attrs).build().ok()?;
        Some(self.block.insert_operation_before(like, op))
    }

    /// The shard of a norm's all-reduced input, the type of its normalized
    /// shard and the group, or why the norm stays as it is (explained at `debug-node`).
    fn shard_input(&mut self, op: OperationRef<'c, 'a>, input: Value<'c, 'a>) -> Option<(Value<'c, 'a>, Type<'c>, Attribute<'c>)> {
        let found = (|| {
            let ar = Self::all_reduce_of(input).ok_or("the input is not an all_reduce")?;
            let out = op.result(0).map_err(|_| "no result")?;
            let ty = self.shard_type(out.into())?;
            let (shard, group) = self.scatter(ar)?;
            Ok::<_, String>((shard, ty, group))
        })();
        found.map_err(|why| self.explain(op, &why)).ok()
    }

    /// `rms_norm(all_reduce(x), w)` -> `rms_norm(reduce_scatter(x), w)`, gathered later.
    fn rms_norm(&mut self, op: OperationRef<'c, 'a>) -> bool {
        let (Ok(input), Ok(w)) = (op.operand(0), op.operand(1)) else { return false };
        let Some((shard, ty, group)) = self.shard_input(op, input) else { return false };
        let Some(new) = self.copy_before(op, &[shard, w], &[ty]) else { return false };
        let Ok(y) = new.result(0) else { return false };
        self.old.push((op, y.into(), group));
        true
    }

    /// `fused_add_rms_norm(all_reduce(x), r, w)` with a sharded `r` ->
    /// `fused_add_rms_norm(reduce_scatter(x), r_shard, w)`; its residual output is the twin of the old one.
    fn fused_add_rms_norm(&mut self, op: OperationRef<'c, 'a>) -> bool {
        let (Ok(input), Ok(r), Ok(w), Ok(res)) = (op.operand(0), op.operand(1), op.operand(2), op.result(1)) else { return false };
        let Some(&(_, r_shard, r_group)) = self.twins.get(&ir::value_id(r)) else {
            self.explain(op, "the residual is not sharded (no earlier norm of this pass produced it)");
            return false;
        };
        // Rows sharded over one group cannot be added to rows sharded over another.
        if let Some(ar) = Self::all_reduce_of(input)
            && ar.attribute("group_name").ok() != Some(r_group)
        {
            self.explain(op, "the residual is sharded over another process group");
            return false;
        }
        let Some((shard, ty, group)) = self.shard_input(op, input) else { return false };
        let res_ty = r_shard.r#type();
        let Some(new) = self.copy_before(op, &[shard, r_shard, w], &[ty, res_ty]) else { return false };
        let (Ok(y), Ok(new_res)) = (new.result(0), new.result(1)) else { return false };
        self.twins.insert(ir::value_id(res.into()), (res.into(), new_res.into(), group));
        self.old.push((op, y.into(), group));
        true
    }

    /// The types `ops` (a decomposed norm or quant) have on the shard, in
    /// block order, for the ops that read a value of `seeds` (full values
    /// with a sharded twin) directly or through each other; the others (a
    /// scale's reciprocal) stay as they are. `None` if a result of one of
    /// them is not rows of the full row count.
    fn plan_rows(&self, ops: &[OperationRef<'c, 'a>], seeds: &[Value<'c, 'a>]) -> Option<Vec<(OperationRef<'c, 'a>, Vec<Type<'c>>)>> {
        let mut sorted = ops.to_vec();
        sorted.sort_by(|a, b| if a.is_before_in_block(*b) { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater });
        let mut sharded: HashSet<usize> = seeds.iter().map(|v| ir::value_id(*v)).collect();
        let mut plan = Vec::new();
        for op in sorted {
            if !op.operands().any(|v| sharded.contains(&ir::value_id(v))) {
                continue;
            }
            let mut types = Vec::new();
            for r in op.results() {
                types.push(self.shard_type(r.into()).ok()?);
                sharded.insert(ir::value_id(r.into()));
            }
            plan.push((op, types));
        }
        Some(plan)
    }

    /// Copies the planned ops onto the shard, each before its original,
    /// reading `map`'s twins; adds each copied result's twin to `map`.
    fn copy_rows(&mut self, plan: &[(OperationRef<'c, 'a>, Vec<Type<'c>>)], map: &mut HashMap<usize, Value<'c, 'a>>) -> Option<()> {
        for (op, types) in plan {
            let operands: Vec<Value> = op.operands().map(|v| map.get(&ir::value_id(v)).copied().unwrap_or(v)).collect();
            let new = self.copy_before(*op, &operands, types)?;
            for (old, new) in op.results().zip(new.results()) {
                map.insert(ir::value_id(old.into()), new.into());
            }
        }
        self.chains.extend(plan.iter().map(|(op, _)| *op));
        Some(())
    }

    /// A decomposed RMSNorm (as `recognize` reads one) ending at `op` whose
    /// input is an all-reduce (with the residual add: one operand an
    /// all-reduce, the other sharded), copied onto the shard op by op.
    fn native_rms(&mut self, op: OperationRef<'c, 'a>, recognize: fn(Value<'c, 'a>) -> Result<native::Rms<'c, 'a>, String>) -> bool {
        let Some(out) = op.results().next().map(Value::from) else { return false };
        let m = match recognize(out) {
            Ok(m) => m,
            Err(why) => {
                self.explain(op, &format!("not a decomposed RMSNorm: {why}"));
                return false;
            }
        };
        // The all-reduced operand, and the residual's twin (the add commutes: either order).
        let twin = |v: Value<'c, 'a>| self.twins.get(&ir::value_id(v)).map(|&(_, t, g)| (t, g));
        let (input, residual) = match m.residual {
            None => (m.x, None),
            Some(r) => match (Self::all_reduce_of(m.x), Self::all_reduce_of(r)) {
                (Some(_), _) if twin(r).is_some() => (m.x, Some((r, twin(r)))),
                (_, Some(_)) if twin(m.x).is_some() => (r, Some((m.x, twin(m.x)))),
                _ => {
                    self.explain(op, "the residual add is not of an all-reduce and a sharded residual");
                    return false;
                }
            },
        };
        if let (Some(ar), Some((_, Some((_, g))))) = (Self::all_reduce_of(input), residual)
            && ar.attribute("group_name").ok() != Some(g)
        {
            self.explain(op, "the residual is sharded over another process group");
            return false;
        }
        let seeds: Vec<Value> = std::iter::once(input).chain(residual.map(|(r, _)| r)).collect();
        let Some(plan) = self.plan_rows(&m.ops, &seeds) else {
            self.explain(op, "a value of the norm is not rows of the full row count");
            return false;
        };
        let Some((shard, _, group)) = self.shard_input(op, input) else { return false };
        let mut map = HashMap::from([(ir::value_id(input), shard)]);
        if let Some((r, Some((r_shard, _)))) = residual {
            map.insert(ir::value_id(r), r_shard);
        }
        if self.copy_rows(&plan, &mut map).is_none() {
            return false;
        }
        let Some(&y) = map.get(&ir::value_id(out)) else { return false };
        if let Some(ro) = m.residual_out
            && let Some(&ro_shard) = map.get(&ir::value_id(ro))
        {
            self.twins.insert(ir::value_id(ro), (ro, ro_shard, group));
        }
        self.old.push((op, y, group));
        true
    }

    /// Runs the decomposed quant `q` of the normalized rows on `y_shard` and gathers its FP8 rows.
    fn shard_native_quant(&mut self, q: &native::Quant<'c, 'a>, y_shard: Value<'c, 'a>, group: Attribute<'c>) -> bool {
        let Some(plan) = self.plan_rows(&q.ops, &[q.input]) else { return false };
        let mut map = HashMap::from([(ir::value_id(q.input), y_shard)]);
        if self.copy_rows(&plan, &mut map).is_none() {
            return false;
        }
        let Some(&q_shard) = map.get(&ir::value_id(q.out)) else { return false };
        ir::producer(q_shard).is_some_and(|def| self.gather_into(q.out, q_shard, def, group))
    }

    /// The normalized rows: a `ROW_WISE` quant that is their only reader
    /// runs on the shard (the all-gathers then move its FP8 rows and
    /// scales); otherwise they are gathered as they are. Returns the quants moved.
    fn finish_quants(&mut self) -> u64 {
        let mut moved = 0;
        for (op, y_shard, group) in self.old.clone() {
            let Ok(out) = op.result(0) else { continue };
            let out: Value = out.into();
            if let [reader] = ir::users(out).as_slice()
                && reader.name().as_string_ref().as_str().is_ok_and(|n| ROW_WISE.contains(&n))
                && reader.operand(0).is_ok_and(|v| v == out)
                && self.shard_row_wise(*reader, y_shard, group)
            {
                moved += 1;
                continue;
            }
            if let Some(q) = native::quant_reader(out)
                && self.shard_native_quant(&q, y_shard, group)
            {
                moved += 1;
                continue;
            }
            if let Some(def) = ir::producer(y_shard) {
                self.gather_into(out, y_shard, def, group);
            }
        }
        moved
    }

    /// Runs the row-wise `reader` on `y_shard` and gathers each of its results.
    fn shard_row_wise(&self, reader: OperationRef<'c, 'a>, y_shard: Value<'c, 'a>, group: Attribute<'c>) -> bool {
        let results: Vec<Value> = reader.results().map(Into::into).collect();
        let Ok(types) = results.iter().map(|r| self.shard_type(*r)).collect::<Result<Vec<_>, _>>() else { return false };
        let operands: Vec<Value> = std::iter::once(y_shard).chain(reader.operands().skip(1)).collect();
        let Some(new) = self.copy_before(reader, &operands, &types) else { return false };
        for (i, full) in results.iter().enumerate() {
            let Ok(shard) = new.result(i) else { return false };
            if !self.gather_into(*full, shard.into(), new, group) {
                return false;
            }
        }
        ir::erase(reader);
        true
    }

    /// Every use of `full` reads `all_gather(shard)`, placed after `after`;
    /// no all-gather (a collective nothing would remove) when nothing reads it.
    fn gather_into(&self, full: Value<'c, 'a>, shard: Value<'c, 'a>, after: OperationRef<'c, 'a>, group: Attribute<'c>) -> bool {
        if !ir::has_uses(full) {
            return true;
        }
        let Ok(ag) = self.collective("vllm.all_gather", shard, full.r#type(), group, after.location()) else { return false };
        let ag = self.block.insert_operation_after(after, ag);
        let Ok(g) = ag.result(0) else { return false };
        ir::replace_all_uses(full, g.into());
        true
    }

    /// Gives the other readers of each sharded value its all-gather, then
    /// erases the replaced norms and all-reduces. Returns the all-gathers added.
    fn finish(&self) -> u64 {
        let old: HashSet<usize> = self.old.iter().map(|(op, ..)| ir::op_id(op)).chain(self.chains.iter().map(ir::op_id)).collect();
        let mut added = 0;
        // In any order: each twin has its own defining op, which gets at most this one all-gather.
        for &(full, twin, group) in self.twins.values() {
            if ir::users(full).iter().all(|u| old.contains(&ir::op_id(u))) {
                continue;
            }
            if let Some(def) = ir::producer(twin)
                && self.gather_into(full, twin, def, group)
            {
                added += 1;
            }
        }
        // The replaced norms, the decomposed ops copied onto the shard and the
        // all-reduces given a twin, once each, when nothing reads them.
        let replaced = self.old.iter().map(|(op, ..)| *op);
        ir::erase_dead(replaced.chain(self.chains.iter().copied()).chain(self.all_reduces.iter().copied()));
        added
    }
}
