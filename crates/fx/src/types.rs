//! PyTorch dtypes and shapes <-> MLIR types.
use mlir_support::melior::{
    Context,
    ir::{Type, r#type::RankedTensorType},
};
use serde_json::Value;

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

pub fn element_type<'c>(ctx: &'c Context, dtype: &str) -> Option<Type<'c>> {
    let (_, mlir) = DTYPES.iter().find(|(t, _)| *t == dtype)?;
    Type::parse(ctx, mlir)
}

pub fn dtype_name(mlir: &str) -> Option<&'static str> {
    DTYPES.iter().find(|(_, m)| *m == mlir).map(|(t, _)| *t)
}

/// A tensor type from `meta.val` (`{"shape": [...], "dtype": ...}`); symbolic
/// dims (strings) become `?`.
pub fn tensor_type<'c>(ctx: &'c Context, val: &Value) -> Result<Type<'c>, String> {
    let shape = val.get("shape").and_then(Value::as_array).ok_or("a tensor's meta.val needs a 'shape' array")?;
    let dtype = val.get("dtype").and_then(Value::as_str).ok_or("a tensor's meta.val needs a 'dtype' string")?;
    let elem = element_type(ctx, dtype).ok_or_else(|| format!("unknown dtype '{dtype}'"))?;
    let mut dims = Vec::with_capacity(shape.len());
    for d in shape {
        dims.push(match d {
            Value::Number(n) => match n.as_i64() {
                Some(x) if x >= 0 => x as u64,
                _ => return Err(format!("invalid dimension {d}")),
            },
            Value::String(_) => i64::MIN as u64, // kDynamic: a symbolic size
            _ => return Err(format!("invalid dimension {d}")),
        });
    }
    Ok(RankedTensorType::new(&dims, elem, None).into())
}

/// True for a `meta.val` that describes a tensor.
pub fn is_tensor_val(v: &Value) -> bool {
    v.get("shape").is_some() && v.get("dtype").is_some()
}

/// True for a `meta.val` that describes a symbolic or plain integer.
pub fn is_int_val(v: &Value) -> bool {
    v.is_i64() || v.get("sym").is_some()
}
