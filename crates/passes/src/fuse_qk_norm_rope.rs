//! `vllm-fuse-qk-norm-rope`: the per-head RMSNorms of the query and key
//! heads (Qwen3's `q_norm`/`k_norm`) and the rotary embedding after them ->
//! one in-place kernel on the packed `qkv` rows.
use crate::native;
use mlir_support::{
    ir,
    melior::{
        Context,
        ir::{
            Attribute, BlockLike, BlockRef, Location, RegionLike, Type, Value, ValueLike,
            attribute::{BoolAttribute, DenseI64ArrayAttribute, FloatAttribute},
            operation::{OperationBuilder, OperationLike, OperationRef},
        },
    },
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};
use std::collections::HashSet;

pub(crate) const FUSED: &str = "vllm.fused_qk_norm_rope";

const VIEWS: &[&str] = &["aten.view", "aten.reshape"];

/// The head sizes vLLM's kernel is compiled for.
const HEAD_DIMS: [i64; 3] = [64, 128, 256];

/// Whether the running vLLM's kernel rotates part of a head (its checks
/// `rotary_dim <= head_dim` and even, as vLLM 0.33.0's library has them):
/// only then does a partial rotary (GLM-4's) fuse. The pipeline's
/// `qk_norm_rope_partial_rotary`, which VllmOptPass fills in from that library.
pub const PARTIAL_ROTARY: mlir_support::pass::PassOption = mlir_support::pass::PassOption {
    name: "partial-rotary",
    description: "The running vLLM's kernel rotates the first rotary_dim dims of a head (true/false): partial rotaries fuse",
    default: "false",
};

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
custom op first. The rotary embedding is the custom op or vLLM's native
form (`RotaryEmbedding.forward_native`, custom ops off as vLLM compiles
by default), computed in the activation type: for neox
`reshape(cat(x1 * cos - x2 * sin, x2 * cos + x1 * sin))` of the halves of
the rows as heads, for GPT-J the same terms of their even and odd elements
(`x[..., ::2]`, `x[..., 1::2]`) stacked back as pairs
(`stack(.., -1).flatten(-2)`: unsqueeze, cat, views), `cos` and `sin` the
halves of `cache[positions]`. The query's and the key's rotations by one
cache, one positions tensor and one style are paired (statistic
`native-rope`).

Conditions, each explained at `debug-node` when it fails: bf16 or f16 rows
with a static width, `D` in {64, 128, 256} (vLLM's kernel) and the
rotary's `head_size`, a rotary over the whole head (the cache's rows `D`
wide) or, with `partial-rotary=true`, over its first `R` dims (`R` even, at
most `D`: the cache's rows `R` wide; GLM-4 rotates half of each head): vLLM
0.33.0's kernel checks `rotary_dim <= head_dim` and even (read off its
library) and rotates those dims, leaving the others normalized; an older
kernel may not, so a partial rotary fuses only when the caller says the
running vLLM's does (the pipeline's `qk_norm_rope_partial_rotary`), one
epsilon for both norms (any value), weights of `D` elements of the rows'
type, the slices at `[0, Hq*D)`, `[Hq*D, (Hq+Hk)*D)` and the value heads
after them, each intermediate read only by the next op of the chain, and
every reader of `v` after the rotary embedding, and `qkv` recorded as
contiguous rows (vLLM's kernel checks `qkv.is_contiguous()`).",
    anchor: Some("func.func"),
    options: &[crate::fusion::DEBUG_NODE, crate::fusion::UNAVAILABLE_OPS, PARTIAL_ROTARY],
    statistics: &[
        PassStatistic { name: "qk-norm-rope", description: "q/k norms + rotary embedding fused" },
        PassStatistic { name: "native-rms", description: "Decomposed per-head RMSNorms raised to the custom op (then fused)" },
        PassStatistic { name: "native-rope", description: "... of them, the sites whose rotation was vLLM's native form (neox or GPT-J)" },
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
        let partial = run.option(PARTIAL_ROTARY.name) == "true";
        let mut f = Fuser { ctx: handle.get(), block, erased: HashSet::new(), debug: run.option("debug-node"), partial };
        if let Some(why) = crate::fusion::unavailable(FUSED, run.option(crate::fusion::UNAVAILABLE_OPS.name)) {
            // Nothing changes, the decomposed norms included (raised only to fuse).
            for op in ir::block_ops(block).into_iter().filter(|o| o.name().as_string_ref().as_str() == Ok("vllm.rotary_embedding")) {
                crate::fusion::explain(f.debug, INFO.argument, &op, &why);
            }
            return Ok(());
        }
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
        f.erased.clear();
        let native = f.fuse_native_rotations();
        run.bump("native-rope", native);
        run.bump("qk-norm-rope", fused + native);
        Ok(())
    }
}

/// The static shape of `v` (`None` for a symbolic size), if a ranked tensor.
fn dims(v: Value<'_, '_>) -> Option<Vec<Option<i64>>> {
    vllm_dialect::verify::shape_of(v.r#type())
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
#[derive(Clone)]
struct Chunk<'c, 'a> {
    qkv: Value<'c, 'a>,
    start: i64,
    width: i64,
    /// The op that cut it (an `aten.slice`, or the `aten.split_with_sizes`).
    cut: OperationRef<'c, 'a>,
}

/// One head-normalized chunk on its way into the rotary embedding.
#[derive(Clone)]
struct Normed<'c, 'a> {
    chunk: Chunk<'c, 'a>,
    heads: i64,
    weight: Value<'c, 'a>,
    eps: f64,
    /// The chain from the chunk's view to the view back, erased once dead.
    ops: Vec<OperationRef<'c, 'a>>,
}

/// The rotation of one head-normalized chunk (the custom op rotates both).
#[derive(Clone)]
struct Rotation<'c, 'a> {
    cache: Value<'c, 'a>,
    positions: Value<'c, 'a>,
    neox: bool,
    head_dim: i64,
    /// The rotated rows, `[T, H * D]`, which the fused result's slices replace.
    out: Value<'c, 'a>,
    /// The rotation's own ops, erased once dead.
    ops: Vec<OperationRef<'c, 'a>>,
}

/// One half of the rows as heads, as a native rotation reads it.
struct Half<'c, 'a> {
    /// The rows as heads, `[T, H, D]`.
    x: Value<'c, 'a>,
    /// 0 for `x1` (first half, or even elements), 1 for `x2`.
    index: usize,
    /// The op that cut it out of `x`.
    cut: OperationRef<'c, 'a>,
}

struct Site<'c, 'a> {
    /// The fused op goes before it: every chain op is above, every reader of
    /// the rotated rows (and of the value chunk) below.
    at: OperationRef<'c, 'a>,
    q: Normed<'c, 'a>,
    k: Normed<'c, 'a>,
    /// The rotations of the query and the key (for the custom op, the same
    /// rotation with both results).
    rot: Rotation<'c, 'a>,
    k_out: Value<'c, 'a>,
    /// Width of the value heads, and the value chunk where the graph cut one.
    v_width: i64,
    v: Option<Value<'c, 'a>>,
}

struct Fuser<'c, 'a, 'd> {
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    erased: HashSet<usize>,
    debug: &'d str,
    /// Partial rotaries fuse (`partial-rotary`).
    partial: bool,
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
            // Bounds as Python clamps them.
            let clamp = |i: i64| if i < 0 { (i + n).max(0) } else { i.min(n) };
            return match native::slice_of(x).map(|(_, start, end, _, _)| (clamp(start), clamp(end))) {
                Some((start, end)) if end > start => Ok(Chunk { qkv, start, width: end - start, cut }),
                _ => Err("the chunk is not a static step-1 slice of qkv's last dim".into()),
            };
        }
        if name_is(&cut, &["aten.split_with_sizes"]) {
            let sizes = cut.attribute("split_sizes").ok().and_then(|a| DenseI64ArrayAttribute::try_from(a).ok());
            let sizes: Vec<i64> = sizes.map(|s| (0..s.len()).filter_map(|i| s.element(i).ok()).collect()).unwrap_or_default();
            let i = cut.results().position(|r| Value::from(r) == x).ok_or("not a result of the split")?;
            if !ir::int_attr(&cut, "dim").is_some_and(last) || sizes.iter().sum::<i64>() != n || i >= sizes.len() {
                return Err("the split is not of qkv's last dim into chunks that cover it".into());
            }
            return Ok(Chunk { qkv, start: sizes[..i].iter().sum(), width: sizes[i], cut });
        }
        Err("the chunk is not an aten.slice or aten.split_with_sizes of qkv".into())
    }

    /// `x`, the custom rotary's query or key: `view(rms_norm(view(chunk,
    /// [T, H, D]), w), [T, H * D])`.
    fn normed(&self, x: Value<'c, 'a>, rope: OperationRef<'c, 'a>) -> Result<Normed<'c, 'a>, String> {
        let back = ir::producer(x).filter(|p| name_is(p, VIEWS)).ok_or("the rotary's input is not a view of a norm")?;
        if only_reader(x) != Some(rope) {
            return Err("a value between the qkv chunk and the rotary has another reader".into());
        }
        let n: Value = back.operand(0).map_err(|_| "no operand")?;
        let m = self.normed_heads(n, &[back])?;
        if dims(x).and_then(|s| s.get(1).copied().flatten()) != Some(m.chunk.width) || dims(x).map(|s| s.len()) != Some(2) {
            return Err("the view back does not join the heads".into());
        }
        Ok(Normed { ops: [vec![back], m.ops].concat(), ..m })
    }

    /// `n`, read by `readers` alone: `rms_norm(view(chunk, [T, H, D]), w)`.
    fn normed_heads(&self, n: Value<'c, 'a>, readers: &[OperationRef<'c, 'a>]) -> Result<Normed<'c, 'a>, String> {
        let norm = native::producer_named(n, "vllm.rms_norm").ok_or("the rotated rows are not an rms_norm's")?;
        let heads: Value = norm.operand(0).map_err(|_| "no operand")?;
        let weight = norm.operand(1).map_err(|_| "no weight")?;
        let view = ir::producer(heads).filter(|p| name_is(p, VIEWS)).ok_or("the norm's input is not a view as heads")?;
        let chunk: Value = view.operand(0).map_err(|_| "no operand")?;
        let single = [(heads, norm), (chunk, view)];
        let n_users = ir::users(n);
        let n_only = n_users.len() == readers.len() && n_users.iter().all(|u| readers.contains(u));
        if !n_only || single.iter().any(|(v, reader)| only_reader(*v) != Some(*reader)) {
            return Err("a value between the qkv chunk and the rotary has another reader".into());
        }
        let head_dims = dims(heads).unwrap_or_default();
        let [_, Some(h), Some(d)] = head_dims[..] else {
            return Err("the norm is not over [T, heads, head_dim] with static heads".into());
        };
        let eps = norm.attribute("epsilon").ok().and_then(|a| FloatAttribute::try_from(a).ok()).map(|f| f.value());
        let chunk = self.chunk(chunk)?;
        if chunk.width != h * d {
            return Err("the viewed chunk is not the rows the norm reads".into());
        }
        Ok(Normed { chunk, heads: h, weight, eps: eps.ok_or("the norm has no epsilon")?, ops: vec![norm, view] })
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
        let rot = Rotation {
            cache: get("cos_sin_cache").ok_or("no cos_sin_cache")?,
            positions: get("positions").ok_or("no positions")?,
            neox: rope.attribute("is_neox").ok().and_then(|a| BoolAttribute::try_from(a).ok()).is_none_or(|b| b.value()),
            head_dim: ir::int_attr(&rope, "head_size").ok_or("no head_size")?,
            out: rope.result(0).map_err(|_| "no result")?.into(),
            ops: vec![rope],
        };
        let k_out = rope.result(1).map_err(|_| "the rotary does not return the new key")?.into();
        self.validate(rope, q, k, rot, k_out)
    }

    /// The site of a query and a key chunk normalized and rotated (at
    /// `at`, the fused op's place), once every condition the fused kernel
    /// has holds.
    fn validate(
        &self,
        at: OperationRef<'c, 'a>,
        q: Normed<'c, 'a>,
        k: Normed<'c, 'a>,
        rot: Rotation<'c, 'a>,
        k_out: Value<'c, 'a>,
    ) -> Result<Site<'c, 'a>, String> {
        let d = rot.head_dim;
        let qkv = q.chunk.qkv;
        let t = native::elem(qkv).unwrap_or_default();
        let n = dims(qkv).and_then(|s| s[1]).unwrap_or(0);
        let rot_dims = dims(rot.cache).and_then(|s| s.get(1).copied().flatten());
        // vLLM's kernel checks `qkv.is_contiguous()` and writes the packed rows in place.
        let contiguous = !crate::fusion::recorded_strided(qkv);
        let checks: [(bool, String); 10] = [
            (k.chunk.qkv == qkv, "the query and key are not cut out of the same qkv".into()),
            (matches!(t.as_str(), "bf16" | "f16"), format!("the kernel takes bf16 or f16 rows, not {t}")),
            (HEAD_DIMS.contains(&d), format!("head_size {d} is not one the kernel is built for (64, 128, 256)")),
            (q.chunk.width == q.heads * d && k.chunk.width == k.heads * d, "the norms' heads are not of the rotary's head_size".into()),
            (q.eps == k.eps, format!("the norms' epsilons differ ({} and {}); the kernel takes one", q.eps, k.eps)),
            (
                [q.weight, k.weight].iter().all(|w| dims(*w).as_deref() == Some(&[Some(d)]) && native::elem(*w).as_deref() == Some(&t)),
                format!("the norm weights are not vectors of {d} {t} elements"),
            ),
            (q.chunk.start == 0 && k.chunk.start == q.chunk.width, "the query and key are not qkv's first two chunks".into()),
            (
                rot_dims == Some(d) || self.partial && rot_dims.is_some_and(|r| r > 0 && r <= d && r % 2 == 0),
                format!(
                    "the rotary turns {} of the head's {d} dims; {}",
                    rot_dims.map_or("a symbolic number".into(), |r| r.to_string()),
                    if self.partial {
                        "a partial one must be even and at most the head"
                    } else {
                        "a partial rotary fuses only where vLLM's kernel takes one (partial-rotary)"
                    }
                ),
            ),
            ((n - q.chunk.width - k.chunk.width) % d == 0, "the value chunk is not whole heads".into()),
            (contiguous, "qkv's rows are recorded apart (strided); the kernel takes contiguous rows".into()),
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
        // `at` itself may read them: the fused op goes before it.
        let after = |u: &OperationRef<'c, 'a>| *u == at || at.is_before_in_block(*u);
        if let Some(v) = v
            && !ir::users(v).iter().all(after)
        {
            return Err("the value chunk is read before the rotary embedding".into());
        }
        if [rot.out, k_out].iter().flat_map(|r| ir::users(*r)).any(|u| !after(&u) && !rot.ops.contains(&u)) {
            return Err("the rotated query or key is read before both are rotated".into());
        }
        Ok(Site { at, q, k, rot, k_out, v_width, v })
    }

    /// `qkv[:, start:start + width]` as an `aten.slice` before `before`.
    fn slice(&self, qkv: Value<'c, 'a>, start: i64, width: i64, like: Type<'c>, before: OperationRef<'c, 'a>) -> Option<Value<'c, 'a>> {
        let attrs = [
            ir::named(self.ctx, "dim", ir::i64_attr(self.ctx, -1)),
            ir::named(self.ctx, "start", ir::i64_attr(self.ctx, start)),
            ir::named(self.ctx, "end", ir::i64_attr(self.ctx, start + width)),
            ir::named(self.ctx, "step", ir::i64_attr(self.ctx, 1)),
        ];
        let loc = Location::name(self.ctx, "slice", before.location());
        let op = OperationBuilder::new("aten.slice", loc).add_operands(&[qkv]).add_results(&[like]).add_attributes(&attrs).build().ok()?;
        self.block.insert_operation_before(before, op).result(0).ok().map(Into::into)
    }

    /// The fused op before the rotary embedding, its result sliced into the
    /// new query, key and value.
    fn rewrite(&mut self, site: Site<'c, 'a>) -> Option<()> {
        let Site { at, q, k, rot, k_out, v_width, v } = site;
        let Rotation { cache, positions, neox: is_neox, head_dim, out: q_out, ops: rot_ops } = rot;
        let qkv = q.chunk.qkv;
        let attrs = [
            ir::named(self.ctx, "num_heads_q", ir::i64_attr(self.ctx, q.heads)),
            ir::named(self.ctx, "num_heads_k", ir::i64_attr(self.ctx, k.heads)),
            ir::named(self.ctx, "num_heads_v", ir::i64_attr(self.ctx, v_width / head_dim)),
            ir::named(self.ctx, "head_dim", ir::i64_attr(self.ctx, head_dim)),
            ir::named(self.ctx, "eps", FloatAttribute::new(self.ctx, Type::float64(self.ctx), q.eps).into()),
            ir::named(self.ctx, "is_neox", BoolAttribute::new(self.ctx, is_neox).into()),
        ];
        let locs: Vec<Location> = [&q.ops[..], &k.ops[..], &rot_ops[..]].concat().iter().map(|o| o.location()).collect();
        let loc = Location::fused(self.ctx, &locs, Attribute::unit(self.ctx));
        let fused = OperationBuilder::new(FUSED, loc)
            .add_operands(&[qkv, q.weight, k.weight, cache, positions])
            .add_results(&[qkv.r#type()])
            .add_attributes(&attrs)
            .build()
            .ok()?;
        let out: Value = self.block.insert_operation_before(at, fused).result(0).ok()?.into();
        let new_q = self.slice(out, 0, q.chunk.width, q_out.r#type(), at)?;
        let new_k = self.slice(out, q.chunk.width, k.chunk.width, k_out.r#type(), at)?;
        ir::replace_all_uses(q_out, new_q);
        ir::replace_all_uses(k_out, new_k);
        if let Some(v) = v {
            let new_v = self.slice(out, q.chunk.width + k.chunk.width, v_width, v.r#type(), at)?;
            ir::replace_all_uses(v, new_v);
        }
        let mut dead = rot_ops;
        dead.extend(q.ops.iter().chain(&k.ops).copied());
        dead.extend([q.chunk.cut, k.chunk.cut]);
        dead.extend(v.and_then(ir::producer));
        let ids: Vec<usize> = dead.iter().map(ir::op_id).collect();
        let left: HashSet<usize> = ir::erase_dead(dead).iter().map(ir::op_id).collect();
        self.erased.extend(ids.into_iter().filter(|id| !left.contains(id)));
        Some(())
    }

    /// The native rotation (vLLM's `RotaryEmbedding.forward_native`, as
    /// Inductor leaves it) whose result is `r`. `cos, sin` are the halves of
    /// `cache[positions]` unsqueezed to broadcast over the heads; `x` is the
    /// rows as heads (`[T, H, D]`):
    /// - neox: `view(cat(x1 * cos - x2 * sin, x2 * cos + x1 * sin), [T, H * D])`,
    ///   `x1, x2` the halves of `x` (one split);
    /// - GPT-J: `stack((o1, o2), -1).flatten(-2)` of the same terms, as
    ///   `view(view(cat(unsqueeze(o1, -1), unsqueeze(o2, -1)), [T, H, D]), [T, H * D])`,
    ///   `x1, x2` the even and odd elements of `x` (step-2 slices).
    ///
    /// Returns the rotation, `x` and the ops that cut it (which must be its
    /// only readers).
    #[allow(clippy::type_complexity)]
    fn native_rope(&self, r: Value<'c, 'a>) -> Result<(Rotation<'c, 'a>, Value<'c, 'a>, Vec<OperationRef<'c, 'a>>), String> {
        let back = ir::producer(r).filter(|p| name_is(p, VIEWS)).ok_or("not a view")?;
        let mut views = vec![back];
        let mut src: Value = back.operand(0).map_err(|_| "no operand")?;
        // GPT-J's flatten(-2) before the view to the rows' shape.
        if let Some(inner) = ir::producer(src).filter(|p| name_is(p, VIEWS) && only_reader(src) == Some(back)) {
            views.push(inner);
            src = inner.operand(0).map_err(|_| "no operand")?;
        }
        let cat = ir::producer(src).filter(|p| name_is(p, &["aten.cat"])).ok_or("not a view of an aten.cat")?;
        let cat_out: Value = cat.result(0).map_err(|_| "no result")?.into();
        let shape = dims(cat_out).unwrap_or_default();
        let operands: Vec<Value> = cat.operands().collect();
        let last = |x: i64| x == -1 || x as usize + 1 == shape.len();
        if operands.len() != 2 || !ir::int_attr(&cat, "dim").is_some_and(last) || only_reader(cat_out) != views.last().copied() {
            return Err("the concatenation is not of two halves of the head".into());
        }
        // The two rotated halves, each with the op that reads it (the cat, or GPT-J's unsqueeze).
        let mut ops = views;
        ops.push(cat);
        let (neox, d, halves) = match shape[..] {
            [_, Some(_), Some(d)] => (true, d, [(operands[0], cat), (operands[1], cat)]),
            [_, Some(_), Some(h), Some(2)] => {
                let unsqueezed = |v: Value<'c, 'a>| {
                    let u = native::producer_named(v, "aten.unsqueeze")
                        .filter(|u| ir::int_attr(u, "dim").is_some_and(|x| x == -1 || x == 3))?;
                    Some((u.operand(0).ok()?, u))
                };
                let (Some(a), Some(b)) = (unsqueezed(operands[0]), unsqueezed(operands[1])) else {
                    return Err("the stacked halves are not each unsqueezed last".into());
                };
                ops.extend([a.1, b.1]);
                (false, 2 * h, [a, b])
            }
            _ => return Err("the rotation is not of rows as [T, heads, head_dim]".into()),
        };
        // The rotated rows as the rows they replace, `[T, H * D]` (not a view between).
        let heads = shape.get(1).copied().flatten().unwrap_or(0);
        if !matches!(dims(r).as_deref(), Some([_, Some(w)]) if *w == heads * d) {
            return Err("the rotation is not viewed back as rows of whole heads".into());
        }
        let [(o1, _), (o2, _)] = halves;
        let sub = native::producer_named(o1, "aten.sub").ok_or("the first half is not a difference")?;
        let add = native::producer_named(o2, "aten.add").ok_or("the second half is not a sum")?;
        // A product `half(x) * trig`, either order: (x and its cut, half index, cache split, trig index, the product).
        let product = |v: Value<'c, 'a>| -> Option<(Half<'c, 'a>, OperationRef<'c, 'a>, usize, OperationRef<'c, 'a>)> {
            let m = native::producer_named(v, "aten.mul")?;
            let (a, b) = (m.operand(0).ok()?, m.operand(1).ok()?);
            let pick = |h: Value<'c, 'a>, t: Value<'c, 'a>| Some((self.x_half(h, d, neox)?, self.trig(t, d)?));
            let (xh, (cs, ci)) = pick(a, b).or_else(|| pick(b, a))?;
            Some((xh, cs, ci, m))
        };
        let term = |op: OperationRef<'c, 'a>, i: usize| op.operand(i).ok().and_then(product);
        let (a, b) = (term(sub, 0).ok_or("x1 * cos not found")?, term(sub, 1).ok_or("x2 * sin not found")?);
        let (c, e) = match (term(add, 0), term(add, 1)) {
            (Some(c), Some(e)) if (c.0.index, c.2) == (1, 0) => (c, e),
            (Some(e), Some(c)) => (c, e),
            _ => return Err("the second half is not x2 * cos + x1 * sin".into()),
        };
        // (half, trig) of each product: x1 cos, x2 sin, x2 cos, x1 sin.
        let roles = [(a.0.index, a.2), (b.0.index, b.2), (c.0.index, c.2), (e.0.index, e.2)];
        let same = [&a, &b, &c, &e].iter().all(|t| t.0.x == a.0.x && t.1 == a.1);
        if roles != [(0, 0), (1, 1), (1, 0), (0, 1)] || !same {
            return Err(format!(
                "the halves are not rotated as {} rotates them (x1 cos - x2 sin, x2 cos + x1 sin)",
                if neox { "neox" } else { "GPT-J" }
            ));
        }
        let index = ir::producer(a.1.operand(0).map_err(|_| "no operand")?).filter(|p| name_is(p, &["aten.index"]));
        let index = index.ok_or("the cos/sin rows are not cache[positions]")?;
        let idx: Vec<Value> = index.operands().collect();
        if idx.len() != 2 {
            return Err("the cache is not indexed by one positions tensor".into());
        }
        if halves.iter().any(|(v, reader)| only_reader(*v) != Some(*reader)) {
            return Err("a half of the rotation has another reader".into());
        }
        let mut cuts: Vec<OperationRef> = Vec::new();
        for t in [&a, &b, &c, &e] {
            if !cuts.contains(&t.0.cut) {
                cuts.push(t.0.cut);
            }
        }
        ops.extend([sub, add, a.3, b.3, c.3, e.3]);
        ops.extend(cuts.iter().copied());
        // The cos/sin chain (shared with the other rotation: erased once dead).
        for m in [a.3, b.3, c.3, e.3] {
            for v in m.operands() {
                let mut p = ir::producer(v);
                while let Some(op) = p.filter(|o| name_is(o, &["aten.unsqueeze", "aten.convert_element_type", "aten.to_dtype"])) {
                    ops.push(op);
                    p = op.operand(0).ok().and_then(ir::producer);
                }
            }
        }
        ops.extend([a.1, index]);
        let rot = Rotation { cache: idx[0], positions: idx[1], neox, head_dim: d, out: r, ops };
        Ok((rot, a.0.x, cuts))
    }

    /// `v` as a half of the rows as heads `x` (last dim `d`): for neox a
    /// result of its split into two halves (`half`), for GPT-J its even
    /// (`x[..., 0::2]`) or odd (`x[..., 1::2]`) elements.
    fn x_half(&self, v: Value<'c, 'a>, d: i64, neox: bool) -> Option<Half<'c, 'a>> {
        if neox {
            let (split, index) = self.half(v, d)?;
            return Some(Half { x: split.operand(0).ok()?, index, cut: split });
        }
        let cut = ir::producer(v).filter(|p| name_is(p, &["aten.slice"]))?;
        let x: Value = cut.operand(0).ok()?;
        let src = dims(x)?;
        let attr = |n: &str| ir::int_attr(&cut, n);
        let (dim, start, end, step) = (attr("dim")?, attr("start")?, attr("end")?, attr("step")?);
        let last = dim == -1 || dim as usize + 1 == src.len();
        let ok = last
            && step == 2
            && (0..2).contains(&start)
            && end >= d
            && cut.operand_count() == 1
            && src.last().copied().flatten() == Some(d);
        ok.then_some(Half { x, index: start as usize, cut })
    }

    /// `v` as result `i` of a split of a value's last dim into two halves of `d / 2`.
    fn half(&self, v: Value<'c, 'a>, d: i64) -> Option<(OperationRef<'c, 'a>, usize)> {
        let split = ir::producer(v).filter(|p| name_is(p, &["aten.split", "aten.split_with_sizes"]))?;
        let src = dims(split.operand(0).ok()?)?;
        let last = |x: i64| x == -1 || x as usize + 1 == src.len();
        let halves = ir::int_attr(&split, "split_size") == Some(d / 2)
            || split
                .attribute("split_sizes")
                .ok()
                .and_then(|a| DenseI64ArrayAttribute::try_from(a).ok())
                .is_some_and(|s| s.len() == 2 && s.element(0).ok() == Some(d / 2) && s.element(1).ok() == Some(d / 2));
        let ok = halves
            && ir::int_attr(&split, "dim").is_some_and(last)
            && src.last().copied().flatten() == Some(d)
            && split.results().count() == 2;
        ok.then(|| (split, split.results().position(|r| Value::from(r) == v).unwrap_or(2)))
    }

    /// `v` as `unsqueeze(half, -2)` (maybe converted to the rows' type) of
    /// result `i` of the split of `cache[positions]` into cos and sin.
    fn trig(&self, v: Value<'c, 'a>, d: i64) -> Option<(OperationRef<'c, 'a>, usize)> {
        let mut p = ir::producer(v)?;
        if name_is(&p, &["aten.convert_element_type", "aten.to_dtype"]) {
            p = ir::producer(p.operand(0).ok()?)?;
        }
        if !name_is(&p, &["aten.unsqueeze"]) || ir::int_attr(&p, "dim") != Some(-2) {
            return None;
        }
        self.half(p.operand(0).ok()?, d)
    }

    /// Fuses each query/key pair of native neox rotations (`native_rope`) of
    /// head-normalized chunks of one qkv, by one cache and positions.
    /// Returns how many.
    fn fuse_native_rotations(&mut self) -> u64 {
        let mut found = Vec::new();
        for op in ir::block_ops(self.block) {
            if !name_is(&op, VIEWS) {
                continue;
            }
            let Some(r) = op.results().next().map(Value::from) else { continue };
            match self.native_rope(r).and_then(|(rot, x, cuts)| Ok((self.normed_heads(x, &cuts)?, rot))) {
                Ok(f) => found.push(f),
                Err(why) => crate::fusion::explain(self.debug, INFO.argument, &op, &why),
            }
        }
        let mut fused = 0;
        let mut used = vec![false; found.len()];
        for i in 0..found.len() {
            for j in 0..found.len() {
                let (q, k) = (&found[i], &found[j]);
                let pair = !used[i] && !used[j] && i != j;
                let same = q.0.chunk.qkv == k.0.chunk.qkv && (q.1.cache, q.1.positions, q.1.neox) == (k.1.cache, k.1.positions, k.1.neox);
                if !pair || !same || q.0.chunk.start != 0 || k.0.chunk.start != q.0.chunk.width {
                    continue;
                }
                // The fused op goes where both rotations are done.
                let (qb, kb) = (q.1.ops[0], k.1.ops[0]);
                let at = if qb.is_before_in_block(kb) { kb } else { qb };
                let at = at.next_in_block().unwrap_or(at);
                let ((qn, qr), (kn, kr)) = (found[i].clone(), found[j].clone());
                let k_out = kr.out;
                let rot = Rotation { ops: [qr.ops, kr.ops].concat(), ..qr };
                match self.validate(at, qn, kn, rot, k_out) {
                    Ok(site) => {
                        (used[i], used[j]) = (true, true);
                        fused += u64::from(self.rewrite(site).is_some());
                    }
                    Err(why) => crate::fusion::explain(self.debug, INFO.argument, &qb, &why),
                }
            }
        }
        fused
    }

    /// Raises each decomposed RMSNorm (no residual) over a view of rows as
    /// heads, `[T, H, D]`: what vLLM's native `q_norm`/`k_norm` trace to.
    /// Returns how many were raised.
    fn raise_natives(&mut self) -> u64 {
        native::raise_rms_where(self.ctx, self.block, &mut self.erased, |m, _| {
            m.residual.is_none()
                && dims(m.x).is_some_and(|s| s.len() == 3)
                && ir::producer(m.x).is_some_and(|p| name_is(&p, &["aten.view", "aten.reshape"]))
        })
    }
}
