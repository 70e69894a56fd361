//! The table-driven verifier every op of the torch-like dialects runs.
//!
//! It checks what the op table declares: operand and result counts (with
//! optional and variadic groups, and `operandSegmentSizes` /
//! `resultSegmentSizes` where more than one group varies), the value class
//! of every operand and result (element types included, which IRDL cannot
//! express), every attribute's presence and kind, unknown attributes (a typo
//! such as `epsilonn` must not be silently ignored), and that the symbolic
//! sizes in attributes match the `dyn` operands.
use crate::spec::{Arity, AttrKind, Collective, OpDef, ValueClass, ValueDef};
use crate::{K_DYNAMIC, table};
use mlir_support::melior::ir::{
    Attribute, AttributeLike, Type, TypeLike, ValueLike,
    attribute::{ArrayAttribute, BoolAttribute, DenseI32ArrayAttribute, DenseI64ArrayAttribute, IntegerAttribute},
    operation::{OperationLike, OperationRef},
};
use mlir_support::melior::ir::{ShapedTypeLike, r#type::DimSize};
use std::ops::Range;

/// Verifies one op; `Err` carries the message (without the op-name prefix).
pub fn verify_op(op: OperationRef<'_, '_>) -> Result<(), String> {
    let name = op.name();
    let name = name.as_string_ref().as_str().map_err(|_| "has a non-UTF-8 name".to_string())?;
    let def = table().get(name).ok_or_else(|| "is not in the op table (dialects/ops.toml)".to_string())?;
    let operands: Vec<Type> = op.operands().map(|v| v.r#type()).collect();
    let results: Vec<Type> = op.results().map(|v| v.r#type()).collect();
    let op_groups = groups(&op, &def.operands, operands.len(), "operandSegmentSizes", "operand")?;
    check_values(&def.operands, &op_groups, &operands, "operand")?;
    let res_groups = groups(&op, &def.results, results.len(), "resultSegmentSizes", "result")?;
    check_values(&def.results, &res_groups, &results, "result")?;
    check_attrs(&op, def)?;
    check_dynamic_sizes(&op, def, &op_groups)?;
    let named = Named { def, op_groups: &op_groups, operands: &operands, res_groups: &res_groups, results: &results };
    check_same_shape(&named)?;
    check_row_weight(&named)?;
    if def.packed_heads {
        check_packed_heads(&op, &named)?;
    }
    if let Some(f) = &def.nvfp4 {
        check_nvfp4(f, nvfp4_swizzled(&op, f), &named)?;
    }
    if let Some(rule) = def.collective {
        check_collective(&op, rule, &operands, &results)?;
    }
    if let (Some(i), Some((result, attr))) = (unreturned(&op, def), &def.returned_if) {
        // `results().nth`, not `result(i)`: melior describes a missing result by printing the function.
        let read = |g: &Range<usize>| g.clone().any(|r| op.results().nth(r).is_some_and(|v| mlir_support::ir::has_uses(v.into())));
        if res_groups.get(i).is_some_and(read) {
            return Err(format!("'{result}' is read, but with '{attr}' false PyTorch returns None for it"));
        }
    }
    Ok(())
}

/// The result group (its index in `def.results`) this instance of the op
/// does not return to PyTorch (`returned_if` with the attribute false), if
/// any: it must be unread, and FX has None in its place.
pub fn unreturned(op: &OperationRef<'_, '_>, def: &OpDef) -> Option<usize> {
    let (result, attr) = def.returned_if.as_ref()?;
    let off = op.attribute(attr).ok().and_then(|a| BoolAttribute::try_from(a).ok()).is_some_and(|b| !b.value());
    if off { def.results.iter().position(|d| &d.name == result) } else { None }
}

/// A reduce-scatter's or all-gather's result shape: `dim` divided or
/// multiplied by `world_size`, the other sizes equal (where both are static).
fn check_collective(op: &OperationRef<'_, '_>, rule: Collective, operands: &[Type], results: &[Type]) -> Result<(), String> {
    let int = |n: &str| mlir_support::ir::int_attr(op, n);
    let (Some(dim), Some(world)) = (int("dim"), int("world_size")) else { return Ok(()) }; // check_attrs reported it
    if world < 1 {
        return Err(format!("'world_size' must be at least 1, got {world}"));
    }
    let (Some(x), Some(y)) = (operands.first().and_then(|t| shape_of(*t)), results.first().and_then(|t| shape_of(*t))) else {
        return Ok(());
    };
    if x.len() != y.len() {
        return Err(format!("result rank {} differs from the operand's {}", y.len(), x.len()));
    }
    let d = if dim < 0 { dim + x.len() as i64 } else { dim };
    if d < 0 || d >= x.len() as i64 {
        return Err(format!("'dim' {dim} is out of range for rank {}", x.len()));
    }
    for (i, (a, b)) in x.iter().zip(&y).enumerate() {
        let (Some(a), Some(b)) = (a, b) else { continue };
        let want = match (i as i64 == d, rule) {
            (false, _) => *a,
            (true, Collective::Gather) => a * world,
            (true, Collective::Scatter) if a % world != 0 => {
                return Err(format!("dim {d} has {a} rows, which world_size {world} does not divide"));
            }
            (true, Collective::Scatter) => a / world,
        };
        if *b != want {
            return Err(format!("result dim {i} is {b}, expected {want} (operand {a}, world_size {world})"));
        }
    }
    Ok(())
}

/// The shape of a ranked tensor type, `None` for dynamic dims.
pub fn shape_of(t: Type<'_>) -> Option<Vec<Option<i64>>> {
    let tensor = mlir_support::ir::ranked_tensor(t)?;
    Some(
        (0..tensor.rank())
            .map(|i| match tensor.dim_size(i) {
                Ok(DimSize::Static(d)) => Some(d as i64),
                _ => None,
            })
            .collect(),
    )
}

/// An op's operand and result types, found by their names in the table.
struct Named<'d, 't> {
    def: &'d OpDef,
    op_groups: &'d [Range<usize>],
    operands: &'d [Type<'t>],
    res_groups: &'d [Range<usize>],
    results: &'d [Type<'t>],
}

impl<'t> Named<'_, 't> {
    /// The value named `name` (None: an absent optional, or no such name).
    fn get(&self, name: &str) -> Option<Type<'t>> {
        self.def
            .operands
            .iter()
            .zip(self.op_groups)
            .map(|(d, r)| (d, r, self.operands))
            .chain(self.def.results.iter().zip(self.res_groups).map(|(d, r)| (d, r, self.results)))
            .find(|(d, _, _)| d.name == name)
            .and_then(|(_, range, types)| range.clone().next().map(|i| types[i]))
    }
}

fn check_same_shape(named: &Named) -> Result<(), String> {
    let mut first: Option<(&str, Vec<Option<i64>>, Type)> = None;
    for name in &named.def.same_shape {
        let Some(t) = named.get(name) else { continue };
        let Some(shape) = shape_of(t) else { continue };
        match &first {
            None => first = Some((name, shape, t)),
            Some((fname, fshape, ftype)) => {
                let agree = fshape.len() == shape.len() && fshape.iter().zip(&shape).all(|(a, b)| a.is_none() || b.is_none() || a == b);
                if !agree {
                    return Err(format!("'{name}' ({t}) must have the shape of '{fname}' ({ftype})"));
                }
            }
        }
    }
    Ok(())
}

/// Whether `w` is a norm's weight for rows `width` wide: one vector of that
/// many elements (the kernels read one row of weights). A size not known
/// statically agrees.
pub fn is_row_weight(w: Type<'_>, width: Option<i64>) -> bool {
    matches!(shape_of(w).as_deref(), Some([a]) if a.is_none() || width.is_none() || *a == width)
}

/// A norm's weight: a vector as wide as its rows (the first `same_shape` value).
fn check_row_weight(named: &Named) -> Result<(), String> {
    let Some(w_name) = &named.def.row_weight else { return Ok(()) };
    let Some(w) = named.get(w_name).filter(|w| shape_of(*w).is_some()) else { return Ok(()) };
    let width = named.def.same_shape.first().and_then(|r| named.get(r)).and_then(shape_of).and_then(|s| s.last().copied()).flatten();
    match width {
        _ if is_row_weight(w, width) => Ok(()),
        Some(b) => Err(format!("'{w_name}' ({w}) must be one vector as wide as the rows ({b} elements)")),
        None => Err(format!("'{w_name}' ({w}) must be one vector as wide as the rows")),
    }
}

/// Packed attention heads (`packed_heads`): rows of `num_heads_q +
/// num_heads_k + num_heads_v` heads of `head_dim`, norm weights of
/// `head_dim`, cache rows of an even width up to `head_dim` (where sizes
/// are static).
fn check_packed_heads(op: &OperationRef<'_, '_>, named: &Named) -> Result<(), String> {
    let int = |n: &str| mlir_support::ir::int_attr(op, n);
    let (Some(hq), Some(hk), Some(hv), Some(d)) = (int("num_heads_q"), int("num_heads_k"), int("num_heads_v"), int("head_dim")) else {
        return Ok(()); // check_attrs names a missing one
    };
    if d < 1 || hq < 1 || hk < 1 || hv < 0 {
        return Err(format!("head_dim ({d}) and num_heads_q/k ({hq}, {hk}) must be positive, num_heads_v ({hv}) not negative"));
    }
    let dims = |name: &str| named.get(name).and_then(shape_of);
    let qkv = named.def.operands.first().map(|o| o.name.as_str()).unwrap_or("qkv");
    match dims(qkv).as_deref() {
        Some([_, w]) => {
            let want = (hq + hk + hv).checked_mul(d);
            if w.is_some() && *w != want {
                return Err(format!(
                    "'{qkv}' rows must be (num_heads_q + num_heads_k + num_heads_v) * head_dim = {} wide",
                    want.map_or("too many".into(), |n| n.to_string())
                ));
            }
        }
        Some(_) => return Err(format!("'{qkv}' must be rows (rank 2)")),
        None => {}
    }
    for w in ["q_weight", "k_weight"] {
        if let Some(t) = named.get(w)
            && !is_row_weight(t, Some(d))
        {
            return Err(format!("'{w}' ({t}) must be one vector of head_dim ({d}) elements"));
        }
    }
    match dims("cos_sin_cache").as_deref() {
        Some([_, Some(r)]) if *r < 2 || *r > d || r % 2 != 0 => {
            Err(format!("'cos_sin_cache' rows ({r} elements) must be an even number, at most head_dim ({d})"))
        }
        Some([_, _]) | None => Ok(()),
        Some(_) => Err("'cos_sin_cache' must be rows (rank 2)".into()),
    }
}

/// Whether `op` (`def`'s op or its value form, which share attributes)
/// stores its written buffer `name` as a transpose: `Some` where a
/// `transposed_if` attribute says either way, `None` where the op does not.
pub fn transposed(op: &OperationRef<'_, '_>, def: &OpDef, name: &str) -> Option<bool> {
    let (_, a) = def.transposed_if.iter().find(|(v, _)| v == name)?;
    op.attribute(a).ok().and_then(|x| BoolAttribute::try_from(x).ok()).map(|b| b.value())
}

/// Whether `op` (as `transposed`) pads its transposed buffer `name`'s rows
/// for TMA: `Some` where a `tma_aligned_if` attribute says either way.
pub fn tma_aligned(op: &OperationRef<'_, '_>, def: &OpDef, name: &str) -> Option<bool> {
    let (_, a) = def.tma_aligned_if.iter().find(|(v, _)| v == name)?;
    op.attribute(a).ok().and_then(|x| BoolAttribute::try_from(x).ok()).map(|b| b.value())
}

/// Whether `op`'s NVFP4 block scales are in the FP4 GEMM's swizzled layout:
/// always, unless the layout names a `swizzled_if` attribute that is false.
pub fn nvfp4_swizzled(op: &OperationRef<'_, '_>, f: &crate::spec::Nvfp4) -> bool {
    f.swizzled_if.as_deref().is_none_or(|a| op.attribute(a).ok().and_then(|v| BoolAttribute::try_from(v).ok()).is_none_or(|b| b.value()))
}

/// The NVFP4 layout (`nvfp4`, where sizes are static): `input` rows of
/// `input_per_byte * w`, packed values `[T, w]` with `w` a multiple of 8
/// (16 elements a block scale), block scales `[round_up(T, 128), ceil(w / 32)]`
/// of `i32` when swizzled, else `[T, w / 8]` of `ui8`.
fn check_nvfp4(f: &crate::spec::Nvfp4, swizzled: bool, named: &Named) -> Result<(), String> {
    let dims = |name: &str| named.get(name).and_then(shape_of);
    let (Some(input), Some(values), Some(scales)) = (dims(&f.input), dims(&f.values), dims(&f.scales)) else { return Ok(()) };
    // Bytes of two e2m1 codes; words of four e4m3 scales (swizzled) or one e4m3 byte each.
    let scale_type = if swizzled { "i32" } else { "ui8" };
    for (name, want) in [(&f.values, "ui8"), (&f.scales, scale_type)] {
        let t = named.get(name).and_then(mlir_support::ir::ranked_tensor);
        if let Some(t) = t.filter(|t| mlir_support::ir::type_string(t.element()) != want) {
            let layout = if name == &f.scales && !swizzled { ", row-major" } else { "" };
            return Err(format!("'{name}' must be {want} (NVFP4{layout}), but got {}", Type::from(t)));
        }
    }
    let ([ti, n], [tv, w], [ts, k]) = (input.as_slice(), values.as_slice(), scales.as_slice()) else {
        return Err(format!("'{}', '{}' and '{}' must be rows (rank 2)", f.input, f.values, f.scales));
    };
    let agree = |a: &Option<i64>, b: Option<i64>| a.is_none() || b.is_none() || *a == b;
    if let Some(w) = w {
        if w % 8 != 0 {
            return Err(format!("'{}' rows ({w} bytes) must pack a multiple of 16 elements (16 share a block scale)", f.values));
        }
        if !agree(n, Some(w * f.input_per_byte)) {
            return Err(format!("'{}' rows ({w} bytes) must pack {} elements of '{}' a byte", f.values, f.input_per_byte, f.input));
        }
        if swizzled && !agree(k, Some((w + 31) / 32)) {
            return Err(format!("'{}' rows must be ceil({w} / 32) = {} words (four e4m3 block scales each)", f.scales, (w + 31) / 32));
        }
        if !swizzled && !agree(k, Some(w / 8)) {
            return Err(format!("'{}' rows must be {w} / 8 = {} bytes (one e4m3 scale a block, row-major)", f.scales, w / 8));
        }
    }
    if !agree(ti, *tv) {
        return Err(format!("'{}' must have a row per row of '{}'", f.values, f.input));
    }
    if let (Some(t), Some(r)) = (ti.or(*tv), ts) {
        let padded = (t + 127) / 128 * 128;
        if swizzled && *r != padded {
            return Err(format!("'{}' must have round_up({t}, 128) = {padded} rows (the FP4 GEMM's 128-row tiles)", f.scales));
        }
        if !swizzled && *r != t {
            return Err(format!("'{}' must have a row per row of '{}' ({t}; row-major, unpadded)", f.scales, f.input));
        }
    }
    Ok(())
}

/// Splits `count` values into the declared groups.
fn groups(
    op: &OperationRef<'_, '_>,
    decls: &[ValueDef],
    count: usize,
    segment_attr: &str,
    what: &str,
) -> Result<Vec<Range<usize>>, String> {
    let varying = decls.iter().filter(|d| d.arity != Arity::One).count();
    let sizes: Vec<usize> = if varying > 1 {
        let attr = op
            .attribute(segment_attr)
            .map_err(|_| format!("needs a '{segment_attr}' attribute: it has more than one optional or variadic {what}"))?;
        let sizes: Option<Vec<usize>> = if attr.is_dense_i32_array() {
            DenseI32ArrayAttribute::try_from(attr)
                .ok()
                .and_then(|a| (0..a.len()).map(|i| a.element(i).ok().and_then(|v| usize::try_from(v).ok())).collect())
        } else {
            None
        };
        let sizes = sizes.ok_or_else(|| format!("'{segment_attr}' must be an array<i32: ...> of non-negative sizes"))?;
        if sizes.len() != decls.len() {
            return Err(format!("'{segment_attr}' has {} entries, expected {} ({})", sizes.len(), decls.len(), names(decls)));
        }
        if sizes.iter().sum::<usize>() != count {
            return Err(format!("'{segment_attr}' sums to {}, but the op has {count} {what}s", sizes.iter().sum::<usize>()));
        }
        sizes
    } else {
        let fixed = decls.iter().filter(|d| d.arity == Arity::One).count();
        let var = decls.iter().find(|d| d.arity != Arity::One);
        let ok = match var {
            None => count == fixed,
            Some(v) if v.arity == Arity::Optional => count == fixed || count == fixed + 1,
            Some(_) => count >= fixed,
        };
        if !ok {
            let expected = match var {
                None => format!("exactly {fixed}"),
                Some(v) if v.arity == Arity::Optional => format!("{fixed} or {}", fixed + 1),
                Some(_) => format!("at least {fixed}"),
            };
            return Err(format!("expects {expected} {what}s ({}), but got {count}", names(decls)));
        }
        decls.iter().map(|d| if d.arity == Arity::One { 1 } else { count - fixed }).collect()
    };
    let mut start = 0;
    let mut out = Vec::with_capacity(sizes.len());
    for (d, n) in decls.iter().zip(&sizes) {
        if d.arity == Arity::One && *n != 1 {
            return Err(format!("{what} '{}' must be given exactly once, got {n}", d.name));
        }
        if d.arity == Arity::Optional && *n > 1 {
            return Err(format!("optional {what} '{}' is given {n} times", d.name));
        }
        out.push(start..start + n);
        start += n;
    }
    Ok(out)
}

fn names(decls: &[ValueDef]) -> String {
    let v: Vec<String> = decls
        .iter()
        .map(|d| match d.arity {
            Arity::One => d.name.clone(),
            Arity::Optional => format!("{}?", d.name),
            Arity::Variadic => format!("{}*", d.name),
        })
        .collect();
    if v.is_empty() { "none".into() } else { v.join(", ") }
}

fn check_values(decls: &[ValueDef], groups: &[Range<usize>], types: &[Type], what: &str) -> Result<(), String> {
    for (d, range) in decls.iter().zip(groups) {
        for i in range.clone() {
            let t = types[i];
            if !accepts(d.class, t) {
                return Err(format!("{what} #{i} ('{}') must be {}, but got {t}", d.name, d.class.describe()));
            }
        }
    }
    Ok(())
}

fn accepts(class: ValueClass, t: Type<'_>) -> bool {
    if class == ValueClass::Index || (class == ValueClass::Value && t.is_index()) {
        return t.is_index();
    }
    // An opaque input (`none`: an object torch hoisted into the graph's inputs).
    if class == ValueClass::Value && t.is_none() {
        return true;
    }
    match mlir_support::ir::ranked_tensor(t) {
        Some(tensor) => class.accepts_element(&mlir_support::ir::type_string(tensor.element())),
        None => false,
    }
}

fn attr_matches(kind: AttrKind, a: Attribute<'_>) -> bool {
    let ty = || mlir_support::ir::type_string(a.r#type());
    match kind {
        AttrKind::F64 => a.is_float() && ty() == "f64",
        AttrKind::I64 => a.is_integer() && ty() == "i64",
        AttrKind::Bool => a.is_bool(),
        // Or the opaque graph input that carries it (`@arg4_1`: vLLM's hoisted `LayerName`).
        AttrKind::Str => a.is_string() || a.is_flat_symbol_ref(),
        AttrKind::I64Array => a.is_dense_i64_array(),
        AttrKind::Type => a.is_type(),
        AttrKind::Scalar => a.is_float() || a.is_integer() || a.is_bool(),
        AttrKind::List => ArrayAttribute::try_from(a)
            .is_ok_and(|l| (0..l.len()).all(|i| l.element(i).is_ok_and(|e| e.is_unit() || e.is_bool() || e.is_type()))),
    }
}

fn check_attrs(op: &OperationRef<'_, '_>, def: &OpDef) -> Result<(), String> {
    for a in &def.attrs {
        if def.optional_attr(&a.name) && op.attribute(&a.name).is_err() {
            continue;
        }
        let attr = op.attribute(&a.name).map_err(|_| format!("requires attribute '{}' ({})", a.name, a.kind.describe()))?;
        if !attr_matches(a.kind, attr) {
            return Err(format!("attribute '{}' must be {}, but got {attr}", a.name, a.kind.describe()));
        }
    }
    for (id, _) in op.attributes() {
        let n = id.as_string_ref().as_str().unwrap_or("");
        let segments =
            (n == "operandSegmentSizes" && def.needs_operand_segments()) || (n == "resultSegmentSizes" && def.needs_result_segments());
        // Dialect-prefixed (`vllm.fused_from`) attributes are discardable metadata.
        if def.attr(n).is_none() && !segments && !n.contains('.') {
            let known: Vec<&str> = def.attrs.iter().map(|a| a.name.as_str()).collect();
            let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
            return Err(format!("has unknown attribute '{n}' (known: {known})"));
        }
    }
    Ok(())
}

/// kDynamic entries in i64 / i64[] attributes must match the `dyn` operands one-to-one.
fn check_dynamic_sizes(op: &OperationRef<'_, '_>, def: &OpDef, groups: &[Range<usize>]) -> Result<(), String> {
    let Some(dyn_idx) = def.operands.iter().position(|o| o.name == "dyn" && o.class == ValueClass::Index) else {
        return Ok(());
    };
    let mut dynamic = 0usize;
    for a in &def.attrs {
        let Ok(attr) = op.attribute(&a.name) else { continue };
        match a.kind {
            AttrKind::I64 if attr.is_integer() && IntegerAttribute::try_from(attr).is_ok_and(|i| i.value() == K_DYNAMIC) => dynamic += 1,
            AttrKind::I64Array => {
                if let Ok(arr) = DenseI64ArrayAttribute::try_from(attr) {
                    dynamic += (0..arr.len()).filter(|&i| arr.element(i).ok() == Some(K_DYNAMIC)).count();
                }
            }
            _ => {}
        }
    }
    let given = groups[dyn_idx].len();
    if dynamic != given {
        return Err(format!("has {dynamic} symbolic size(s) (-9223372036854775808) in its attributes but {given} 'dyn' operand(s)"));
    }
    Ok(())
}

/// The operands of a verified op of ours, grouped by their declared names
/// (an absent optional is an empty group).
pub fn named_operands<'c, 'a>(op: &OperationRef<'c, 'a>) -> Option<Vec<(&'static str, Vec<mlir_support::melior::ir::Value<'c, 'a>>)>> {
    let def: &'static OpDef = table().get(op.name().as_string_ref().as_str().ok()?)?;
    let values: Vec<_> = op.operands().collect();
    let g = groups(op, &def.operands, values.len(), "operandSegmentSizes", "operand").ok()?;
    Some(def.operands.iter().zip(g).map(|(d, r)| (d.name.as_str(), values[r].to_vec())).collect())
}

/// For a verified value-form op whose in-place twin is `twin`: each argument
/// the twin writes, in the twin's order, with the index of the op's result
/// that is its new value (`None` for an optional one not given). The k-th
/// written argument is the k-th declared result; with several optional
/// results, `resultSegmentSizes` says which are there.
pub fn written_results<'t>(op: &OperationRef<'_, '_>, def: &OpDef, twin: &'t OpDef) -> Option<Vec<(&'t ValueDef, Option<usize>)>> {
    let g = groups(op, &def.results, op.result_count(), "resultSegmentSizes", "result").ok()?;
    let written = twin.operands.iter().filter(|o| o.mutated);
    Some(written.enumerate().map(|(k, w)| (w, g.get(k).and_then(|r| (!r.is_empty()).then_some(r.start)))).collect())
}

/// The results of a verified op of ours, grouped by their declared names.
pub fn named_results<'c, 'a>(op: &OperationRef<'c, 'a>) -> Option<Vec<(&'static str, Vec<mlir_support::melior::ir::Value<'c, 'a>>)>> {
    let def: &'static OpDef = table().get(op.name().as_string_ref().as_str().ok()?)?;
    let values: Vec<mlir_support::melior::ir::Value> = op.results().map(Into::into).collect();
    let g = groups(op, &def.results, values.len(), "resultSegmentSizes", "result").ok()?;
    Some(def.results.iter().zip(g).map(|(d, r)| (d.name.as_str(), values[r].to_vec())).collect())
}
