//! `vllm-specialize-shapes`: compile the graph for one token count.
use mlir_support::{
    ir,
    melior::ir::{
        Attribute, BlockLike, Identifier, RegionLike, ShapedTypeLike, Type, TypeLike, Value, ValueLike,
        attribute::{ArrayAttribute, DenseI64ArrayAttribute, DictionaryAttribute, IntegerAttribute, StringAttribute, TypeAttribute},
        operation::{OperationLike, OperationRef},
        r#type::{FunctionType, RankedTensorType},
    },
    pass::{Pass, PassFailed, PassInfo, PassOption, PassRun, PassStatistic},
};
use serde_json::Value as Json;
use std::collections::HashMap;
use vllm_dialect::{AttrKind, K_DYNAMIC, ValueClass, provenance};

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-specialize-shapes",
    summary: "Specialize a graph to one token count (vLLM's runtime_shape)",
    description: "
vLLM compiles the general graph (symbolic num_tokens) and, for each size in
`compile_sizes`, the same graph with num_tokens fixed. This pass does the
latter: every symbol in `torch.symbols` takes the value `num-tokens`, so

- symbolic dims become static wherever the node's `fx.meta` size expression
  evaluates (`s72` -> 256, `2*s72` -> 512); dims of ops without provenance
  that are `?` become `num-tokens` (the token count is the only dynamic size
  in vLLM's graphs);
- symbolic sizes in attributes fold: a `kDynamic` entry whose `dyn` operand
  is a specialized SymInt input becomes the number, and the operand goes;
- SymInt inputs keep their place in the signature, with their value recorded
  in `fx.meta`, as in a graph PyTorch captured for that size.

An input with a symbolic size in any dim but its leading one (a hidden size
that make_fx traced symbolically) is refused with an error naming it:
setting that symbol to the token count would be wrong.

The result equals what PyTorch captures for that size: the `_n256` fixtures
are the `_dyn` ones specialized to 256, node for node (tested).",
    anchor: Some("builtin.module"),
    options: &[
        PassOption { name: "num-tokens", description: "The token count to specialize to", default: "" },
        PassOption {
            name: "range",
            description: "Instead of one count, a compile range A:B: types stay symbolic, the symbols' bounds become [A, B]",
            default: "",
        },
    ],
    statistics: &[
        PassStatistic { name: "num-static-types", description: "Values whose type became static" },
        PassStatistic { name: "num-folded-sizes", description: "Symbolic sizes folded into attributes" },
    ],
    sources: &[include_str!("specialize_shapes.rs")],
};

#[derive(Debug, Default, Clone, Copy)]
pub struct SpecializeShapesPass;

/// Why `func` cannot be specialized to a token count: an input with a
/// symbolic size in a dim other than the leading one (a hidden size traced
/// symbolically by make_fx), which setting every symbol to the token count
/// would get wrong. vLLM's inputs are symbolic in the token dim only.
fn non_leading_symbol(func: &OperationRef<'_, '_>) -> Option<String> {
    if func.name().as_string_ref().as_str() != Ok("func.func") {
        return None;
    }
    let attrs = func.attribute("arg_attrs").ok().and_then(|a| ArrayAttribute::try_from(a).ok())?;
    for i in 0..attrs.len() {
        let Some(dict) = attrs.element(i).ok().and_then(|a| DictionaryAttribute::try_from(a).ok()) else { continue };
        let Some(meta) = dict.element_by_name(provenance::META).and_then(ir::string_value) else { continue };
        let Some(meta) = serde_json::from_str::<Json>(&meta).ok() else { continue };
        let Some(shape) = meta.get("shape").and_then(Json::as_array) else { continue };
        if let Some((d, size)) = shape.iter().enumerate().skip(1).find(|(_, d)| d.is_string()) {
            let name = dict.element_by_name("fx.name").and_then(ir::string_value).unwrap_or_else(|| format!("#{i}"));
            return Some(format!(
                "input '{name}' has the symbolic size {size} in dim {d}; a runtime shape fixes the token count, \
                 which must be the only symbolic size of the inputs (their leading dim)"
            ));
        }
    }
    None
}

/// The static type for `t`: dims from `meta` where known, else `n` for `?`.
fn specialized_type<'c>(t: Type<'c>, meta: Option<&Json>, n: i64) -> Type<'c> {
    let Some(tensor) = ir::ranked_tensor(t) else { return t };
    let from_meta = meta.and_then(provenance::shape_of).filter(|s| s.len() == tensor.rank());
    let dims: Vec<u64> = (0..tensor.rank())
        .map(|i| match tensor.dim_size(i) {
            Ok(mlir_support::melior::ir::r#type::DimSize::Static(d)) => d,
            _ => match &from_meta {
                Some(s) => s[i].map_or(i64::MIN as u64, |d| d as u64),
                None => n as u64,
            },
        })
        .collect();
    RankedTensorType::new(&dims, tensor.element(), None).into()
}

fn retype(v: Value<'_, '_>, meta: Option<&Json>, n: i64) -> bool {
    let t = v.r#type();
    let s = specialized_type(t, meta, n);
    if s != t {
        v.set_type(s);
        return true;
    }
    false
}

impl Pass for SpecializeShapesPass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&self, module: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        if !run.option("range").is_empty() {
            return set_range(module, run.option("range"));
        }
        let Ok(n) = run.option("num-tokens").parse::<i64>() else {
            ir::emit_error(module.location(), "vllm-specialize-shapes needs num-tokens=<a positive integer>");
            return Err(PassFailed);
        };
        if n <= 0 {
            ir::emit_error(module.location(), "vllm-specialize-shapes: num-tokens must be positive");
            return Err(PassFailed);
        }
        let handle = ir::ContextHandle::of(&module);
        let ctx = handle.get();
        // Every symbol takes the value n.
        let mut env: HashMap<String, i64> = HashMap::new();
        if let Some(d) = module.attribute("torch.symbols").ok().and_then(|a| DictionaryAttribute::try_from(a).ok()) {
            for i in 0..d.len() {
                if let Ok((id, _)) = d.element(i) {
                    env.insert(id.as_string_ref().as_str().unwrap_or("").to_string(), n);
                }
            }
        }
        let body = module.region(0).ok().and_then(|r| r.first_block());
        if let Some(why) = body.map(ir::block_ops).unwrap_or_default().into_iter().find_map(|f| non_leading_symbol(&f)) {
            ir::emit_error(module.location(), &format!("vllm-specialize-shapes: {why}"));
            return Err(PassFailed);
        }
        let (mut retyped, mut folded) = (0u64, 0u64);
        for func in body.map(ir::block_ops).unwrap_or_default() {
            if func.name().as_string_ref().as_str() != Ok("func.func") {
                continue;
            }
            let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { continue };
            // Arguments and their provenance.
            let arg_attrs = func.attribute("arg_attrs").ok().and_then(|a| ArrayAttribute::try_from(a).ok());
            let mut new_arg_attrs: Vec<Attribute> = Vec::new();
            let mut known: HashMap<usize, i64> = HashMap::new(); // SymInt inputs -> value
            let mut symint_names: HashMap<String, i64> = HashMap::new();
            for i in 0..block.argument_count() {
                let Ok(arg) = block.argument(i) else { continue };
                let arg: Value = arg.into();
                let dict = arg_attrs.as_ref().and_then(|a| a.element(i).ok()).and_then(|a| DictionaryAttribute::try_from(a).ok());
                let meta: Option<Json> = dict
                    .as_ref()
                    .and_then(|d| d.element_by_name(provenance::META))
                    .and_then(ir::string_value)
                    .and_then(|t| serde_json::from_str(&t).ok());
                let spec = meta.as_ref().map(|m| provenance::specialize_val(m, &env));
                if arg.r#type().is_index() {
                    let value = spec.as_ref().and_then(Json::as_i64).unwrap_or(n);
                    known.insert(ir::value_id(arg), value);
                    if let Some(name) = dict.as_ref().and_then(|d| d.element_by_name("fx.name")).and_then(ir::string_value) {
                        symint_names.insert(name, value);
                    }
                } else if retype(arg, spec.as_ref(), n) {
                    retyped += 1;
                }
                let mut entries: Vec<(Identifier, Attribute)> = Vec::new();
                if let Some(d) = &dict {
                    for j in 0..d.len() {
                        if let Ok((id, a)) = d.element(j)
                            && id.as_string_ref().as_str() != Ok(provenance::META)
                        {
                            entries.push((id, a));
                        }
                    }
                }
                if let Some(s) = &spec {
                    entries.push(ir::named(ctx, provenance::META, StringAttribute::new(ctx, &s.to_string()).into()));
                }
                new_arg_attrs.push(DictionaryAttribute::new(ctx, &entries).into());
            }
            if arg_attrs.is_some() {
                ir::set_inherent_attribute(func, "arg_attrs", ArrayAttribute::new(ctx, &new_arg_attrs).into());
            }
            let mut results: Vec<Type> = Vec::new();
            for op in ir::block_ops(block) {
                if op.name().as_string_ref().as_str() == Ok("func.return") {
                    results = op.operands().map(|v| v.r#type()).collect();
                    continue;
                }
                // Results, from the node's size expressions.
                let meta: Option<Json> = ir::string_attr(&op, provenance::META).and_then(|t| serde_json::from_str(&t).ok());
                let spec = meta.as_ref().map(|m| provenance::specialize_val(m, &env));
                let metas: Vec<Option<Json>> = match &spec {
                    Some(Json::Array(items)) => items.iter().filter(|x| !x.is_null()).cloned().map(Some).collect(),
                    Some(m) => vec![Some(m.clone())],
                    None => vec![],
                };
                for (k, r) in op.results().enumerate() {
                    if retype(r.into(), metas.get(k).cloned().flatten().as_ref(), n) {
                        retyped += 1;
                    }
                }
                if let Some(s) = &spec {
                    ir::set_attribute(op, provenance::META, StringAttribute::new(ctx, &s.to_string()).into());
                }
                for key in [provenance::ARGS, "fx_args"] {
                    if let Some(a) = ir::string_attr(&op, key).and_then(|t| serde_json::from_str::<Json>(&t).ok()) {
                        let specialized = provenance::substitute_refs(&a, &HashMap::new(), &env);
                        if specialized != a {
                            ir::set_attribute(op, key, StringAttribute::new(ctx, &specialized.to_string()).into());
                        }
                    }
                }
                if let Some(b) = ir::string_attr(&op, provenance::BUFFERS).and_then(|t| serde_json::from_str::<Json>(&t).ok()) {
                    let b = provenance::specialize_buffers(&b, &env, &symint_names);
                    ir::set_attribute(op, provenance::BUFFERS, StringAttribute::new(ctx, &b.to_string()).into());
                }
                folded += fold_sizes(ctx, op, &known);
            }
            let args: Vec<Type> = (0..block.argument_count()).filter_map(|i| block.argument(i).ok()).map(|a| a.r#type()).collect();
            let fty = FunctionType::new(ctx, &args, &results);
            ir::set_inherent_attribute(func, "function_type", TypeAttribute::new(fty.into()).into());
        }
        ir::set_attribute(module, "torch.symbols", DictionaryAttribute::new(ctx, &[]).into());
        ir::set_attribute(module, "torch.runtime_shape", ir::i64_attr(ctx, n));
        run.bump("num-static-types", retyped);
        run.bump("num-folded-sizes", folded);
        Ok(())
    }
}

/// A compile range: the symbols' bounds narrow to [start, end]; types stay.
fn set_range(module: OperationRef<'_, '_>, text: &str) -> Result<(), PassFailed> {
    let bounds = text.split_once(':').and_then(|(a, b)| Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?)));
    let Some((start, end)) = bounds.filter(|(a, b)| *a >= 1 && a <= b) else {
        ir::emit_error(module.location(), &format!("vllm-specialize-shapes: range '{text}' must be A:B with 1 <= A <= B"));
        return Err(PassFailed);
    };
    let handle = ir::ContextHandle::of(&module);
    let ctx = handle.get();
    let mut symbols: Vec<(Identifier, Attribute)> = Vec::new();
    if let Some(d) = module.attribute("torch.symbols").ok().and_then(|a| DictionaryAttribute::try_from(a).ok()) {
        for i in 0..d.len() {
            if let Ok((id, _)) = d.element(i) {
                let b: Vec<(Identifier, Attribute)> =
                    vec![ir::named(ctx, "max", ir::i64_attr(ctx, end)), ir::named(ctx, "min", ir::i64_attr(ctx, start))];
                symbols.push((id, DictionaryAttribute::new(ctx, &b).into()));
            }
        }
    }
    ir::set_attribute(module, "torch.symbols", DictionaryAttribute::new(ctx, &symbols).into());
    ir::set_attribute(module, "torch.compile_range", DenseI64ArrayAttribute::new(ctx, &[start, end]).into());
    Ok(())
}

/// Folds the known SymInt operands of `op` into its size attributes.
fn fold_sizes(ctx: &mlir_support::melior::Context, op: OperationRef<'_, '_>, known: &HashMap<usize, i64>) -> u64 {
    let name = op.name();
    let Some(def) = name.as_string_ref().as_str().ok().and_then(vllm_dialect::op) else { return 0 };
    if !def.operands.iter().any(|o| o.name == "dyn" && o.class == ValueClass::Index) {
        return 0;
    }
    let operands: Vec<Value> = op.operands().collect();
    let first_dyn = operands.iter().position(|v| v.r#type().is_index()).unwrap_or(operands.len());
    let mut keep: Vec<Value> = operands[..first_dyn].to_vec();
    let mut dyn_iter = operands[first_dyn..].iter().enumerate();
    let mut fx_args: Option<Json> = ir::string_attr(&op, provenance::ARGS).and_then(|t| serde_json::from_str(&t).ok());
    let mut removed = 0usize;
    let mut folded = 0u64;
    let mut take = |entry: i64| -> i64 {
        if entry != K_DYNAMIC {
            return entry;
        }
        let Some((j, v)) = dyn_iter.next() else { return entry };
        match known.get(&ir::value_id(*v)) {
            Some(&value) => {
                if let Some(a) = &fx_args {
                    fx_args = Some(provenance::fold_operand(a, first_dyn + j - removed, &Json::from(value)));
                }
                removed += 1;
                folded += 1;
                value
            }
            None => {
                keep.push(*v);
                entry
            }
        }
    };
    let mut new_attrs: Vec<(&str, Attribute)> = Vec::new();
    for a in &def.attrs {
        let Ok(attr) = op.attribute(&a.name) else { continue };
        match a.kind {
            AttrKind::I64 => {
                if let Ok(i) = IntegerAttribute::try_from(attr) {
                    let v = take(i.value());
                    new_attrs.push((&a.name, ir::i64_attr(ctx, v)));
                }
            }
            AttrKind::I64Array => {
                if let Ok(arr) = DenseI64ArrayAttribute::try_from(attr) {
                    let xs: Vec<i64> = (0..arr.len()).map(|i| take(arr.element(i).unwrap_or(0))).collect();
                    new_attrs.push((&a.name, DenseI64ArrayAttribute::new(ctx, &xs).into()));
                }
            }
            _ => {}
        }
    }
    if folded == 0 {
        return 0;
    }
    for (name, attr) in new_attrs {
        ir::set_attribute(op, name, attr);
    }
    ir::set_operands(op, &keep);
    if let Some(a) = fx_args {
        ir::set_attribute(op, provenance::ARGS, StringAttribute::new(ctx, &a.to_string()).into());
    }
    folded
}
