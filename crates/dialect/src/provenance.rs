//! The `fx.*` provenance attributes: the contract between the FX importer,
//! passes that change shapes, and the exporter (docs/fx-import.md).
//!
//! - `fx.meta`: the node's `meta.val` as JSON text;
//! - `fx.args`: its `{"args", "kwargs"}` with operands as `{"operand": i}`;
//! - `fx.buffers`, `fx.getitems`: dropped output buffers and getitem names.
//!
//! This module holds the JSON-level edits a pass may need so that the
//! provenance stays true after the pass: specializing symbolic sizes, and
//! folding an operand into a literal.
use mlir_support::{
    ir,
    melior::ir::{Value, operation::OperationResult},
};
use serde_json::{Value as Json, json};
use std::collections::HashMap;

pub const META: &str = "fx.meta";
pub const ARGS: &str = "fx.args";
/// The functional op (vLLM IR's `torch.ops.vllm_ir.*`, a functional overload)
/// a value-form op was imported from: it stays functional (fix-functionalization
/// leaves it; vLLM's own lowering picks its kernel) and is exported back as
/// that call.
pub const FUNCTIONAL: &str = "fx.functional";

/// Evaluates a size expression over symbols (`s0`, `2*s0`, `s0 + 1`,
/// `(s0//2)`); `None` when it names an unknown symbol or is malformed.
pub fn eval_dim(expr: &str, env: &HashMap<String, i64>) -> Option<i64> {
    let tokens = tokenize(expr)?;
    let mut p = Parser { t: &tokens, i: 0, env };
    let v = p.sum()?;
    (p.i == tokens.len()).then_some(v)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Sym(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let st = i;
            while i < b.len() && (b[i] as char).is_ascii_digit() {
                i += 1;
            }
            out.push(Tok::Num(s[st..i].parse().ok()?));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let st = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Sym(s[st..i].to_string()));
        } else if s[i..].starts_with("//") {
            out.push(Tok::Op("//"));
            i += 2;
        } else {
            out.push(Tok::Op(match c {
                '+' => "+",
                '-' => "-",
                '*' => "*",
                '(' => "(",
                ')' => ")",
                _ => return None,
            }));
            i += 1;
        }
    }
    Some(out)
}

struct Parser<'a> {
    t: &'a [Tok],
    i: usize,
    env: &'a HashMap<String, i64>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn sum(&mut self) -> Option<i64> {
        let mut v = self.product()?;
        while let Some(Tok::Op(op @ ("+" | "-"))) = self.peek().cloned() {
            self.i += 1;
            let r = self.product()?;
            v = if op == "+" { v.checked_add(r)? } else { v.checked_sub(r)? };
        }
        Some(v)
    }
    fn product(&mut self) -> Option<i64> {
        let mut v = self.atom()?;
        while let Some(Tok::Op(op @ ("*" | "//"))) = self.peek().cloned() {
            self.i += 1;
            let r = self.atom()?;
            v = if op == "*" { v.checked_mul(r)? } else { v.checked_div_euclid(r)? };
        }
        Some(v)
    }
    fn atom(&mut self) -> Option<i64> {
        let t = self.peek()?.clone();
        self.i += 1;
        match t {
            Tok::Num(n) => Some(n),
            Tok::Sym(s) => self.env.get(&s).copied(),
            Tok::Op("-") => self.atom().map(|v| -v),
            Tok::Op("(") => {
                let v = self.sum()?;
                (self.peek() == Some(&Tok::Op(")"))).then(|| self.i += 1)?;
                Some(v)
            }
            _ => None,
        }
    }
}

fn specialize_dim(d: &Json, env: &HashMap<String, i64>) -> Json {
    match d.as_str().and_then(|e| eval_dim(e, env)) {
        Some(v) => json!(v),
        None => d.clone(),
    }
}

/// `meta.val` with every evaluable symbolic size replaced by its value.
pub fn specialize_val(v: &Json, env: &HashMap<String, i64>) -> Json {
    match v {
        Json::Array(items) => Json::Array(items.iter().map(|x| specialize_val(x, env)).collect()),
        Json::Object(m) if m.len() == 1 && m.contains_key("sym") => {
            m["sym"].as_str().and_then(|e| eval_dim(e, env)).map(Json::from).unwrap_or_else(|| v.clone())
        }
        Json::Object(m) => {
            let mut out = m.clone();
            for k in ["shape", "stride"] {
                if let Some(Json::Array(dims)) = m.get(k) {
                    out.insert(k.into(), Json::Array(dims.iter().map(|d| specialize_dim(d, env)).collect()));
                }
            }
            Json::Object(out)
        }
        other => other.clone(),
    }
}

/// How a recorded tensor lies in memory, as far as a pass that allocates its
/// buffer must know: fix-functionalization builds row-major buffers and the
/// transpose of one (vLLM main's column-major per-group scales,
/// `empty([H/G, T]).permute(1, 0)`), nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Row-major (or no strides recorded).
    RowMajor,
    /// A 2-D tensor stored as its transpose: strides `[1, rows]`.
    Transposed,
    /// A 2-D tensor stored as its transpose with `round_up(rows, 4)` rows
    /// (16 bytes of f32: vLLM main's TMA-aligned per-group scales):
    /// strides `[1, round_up(rows, 4)]`, PyTorch's `4*((s + 3)//4)` where
    /// the rows are a symbol.
    TmaPadded,
    /// Any other strides (padded rows, a view's).
    Other,
}

/// The layout of a recorded `meta.val`, given as JSON text (`{"shape",
/// "stride", ...}`; the importer and fix-functionalization read it for
/// every output buffer, so only those two fields are parsed). Sizes and
/// strides compare as products of their factors (`2*s77` is `s77*2`); a dim
/// of size 1 has no stride that matters.
pub fn layout(record: &str) -> Layout {
    use serde_json::value::RawValue;
    #[derive(serde::Deserialize)]
    struct Strided<'a> {
        #[serde(borrow, default)]
        shape: Vec<&'a RawValue>,
        #[serde(borrow)]
        stride: Option<Vec<&'a RawValue>>,
    }
    let Ok(Strided { shape, stride: Some(stride) }) = serde_json::from_str::<Strided>(record) else {
        return Layout::RowMajor;
    };
    if shape.len() != stride.len() {
        return Layout::Other;
    }
    let (raw_shape, raw_stride) = (&shape, &stride);
    let (shape, stride): (Vec<Product>, Vec<Product>) =
        (shape.iter().map(|r| product(r.get())).collect(), stride.iter().map(|r| product(r.get())).collect());
    let one = Product(1, vec![]);
    let mut inner = one.clone();
    // Row-major: exactly, and where size-1 dims' strides may be anything.
    let (mut exact, mut row_major) = (true, true);
    for i in (0..shape.len()).rev() {
        exact &= stride[i] == inner;
        row_major &= shape[i] == one || stride[i] == inner;
        inner = inner.times(&shape[i]);
    }
    let transposed = |loose: bool| {
        shape.len() == 2 && (loose && shape[0] == one || stride[0] == one) && (loose && shape[1] == one || stride[1] == shape[0])
    };
    // Exact strides first: a `[T, 1]` column-major buffer is recorded `[1, T]`, and its copy should say so too.
    if exact {
        Layout::RowMajor
    } else if transposed(false) {
        Layout::Transposed
    } else if row_major {
        Layout::RowMajor
    } else if transposed(true) {
        Layout::Transposed
    } else if shape.len() == 2 && stride[0] == one && tma_rows(raw_shape[0].get(), raw_stride[1].get()) {
        Layout::TmaPadded
    } else {
        Layout::Other
    }
}

/// The TMA alignment of padded scale rows, in f32 words (16 bytes).
pub const TMA_ALIGNMENT: i64 = 4;

/// Whether the recorded `stride` (JSON: an integer or a string expression)
/// is `round_up(rows, 4)` for the recorded `rows`.
fn tma_rows(rows: &str, stride: &str) -> bool {
    let k = TMA_ALIGNMENT;
    match (rows.parse::<i64>(), stride.parse::<i64>()) {
        (Ok(r), Ok(s)) => r > 0 && s == (r + k - 1) / k * k,
        _ => {
            let unquote = |t: &'_ str| t.strip_prefix('"').and_then(|x| x.strip_suffix('"')).map(str::to_owned);
            let (Some(rows), Some(stride)) = (unquote(rows), unquote(stride)) else { return false };
            round_up_of(&stride).is_some_and(|(base, m)| m == k && base == rows.trim())
        }
    }
}

/// `(s, k)` when `expr` is PyTorch's form of `round_up(s, k)` for a symbol
/// `s`: `k*((s + k-1)//k)`, with any redundant parentheses
/// (`128*(((s77 + 127)//128))`, as Inductor records it).
pub fn round_up_of(expr: &str) -> Option<(&str, i64)> {
    /// `e` without parentheses that enclose all of it.
    fn bare(mut e: &str) -> &str {
        loop {
            e = e.trim();
            let Some(inner) = e.strip_prefix('(').and_then(|x| x.strip_suffix(')')) else { return e };
            // Only when the first `(` closes at the very end.
            let mut depth = 0i32;
            if inner.chars().any(|c| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth < 0
            }) {
                return e;
            }
            e = inner;
        }
    }
    let (k, rest) = expr.split_once('*')?;
    let k: i64 = k.trim().parse().ok().filter(|k| *k > 1)?;
    let (sum, div) = bare(rest).rsplit_once("//")?;
    let (base, addend) = bare(sum).split_once('+')?;
    let base = base.trim();
    let whole = div.trim().parse::<i64>().ok() == Some(k) && addend.trim().parse::<i64>().ok() == Some(k - 1);
    (whole && !base.is_empty() && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some((base, k))
}

/// A size as an integer coefficient times sorted symbolic factors (a factor
/// with other arithmetic, `((s0 + 127)//128)`, is kept whole), borrowed from
/// the record's text: integer sizes allocate nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Product<'a>(i64, Vec<&'a str>);

impl<'a> Product<'a> {
    fn times(&self, o: &Product<'a>) -> Product<'a> {
        if o.1.is_empty() {
            return Product(self.0.saturating_mul(o.0), self.1.clone());
        }
        let mut f: Vec<&str> = self.1.iter().chain(&o.1).copied().collect();
        f.sort_unstable();
        Product(self.0.saturating_mul(o.0), f)
    }
}

/// A recorded size or stride as JSON text: an integer, or a string holding a
/// symbolic expression (no escapes in sizes; one with them is a factor whole).
fn product(raw: &str) -> Product<'_> {
    let Some(s) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return Product(raw.parse().unwrap_or(-1), vec![]);
    };
    // Split at top-level `*` (not inside parentheses, not `**`).
    let (mut coef, mut factors, mut depth, mut start) = (1i64, Vec::new(), 0i32, 0usize);
    let bytes = s.as_bytes();
    for i in 0..=bytes.len() {
        match bytes.get(i) {
            Some(b'(') => depth += 1,
            Some(b')') => depth -= 1,
            Some(b'*') if depth > 0 || bytes.get(i + 1) == Some(&b'*') || (i > 0 && bytes[i - 1] == b'*') => {}
            Some(b'*') | None => {
                let f = s[start..i].trim();
                match f.parse::<i64>() {
                    Ok(k) => coef = coef.saturating_mul(k),
                    Err(_) => factors.push(f),
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    factors.sort_unstable();
    Product(coef, factors)
}

/// The static shape `meta.val` gives for a tensor (`None` entries stay symbolic).
pub fn shape_of(v: &Json) -> Option<Vec<Option<i64>>> {
    Some(v.get("shape")?.as_array()?.iter().map(Json::as_i64).collect())
}

/// `fx.args` with operand `k` replaced by `literal` and later operands renumbered.
pub fn fold_operand(args: &Json, k: usize, literal: &Json) -> Json {
    match args {
        Json::Object(m) if m.len() == 1 && m.get("operand").and_then(Json::as_u64).is_some() => {
            let i = m["operand"].as_u64().unwrap_or(0) as usize;
            match i.cmp(&k) {
                std::cmp::Ordering::Equal => literal.clone(),
                std::cmp::Ordering::Greater => json!({ "operand": i - 1 }),
                std::cmp::Ordering::Less => args.clone(),
            }
        }
        Json::Object(m) => Json::Object(m.iter().map(|(key, x)| (key.clone(), fold_operand(x, k, literal))).collect()),
        Json::Array(a) => Json::Array(a.iter().map(|x| fold_operand(x, k, literal)).collect()),
        other => other.clone(),
    }
}

pub const BUFFERS: &str = "fx.buffers";

/// `v` with every `{"node": name}` whose name is in `values` replaced by the
/// number, and every `{"sym": expr}` that evaluates under `env` by its value.
pub fn substitute_refs(v: &Json, values: &HashMap<String, i64>, env: &HashMap<String, i64>) -> Json {
    match v {
        Json::Object(m) if m.len() == 1 && m.get("node").and_then(Json::as_str).is_some_and(|n| values.contains_key(n)) => {
            json!(values[m["node"].as_str().unwrap_or_default()])
        }
        Json::Object(m) if m.len() == 1 && m.get("sym").and_then(Json::as_str).and_then(|e| eval_dim(e, env)).is_some() => {
            json!(m["sym"].as_str().and_then(|e| eval_dim(e, env)))
        }
        Json::Object(m) => Json::Object(m.iter().map(|(k, x)| (k.clone(), substitute_refs(x, values, env))).collect()),
        Json::Array(a) => Json::Array(a.iter().map(|x| substitute_refs(x, values, env)).collect()),
        other => other.clone(),
    }
}

/// `fx.buffers` (dropped buffer nodes) specialized: sizes evaluated, SymInt
/// inputs (by node name) folded into the arguments.
pub fn specialize_buffers(buffers: &Json, env: &HashMap<String, i64>, symints: &HashMap<String, i64>) -> Json {
    let Json::Object(m) = buffers else { return buffers.clone() };
    Json::Object(
        m.iter()
            .map(|(k, node)| {
                let Json::Object(n) = node else { return (k.clone(), node.clone()) };
                let mut n = n.clone();
                for key in ["args", "kwargs"] {
                    if let Some(x) = n.get(key) {
                        let x = substitute_refs(x, symints, env);
                        n.insert(key.into(), x);
                    }
                }
                if let Some(val) = n.get("meta").and_then(|m| m.get("val")) {
                    let val = specialize_val(val, env);
                    n.insert("meta".into(), json!({ "val": val }));
                }
                (k.clone(), Json::Object(n))
            })
            .collect(),
    )
}

/// The `fx.meta` text of an op whose results are the new values of written
/// buffers, as an `auto_functionalized` node records it: `[null, each
/// result's record]` (the op itself returns nothing).
pub fn written_meta(results: impl IntoIterator<Item = Json>) -> String {
    Json::Array(std::iter::once(Json::Null).chain(results).collect()).to_string()
}

/// The replaced values' records as the `fx.meta` of the op that replaces
/// them, copied as text (no `Json` tree: the fusion passes do this for every
/// op they fuse): [`written_meta`]'s form, or with `functional` a functional
/// call's (its results' records, no leading null). `None` when one has no
/// record.
pub fn written_meta_of(values: &[Value<'_, '_>], functional: bool) -> Option<String> {
    let mut text = String::from(if functional { "[" } else { "[null" });
    for (i, v) in values.iter().enumerate() {
        let raw: Box<serde_json::value::RawValue> = value_meta_as(*v)?;
        if i > 0 || !functional {
            text.push(',');
        }
        text.push_str(raw.get());
    }
    text.push(']');
    Some(text)
}

/// The recorded `meta.val` of a value: its producer's `fx.meta` (the
/// matching non-null element for a tuple), or its function argument's.
pub fn value_meta(v: Value<'_, '_>) -> Option<Json> {
    value_meta_as(v)
}

/// [`value_meta`] read straight into `T` (no `serde_json::Value` tree): the
/// passes ask for one field of thousands of values.
pub fn value_meta_as<T: serde::de::DeserializeOwned>(v: Value<'_, '_>) -> Option<T> {
    if let Some(op) = ir::producer(v) {
        let r = OperationResult::try_from(v).ok()?;
        let text = ir::string_attr(&op, META)?;
        if text.trim_start().starts_with('[') {
            let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(&text).ok()?;
            let item = items.into_iter().filter(|x| x.get() != "null").nth(r.result_number())?;
            return serde_json::from_str(item.get()).ok();
        }
        return serde_json::from_str(&text).ok();
    }
    serde_json::from_str(&ir::arg_string_attr(ir::block_argument(v)?, META)?).ok()
}

/// The symbol name of each dim of a value's recorded shape (`None` for a
/// size): `value_meta_as::<ShapeSymbols>(v)`.
#[derive(Debug, serde::Deserialize)]
pub struct ShapeSymbols {
    pub shape: Vec<DimSymbol>,
}

#[derive(Debug)]
pub struct DimSymbol(pub Option<String>);

impl<'de> serde::Deserialize<'de> for DimSymbol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Json::deserialize(d)? {
            Json::String(s) => Ok(DimSymbol(Some(s))),
            _ => Ok(DimSymbol(None)),
        }
    }
}

/// A SymInt's recorded `{"sym": name}`: `value_meta_as::<SymName>(v)`.
#[derive(Debug, serde::Deserialize)]
pub struct SymName {
    pub sym: String,
}
