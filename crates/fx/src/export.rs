//! The torch-like dialects -> FX graph JSON.
//!
//! Ops that came from the importer carry their provenance (`fx.args`,
//! `fx.meta`, `fx.buffers`, `fx.getitems`) and export exactly as they were
//! imported; ops that passes created are synthesized from the op table:
//! value-form custom ops become `auto_functionalized` + `getitem` again with
//! `empty` buffers recreated, in-place ops become plain calls, ATen ops take
//! their operands then attributes positionally (keyword-only ones as kwargs).
use crate::import::{AUTO_FUNCTIONALIZED, FX_TARGET, GETITEM, value_op_for};
use crate::types::dtype_name;
use mlir_support::{
    Diag, ir,
    melior::ir::{
        Attribute, AttributeLike, BlockLike, Module, RegionLike, ShapedTypeLike, Type, TypeLike, Value, ValueLike,
        attribute::{
            ArrayAttribute, BoolAttribute, DenseI64ArrayAttribute, DictionaryAttribute, FlatSymbolRefAttribute, FloatAttribute,
            IntegerAttribute, TypeAttribute,
        },
        operation::{OperationLike, OperationRef},
        r#type::DimSize,
    },
};
use serde_json::{Map, Value as Json, json};
use std::collections::{HashMap, HashSet};
use vllm_dialect::{K_DYNAMIC, OpDef, ValueClass};

type R<T> = Result<T, Diag>;

fn loc_name(op: &OperationRef<'_, '_>) -> Option<String> {
    let l = op.location();
    l.is_name().then(|| l.name_value().as_string_ref().as_str().unwrap_or("").to_string()).filter(|s| !s.is_empty())
}

/// The FX name for a plain call made at `loc` (its location's name): ops a
/// pass made for a functionalized call keep that call's location, for
/// diagnostics, but only an `auto_functionalized` node is named so (the
/// in-place call, the sizes and buffers it needs are named by what they are).
fn plain_call_name(loc: Option<String>) -> Option<String> {
    loc.filter(|w| !w.starts_with("auto_functionalized"))
}

fn err(op: &OperationRef<'_, '_>, msg: impl Into<String>) -> Diag {
    let (loc, label) = mlir_support::diagnostics::describe_location(op.location());
    Diag { severity: mlir_support::Severity::Error, loc, loc_label: label, message: msg.into(), notes: vec![] }
}

struct Exporter {
    nodes: Vec<Json>,
    /// Symbols that synthesized metadata used (declared in the output's `symbols`).
    used_symbols: std::cell::RefCell<HashSet<String>>,
    names: HashSet<String>,
    /// The placeholders' names (what an `@input` attribute may name).
    inputs: HashSet<String>,
    refs: HashMap<usize, String>,
    metas: HashMap<usize, Json>,
    device: String,
    default_symbol: String,
}

impl Exporter {
    fn fresh(&mut self, wanted: Option<String>, base: &str) -> String {
        if let Some(w) = wanted
            && self.names.insert(w.clone())
        {
            return w;
        }
        let mut i = 0;
        loop {
            let n = if i == 0 { base.to_string() } else { format!("{base}_{i}") };
            if self.names.insert(n.clone()) {
                return n;
            }
            i += 1;
        }
    }

    fn reference(&self, op: &OperationRef<'_, '_>, v: Value<'_, '_>) -> R<Json> {
        self.refs
            .get(&ir::value_id(v))
            .map(|n| json!({ "node": n }))
            .ok_or_else(|| err(op, "uses a value that has no FX node (a tuple element without getitem?)"))
    }

    /// meta.val for a type, borrowing symbol names from `hint` (an operand's meta).
    fn synth_meta(&self, t: Type<'_>, hint: Option<&Json>) -> Json {
        if t.is_index() {
            self.used_symbols.borrow_mut().insert(self.default_symbol.clone());
            return json!({ "sym": self.default_symbol });
        }
        let Some(tensor) = ir::ranked_tensor(t) else { return Json::Null };
        let hint_shape = hint.and_then(|h| h.get("shape")).and_then(Json::as_array);
        let mut dims = Vec::new();
        for i in 0..tensor.rank() {
            dims.push(match tensor.dim_size(i) {
                Ok(DimSize::Static(d)) => json!(d),
                _ => hint_shape
                    .filter(|h| h.len() == tensor.rank())
                    .and_then(|h| h.get(i))
                    .filter(|d| d.is_string())
                    .cloned()
                    .unwrap_or_else(|| json!(self.default_symbol)),
            });
            if let Some(Json::String(sym)) = dims.last() {
                self.used_symbols.borrow_mut().insert(sym.clone());
            }
        }
        let mut meta = Map::new();
        let dtype = dtype_name(&ir::type_string(tensor.element())).unwrap_or("unknown");
        // Row-major: each stride the product of the later sizes (`2*s77` where a symbol is among them).
        let strides: Option<Vec<Json>> = (0..dims.len())
            .map(|i| {
                let (mut k, mut syms) = (1i64, Vec::new());
                for d in &dims[i + 1..] {
                    match d {
                        Json::String(s) => syms.push(s.as_str()),
                        d => k = k.checked_mul(d.as_i64()?)?,
                    }
                }
                Some(match (k, syms.is_empty()) {
                    (k, true) => json!(k),
                    (1, false) => json!(syms.join("*")),
                    (k, false) => json!(format!("{k}*{}", syms.join("*"))),
                })
            })
            .collect();
        meta.insert("shape".into(), Json::Array(dims));
        meta.insert("dtype".into(), json!(dtype));
        if let Some(s) = strides {
            meta.insert("stride".into(), Json::Array(s));
        }
        meta.insert("device".into(), json!(self.device));
        Json::Object(meta)
    }

    fn meta_of(&self, v: Value<'_, '_>) -> Option<&Json> {
        self.metas.get(&ir::value_id(v))
    }

    fn push(&mut self, name: &str, op: &str, target: &str, args: Vec<Json>, kwargs: Map<String, Json>, val: Json) {
        let mut n = Map::new();
        n.insert("name".into(), json!(name));
        n.insert("op".into(), json!(op));
        n.insert("target".into(), json!(target));
        n.insert("args".into(), Json::Array(args));
        n.insert("kwargs".into(), Json::Object(kwargs));
        n.insert("meta".into(), json!({ "val": val }));
        self.nodes.push(Json::Object(n));
    }

    /// Decodes `fx.args` (operands as `{"operand": i}`, buffers as `{"buffer": b}`).
    fn decode(&self, op: &OperationRef<'_, '_>, v: &Json, operands: &[Value<'_, '_>], buffers: &HashMap<String, String>) -> R<Json> {
        if let Json::Object(m) = v
            && m.len() == 1
        {
            if let Some(i) = m.get("operand").and_then(Json::as_u64) {
                let val = operands.get(i as usize).ok_or_else(|| err(op, "fx.args names a missing operand"))?;
                return self.reference(op, *val);
            }
            if let Some(b) = m.get("buffer").and_then(Json::as_str) {
                let n = buffers.get(b).cloned().unwrap_or_else(|| b.to_string());
                return Ok(json!({ "node": n }));
            }
        }
        match v {
            Json::Array(a) => Ok(Json::Array(a.iter().map(|x| self.decode(op, x, operands, buffers)).collect::<R<_>>()?)),
            // kwargs: decode each value (tagged values such as {"dtype": ..} hold no references)
            Json::Object(m) if m.len() != 1 => {
                Ok(Json::Object(m.iter().map(|(k, x)| Ok((k.clone(), self.decode(op, x, operands, buffers)?))).collect::<R<_>>()?))
            }
            other => Ok(other.clone()),
        }
    }

    /// `fx.args` when it still fits the op's operands.
    fn provenance_args(&self, op: &OperationRef<'_, '_>) -> Option<Json> {
        let text = ir::string_attr(op, "fx.args")?;
        let v: Json = serde_json::from_str(&text).ok()?;
        fn max_operand(v: &Json) -> Option<u64> {
            match v {
                Json::Object(m) => m.get("operand").and_then(Json::as_u64),
                Json::Array(a) => a.iter().filter_map(max_operand).max(),
                _ => None,
            }
        }
        let all: Vec<&Json> = v.get("args")?.as_array()?.iter().chain(v.get("kwargs")?.as_object()?.values()).collect();
        let max = all.iter().filter_map(|x| max_operand(x)).max();
        (max.map_or(0, |m| m + 1) as usize <= op.operand_count()).then_some(v)
    }

    fn attr_json(&self, a: Attribute<'_>, dyns: &mut impl Iterator<Item = Json>) -> Json {
        let float = |x: f64| {
            if x.is_nan() {
                json!({"float": "nan"})
            } else if x.is_infinite() {
                json!({"float": if x > 0.0 { "inf" } else { "-inf" }})
            } else {
                json!(x)
            }
        };
        if let Ok(b) = BoolAttribute::try_from(a) {
            return json!(b.value());
        }
        if let Ok(f) = FloatAttribute::try_from(a) {
            return float(f.value());
        }
        if let Ok(i) = IntegerAttribute::try_from(a) {
            return if i.value() == K_DYNAMIC { dyns.next().unwrap_or(Json::Null) } else { json!(i.value()) };
        }
        if let Some(s) = ir::string_value(a) {
            return json!(s);
        }
        // A string carried by an opaque graph input (vLLM's hoisted `LayerName`).
        if let Ok(r) = FlatSymbolRefAttribute::try_from(a) {
            return json!({ "node": r.value() });
        }
        if let Ok(arr) = DenseI64ArrayAttribute::try_from(a) {
            return Json::Array(
                (0..arr.len())
                    .map(|i| match arr.element(i) {
                        Ok(K_DYNAMIC) => dyns.next().unwrap_or(Json::Null),
                        Ok(x) => json!(x),
                        Err(_) => Json::Null,
                    })
                    .collect(),
            );
        }
        if let Ok(t) = TypeAttribute::try_from(a) {
            return json!({ "dtype": dtype_name(&ir::type_string(t.value())).unwrap_or("unknown") });
        }
        if a.is_unit() {
            return Json::Null;
        }
        if let Ok(list) = ArrayAttribute::try_from(a) {
            return Json::Array((0..list.len()).filter_map(|i| list.element(i).ok()).map(|e| self.attr_json(e, dyns)).collect());
        }
        json!(a.to_string())
    }

    /// An `empty` buffer for a written-only argument, shaped like `t`.
    fn synth_buffer(&mut self, t: Type<'_>, hint: Option<&Json>, base: &str) -> String {
        let meta = self.synth_meta(t, hint);
        let shape = meta.get("shape").cloned().unwrap_or(json!([]));
        let sizes: Vec<Json> = shape
            .as_array()
            .map(|a| a.iter().map(|d| if d.is_string() { self.sym_ref(d) } else { d.clone() }).collect())
            .unwrap_or_default();
        let name = self.fresh(None, base);
        let mut kwargs = Map::new();
        kwargs.insert("dtype".into(), json!({ "dtype": meta.get("dtype").cloned().unwrap_or(json!("float32")) }));
        kwargs.insert("device".into(), json!({ "device": self.device }));
        kwargs.insert("pin_memory".into(), json!(false));
        self.push(&name, "call_function", "torch.ops.aten.empty.memory_format", vec![Json::Array(sizes)], kwargs, meta);
        name
    }

    /// A size argument for symbol `d`: the SymInt input that carries it, if any.
    fn sym_ref(&self, d: &Json) -> Json {
        let s = d.as_str().unwrap_or("");
        for n in &self.nodes {
            if n["op"] == "placeholder" && n["meta"]["val"]["sym"] == s {
                return json!({ "node": n["name"] });
            }
        }
        json!({ "sym": s })
    }

    /// Registers the op's results: one value, or a tuple node read by getitems.
    fn bind_results(&mut self, op: &OperationRef<'_, '_>, name: &str, tuple_meta: Option<&Json>) {
        let results: Vec<Value> = op.results().map(Into::into).collect();
        let Some(Json::Array(elems)) = tuple_meta else {
            if let Some(r) = results.first() {
                self.refs.insert(ir::value_id(*r), name.to_string());
            }
            return;
        };
        let getitems: Vec<String> = op
            .attribute("fx.getitems")
            .ok()
            .and_then(|a| ArrayAttribute::try_from(a).ok())
            .map(|a| (0..a.len()).map(|i| a.element(i).ok().and_then(ir::string_value).unwrap_or_default()).collect())
            .unwrap_or_default();
        // A result the op has but PyTorch returns as None (`returned_if`).
        let opname = op.name().as_string_ref().as_str().unwrap_or("").to_string();
        let none_slot = vllm_dialect::op(&opname).and_then(|d| vllm_dialect::verify::unreturned(op, d));
        let mut results = results.into_iter();
        for (k, m) in elems.iter().enumerate() {
            if m.is_null() {
                if none_slot == Some(k) {
                    results.next();
                }
                continue;
            }
            if let Json::Array(list) = m {
                // A list inside the tuple: a getitem for the list, one per element.
                let items: Vec<Value> = results.by_ref().take(list.len()).collect();
                if items.iter().any(|r| ir::has_uses(*r)) {
                    let l = self.fresh(None, "getitem");
                    self.push(&l, "call_function", GETITEM, vec![json!({ "node": name }), json!(k)], Map::new(), m.clone());
                    for (j, (r, em)) in items.into_iter().zip(list).enumerate() {
                        self.metas.insert(ir::value_id(r), em.clone());
                        if ir::has_uses(r) {
                            let g = self.fresh(None, "getitem");
                            self.push(&g, "call_function", GETITEM, vec![json!({ "node": l }), json!(j)], Map::new(), em.clone());
                            self.refs.insert(ir::value_id(r), g);
                        }
                    }
                }
                continue;
            }
            let Some(r) = results.next() else { break };
            self.metas.insert(ir::value_id(r), m.clone());
            if !ir::has_uses(r) {
                continue;
            }
            let wanted = getitems.get(k).filter(|g| !g.is_empty()).cloned();
            let g = self.fresh(wanted, "getitem");
            self.push(&g, "call_function", GETITEM, vec![json!({ "node": name }), json!(k)], Map::new(), m.clone());
            self.refs.insert(ir::value_id(r), g);
        }
    }

    fn meta_or_synth(&self, op: &OperationRef<'_, '_>) -> Json {
        if let Some(m) = ir::string_attr(op, "fx.meta").and_then(|t| serde_json::from_str(&t).ok()) {
            return m;
        }
        let name = op.name().as_string_ref().as_str().unwrap_or("").to_string();
        if name == "aten.sym_size" {
            // The symbol of `self`'s dimension `dim`.
            let dim = ir::int_attr(op, "dim");
            let shape = op.operand(0).ok().and_then(|v| self.meta_of(v)).and_then(|m| m.get("shape")).and_then(Json::as_array);
            if let (Some(d), Some(shape)) = (dim, shape) {
                let i = if d < 0 { d + shape.len() as i64 } else { d };
                if let Some(Json::String(sym)) = shape.get(i as usize) {
                    self.used_symbols.borrow_mut().insert(sym.clone());
                    return json!({ "sym": sym });
                }
            }
        }
        if name == "aten.permute"
            && let Some(m) = self.permuted_meta(op)
        {
            return m;
        }
        if name == "aten.empty_strided"
            && let Some(m) = self.strided_meta(op)
        {
            return m;
        }
        if name == "torch.operator"
            && let Some(m) = self.sym_arith_meta(op)
        {
            return m;
        }
        let hint = if matches!(name.as_str(), "aten.empty" | "aten.full") {
            // Factory ops: each dynamic size is named by its `dyn` operand's symbol.
            let syms: Vec<Json> = op.operands().filter_map(|o| self.meta_of(o).and_then(|m| m.get("sym")).cloned()).collect();
            let size = op.attribute("size").ok().and_then(|a| DenseI64ArrayAttribute::try_from(a).ok());
            size.map(|size| {
                let mut syms = syms.into_iter();
                let shape: Vec<Json> = (0..size.len())
                    .map(|i| match size.element(i) {
                        Ok(vllm_dialect::K_DYNAMIC) => syms.next().unwrap_or(Json::Null),
                        Ok(d) => json!(d),
                        Err(_) => Json::Null,
                    })
                    .collect();
                json!({ "shape": shape })
            })
        } else {
            op.operands().find_map(|o| self.meta_of(o).filter(|m| m.get("shape").is_some()).cloned())
        };
        let types: Vec<Type> = op.results().map(|r| r.r#type()).collect();
        match types.as_slice() {
            [] => Json::Null,
            [t] if !vllm_dialect::op(&name).is_some_and(nests_results) => self.synth_meta(*t, hint.as_ref()),
            ts => {
                let metas: Vec<Json> = ts.iter().map(|t| self.synth_meta(*t, hint.as_ref())).collect();
                let mut val = match vllm_dialect::op(&name).filter(|d| nests_results(d)) {
                    Some(def) => nest_results(def, metas),
                    None => Json::Array(metas),
                };
                // A result PyTorch returns as None (`return_A=False`) has no value.
                if let Some(def) = vllm_dialect::op(&name).filter(|d| nests_results(d))
                    && let Some(slot) = vllm_dialect::verify::unreturned(op, def).and_then(|i| val.get_mut(i))
                {
                    *slot = Json::Null;
                }
                val
            }
        }
    }

    /// An `aten.empty_strided`'s record: its sizes and strides, each dynamic
    /// entry named by its `dyn` operand's symbol (sizes first, in order).
    fn strided_meta(&self, op: &OperationRef<'_, '_>) -> Option<Json> {
        let mut syms = op.operands().map(|o| self.meta_of(o).and_then(|m| m.get("sym")).cloned());
        let mut entries = |attr: &str| -> Option<Vec<Json>> {
            let a = DenseI64ArrayAttribute::try_from(op.attribute(attr).ok()?).ok()?;
            (0..a.len())
                .map(|i| match a.element(i).ok()? {
                    vllm_dialect::K_DYNAMIC => syms.next().flatten(),
                    d => Some(json!(d)),
                })
                .collect()
        };
        let (shape, stride) = (entries("size")?, entries("stride")?);
        // Symbols, not expressions (`4*((s77 + 3)//4)`), are the graph's.
        let plain = |s: &&str| s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        for s in shape.iter().chain(&stride).filter_map(Json::as_str).filter(plain) {
            self.used_symbols.borrow_mut().insert(s.to_string());
        }
        let t = ir::ranked_tensor(op.result(0).ok()?.r#type())?;
        let dtype = dtype_name(&ir::type_string(t.element())).unwrap_or("unknown");
        Some(json!({ "shape": shape, "dtype": dtype, "stride": stride, "device": self.device }))
    }

    /// The expression of SymInt arithmetic a pass built without recording
    /// it (`operator.add` / `floordiv` / `mul` of a symbolic size by an
    /// integer), in PyTorch's form (`4*((s77 + 3)//4)`).
    fn sym_arith_meta(&self, op: &OperationRef<'_, '_>) -> Option<Json> {
        let target = ir::string_attr(op, "target")?;
        let fx: Json = serde_json::from_str(&ir::string_attr(op, "fx_args")?).ok()?;
        let c = fx["args"].get(1)?.as_i64()?;
        let a = self.meta_of(op.operand(0).ok()?)?.get("sym")?.as_str()?;
        let expr = match target.as_str() {
            "operator.add" => format!("{a} + {c}"),
            "operator.floordiv" => format!("(({a})//{c})"),
            "operator.mul" => format!("{c}*{a}"),
            _ => return None,
        };
        Some(json!({ "sym": expr }))
    }

    /// A permute's record: its operand's, shape and strides permuted (a
    /// column-major buffer fix-functionalization built is `[1, rows]`).
    fn permuted_meta(&self, op: &OperationRef<'_, '_>) -> Option<Json> {
        let mut m = self.meta_of(op.operand(0).ok()?)?.clone();
        let dims = DenseI64ArrayAttribute::try_from(op.attribute("dims").ok()?).ok()?;
        for key in ["shape", "stride"] {
            let Some(old) = m.get(key).and_then(Json::as_array).cloned() else { continue };
            let new: Option<Vec<Json>> = (0..dims.len())
                .map(|i| {
                    let d = dims.element(i).ok()?;
                    old.get(usize::try_from(if d < 0 { d + old.len() as i64 } else { d }).ok()?).cloned()
                })
                .collect();
            m[key] = Json::Array(new?);
        }
        Some(m)
    }

    fn export_op(&mut self, op: OperationRef<'_, '_>) -> R<()> {
        let opname = op.name().as_string_ref().as_str().unwrap_or("").to_string();
        // An attribute naming a graph input (`layer_name = @arg4_1`) must name one.
        for (_, a) in op.attributes() {
            if let Ok(r) = FlatSymbolRefAttribute::try_from(a)
                && !self.inputs.contains(r.value())
            {
                return Err(err(&op, format!("an attribute names the graph input '@{}', which the graph does not have", r.value())));
            }
        }
        let operands: Vec<Value> = op.operands().collect();
        let wanted = loc_name(&op);
        if opname == "torch.operator" {
            let target = ir::string_attr(&op, "target").ok_or_else(|| err(&op, "torch.operator without a target"))?;
            let fx: Json = ir::string_attr(&op, "fx_args")
                .and_then(|t| serde_json::from_str(&t).ok())
                .ok_or_else(|| err(&op, "torch.operator's fx_args is not JSON"))?;
            let args = self.decode(&op, &fx["args"], &operands, &HashMap::new())?;
            let kwargs = self.decode(&op, &fx["kwargs"], &operands, &HashMap::new())?;
            let meta = self.meta_or_synth(&op);
            // A call a pass made is named as PyTorch would: `add` for `operator.add`,
            // `copy_` for `torch.ops.aten.copy_.default`.
            let segments: Vec<&str> = target.split('.').collect();
            let short = if target.starts_with("torch.ops.") { segments.get(3) } else { segments.last() };
            // (An auto_functionalized node of an op no table row models stays one.)
            let wanted = if target.starts_with(AUTO_FUNCTIONALIZED) { wanted } else { plain_call_name(wanted) };
            let name = self.fresh(wanted, short.copied().filter(|s| !s.is_empty()).unwrap_or("operator"));
            self.push(
                &name,
                "call_function",
                &target,
                args.as_array().cloned().unwrap_or_default(),
                kwargs.as_object().cloned().unwrap_or_default(),
                meta.clone(),
            );
            self.bind_results(&op, &name, Some(&meta).filter(|m| m.is_array()));
            if !meta.is_array()
                && let Some(r) = op.results().next()
            {
                self.metas.insert(ir::value_id(r.into()), meta);
            }
            return Ok(());
        }
        let def = vllm_dialect::op(&opname).ok_or_else(|| err(&op, format!("'{opname}' has no FX form")))?;
        // Imported from a functional call (vLLM IR, a functional overload): that call again.
        if let Some(target) =
            ir::string_attr(&op, vllm_dialect::provenance::FUNCTIONAL).filter(|t| def.functional.as_ref().is_some_and(|i| &i.target == t))
        {
            return self.export_call(op, def, &target, &operands, wanted);
        }
        if def.inplace.is_some() && value_op_for(&def.target).is_some_and(|(v, _)| v.name == def.name) {
            return self.export_functionalized(op, def, &operands, wanted);
        }
        if def.is_inplace() {
            return self.export_inplace(op, def, wanted);
        }
        self.export_call(op, def, &def.target, &operands, wanted)
    }

    /// A functional call of `target` (ATen, functional vLLM ops, vLLM IR):
    /// its recorded arguments, or the operands then the attributes.
    fn export_call(
        &mut self,
        op: OperationRef<'_, '_>,
        def: &OpDef,
        target: &str,
        operands: &[Value<'_, '_>],
        wanted: Option<String>,
    ) -> R<()> {
        let form = def.functional.as_ref().filter(|f| f.target == target);
        let (args, kwargs) = match self.provenance_args(&op) {
            Some(fx) => {
                let a = self.decode(&op, &fx["args"], operands, &HashMap::new())?;
                let k = self.decode(&op, &fx["kwargs"], operands, &HashMap::new())?;
                (a.as_array().cloned().unwrap_or_default(), k.as_object().cloned().unwrap_or_default())
            }
            // A functional call a pass made (or rebuilt): its parameters in order.
            None if let Some(form) = form => (self.functional_args(&op, def, form)?, Map::new()),
            None => {
                let (args, mut kwargs) = self.synth_call_args(&op, def, operands)?;
                if matches!(def.name.as_str(), "aten.empty" | "aten.empty_strided" | "aten.full") {
                    // New buffers live where the graph lives (PyTorch's default is the CPU).
                    kwargs.entry("device").or_insert_with(|| json!({ "device": self.device }));
                    kwargs.entry("pin_memory").or_insert(json!(false));
                }
                (args, kwargs)
            }
        };
        let meta = self.meta_or_synth(&op);
        let name = self.fresh(plain_call_name(wanted), def.short_name());
        self.push(&name, "call_function", target, args, kwargs, meta.clone());
        if meta.is_array() {
            self.bind_results(&op, &name, Some(&meta));
        } else if let Some(r) = op.results().next() {
            self.refs.insert(ir::value_id(r.into()), name);
            self.metas.insert(ir::value_id(r.into()), meta);
        }
        Ok(())
    }

    /// The positional arguments of `op`'s functional call (`form`): each
    /// parameter's operand, attribute or fixed value, None for one the op
    /// does not model, trailing Nones left out (their defaults).
    fn functional_args(&self, op: &OperationRef<'_, '_>, def: &OpDef, form: &vllm_dialect::spec::FunctionalForm) -> R<Vec<Json>> {
        let groups = vllm_dialect::verify::named_operands(op).ok_or_else(|| err(op, "operand groups do not match the declaration"))?;
        let mut none = std::iter::empty();
        let mut args = Vec::new();
        for p in &form.params {
            let name = form.bound_name(p);
            let j = if let Some((_, vals)) = groups.iter().find(|(n, _)| *n == name) {
                match vals.first() {
                    Some(v) => self.reference(op, *v)?,
                    None => Json::Null,
                }
            } else if def.attr(name).is_some() {
                let attr = op.attribute(name).map_err(|_| err(op, format!("missing attribute '{name}'")))?;
                self.attr_json(attr, &mut none)
            } else {
                form.fixed.get(p).map_or(Json::Null, vllm_dialect::spec::Literal::json)
            };
            args.push(j);
        }
        while args.last().is_some_and(Json::is_null) {
            args.pop();
        }
        Ok(args)
    }

    /// Positional operands then attributes (keyword-only ones as kwargs).
    fn synth_call_args(&self, op: &OperationRef<'_, '_>, def: &OpDef, operands: &[Value<'_, '_>]) -> R<(Vec<Json>, Map<String, Json>)> {
        let n_tensor = operands.iter().filter(|v| !v.r#type().is_index()).count();
        let mut args = Vec::new();
        // Each declared group's operands (`operandSegmentSizes` splits them where there are several groups).
        let groups = vllm_dialect::verify::named_operands(op).ok_or_else(|| err(op, "operand groups do not match the declaration"))?;
        for (d, (_, vals)) in def.operands.iter().zip(&groups) {
            if d.class == ValueClass::Index {
                continue;
            }
            match d.arity {
                vllm_dialect::Arity::Variadic => {
                    args.push(Json::Array(vals.iter().map(|v| self.reference(op, *v)).collect::<R<_>>()?));
                }
                _ => match vals.first() {
                    Some(v) => args.push(self.reference(op, *v)?),
                    None => args.push(Json::Null),
                },
            }
        }
        let dyn_refs: Vec<Json> = operands[n_tensor..].iter().map(|v| self.reference(op, *v)).collect::<R<_>>()?;
        let mut dyns = dyn_refs.into_iter();
        let mut kwargs = Map::new();
        for (a, attr) in given_attrs(op, def)? {
            let j = self.attr_json(attr, &mut dyns);
            if a.keyword_only {
                kwargs.insert(a.name.clone(), j);
            } else {
                args.push(j);
            }
        }
        Ok((args, kwargs))
    }

    fn export_functionalized(
        &mut self,
        op: OperationRef<'_, '_>,
        def: &OpDef,
        operands: &[Value<'_, '_>],
        wanted: Option<String>,
    ) -> R<()> {
        let (_, twin) = value_op_for(&def.target).ok_or_else(|| err(&op, "no in-place form"))?;
        let results: Vec<Value> = op.results().map(Into::into).collect();
        let binding = vllm_dialect::verify::written_results(&op, def, twin).ok_or_else(|| err(&op, "does not verify"))?;
        let written: Vec<_> = binding.iter().map(|(w, _)| *w).collect();
        // Which written argument each result is the new value of.
        let result_of: HashMap<&str, Value> = binding.iter().filter_map(|(w, r)| r.map(|r| (w.name.as_str(), results[r]))).collect();
        // Buffers: recreated from provenance, or synthesized.
        let recorded: Map<String, Json> =
            ir::string_attr(&op, "fx.buffers").and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        let mut buffers: HashMap<String, String> = HashMap::new();
        for w in written.iter().filter(|w| !def.reads(&w.name)) {
            let Some(r) = result_of.get(w.name.as_str()).copied() else { continue };
            let name = match recorded.get(&w.name) {
                Some(Json::Object(n)) if n.contains_key("target") => {
                    let name = self.fresh(n.get("name").and_then(Json::as_str).map(String::from), "empty");
                    let args = n.get("args").and_then(Json::as_array).cloned().unwrap_or_default();
                    let kwargs = n.get("kwargs").and_then(Json::as_object).cloned().unwrap_or_default();
                    let val = n.get("meta").and_then(|m| m.get("val")).cloned().unwrap_or(Json::Null);
                    self.push(&name, "call_function", n["target"].as_str().unwrap_or(""), args, kwargs, val);
                    name
                }
                Some(Json::Object(n)) if n.get("node").and_then(Json::as_str).is_some_and(|x| self.names.contains(x)) => {
                    n["node"].as_str().unwrap_or_default().to_string()
                }
                _ => {
                    let hint = operands.first().and_then(|o| self.meta_of(*o)).cloned();
                    self.synth_buffer(r.r#type(), hint.as_ref(), "empty")
                }
            };
            buffers.insert(w.name.clone(), name);
        }
        let (args, kwargs) = match self.provenance_args(&op) {
            Some(fx) => {
                let a = self.decode(&op, &fx["args"], operands, &buffers)?;
                let k = self.decode(&op, &fx["kwargs"], operands, &buffers)?;
                (a.as_array().cloned().unwrap_or_default(), k.as_object().cloned().unwrap_or_default())
            }
            None => {
                let mut kwargs = Map::new();
                let groups = vllm_dialect::verify::named_operands(&op).ok_or_else(|| err(&op, "does not verify"))?;
                let by_name: HashMap<&str, Value> = groups.iter().filter_map(|(n, vs)| vs.first().map(|v| (*n, *v))).collect();
                for t in &twin.operands {
                    let j = if let Some(b) = buffers.get(&t.name) {
                        json!({ "node": b })
                    } else if let Some(v) = by_name.get(t.name.as_str()) {
                        self.reference(&op, *v)?
                    } else if twin.omit_if_absent.contains(&t.name) {
                        continue;
                    } else {
                        Json::Null
                    };
                    kwargs.insert(t.name.clone(), j);
                }
                let mut none = std::iter::empty();
                for (a, attr) in given_attrs(&op, def)? {
                    kwargs.insert(a.name.clone(), self.attr_json(attr, &mut none));
                }
                (vec![json!({ "op": def.target })], kwargs)
            }
        };
        let meta = match ir::string_attr(&op, "fx.meta").and_then(|t| serde_json::from_str::<Json>(&t).ok()) {
            Some(m) => m,
            None => {
                let hint = operands.first().and_then(|o| self.meta_of(*o)).cloned();
                let mut elems = vec![Json::Null];
                for w in &written {
                    elems.push(match result_of.get(w.name.as_str()) {
                        Some(r) => self.synth_meta(r.r#type(), hint.as_ref()),
                        None => Json::Null,
                    });
                }
                Json::Array(elems)
            }
        };
        // As it came: auto_functionalized_v2 where the importer recorded it (its args say so too).
        let target = ir::string_attr(&op, FX_TARGET).filter(|_| self.provenance_args(&op).is_some());
        let name = self.fresh(wanted, "auto_functionalized");
        self.push(&name, "call_function", target.as_deref().unwrap_or(AUTO_FUNCTIONALIZED), args, kwargs, meta.clone());
        self.bind_results(&op, &name, Some(&meta));
        Ok(())
    }

    /// A plain in-place call with keyword arguments (vLLM's form after its
    /// FixFunctionalizationPass), or positional ones where the table says so.
    fn export_inplace(&mut self, op: OperationRef<'_, '_>, def: &OpDef, wanted: Option<String>) -> R<()> {
        let mut kwargs = Map::new();
        for (name, values) in vllm_dialect::verify::named_operands(&op).ok_or_else(|| err(&op, "does not verify"))? {
            let j = match values.first() {
                Some(v) => self.reference(&op, *v)?,
                None if def.omit_if_absent.iter().any(|o| o == name) => continue,
                None => Json::Null,
            };
            kwargs.insert(name.to_string(), j);
        }
        let mut none = std::iter::empty();
        for (a, attr) in given_attrs(&op, def)? {
            kwargs.insert(a.name.clone(), self.attr_json(attr, &mut none));
        }
        let args = if def.fx_positional {
            // In the schema's order (an absent optional attribute, last, is left out).
            def.positional().into_iter().filter_map(|n| kwargs.remove(n)).collect()
        } else {
            vec![]
        };
        let name = self.fresh(plain_call_name(wanted), def.short_name().trim_end_matches('_'));
        self.push(&name, "call_function", &def.target, args, kwargs, Json::Null);
        Ok(())
    }
}

/// The op's attributes in declaration order, leaving out an absent optional
/// one (`omit_if_absent`: the schema of the vLLM that lacks it).
fn given_attrs<'c, 'd>(op: &OperationRef<'c, '_>, def: &'d OpDef) -> R<Vec<(&'d vllm_dialect::AttrDef, Attribute<'c>)>> {
    let mut out = Vec::new();
    // Attributes of ours (`internal`) are not vLLM's arguments: its kernel reads them from the buffers.
    for a in def.attrs.iter().filter(|a| !def.is_internal(&a.name)) {
        match op.attribute(&a.name) {
            Ok(attr) => out.push((a, attr)),
            Err(_) if def.optional_attr(&a.name) => {}
            Err(_) => return Err(err(op, format!("missing attribute '{}'", a.name))),
        }
    }
    Ok(out)
}

/// Exports the module's function as an FX graph JSON document.
pub fn export(module: &Module<'_>) -> Result<Json, Diag> {
    let body = module.body();
    let func = body
        .first_operation()
        .filter(|o| o.name().as_string_ref().as_str() == Ok("func.func"))
        .ok_or_else(|| Diag::error("export", "the module must hold one func.func"))?;
    let graph_name = ir::string_attr(&func, "sym_name").unwrap_or_else(|| "graph".into());
    let mop = module.as_operation();
    let symbols: Map<String, Json> = mop
        .attribute("torch.symbols")
        .ok()
        .and_then(|a| DictionaryAttribute::try_from(a).ok())
        .map(|d| {
            (0..d.len())
                .filter_map(|i| d.element(i).ok())
                .map(|(id, v)| {
                    let mut b = Map::new();
                    if let Ok(dd) = DictionaryAttribute::try_from(v) {
                        for k in ["min", "max"] {
                            if let Some(x) = dd.element_by_name(k).and_then(|x| IntegerAttribute::try_from(x).ok()) {
                                b.insert(k.into(), json!(x.value()));
                            }
                        }
                    }
                    (id.as_string_ref().as_str().unwrap_or("").to_string(), Json::Object(b))
                })
                .collect()
        })
        .unwrap_or_default();
    let extra: Map<String, Json> = ir::string_attr(&mop, "fx.graph").and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    let region = func.region(0).map_err(|e| Diag::error("export", e.to_string()))?;
    let block = region.first_block().ok_or_else(|| Diag::error("export", "the function has no body"))?;
    let mut ex = Exporter {
        nodes: Vec::new(),
        used_symbols: Default::default(),
        names: HashSet::new(),
        inputs: HashSet::new(),
        refs: HashMap::new(),
        metas: HashMap::new(),
        device: "cuda:0".into(),
        default_symbol: symbols.keys().next().cloned().unwrap_or_else(|| "s0".into()),
    };
    for i in 0..block.argument_count() {
        let arg: Value = block.argument(i).map_err(|e| Diag::error("export", e.to_string()))?.into();
        let get = |k: &str| ir::func_arg_string_attr(&func, i, k);
        let name = ex.fresh(get("fx.name"), &format!("arg{i}"));
        let meta = get("fx.meta").and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| ex.synth_meta(arg.r#type(), None));
        if let Some(dev) = meta.get("device").and_then(Json::as_str)
            && (i == 0 || ex.device == "cuda:0")
        {
            ex.device = dev.to_string();
        }
        let op = get("fx.op").unwrap_or_else(|| "placeholder".into());
        let target = get("fx.target").unwrap_or_else(|| name.clone());
        ex.push(&name, &op, &target, vec![], Map::new(), meta.clone());
        ex.inputs.insert(name.clone());
        ex.refs.insert(ir::value_id(arg), name);
        ex.metas.insert(ir::value_id(arg), meta);
    }
    for op in ir::block_ops(block) {
        if op.name().as_string_ref().as_str() == Ok("func.return") {
            let outs = op.operands().map(|v| ex.reference(&op, v)).collect::<R<Vec<_>>>()?;
            let name = ex.fresh(ir::string_attr(&func, "fx.output"), "output");
            let mut n = Map::new();
            n.insert("name".into(), json!(name));
            n.insert("op".into(), json!("output"));
            n.insert("target".into(), json!("output"));
            n.insert("args".into(), json!([outs]));
            n.insert("kwargs".into(), json!({}));
            n.insert("meta".into(), json!({ "val": Json::Null }));
            ex.nodes.push(Json::Object(n));
            break;
        }
        ex.export_op(op)?;
    }
    let mut symbols = symbols;
    for s in ex.used_symbols.borrow().iter() {
        if !symbols.contains_key(s) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            symbols.insert(s.clone(), json!({}));
        }
    }
    let mut doc = Map::new();
    doc.insert("format".into(), json!(crate::graph::FORMAT));
    doc.insert("version".into(), json!(crate::graph::VERSION));
    doc.insert("name".into(), json!(graph_name));
    doc.insert("symbols".into(), Json::Object(symbols));
    for (k, v) in extra {
        doc.insert(k, v);
    }
    doc.insert("nodes".into(), Json::Array(ex.nodes));
    Ok(Json::Object(doc))
}

/// The document as text: the header pretty, one node per line.
pub fn to_text(doc: &Json) -> String {
    let mut out = String::from("{\n");
    let Json::Object(m) = doc else { return doc.to_string() };
    let n = m.len();
    for (i, (k, v)) in m.iter().enumerate() {
        let sep = if i + 1 < n { "," } else { "" };
        if k == "nodes" {
            out.push_str(" \"nodes\": [\n");
            let nodes = v.as_array().cloned().unwrap_or_default();
            for (j, node) in nodes.iter().enumerate() {
                out.push_str("  ");
                out.push_str(&node.to_string());
                out.push_str(if j + 1 < nodes.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!(" ]{sep}\n"));
        } else {
            out.push_str(&format!(" {}: {}{sep}\n", Json::String(k.clone()), v));
        }
    }
    out.push_str("}\n");
    out
}

/// True for ops whose results are a tuple with a list inside: a variadic
/// result group next to others (`fused_all_gather_matmul`'s
/// `(Tensor, Tensor[])`). A lone variadic group (`split`) is a flat list.
fn nests_results(def: &OpDef) -> bool {
    def.results.len() > 1 && def.results.iter().any(|r| r.arity == vllm_dialect::Arity::Variadic)
}

/// The flat result metas grouped as the op's FX tuple: one entry per
/// result group, a list for the (single) variadic one.
fn nest_results(def: &OpDef, metas: Vec<Json>) -> Json {
    let fixed = def.results.iter().filter(|r| r.arity != vllm_dialect::Arity::Variadic).count();
    let in_list = metas.len().saturating_sub(fixed);
    let mut it = metas.into_iter();
    Json::Array(
        def.results
            .iter()
            .map(|r| match r.arity {
                vllm_dialect::Arity::Variadic => Json::Array(it.by_ref().take(in_list).collect()),
                _ => it.next().unwrap_or(Json::Null),
            })
            .collect(),
    )
}
