//! The torch-like dialects: `aten` (ATen/prims ops), `vllm` (vLLM's custom ops,
//! value and in-place forms, fused ops, collectives) and `torch` (the opaque
//! `torch.operator`).
//!
//! **Architecture Invariant:** this crate depends only on the binding layer.
//! It knows nothing about FX JSON, passes, CUDA or the command line.
//!
//! The definitions are data: `dialects/ops.toml` (embedded at build time) is
//! the single source for the runtime dialects, the verifier, the op table
//! passes query ([`op`], [`OpDef::is_pure`], [`OpDef::inplace`], ...), and the
//! generated `docs/dialect.md` and `tests/dialect/ops.mlir`.
//!
//! Why not IRDL: IRDL unifies the types of all elements of a variadic group
//! (so `aten.split_with_sizes`, `aten.cat` and `torch.operator` could not be
//! defined), cannot constrain the element type of a builtin tensor, and its
//! failures on custom syntax are silent. A table-driven dynamic dialect with a
//! Rust verifier has none of those limits and gives errors that name the
//! operand and the expected class.
#![deny(unsafe_code)]

pub mod docs;
pub mod provenance;
pub mod spec;
pub mod verify;

use mlir_support::{DynamicDialectDef, melior::Context};
pub use spec::{Arity, AttrDef, AttrKind, Collective, DialectDef, OpDef, OpTable, ValueClass, ValueDef};
use std::sync::OnceLock;

/// MLIR's `ShapedType::kDynamic`: marks a symbolic entry in a size attribute.
pub const K_DYNAMIC: i64 = i64::MIN;

/// The op table source, embedded.
pub const OPS_TOML: &str = include_str!("../../../dialects/ops.toml");

/// The op table. The embedded file is checked by the test suite, so a parse
/// failure here is a build defect; it is reported, not panicked on, by
/// [`try_table`].
pub fn try_table() -> Result<&'static OpTable, &'static str> {
    static TABLE: OnceLock<Result<OpTable, String>> = OnceLock::new();
    TABLE.get_or_init(|| spec::parse(OPS_TOML)).as_ref().map_err(|e| e.as_str())
}

/// The op table (see [`try_table`]); an invalid embedded table yields an empty one.
pub fn table() -> &'static OpTable {
    static EMPTY: OnceLock<OpTable> = OnceLock::new();
    try_table().unwrap_or_else(|_| EMPTY.get_or_init(|| spec::parse("dialect = []\nop = []").unwrap_or_else(|_| unreachable!())))
}

/// The definition of op `name` (`vllm.rms_norm`), if it is one of ours.
pub fn op(name: &str) -> Option<&'static OpDef> {
    table().get(name)
}

/// `def`'s in-place twin (which carries the PyTorch target and the layout
/// flags a call is written with), or `def` itself when it has none.
pub fn inplace_form(def: &'static OpDef) -> &'static OpDef {
    def.inplace.as_deref().and_then(op).unwrap_or(def)
}

/// The dynamic dialect definitions to load into a context.
pub fn dialect_defs() -> Vec<DynamicDialectDef> {
    let t: &'static OpTable = table();
    t.dialects
        .iter()
        .map(|d| DynamicDialectDef {
            name: d.name.as_str(),
            ops: t.ops.iter().filter(|o| o.dialect() == d.name).map(|o| o.short_name()).collect(),
            verifier: verify::verify_op,
        })
        .collect()
}

/// A context with the upstream dialects and the torch-like dialects loaded.
pub fn new_context() -> Result<Context, String> {
    try_table().map_err(|e| format!("invalid op table: {e}"))?;
    Ok(mlir_support::new_context(&dialect_defs()))
}
