//! Which kernels a compiled graph needs (`collect`): each op with a kernel
//! in the op table, in every shape context, deduplicated across layers;
//! an op whose shape, constants or written buffers' layout no kernel is
//! built for is counted as not generated (vLLM's own kernel runs it).
use crate::kernel::{BLOCK_STEP, Kernel, kernel_for, kind_of, qk_norm_rope_kernel};
use crate::{GroupScales, Options, QK_ROPE_HEAD_DIMS, QkHeads};
use mlir_support::{
    ir,
    melior::ir::{
        BlockLike, RegionLike, ValueLike,
        operation::{OperationLike, OperationRef},
    },
};
use serde_json::{Value as Json, json};
use std::collections::BTreeMap;
use vllm_dialect::provenance::Layout;

/// The unique kernels `module` needs, in first-use order (layers share them).
/// Adds them to `out` (merging sites with kernels already there, e.g. from
/// another shape context).
pub fn collect(module: &mlir_support::melior::ir::Module<'_>, tokens: Option<u64>, out: &mut Vec<Kernel>) {
    collect_with(module, tokens, &Options::default(), out)
}

/// `collect`, with the variants `options` asks for: the persistent form for
/// many tokens where a kind has one, SiLU's fast-path division.
pub fn collect_with(module: &mlir_support::melior::ir::Module<'_>, tokens: Option<u64>, options: &Options, out: &mut Vec<Kernel>) {
    collect_reporting(module, tokens, options, out, &mut BTreeMap::new());
}

/// `collect_with`, also counting in `left` the ops with a kernel (in the op
/// table) that get none here: vLLM's own kernels run them (attention, the
/// rotary embedding, the GEMMs, NVFP4) or their shape is one no kernel is
/// built for (a symbolic or odd row width, f32 activations), or a buffer
/// they write lies otherwise than the kernel writes (`scale_layout`, `rows_as_written`).
pub(crate) fn collect_reporting(
    module: &mlir_support::melior::ir::Module<'_>,
    tokens: Option<u64>,
    options: &Options,
    out: &mut Vec<Kernel>,
    left: &mut BTreeMap<String, usize>,
) {
    for func in ir::block_ops(module.body()) {
        for region in func.regions() {
            let mut block = region.first_block();
            while let Some(b) = block {
                for op in ir::block_ops(b) {
                    let name = op.name();
                    let Ok(name) = name.as_string_ref().as_str() else { continue };
                    if vllm_dialect::op(name).is_none_or(|d| d.kernel.is_none()) {
                        continue;
                    }
                    match kernels_of(&op, name, tokens, options) {
                        Some((k, then)) => {
                            merge(out, k, tokens);
                            if let Some(then) = then {
                                merge(out, then, tokens);
                            }
                        }
                        None => *left.entry(name.to_string()).or_default() += 1,
                    }
                }
                block = b.next_in_region();
            }
        }
    }
}

/// The kernel of one op in context `tokens` (and the per-tensor dynamic
/// quant's second launch, the static quant); `None` where none is built.
fn kernels_of(op: &OperationRef<'_, '_>, name: &str, tokens: Option<u64>, options: &Options) -> Option<(Kernel, Option<Kernel>)> {
    let many = tokens.is_none_or(|t| t >= BLOCK_STEP);
    let kind = kind_of(name)?;
    let named = vllm_dialect::verify::named_operands(op)?;
    // The kernels write rows, and scales in one layout (`scale_layout`): a
    // buffer laid out otherwise gets none (vLLM's kernel reads its strides).
    if !rows_as_written(op, &named) {
        return None;
    }
    if kind == "vllm.fused_qk_norm_rope" {
        return qk_norm_rope_of(op, &named).map(|k| (k, None));
    }
    let input = named.iter().find(|(n, _)| *n == "input").and_then(|(_, v)| v.first().copied())?;
    let t = ir::ranked_tensor(input.r#type())?;
    use mlir_support::melior::ir::ShapedTypeLike;
    // The row is the last dim; a scalar (rank 0) has none.
    let last = t.rank().checked_sub(1)?;
    let Ok(mlir_support::melior::ir::r#type::DimSize::Static(h)) = t.dim_size(last) else { return None };
    let elem = ir::type_string(t.element()).into_owned();
    // For SiLU-and-mul the kernel is sized by its output width d (input 2d).
    let h = if kind.starts_with("vllm.silu_and_mul") { h / 2 } else { h };
    let given = |n: &str| named.iter().any(|(k, v)| *k == n && !v.is_empty());
    // What it writes: the `result` buffer or first result; else (fused_add_rms_norm) the input's type.
    let out_elem = named
        .iter()
        .find(|(n, _)| matches!(*n, "result" | "out" | "output_q"))
        .and_then(|(_, v)| v.first())
        .and_then(|v| ir::ranked_tensor(v.r#type()))
        // `results()`, not `result(0)`: an in-place op has none, and
        // melior describes a missing result by printing the function.
        .or_else(|| op.results().next().and_then(|r| ir::ranked_tensor(r.r#type())))
        .map_or_else(|| elem.clone(), |t| ir::type_string(t.element()).into_owned());
    // Group constants the kernel does not bake in: none.
    let (group, ue8m0) = group_of(op).ok()?.unzip();
    let scales = match scale_layout(op, &named) {
        None => None,
        Some(layout) => {
            let (transposed, tma) = match layout.ok()? {
                Layout::RowMajor => (false, false),
                Layout::Transposed => (true, false),
                Layout::TmaPadded => (true, true),
                Layout::Other => return None,
            };
            Some(GroupScales { ue8m0: ue8m0.unwrap_or(false), transposed, tma })
        }
    };
    let k = kernel_for(kind, h, &elem, given("residual"), &out_elem, group, given("scale_ub"))?.with_scales(scales.unwrap_or_default())?;
    let k = if options.silu_fast_division { k.clone().with_fast_division().unwrap_or(k) } else { k };
    let k = k.for_tokens(tokens);
    let k = if options.persistent && many { k.clone().persistent().unwrap_or(k) } else { k };
    // The per-tensor dynamic quant is two launches: its scale, then the static quant.
    let then = k.then(tokens);
    Some((k, then))
}

/// How a buffer an in-place op writes lies in memory, from the op that made
/// it: `None` where that is not known here (a graph input, a view: the
/// launcher checks what the manifest asks of those).
fn buffer_layout(v: mlir_support::melior::ir::Value<'_, '_>) -> Option<Layout> {
    use mlir_support::melior::ir::attribute::DenseI64ArrayAttribute;
    use vllm_dialect::provenance::TMA_ALIGNMENT;
    let p = ir::producer(v)?;
    let name = p.name();
    let ints = |a: &str| -> Option<Vec<i64>> {
        let arr = DenseI64ArrayAttribute::try_from(p.attribute(a).ok()?).ok()?;
        (0..arr.len()).map(|i| arr.element(i).ok()).collect()
    };
    let two_d = vllm_dialect::verify::shape_of(v.r#type()).filter(|s| s.len() == 2);
    Some(match name.as_string_ref().as_str().ok()? {
        "aten.empty" | "aten.full" => Layout::RowMajor,
        // PyTorch's clone keeps a dense tensor's strides.
        "aten.clone" => return buffer_layout(p.operand(0).ok()?),
        "aten.permute" if two_d.is_some() && ints("dims").as_deref() == Some(&[1, 0]) => {
            let base = p.operand(0).ok()?;
            if buffer_layout(base) == Some(Layout::RowMajor) { Layout::Transposed } else { Layout::Other }
        }
        // Transposed rows, padded to a multiple of 4 or not; a dynamic padded
        // stride is the graph's `4*((T + 3)//4)` of the dynamic rows T.
        "aten.empty_strided" => match (two_d, ints("stride").as_deref()) {
            (Some(shape), Some(&[1, vllm_dialect::K_DYNAMIC])) => {
                let dyns: Vec<_> = p.operands().collect();
                match (shape[0], dyns.as_slice()) {
                    (None, [rows, stride]) if rounds_up_to(*stride, *rows, TMA_ALIGNMENT) => Layout::TmaPadded,
                    _ => Layout::Other,
                }
            }
            (Some(shape), Some(&[1, s])) => match shape[0] {
                Some(r) if s == r => Layout::Transposed,
                Some(r) if s == (r + TMA_ALIGNMENT - 1) / TMA_ALIGNMENT * TMA_ALIGNMENT => Layout::TmaPadded,
                _ => Layout::Other,
            },
            (Some(shape), Some(&[s, 1])) if shape[1].is_some_and(|c| c == s) => Layout::RowMajor,
            _ => Layout::Other,
        },
        _ => return None,
    })
}

/// Whether `v` is the graph's `k*((rows + k-1)//k)`: SymInt arithmetic
/// (`operator.mul`, `floordiv`, `add` by integers, as Inductor and
/// fix-functionalization write a padded size) on `rows`.
fn rounds_up_to<'c: 'a, 'a>(v: mlir_support::melior::ir::Value<'c, 'a>, rows: mlir_support::melior::ir::Value<'c, 'a>, k: i64) -> bool {
    // The operand of `target(x, c)`, where `v` is that call.
    let step = |v: mlir_support::melior::ir::Value<'c, 'a>, target: &str, c: i64| -> Option<mlir_support::melior::ir::Value<'c, 'a>> {
        let p = ir::producer(v)?;
        let args: Json = serde_json::from_str(&ir::string_attr(&p, "fx_args")?).ok()?;
        let ok = ir::string_attr(&p, "target").as_deref() == Some(target) && args["args"] == json!([{ "operand": 0 }, c]);
        ok.then(|| p.operand(0).ok()).flatten()
    };
    step(v, "operator.mul", k)
        .and_then(|t| step(t, "operator.floordiv", k))
        .and_then(|s| step(s, "operator.add", k - 1))
        .is_some_and(|r| r == rows)
}

/// The layout the op's per-group scales are written in (`None` for an op
/// without such a buffer, `transposed_if` in the table): what its flags
/// name (read on the in-place twin), and where the call lacks a flag (vLLM
/// 0.11's quant has none, vLLM's own fused norm no padding flag: their
/// kernels read the strides), its buffer's. `Err` where the buffer lies
/// otherwise or an in-place call's unflagged buffer is not known here.
fn scale_layout(
    op: &OperationRef<'_, '_>,
    named: &[(&'static str, Vec<mlir_support::melior::ir::Value<'_, '_>>)],
) -> Option<Result<Layout, ()>> {
    let def = vllm_dialect::op(op.name().as_string_ref().as_str().ok()?)?;
    let twin = vllm_dialect::inplace_form(def);
    let (name, _) = twin.transposed_if.first()?;
    // The buffer (in-place form only) and its layout where known.
    let buffer = named.iter().find(|(n, _)| n == name).and_then(|(_, vs)| vs.first().copied());
    let got = buffer.and_then(buffer_layout);
    let paddable = twin.tma_aligned_if.iter().any(|(n, _)| n == name);
    let flags = (vllm_dialect::verify::transposed(op, twin, name), vllm_dialect::verify::tma_aligned(op, twin, name));
    let want = match flags {
        (Some(true), Some(true)) => Layout::TmaPadded,
        // No padding flag where the op may pad: padded where the buffer is, which must be known.
        (Some(true), None) if paddable && buffer.is_some() => {
            return Some(got.filter(|l| matches!(l, Layout::Transposed | Layout::TmaPadded)).ok_or(()));
        }
        (Some(true), _) => Layout::Transposed,
        (Some(false), _) => Layout::RowMajor,
        // No flag at all: the buffer's layout; rows for the value form, which has none.
        (None, _) if buffer.is_none() => Layout::RowMajor,
        (None, _) => return Some(got.filter(|l| *l != Layout::Other).ok_or(())),
    };
    // A one-row or one-column buffer is the same bytes transposed or not.
    let thin = buffer.and_then(|v| vllm_dialect::verify::shape_of(v.r#type())).is_some_and(|s| s.contains(&Some(1)));
    let agrees = got.is_none_or(|g| g == want || thin && want != Layout::TmaPadded && g != Layout::Other);
    Some(if agrees { Ok(want) } else { Err(()) })
}

/// Whether every buffer the in-place op `op` writes besides its per-group
/// scales (`scale_layout`) lies in rows, as its kernel writes it (unknown
/// buffers, graph inputs, pass).
fn rows_as_written(op: &OperationRef<'_, '_>, named: &[(&'static str, Vec<mlir_support::melior::ir::Value<'_, '_>>)]) -> bool {
    let Some(def) = op.name().as_string_ref().as_str().ok().and_then(vllm_dialect::op) else { return false };
    def.operands.iter().filter(|d| d.mutated && !def.transposed_if.iter().any(|(n, _)| n == &d.name)).all(|d| {
        let Some(v) = named.iter().find(|(n, _)| *n == d.name).and_then(|(_, vs)| vs.first().copied()) else { return true };
        // A one-row or one-column buffer is the same bytes either way.
        let thin = vllm_dialect::verify::shape_of(v.r#type()).is_some_and(|s| s.len() < 2 || s.contains(&Some(1)));
        buffer_layout(v).is_none_or(|got| got == Layout::RowMajor || thin && got != Layout::Other)
    })
}

/// Adds `k`, used by one op in context `tokens`, to `out`: a new kernel, or
/// one more site (and context) of the same kernel.
fn merge(out: &mut Vec<Kernel>, k: Kernel, tokens: Option<u64>) {
    match out.iter_mut().find(|x| x.name == k.name) {
        Some(x) => {
            x.sites += 1;
            if !x.contexts.contains(&tokens) {
                x.contexts.push(tokens);
            }
        }
        None => out.push(Kernel { sites: 1, contexts: vec![tokens], ..k }),
    }
}

/// The kernel of a `fused_qk_norm_rope` op (value or in-place form), from
/// its attributes and operand types; `None` where the kernel is not built
/// (a head size other than 64, 128, 256; rows or cache of another type; a
/// partial rotary other than half or a quarter of the head; sizes not static).
fn qk_norm_rope_of(
    op: &mlir_support::melior::ir::operation::OperationRef<'_, '_>,
    named: &[(&'static str, Vec<mlir_support::melior::ir::Value<'_, '_>>)],
) -> Option<Kernel> {
    use mlir_support::melior::ir::{ShapedTypeLike, attribute::BoolAttribute};
    let int = |n: &str| ir::int_attr(op, n).and_then(|v| u64::try_from(v).ok());
    let neox = op.attribute("is_neox").ok().and_then(|a| BoolAttribute::try_from(a).ok())?.value();
    let value = |n: &str| named.iter().find(|(k, _)| *k == n).and_then(|(_, v)| v.first().copied());
    let shape = |n: &str| value(n).and_then(|v| vllm_dialect::verify::shape_of(v.r#type()));
    let elem = |n: &str| value(n).and_then(|v| ir::ranked_tensor(v.r#type())).map(|t| ir::type_string(t.element()).into_owned());
    let cache = match elem("cos_sin_cache")?.as_str() {
        "bf16" => "bf16",
        "f16" => "f16",
        "f32" => "f32",
        _ => return None,
    };
    let (rot, rows) = match shape("cos_sin_cache")?.as_slice() {
        [Some(r), Some(d)] => (*d as u64, *r as u64),
        _ => return None,
    };
    let dim = int("head_dim")?;
    let heads = QkHeads { q: int("num_heads_q")?, k: int("num_heads_k")?, v: int("num_heads_v")?, dim, rot, neox, cache, cache_rows: rows };
    if !QK_ROPE_HEAD_DIMS.contains(&dim) {
        return None;
    }
    qk_norm_rope_kernel(heads, &elem("qkv")?)
}

/// The group size of a per-group op and whether its scales are powers of
/// two (`None` for other ops); `Err` when its constants are not the ones
/// the kernel bakes in (eps 1e-10, ±448).
fn group_of(op: &mlir_support::melior::ir::operation::OperationRef<'_, '_>) -> Result<Option<(u64, bool)>, ()> {
    use mlir_support::melior::ir::attribute::{BoolAttribute, FloatAttribute, IntegerAttribute};
    let Ok(g) = op.attribute("group_size") else { return Ok(None) };
    let g = IntegerAttribute::try_from(g).map_err(|_| ())?.value();
    let float = |n: &str| op.attribute(n).ok().and_then(|a| FloatAttribute::try_from(a).ok()).map(|f| f.value());
    let flag = |n: &str| op.attribute(n).ok().and_then(|a| BoolAttribute::try_from(a).ok()).map(|b| b.value());
    let constants_ok = [("eps", 1e-10), ("fp8_min", -448.0), ("fp8_max", 448.0)].iter().all(|(n, v)| float(n).is_none_or(|x| x == *v));
    if !constants_ok {
        return Err(());
    }
    // Power-of-two scales; their layout is `scale_layout`'s.
    let ue8m0 = flag("scale_ue8m0") == Some(true);
    u64::try_from(g).map(|g| Some((g, ue8m0))).map_err(|_| ())
}
