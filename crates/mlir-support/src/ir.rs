//! Safe IR helpers that melior 0.27 does not provide.
use melior::ir::{
    BlockLike, BlockRef, Location, Value, ValueLike,
    operation::{OperationLike, OperationRef},
};

/// The operations that use `value`, one entry per use, in use-list order.
pub fn users<'c, 'a>(value: Value<'c, 'a>) -> Vec<OperationRef<'c, 'a>> {
    let mut out = Vec::new();
    unsafe {
        let mut use_ = mlir_sys::mlirValueGetFirstUse(value.to_raw());
        while !use_.ptr.is_null() {
            out.push(OperationRef::from_raw(mlir_sys::mlirOpOperandGetOwner(use_)));
            use_ = mlir_sys::mlirOpOperandGetNextUse(use_);
        }
    }
    out
}

/// True when `value` has at least one use.
pub fn has_uses(value: Value<'_, '_>) -> bool {
    unsafe { !mlir_sys::mlirValueGetFirstUse(value.to_raw()).ptr.is_null() }
}

/// True when no result of `op` is used.
pub fn results_unused(op: OperationRef<'_, '_>) -> bool {
    op.results().all(|r| !has_uses(r.into()))
}

/// Replaces every use of `from` with `to`.
pub fn replace_all_uses(from: Value<'_, '_>, to: Value<'_, '_>) {
    unsafe { mlir_sys::mlirValueReplaceAllUsesOfWith(from.to_raw(), to.to_raw()) }
}

/// Erases `op` (which must have no used results) from its block and frees it.
/// The reference must not be used afterwards; callers iterate with the next
/// operation taken *before* erasing.
pub fn erase(op: OperationRef<'_, '_>) {
    debug_assert!(results_unused(op));
    unsafe { mlir_sys::mlirOperationDestroy(op.to_raw()) }
}

/// Erases each of `ops` whose results are unused, again and again until no
/// more can go (so users go before their producers, in whatever order the
/// ops come), each op once even if listed twice. Returns the ops that stay
/// (still read). All of `ops` must be alive: collect first, erase here once,
/// and no op is destroyed twice or read after it was.
pub fn erase_dead<'c, 'a>(ops: impl IntoIterator<Item = OperationRef<'c, 'a>>) -> Vec<OperationRef<'c, 'a>> {
    let mut seen = std::collections::HashSet::new();
    let mut left: Vec<OperationRef<'c, 'a>> = ops.into_iter().filter(|op| seen.insert(op_id(op))).collect();
    loop {
        let before = left.len();
        left.retain(|op| {
            let dead = results_unused(*op);
            if dead {
                erase(*op);
            }
            !dead
        });
        if left.len() == before {
            return left;
        }
    }
}

/// Emits an error diagnostic at `loc`.
pub fn emit_error(loc: Location<'_>, message: &str) {
    let c = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
    unsafe { mlir_sys::mlirEmitError(loc.to_raw(), c.as_ptr()) }
}

/// The operations of `block`, in order (a snapshot: erasing one of them while
/// walking the vector is fine, since each is visited once).
pub fn block_ops<'c, 'a>(block: BlockRef<'c, 'a>) -> Vec<OperationRef<'c, 'a>> {
    let mut out = Vec::new();
    let mut cur = block.first_operation();
    while let Some(op) = cur {
        cur = op.next_in_block();
        out.push(op);
    }
    out
}

/// An `i64` integer attribute (`v : i64`), the kind every integer attribute
/// of the op table has.
pub fn i64_attr(ctx: &melior::Context, v: i64) -> melior::ir::Attribute<'_> {
    melior::ir::attribute::IntegerAttribute::new(melior::ir::r#type::IntegerType::new(ctx, 64).into(), v).into()
}

/// `(name, attr)` as an `OperationBuilder` attribute entry.
pub fn named<'c>(
    ctx: &'c melior::Context,
    name: &str,
    attr: melior::ir::Attribute<'c>,
) -> (melior::ir::Identifier<'c>, melior::ir::Attribute<'c>) {
    (melior::ir::Identifier::new(ctx, name), attr)
}

/// Sets a discardable attribute on an operation that is already in a block.
pub fn set_attribute(op: OperationRef<'_, '_>, name: &str, attr: melior::ir::Attribute<'_>) {
    unsafe {
        mlir_sys::mlirOperationSetDiscardableAttributeByName(
            op.to_raw(),
            crate::ffi::string_ref(name),
            melior::ir::attribute::AttributeLike::to_raw(&attr),
        )
    }
}

/// The text of a string attribute (`None` if it is not one). Unlike melior's
/// `StringAttribute::value`, this is sound for the empty string (whose data
/// pointer MLIR may leave null).
pub fn string_value(attr: melior::ir::Attribute<'_>) -> Option<String> {
    use melior::ir::attribute::AttributeLike;
    unsafe {
        if !mlir_sys::mlirAttributeIsAString(attr.to_raw()) {
            return None;
        }
        Some(crate::ffi::from_string_ref(mlir_sys::mlirStringAttrGetValue(attr.to_raw())).to_string())
    }
}

/// The value of `op`'s integer attribute `name`, if it has one.
pub fn int_attr(op: &OperationRef<'_, '_>, name: &str) -> Option<i64> {
    op.attribute(name).ok().and_then(|a| melior::ir::attribute::IntegerAttribute::try_from(a).ok()).map(|a| a.value())
}

/// The text of `op`'s string attribute `name`, if it has one.
pub fn string_attr(op: &OperationRef<'_, '_>, name: &str) -> Option<String> {
    op.attribute(name).ok().and_then(string_value)
}

/// The text of the string attribute `name` among the `arg_attrs` of
/// `func`'s argument `i` (`{fx.name = "x"}`), if it has one.
pub fn func_arg_string_attr(func: &OperationRef<'_, '_>, i: usize, name: &str) -> Option<String> {
    use melior::ir::attribute::{ArrayAttribute, DictionaryAttribute};
    let attrs = ArrayAttribute::try_from(func.attribute("arg_attrs").ok()?).ok()?;
    let d = DictionaryAttribute::try_from(attrs.element(i).ok()?).ok()?;
    d.element_by_name(name).and_then(string_value)
}

/// [`func_arg_string_attr`] for a block argument of a function body.
pub fn arg_string_attr(arg: melior::ir::block::BlockArgument<'_, '_>, name: &str) -> Option<String> {
    func_arg_string_attr(&arg.owner().parent_operation()?, arg.argument_number(), name)
}

/// Sets an inherent attribute (property) such as `func.func`'s `function_type`.
pub fn set_inherent_attribute(op: OperationRef<'_, '_>, name: &str, attr: melior::ir::Attribute<'_>) {
    unsafe {
        mlir_sys::mlirOperationSetInherentAttributeByName(
            op.to_raw(),
            crate::ffi::string_ref(name),
            melior::ir::attribute::AttributeLike::to_raw(&attr),
        )
    }
}

/// Replaces all operands of `op` (the count may change).
pub fn set_operands(op: OperationRef<'_, '_>, operands: &[Value<'_, '_>]) {
    let raw: Vec<mlir_sys::MlirValue> = operands.iter().map(|v| v.to_raw()).collect();
    unsafe { mlir_sys::mlirOperationSetOperands(op.to_raw(), raw.len() as isize, raw.as_ptr()) }
}

/// A `&Context` for IR code that only has a `ContextRef` (e.g. a pass given an
/// operation). melior's `ContextRef::to_ref` returns a reference into the
/// `ContextRef` itself, which dangles when taken from a temporary (a known
/// release-mode crash); this handle owns the `ContextRef`, so the reference
/// it lends lives exactly as long as the borrow of the handle.
pub struct ContextHandle<'c>(melior::ContextRef<'c>);

impl<'c> ContextHandle<'c> {
    pub fn of(op: &OperationRef<'c, '_>) -> Self {
        ContextHandle(op.context())
    }

    pub fn get(&self) -> &melior::Context {
        unsafe { self.0.to_ref() }
    }
}

/// Emits a remark diagnostic at `loc` (explanations, e.g. why a rule did not match).
pub fn emit_remark(loc: Location<'_>, message: &str) {
    let c = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
    unsafe { crate::ffi::vllmEmitRemark(loc.to_raw(), c.as_ptr()) }
}

// melior's `TryFrom` conversions build their error by *printing* the value or
// type, and printing a block argument or an op result sets up an AsmState over
// the whole function: a failed `try_from` costs O(ops). These check the kind
// first, so a miss is O(1).

/// The op that defines `v`, or `None` for a block argument.
pub fn producer<'c, 'a>(v: Value<'c, 'a>) -> Option<OperationRef<'c, 'a>> {
    if !v.is_operation_result() {
        return None;
    }
    melior::ir::operation::OperationResult::try_from(v).ok().map(|r| r.owner())
}

/// `v` as a block argument, or `None` for an op result.
pub fn block_argument<'c, 'a>(v: Value<'c, 'a>) -> Option<melior::ir::block::BlockArgument<'c, 'a>> {
    if !v.is_block_argument() {
        return None;
    }
    melior::ir::block::BlockArgument::try_from(v).ok()
}

/// `t` as a ranked tensor type, or `None`.
pub fn ranked_tensor(t: melior::ir::Type<'_>) -> Option<melior::ir::r#type::RankedTensorType<'_>> {
    use melior::ir::TypeLike;
    if !t.is_ranked_tensor() {
        return None;
    }
    melior::ir::r#type::RankedTensorType::try_from(t).ok()
}

/// How MLIR spells `t`, for the builtin scalar types the dialects use, found
/// by type predicates instead of printing (printing a type sets up an
/// AsmPrinter, microseconds each; the verifier asks for every operand).
/// `None` for any other type: callers fall back to printing.
pub fn type_name(t: melior::ir::Type<'_>) -> Option<&'static str> {
    use melior::ir::TypeLike;
    let raw = t.to_raw();
    unsafe {
        Some(if mlir_sys::mlirTypeIsABF16(raw) {
            "bf16"
        } else if mlir_sys::mlirTypeIsAF16(raw) {
            "f16"
        } else if mlir_sys::mlirTypeIsAF32(raw) {
            "f32"
        } else if mlir_sys::mlirTypeIsAF64(raw) {
            "f64"
        } else if mlir_sys::mlirTypeIsAFloat8E4M3FN(raw) {
            "f8E4M3FN"
        } else if mlir_sys::mlirTypeIsAFloat8E4M3FNUZ(raw) {
            "f8E4M3FNUZ"
        } else if mlir_sys::mlirTypeIsAIndex(raw) {
            "index"
        } else if mlir_sys::mlirTypeIsAInteger(raw) && mlir_sys::mlirIntegerTypeIsSignless(raw) {
            match mlir_sys::mlirIntegerTypeGetWidth(raw) {
                1 => "i1",
                8 => "i8",
                16 => "i16",
                32 => "i32",
                64 => "i64",
                _ => return None,
            }
        } else {
            return None;
        })
    }
}

/// `type_name`, or the printed form for other types.
pub fn type_string(t: melior::ir::Type<'_>) -> std::borrow::Cow<'static, str> {
    match type_name(t) {
        Some(n) => std::borrow::Cow::Borrowed(n),
        None => std::borrow::Cow::Owned(t.to_string()),
    }
}

/// The serialized objects (PTX text with `format=isa`) of every `gpu.binary`
/// in `module`, with the binary's symbol name.
pub fn gpu_binary_objects(module: &melior::ir::Module<'_>) -> Vec<(String, String)> {
    use melior::ir::attribute::AttributeLike;
    let mut out = Vec::new();
    for op in block_ops(module.body()) {
        if op.name().as_string_ref().as_str() != Ok("gpu.binary") {
            continue;
        }
        let name = string_attr(&op, "sym_name").unwrap_or_default();
        let Ok(objects) = op.attribute("objects") else { continue };
        let Ok(objects) = melior::ir::attribute::ArrayAttribute::try_from(objects) else { continue };
        for i in 0..objects.len() {
            let Ok(o) = objects.element(i) else { continue };
            unsafe {
                if mlir_sys::mlirAttributeIsAGPUObjectAttr(o.to_raw()) {
                    let s = mlir_sys::mlirGPUObjectAttrGetObject(o.to_raw());
                    let bytes = std::slice::from_raw_parts(s.data as *const u8, s.length);
                    out.push((name.clone(), String::from_utf8_lossy(bytes).into_owned()));
                }
            }
        }
    }
    out
}

/// An identity for `v` while its defining op lives (for maps keyed by value:
/// melior's `Value` is not `Hash`).
pub fn value_id(v: Value<'_, '_>) -> usize {
    v.to_raw().ptr as usize
}

/// An identity for `op` while it lives (an erased op's address may be reused).
pub fn op_id(op: &OperationRef<'_, '_>) -> usize {
    op.to_raw().ptr as usize
}
