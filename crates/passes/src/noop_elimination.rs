//! `vllm-noop-elimination`: remove reshapes, slices and slice_scatters that
//! provably do nothing.
use mlir_support::{
    ir,
    melior::ir::{
        RegionLike, ShapedTypeLike, Value, ValueLike,
        attribute::DenseI64ArrayAttribute,
        operation::{OperationLike, OperationRef},
        r#type::DimSize,
    },
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};
use vllm_dialect::{K_DYNAMIC, provenance};

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-noop-elimination",
    summary: "Remove reshapes, slices and slice_scatters that provably do nothing",
    description: "
vLLM's NoOpEliminationPass (needed so that RMSNorm and the quant become
adjacent: `Fp8LinearOp` reshapes to 2-D even when the input already is).

- `reshape`/`view` to the same shape: `reshape(x:[s0,4096], [-1,4096])` is a
  no-op (the `-1` dim is forced by the element count), and so is a symbolic
  size whose SymInt input is the same symbol as the input's dim;
- `slice` of the full extent (`start 0`, `step 1`, `end` at or past the size,
  or the size's own symbol);
- `slice_scatter` that overwrites everything (its source has the shape of its
  destination): the result is the source.

Whatever it cannot prove, it keeps: `x[0:-1]` (vLLM bug #17078) stays, and so
does a slice of a symbolic dim to a different symbol.",
    anchor: Some("func.func"),
    options: &[],
    statistics: &[
        PassStatistic { name: "reshape", description: "No-op reshapes/views removed" },
        PassStatistic { name: "slice", description: "Full-extent slices removed" },
        PassStatistic { name: "slice_scatter", description: "Full-overwrite slice_scatters removed" },
    ],
    sources: &[include_str!("noop_elimination.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct NoopEliminationPass;

/// What we know about one dim of a tensor value: a size, or a symbol name.
#[derive(Clone, Debug, PartialEq)]
enum Dim {
    Static(i64),
    Symbol(String),
    Unknown,
}

fn dims(v: Value<'_, '_>) -> Option<Vec<Dim>> {
    let t = ir::ranked_tensor(v.r#type())?;
    let meta = provenance::value_meta_as::<provenance::ShapeSymbols>(v).map(|m| m.shape).filter(|s| s.len() == t.rank());
    Some(
        (0..t.rank())
            .map(|i| match t.dim_size(i) {
                Ok(DimSize::Static(d)) => Dim::Static(d as i64),
                _ => match meta.as_ref().and_then(|m| m[i].0.as_deref()) {
                    Some(s) => Dim::Symbol(s.to_string()),
                    None => Dim::Unknown,
                },
            })
            .collect(),
    )
}

/// The symbol an `index` value stands for (a SymInt input's `{"sym": ...}`).
fn symbol_of(v: Value<'_, '_>) -> Option<String> {
    provenance::value_meta_as::<provenance::SymName>(v).map(|s| s.sym)
}

/// The dims a size list denotes: numbers, `-1` (inferred) or symbols (from `dyn`).
fn size_entries(entries: &[i64], dyns: &mut impl Iterator<Item = Option<String>>) -> Vec<Dim> {
    entries
        .iter()
        .map(|&e| match e {
            K_DYNAMIC => dyns.next().flatten().map_or(Dim::Unknown, Dim::Symbol),
            -1 => Dim::Unknown,
            n => Dim::Static(n),
        })
        .collect()
}

fn reshape_is_noop(op: &OperationRef<'_, '_>) -> bool {
    let (Ok(x), Ok(r)) = (op.operand(0), op.result(0)) else { return false };
    if x.r#type() != r.r#type() {
        return false;
    }
    let Some(input) = dims(x) else { return false };
    let Some(shape) = op.attribute("shape").ok().and_then(|a| DenseI64ArrayAttribute::try_from(a).ok()) else { return false };
    let entries: Vec<i64> = (0..shape.len()).filter_map(|i| shape.element(i).ok()).collect();
    if entries.len() != input.len() {
        return false;
    }
    let mut dyns = op.operands().skip(1).map(symbol_of);
    let target = size_entries(&entries, &mut dyns);
    // Each dim equal, except at most one `-1`, which the element count then fixes.
    let mut inferred = 0;
    for (i, (want, have)) in target.iter().zip(&input).enumerate() {
        if entries[i] == -1 {
            inferred += 1;
            continue;
        }
        let same = match (want, have) {
            (Dim::Static(a), Dim::Static(b)) => a == b,
            (Dim::Symbol(a), Dim::Symbol(b)) => a == b,
            _ => false,
        };
        if !same {
            return false;
        }
    }
    inferred <= 1
}

/// start, end, step, dim of a slice (None when symbolic or missing).
fn slice_params(op: &OperationRef<'_, '_>) -> Option<(i64, i64, i64, i64)> {
    let get = |n: &str| ir::int_attr(op, n);
    Some((get("start")?, get("end")?, get("step")?, get("dim")?))
}

/// Whether `[start:end:step]` along `dim` covers the whole of `x`.
fn covers(op: &OperationRef<'_, '_>, x: Value<'_, '_>, first_dyn: usize) -> bool {
    let Some((start, end, step, dim)) = slice_params(op) else { return false };
    let Some(d) = dims(x) else { return false };
    let rank = d.len() as i64;
    let dim = if dim < 0 { dim + rank } else { dim };
    let Some(size) = usize::try_from(dim).ok().and_then(|i| d.get(i)) else { return false };
    if start != 0 || step != 1 {
        return false;
    }
    match (end, size) {
        (i64::MAX, _) => true,
        (K_DYNAMIC, Dim::Symbol(s)) => op.operand(first_dyn).ok().and_then(symbol_of).as_deref() == Some(s.as_str()),
        (e, Dim::Static(n)) if e > 0 => e >= *n,
        _ => false, // negative ends (x[0:-1]) and unprovable extents stay
    }
}

impl Pass for NoopEliminationPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&self, func: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return Ok(()) };
        let (mut reshapes, mut slices, mut scatters) = (0u64, 0u64, 0u64);
        for op in ir::block_ops(block) {
            let name = op.name();
            let name = name.as_string_ref().as_str().unwrap_or("");
            let replacement = match name {
                "aten.reshape" | "aten.view" if reshape_is_noop(&op) => {
                    reshapes += 1;
                    op.operand(0).ok()
                }
                "aten.slice" => {
                    let (Ok(x), Ok(r)) = (op.operand(0), op.result(0)) else { continue };
                    if x.r#type() == r.r#type() && covers(&op, x, 1) {
                        slices += 1;
                        Some(x)
                    } else {
                        None
                    }
                }
                "aten.slice_scatter" => {
                    let (Ok(x), Ok(src)) = (op.operand(0), op.operand(1)) else { continue };
                    // Types first: cheap, and they rule out almost every scatter.
                    let same = x.r#type() == src.r#type() && {
                        let d = dims(x);
                        d.is_some() && d == dims(src) && !d.is_some_and(|d| d.contains(&Dim::Unknown))
                    };
                    if same && covers(&op, x, 2) {
                        scatters += 1;
                        Some(src)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            // Only now ask for the result: melior prints the op (verifying the
            // whole function first) to describe an out-of-range index.
            if let Some(v) = replacement
                && let Ok(r) = op.result(0)
            {
                ir::replace_all_uses(r.into(), v);
                ir::erase(op);
            }
        }
        run.bump("reshape", reshapes);
        run.bump("slice", slices);
        run.bump("slice_scatter", scatters);
        Ok(())
    }
}
