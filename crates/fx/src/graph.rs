//! The FX graph JSON format (../shared/spec/fx-graph-json.md, version 1):
//! parsing with a check of every rule a reader must enforce, each failure
//! naming the node.
use serde_json::{Map, Value};
use std::collections::HashMap;

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
    /// `meta.val`; `Value::Null` when absent.
    pub val: Value,
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

/// Parses and checks a graph.
pub fn parse(text: &str) -> Result<Graph, GraphError> {
    let root: Value = serde_json::from_str(text).map_err(|e| GraphError {
        node: None,
        position: Some((e.line(), e.column())),
        message: format!("malformed JSON: {e}"),
    })?;
    let Value::Object(mut root) = root else {
        return Err(GraphError::top("the top level must be a JSON object"));
    };
    match root.get("format") {
        Some(Value::String(f)) if f == FORMAT => {}
        other => {
            return Err(GraphError::top(format!(
                "'format' must be \"{FORMAT}\", found {}",
                other.map_or("nothing".to_string(), |v| v.to_string())
            )));
        }
    }
    match root.get("version") {
        Some(v) if v.as_i64() == Some(VERSION) => {}
        other => {
            return Err(GraphError::top(format!(
                "unsupported FX graph JSON version {} (this reader reads version {VERSION})",
                other.map_or("(missing)".to_string(), |v| v.to_string())
            )));
        }
    }
    let name = root.get("name").and_then(Value::as_str).unwrap_or("graph").to_string();
    let symbols = parse_symbols(root.get("symbols"))?;
    let Some(Value::Array(raw_nodes)) = root.remove("nodes") else {
        return Err(GraphError::top("'nodes' must be an array"));
    };
    let mut extra = Map::new();
    for (k, v) in root {
        if !["format", "version", "name", "symbols"].contains(&k.as_str()) {
            extra.insert(k, v);
        }
    }
    // Every name, to tell a forward reference from a dangling one.
    let all_names: std::collections::HashSet<String> =
        raw_nodes.iter().filter_map(|n| n.get("name").and_then(Value::as_str)).map(String::from).collect();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut nodes = Vec::with_capacity(raw_nodes.len());
    for (i, raw) in raw_nodes.into_iter().enumerate() {
        let Value::Object(mut m) = raw else {
            return Err(GraphError::top(format!("node #{i} is not a JSON object")));
        };
        let name = match m.remove("name") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => return Err(GraphError::top(format!("node #{i} has no 'name' string"))),
        };
        let op = match m.get("op").and_then(Value::as_str) {
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
        let target = match m.get("target") {
            Some(Value::String(t)) => t.clone(),
            None if op == NodeOp::Output => "output".to_string(),
            _ => return Err(GraphError::at(&name, "has no 'target' string")),
        };
        let args = match m.remove("args") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a,
            Some(_) => return Err(GraphError::at(&name, "'args' must be an array")),
        };
        let kwargs = match m.remove("kwargs") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(k)) => k,
            Some(_) => return Err(GraphError::at(&name, "'kwargs' must be an object")),
        };
        let val = match m.remove("meta") {
            Some(Value::Object(mut meta)) => meta.remove("val").unwrap_or(Value::Null),
            None | Some(Value::Null) => Value::Null,
            Some(_) => return Err(GraphError::at(&name, "'meta' must be an object")),
        };
        for v in args.iter().chain(kwargs.values()) {
            check_value(v, &name)?;
            let mut bad = None;
            for_each_ref(v, &mut |r| {
                if bad.is_none() && !index.contains_key(r) {
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
                return Err(GraphError::at(&name, format!("refers to '{r}', {why}")));
            }
        }
        if index.insert(name.clone(), i).is_some() {
            return Err(GraphError::at(&name, "duplicate node name"));
        }
        nodes.push(Node { name, op, target, args, kwargs, val });
    }
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
