//! `vllm-fuse-qk-norm-rope`: the per-head RMSNorms of the query and key
//! heads (Qwen3's `q_norm`/`k_norm`) and the rotary embedding after them ->
//! one in-place kernel on the packed `qkv` rows.
use crate::native;
use mlir_support::{
    ir,
    melior::{
        Context,
        ir::{
            Attribute, BlockLike, BlockRef, Identifier, Location, RegionLike, ShapedTypeLike, Type, Value, ValueLike,
            attribute::{BoolAttribute, DenseI64ArrayAttribute, FloatAttribute, IntegerAttribute},
            operation::{OperationBuilder, OperationLike, OperationRef},
        },
    },
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};
use std::collections::HashSet;

const FUSED: &str = "vllm.fused_qk_norm_rope";

/// The head sizes vLLM's kernel is compiled for.
const HEAD_DIMS: [i64; 3] = [64, 128, 256];

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fuse-qk-norm-rope",
    summary: "Per-head RMSNorm of the query and key heads + rotary embedding -> one in-place kernel on the packed qkv rows",
    description: "
vLLM main's QKNormRoPEFusionPass (Qwen3-style attention; off by default in
vLLM and here: `enable_qk_norm_rope_fusion`). The rows of one projection
`qkv` are split into `q`, `k`, `v` (three `aten.slice`s of the last dim,
or one `aten.split_with_sizes`); `q` viewed as heads `[T, Hq, D]`,
`rms_norm(q_heads, q_weight)`, viewed back to `[T, Hq * D]`; the same for
`k`; then `rotary_embedding(positions, q, k, cos_sin_cache)`. Becomes
`fused_qk_norm_rope(qkv, q_weight, k_weight, cos_sin_cache, positions)`,
whose result is sliced into the new `q`, `k` and `v`; fix-functionalization
then writes `qkv` in place, as vLLM's replacement does.

The kernel normalizes in f32 and rounds once, after the rotation; the
unfused ops round after `x * s`, after `* w` and after the rotation. So
the fused values are the exact ones rounded once, and about a third of
them differ from the unfused graph's, within 2^-7 of the rotation's terms
(numerics::qk_norm_rope_fusion); vLLM's own fusion has the same
difference. Decomposed per-head norms (vLLM's native
RMSNorm, custom ops off) of a view of such a slice are raised to the
custom op first; the rotary embedding must be the custom op (its native
form is not matched: inside vLLM, whose compiled graphs use native forms by
default, enable it with `custom_ops: [\"+rotary_embedding\"]`).

Conditions, each explained at `debug-node` when it fails: bf16 or f16 rows
with a static width, `D` in {64, 128, 256} (vLLM's kernel) and the
rotary's `head_size`, a rotary over the whole head (the cache's rows `D`
wide: vLLM's kernel exchanges the halves with a warp shuffle that the lanes
past a partial rotary skip, which the shuffle's full mask does not allow), one
epsilon for both norms (any value), weights of `D` elements of the rows'
type, the slices at `[0, Hq*D)`, `[Hq*D, (Hq+Hk)*D)` and the value heads
after them, each intermediate read only by the next op of the chain, and
every reader of `v` after the rotary embedding.",
    anchor: Some("func.func"),
    options: &[crate::fusion::DEBUG_NODE],
    statistics: &[
        PassStatistic { name: "qk-norm-rope", description: "q/k norms + rotary embedding fused" },
        PassStatistic { name: "native-rms", description: "Decomposed per-head RMSNorms raised to the custom op (then fused)" },
    ],
    sources: &[include_str!("fuse_qk_norm_rope.rs"), include_str!("fusion.rs"), include_str!("native.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct FuseQkNormRopePass;

impl Pass for FuseQkNormRopePass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }
    fn run(&self, func: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return Ok(()) };
        let handle = ir::ContextHandle::of(&func);
        let mut f = Fuser { ctx: handle.get(), block, erased: HashSet::new(), debug: run.option("debug-node") };
        run.bump("native-rms", f.raise_natives());
        f.erased.clear(); // a fresh snapshot: freed addresses may be reused
        let mut fused = 0;
        for op in ir::block_ops(block) {
            if f.erased.contains(&ir::op_id(&op)) || op.name().as_string_ref().as_str() != Ok("vllm.rotary_embedding") {
                continue;
            }
            match f.site(op) {
                Ok(site) => fused += u64::from(f.rewrite(site).is_some()),
                Err(why) => crate::fusion::explain(f.debug, INFO.argument, &op, &why),
            }
        }
        run.bump("qk-norm-rope", fused);
        Ok(())
    }
}

/// The static shape of `v` (`None` for a symbolic size), if a ranked tensor.
fn dims(v: Value<'_, '_>) -> Option<Vec<Option<i64>>> {
    vllm_dialect::verify::shape_of(v.r#type())
}

fn elem(v: Value<'_, '_>) -> Option<String> {
    ir::ranked_tensor(v.r#type()).map(|t| ir::type_string(t.element()).into_owned())
}

fn int_attr(op: &OperationRef<'_, '_>, name: &str) -> Option<i64> {
    op.attribute(name).ok().and_then(|a| IntegerAttribute::try_from(a).ok()).map(|a| a.value())
}

fn name_is(op: &OperationRef<'_, '_>, names: &[&str]) -> bool {
    op.name().as_string_ref().as_str().is_ok_and(|n| names.contains(&n))
}

/// `v`'s only reader, if it has exactly one.
fn only_reader<'c, 'a>(v: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    match ir::users(v).as_slice() {
        [u] => Some(*u),
        _ => None,
    }
}

/// Where a q or k chunk comes from: `qkv[:, start:start + width]`.
struct Chunk<'c, 'a> {
    qkv: Value<'c, 'a>,
    start: i64,
    width: i64,
    /// The op that cut it (an `aten.slice`, or the `aten.split_with_sizes`).
    cut: OperationRef<'c, 'a>,
}

/// One head-normalized chunk on its way into the rotary embedding.
struct Normed<'c, 'a> {
    chunk: Chunk<'c, 'a>,
    heads: i64,
    weight: Value<'c, 'a>,
    eps: f64,
    /// The chain from the chunk's view to the view back, erased once dead.
    ops: Vec<OperationRef<'c, 'a>>,
}

struct Site<'c, 'a> {
    rope: OperationRef<'c, 'a>,
    q: Normed<'c, 'a>,
    k: Normed<'c, 'a>,
    head_dim: i64,
    /// Width of the value heads, and the value chunk where the graph cut one.
    v_width: i64,
    v: Option<Value<'c, 'a>>,
}

struct Fuser<'c, 'a, 'd> {
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    erased: HashSet<usize>,
    debug: &'d str,
}

impl<'c, 'a> Fuser<'c, 'a, '_> {
    /// The rows `x` of the last dim cut out of a 2-D `qkv`: an `aten.slice`
    /// (step 1, bounds clamped as Python does) or a result of an
    /// `aten.split_with_sizes`.
    fn chunk(&self, x: Value<'c, 'a>) -> Result<Chunk<'c, 'a>, String> {
        let cut = ir::producer(x).ok_or("the chunk is not cut out of a qkv tensor")?;
        let qkv = cut.operand(0).map_err(|_| "the cut has no operand")?;
        let shape = dims(qkv).ok_or("qkv is not a ranked tensor")?;
        let [_, Some(n)] = shape[..] else { return Err("qkv is not rows of a static width".into()) };
        let last = |d: i64| d == -1 || d == 1;
        if name_is(&cut, &["aten.slice"]) {
            // Absent attributes take the schema's defaults; symbolic bounds come as operands.
            let at = |name: &str, default: i64| int_attr(&cut, name).unwrap_or(default);
            let (dim, start, end, step) = (at("dim", 0), at("start", 0), at("end", i64::MAX), at("step", 1));
            if [start, end].contains(&vllm_dialect::K_DYNAMIC) {
                return Err("the slice's bounds are not static".into());
            }
            let clamp = |i: i64| if i < 0 { (i + n).max(0) } else { i.min(n) };
            let (start, end) = (clamp(start), clamp(end));
            if !last(dim) || step != 1 || cut.operands().count() != 1 || end <= start {
                return Err("the chunk is not a step-1 slice of qkv's last dim".into());
            }
            return Ok(Chunk { qkv, start, width: end - start, cut });
        }
        if name_is(&cut, &["aten.split_with_sizes"]) {
            let sizes = cut.attribute("split_sizes").ok().and_then(|a| DenseI64ArrayAttribute::try_from(a).ok());
            let sizes: Vec<i64> = sizes.map(|s| (0..s.len()).filter_map(|i| s.element(i).ok()).collect()).unwrap_or_default();
            let i = cut.results().position(|r| Value::from(r) == x).ok_or("not a result of the split")?;
            if !int_attr(&cut, "dim").is_some_and(last) || sizes.iter().sum::<i64>() != n || i >= sizes.len() {
                return Err("the split is not of qkv's last dim into chunks that cover it".into());
            }
            return Ok(Chunk { qkv, start: sizes[..i].iter().sum(), width: sizes[i], cut });
        }
        Err("the chunk is not an aten.slice or aten.split_with_sizes of qkv".into())
    }

    /// `x`, the rotary's query or key: `view(rms_norm(view(chunk, [T, H, D]), w), [T, H * D])`.
    fn normed(&self, x: Value<'c, 'a>, rope: OperationRef<'c, 'a>) -> Result<Normed<'c, 'a>, String> {
        const VIEWS: &[&str] = &["aten.view", "aten.reshape"];
        let back = ir::producer(x).filter(|p| name_is(p, VIEWS)).ok_or("the rotary's input is not a view of a norm")?;
        let n: Value = back.operand(0).map_err(|_| "no operand")?;
        let norm = native::producer_named(n, "vllm.rms_norm").ok_or("the rotary's input is not a view of an rms_norm")?;
        let heads: Value = norm.operand(0).map_err(|_| "no operand")?;
        let weight = norm.operand(1).map_err(|_| "no weight")?;
        let view = ir::producer(heads).filter(|p| name_is(p, VIEWS)).ok_or("the norm's input is not a view as heads")?;
        let chunk: Value = view.operand(0).map_err(|_| "no operand")?;
        let single = [(x, rope), (n, back), (heads, norm), (chunk, view)];
        if single.iter().any(|(v, reader)| only_reader(*v) != Some(*reader)) {
            return Err("a value between the qkv chunk and the rotary has another reader".into());
        }
        let (head_dims, row_dims) = (dims(heads).unwrap_or_default(), dims(x).unwrap_or_default());
        let ([_, Some(h), Some(d)], [_, Some(w)]) = (&head_dims[..], &row_dims[..]) else {
            return Err("the norm is not over [T, heads, head_dim] with static heads, viewed back as [T, heads * head_dim]".into());
        };
        if h * d != *w {
            return Err("the view back does not join the heads".into());
        }
        let eps = norm.attribute("epsilon").ok().and_then(|a| FloatAttribute::try_from(a).ok()).map(|f| f.value());
        let chunk = self.chunk(chunk)?;
        if chunk.width != *w {
            return Err("the viewed chunk is not the rows the norm reads".into());
        }
        Ok(Normed { chunk, heads: *h, weight, eps: eps.ok_or("the norm has no epsilon")?, ops: vec![back, norm, view] })
    }

    /// The fusion site whose rotary embedding is `rope`, or why there is none.
    fn site(&self, rope: OperationRef<'c, 'a>) -> Result<Site<'c, 'a>, String> {
        let named = vllm_dialect::verify::named_operands(&rope).ok_or("the rotary's operands are not in the op table's form")?;
        let get = |n: &str| named.iter().find(|(k, _)| *k == n).and_then(|(_, v)| v.first().copied());
        let (query, key) = (get("query").ok_or("no query")?, get("key").ok_or("the rotary has no key")?);
        if rope.results().count() != 2 {
            return Err("the rotary does not return the new key".into());
        }
        let (q, k) = (self.normed(query, rope)?, self.normed(key, rope)?);
        let d = int_attr(&rope, "head_size").ok_or("no head_size")?;
        let qkv = q.chunk.qkv;
        let t = elem(qkv).unwrap_or_default();
        let n = dims(qkv).and_then(|s| s[1]).unwrap_or(0);
        let cache = get("cos_sin_cache").ok_or("no cos_sin_cache")?;
        let rot = dims(cache).and_then(|s| s.get(1).copied().flatten());
        let checks: [(bool, String); 9] = [
            (k.chunk.qkv == qkv, "the query and key are not cut out of the same qkv".into()),
            (matches!(t.as_str(), "bf16" | "f16"), format!("the kernel takes bf16 or f16 rows, not {t}")),
            (HEAD_DIMS.contains(&d), format!("head_size {d} is not one the kernel is built for (64, 128, 256)")),
            (q.chunk.width == q.heads * d && k.chunk.width == k.heads * d, "the norms' heads are not of the rotary's head_size".into()),
            (q.eps == k.eps, format!("the norms' epsilons differ ({} and {}); the kernel takes one", q.eps, k.eps)),
            (
                [q.weight, k.weight].iter().all(|w| dims(*w).as_deref() == Some(&[Some(d)]) && elem(*w).as_deref() == Some(&t)),
                format!("the norm weights are not vectors of {d} {t} elements"),
            ),
            (q.chunk.start == 0 && k.chunk.start == q.chunk.width, "the query and key are not qkv's first two chunks".into()),
            (
                rot == Some(d),
                format!(
                    "the rotary turns {} of the head's {d} dims; the kernel's lanes exchange halves of whole heads only",
                    rot.map_or("a symbolic number".into(), |r| r.to_string())
                ),
            ),
            ((n - q.chunk.width - k.chunk.width) % d == 0, "the value chunk is not whole heads".into()),
        ];
        if let Some((_, why)) = checks.iter().find(|(ok, _)| !ok) {
            return Err(why.clone());
        }
        let v_width = n - q.chunk.width - k.chunk.width;
        // The value chunk, where the graph cut one: a slice of the rest, or the split's third result.
        let v_start = q.chunk.width + k.chunk.width;
        let v = ir::users(qkv)
            .into_iter()
            .flat_map(|u| u.results().map(Value::from).collect::<Vec<_>>())
            .find(|r| self.chunk(*r).is_ok_and(|c| c.qkv == qkv && c.start == v_start && c.width == v_width));
        if let Some(v) = v
            && ir::users(v).iter().any(|u| !rope.is_before_in_block(*u))
        {
            return Err("the value chunk is read before the rotary embedding".into());
        }
        Ok(Site { rope, q, k, head_dim: d, v_width, v })
    }

    fn attr(&self, name: &str, a: Attribute<'c>) -> (Identifier<'c>, Attribute<'c>) {
        (Identifier::new(self.ctx, name), a)
    }

    /// `qkv[:, start:start + width]` as an `aten.slice` before `before`.
    fn slice(&self, qkv: Value<'c, 'a>, start: i64, width: i64, like: Type<'c>, before: OperationRef<'c, 'a>) -> Option<Value<'c, 'a>> {
        let attrs = [
            self.attr("dim", ir::i64_attr(self.ctx, -1)),
            self.attr("start", ir::i64_attr(self.ctx, start)),
            self.attr("end", ir::i64_attr(self.ctx, start + width)),
            self.attr("step", ir::i64_attr(self.ctx, 1)),
        ];
        let loc = Location::name(self.ctx, "slice", before.location());
        let op = OperationBuilder::new("aten.slice", loc).add_operands(&[qkv]).add_results(&[like]).add_attributes(&attrs).build().ok()?;
        self.block.insert_operation_before(before, op).result(0).ok().map(Into::into)
    }

    /// The fused op before the rotary embedding, its result sliced into the
    /// new query, key and value.
    fn rewrite(&mut self, site: Site<'c, 'a>) -> Option<()> {
        let Site { rope, q, k, head_dim, v_width, v } = site;
        let named = vllm_dialect::verify::named_operands(&rope)?;
        let get = |n: &str| named.iter().find(|(k, _)| *k == n).and_then(|(_, v)| v.first().copied());
        let (positions, cache) = (get("positions")?, get("cos_sin_cache")?);
        let qkv = q.chunk.qkv;
        let is_neox = rope.attribute("is_neox").ok().and_then(|a| BoolAttribute::try_from(a).ok()).is_none_or(|b| b.value());
        let attrs = [
            self.attr("num_heads_q", ir::i64_attr(self.ctx, q.heads)),
            self.attr("num_heads_k", ir::i64_attr(self.ctx, k.heads)),
            self.attr("num_heads_v", ir::i64_attr(self.ctx, v_width / head_dim)),
            self.attr("head_dim", ir::i64_attr(self.ctx, head_dim)),
            self.attr("eps", FloatAttribute::new(self.ctx, Type::float64(self.ctx), q.eps).into()),
            self.attr("is_neox", BoolAttribute::new(self.ctx, is_neox).into()),
        ];
        let locs: Vec<Location> = [&q.ops[..], &k.ops[..], &[rope]].concat().iter().map(|o| o.location()).collect();
        let loc = Location::fused(self.ctx, &locs, Attribute::unit(self.ctx));
        let fused = OperationBuilder::new(FUSED, loc)
            .add_operands(&[qkv, q.weight, k.weight, cache, positions])
            .add_results(&[qkv.r#type()])
            .add_attributes(&attrs)
            .build()
            .ok()?;
        let out: Value = self.block.insert_operation_before(rope, fused).result(0).ok()?.into();
        let (q_out, k_out): (Value, Value) = (rope.result(0).ok()?.into(), rope.result(1).ok()?.into());
        let new_q = self.slice(out, 0, q.chunk.width, q_out.r#type(), rope)?;
        let new_k = self.slice(out, q.chunk.width, k.chunk.width, k_out.r#type(), rope)?;
        ir::replace_all_uses(q_out, new_q);
        ir::replace_all_uses(k_out, new_k);
        if let Some(v) = v {
            let new_v = self.slice(out, q.chunk.width + k.chunk.width, v_width, v.r#type(), rope)?;
            ir::replace_all_uses(v, new_v);
        }
        let mut dead = vec![rope];
        dead.extend(q.ops.iter().chain(&k.ops).copied());
        dead.extend([q.chunk.cut, k.chunk.cut]);
        dead.extend(v.and_then(ir::producer));
        let ids: Vec<usize> = dead.iter().map(ir::op_id).collect();
        let left: HashSet<usize> = ir::erase_dead(dead).iter().map(ir::op_id).collect();
        self.erased.extend(ids.into_iter().filter(|id| !left.contains(id)));
        Some(())
    }

    /// Raises each decomposed RMSNorm (no residual) over a view of rows as
    /// heads, `[T, H, D]`: what vLLM's native `q_norm`/`k_norm` trace to.
    /// Returns how many were raised.
    fn raise_natives(&mut self) -> u64 {
        let mut raised = 0;
        for op in ir::block_ops(self.block) {
            if self.erased.contains(&ir::op_id(&op)) || !name_is(&op, &["aten.mul"]) {
                continue;
            }
            let Some(out) = op.results().next().map(Value::from) else { continue };
            let Ok(m) = native::rms(out) else { continue };
            let per_head = m.residual.is_none()
                && dims(m.x).is_some_and(|s| s.len() == 3)
                && ir::producer(m.x).is_some_and(|p| name_is(&p, &["aten.view", "aten.reshape"]));
            if per_head && native::raise_rms(self.ctx, self.block, &m, &mut self.erased).is_some() {
                raised += 1;
            }
        }
        raised
    }
}
