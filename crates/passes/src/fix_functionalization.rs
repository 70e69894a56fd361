//! `vllm-fix-functionalization`: every value-form op with an in-place kernel
//! becomes that kernel's call on buffers, with a copy only where the old value
//! of a buffer is still needed.
use mlir_support::{
    ir,
    melior::{
        Context,
        ir::{
            Attribute, BlockLike, BlockRef, Identifier, Location, RegionLike, ShapedTypeLike, Type, TypeLike, Value, ValueLike,
            attribute::{DenseI32ArrayAttribute, DenseI64ArrayAttribute, StringAttribute, TypeAttribute},
            operation::{OperationBuilder, OperationLike, OperationRef},
            r#type::{DimSize, RankedTensorType},
        },
    },
    pass::{Pass, PassFailed, PassInfo, PassOption, PassRun, PassStatistic},
};
use rustc_hash::FxHashMap as HashMap;
use vllm_dialect::{K_DYNAMIC, OpDef, provenance};

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-fix-functionalization",
    summary: "Turn value-form ops into in-place kernel calls on buffers, copying only when an old value is still read",
    description: "
vLLM's FixFunctionalizationPass, always last, made safe. Each value-form op
whose kernel writes buffers (`vllm.rms_norm`, `vllm.fused_add_rms_norm`, the
fused norm+quant ops, the quant ops, the silu ops, `vllm.rotary_embedding`,
attention, `vllm.cutlass_scaled_mm`) becomes its in-place twin:

    %y = vllm.rms_norm(%x, %w)             ->  %buf = aten.empty(...)
                                               vllm.rms_norm_(%buf, %x, %w)
                                               (uses of %y read %buf)
    %o, %r2 = vllm.fused_add_rms_norm(%x, %r, %w)
                                           ->  vllm.fused_add_rms_norm_(%x, %r, %w)
                                               (uses of %o read %x, of %r2 read %r)

- A pure output gets a new `aten.empty`, sized from the op's input: a
  dynamic size is the SymInt input (or the graph's SymInt arithmetic) that
  carries its recorded symbol or expression, else `aten.sym_size` of the
  input where the input's dim is that size; a leading dim recorded as
  another size (rows padded to a multiple) takes the graph's value for it,
  or, for a round-up of a symbol (`128*((s0 + 127)//128)`) nothing computes,
  that arithmetic built from the symbol's value; with neither it is an
  error, never a buffer of the input's rows. Padded buffers (NVFP4 block
  scales) are zero-filled (`aten.full`): the value form's padding is zero.
- A buffer that is read *and* written (`input`/`residual` of
  `fused_add_rms_norm`, `query`/`key` of the rotary embedding) is reused
  only when that is provably safe: no op after this one reads its old value
  through it or through any view of the same storage (views:
  ops marked `view` in the op table), no other operand of the op aliases
  it, and its storage is not a graph input (which the caller still owns)
  unless `donate-inputs` is set or `donated-inputs` names it (vLLM main
  records the inputs its model donated to an IR op's `maybe_inplace`). Otherwise the pass writes into an
  `aten.clone` of it, counts the copy and says why in a remark.
- vLLM's rotary special case, as a proof instead of an assumption: when
  the rotated `query`/`key` are slices of one tensor and their new values
  are written back by a chain of `slice_scatter`s over exactly those
  slices, the chain is the tensor itself after the in-place call, and it
  is removed.

Unlike vLLM, no getitem or DCE hazard exists afterwards: in-place ops have
effects, so `vllm-dce` keeps them and everything they read. Any value-form
op with an in-place twin left over is an error. An op imported from vLLM
main's IR (`vllm_ir.rms_norm`, `vllm_ir.static_quant_fp8`, ...) or another
functional call (marked `fx.functional`) that no fusion replaced stays functional: vLLM's own IR lowering,
after this pipeline, picks its kernel.",
    anchor: Some("func.func"),
    options: &[
        PassOption {
            name: "donate-inputs",
            default: "false",
            description: "Graph inputs may be overwritten in place (the caller gives them up)",
        },
        PassOption {
            name: "donated-inputs",
            default: "",
            description: "The graph inputs (placeholder names, ':'-separated) that may be overwritten in place",
        },
    ],
    statistics: &[
        PassStatistic { name: "converted", description: "Value-form ops turned into in-place calls" },
        PassStatistic { name: "buffers", description: "Output buffers allocated" },
        PassStatistic { name: "copies", description: "Copies made because an old value is still read" },
        PassStatistic { name: "write-backs", description: "slice_scatter write-backs removed (rotary)" },
        PassStatistic {
            name: "functional",
            description: "ops imported from functional calls (vLLM IR) left functional for vLLM's lowering",
        },
    ],
    sources: &[include_str!("fix_functionalization.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct FixFunctionalizationPass;

fn op_name(op: &OperationRef<'_, '_>) -> String {
    op.name().as_string_ref().as_str().unwrap_or("").to_string()
}

fn def_of(op: &OperationRef<'_, '_>) -> Option<&'static OpDef> {
    vllm_dialect::op(op.name().as_string_ref().as_str().ok()?)
}

fn producer<'c: 'a, 'a>(v: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    ir::producer(v)
}

fn is_view(op: &OperationRef<'_, '_>) -> bool {
    def_of(op).is_some_and(|d| d.view)
}

/// The storage a value lives in: up through view ops to the first non-view.
fn storage_root<'c: 'a, 'a>(mut v: Value<'c, 'a>) -> Value<'c, 'a> {
    while let Some(p) = producer(v).filter(is_view) {
        match p.operand(0) {
            Ok(src) => v = src,
            Err(_) => break,
        }
    }
    v
}

/// Every value sharing `root`'s storage: `root` and all views derived from it.
fn alias_class<'c: 'a, 'a>(root: Value<'c, 'a>) -> Vec<Value<'c, 'a>> {
    let mut class = vec![root];
    let mut i = 0;
    while i < class.len() {
        let v = class[i];
        for u in ir::users(v) {
            if is_view(&u) && u.operand(0).is_ok_and(|s| s == v) {
                for r in u.results() {
                    let r: Value = r.into();
                    if !class.contains(&r) {
                        class.push(r);
                    }
                }
            }
        }
        i += 1;
    }
    class
}

/// `(dim, start, end, step)` of a static `aten.slice`/`aten.slice_scatter`,
/// with a negative `dim` counted from the end of the base's rank.
fn region(op: &OperationRef<'_, '_>) -> Option<(i64, i64, i64, i64)> {
    let dyn_operands = if op_name(op) == "aten.slice" { 1 } else { 2 };
    if op.operand_count() != dyn_operands {
        return None;
    }
    let rank = ir::ranked_tensor(op.operand(0).ok()?.r#type())?.rank() as i64;
    let dim = ir::int_attr(op, "dim")?;
    let dim = if dim < 0 { dim + rank } else { dim };
    Some((dim, ir::int_attr(op, "start")?, ir::int_attr(op, "end")?, ir::int_attr(op, "step")?))
}

/// `v` as a slice of a base tensor: `aten.slice(base, region)`, or chunk `k`
/// of `aten.split_with_sizes(base)` / `aten.split(base)` (vLLM's q/k/v).
fn slice_of<'c: 'a, 'a>(v: Value<'c, 'a>) -> Option<(Value<'c, 'a>, (i64, i64, i64, i64))> {
    let p = producer(v)?;
    // The name first: `operand(0)` of an op without operands (a fresh
    // `aten.full`) builds an error that prints the whole function.
    if !matches!(op_name(&p).as_str(), "aten.slice" | "aten.split_with_sizes" | "aten.split") {
        return None;
    }
    let base = p.operand(0).ok()?;
    match op_name(&p).as_str() {
        "aten.slice" => Some((base, region(&p)?)),
        "aten.split_with_sizes" | "aten.split" => {
            let t = ir::ranked_tensor(base.r#type())?;
            let rank = t.rank() as i64;
            let dim = ir::int_attr(&p, "dim")?;
            let dim = if dim < 0 { dim + rank } else { dim };
            let k = mlir_support::melior::ir::operation::OperationResult::try_from(v).ok()?.result_number() as i64;
            let (start, end) = if op_name(&p) == "aten.split" {
                let size = ir::int_attr(&p, "split_size")?;
                let extent = match t.dim_size(dim as usize) {
                    Ok(DimSize::Static(d)) => d as i64,
                    _ => return None,
                };
                (k * size, ((k + 1) * size).min(extent))
            } else {
                let sizes = DenseI64ArrayAttribute::try_from(p.attribute("split_sizes").ok()?).ok()?;
                let sizes: Vec<i64> = (0..sizes.len()).filter_map(|i| sizes.element(i).ok()).collect();
                let start: i64 = sizes.get(..k as usize)?.iter().sum();
                (start, start + sizes.get(k as usize)?)
            };
            Some((base, (dim, start, end, 1)))
        }
        _ => None,
    }
}

/// Two static step-1 slices along the same dim that do not overlap.
fn disjoint(a: (i64, i64, i64, i64), b: (i64, i64, i64, i64)) -> bool {
    a.0 == b.0 && a.3 == 1 && b.3 == 1 && a.1 >= 0 && b.1 >= 0 && (a.2 <= b.1 || b.2 <= a.1)
}

/// Block order of the original ops, computed once (MLIR's `isBeforeInBlock`
/// renumbers the block after every insertion, which made the pass quadratic).
/// Ops made by the pass are not in it and count as earlier than any op being
/// converted, which is true: the pass only inserts before the op it converts.
/// Erased ops leave it, so a reused address cannot inherit a position.
struct Order(HashMap<usize, usize>);

impl Order {
    fn of(block: BlockRef<'_, '_>) -> Order {
        Order(ir::block_ops(block).iter().enumerate().map(|(i, o)| (ir::op_id(o), i)).collect())
    }
    /// True when `b` comes after `a` (`a` an op of the original block).
    fn after(&self, a: &OperationRef<'_, '_>, b: &OperationRef<'_, '_>) -> bool {
        match (self.0.get(&ir::op_id(a)), self.0.get(&ir::op_id(b))) {
            (Some(x), Some(y)) => y > x,
            _ => false,
        }
    }
    fn erase(&mut self, op: OperationRef<'_, '_>) {
        self.0.remove(&ir::op_id(&op));
        ir::erase(op);
    }
}

/// One argument the in-place call writes that the value form also read.
struct Written<'c: 'a, 'a> {
    /// Index among the value op's results of its new value.
    result: Option<usize>,
    value: Value<'c, 'a>,
}

/// vLLM's rotary write-back, proven: all read-and-written arguments are
/// slices of one `base`, and a chain `base -> slice_scatter(., new_i, region_i)
/// -> ...` writes back every new value into exactly its slice, each link
/// having no other user. After the in-place call the chain's end equals
/// `base`. Returns the chain, in order.
fn writeback_chain<'c: 'a, 'a>(order: &Order, op: OperationRef<'c, 'a>, written: &[Written<'c, 'a>]) -> Option<Vec<OperationRef<'c, 'a>>> {
    if written.is_empty() {
        return None;
    }
    let mut pending: Vec<(Value, (i64, i64, i64, i64))> = Vec::new();
    let mut base = None;
    for w in written {
        let (b, r) = slice_of(w.value)?;
        if base.is_some_and(|x| x != b) {
            return None;
        }
        base = Some(b);
        pending.push((op.result(w.result?).ok()?.into(), r));
    }
    let base = base?;
    let mut chain = Vec::new();
    let mut cur = base;
    while !pending.is_empty() {
        let next = ir::users(cur).into_iter().find(|u| {
            op_name(u) == "aten.slice_scatter"
                && order.after(&op, u)
                && u.operand(0).is_ok_and(|x| x == cur)
                && region(u).is_some_and(|r| pending.iter().any(|(v, pr)| *pr == r && u.operand(1).is_ok_and(|s| s == *v)))
        })?;
        if cur != base && ir::users(cur).len() != 1 {
            return None;
        }
        let r = region(&next)?;
        pending.retain(|(_, pr)| *pr != r);
        cur = next.result(0).ok()?.into();
        chain.push(next);
    }
    Some(chain)
}

/// Which graph inputs the caller gives up (`donate-inputs`, `donated-inputs`).
enum Donation {
    None,
    All,
    /// By placeholder name (the function argument's `fx.name`).
    Inputs(Vec<String>),
}

impl Donation {
    fn covers(&self, arg: mlir_support::melior::ir::block::BlockArgument<'_, '_>) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Inputs(names) => ir::arg_string_attr(arg, "fx.name").is_some_and(|n| names.contains(&n)),
        }
    }
}

/// Why overwriting `v` in place at `op` would be wrong, if it would.
fn unsafe_to_overwrite(
    order: &Order,
    op: OperationRef<'_, '_>,
    v: Value<'_, '_>,
    others_written: &[Value<'_, '_>],
    copied: &[Value<'_, '_>],
    exempt: &[OperationRef<'_, '_>],
    donation: &Donation,
) -> Option<String> {
    let root = storage_root(v);
    if let Some(arg) = ir::block_argument(root)
        && !donation.covers(arg)
    {
        return Some(format!("its storage is graph input #{}, which the caller still owns (not donated)", arg.argument_number()));
    }
    let class = alias_class(root);
    for c in &class {
        for u in ir::users(*c) {
            if u == op || exempt.contains(&u) {
                continue;
            }
            if order.after(&op, &u) {
                return Some(format!("its old value is read later by '{}' ({})", op_name(&u), describe(u.location())));
            }
        }
    }
    // Another operand of the same op in the same storage: allowed only for
    // disjoint slices that are both written (rotary's query and key).
    // `v` itself occurs once, plus once per occurrence already replaced by a copy.
    let mut own = 1 + copied.iter().filter(|c| **c == v).count();
    for (i, o) in op.operands().enumerate() {
        if !class.contains(&o) {
            continue;
        }
        if o == v && own > 0 {
            own -= 1;
            continue;
        }
        let ok = o != v
            && others_written.contains(&o)
            && matches!((slice_of(v), slice_of(o)), (Some((b1, r1)), Some((b2, r2))) if b1 == b2 && disjoint(r1, r2));
        if !ok {
            return Some(format!("operand #{i} of the same op shares its storage"));
        }
    }
    None
}

fn describe(loc: Location<'_>) -> String {
    match mlir_support::diagnostics::describe_location(loc) {
        (_, label) if !label.is_empty() => label,
        (Some(s), _) => format!("line {}", s.line),
        (None, _) => "unknown location".into(),
    }
}

/// Whether `v` exists where `before` runs: a block argument, or made by an
/// op earlier in the block (a value the graph computes, or a size this pass made).
fn defined_before(v: Value<'_, '_>, before: OperationRef<'_, '_>) -> bool {
    ir::producer(v).is_none_or(|p| p.is_before_in_block(before))
}

/// Builds index values for the dynamic dims of `ty` from `like` (an operand of
/// the same rank): the SymInt argument carrying the dim's symbol when the
/// provenance names one, else `aten.sym_size(like, i)`.
struct Sizes<'c: 'a, 'a> {
    by_symbol: HashMap<String, Value<'c, 'a>>,
    /// The `aten.sym_size(like, dim)` this pass made, by (like, dim): one
    /// per size, however many buffers it sizes (where it dominates them).
    read: HashMap<(usize, usize), Value<'c, 'a>>,
    /// Symbolic shapes of the buffers this pass made (they carry no `fx.meta`).
    made: HashMap<usize, Vec<Option<String>>>,
}

/// The symbol names of `v`'s dims, where the provenance records them.
fn symbols(v: Value<'_, '_>) -> Option<Vec<Option<String>>> {
    let meta: provenance::ShapeSymbols = provenance::value_meta_as(v)?;
    Some(meta.shape.into_iter().map(|d| d.0).collect())
}

impl<'c: 'a, 'a> Sizes<'c, 'a> {
    fn new(block: BlockRef<'c, 'a>) -> Self {
        let mut by_symbol = HashMap::default();
        for i in 0..block.argument_count() {
            let Ok(arg) = block.argument(i) else { continue };
            let v: Value = arg.into();
            if !v.r#type().is_index() {
                continue;
            }
            if let Some(provenance::SymName { sym }) = provenance::value_meta_as(v) {
                by_symbol.entry(sym).or_insert(v);
            }
        }
        // Sizes the graph computes (SymInt arithmetic, `sym_size`), by their
        // recorded expression: `128*((s0 + 127)//128)` rows of a padded buffer.
        for op in ir::block_ops(block) {
            for r in op.results() {
                let v: Value = r.into();
                if v.r#type().is_index()
                    && let Some(provenance::SymName { sym }) = provenance::value_meta_as(v)
                {
                    by_symbol.entry(sym).or_insert(v);
                }
            }
        }
        Sizes { by_symbol, read: HashMap::default(), made: HashMap::default() }
    }

    fn symbols_of(&self, v: Value<'c, 'a>) -> Option<Vec<Option<String>>> {
        self.made.get(&ir::value_id(v)).cloned().or_else(|| symbols(v))
    }

    /// Index values for the dynamic dims of `result`'s type: from the symbols
    /// `result` was recorded with, or from `like` (an operand of the same
    /// rank), by its symbol or `aten.sym_size(like, i)`. `like` stands for a
    /// dim only where the op guarantees it equal: every dim when the op
    /// declares the two `same_shape`, else the leading (token) dims, which
    /// every row-wise kernel keeps (the last one may differ: `silu_and_mul`
    /// halves it, a GEMM takes it from the weight). Also returns the symbolic
    /// shape, for `made`.
    #[allow(clippy::type_complexity)]
    fn dims(
        &mut self,
        ctx: &'c Context,
        block: BlockRef<'c, 'a>,
        before: OperationRef<'c, 'a>,
        result: Value<'c, 'a>,
        like: Option<Value<'c, 'a>>,
        like_same_shape: bool,
    ) -> Option<(Vec<Value<'c, 'a>>, Vec<Option<String>>)> {
        let t = ir::ranked_tensor(result.r#type())?;
        let rank = t.rank();
        let like = like.filter(|l| ir::ranked_tensor(l.r#type()).is_some_and(|lt| lt.rank() == rank));
        let recorded = symbols(result).filter(|s| s.len() == rank);
        let from_like = like.and_then(|l| self.symbols_of(l)).filter(|s| s.len() == rank);
        let mut out = Vec::new();
        let mut shape = Vec::new();
        for i in 0..rank {
            if matches!(t.dim_size(i), Ok(DimSize::Static(_))) {
                shape.push(None);
                continue;
            }
            let rec = recorded.as_ref().and_then(|s| s[i].clone());
            let like_sym = from_like.as_ref().and_then(|s| s[i].clone());
            // `like`'s dim stands for this one only when the op says so, or
            // nothing recorded says otherwise (a leading dim recorded as
            // another size, e.g. rows padded to a multiple, is not the input's).
            let like_has_it = like_same_shape || (i + 1 < rank && (rec.is_none() || like_sym.is_none() || rec == like_sym));
            let sym = rec.clone().or_else(|| like_sym.filter(|_| like_has_it));
            shape.push(sym.clone());
            // A value computed in the graph must exist where the buffer is made.
            if let Some(v) = sym.as_deref().and_then(|s| self.by_symbol.get(s)).filter(|v| defined_before(**v, before)) {
                out.push(*v);
                continue;
            }
            // Rows padded to a multiple (`128*((s0 + 127)//128)`) that nothing in the
            // graph computes (a functional quant allocates its own buffers): computed
            // here from the padded symbol's value, or from `like`'s dim holding it.
            if let Some((base, k)) = sym.as_deref().and_then(provenance::round_up_of) {
                let base_value = self.by_symbol.get(base).filter(|v| defined_before(**v, before)).copied().or_else(|| {
                    let j = from_like.as_ref()?.iter().position(|s| s.as_deref() == Some(base))?;
                    let like = like?;
                    self.size_of(like, j, before, || crate::fusion::sym_size(ctx, block, before, like, j))
                });
                if let Some(b) = base_value {
                    out.push(round_up(ctx, block, before, b, Some(base), k)?);
                    continue;
                }
            }
            let like = like.filter(|_| like_has_it)?;
            out.push(self.size_of(like, i, before, || crate::fusion::sym_size(ctx, block, before, like, i))?);
        }
        Some((out, shape))
    }

    /// `like`'s size `dim` before `before`: the one `make` made for an
    /// earlier buffer where it dominates `before`, else `make`'s new one.
    fn size_of(
        &mut self,
        like: Value<'c, 'a>,
        dim: usize,
        before: OperationRef<'c, 'a>,
        make: impl FnOnce() -> Option<Value<'c, 'a>>,
    ) -> Option<Value<'c, 'a>> {
        let key = (ir::value_id(like), dim);
        if let Some(v) = self.read.get(&key).filter(|v| defined_before(**v, before)) {
            return Some(*v);
        }
        let v = make()?;
        self.read.insert(key, v);
        Some(v)
    }

    /// Records the symbolic shape of a buffer the pass made.
    fn made(&mut self, buffer: Value<'c, 'a>, shape: Vec<Option<String>>) {
        self.made.insert(ir::value_id(buffer), shape);
    }
}

/// `k*((b + k-1)//k)` as the graph's SymInt arithmetic (`operator.add`,
/// `floordiv`, `mul` on index values, as Inductor records vLLM's allocation
/// of padded buffers), before `before`; each value records its expression
/// where `b`'s symbol `base` is known (else the exporter writes it).
fn round_up<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    before: OperationRef<'c, 'a>,
    b: Value<'c, 'a>,
    base: Option<&str>,
    k: i64,
) -> Option<Value<'c, 'a>> {
    let step = |v: Value<'c, 'a>, target: &str, c: i64, expr: String| -> Option<Value<'c, 'a>> {
        let args = serde_json::json!({ "args": [{ "operand": 0 }, c], "kwargs": {} }).to_string();
        let mut attrs = vec![
            ir::named(ctx, "target", StringAttribute::new(ctx, target).into()),
            ir::named(ctx, "fx_args", StringAttribute::new(ctx, &args).into()),
        ];
        if base.is_some() {
            let meta = serde_json::json!({ "sym": expr }).to_string();
            attrs.push(ir::named(ctx, provenance::META, StringAttribute::new(ctx, &meta).into()));
        }
        let op = OperationBuilder::new("torch.operator", before.location())
            .add_operands(&[v])
            .add_results(&[Type::index(ctx)])
            .add_attributes(&attrs)
            .build()
            .ok()?;
        Some(block.insert_operation_before(before, op).result(0).ok()?.into())
    };
    let base = base.unwrap_or_default();
    let sum = step(b, "operator.add", k - 1, format!("{base} + {}", k - 1))?;
    let tiles = step(sum, "operator.floordiv", k, format!("(({base} + {})//{k})", k - 1))?;
    step(tiles, "operator.mul", k, format!("{k}*(({base} + {})//{k})", k - 1))
}

/// A new buffer of type `ty` (`dims`: its dynamic sizes; located at `name`,
/// the recorded buffer's, where there is one): `aten.empty`, or,
/// with `zeroed`, `aten.full` of 0: a padded buffer (NVFP4 block scales), whose
/// padding the value form defines as zero and a kernel may leave unwritten
/// while the FP4 GEMM reads it (vLLM main zero-fills these for that reason).
fn empty<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    before: OperationRef<'c, 'a>,
    ty: Type<'c>,
    dims: &[Value<'c, 'a>],
    name: Option<&str>,
    zeroed: bool,
) -> Option<Value<'c, 'a>> {
    let (factory, fill) =
        if zeroed { ("aten.full", vec![ir::named(ctx, "fill_value", ir::i64_attr(ctx, 0))]) } else { ("aten.empty", vec![]) };
    build_factory(ctx, block, before, factory, ty, dims, name, fill)
}

/// Factory op `factory` of type `ty` before `before`: its `size` (dynamic
/// entries from `operands`, in order) and `dtype` from the type, then
/// `extra` attributes; located at `name` where there is one.
#[allow(clippy::too_many_arguments)] // a builder's inputs; a struct would only rename them
fn build_factory<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    before: OperationRef<'c, 'a>,
    factory: &str,
    ty: Type<'c>,
    operands: &[Value<'c, 'a>],
    name: Option<&str>,
    extra: Vec<(Identifier<'c>, Attribute<'c>)>,
) -> Option<Value<'c, 'a>> {
    let t = ir::ranked_tensor(ty)?;
    let size: Vec<i64> = vllm_dialect::verify::shape_of(ty)?.into_iter().map(|d| d.unwrap_or(K_DYNAMIC)).collect();
    let loc = match name {
        Some(n) => Location::name(ctx, n, before.location()),
        None => before.location(),
    };
    let mut attrs = vec![
        ir::named(ctx, "size", DenseI64ArrayAttribute::new(ctx, &size).into()),
        ir::named(ctx, "dtype", TypeAttribute::new(t.element()).into()),
    ];
    attrs.extend(extra);
    let op = OperationBuilder::new(factory, loc).add_operands(operands).add_results(&[ty]).add_attributes(&attrs).build().ok()?;
    Some(block.insert_operation_before(before, op).result(0).ok()?.into())
}

/// A new 2-D buffer of type `ty` stored column-major, as vLLM main allocates
/// per-group scales for CUTLASS (`empty([H/G, T]).permute(1, 0)`): the
/// kernel writes group `g` of row `r` at `g * T + r`.
fn transposed_empty<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    before: OperationRef<'c, 'a>,
    ty: Type<'c>,
    dims: &[Value<'c, 'a>],
    name: Option<&str>,
) -> Option<Value<'c, 'a>> {
    let t = ir::ranked_tensor(ty)?;
    let size: Vec<i64> = vllm_dialect::verify::shape_of(ty)?.into_iter().rev().map(|d| d.unwrap_or(K_DYNAMIC)).collect();
    let [rows, cols] = size[..] else { return None };
    let stored: Type = RankedTensorType::new(&[rows as u64, cols as u64], t.element(), None).into();
    // Dynamic sizes in the stored order: a 2-D tensor's swap.
    let swapped: Vec<Value> = dims.iter().rev().copied().collect();
    let base = empty(ctx, block, before, stored, &swapped, name, false)?;
    let op = OperationBuilder::new("aten.permute", before.location())
        .add_operands(&[base])
        .add_results(&[ty])
        .add_attributes(&[ir::named(ctx, "dims", DenseI64ArrayAttribute::new(ctx, &[1, 0]).into())])
        .build()
        .ok()?;
    Some(block.insert_operation_before(before, op).result(0).ok()?.into())
}

/// A new `[T, G]` buffer stored column-major with `round_up(T, 4)` rows, as
/// vLLM main allocates TMA-aligned per-group scales
/// (`empty_strided([T, G], [1, round_up(T, 4)])`); `rows` is T's symbol,
/// where known, to record the padded stride's expression in.
fn tma_padded_empty<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    before: OperationRef<'c, 'a>,
    ty: Type<'c>,
    dims: &[Value<'c, 'a>],
    rows: Option<&str>,
    name: Option<&str>,
) -> Option<Value<'c, 'a>> {
    let k = provenance::TMA_ALIGNMENT;
    let t = vllm_dialect::verify::shape_of(ty)?.first().copied()?;
    let mut operands = dims.to_vec();
    let padded = match t {
        Some(t) => (t + k - 1) / k * k,
        None => {
            operands.push(round_up(ctx, block, before, *dims.first()?, rows, k)?);
            K_DYNAMIC
        }
    };
    let stride = ir::named(ctx, "stride", DenseI64ArrayAttribute::new(ctx, &[1, padded]).into());
    build_factory(ctx, block, before, "aten.empty_strided", ty, &operands, name, vec![stride])
}

fn clone<'c: 'a, 'a>(block: BlockRef<'c, 'a>, before: OperationRef<'c, 'a>, v: Value<'c, 'a>) -> Option<Value<'c, 'a>> {
    let op = OperationBuilder::new("aten.clone", before.location()).add_operands(&[v]).add_results(&[v.r#type()]).build().ok()?;
    Some(block.insert_operation_before(before, op).result(0).ok()?.into())
}

/// Recorded names of the output buffers the importer dropped (`fx.buffers`).
fn recorded_buffer_name(op: &OperationRef<'_, '_>, arg: &str) -> Option<String> {
    // Typed, so that the recorded nodes' other fields are skipped, not built.
    #[derive(serde::Deserialize)]
    struct Recorded {
        name: Option<String>,
    }
    let text = ir::string_attr(op, provenance::BUFFERS)?;
    let mut b: HashMap<String, Recorded> = serde_json::from_str(&text).ok()?;
    b.remove(arg)?.name
}

#[derive(Default)]
struct Counts {
    converted: u64,
    buffers: u64,
    copies: u64,
    writebacks: u64,
    functional: u64,
}

/// Rewrites one value-form op; `Err` names what made it impossible.
#[allow(clippy::too_many_arguments)] // the rewrite's whole context; a struct would only rename it
fn convert<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    sizes: &mut Sizes<'c, 'a>,
    order: &mut Order,
    op: OperationRef<'c, 'a>,
    def: &OpDef,
    twin: &OpDef,
    donation: &Donation,
    counts: &mut Counts,
) -> Result<(), String> {
    let named = vllm_dialect::verify::named_operands(&op).ok_or("the op does not verify")?;
    let operand = |n: &str| named.iter().find(|(k, _)| *k == n).and_then(|(_, vs)| vs.first().copied());
    let results: Vec<Value> = op.results().map(Into::into).collect();
    let binding = vllm_dialect::verify::written_results(&op, def, twin).ok_or("the op does not verify")?;
    let result_of: HashMap<&str, Option<usize>> = binding.iter().map(|(w, r)| (w.name.as_str(), *r)).collect();
    // The first operand with a shape: where new buffers take their dynamic sizes.
    let like = named.iter().find_map(|(n, vs)| vs.first().filter(|v| ir::ranked_tensor(v.r#type()).is_some()).map(|v| (*n, *v)));
    let result_names = vllm_dialect::verify::named_results(&op).ok_or("the op does not verify")?;
    let same_as_like = |r: Value| {
        let name = result_names.iter().find(|(_, vs)| vs.contains(&r)).map(|(n, _)| *n);
        like.is_some_and(|(l, _)| def.same_shape.iter().any(|n| n == l)) && name.is_some_and(|n| def.same_shape.iter().any(|s| s == n))
    };

    let written: Vec<Written> = binding
        .iter()
        .filter(|(w, _)| def.reads(&w.name))
        .filter_map(|(w, r)| operand(&w.name).map(|value| Written { result: *r, value }))
        .collect();
    let chain = writeback_chain(order, op, &written).unwrap_or_default();
    let written_values: Vec<Value> = written.iter().map(|w| w.value).collect();

    let mut operands = Vec::new();
    let mut segments = Vec::new();
    let mut copied: Vec<Value> = Vec::new();
    let mut new_value: Vec<(usize, Value)> = Vec::new();
    for t in &twin.operands {
        let v = if !t.mutated {
            operand(&t.name)
        } else if def.reads(&t.name) {
            match operand(&t.name) {
                Some(v) => match unsafe_to_overwrite(order, op, v, &written_values, &copied, &chain, donation) {
                    None => Some(v),
                    Some(why) => {
                        let c = clone(block, op, v).ok_or("cannot build aten.clone")?;
                        copied.push(v);
                        ir::emit_remark(op.location(), &format!("copied '{}' before writing it in place: {why}", t.name));
                        counts.copies += 1;
                        Some(c)
                    }
                },
                None => None,
            }
        } else {
            match result_of.get(t.name.as_str()).copied().flatten() {
                Some(r) => {
                    let ty = results[r].r#type();
                    // NVFP4 block scales have round_up(T, 128) rows, which no operand has
                    // (unless row-major: vLLM main's `is_sf_swizzled_layout=False`).
                    let row_major = def.nvfp4.as_ref().is_some_and(|f| f.scales == t.name && !vllm_dialect::verify::nvfp4_swizzled(&op, f));
                    // MLA attention's per-group scales (`quant_group_size`) are plain rows.
                    let plain = twin.padded_unless.as_ref().is_some_and(|a| op.attribute(a).is_ok());
                    let padded = twin.padded(&t.name) && !row_major && !plain;
                    let (dims, shape) = sizes
                        .dims(ctx, block, op, results[r], like.map(|(_, v)| v).filter(|_| !padded), same_as_like(results[r]))
                        .ok_or_else(|| {
                            let why = if padded {
                                ": its rows are round_up(T, 128), and the graph has no value recorded as that size"
                            } else {
                                ""
                            };
                            format!("cannot size the buffer for '{}'{why}", t.name)
                        })?;
                    let name = recorded_buffer_name(&op, &t.name);
                    counts.buffers += 1;
                    // The op's layout flag where it has one (`transposed_if`), else the recorded strides.
                    let record: Option<Box<serde_json::value::RawValue>> = provenance::value_meta_as(results[r]);
                    let recorded = record.map_or(provenance::Layout::RowMajor, |m| provenance::layout(m.get()));
                    // A transpose is padded for TMA where the op's flag says so (`tma_aligned_if`), else as recorded.
                    let tma = vllm_dialect::verify::tma_aligned(&op, twin, &t.name);
                    let layout = match vllm_dialect::verify::transposed(&op, twin, &t.name) {
                        _ if recorded == provenance::Layout::Other => recorded,
                        Some(true) if tma == Some(true) || tma.is_none() && recorded == provenance::Layout::TmaPadded => {
                            provenance::Layout::TmaPadded
                        }
                        Some(true) => provenance::Layout::Transposed,
                        Some(false) => provenance::Layout::RowMajor,
                        None => recorded,
                    };
                    let buffer = match layout {
                        provenance::Layout::RowMajor => empty(ctx, block, op, ty, &dims, name.as_deref(), padded),
                        provenance::Layout::Transposed => transposed_empty(ctx, block, op, ty, &dims, name.as_deref()),
                        provenance::Layout::TmaPadded => {
                            let rows = shape.first().cloned().flatten();
                            tma_padded_empty(ctx, block, op, ty, &dims, rows.as_deref(), name.as_deref())
                        }
                        provenance::Layout::Other => {
                            return Err(format!("the recorded strides of '{}' are neither row-major nor a transpose", t.name));
                        }
                    }
                    .ok_or("cannot build a buffer")?;
                    sizes.made(buffer, shape);
                    Some(buffer)
                }
                None => None,
            }
        };
        if let (Some(v), Some(Some(r))) = (v, t.mutated.then(|| result_of.get(t.name.as_str()).copied().flatten())) {
            new_value.push((r, v));
        }
        match v {
            Some(v) => {
                operands.push(v);
                segments.push(1);
            }
            None if t.arity == vllm_dialect::Arity::One => return Err(format!("no value for '{}'", t.name)),
            None => segments.push(0),
        }
    }
    let mut attrs: Vec<(Identifier, Attribute)> = op
        .attributes()
        .filter(|(id, _)| {
            let n = id.as_string_ref().as_str().unwrap_or("");
            !n.starts_with("fx.") && n != "operandSegmentSizes" && n != "resultSegmentSizes"
        })
        .collect();
    if twin.needs_operand_segments() {
        attrs.push(ir::named(ctx, "operandSegmentSizes", DenseI32ArrayAttribute::new(ctx, &segments).into()));
    }
    let call = OperationBuilder::new(&twin.name, op.location())
        .add_operands(&operands)
        .add_attributes(&attrs)
        .build()
        .map_err(|_| "cannot build the in-place op".to_string())?;
    block.insert_operation_before(op, call);
    for (r, v) in new_value {
        ir::replace_all_uses(results[r], v);
    }
    // The write-back chain now equals its base (the call wrote through its slices).
    if let (Some(last), Some(first)) = (chain.last(), chain.first()) {
        if let (Ok(end), Ok(base)) = (last.result(0), first.operand(0)) {
            ir::replace_all_uses(end.into(), base);
        }
        for s in chain.iter().rev() {
            order.erase(*s);
            counts.writebacks += 1;
        }
    }
    order.erase(op);
    counts.converted += 1;
    Ok(())
}

impl Pass for FixFunctionalizationPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&self, func: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let donation = match (run.option("donate-inputs"), run.option("donated-inputs")) {
            ("true" | "1", _) => Donation::All,
            ("false" | "0" | "", "") => Donation::None,
            ("false" | "0" | "", names) => Donation::Inputs(names.split(':').map(String::from).collect()),
            (other, _) => {
                ir::emit_error(func.location(), &format!("donate-inputs must be true or false, not '{other}'"));
                return Err(PassFailed);
            }
        };
        let handle = ir::ContextHandle::of(&func);
        let ctx = handle.get();
        let mut counts = Counts::default();
        let mut failed = false;
        for region in func.regions() {
            let mut block = region.first_block();
            while let Some(b) = block {
                let mut sizes = Sizes::new(b);
                let mut order = Order::of(b);
                for op in ir::block_ops(b) {
                    // Skip what a conversion erased (a rotary write-back chain).
                    if !order.0.contains_key(&ir::op_id(&op)) {
                        continue;
                    }
                    let Some(def) = def_of(&op) else { continue };
                    let Some(twin) = def.inplace.as_deref().and_then(vllm_dialect::op) else { continue };
                    // Imported from a functional call: it stays one (vLLM's lowering picks its kernel).
                    if ir::string_attr(&op, provenance::FUNCTIONAL).is_some() {
                        counts.functional += 1;
                        continue;
                    }
                    if let Err(why) = convert(ctx, b, &mut sizes, &mut order, op, def, twin, &donation, &mut counts) {
                        ir::emit_error(op.location(), &format!("'{}' has an in-place kernel but could not be converted: {why}", def.name));
                        failed = true;
                    }
                }
                block = b.next_in_region();
            }
        }
        run.bump("converted", counts.converted);
        run.bump("buffers", counts.buffers);
        run.bump("copies", counts.copies);
        run.bump("write-backs", counts.writebacks);
        run.bump("functional", counts.functional);
        if failed { Err(PassFailed) } else { Ok(()) }
    }
}
