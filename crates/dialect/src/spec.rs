//! The op table: dialects/ops.toml parsed into [`OpDef`]s.
use rustc_hash::FxHashMap as HashMap;
use serde::Deserialize;

/// What values an operand or result may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueClass {
    /// Any ranked tensor.
    Any,
    /// Activations: f16, bf16 or f32 tensors.
    Act,
    F32,
    /// FP8 E4M3 (fn or fnuz) tensors.
    Fp8,
    /// 8-bit quantized tensors: FP8 or i8.
    Q8,
    /// A quant's output: FP8, or NVFP4's packed e2m1 pairs (ui8).
    Quant,
    /// Integer tensors (any width).
    Int,
    /// Bool (i1) tensors.
    Bool,
    /// A symbolic size: an `index` value, not a tensor.
    Index,
    /// A ranked tensor or a symbolic size (what an FX node may take).
    Value,
}

impl ValueClass {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "any" => Self::Any,
            "act" => Self::Act,
            "f32" => Self::F32,
            "fp8" => Self::Fp8,
            "q8" => Self::Q8,
            "quant" => Self::Quant,
            "int" => Self::Int,
            "bool" => Self::Bool,
            "index" => Self::Index,
            "value" => Self::Value,
            _ => return None,
        })
    }

    /// How the class reads in error messages and docs.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Any => "a ranked tensor",
            Self::Act => "a tensor of f16, bf16 or f32",
            Self::F32 => "a tensor of f32",
            Self::Fp8 => "a tensor of f8E4M3FN or f8E4M3FNUZ",
            Self::Q8 => "a tensor of f8E4M3FN, f8E4M3FNUZ or i8",
            Self::Quant => "a tensor of f8E4M3FN, f8E4M3FNUZ or ui8 (NVFP4's packed pairs)",
            Self::Int => "a tensor of integers",
            Self::Bool => "a tensor of i1",
            Self::Index => "an index",
            Self::Value => "a ranked tensor, an index or none (an opaque input)",
        }
    }

    /// Whether an element type (as MLIR prints it) belongs to the class.
    pub fn accepts_element(self, elem: &str) -> bool {
        let fp8 = matches!(elem, "f8E4M3FN" | "f8E4M3FNUZ");
        match self {
            Self::Any => true,
            Self::Act => matches!(elem, "f16" | "bf16" | "f32"),
            Self::F32 => elem == "f32",
            Self::Fp8 => fp8,
            Self::Q8 => fp8 || elem == "i8",
            Self::Quant => fp8 || elem == "ui8",
            Self::Int => elem.starts_with('i') || elem.starts_with("si") || elem.starts_with("ui"),
            Self::Bool => elem == "i1",
            Self::Index => false,
            Self::Value => true,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    One,
    Optional,
    Variadic,
}

/// One operand or result.
#[derive(Clone, Debug)]
pub struct ValueDef {
    pub name: String,
    pub arity: Arity,
    /// Written in place (operands of in-place ops only).
    pub mutated: bool,
    pub class: ValueClass,
    /// Keyword-only in the PyTorch schema (after its `*`, e.g. the outputs
    /// of an `.out` overload): it takes no positional slot (`*name` in the table).
    pub keyword_only: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKind {
    F64,
    I64,
    Bool,
    Str,
    I64Array,
    Type,
    /// A Python scalar: an integer, float or bool attribute.
    Scalar,
    /// A list whose entries are each `None` (`unit`), a bool or a dtype (a
    /// type): PyTorch's `Tensor?[]` taken only as all-`None`, `bool[]` and
    /// `ScalarType?[]` arguments (the symmetric-memory GEMMs' per-`B` lists).
    List,
}

impl AttrKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "f64" => Self::F64,
            "i64" => Self::I64,
            "bool" => Self::Bool,
            "str" => Self::Str,
            "i64[]" => Self::I64Array,
            "type" => Self::Type,
            "scalar" => Self::Scalar,
            "list" => Self::List,
            _ => return None,
        })
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::F64 => "an f64 float attribute",
            Self::I64 => "an i64 integer attribute",
            Self::Bool => "a bool attribute",
            Self::Str => "a string attribute (or @input: the opaque graph input that carries it)",
            Self::I64Array => "an array<i64: ...> attribute",
            Self::Type => "a type attribute",
            Self::Scalar => "an integer, float or bool attribute",
            Self::List => "an array of unit (None), bool and type attributes",
        }
    }

    pub fn syntax(self) -> &'static str {
        match self {
            Self::F64 => "f64",
            Self::I64 => "i64",
            Self::Bool => "bool",
            Self::Str => "string",
            Self::I64Array => "array<i64>",
            Self::Type => "type",
            Self::Scalar => "scalar",
            Self::List => "array<unit|bool|type>",
        }
    }
}

/// The NVFP4 layout of an op (`nvfp4 = { input, values, scales, input_per_byte }`):
/// `input` is `[T, input_per_byte * w]`; `values` the packed e2m1 pairs
/// `[T, w]` (`w` a multiple of 8: 16 elements share a scale); `scales` the
/// e4m3 block scales in the FP4 GEMM's swizzled layout, four to an `i32`:
/// `[round_up(T, 128), ceil(w / 32)]`. With `swizzled_if` (a bool attribute
/// of the op, vLLM main's `is_sf_swizzled_layout`) false, the scales are
/// row-major bytes instead: `[T, w / 8]` of `ui8`, one per block, no padding.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nvfp4 {
    pub input: String,
    pub values: String,
    pub scales: String,
    pub input_per_byte: i64,
    #[serde(default)]
    pub swizzled_if: Option<String>,
}

/// A functional PyTorch op the value-form op also stands for (`functional =
/// { target, params, .. }`): vLLM main's IR ops (`torch.ops.vllm_ir.rms_norm`,
/// `static_quant_fp8`), which its graphs hold until its own lowering picks a
/// kernel, and functional overloads of custom ops (`_C.scaled_fp4_quant`'s).
/// A call imports as the op marked `fx.functional`, stays functional and
/// exports back as that call unless a fusion replaces it. `params` are the
/// functional op's parameter names in schema order (how positional
/// arguments bind); each is one of the op's operands or attributes (under
/// its own name, or the one `names` maps it to), a `fixed` value the call
/// must pass (`per_token = true`), or a parameter the op does not model,
/// which must be absent or None. `scalars`: operands that must hold one
/// element (a per-tensor scale, not a per-token one).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionalForm {
    pub target: String,
    pub params: Vec<String>,
    #[serde(default)]
    pub names: HashMap<String, String>,
    #[serde(default)]
    pub fixed: HashMap<String, Literal>,
    #[serde(default)]
    pub scalars: Vec<String>,
}

impl FunctionalForm {
    /// The op's operand or attribute that IR parameter `param` binds to.
    pub fn bound_name<'f>(&'f self, param: &'f str) -> &'f str {
        self.names.get(param).map_or(param, String::as_str)
    }
}

/// A literal argument value the table states (a tolerated argument's, a
/// functional call's fixed one), as the FX graph format writes it: a bool, an
/// integer, a list of integers, a dtype (`{ dtype = "float8_e4m3fn" }`) or a
/// string.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Ints(Vec<i64>),
    Dtype { dtype: String },
    Str(String),
}

impl Literal {
    /// The argument as the FX graph format writes it.
    pub fn json(&self) -> serde_json::Value {
        match self {
            Self::Bool(b) => serde_json::json!(b),
            Self::Int(i) => serde_json::json!(i),
            Self::Ints(v) => serde_json::json!(v),
            Self::Dtype { dtype } => serde_json::json!({ "dtype": dtype }),
            Self::Str(s) => serde_json::json!(s),
        }
    }
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Ints(v) => write!(f, "{v:?}"),
            Self::Dtype { dtype } => f.write_str(dtype),
            Self::Str(s) => write!(f, "{s:?}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AttrDef {
    pub name: String,
    pub kind: AttrKind,
    /// PyTorch's schema default (as TOML text), used when an argument is omitted.
    pub default: Option<String>,
    /// Keyword-only in the PyTorch schema (exported as a kwarg).
    pub keyword_only: bool,
}

/// One op of the torch-like dialects, with the Rust-side facts the IR cannot
/// carry (purity, in-place twin, PyTorch target, kernel).
#[derive(Clone, Debug)]
pub struct OpDef {
    /// Full name, `dialect.op`.
    pub name: String,
    /// The exact PyTorch target (`torch.ops._C.rms_norm.default`); `*` for the
    /// opaque op, whose target is an attribute.
    pub target: String,
    pub summary: String,
    pub description: String,
    pub operands: Vec<ValueDef>,
    pub results: Vec<ValueDef>,
    pub attrs: Vec<AttrDef>,
    /// True for ops with side effects: collectives, in-place ops, the opaque op.
    /// Pure ops may be removed when unused and deduplicated.
    pub effects: bool,
    /// The in-place (buffer) twin of a value-semantics op.
    pub inplace: Option<String>,
    /// The fused kernel that implements the op, if the project emits one.
    pub kernel: Option<String>,
    /// Operands and results whose shapes must agree.
    pub same_shape: Vec<String>,
    /// A norm's weight: one vector as wide as the rows (the last dim of the
    /// first `same_shape` value); the kernels read one row of weights.
    pub row_weight: Option<String>,
    /// Operand 0's rows are packed attention heads: `num_heads_q +
    /// num_heads_k + num_heads_v` of `head_dim` (attributes); `q_weight` and
    /// `k_weight` are vectors of `head_dim`; the cache's rows are an even
    /// number of elements, at most `head_dim`.
    pub packed_heads: bool,
    /// The result is a view of operand 0's storage (alias analysis: writing
    /// one in place changes the other).
    pub view: bool,
    /// Exported as a call with positional arguments instead of keywords
    /// (vLLM needs it for the silu ops: Inductor mishandles a kwarg `out`).
    pub fx_positional: bool,
    /// The PyTorch schema's order of the positional arguments, where it
    /// interleaves tensors and scalars (`silu_and_mul_per_block_quant(out,
    /// input, scales, group_size, scale_ub, ...)`); empty: the operands,
    /// then the attributes, as declared.
    pub schema_order: Vec<String>,
    /// A collective's shape rule between operand 0 and result 0 along the
    /// `dim` attribute: `scatter` divides that size by `world_size`,
    /// `gather` multiplies it (the other sizes agree).
    pub collective: Option<Collective>,
    /// NVFP4 layout: which operand/result holds the packed e2m1 values and
    /// which the swizzled block scales (`nvfp4` in the table).
    pub nvfp4: Option<Nvfp4>,
    /// Written buffers whose rows are `round_up(T, 128)` (the FP4 GEMM's
    /// tiles), not any operand's: never sized from an operand. The NVFP4
    /// `scales` are such a buffer too.
    pub padded_rows: Vec<String>,
    /// Written buffers stored as their 2-D transpose when a bool attribute is
    /// true (`transposed_if = { scale = "is_scale_transposed" }`): column-major
    /// per-group scales, which fix-functionalization allocates so.
    pub transposed_if: Vec<(String, String)>,
    /// Written buffers of `transposed_if` whose transpose's rows are padded
    /// to a multiple of 4 when a bool attribute is true (`round_up(T, 4)`
    /// f32 words, 16 bytes: TMA-aligned per-group scales, which DeepGEMM
    /// reads): `[T, G]` with strides `[1, round_up(T, 4)]`.
    pub tma_aligned_if: Vec<(String, String)>,
    /// Attributes of ours that vLLM's op lacks: what vLLM's kernel reads
    /// from its buffers' strides (`is_scale_tma_aligned`), which codegen and
    /// fix-functionalization need on the op. Always optional, never read
    /// from an FX call, never exported to one, never positional.
    pub internal: Vec<String>,
    /// An attribute whose presence makes the `padded_rows` buffers plain rows
    /// (MLA attention's `quant_group_size`: per-group scales, not NVFP4's).
    pub padded_unless: Option<String>,
    /// Optional operands left out of an exported call when absent (instead
    /// of passed as None): arguments that later vLLM versions added with a
    /// default, which an older schema does not have. Attributes named here
    /// may be absent (an older schema's call does not pass them; a later
    /// one must) and are then left out too.
    pub omit_if_absent: Vec<String>,
    /// Arguments a later vLLM added that the op does not model, accepted (and
    /// left out of exported calls) when None or the value given here, which
    /// does not change what the op computes (`group_shape = [-1, -1]`: per
    /// tensor). After the modeled arguments in the schema; a positional call
    /// fills them in this (name) order.
    pub tolerated: Vec<(String, Literal)>,
    /// Operands that must hold one element for a call to import as the op
    /// (a per-tensor scale where vLLM main also passes per-token ones);
    /// otherwise the node stays opaque.
    pub scalars: Vec<String>,
    /// The functional op (vLLM IR's, a functional overload) this value-form op
    /// also imports from, and exports back to when no fusion replaced it.
    pub functional: Option<FunctionalForm>,
    /// `(result, attribute)`: PyTorch returns None for that result when the
    /// bool attribute is false (`fused_all_gather_matmul`'s `return_A`);
    /// the result must then be unread.
    pub returned_if: Option<(String, String)>,
    pub example: String,
}

/// How a collective changes the size of its `dim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collective {
    Scatter,
    Gather,
}

impl OpDef {
    pub fn dialect(&self) -> &str {
        self.name.split_once('.').map_or("", |(d, _)| d)
    }
    pub fn short_name(&self) -> &str {
        self.name.split_once('.').map_or(&self.name, |(_, o)| o)
    }
    pub fn is_pure(&self) -> bool {
        !self.effects
    }
    /// True for in-place (buffer) ops, named with a trailing `_`.
    pub fn is_inplace(&self) -> bool {
        self.operands.iter().any(|o| o.mutated)
    }
    /// Indices (in declaration order) of the operands written in place.
    pub fn mutated_operands(&self) -> impl Iterator<Item = usize> + '_ {
        self.operands.iter().enumerate().filter(|(_, o)| o.mutated).map(|(i, _)| i)
    }
    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        self.attrs.iter().find(|a| a.name == name)
    }
    /// The positional arguments of the PyTorch schema, in its order
    /// (`schema_order`, else the operands then the attributes; index
    /// operands and keyword-only arguments take no position).
    pub fn positional(&self) -> Vec<&str> {
        if self.schema_order.is_empty() { self.declared_positional() } else { self.schema_order.iter().map(String::as_str).collect() }
    }
    fn declared_positional(&self) -> Vec<&str> {
        let operands = self.operands.iter().filter(|d| d.class != ValueClass::Index && !d.keyword_only).map(|d| d.name.as_str());
        operands.chain(self.attrs.iter().filter(|a| !a.keyword_only && !self.is_internal(&a.name)).map(|a| a.name.as_str())).collect()
    }
    /// An attribute the op may lack (`omit_if_absent`): an argument a later
    /// vLLM added without a default, which an older schema does not have.
    pub fn optional_attr(&self, name: &str) -> bool {
        (self.omit_if_absent.iter().any(|o| o == name) || self.is_internal(name)) && self.attr(name).is_some()
    }
    /// An attribute of ours that vLLM's op lacks (`internal`).
    pub fn is_internal(&self, name: &str) -> bool {
        self.internal.iter().any(|o| o == name)
    }
    /// True when more than one operand is optional or variadic, so the op
    /// carries `operandSegmentSizes`.
    pub fn needs_operand_segments(&self) -> bool {
        self.operands.iter().filter(|o| o.arity != Arity::One).count() > 1
    }
    pub fn needs_result_segments(&self) -> bool {
        self.results.iter().filter(|o| o.arity != Arity::One).count() > 1
    }

    /// True when the written operand `name` has `round_up(T, 128)` rows
    /// (`padded_rows`, or the NVFP4 block scales).
    pub fn padded(&self, name: &str) -> bool {
        self.padded_rows.iter().any(|v| v == name) || self.nvfp4.as_ref().is_some_and(|f| f.scales == name)
    }

    /// True when the value form reads operand `name` (so the twin's written
    /// argument of that name is read-and-written, not a pure output buffer).
    pub fn reads(&self, name: &str) -> bool {
        self.operands.iter().any(|o| o.name == name)
    }
}

#[derive(Clone, Debug)]
pub struct DialectDef {
    pub name: String,
    pub summary: String,
}

/// The whole table.
#[derive(Debug)]
pub struct OpTable {
    pub dialects: Vec<DialectDef>,
    pub ops: Vec<OpDef>,
    index: HashMap<String, usize>,
    by_target: HashMap<String, Vec<usize>>,
    by_functional_target: HashMap<String, Vec<usize>>,
}

impl OpTable {
    pub fn get(&self, name: &str) -> Option<&OpDef> {
        self.index.get(name).map(|&i| &self.ops[i])
    }

    /// The ops whose PyTorch target is `target`, in table order.
    pub fn with_target<'t>(&'t self, target: &str) -> impl Iterator<Item = &'t OpDef> + 't {
        self.by_target.get(target).into_iter().flatten().map(|&i| &self.ops[i])
    }

    /// The value-form ops a functional call of `target` may import as, in
    /// table order (their `fixed` parameters tell them apart).
    pub fn with_functional_target<'t>(&'t self, target: &str) -> impl Iterator<Item = &'t OpDef> + 't {
        self.by_functional_target.get(target).into_iter().flatten().map(|&i| &self.ops[i])
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    dialect: Vec<RawDialect>,
    op: Vec<RawOp>,
    #[serde(default)]
    family: Vec<RawFamily>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDialect {
    name: String,
    summary: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOp {
    name: String,
    target: String,
    summary: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    operands: Vec<String>,
    #[serde(default)]
    results: Vec<String>,
    #[serde(default)]
    attrs: Vec<String>,
    #[serde(default)]
    effects: bool,
    inplace: Option<String>,
    kernel: Option<String>,
    #[serde(default)]
    same_shape: Vec<String>,
    row_weight: Option<String>,
    #[serde(default)]
    packed_heads: bool,
    #[serde(default)]
    view: bool,
    #[serde(default)]
    fx_positional: bool,
    #[serde(default)]
    schema_order: Vec<String>,
    collective: Option<String>,
    returned_if: Option<String>,
    nvfp4: Option<Nvfp4>,
    #[serde(default)]
    padded_rows: Vec<String>,
    padded_unless: Option<String>,
    #[serde(default)]
    transposed_if: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    tma_aligned_if: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    internal: Vec<String>,
    #[serde(default)]
    omit_if_absent: Vec<String>,
    #[serde(default)]
    tolerated: toml::value::Table,
    #[serde(default)]
    scalars: Vec<String>,
    functional: Option<FunctionalForm>,
    example: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFamily {
    kind: String,
    ops: Vec<[String; 3]>,
}

fn parse_value(spec: &str, op: &str) -> Result<ValueDef, String> {
    let (head, class) = match spec.split_once(':') {
        Some((h, c)) => (h, ValueClass::parse(c).ok_or_else(|| format!("{op}: unknown value class '{c}' in '{spec}'"))?),
        None => (spec, ValueClass::Any),
    };
    let (head, keyword_only) = match head.strip_prefix('*') {
        Some(h) => (h, true),
        None => (head, false),
    };
    let name: String = head.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let mods = &head[name.len()..];
    if name.is_empty() || mods.chars().any(|c| !"?*!".contains(c)) {
        return Err(format!("{op}: malformed operand/result spec '{spec}'"));
    }
    let arity = match (mods.contains('?'), mods.contains('*')) {
        (false, false) => Arity::One,
        (true, false) => Arity::Optional,
        (false, true) => Arity::Variadic,
        (true, true) => return Err(format!("{op}: '{spec}' cannot be both optional and variadic")),
    };
    Ok(ValueDef { name, arity, mutated: mods.contains('!'), class, keyword_only })
}

fn parse_attr(spec: &str, op: &str) -> Result<AttrDef, String> {
    let (name, rest) = spec.split_once(':').ok_or_else(|| format!("{op}: attribute spec '{spec}' needs a kind"))?;
    let (kind, default) = match rest.split_once('=') {
        Some((k, d)) => (k, Some(d.to_string())),
        None => (rest, None),
    };
    let kind = AttrKind::parse(kind).ok_or_else(|| format!("{op}: unknown attribute kind in '{spec}'"))?;
    let (name, keyword_only) = match name.strip_prefix('*') {
        Some(n) => (n, true),
        None => (name, false),
    };
    Ok(AttrDef { name: name.to_string(), kind, default, keyword_only })
}

fn family_op(kind: &str, name: &str, target: &str, summary: &str) -> Result<RawOp, String> {
    let (operands, attrs, example, same) = match kind {
        "unary" => (vec!["self".into()], vec![], format!(r#"%r = "aten.{name}"(%x) : (tensor<?x4096xf32>) -> tensor<?x4096xf32>"#), true),
        "binary" => (
            vec!["self".into(), "other".into()],
            vec![],
            format!(r#"%r = "aten.{name}"(%x, %y) : (tensor<?x4096xf32>, tensor<?x1xf32>) -> tensor<?x4096xf32>"#),
            false,
        ),
        "scalar" => (
            vec!["self".into()],
            vec!["other:scalar".into()],
            format!(r#"%r = "aten.{name}"(%x) {{other = 2.000000e+00 : f64}} : (tensor<?x4096xf32>) -> tensor<?x4096xf32>"#),
            true,
        ),
        other => return Err(format!("unknown op family kind '{other}'")),
    };
    Ok(RawOp {
        name: format!("aten.{name}"),
        target: target.to_string(),
        summary: summary.to_string(),
        description: String::new(),
        operands,
        results: vec!["result".into()],
        attrs,
        effects: false,
        inplace: None,
        kernel: None,
        same_shape: if same { vec!["self".into(), "result".into()] } else { vec![] },
        row_weight: None,
        packed_heads: false,
        view: false,
        fx_positional: false,
        schema_order: vec![],
        collective: None,
        returned_if: None,
        nvfp4: None,
        padded_rows: vec![],
        padded_unless: None,
        transposed_if: Default::default(),
        tma_aligned_if: Default::default(),
        internal: vec![],
        omit_if_absent: vec![],
        tolerated: Default::default(),
        scalars: vec![],
        functional: None,
        example,
    })
}

/// A `functional` form names a value-form op with an in-place twin, binds each of
/// its operands and attributes to an IR parameter, and renames, fixes or
/// requires one element only of parameters and operands it has.
fn check_functional(op: &OpDef, ir: &FunctionalForm) -> Result<(), String> {
    let n = &op.name;
    if op.is_inplace() || op.inplace.is_none() {
        return Err(format!("{n}: functional names a functional form of a value-form op with an in-place twin only"));
    }
    let bound: Vec<&str> = ir.params.iter().map(|p| ir.bound_name(p)).collect();
    let mut declared = op.operands.iter().map(|d| d.name.as_str()).chain(op.attrs.iter().map(|a| a.name.as_str()));
    if let Some(missing) = declared.find(|d| !bound.contains(d)) {
        return Err(format!("{n}: functional binds no parameter to '{missing}'"));
    }
    if let Some(k) = ir.names.keys().chain(ir.fixed.keys()).find(|k| !ir.params.contains(k)) {
        return Err(format!("{n}: functional renames or fixes '{k}', which is not one of its params"));
    }
    if let Some(k) = ir.fixed.iter().find_map(|(k, v)| matches!(v, Literal::Int(_) | Literal::Ints(_)).then_some(k)) {
        return Err(format!("{n}: functional fixes '{k}' to a number; fixed values are bools, dtypes or strings"));
    }
    if let Some(s) = ir.scalars.iter().find(|s| !op.operands.iter().any(|d| &d.name == *s)) {
        return Err(format!("{n}: functional scalars names '{s}', which is not an operand"));
    }
    Ok(())
}

/// Parses and checks the table; every error names the op.
pub fn parse(text: &str) -> Result<OpTable, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| format!("dialects/ops.toml: {e}"))?;
    let mut raw_ops = raw.op;
    for fam in &raw.family {
        for [name, target, summary] in &fam.ops {
            raw_ops.push(family_op(&fam.kind, name, target, summary)?);
        }
    }
    let dialects: Vec<DialectDef> = raw.dialect.into_iter().map(|d| DialectDef { name: d.name, summary: d.summary }).collect();
    let mut ops = Vec::with_capacity(raw_ops.len());
    let mut index = HashMap::default();
    for r in raw_ops {
        let n = &r.name;
        let (dialect, short) = n.split_once('.').ok_or_else(|| format!("{n}: op names are 'dialect.op'"))?;
        if !dialects.iter().any(|d| d.name == dialect) {
            return Err(format!("{n}: unknown dialect '{dialect}'"));
        }
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
        if short.is_empty() || !short.chars().all(ok_char) || short.starts_with('_') || short.contains("__") {
            return Err(format!("{n}: op names are lowercase letters, digits and single underscores"));
        }
        let operands = r.operands.iter().map(|s| parse_value(s, n)).collect::<Result<Vec<_>, _>>()?;
        let results = r.results.iter().map(|s| parse_value(s, n)).collect::<Result<Vec<_>, _>>()?;
        let attrs = r.attrs.iter().map(|s| parse_attr(s, n)).collect::<Result<Vec<_>, _>>()?;
        if results.iter().any(|v| v.mutated) {
            return Err(format!("{n}: only operands can be marked '!'"));
        }
        let inplace_op = operands.iter().any(|o| o.mutated);
        if inplace_op != short.ends_with('_') {
            return Err(format!("{n}: in-place ops (with '!' operands) and only they end in '_'"));
        }
        if inplace_op && !results.is_empty() {
            return Err(format!("{n}: in-place ops have no results"));
        }
        let op = OpDef {
            name: r.name.clone(),
            target: r.target,
            summary: r.summary,
            description: r.description,
            operands,
            results,
            attrs,
            effects: r.effects || inplace_op,
            inplace: r.inplace,
            kernel: r.kernel,
            same_shape: r.same_shape,
            row_weight: r.row_weight,
            packed_heads: r.packed_heads,
            view: r.view,
            fx_positional: r.fx_positional,
            schema_order: r.schema_order,
            collective: match r.collective.as_deref() {
                None => None,
                Some("scatter") => Some(Collective::Scatter),
                Some("gather") => Some(Collective::Gather),
                Some(other) => return Err(format!("{n}: collective is 'scatter' or 'gather', not '{other}'")),
            },
            returned_if: match r.returned_if.as_deref().map(|v| v.split_once(':')) {
                None => None,
                Some(Some((res, attr))) => Some((res.to_string(), attr.to_string())),
                Some(None) => return Err(format!("{n}: returned_if is 'RESULT:ATTR'")),
            },
            nvfp4: r.nvfp4,
            padded_rows: r.padded_rows,
            padded_unless: r.padded_unless,
            transposed_if: r.transposed_if.into_iter().collect(),
            tma_aligned_if: r.tma_aligned_if.into_iter().collect(),
            internal: r.internal,
            omit_if_absent: r.omit_if_absent,
            tolerated: r
                .tolerated
                .iter()
                .map(|(k, v)| match v.clone().try_into() {
                    Ok(Literal::Dtype { .. }) | Err(_) => None,
                    Ok(l) => Some((k.clone(), l)),
                })
                .collect::<Option<_>>()
                .ok_or_else(|| format!("{}: tolerated values are bools, integers, strings or lists of integers", r.name))?,
            scalars: r.scalars,
            functional: r.functional,
            example: r.example,
        };
        if let Some((res, attr)) = &op.returned_if {
            let bool_attr = op.attrs.iter().any(|a| &a.name == attr && a.kind == AttrKind::Bool);
            if !op.results.iter().any(|d| &d.name == res) || !bool_attr {
                return Err(format!("{n}: returned_if names result '{res}' and bool attribute '{attr}', which it must have"));
            }
        }
        if op.collective.is_some() && !["dim", "world_size"].iter().all(|a| op.attrs.iter().any(|d| d.name == *a)) {
            return Err(format!("{n}: a collective shape rule needs 'dim' and 'world_size' attributes"));
        }
        if op.view && (op.operands.is_empty() || !op.is_pure()) {
            return Err(format!("{n}: a view op is pure and views its first operand"));
        }
        for v in &op.same_shape {
            if !op.operands.iter().chain(&op.results).any(|d| &d.name == v) {
                return Err(format!("{n}: same_shape names '{v}', which is not an operand or result"));
            }
        }
        if let Some(w) = &op.row_weight
            && (!op.operands.iter().any(|d| &d.name == w) || op.same_shape.is_empty())
        {
            return Err(format!("{n}: row_weight names '{w}', which must be an operand, and needs same_shape rows"));
        }
        if let Some(f) = &op.nvfp4 {
            let named = |v: &str| op.operands.iter().chain(&op.results).any(|d| d.name == v);
            if ![&f.input, &f.values, &f.scales].iter().all(|v| named(v)) || f.input_per_byte < 1 {
                return Err(format!("{n}: nvfp4 names its input, values and scales (operands or results) and input_per_byte >= 1"));
            }
            if let Some(a) = f.swizzled_if.as_deref().filter(|a| op.attr(a).is_none_or(|d| d.kind != AttrKind::Bool)) {
                return Err(format!("{n}: nvfp4's swizzled_if names '{a}', which must be a bool attribute"));
            }
        }
        if !op.schema_order.is_empty() {
            let mut declared = op.declared_positional();
            let mut order: Vec<&str> = op.schema_order.iter().map(String::as_str).collect();
            declared.sort_unstable();
            order.sort_unstable();
            if declared != order {
                return Err(format!("{n}: schema_order must name each positional operand and attribute once"));
            }
        }
        if op.fx_positional {
            // An argument left out of a positional call must not shift the ones after it.
            let pos = op.positional();
            let first_omitted = pos.iter().position(|p| op.omit_if_absent.iter().any(|o| o == p));
            if first_omitted.is_some_and(|i| pos[i..].iter().any(|p| !op.omit_if_absent.iter().any(|o| o == p))) {
                return Err(format!("{n}: fx_positional exports positionally, so omit_if_absent arguments must come last"));
            }
        }
        if op.fx_positional && op.operands.iter().any(|d| d.keyword_only) {
            return Err(format!("{n}: fx_positional exports every argument positionally, so no operand can be keyword-only"));
        }
        if let Some(v) = op.scalars.iter().find(|v| !op.operands.iter().any(|d| &d.name == *v)) {
            return Err(format!("{n}: scalars names '{v}', which must be an operand"));
        }
        if let Some((t, _)) = op.tolerated.iter().find(|(t, _)| op.operands.iter().any(|d| &d.name == t) || op.attr(t).is_some()) {
            return Err(format!("{n}: tolerated names '{t}', which the op models"));
        }
        if let Some(v) = op.omit_if_absent.iter().find(|v| {
            !op.operands.iter().any(|d| d.arity == Arity::Optional && &d.name == *v) && op.attr(v).is_none_or(|a| a.default.is_some())
        }) {
            return Err(format!("{n}: omit_if_absent names '{v}', which must be an optional operand or an attribute without a default"));
        }
        if let Some(v) = op.padded_rows.iter().find(|v| !op.operands.iter().any(|d| d.mutated && &d.name == *v)) {
            return Err(format!("{n}: padded_rows names '{v}', which must be a written operand"));
        }
        if let Some((v, a)) = op
            .transposed_if
            .iter()
            .find(|(v, a)| !op.operands.iter().any(|d| d.mutated && &d.name == v) || op.attr(a).is_none_or(|d| d.kind != AttrKind::Bool))
        {
            return Err(format!("{n}: transposed_if maps '{v}' to '{a}', which must be a written operand and a bool attribute"));
        }
        if let Some((v, a)) = op
            .tma_aligned_if
            .iter()
            .find(|(v, a)| !op.transposed_if.iter().any(|(t, _)| t == v) || op.attr(a).is_none_or(|d| d.kind != AttrKind::Bool))
        {
            return Err(format!("{n}: tma_aligned_if maps '{v}' to '{a}', which must be a transposed_if buffer and a bool attribute"));
        }
        if let Some(a) = op.internal.iter().find(|a| op.attr(a).is_none_or(|d| d.default.is_some() || op.omit_if_absent.contains(a))) {
            return Err(format!("{n}: internal names '{a}', which must be an attribute without a default, not omit_if_absent"));
        }
        if let Some(a) = op.padded_unless.as_ref().filter(|a| op.attr(a).is_none()) {
            return Err(format!("{n}: padded_unless names '{a}', which must be an attribute"));
        }
        if index.insert(op.name.clone(), ops.len()).is_some() {
            return Err(format!("{n}: defined twice"));
        }
        ops.push(op);
    }
    for op in &ops {
        if let Some(twin) = &op.inplace {
            let t = match index.get(twin).map(|&i| &ops[i]) {
                Some(t) if t.is_inplace() && t.target == op.target => t,
                _ => return Err(format!("{}: in-place twin '{twin}' must be an in-place op with the same target", op.name)),
            };
            // The k-th result is the new value of the twin's k-th written argument.
            let written: Vec<&ValueDef> = t.operands.iter().filter(|o| o.mutated).collect();
            let agree = written.len() == op.results.len()
                && written.iter().zip(&op.results).all(|(w, r)| (w.arity == Arity::Optional) == (r.arity == Arity::Optional));
            if !agree {
                return Err(format!(
                    "{}: its results must be the new values of what '{twin}' writes, in order, optional where those are",
                    op.name
                ));
            }
        }
    }
    let mut by_target: HashMap<String, Vec<usize>> = HashMap::default();
    let mut by_functional_target: HashMap<String, Vec<usize>> = HashMap::default();
    for (i, op) in ops.iter().enumerate() {
        by_target.entry(op.target.clone()).or_default().push(i);
        if let Some(ir) = &op.functional {
            check_functional(op, ir)?;
            by_functional_target.entry(ir.target.clone()).or_default().push(i);
        }
    }
    Ok(OpTable { dialects, ops, index, by_target, by_functional_target })
}
