//! `vllm-async-tp`: a GEMM and the collective next to it -> one
//! symmetric-memory op that overlaps the communication with the GEMM.
//!
//! Runs after sequence parallelism, which leaves `reduce_scatter(gemm(..))`
//! after the o_proj / down_proj GEMMs and `gemm(all_gather(..), ..)` before
//! the qkv / gate_up ones. Each rewrite is local: the fused op takes the
//! collective's place and produces every value the pair produced.
use mlir_support::{
    ir,
    melior::{
        Context,
        ir::{
            Attribute, BlockLike, BlockRef, Identifier, Location, RegionLike, ShapedTypeLike, Type, Value, ValueLike,
            attribute::{ArrayAttribute, BoolAttribute, DenseI32ArrayAttribute, DenseI64ArrayAttribute, StringAttribute, TypeAttribute},
            operation::{Operation, OperationBuilder, OperationLike, OperationRef},
        },
    },
    pass::{Pass, PassFailed, PassInfo, PassOption, PassRun, PassStatistic},
};
use std::collections::{HashMap, HashSet};
use vllm_dialect::verify::shape_of;

/// The GEMMs async TP fuses. All take `(a, b[, a_scales, b_scales][, bias])`;
/// only GEMMs without a bias are fused (the reduce-scatter would sum it
/// once per rank in the fused op too, but vLLM does not fuse them either
/// and torch's fused kernels' bias handling is not specified to match).
const GEMMS: &[(&str, Scaled)] = &[("aten.mm", Scaled::No), ("vllm.cutlass_scaled_mm", Scaled::Yes), ("aten.scaled_mm", Scaled::Yes)];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scaled {
    No,
    Yes,
}

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-async-tp",
    summary: "GEMM + reduce-scatter and all-gather + GEMM -> PyTorch's symmetric-memory fused ops (async TP)",
    description: "
vLLM's AsyncTPPass (collective_fusion.py), for the GEMMs sequence parallelism
leaves next to its collectives:
- `reduce_scatter(mm(a, b))` -> `symm_mem.fused_matmul_reduce_scatter(a, b, \"sum\", 0, group)`;
- `reduce_scatter(cutlass_scaled_mm(a, b, sa, sb))` and the same with
  `aten._scaled_mm` -> `symm_mem.fused_scaled_matmul_reduce_scatter` (output
  shape `[M, N]`, the GEMM's output type);
- `mm(all_gather(x), b)` -> `symm_mem.fused_all_gather_matmul(x, [b], 0, group)`;
- `cutlass_scaled_mm(all_gather(x), b, sa, sb)` and `_scaled_mm` ->
  `symm_mem.fused_all_gather_scaled_matmul(x, [b], sa, [sb], ...)`.

The reduce is a sum (vLLM's reduce-scatter sums; vLLM <= 0.11 wrote
\"avg\"). Beyond vLLM's patterns:
- the all-gather may have other readers: they read the fused op's gathered
  result instead of a second all-gather; several GEMMs of the same gathered
  rows (separate q/k/v or gate/up projections) become one fused op with one
  `B` each, which torch's ops take as a list;
- a per-token (row-wise) activation scale that sequence parallelism
  all-gathered next to the FP8 rows is passed as the shard's own scale
  (`[M / tp, 1]`, which the fused op gathers with the rows), and the scale's
  all-gather goes away when nothing else reads it;
- f16 and f32 products fuse too when both scales are per tensor (vLLM
  registers its FP8 patterns for bf16 models only; torch's row-wise
  `_scaled_mm` writes only bf16, so row-wise scales need bf16).
- where only the fused GEMMs read the gathered rows, the bf16/f16/f32 op
  asks torch not to return them (`return_A=False`, as Inductor's own
  micro-pipeline TP pass does; vLLM leaves the default): torch then may take
  its multimem (NVSwitch multicast) all-gather for up to 2048 gathered rows,
  which it never does while it must return them. The FP8 op has no such
  argument.

The symmetric-memory ops name their process group by its c10d name
(`device_group.group_name`), which only the running process knows:
`group-names` maps each collective's vLLM group name to it (the pipeline
config's `c10d_group_names`). A site whose group has no c10d name is an
error, not a silent skip. Not fused (explained at `debug-node`): a GEMM with
a bias, a GEMM product read by anything but the reduce-scatter, collectives
along a dimension other than 0, a GEMM whose other operands are defined
after the all-gather, a scaled reduce-scatter with a symbolic shape.",
    anchor: Some("func.func"),
    options: &[
        PassOption {
            name: "tp-size",
            description: "Tensor-parallel world size: only collectives over this many ranks fuse (0 or 1: any)",
            default: "1",
        },
        PassOption {
            name: "group-names",
            description: "The c10d process-group name of each vLLM group: `tp:0=NAME[,GROUP=NAME...]`",
            default: "",
        },
        crate::fusion::DEBUG_NODE,
    ],
    statistics: &[
        PassStatistic { name: "gemm-reduce-scatter", description: "GEMM + reduce-scatter fused" },
        PassStatistic { name: "all-gather-gemm", description: "All-gather + GEMM fused" },
        PassStatistic {
            name: "gemms-sharing-an-all-gather",
            description: "Further GEMMs of the same gathered rows joined to its fused op (one `B` each)",
        },
        PassStatistic {
            name: "row-wise-scale-sharded",
            description: "Row-wise activation scales passed as the shard's (their all-gather removed)",
        },
        PassStatistic {
            name: "gathered-not-returned",
            description: "Fused all-gather GEMMs told not to return the gathered rows (return_A=False)",
        },
    ],
    sources: &[include_str!("async_tp.rs"), include_str!("fusion.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct AsyncTpPass;

impl Pass for AsyncTpPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, func: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let fail = |why: &str| {
            ir::emit_error(func.location(), &format!("vllm-async-tp: {why}"));
            PassFailed
        };
        let tp = crate::fusion::count_option(func, run, "tp-size", 1)? as i64;
        let groups = parse_group_names(run.option("group-names")).map_err(|e| fail(&e))?;
        let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return Ok(()) };
        let handle = ir::ContextHandle::of(&func);
        let mut f = Fuser { ctx: handle.get(), block, tp, groups, erased: HashSet::new(), debug: run.option("debug-node"), failed: false };
        for op in ir::block_ops(block) {
            if f.erased.contains(&ir::op_id(&op)) {
                continue;
            }
            let name = op.name();
            match name.as_string_ref().as_str() {
                Ok("vllm.reduce_scatter") if f.gemm_reduce_scatter(op) => run.bump("gemm-reduce-scatter", 1),
                Ok("vllm.all_gather") => {
                    if let Some((gemms, sharded, not_returned)) = f.all_gather_gemm(op) {
                        run.bump("all-gather-gemm", 1);
                        run.bump("gemms-sharing-an-all-gather", gemms as u64 - 1);
                        run.bump("row-wise-scale-sharded", sharded as u64);
                        run.bump("gathered-not-returned", not_returned as u64);
                    }
                }
                _ => {}
            }
        }
        if f.failed { Err(PassFailed) } else { Ok(()) }
    }
}

/// `tp:0=NAME,GROUP=NAME` -> the map.
fn parse_group_names(text: &str) -> Result<HashMap<String, String>, String> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|pair| match pair.trim().split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("group-names entry '{pair}' is not GROUP=C10D_NAME")),
        })
        .collect()
}

/// A GEMM's parts: `a`, `b`, the scales of a scaled one, its product.
struct Gemm<'c, 'a> {
    op: OperationRef<'c, 'a>,
    a: Value<'c, 'a>,
    b: Value<'c, 'a>,
    scales: Option<(Value<'c, 'a>, Value<'c, 'a>)>,
    out: Value<'c, 'a>,
}

struct Fuser<'c, 'a, 'd> {
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    tp: i64,
    groups: HashMap<String, String>,
    /// Ops erased while walking the snapshot of the block (never touched again).
    erased: HashSet<usize>,
    debug: &'d str,
    /// A site needed a c10d group name it was not given (already reported).
    failed: bool,
}

impl<'c, 'a> Fuser<'c, 'a, '_> {
    fn explain(&self, op: OperationRef<'c, 'a>, why: &str) {
        crate::fusion::explain(self.debug, "vllm-async-tp", &op, why);
    }

    /// `op` as a fusable GEMM, or why not.
    fn gemm(op: OperationRef<'c, 'a>) -> Result<Gemm<'c, 'a>, String> {
        let name = op.name();
        let name = name.as_string_ref().as_str().unwrap_or("");
        let Some(&(_, scaled)) = GEMMS.iter().find(|(n, _)| *n == name) else { return Err(format!("'{name}' is not a GEMM")) };
        let operands: Vec<Value> = op.operands().collect();
        let want = if scaled == Scaled::Yes { 4 } else { 2 };
        if operands.len() != want {
            return Err(format!("the {name} has a bias"));
        }
        let out: Value = op.result(0).map_err(|_| "no result")?.into();
        let rank2 = |v: Value| ir::ranked_tensor(v.r#type()).is_some_and(|t| t.rank() == 2);
        if !(rank2(operands[0]) && rank2(operands[1]) && rank2(out)) {
            return Err("the GEMM's operands are not matrices".into());
        }
        let scales = (scaled == Scaled::Yes).then(|| (operands[2], operands[3]));
        if let Some((sa, sb)) = scales {
            let elem = ir::ranked_tensor(out.r#type()).map(|t| ir::type_string(t.element())).unwrap_or_default();
            let per_tensor = |v: Value| shape_of(v.r#type()).is_some_and(|s| s.iter().all(|d| *d == Some(1)));
            if elem != "bf16" && !(per_tensor(sa) && per_tensor(sb)) {
                return Err(format!("a {elem} product with row-wise scales (torch's row-wise _scaled_mm writes bf16 only)"));
            }
        }
        Ok(Gemm { op, a: operands[0], b: operands[1], scales, out })
    }

    /// The collective's c10d group name, or an error reported at it.
    fn c10d_group(&mut self, coll: OperationRef<'c, 'a>) -> Option<Attribute<'c>> {
        let group = ir::string_attr(&coll, "group_name").unwrap_or_default();
        match self.groups.get(&group) {
            Some(name) => Some(StringAttribute::new(self.ctx, name).into()),
            None => {
                ir::emit_error(
                    coll.location(),
                    &format!(
                        "vllm-async-tp: no c10d process-group name for group '{group}': set the pipeline config's \
                         c10d_group_names (the pass option group-names='{group}=NAME') to its device_group.group_name"
                    ),
                );
                self.failed = true;
                None
            }
        }
    }

    /// The collective's shape checks: dim 0 and the pass's world size.
    fn collective_fits(&self, coll: OperationRef<'c, 'a>) -> Result<(), String> {
        let int = |n: &str| ir::int_attr(&coll, n);
        if int("dim") != Some(0) {
            return Err("the collective is not along dim 0".into());
        }
        if self.tp > 1 && int("world_size") != Some(self.tp) {
            return Err(format!("the collective's world_size is not tp-size {}", self.tp));
        }
        Ok(())
    }

    /// The op `name`, named after itself, at `loc` (not yet in the block).
    fn build(
        &self,
        name: &str,
        loc: Location<'c>,
        operands: &[Value<'c, 'a>],
        results: &[Type<'c>],
        attrs: Vec<(&str, Attribute<'c>)>,
    ) -> Option<Operation<'c>> {
        let attrs: Vec<(Identifier, Attribute)> = attrs.into_iter().map(|(n, a)| ir::named(self.ctx, n, a)).collect();
        let loc = Location::name(self.ctx, name.trim_start_matches("vllm."), loc);
        OperationBuilder::new(name, loc).add_operands(operands).add_results(results).add_attributes(&attrs).build().ok()
    }

    fn erase(&mut self, op: OperationRef<'c, 'a>) {
        self.erased.insert(ir::op_id(&op));
        ir::erase(op);
    }

    /// `reduce_scatter(gemm(a, b, ..))` -> the fused GEMM + reduce-scatter, in the reduce-scatter's place.
    fn gemm_reduce_scatter(&mut self, rs: OperationRef<'c, 'a>) -> bool {
        let found = (|| {
            self.collective_fits(rs)?;
            let x = rs.operand(0).map_err(|_| "no operand")?;
            let g = Self::gemm(ir::producer(x).ok_or("the reduce-scatter's operand is not a GEMM")?)?;
            if ir::users(g.out).len() != 1 {
                return Err("the GEMM's product has other readers than the reduce-scatter".to_string());
            }
            // `gemm` checked the product is a matrix.
            let shape = shape_of(g.out.r#type()).and_then(|s| s.into_iter().collect::<Option<Vec<i64>>>());
            if g.scales.is_some() && shape.is_none() {
                return Err("a scaled GEMM's output shape must be static".into());
            }
            Ok((g, shape.unwrap_or_default()))
        })();
        let (g, shape) = match found {
            Ok(f) => f,
            Err(why) => {
                self.explain(rs, &why);
                return false;
            }
        };
        let Some(group) = self.c10d_group(rs) else { return false };
        let Ok(res) = rs.result(0) else { return false };
        let res: Value = res.into();
        let sum: Attribute = StringAttribute::new(self.ctx, "sum").into();
        let fused = match g.scales {
            None => self.build(
                "vllm.fused_matmul_reduce_scatter",
                rs.location(),
                &[g.a, g.b],
                &[res.r#type()],
                vec![("reduce_op", sum), ("scatter_dim", ir::i64_attr(self.ctx, 0)), ("group_name", group)],
            ),
            Some((sa, sb)) => {
                let elem = ir::ranked_tensor(g.out.r#type()).map(|t| t.element());
                let Some(elem) = elem else { return false };
                self.build(
                    "vllm.fused_scaled_matmul_reduce_scatter",
                    rs.location(),
                    &[g.a, g.b, sa, sb],
                    &[res.r#type()],
                    vec![
                        ("reduce_op", sum),
                        ("orig_scatter_dim", ir::i64_attr(self.ctx, 0)),
                        ("scatter_dim_after_maybe_reshape", ir::i64_attr(self.ctx, 0)),
                        ("group_name", group),
                        ("output_shape", DenseI64ArrayAttribute::new(self.ctx, &shape).into()),
                        ("out_dtype", TypeAttribute::new(elem).into()),
                    ],
                )
            }
        };
        let Some(fused) = fused else { return false };
        let fused = self.block.insert_operation_before(rs, fused);
        let Ok(new) = fused.result(0) else { return false };
        ir::replace_all_uses(res, new.into());
        self.erase(rs);
        self.erase(g.op);
        true
    }

    /// Each op's position in the block.
    fn positions(&self) -> HashMap<usize, usize> {
        ir::block_ops(self.block).iter().enumerate().map(|(i, op)| (ir::op_id(op), i)).collect()
    }

    /// The shard's own row-wise scale when `sa` is its all-gather over the
    /// same group (`[rows of x, 1]` gathered like `x`), with that all-gather.
    fn shard_scale(&self, sa: Value<'c, 'a>, ag: OperationRef<'c, 'a>, x: Value<'c, 'a>) -> Option<(Value<'c, 'a>, OperationRef<'c, 'a>)> {
        let sag = crate::native::producer_named(sa, "vllm.all_gather")?;
        let same = |n: &str| sag.attribute(n).ok().is_some_and(|a| ag.attribute(n).ok() == Some(a));
        if !(same("dim") && same("world_size") && same("group_name")) {
            return None;
        }
        let s = sag.operand(0).ok()?;
        let (ss, xs) = (shape_of(s.r#type())?, shape_of(x.r#type())?);
        (ss.len() == 2 && ss[1] == Some(1) && ss[0].is_some() && ss[0] == xs.first().copied().flatten()).then_some((s, sag))
    }

    /// `gemm(all_gather(x), b, ..)` -> the fused all-gather + GEMM in the
    /// all-gather's place; the all-gather's other readers read its gathered
    /// result. Every GEMM of the gathered rows of the same kind (scaled or
    /// not; scaled ones with the same activation scale) joins the one fused
    /// op, one `B` each. Returns (GEMMs fused, whether a row-wise scale was
    /// passed as the shard's, whether the gathered rows are not returned).
    fn all_gather_gemm(&mut self, ag: OperationRef<'c, 'a>) -> Option<(usize, bool, bool)> {
        type Picked<'c, 'a> = (Vec<Gemm<'c, 'a>>, Option<Value<'c, 'a>>, Option<OperationRef<'c, 'a>>);
        let found = (|| -> Result<Picked<'c, 'a>, String> {
            self.collective_fits(ag)?;
            let gathered: Value = ag.result(0).map_err(|_| "no result")?.into();
            let x = ag.operand(0).map_err(|_| "no operand")?;
            let pos = self.positions();
            let at = |op: &OperationRef| pos.get(&ir::op_id(op)).copied().unwrap_or(usize::MAX);
            let ag_at = at(&ag);
            let before = |v: Value| ir::block_argument(v).is_some() || ir::producer(v).is_some_and(|p| at(&p) < ag_at);
            let mut users = ir::users(gathered);
            users.sort_by_key(|u| at(u));
            users.dedup_by_key(|u| ir::op_id(u));
            let mut why = "no GEMM reads the all-gather as its first operand".to_string();
            let mut picked: Picked = (Vec::new(), None, None);
            for u in users {
                let g = match Self::gemm(u) {
                    Ok(g) if g.a == gathered => g,
                    Ok(_) => continue,
                    Err(e) => {
                        why = e;
                        continue;
                    }
                };
                let (sa, sharded) = match g.scales.map(|(sa, _)| (sa, self.shard_scale(sa, ag, x))) {
                    Some((_, Some((s, sag)))) => (Some(s), Some(sag)),
                    Some((sa, None)) => (Some(sa), None),
                    None => (None, None),
                };
                let others = std::iter::once(g.b).chain(sa).chain(g.scales.map(|(_, sb)| sb));
                if others.clone().any(|v| v == gathered) || !others.into_iter().all(before) {
                    why = "the GEMM's other operands are not all defined before the all-gather".into();
                    continue;
                }
                match picked.0.first() {
                    None => picked = (vec![g], sa, sharded),
                    // Same kind and, scaled, the same activation scale: one more `B`.
                    Some(first) if first.scales.is_some() == g.scales.is_some() && picked.1 == sa => picked.0.push(g),
                    Some(_) => {}
                }
            }
            if picked.0.is_empty() { Err(why) } else { Ok(picked) }
        })();
        let (gemms, sa, sharded) = match found {
            Ok(f) => f,
            Err(why) => {
                self.explain(ag, &why);
                return None;
            }
        };
        let group = self.c10d_group(ag)?;
        let gathered: Value = ag.result(0).ok()?.into();
        let x = ag.operand(0).ok()?;
        let n = gemms.len();
        let results: Vec<Type> = std::iter::once(gathered.r#type()).chain(gemms.iter().map(|g| g.out.r#type())).collect();
        let bs: Vec<Value> = gemms.iter().map(|g| g.b).collect();
        let mut attrs = vec![("gather_dim", ir::i64_attr(self.ctx, 0)), ("group_name", group)];
        let fused = match sa {
            Some(sa) => {
                let sbs: Vec<Value> = gemms.iter().filter_map(|g| g.scales.map(|(_, sb)| sb)).collect();
                let list = |each: &dyn Fn(&Gemm<'c, 'a>) -> Option<Attribute<'c>>| -> Option<Attribute<'c>> {
                    let items: Option<Vec<Attribute>> = gemms.iter().map(each).collect();
                    Some(ArrayAttribute::new(self.ctx, &items?).into())
                };
                let unit = Attribute::unit(self.ctx);
                let no_fast = BoolAttribute::new(self.ctx, false).into();
                attrs.extend([
                    ("biases", list(&|_| Some(unit))?),
                    ("result_scales", list(&|_| Some(unit))?),
                    ("out_dtypes", list(&|g| Some(TypeAttribute::new(ir::ranked_tensor(g.out.r#type())?.element()).into()))?),
                    ("use_fast_accum", list(&|_| Some(no_fast))?),
                    ("operandSegmentSizes", DenseI32ArrayAttribute::new(self.ctx, &[1, n as i32, 1, n as i32]).into()),
                ]);
                let operands: Vec<Value> = std::iter::once(x).chain(bs).chain([sa]).chain(sbs).collect();
                self.build("vllm.fused_all_gather_scaled_matmul", ag.location(), &operands, &results, attrs)
            }
            None => {
                // Where only these GEMMs read the gathered rows, torch need not return them.
                let others = ir::users(gathered).iter().any(|u| !gemms.iter().any(|g| ir::op_id(&g.op) == ir::op_id(u)));
                attrs.push(("return_A", BoolAttribute::new(self.ctx, others).into()));
                let operands: Vec<Value> = std::iter::once(x).chain(bs).collect();
                self.build("vllm.fused_all_gather_matmul", ag.location(), &operands, &results, attrs)
            }
        }?;
        let not_returned = fused.attribute("return_A").ok().and_then(|a| BoolAttribute::try_from(a).ok()).is_some_and(|b| !b.value());
        let fused = self.block.insert_operation_before(ag, fused);
        for (i, g) in gemms.iter().enumerate() {
            ir::replace_all_uses(g.out, fused.result(1 + i).ok()?.into());
        }
        ir::replace_all_uses(gathered, fused.result(0).ok()?.into());
        for g in &gemms {
            self.erase(g.op);
        }
        self.erase(ag);
        if let Some(sag) = sharded
            && ir::results_unused(sag)
        {
            self.erase(sag);
        }
        Some((n, sharded.is_some(), not_returned))
    }
}
