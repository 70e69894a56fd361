//! Recognizers for the decomposed ATen forms of vLLM's ops (what Inductor
//! sees with custom ops off; vLLM ≥ 0.12's `matcher_utils.py` matches the
//! same). Each recognizer reads one chain backwards from its last value and
//! returns the custom op's operands plus the ops the chain consists of; `raise`
//! replaces the chain with the custom value op. The fusion passes raise a
//! chain only where a fusion rule will then consume it, so an unfused native
//! chain is left exactly as it was.
//!
//! `gemma_rms` recognizes vLLM's `GemmaRMSNorm` (weight `1 + w`, one
//! rounding), which has no custom op: only the all-reduce fusion consumes it.
//!
//! Numerics (checked by tests/all/numerics.rs): the raised RMSNorm, static
//! quant and SiLU-mul compute what the chains compute, at the same rounding
//! points (`to(f32)`, f32 math, `to(T)`, `T*T` rounds). Two differences:
//! the native quant's clamp keeps a NaN (then NaN in FP8) where the kernel
//! maps NaN to +448; and the native residual add normalizes the unrounded
//! f32 sum where `fused_add_rms_norm` normalizes the bf16-rounded one (the
//! same choice vLLM makes when it matches this form).
use mlir_support::{
    ir,
    melior::{
        Context,
        ir::{
            Attribute, BlockLike, BlockRef, Identifier, Location, ShapedTypeLike, Type, Value, ValueLike,
            attribute::{BoolAttribute, DenseI64ArrayAttribute, FloatAttribute, IntegerAttribute},
            operation::{OperationBuilder, OperationLike, OperationRef},
            r#type::DimSize,
        },
    },
};

type Op<'c, 'a> = OperationRef<'c, 'a>;

fn named<'c: 'a, 'a>(v: Value<'c, 'a>, name: &str) -> Option<Op<'c, 'a>> {
    ir::producer(v).filter(|p| p.name().as_string_ref().as_str() == Ok(name))
}

/// The element type of tensor `v`, as MLIR spells it (`bf16`).
pub fn elem(v: Value<'_, '_>) -> Option<String> {
    ir::ranked_tensor(v.r#type()).map(|t| ir::type_string(t.element()).into_owned())
}

fn scalar(op: &Op<'_, '_>, n: &str) -> Option<f64> {
    let a = op.attribute(n).ok()?;
    if let Ok(f) = FloatAttribute::try_from(a) {
        return Some(f.value());
    }
    IntegerAttribute::try_from(a).ok().map(|i| i.value() as f64)
}

fn one_use(v: Value<'_, '_>) -> bool {
    ir::users(v).len() == 1
}

/// `convert_element_type(v, to)` or `to_dtype(v, to)`: its input.
fn converted<'c: 'a, 'a>(v: Value<'c, 'a>, to: &str) -> Option<(Value<'c, 'a>, Op<'c, 'a>)> {
    let p = named(v, "aten.convert_element_type").or_else(|| named(v, "aten.to_dtype"))?;
    (elem(v)? == to).then_some(())?;
    Some((p.operand(0).ok()?, p))
}

/// The operands of a binary op, in either order, with `first` satisfying `pick`.
fn commuted<'c: 'a, 'a, T>(op: &Op<'c, 'a>, mut pick: impl FnMut(Value<'c, 'a>) -> Option<T>) -> Option<(T, Value<'c, 'a>)> {
    let (a, b) = (op.operand(0).ok()?, op.operand(1).ok()?);
    if let Some(t) = pick(a) {
        return Some((t, b));
    }
    pick(b).map(|t| (t, a))
}

/// Whether `w` can be a norm's weight for rows `out`: one vector of the
/// rows' width (a product with another row tensor, as a gated norm's
/// `norm(x) * g`, is not a weight: the kernels read one row of weights).
fn row_weight(w: Value<'_, '_>, out: Value<'_, '_>) -> bool {
    let Some(rows) = vllm_dialect::verify::shape_of(out.r#type()).filter(|s| !s.is_empty()) else { return false };
    vllm_dialect::verify::is_row_weight(w.r#type(), rows.last().copied().flatten())
}

/// A native RMSNorm, optionally with the residual add in front.
pub struct Rms<'c, 'a> {
    pub x: Value<'c, 'a>,
    pub residual: Option<Value<'c, 'a>>,
    pub weight: Value<'c, 'a>,
    pub epsilon: f64,
    /// The normalized output (dtype T).
    pub out: Value<'c, 'a>,
    /// The new residual, in T: `to(T)` of the f32 sum when the graph uses
    /// it (`rms`), or the T sum itself (`gemma_rms`, its residual form).
    pub residual_out: Option<Value<'c, 'a>>,
    pub ops: Vec<Op<'c, 'a>>,
}

/// `out = to(xf * rsqrt(mean(xf ** 2, -1, keepdim) + eps), T) * w` with
/// `xf = to(x, f32)`, or `xf = to(x, f32) + to(r, f32)` (the residual form,
/// whose `to(xf, T)` is the new residual). `Err` says what did not match.
pub fn rms<'c: 'a, 'a>(out: Value<'c, 'a>) -> Result<Rms<'c, 'a>, String> {
    let t = elem(out).ok_or("not a tensor")?;
    let mul_w = named(out, "aten.mul").ok_or("not produced by aten.mul (* weight)")?;
    let ((n, conv_t), w) = commuted(&mul_w, |v| converted(v, &t)).ok_or("no to(T) operand of the weight multiply")?;
    let Scaled { xf, epsilon, mul_s, pow, ops: scale_ops } = scaled(n)?;
    if elem(w) != Some(t.clone()) {
        return Err(format!("the weight is not {t}"));
    }
    if !row_weight(w, out) {
        return Err("the multiply is not by one weight vector of the rows' width".into());
    }
    let mut ops = vec![mul_w, conv_t];
    ops.extend(scale_ops);
    // xf: to(x, f32), or the residual form.
    let (x, residual, residual_out) = if let Some((x, c)) = converted(xf, "f32").filter(|(x, _)| elem(*x) == Some(t.clone())) {
        if ir::users(xf).len() != 2 {
            return Err("to(x, f32) has another user".into());
        }
        ops.push(c);
        (x, None, None)
    } else if let Some(add) = named(xf, "aten.add") {
        let (a, b) = (add.operand(0).map_err(|e| e.to_string())?, add.operand(1).map_err(|e| e.to_string())?);
        let (Some((x, cx)), Some((r, cr))) = (converted(a, "f32"), converted(b, "f32")) else {
            return Err("the residual add is not of two to(f32) values".into());
        };
        if elem(x) != Some(t.clone()) || elem(r) != Some(t.clone()) || !one_use(a) || !one_use(b) {
            return Err("the residual add's inputs are not single-use to(f32) of T values".into());
        }
        if a.r#type() != xf.r#type() || b.r#type() != xf.r#type() {
            return Err("the add is not of two row tensors (a broadcast, not a residual)".into());
        }
        // Users of the sum: the norm (pow and the scale multiply) and at most one to(T).
        let mut residual_out = None;
        for u in ir::users(xf) {
            if u == pow || u == mul_s {
                continue;
            }
            // `results()`, not `result(0)`: a user may have none (func.return),
            // and melior describes a missing result by printing the function.
            let r = u.results().next().map(Value::from).filter(|v| residual_out.is_none() && converted(*v, &t).is_some());
            match r {
                Some(v) => residual_out = Some(v),
                None => return Err("the residual sum has a user other than the norm and to(T)".into()),
            }
        }
        ops.extend([add, cx, cr]);
        if let Some(ro) = residual_out {
            ops.extend(ir::producer(ro));
        }
        (x, Some(r), residual_out)
    } else {
        return Err("xf is neither to(x, f32) nor a residual add".into());
    };
    Ok(Rms { x, residual, weight: w, epsilon, out, residual_out, ops })
}

/// `xf * rsqrt(mean(xf ** 2, -1, keepdim) + eps)`, the rows scaled in f32:
/// what the RMSNorms' native forms share.
struct Scaled<'c, 'a> {
    xf: Value<'c, 'a>,
    epsilon: f64,
    /// `xf * rsqrt(..)` and `xf ** 2`, the two readers of `xf` in the norm.
    mul_s: Op<'c, 'a>,
    pow: Op<'c, 'a>,
    ops: Vec<Op<'c, 'a>>,
}

/// Reads `n = xf * rsqrt(mean(xf ** 2, -1, keepdim) + eps)` backwards; every
/// value in it (`n` too) has one reader, and `xf` is f32.
fn scaled<'c: 'a, 'a>(n: Value<'c, 'a>) -> Result<Scaled<'c, 'a>, String> {
    let mul_s = named(n, "aten.mul").ok_or("the normalized value is not xf * rsqrt(..)")?;
    let (rsqrt, xf) = commuted(&mul_s, |v| named(v, "aten.rsqrt")).ok_or("no rsqrt in xf * rsqrt(..)")?;
    let add_eps = named(rsqrt.operand(0).map_err(|e| e.to_string())?, "aten.add_scalar").ok_or("rsqrt's input is not mean + eps")?;
    let epsilon = scalar(&add_eps, "other").ok_or("no epsilon")?;
    let mean = named(add_eps.operand(0).map_err(|e| e.to_string())?, "aten.mean").ok_or("no mean")?;
    let rank = ir::ranked_tensor(xf.r#type()).map_or(0, |t| t.rank() as i64);
    let dims = mean
        .attribute("dim")
        .ok()
        .and_then(|a| DenseI64ArrayAttribute::try_from(a).ok())
        .map(|a| (0..a.len()).filter_map(|i| a.element(i).ok()).collect::<Vec<_>>());
    let keep = mean.attribute("keepdim").ok().and_then(|a| BoolAttribute::try_from(a).ok()).is_some_and(|b| b.value());
    if !matches!(dims.as_deref(), Some([d]) if *d == -1 || *d == rank - 1) || !keep {
        return Err("the mean is not over the last dim with keepdim".into());
    }
    let pow = named(mean.operand(0).map_err(|e| e.to_string())?, "aten.pow_scalar").ok_or("no x ** 2")?;
    if scalar(&pow, "other") != Some(2.0) || pow.operand(0).ok() != Some(xf) {
        return Err("the mean is not of xf ** 2".into());
    }
    if elem(xf).as_deref() != Some("f32") {
        return Err("xf is not f32".into());
    }
    for v in [
        n,
        mul_s.result(0).map_err(|e| e.to_string())?.into(),
        rsqrt.result(0).map_err(|e| e.to_string())?.into(),
        add_eps.result(0).map_err(|e| e.to_string())?.into(),
        mean.result(0).map_err(|e| e.to_string())?.into(),
        pow.result(0).map_err(|e| e.to_string())?.into(),
    ] {
        if !one_use(v) {
            return Err("an intermediate value of the norm has another user".into());
        }
    }
    Ok(Scaled { xf, epsilon, mul_s, pow, ops: vec![mul_s, rsqrt, add_eps, mean, pow] })
}

/// A native Gemma RMSNorm (vLLM's `GemmaRMSNorm.forward_native`): the rows
/// scaled in f32, times `1 + w` in f32, rounded to T once,
/// `out = to(to(z, f32) * rsqrt(..) * (to(w, f32) + 1), T)`, where `z` is
/// `x`, or `x + r` added in T (the new residual, which `residual_out` then
/// names: it is read by the norm and by the layers after it). vLLM's f16
/// form adds in f32 and keeps an f32 residual; it is not this one.
pub fn gemma_rms<'c: 'a, 'a>(out: Value<'c, 'a>) -> Result<Rms<'c, 'a>, String> {
    let t = elem(out).ok_or("not a tensor")?;
    if t != "bf16" && t != "f16" {
        return Err(format!("the output is {t}, not bf16 or f16"));
    }
    let (y, conv_out) = converted(out, &t).ok_or("not to(T) of the normalized rows")?;
    let mul_w = named(y, "aten.mul").ok_or("not to(T) of a multiply by the weight")?;
    let ((add1, w, conv_w), n) = commuted(&mul_w, |v| {
        let add1 = named(v, "aten.add_scalar").filter(|o| scalar(o, "other") == Some(1.0))?;
        let (w, conv_w) = converted(add1.operand(0).ok()?, "f32")?;
        Some((add1, w, conv_w))
    })
    .ok_or("no (to(w, f32) + 1) operand of the weight multiply")?;
    if elem(w) != Some(t.clone()) {
        return Err(format!("the weight is not {t}"));
    }
    if !row_weight(w, out) {
        return Err("the multiply is not by one weight vector of the rows' width".into());
    }
    let Scaled { xf, epsilon, ops: scale_ops, .. } = scaled(n)?;
    for v in [y, mul_w.result(0).map_err(|e| e.to_string())?.into(), add1.result(0).map_err(|e| e.to_string())?.into()] {
        if !one_use(v) {
            return Err("an intermediate value of the norm has another user".into());
        }
    }
    let (z, conv_z) = converted(xf, "f32").filter(|(z, _)| elem(*z) == Some(t.clone())).ok_or("xf is not to(z, f32) of T rows")?;
    if ir::users(xf).len() != 2 {
        return Err("to(z, f32) has another user".into());
    }
    let mut ops = vec![conv_out, mul_w, add1, conv_w, conv_z];
    ops.extend(scale_ops);
    // z: the rows, or their residual add in T (any other reader of z reads
    // the new residual); an add of anything but two row tensors (a
    // broadcast bias) is not a residual add, so z is then the rows.
    let rows = |v: Value<'c, 'a>| v.r#type() == z.r#type();
    let (x, residual, residual_out) = match named(z, "aten.add").filter(|add| add.operands().all(rows)) {
        Some(add) => {
            ops.push(add);
            (add.operand(0).map_err(|e| e.to_string())?, Some(add.operand(1).map_err(|e| e.to_string())?), Some(z))
        }
        None => (z, None, None),
    };
    Ok(Rms { x, residual, weight: w, epsilon, out, residual_out, ops })
}

/// A native static per-tensor FP8 quant.
pub struct Quant<'c, 'a> {
    pub input: Value<'c, 'a>,
    pub scale: Value<'c, 'a>,
    pub out: Value<'c, 'a>,
    pub ops: Vec<Op<'c, 'a>>,
}

/// `out = to(clamp_max(clamp_min(to(y, f32) * reciprocal(s), -448), 448), fp8)`.
pub fn static_quant<'c: 'a, 'a>(out: Value<'c, 'a>) -> Result<Quant<'c, 'a>, String> {
    let (c2v, conv) = converted(out, "f8E4M3FN").ok_or("not to(float8_e4m3fn)")?;
    let cmax = named(c2v, "aten.clamp_max").filter(|o| scalar(o, "other") == Some(448.0)).ok_or("no clamp_max(448)")?;
    let cmin = named(cmax.operand(0).map_err(|e| e.to_string())?, "aten.clamp_min")
        .filter(|o| scalar(o, "other") == Some(-448.0))
        .ok_or("no clamp_min(-448)")?;
    let mul = named(cmin.operand(0).map_err(|e| e.to_string())?, "aten.mul").ok_or("no multiply by the reciprocal scale")?;
    let (recip, yf) = commuted(&mul, |v| named(v, "aten.reciprocal")).ok_or("no reciprocal(scale)")?;
    let scale = recip.operand(0).map_err(|e| e.to_string())?;
    let scalar_scale =
        ir::ranked_tensor(scale.r#type()).is_some_and(|t| (0..t.rank()).all(|i| matches!(t.dim_size(i), Ok(DimSize::Static(1)))));
    if elem(scale).as_deref() != Some("f32") || !scalar_scale {
        return Err("the scale is not one f32 (a per-tensor static scale)".into());
    }
    let (y, cy) = converted(yf, "f32").ok_or("the quant input is not to(y, f32)")?;
    for v in [c2v, cmin.result(0).map_err(|e| e.to_string())?.into(), mul.result(0).map_err(|e| e.to_string())?.into(), yf] {
        if !one_use(v) {
            return Err("an intermediate value of the quant has another user".into());
        }
    }
    let mut ops = vec![conv, cmax, cmin, mul, cy];
    if one_use(recip.result(0).map_err(|e| e.to_string())?.into()) {
        ops.push(recip);
    }
    Ok(Quant { input: y, scale, out, ops })
}

/// The decomposed static FP8 quant that is `out`'s only reader, if any
/// (found from `out` forwards: `to(f32)`, the multiply, the clamps, `to(fp8)`).
pub fn quant_reader<'c: 'a, 'a>(out: Value<'c, 'a>) -> Option<Quant<'c, 'a>> {
    let mut v = out;
    for _ in 0..6 {
        let users = ir::users(v);
        let [u] = users.as_slice() else { return None };
        // `results()`, not `result(0)`: a reader may have none (func.return),
        // and melior's error for a missing result prints the whole function.
        let next: Value = u.results().next()?.into();
        if is_quant_end(u) {
            return static_quant(next).ok().filter(|q| q.input == out);
        }
        v = next;
    }
    None
}

/// A native SiLU-and-mul.
pub struct SiluMul<'c, 'a> {
    pub input: Value<'c, 'a>,
    pub out: Value<'c, 'a>,
    pub ops: Vec<Op<'c, 'a>>,
}

/// `v` as `x[..., start:end]` (a static step-1 `aten.slice` of `x`'s last
/// dim): `(x, start, end, rank of x, the slice)`, the bounds as written.
pub fn slice_of<'c: 'a, 'a>(v: Value<'c, 'a>) -> Option<(Value<'c, 'a>, i64, i64, i64, Op<'c, 'a>)> {
    let s = named(v, "aten.slice")?;
    let x = s.operand(0).ok()?;
    if s.operand_count() != 1 || scalar(&s, "step") != Some(1.0) {
        return None;
    }
    let rank = ir::ranked_tensor(x.r#type())?.rank() as i64;
    let dim = scalar(&s, "dim")? as i64;
    let dim = if dim < 0 { dim + rank } else { dim };
    (dim == rank - 1).then_some(())?;
    Some((x, scalar(&s, "start")? as i64, scalar(&s, "end")? as i64, rank, s))
}

/// `out = to(af / (1 + exp(-af)), T) * x[..., d:]` with `af = to(x[..., :d], f32)`
/// (`F.silu(x[..., :d]) * x[..., d:]` decomposed), or `silu(x[..., :d]) * x[..., d:]`.
pub fn silu_mul<'c: 'a, 'a>(out: Value<'c, 'a>) -> Result<SiluMul<'c, 'a>, String> {
    let t = elem(out).ok_or("not a tensor")?;
    let mul = named(out, "aten.mul").ok_or("not produced by aten.mul")?;
    let mut ops = vec![mul];
    let ((a, b_slice), act) = commuted(&mul, |v| {
        // The silu side: aten.silu(a) or the decomposed to(af / (1 + exp(-af)), T).
        if let Some(s) = named(v, "aten.silu") {
            return Some((s.operand(0).ok()?, vec![s]));
        }
        let (q, conv) = converted(v, &t)?;
        let div = named(q, "aten.div")?;
        let af = div.operand(0).ok()?;
        let add1 = named(div.operand(1).ok()?, "aten.add_scalar").filter(|o| scalar(o, "other") == Some(1.0))?;
        let exp = named(add1.operand(0).ok()?, "aten.exp")?;
        let neg = named(exp.operand(0).ok()?, "aten.neg").filter(|n| n.operand(0).ok() == Some(af))?;
        let (a, ca) = converted(af, "f32")?;
        (ir::users(af).len() == 2).then_some(())?;
        for o in [div, add1, exp, neg] {
            one_use(o.result(0).ok()?.into()).then_some(())?;
        }
        Some((a, vec![conv, div, add1, exp, neg, ca]))
    })
    .map(|((a, chain), other)| ((a, other), chain))
    .ok_or("no silu(x[..., :d]) operand")?;
    let (xa, sa, ea, _, sla) = slice_of(a).ok_or("the silu input is not x[..., :d]")?;
    let (xb, sb, eb, _, slb) = slice_of(b_slice).ok_or("the other factor is not x[..., d:]")?;
    let two_d = ir::ranked_tensor(xa.r#type()).and_then(|t| t.dim_size(t.rank() - 1).ok()).and_then(|d| match d {
        DimSize::Static(n) => Some(n as i64),
        _ => None,
    });
    let Some(two_d) = two_d else { return Err("the last dim is not static".into()) };
    let d = two_d / 2;
    if xa != xb || sa != 0 || ea != d || sb != d || eb < two_d || two_d % 2 != 0 {
        return Err("the halves are not x[..., :d] and x[..., d:] of one x".into());
    }
    if elem(xa) != Some(t.clone())
        || !one_use(a)
        || !one_use(b_slice)
        || !one_use(act.first().and_then(|o| o.result(0).ok()).map(Value::from).ok_or("no silu")?)
    {
        return Err("an intermediate value of silu-and-mul has another user".into());
    }
    ops.extend(act);
    ops.extend([sla, slb]);
    Ok(SiluMul { input: xa, out, ops })
}

/// Builds `name(operands) {attrs}` with result types `types` before `before`,
/// rewires each of `replaces` (None: a result nobody used) and erases the
/// chain's ops that became dead. Returns the new op.
#[allow(clippy::too_many_arguments)] // one op's full description: name, operands, attributes, types, rewiring
pub fn raise<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    before: Op<'c, 'a>,
    name: &str,
    operands: &[Value<'c, 'a>],
    attrs: &[(&str, Attribute<'c>)],
    types: &[Type<'c>],
    replaces: &[Option<Value<'c, 'a>>],
    chain: &[Op<'c, 'a>],
) -> Option<Op<'c, 'a>> {
    let attrs: Vec<(Identifier, Attribute)> = attrs.iter().map(|(n, a)| ir::named(ctx, n, *a)).collect();
    let locs: Vec<Location> = chain.iter().map(|o| o.location()).collect();
    let loc = Location::fused(ctx, &locs, Attribute::unit(ctx));
    let op = OperationBuilder::new(name, loc).add_operands(operands).add_results(types).add_attributes(&attrs).build().ok()?;
    let op = block.insert_operation_before(before, op);
    for (i, r) in replaces.iter().enumerate() {
        if let (Some(old), Ok(new)) = (r, op.result(i)) {
            ir::replace_all_uses(*old, new.into());
        }
    }
    ir::erase_dead(chain.iter().copied());
    Some(op)
}

/// The epsilon attribute for a raised norm.
pub fn epsilon_attr(ctx: &Context, eps: f64) -> Attribute<'_> {
    FloatAttribute::new(ctx, Type::float64(ctx), eps).into()
}

/// Where a raised op goes: before the earliest producer among `values`.
pub fn earliest<'c: 'a, 'a>(values: &[Value<'c, 'a>]) -> Option<Op<'c, 'a>> {
    let mut best: Option<Op> = None;
    for p in values.iter().filter_map(|v| ir::producer(*v)) {
        if best.is_none_or(|b| p.is_before_in_block(b)) {
            best = Some(p);
        }
    }
    best
}

/// Raises every native RMSNorm of the block that `wanted` accepts (the
/// norm, and the `aten.mul` that ends it), skipping ops already in
/// `erased`; returns how many. For passes whose rule then fuses exactly
/// those norms.
pub fn raise_rms_where<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    erased: &mut std::collections::HashSet<usize>,
    wanted: impl Fn(&Rms<'c, 'a>, &Op<'c, 'a>) -> bool,
) -> u64 {
    let mut raised = 0;
    for op in ir::block_ops(block) {
        if erased.contains(&ir::op_id(&op)) || op.name().as_string_ref().as_str() != Ok("aten.mul") {
            continue;
        }
        let Some(out) = op.results().next().map(Value::from) else { continue };
        if let Ok(m) = rms(out)
            && wanted(&m, &op)
            && raise_rms(ctx, block, &m, erased).is_some()
        {
            raised += 1;
        }
    }
    raised
}

/// Replaces a native RMSNorm with `vllm.rms_norm` / `vllm.fused_add_rms_norm`;
/// returns the new normalized value. `erased` collects removed ops.
pub fn raise_rms<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    m: &Rms<'c, 'a>,
    erased: &mut std::collections::HashSet<usize>,
) -> Option<Value<'c, 'a>> {
    let eps = [("epsilon", epsilon_attr(ctx, m.epsilon))];
    let before = earliest(&[Some(m.out), m.residual_out].into_iter().flatten().collect::<Vec<_>>())?;
    erased.extend(m.ops.iter().map(ir::op_id));
    let op = match m.residual {
        None => raise(ctx, block, before, "vllm.rms_norm", &[m.x, m.weight], &eps, &[m.out.r#type()], &[Some(m.out)], &m.ops)?,
        Some(r) => raise(
            ctx,
            block,
            before,
            "vllm.fused_add_rms_norm",
            &[m.x, r, m.weight],
            &eps,
            &[m.out.r#type(), m.x.r#type()],
            &[Some(m.out), m.residual_out],
            &m.ops,
        )?,
    };
    op.result(0).ok().map(Into::into)
}

/// Replaces a native static quant with `vllm.static_scaled_fp8_quant`.
pub fn raise_quant<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    m: &Quant<'c, 'a>,
    input: Value<'c, 'a>,
    erased: &mut std::collections::HashSet<usize>,
) -> Option<Op<'c, 'a>> {
    let before = ir::producer(m.out)?;
    erased.extend(m.ops.iter().map(ir::op_id));
    raise(ctx, block, before, "vllm.static_scaled_fp8_quant", &[input, m.scale], &[], &[m.out.r#type()], &[Some(m.out)], &m.ops)
}

/// Replaces a native SiLU-and-mul with `vllm.silu_and_mul`; returns its value.
pub fn raise_silu_mul<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    m: &SiluMul<'c, 'a>,
    erased: &mut std::collections::HashSet<usize>,
) -> Option<Value<'c, 'a>> {
    let before = ir::producer(m.out)?;
    erased.extend(m.ops.iter().map(ir::op_id));
    raise(ctx, block, before, "vllm.silu_and_mul", &[m.input], &[], &[m.out.r#type()], &[Some(m.out)], &m.ops)?
        .result(0)
        .ok()
        .map(Into::into)
}

/// True for the last op of a native static quant: `to(.., float8_e4m3fn)`.
pub fn is_quant_end(op: &Op<'_, '_>) -> bool {
    let n = op.name();
    matches!(n.as_string_ref().as_str(), Ok("aten.convert_element_type" | "aten.to_dtype"))
        && op.result(0).ok().and_then(|r| elem(r.into())).as_deref() == Some("f8E4M3FN")
}

/// The producer of `v` if it is the op `name`.
pub fn producer_named<'c: 'a, 'a>(v: Value<'c, 'a>, name: &str) -> Option<Op<'c, 'a>> {
    named(v, name)
}

pub fn single_use(v: Value<'_, '_>) -> bool {
    one_use(v)
}
