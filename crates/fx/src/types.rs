//! PyTorch dtypes and shapes <-> MLIR types.
use mlir_support::melior::{
    Context,
    ir::{Type, r#type::RankedTensorType},
};

/// PyTorch dtype name (without `torch.`) -> MLIR element type syntax.
pub const DTYPES: &[(&str, &str)] = &[
    ("float32", "f32"),
    ("float16", "f16"),
    ("bfloat16", "bf16"),
    ("float64", "f64"),
    ("float8_e4m3fn", "f8E4M3FN"),
    ("float8_e4m3fnuz", "f8E4M3FNUZ"),
    ("float8_e5m2", "f8E5M2"),
    ("float8_e5m2fnuz", "f8E5M2FNUZ"),
    ("int8", "i8"),
    ("uint8", "ui8"),
    ("int16", "i16"),
    ("int32", "i32"),
    ("int64", "i64"),
    ("bool", "i1"),
];

/// Built by constructor, not by `Type::parse`: the importer asks for one per
/// tensor, and each parse sets up MLIR's parser.
pub fn element_type<'c>(ctx: &'c Context, dtype: &str) -> Option<Type<'c>> {
    use mlir_support::melior::ir::r#type::IntegerType;
    Some(match dtype {
        "float32" => Type::float32(ctx),
        "float16" => Type::float16(ctx),
        "bfloat16" => Type::bfloat16(ctx),
        "float64" => Type::float64(ctx),
        "float8_e4m3fn" => Type::float8_e4m3fn(ctx),
        "float8_e4m3fnuz" => Type::float8_e4m3fnuz(ctx),
        "float8_e5m2" => Type::float8_e5m2(ctx),
        "float8_e5m2fnuz" => Type::float8_e5m2fnuz(ctx),
        "uint8" => IntegerType::unsigned(ctx, 8).into(),
        other => {
            let (_, mlir) = DTYPES.iter().find(|(t, _)| *t == other)?;
            match mlir.strip_prefix('i').and_then(|b| b.parse().ok()) {
                Some(bits) => IntegerType::new(ctx, bits).into(),
                None => Type::parse(ctx, mlir)?,
            }
        }
    })
}

pub fn dtype_name(mlir: &str) -> Option<&'static str> {
    DTYPES.iter().find(|(_, m)| *m == mlir).map(|(t, _)| *t)
}

/// A tensor type from `meta.val`'s shape and dtype; symbolic dims become `?`.
pub fn tensor_type<'c>(ctx: &'c Context, shape: &[Option<u64>], dtype: &str) -> Result<Type<'c>, String> {
    let elem = element_type(ctx, dtype).ok_or_else(|| format!("unknown dtype '{dtype}'"))?;
    let dims: Vec<u64> = shape.iter().map(|d| d.unwrap_or(i64::MIN as u64)).collect(); // kDynamic
    Ok(RankedTensorType::new(&dims, elem, None).into())
}
