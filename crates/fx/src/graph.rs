//! The FX graph JSON format (../shared/spec/fx-graph-json.md, version 1):
//! parsing with a check of every rule a reader must enforce, each failure
//! naming the node.
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, value::RawValue};
use std::collections::HashSet;

pub const FORMAT: &str = "fx-graph";
pub const VERSION: i64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeOp {
    Placeholder,
    GetAttr,
    CallFunction,
    Output,
}

impl NodeOp {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeOp::Placeholder => "placeholder",
            NodeOp::GetAttr => "get_attr",
            NodeOp::CallFunction => "call_function",
            NodeOp::Output => "output",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub op: NodeOp,
    pub target: String,
    pub args: Vec<Value>,
    pub kwargs: Map<String, Value>,
    /// `meta.val`, read as far as the importer needs it.
    pub val: Val,
    /// `meta.val` as compact JSON text (kept verbatim for an exact export);
    /// `None` when absent or null.
    pub val_text: Option<String>,
}

/// What a node's `meta.val` describes. The text itself is kept in
/// [`Node::val_text`]; this is only what types are made of.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// Absent or `null`.
    None,
    /// `{"shape": [...], "dtype": ...}`: `None` dims are symbolic.
    Tensor { shape: Vec<Option<u64>>, dtype: String },
    /// A plain integer or `{"sym": ...}`.
    Int,
    Tuple(Vec<Val>),
    /// Anything else (a float, a string, an unknown object).
    Other,
}

#[derive(Clone, Debug, Default)]
pub struct Symbol {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Graph {
    pub name: String,
    /// In file order.
    pub symbols: Vec<(String, Symbol)>,
    pub nodes: Vec<Node>,
    /// Top-level keys this reader does not interpret (kept for the exporter).
    pub extra: Map<String, Value>,
}

/// A problem with the input, located at a node when there is one.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphError {
    pub node: Option<String>,
    /// A JSON syntax error's position (line, column).
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl GraphError {
    pub fn at(node: &str, message: impl Into<String>) -> Self {
        GraphError { node: Some(node.to_string()), position: None, message: message.into() }
    }
    pub fn top(message: impl Into<String>) -> Self {
        GraphError { node: None, position: None, message: message.into() }
    }
}

/// Calls `f` on every `{"node": name}` reference inside a value.
pub fn for_each_ref<'v>(v: &'v Value, f: &mut impl FnMut(&'v str)) {
    match v {
        Value::Array(items) => items.iter().for_each(|x| for_each_ref(x, f)),
        Value::Object(m) => {
            if let Some(Value::String(n)) = m.get("node").filter(|_| m.len() == 1) {
                f(n);
            }
        }
        _ => {}
    }
}

/// The node a value refers to, if it is exactly `{"node": name}`.
pub fn as_ref(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get("node").and_then(Value::as_str),
        _ => None,
    }
}

const TAGGED: &[&str] = &["node", "op", "dtype", "device", "layout", "memory_format", "sym", "float"];

/// Checks that a value follows the grammar of the spec's "Values" table.
fn check_value(v: &Value, node: &str) -> Result<(), GraphError> {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => Ok(()),
        Value::Array(items) => items.iter().try_for_each(|x| check_value(x, node)),
        Value::Object(m) => {
            let tag = m.keys().next().map(String::as_str).unwrap_or("");
            if m.len() != 1 || !TAGGED.contains(&tag) {
                return Err(GraphError::at(node, format!("value {v} is not of the FX graph JSON grammar")));
            }
            let s = m.values().next().and_then(Value::as_str);
            match (tag, s) {
                ("float", Some("inf" | "-inf" | "nan")) => Ok(()),
                ("float", _) => Err(GraphError::at(node, format!("{v}: \"float\" takes \"inf\", \"-inf\" or \"nan\""))),
                (_, Some(_)) => Ok(()),
                _ => Err(GraphError::at(node, format!("value {v}: the '{tag}' tag takes a string"))),
            }
        }
    }
}

fn parse_symbols(v: Option<&Value>) -> Result<Vec<(String, Symbol)>, GraphError> {
    let Some(v) = v else { return Ok(vec![]) };
    let m = v.as_object().ok_or_else(|| GraphError::top("'symbols' must be an object"))?;
    let mut out = Vec::new();
    for (name, b) in m {
        let b = b.as_object().ok_or_else(|| GraphError::top(format!("symbol '{name}' must be an object")))?;
        let bound = |k: &str| -> Result<Option<i64>, GraphError> {
            match b.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| GraphError::top(format!("symbol '{name}': '{k}' must be an integer"))),
            }
        };
        out.push((name.clone(), Symbol { min: bound("min")?, max: bound("max")? }));
    }
    Ok(out)
}

impl<'de> Deserialize<'de> for Val {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Val;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a meta.val")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Val, E> {
                Ok(Val::None)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Val, E> {
                Ok(Val::Int)
            }
            fn visit_u64<E: de::Error>(self, x: u64) -> Result<Val, E> {
                Ok(if i64::try_from(x).is_ok() { Val::Int } else { Val::Other })
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Val, E> {
                Ok(Val::Other)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Val, E> {
                Ok(Val::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Val, E> {
                Ok(Val::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Val, A::Error> {
                let mut items = Vec::new();
                while let Some(x) = seq.next_element()? {
                    items.push(x);
                }
                Ok(Val::Tuple(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Val, A::Error> {
                let (mut shape, mut dtype, mut sym) = (None, None, false);
                while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*k {
                        "shape" => shape = Some(map.next_value::<Shape>()?.0),
                        "dtype" => dtype = Some(map.next_value::<Value>()?),
                        "sym" => {
                            sym = true;
                            map.next_value::<de::IgnoredAny>()?;
                        }
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(match (shape, dtype) {
                    (Some(shape), Some(Value::String(dtype))) => Val::Tensor { shape, dtype },
                    (Some(_), Some(_)) => return Err(de::Error::custom("a tensor's meta.val needs a 'dtype' string")),
                    _ if sym => Val::Int,
                    _ => Val::Other,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A tensor's `shape`: sizes, or strings for symbolic sizes.
struct Shape(Vec<Option<u64>>);

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Dim(Option<u64>);
        impl<'de> Deserialize<'de> for Dim {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                match Value::deserialize(d)? {
                    Value::Number(n) if n.as_i64().is_some_and(|x| x >= 0) => Ok(Dim(n.as_u64())),
                    Value::String(_) => Ok(Dim(None)),
                    other => Err(de::Error::custom(format!("invalid dimension {other}"))),
                }
            }
        }
        let v: Result<Vec<Dim>, D::Error> = Deserialize::deserialize(d);
        v.map(|dims| Shape(dims.into_iter().map(|d| d.0).collect()))
            .map_err(|e| de::Error::custom(format!("a tensor's meta.val needs a 'shape' array of sizes: {e}")))
    }
}

/// JSON text without the whitespace between tokens (the form serde_json
/// writes), so that provenance reads the same whatever the file's layout.
fn compact(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let (mut in_str, mut escaped) = (false, false);
    for c in raw.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if !c.is_ascii_whitespace() {
            in_str = c == '"';
            out.push(c);
        }
    }
    out
}

/// A node as written, each field still text: checked one by one below so
/// that every error names the node.
#[derive(serde::Deserialize)]
struct RawNode<'a> {
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    op: Option<&'a RawValue>,
    #[serde(borrow)]
    target: Option<&'a RawValue>,
    #[serde(borrow)]
    args: Option<&'a RawValue>,
    #[serde(borrow)]
    kwargs: Option<&'a RawValue>,
    #[serde(borrow)]
    meta: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct RawMeta<'a> {
    #[serde(borrow)]
    val: Option<&'a RawValue>,
}

/// The top-level object, its values still text, in file order.
struct Top<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Top<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Top<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the top level to be a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'a>, A::Error> {
                let mut entries: Vec<(String, &'a RawValue)> = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v: &'de RawValue = map.next_value()?;
                    match entries.iter_mut().find(|(e, _)| *e == k) {
                        Some(e) => e.1 = v,
                        None => entries.push((k, v)),
                    }
                }
                Ok(Top(entries))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

fn field<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    serde_json::from_str(raw.get()).ok()
}

/// A field that is given and not `null`.
fn present(raw: Option<&RawValue>) -> Option<&RawValue> {
    raw.filter(|r| r.get() != "null")
}

/// Parses node #`i` (the index names it in errors until its name is known).
fn parse_node(i: usize, raw: &RawValue) -> Result<Node, GraphError> {
    let r: RawNode = match serde_json::from_str(raw.get()) {
        Ok(r) => r,
        Err(_) if !raw.get().starts_with('{') => return Err(GraphError::top(format!("node #{i} is not a JSON object"))),
        Err(e) => return Err(GraphError::top(format!("node #{i}: {e}"))),
    };
    let name = match r.name.and_then(field::<String>) {
        Some(s) if !s.is_empty() => s,
        _ => return Err(GraphError::top(format!("node #{i} has no 'name' string"))),
    };
    let op_text = r.op.and_then(field::<std::borrow::Cow<str>>);
    let op = match op_text.as_deref() {
        Some("placeholder") => NodeOp::Placeholder,
        Some("get_attr") => NodeOp::GetAttr,
        Some("call_function") => NodeOp::CallFunction,
        Some("output") => NodeOp::Output,
        Some(o @ ("call_module" | "call_method")) => {
            return Err(GraphError::at(&name, format!("'{o}' does not occur in post-grad graphs and is not supported")));
        }
        Some(o) => return Err(GraphError::at(&name, format!("unknown node op '{o}'"))),
        None => return Err(GraphError::at(&name, "has no 'op' string")),
    };
    let target = match r.target.map(field::<String>) {
        Some(Some(t)) => t,
        None if op == NodeOp::Output => "output".to_string(),
        _ => return Err(GraphError::at(&name, "has no 'target' string")),
    };
    let args = match present(r.args) {
        None => vec![],
        Some(a) => field::<Vec<Value>>(a).ok_or_else(|| GraphError::at(&name, "'args' must be an array"))?,
    };
    let kwargs = match present(r.kwargs) {
        None => Map::new(),
        Some(k) => field::<Map<String, Value>>(k).ok_or_else(|| GraphError::at(&name, "'kwargs' must be an object"))?,
    };
    let val_raw = match present(r.meta) {
        None => None,
        Some(m) => field::<RawMeta>(m).ok_or_else(|| GraphError::at(&name, "'meta' must be an object"))?.val,
    };
    let (val, val_text) = match present(val_raw) {
        None => (Val::None, None),
        Some(v) => {
            let val = serde_json::from_str::<Val>(v.get()).map_err(|e| GraphError::at(&name, format!("meta.val: {e}")))?;
            (val, Some(compact(v.get())))
        }
    };
    Ok(Node { name, op, target, args, kwargs, val, val_text })
}

/// Checks every argument's grammar and that each `{"node": name}` names an
/// earlier node, and that names are unique.
fn check_references(nodes: &[Node]) -> Result<(), GraphError> {
    // Every name, to tell a forward reference from a dangling one.
    let all_names: HashSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    let mut earlier: HashSet<&str> = HashSet::with_capacity(nodes.len());
    for node in nodes {
        let name = node.name.as_str();
        for v in node.args.iter().chain(node.kwargs.values()) {
            check_value(v, name)?;
            let mut bad = None;
            for_each_ref(v, &mut |r| {
                if bad.is_none() && !earlier.contains(r) {
                    bad = Some(r.to_string());
                }
            });
            if let Some(r) = bad {
                let why = if r == name {
                    "itself"
                } else if all_names.contains(r.as_str()) {
                    "a node that comes later (a forward reference)"
                } else {
                    "a node that does not exist"
                };
                return Err(GraphError::at(name, format!("refers to '{r}', {why}")));
            }
        }
        if !earlier.insert(name) {
            return Err(GraphError::at(name, "duplicate node name"));
        }
    }
    Ok(())
}

/// Parses and checks a graph.
pub fn parse(text: &str) -> Result<Graph, GraphError> {
    let top: Top = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => GraphError::top("the top level must be a JSON object"),
        _ => GraphError { node: None, position: Some((e.line(), e.column())), message: format!("malformed JSON: {e}") },
    })?;
    let get = |k: &str| top.0.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let format = get("format").and_then(field::<Value>);
    if format.as_ref().and_then(Value::as_str) != Some(FORMAT) {
        return Err(GraphError::top(format!(
            "'format' must be \"{FORMAT}\", found {}",
            format.map_or("nothing".to_string(), |v| v.to_string())
        )));
    }
    let version = get("version").and_then(field::<Value>);
    if version.as_ref().and_then(Value::as_i64) != Some(VERSION) {
        return Err(GraphError::top(format!(
            "unsupported FX graph JSON version {} (this reader reads version {VERSION})",
            version.map_or("(missing)".to_string(), |v| v.to_string())
        )));
    }
    let name = get("name").and_then(field::<String>).unwrap_or_else(|| "graph".to_string());
    let symbols = parse_symbols(get("symbols").and_then(field::<Value>).as_ref())?;
    let raw_nodes: Vec<&RawValue> =
        get("nodes").and_then(field).ok_or_else(|| GraphError::top("'nodes' must be an array"))?;
    let mut extra = Map::new();
    for (k, v) in &top.0 {
        if !["format", "version", "name", "symbols", "nodes"].contains(&k.as_str()) {
            extra.insert(k.clone(), field::<Value>(v).unwrap_or(Value::Null));
        }
    }
    let nodes: Vec<Node> = raw_nodes.iter().enumerate().map(|(i, r)| parse_node(i, r)).collect::<Result<_, _>>()?;
    check_references(&nodes)?;
    match nodes.iter().filter(|n| n.op == NodeOp::Output).count() {
        1 => {}
        0 => return Err(GraphError::top("the graph has no output node")),
        _ => return Err(GraphError::top("the graph has more than one output node")),
    }
    let out = nodes.iter().find(|n| n.op == NodeOp::Output).expect("counted above");
    if out.args.len() != 1 || !out.args[0].is_array() {
        return Err(GraphError::at(&out.name, "the output node takes exactly one argument, the array of returned values"));
    }
    Ok(Graph { name, symbols, nodes, extra })
}
