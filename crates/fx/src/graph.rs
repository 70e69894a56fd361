//! The FX graph JSON format (../shared/spec/fx-graph-json.md, version 1).
//!
//! [`parse`] reads the text in one pass into typed nodes that borrow it
//! (names, targets and strings are slices of the input unless they hold
//! escapes), then checks every rule a reader must enforce, each failure naming
//! the node. References are resolved to node indices, so that the importer
//! looks nodes up by position, not by name.
use rustc_hash::FxHashMap;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value, value::RawValue};
use std::borrow::Cow;
use std::fmt;

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

/// One argument value, as the spec's "Values" table defines them.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg<'a> {
    Null,
    Bool(bool),
    Num(Number),
    Str(Cow<'a, str>),
    List(Vec<Arg<'a>>),
    /// `{"node": name}`: the node at `index` of the graph (resolved by [`parse`]).
    Node(Cow<'a, str>, usize),
    /// `{tag: text}` for the other tags (`op`, `dtype`, `device`, `float`, ...).
    Tagged(&'static str, Cow<'a, str>),
    /// Any other object. Not of the grammar: [`parse`] rejects it, naming the node.
    Object(Vec<(Cow<'a, str>, Arg<'a>)>),
}

/// A resolved `{"node": name}` reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeRef<'g> {
    pub name: &'g str,
    /// Position of the node in [`Graph::nodes`].
    pub index: usize,
}

const TAGGED: &[&str] = &["node", "op", "dtype", "device", "layout", "memory_format", "sym", "float"];

impl<'a> Arg<'a> {
    pub fn as_ref(&self) -> Option<NodeRef<'_>> {
        match self {
            Arg::Node(name, index) => Some(NodeRef { name, index: *index }),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Arg::Num(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Arg::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Arg<'a>]> {
        match self {
            Arg::List(items) => Some(items),
            _ => None,
        }
    }
    /// The text of `{tag: text}`.
    pub fn tagged(&self, tag: &str) -> Option<&str> {
        match self {
            Arg::Tagged(t, s) if *t == tag => Some(s),
            _ => None,
        }
    }
    /// Calls `f` on every node reference inside this value.
    pub fn for_each_ref<'s>(&'s self, f: &mut impl FnMut(NodeRef<'s>)) {
        match self {
            Arg::List(items) => items.iter().for_each(|x| x.for_each_ref(f)),
            Arg::Node(name, index) => f(NodeRef { name, index: *index }),
            _ => {}
        }
    }
}

/// Object entries (an `Arg::Object`, a node's kwargs) written as a JSON object.
struct Entries<'n, 'a>(&'n [(Cow<'a, str>, Arg<'a>)]);

impl Serialize for Entries<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        self.0.iter().try_for_each(|(k, v)| m.serialize_entry(k, v))?;
        m.end()
    }
}

/// Writes the value back as JSON (the form it was read in).
impl Serialize for Arg<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Arg::Null => s.serialize_unit(),
            Arg::Bool(b) => s.serialize_bool(*b),
            Arg::Num(n) => n.serialize(s),
            Arg::Str(t) => s.serialize_str(t),
            Arg::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|x| seq.serialize_element(x))?;
                seq.end()
            }
            Arg::Node(name, _) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("node", name)?;
                m.end()
            }
            Arg::Tagged(tag, text) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(tag, text)?;
                m.end()
            }
            Arg::Object(entries) => Entries(entries).serialize(s),
        }
    }
}

impl fmt::Display for Arg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

#[derive(Clone, Debug)]
pub struct Node<'a> {
    pub name: Cow<'a, str>,
    pub op: NodeOp,
    pub target: Cow<'a, str>,
    pub args: Vec<Arg<'a>>,
    /// In file order.
    pub kwargs: Vec<(Cow<'a, str>, Arg<'a>)>,
    /// `meta.val`, read as far as the importer needs it.
    pub val: Val,
    /// `meta.val` as compact JSON text (kept verbatim for an exact export);
    /// `None` when absent or null.
    pub val_text: Option<Cow<'a, str>>,
}

impl<'a> Node<'a> {
    pub fn kwarg(&self, name: &str) -> Option<&Arg<'a>> {
        self.kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
    /// Every argument value: the positional ones, then the keyword ones.
    pub fn arg_values(&self) -> impl Iterator<Item = &Arg<'a>> {
        self.args.iter().chain(self.kwargs.iter().map(|(_, v)| v))
    }
    fn arg_values_mut(&mut self) -> impl Iterator<Item = &mut Arg<'a>> {
        self.args.iter_mut().chain(self.kwargs.iter_mut().map(|(_, v)| v))
    }
}

/// The node as FX graph JSON (`meta` holds only `val`).
impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Meta<'n>(Option<&'n str>);
        impl Serialize for Meta<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let raw = self.0.and_then(|t| serde_json::from_str::<&RawValue>(t).ok());
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("val", &raw)?;
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("op", self.op.as_str())?;
        m.serialize_entry("target", &self.target)?;
        m.serialize_entry("args", &self.args)?;
        m.serialize_entry("kwargs", &Entries(&self.kwargs))?;
        m.serialize_entry("meta", &Meta(self.val_text.as_deref()))?;
        m.end()
    }
}

/// What a node's `meta.val` describes. The text itself is kept in
/// [`Node::val_text`]; this is only what types are made of.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// Absent or `null`.
    None,
    /// `{"shape": [...], "dtype": ...}`: `None` dims are symbolic.
    Tensor {
        shape: Vec<Option<u64>>,
        dtype: String,
    },
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

/// A parsed graph; it borrows the text it was parsed from.
#[derive(Clone, Debug)]
pub struct Graph<'a> {
    pub name: String,
    /// In file order.
    pub symbols: Vec<(String, Symbol)>,
    pub nodes: Vec<Node<'a>>,
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

/// Checks that a value follows the grammar of the spec's "Values" table.
fn check_value(v: &Arg, node: &str) -> Result<(), GraphError> {
    match v {
        Arg::Null | Arg::Bool(_) | Arg::Num(_) | Arg::Str(_) | Arg::Node(..) => Ok(()),
        Arg::List(items) => items.iter().try_for_each(|x| check_value(x, node)),
        Arg::Tagged("float", s) if !matches!(&**s, "inf" | "-inf" | "nan") => {
            Err(GraphError::at(node, format!("{v}: \"float\" takes \"inf\", \"-inf\" or \"nan\"")))
        }
        Arg::Tagged(..) => Ok(()),
        Arg::Object(entries) => match entries.as_slice() {
            [(tag, _)] if TAGGED.contains(&&**tag) => Err(GraphError::at(node, format!("value {v}: the '{tag}' tag takes a string"))),
            _ => Err(GraphError::at(node, format!("value {v} is not of the FX graph JSON grammar"))),
        },
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
                Some(x) => x.as_i64().map(Some).ok_or_else(|| GraphError::top(format!("symbol '{name}': '{k}' must be an integer"))),
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
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
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
                while let Some(k) = map.next_key::<Text>()? {
                    match &*k.0 {
                        "shape" => shape = Some(map.next_value::<Shape>()?.0),
                        "dtype" => dtype = Some(map.next_value::<Value>()?),
                        "sym" => {
                            sym = true;
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
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
/// Borrows text that is already compact.
fn compact(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| b.is_ascii_whitespace()) {
        return Cow::Borrowed(raw);
    }
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
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------
// The one-pass reader. Node fields are read leniently: `name`, `op`,
// `target`, `args` and `kwargs` as any `Arg`; `meta`, the node itself and
// the node list through `Lenient`, which consumes a value of the wrong JSON
// kind. The kinds are checked afterwards (`node_from_fields`), so that an
// error names the node instead of aborting the parse at a byte offset.

/// A string borrowed from the input when it holds no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// What a lenient reader expects: an object or an array. A value of any
/// other kind is consumed and handed to [`Expect::other`], so that the caller
/// can report it with the node's name instead of aborting at a byte offset.
trait Expect<'de>: Sized {
    type Out;
    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(self.other(false))
    }
    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.other(false))
    }
    /// A value of another kind (`null`: `is_null`), already consumed.
    fn other(self, is_null: bool) -> Self::Out;
}

struct Lenient<T>(T);

/// `Lenient(x)` as a seed: `next_value_seed(Lenient(Meta))`.
impl<'de, T: Expect<'de>> DeserializeSeed<'de> for Lenient<T> {
    type Value = T::Out;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: Expect<'de>> Visitor<'de> for Lenient<T> {
    type Value = T::Out;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T::Out, A::Error> {
        self.0.object(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T::Out, A::Error> {
        self.0.array(seq)
    }
    fn visit_unit<E: de::Error>(self) -> Result<T::Out, E> {
        Ok(self.0.other(true))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T::Out, E> {
        Ok(self.0.other(false))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T::Out, E> {
        Ok(self.0.other(false))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<T::Out, E> {
        Ok(self.0.other(false))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T::Out, E> {
        Ok(self.0.other(false))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<T::Out, E> {
        Ok(self.0.other(false))
    }
}

impl<'de> Deserialize<'de> for Arg<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Arg<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Arg<'de>, E> {
                Ok(Arg::Null)
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<Arg<'de>, E> {
                Ok(Arg::Bool(b))
            }
            fn visit_i64<E: de::Error>(self, x: i64) -> Result<Arg<'de>, E> {
                Ok(Arg::Num(x.into()))
            }
            fn visit_u64<E: de::Error>(self, x: u64) -> Result<Arg<'de>, E> {
                Ok(Arg::Num(x.into()))
            }
            fn visit_f64<E: de::Error>(self, x: f64) -> Result<Arg<'de>, E> {
                Ok(Number::from_f64(x).map_or(Arg::Null, Arg::Num))
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Arg<'de>, E> {
                Ok(Arg::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Arg<'de>, E> {
                Ok(Arg::Str(Cow::Owned(s.to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Arg<'de>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(x) = seq.next_element()? {
                    items.push(x);
                }
                Ok(Arg::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Arg<'de>, A::Error> {
                let mut entries: Vec<(Cow<'de, str>, Arg<'de>)> = Vec::new();
                while let Some(Text(k)) = map.next_key()? {
                    let v: Arg = map.next_value()?;
                    // A repeated key: the last value wins, in the first one's place.
                    match entries.iter_mut().find(|(e, _)| *e == k) {
                        Some(e) => e.1 = v,
                        None => entries.push((k, v)),
                    }
                }
                // `{tag: "text"}` is a tagged value; anything else stays an object.
                let tag = match entries.as_slice() {
                    [(k, Arg::Str(_))] => TAGGED.iter().find(|t| **t == k).copied(),
                    _ => None,
                };
                Ok(match (tag, tag.and_then(|_| entries.pop())) {
                    (Some("node"), Some((_, Arg::Str(s)))) => Arg::Node(s, usize::MAX),
                    (Some(tag), Some((_, Arg::Str(s)))) => Arg::Tagged(tag, s),
                    _ => Arg::Object(entries),
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl<'a> Arg<'a> {
    /// The entries of a JSON object read as an `Arg` (tagged forms included).
    fn into_object(self) -> Option<Vec<(Cow<'a, str>, Arg<'a>)>> {
        match self {
            Arg::Object(entries) => Some(entries),
            Arg::Node(name, _) => Some(vec![(Cow::Borrowed("node"), Arg::Str(name))]),
            Arg::Tagged(tag, text) => Some(vec![(Cow::Borrowed(tag), Arg::Str(text))]),
            _ => None,
        }
    }
}

/// `meta`: only `val` is read, as text.
struct Meta;

impl<'de> Expect<'de> for Meta {
    type Out = Result<Option<&'de RawValue>, ()>;
    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut val = None;
        while let Some(Text(k)) = map.next_key()? {
            if k == "val" {
                val = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Ok(val))
    }
    fn other(self, is_null: bool) -> Self::Out {
        if is_null { Ok(None) } else { Err(()) }
    }
}

/// Node #`index`, or why it is not one.
struct NodeSeed(usize);

/// A node's fields as read, before they are checked.
#[derive(Default)]
struct Fields<'a> {
    name: Option<Arg<'a>>,
    op: Option<Arg<'a>>,
    target: Option<Arg<'a>>,
    args: Option<Arg<'a>>,
    kwargs: Option<Arg<'a>>,
    meta: Option<Result<Option<&'a RawValue>, ()>>,
    /// The first field given twice.
    repeated: Option<&'static str>,
}

impl<'de> Expect<'de> for NodeSeed {
    type Out = Result<Node<'de>, GraphError>;
    fn object<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Out, A::Error> {
        let mut f = Fields::default();
        while let Some(Text(k)) = map.next_key()? {
            let (slot, key) = match &*k {
                "name" => (&mut f.name, "name"),
                "op" => (&mut f.op, "op"),
                "target" => (&mut f.target, "target"),
                "args" => (&mut f.args, "args"),
                "kwargs" => (&mut f.kwargs, "kwargs"),
                "meta" => {
                    if f.meta.is_some() {
                        f.repeated.get_or_insert("meta");
                    }
                    f.meta = Some(map.next_value_seed(Lenient(Meta))?);
                    continue;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                f.repeated.get_or_insert(key);
            }
            *slot = Some(map.next_value()?);
        }
        Ok(node_from_fields(self.0, f))
    }
    fn other(self, _: bool) -> Self::Out {
        Err(GraphError::top(format!("node #{} is not a JSON object", self.0)))
    }
}

/// A field that is given and not `null`.
fn present(a: Option<Arg>) -> Option<Arg> {
    a.filter(|a| *a != Arg::Null)
}

/// Checks node #`i`'s fields one by one, so that every error names the node.
fn node_from_fields(i: usize, f: Fields) -> Result<Node, GraphError> {
    if let Some(key) = f.repeated {
        return Err(GraphError::top(format!("node #{i}: the field '{key}' is given twice")));
    }
    let name = match f.name {
        Some(Arg::Str(s)) if !s.is_empty() => s,
        _ => return Err(GraphError::top(format!("node #{i} has no 'name' string"))),
    };
    let op = match f.op.as_ref().and_then(Arg::as_str) {
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
    let target = match f.target {
        Some(Arg::Str(t)) => t,
        None if op == NodeOp::Output => Cow::Borrowed("output"),
        _ => return Err(GraphError::at(&name, "has no 'target' string")),
    };
    let args = match present(f.args) {
        None => vec![],
        Some(Arg::List(items)) => items,
        Some(_) => return Err(GraphError::at(&name, "'args' must be an array")),
    };
    let kwargs = match present(f.kwargs).map(Arg::into_object) {
        None => vec![],
        Some(Some(entries)) => entries,
        Some(None) => return Err(GraphError::at(&name, "'kwargs' must be an object")),
    };
    let val_raw = match f.meta {
        None => None,
        Some(m) => m.map_err(|_| GraphError::at(&name, "'meta' must be an object"))?,
    };
    let (val, val_text) = match val_raw.filter(|v| v.get() != "null") {
        None => (Val::None, None),
        Some(v) => {
            let val = serde_json::from_str::<Val>(v.get()).map_err(|e| GraphError::at(&name, format!("meta.val: {e}")))?;
            (val, Some(compact(v.get())))
        }
    };
    Ok(Node { name, op, target, args, kwargs, val, val_text })
}

/// `nodes`: every node, or the first node's error (the rest is still read,
/// so that a later JSON syntax error is reported as such).
struct Nodes;

impl<'de> Expect<'de> for Nodes {
    type Out = Option<Result<Vec<Node<'de>>, GraphError>>;
    fn array<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Out, A::Error> {
        let mut nodes = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(n) = seq.next_element_seed(Lenient(NodeSeed(nodes.len())))? {
            match n {
                Ok(n) => nodes.push(n),
                Err(e) => {
                    while seq.next_element::<IgnoredAny>()?.is_some() {}
                    return Ok(Some(Err(e)));
                }
            }
        }
        Ok(Some(Ok(nodes)))
    }
    fn other(self, _: bool) -> Self::Out {
        None
    }
}

/// The top-level object: the keys this reader interprets, in one pass.
#[derive(Default)]
struct Top<'a> {
    format: Option<Value>,
    version: Option<Value>,
    name: Option<Value>,
    symbols: Option<Value>,
    /// `None` inside: `nodes` is not an array.
    nodes: Option<Option<Result<Vec<Node<'a>>, GraphError>>>,
    extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for Top<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Top<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the top level to be a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
                let mut top = Top::default();
                while let Some(Text(k)) = map.next_key()? {
                    match &*k {
                        "format" => top.format = Some(map.next_value()?),
                        "version" => top.version = Some(map.next_value()?),
                        "name" => top.name = Some(map.next_value()?),
                        "symbols" => top.symbols = Some(map.next_value()?),
                        "nodes" => top.nodes = Some(map.next_value_seed(Lenient(Nodes))?),
                        _ => {
                            top.extra.insert(k.into_owned(), map.next_value()?);
                        }
                    }
                }
                Ok(top)
            }
        }
        d.deserialize_map(V)
    }
}

/// Checks every argument's grammar, that each `{"node": name}` names an
/// earlier node (and records its index), and that names are unique.
fn check_references(nodes: &mut [Node]) -> Result<(), GraphError> {
    // The first node of each name, to tell a forward reference from a dangling one.
    let mut index: FxHashMap<&str, usize> = FxHashMap::default();
    index.reserve(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        index.entry(&n.name).or_insert(i);
    }
    let mut resolved = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let name = &*node.name;
        for v in node.arg_values() {
            check_value(v, name)?;
            let mut bad = None;
            v.for_each_ref(&mut |r| match index.get(r.name) {
                Some(&j) if j < i => resolved.push(j),
                _ => {
                    bad.get_or_insert(r.name);
                }
            });
            if let Some(r) = bad {
                let why = if r == name {
                    "itself"
                } else if index.contains_key(r) {
                    "a node that comes later (a forward reference)"
                } else {
                    "a node that does not exist"
                };
                return Err(GraphError::at(name, format!("refers to '{r}', {why}")));
            }
        }
        if index[name] != i {
            return Err(GraphError::at(name, "duplicate node name"));
        }
    }
    // Same traversal order as above: write the indices into the references.
    fn fill(v: &mut Arg, next: &mut impl Iterator<Item = usize>) {
        match v {
            Arg::List(items) => items.iter_mut().for_each(|x| fill(x, next)),
            Arg::Node(_, index) => *index = next.next().expect("one index per reference"),
            _ => {}
        }
    }
    let mut next = resolved.into_iter();
    for node in nodes.iter_mut() {
        node.arg_values_mut().for_each(|v| fill(v, &mut next));
    }
    Ok(())
}

/// Parses and checks a graph.
pub fn parse(text: &str) -> Result<Graph<'_>, GraphError> {
    let top: Top = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => GraphError::top("the top level must be a JSON object"),
        _ => GraphError { node: None, position: Some((e.line(), e.column())), message: format!("malformed JSON: {e}") },
    })?;
    if top.format.as_ref().and_then(Value::as_str) != Some(FORMAT) {
        return Err(GraphError::top(format!(
            "'format' must be \"{FORMAT}\", found {}",
            top.format.map_or("nothing".to_string(), |v| v.to_string())
        )));
    }
    if top.version.as_ref().and_then(Value::as_i64) != Some(VERSION) {
        return Err(GraphError::top(format!(
            "unsupported FX graph JSON version {} (this reader reads version {VERSION})",
            top.version.map_or("(missing)".to_string(), |v| v.to_string())
        )));
    }
    let name = match top.name {
        Some(Value::String(s)) => s,
        _ => "graph".to_string(),
    };
    let symbols = parse_symbols(top.symbols.as_ref())?;
    let mut nodes = top.nodes.flatten().ok_or_else(|| GraphError::top("'nodes' must be an array"))??;
    check_references(&mut nodes)?;
    match nodes.iter().filter(|n| n.op == NodeOp::Output).count() {
        1 => {}
        0 => return Err(GraphError::top("the graph has no output node")),
        _ => return Err(GraphError::top("the graph has more than one output node")),
    }
    let out = nodes.iter().find(|n| n.op == NodeOp::Output).expect("counted above");
    if out.args.len() != 1 || out.args[0].as_list().is_none() {
        return Err(GraphError::at(&out.name, "the output node takes exactly one argument, the array of returned values"));
    }
    Ok(Graph { name, symbols, nodes, extra: top.extra })
}
