//! FX graph JSON -> one `func.func` in the torch-like dialects.
//!
//! - placeholders (and `get_attr`s) become the function's arguments; the
//!   output node becomes `func.return`;
//! - symbolic sizes become `?` dims; the symbols' bounds are kept in the
//!   module attribute `torch.symbols`; SymInt values are `index` values;
//! - `auto_functionalized(op, **kw)` + `getitem` becomes the value-semantics
//!   op whose results are the new values of the mutated arguments (as
//!   torch-mlir imports it); buffers that exist only to be written disappear;
//! - known ATen and vLLM ops become the dialect's ops, anything else
//!   `torch.operator` with the original target and arguments;
//! - every op is located at its FX node (`loc("node_name")`).
//!
//! Provenance for an exact export rides along in `fx.*` attributes
//! (see docs/fx-import.md): `fx.meta` (the node's `meta.val`), `fx.args` (its
//! args/kwargs with operands as `{"operand": i}` and dropped buffers as
//! `{"buffer": name}`), `fx.buffers` (the dropped buffer nodes), `fx.getitems`
//! (names of the getitem nodes, by tuple index).
//!
//! Import builds IR through the C API; nothing is printed and re-parsed.
use crate::graph::{self, Arg, Graph, GraphError, Node, NodeOp, NodeRef, Val};
use crate::types::{element_type, tensor_type};
use mlir_support::{
    Diag, DiagnosticCapture,
    melior::{
        Context,
        dialect::func,
        ir::{
            Attribute, Block, BlockLike, Identifier, Location, Module, Region, RegionLike, Type, TypeLike, Value,
            attribute::{
                ArrayAttribute, BoolAttribute, DenseI32ArrayAttribute, DenseI64ArrayAttribute, DictionaryAttribute, FlatSymbolRefAttribute,
                FloatAttribute, IntegerAttribute, StringAttribute, TypeAttribute,
            },
            operation::{OperationBuilder, OperationLike, OperationMutLike},
            r#type::{FunctionType, IntegerType},
        },
    },
};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use vllm_dialect::{Arity, AttrDef, AttrKind, K_DYNAMIC, OpDef, ValueClass, provenance::Layout};

/// Targets that only allocate: when such a node's single use is as an
/// output-only buffer of a functionalized op, the value form drops it.
const ALLOCATIONS: &[&str] = &[
    "torch.ops.aten.empty.memory_format",
    "torch.ops.aten.empty.default",
    "torch.ops.aten.empty_like.default",
    "torch.ops.aten.full.default",
    "torch.ops.aten.zeros.default",
    "torch.ops.aten.new_empty.default",
    "torch.ops.aten.empty_strided.default",
];

pub const AUTO_FUNCTIONALIZED: &str = "torch.ops.higher_order.auto_functionalized";
/// torch's default since 2.6 (vLLM turns it off): mutated arguments are
/// given as indices into `_all_bases`, and the tuple holds each base's new value.
pub const AUTO_FUNCTIONALIZED_V2: &str = "torch.ops.higher_order.auto_functionalized_v2";
/// The `fx.*` attribute recording a v2 node's target, so that it exports as it came.
pub const FX_TARGET: &str = "fx.target";
pub const GETITEM: &str = "operator.getitem";

/// kwargs that select memory placement, not values: ignorable for semantics.
const PLACEMENT_KWARGS: &[&str] = &["device", "pin_memory", "layout", "memory_format", "non_blocking"];

/// Imports FX graph JSON into a new module. Errors name the node (or the
/// JSON position) and never panic.
pub fn import<'c>(ctx: &'c Context, text: &str, file: &str) -> Result<Module<'c>, Vec<Diag>> {
    let graph = graph::parse(text).map_err(|e| vec![to_diag(&e, file)])?;
    import_graph(ctx, &graph, file)
}

pub fn to_diag(e: &GraphError, file: &str) -> Diag {
    let mut d = match (&e.node, e.position) {
        (Some(n), _) => Diag::error(format!("{file}: node '{n}'"), e.message.clone()),
        (None, Some((line, column))) => {
            let mut d = Diag::error("", e.message.clone());
            d.loc = Some(mlir_support::SourceLoc { file: file.to_string(), line, column });
            d
        }
        (None, None) => Diag::error(file, e.message.clone()),
    };
    d.notes.clear();
    d
}

/// The value-form op that an `auto_functionalized` of `target` imports as.
pub fn value_op_for(target: &str) -> Option<(&'static OpDef, &'static OpDef)> {
    let t = vllm_dialect::table();
    let v = t.with_target(target).find(|o| !o.is_inplace() && o.inplace.is_some())?;
    let twin = t.get(v.inplace.as_deref()?)?;
    Some((v, twin))
}

/// Names of the arguments `v`'s in-place twin writes that the value form does
/// not read: pure output buffers.
fn out_only<'t>(v: &'t OpDef, twin: &'t OpDef) -> impl Iterator<Item = &'t str> {
    twin.operands.iter().filter(move |o| o.mutated && !v.operands.iter().any(|r| r.name == o.name)).map(|o| o.name.as_str())
}

fn wrapped_op<'g>(node: &'g Node) -> Option<&'g str> {
    node.args.first()?.tagged("op")
}

/// A getitem node's tuple and index.
fn getitem_source<'g>(node: &'g Node) -> Option<(NodeRef<'g>, i64)> {
    Some((node.args.first()?.as_ref()?, node.args.get(1)?.as_i64()?))
}

/// What `auto_functionalized_v2` passes for each written argument of
/// `twin`, in schema order: the index of its base in `_all_bases`, or
/// `None` for an optional one not given. `None` overall when the node is
/// not v2, or when a written argument is a view of its base (`_x_size`,
/// `_x_slice_dim`, ...) or the bases are not the written arguments in order:
/// forms the value op cannot express (kept opaque).
fn v2_bases(node: &Node, twin: &OpDef) -> Option<Vec<Option<usize>>> {
    if node.target != AUTO_FUNCTIONALIZED_V2 {
        return None;
    }
    let bases = node.kwarg("_all_bases")?.as_list()?;
    let written: Vec<&str> = twin.operands.iter().filter(|o| o.mutated).map(|o| o.name.as_str()).collect();
    let mut order = Vec::new();
    for w in &written {
        // A view of the base is described by more keys than its index.
        const VIEW_KEYS: &[&str] = &["size", "stride", "storage_offset", "slice_dim", "slice_start", "slice_end", "alias"];
        if VIEW_KEYS.iter().any(|v| node.kwarg(&format!("_{w}_{v}")).is_some()) {
            return None;
        }
        order.push(match node.kwarg(&format!("_{w}_base_index")) {
            Some(Arg::Null) | None => None,
            Some(a) => Some(usize::try_from(a.as_i64()?).ok()?),
        });
    }
    let given: Vec<usize> = order.iter().flatten().copied().collect();
    (given == (0..bases.len()).collect::<Vec<_>>()).then_some(order)
}

/// The value form an `auto_functionalized` node (v1, or v2 whose written
/// arguments are whole bases: `v2_bases`) imports as: the op, its in-place
/// twin and, for v2, each written argument's base. `None` when the node
/// stays opaque (no value form of the op, an argument the op does not have,
/// a written view of a base); the importer and `droppable` both ask here, so
/// an opaque node keeps its buffers.
#[allow(clippy::type_complexity)]
fn value_form(graph: &Graph, node: &Node) -> Option<(&'static OpDef, &'static OpDef, Option<Vec<Option<usize>>>)> {
    let v2 = node.target == AUTO_FUNCTIONALIZED_V2;
    if node.target != AUTO_FUNCTIONALIZED && !v2 {
        return None;
    }
    let (v, twin) = wrapped_op(node).and_then(value_op_for)?;
    let bases = if v2 { Some(v2_bases(node, twin)?) } else { None };
    let written = || twin.operands.iter().filter(|o| o.mutated);
    let v2_key = |k: &str| v2 && (k == "_all_bases" || written().any(|w| k == format!("_{}_base_index", w.name)));
    let unknown = |k: &str| twin.operands.iter().all(|o| o.name != k) && twin.attr(k).is_none() && !v2_key(k);
    // An opaque object where the op has a non-string attribute: the op cannot say
    // it. (A string one names the input: vLLM's hoisted `LayerName`, see `attr`.)
    let opaque_attr = |(k, a): &(std::borrow::Cow<str>, Arg)| {
        twin.attr(k).is_some_and(|d| d.kind != AttrKind::Str) && a.as_ref().is_some_and(|r| is_opaque_input(&graph.nodes[r.index]))
    };
    let untolerated = |(k, a): &(std::borrow::Cow<str>, Arg)| unknown(k) && !tolerated(twin, k, a);
    // A per-tensor scale where the op takes only one (vLLM main also passes per-token scales).
    let not_scalar =
        |(k, a): &(std::borrow::Cow<str>, Arg)| twin.scalars.iter().any(|s| s == k) && !a.as_ref().is_some_and(|r| one_element(graph, r));
    // A required operand given as None: vLLM main's norms take `Tensor? weight`
    // (a norm without one), which the op, as its kernels, does not model.
    let null_required = |(k, a): &(std::borrow::Cow<str>, Arg)| {
        matches!(a, Arg::Null) && twin.operands.iter().any(|o| o.name == *k && o.arity != Arity::Optional)
    };
    (node.args.len() == 1 && !node.kwargs.iter().any(|kv| untolerated(kv) || opaque_attr(kv) || not_scalar(kv) || null_required(kv)))
        .then_some((v, twin, bases))
}

/// Whether fix-functionalization can allocate the node's output-only
/// buffers anew as they were laid out: row-major, or as a transpose. A call
/// given one laid out otherwise (vLLM main's TMA-padded per-group scales,
/// whose kernel reads the layout from the strides) stays opaque.
fn buildable_outputs(node: &Node, v: &OpDef, twin: &OpDef, bases: Option<&[Option<usize>]>) -> bool {
    let written: Vec<&str> = twin.operands.iter().filter(|o| o.mutated).map(|o| o.name.as_str()).collect();
    let outs: Vec<usize> =
        out_only(v, twin).filter_map(|b| written.iter().position(|w| *w == b)).filter_map(|k| tuple_slot(bases, k)).collect();
    if outs.is_empty() || !meta_text(node).contains("stride") {
        return true;
    }
    let records: Vec<&serde_json::value::RawValue> = serde_json::from_str(meta_text(node)).unwrap_or_default();
    !outs.iter().any(|&i| records.get(i).is_some_and(|r| vllm_dialect::provenance::layout(r.get()) == Layout::Other))
}

/// The element of an `auto_functionalized` node's tuple that holds the new
/// value of the `k`-th written argument: `k + 1` (v1), or its base's (v2,
/// `bases`); none when a v2 call does not give it.
fn tuple_slot(bases: Option<&[Option<usize>]>, k: usize) -> Option<usize> {
    match bases {
        Some(b) => b.get(k).copied().flatten().map(|j| j + 1),
        None => Some(k + 1),
    }
}

/// Whether `arg` is what the table accepts for `def`'s tolerated argument
/// `name` (a later vLLM's argument the op does not model): None, or the
/// value that leaves the op's meaning unchanged.
fn tolerated(def: &OpDef, name: &str, arg: &Arg) -> bool {
    def.tolerated.iter().any(|(t, want)| t == name && (*arg == Arg::Null || is_literal(arg, want)))
}

/// Whether `arg` is the literal the table states.
fn is_literal(arg: &Arg, want: &vllm_dialect::spec::Literal) -> bool {
    use vllm_dialect::spec::Literal;
    match (arg, want) {
        (Arg::Bool(a), Literal::Bool(b)) => a == b,
        (Arg::Str(a), Literal::Str(b)) => a == b,
        (Arg::List(items), Literal::Ints(want)) => items.len() == want.len() && items.iter().zip(want).all(|(a, w)| a.as_i64() == Some(*w)),
        (a, Literal::Int(b)) => a.as_i64() == Some(*b),
        (a, Literal::Dtype { dtype }) => a.tagged("dtype") == Some(dtype.as_str()),
        _ => false,
    }
}

/// Whether the node `r` refers to holds one element (a per-tensor scale).
fn one_element(graph: &Graph, r: NodeRef) -> bool {
    matches!(&graph.nodes[r.index].val, Val::Tensor { shape, .. } if shape.iter().all(|d| *d == Some(1)))
}

/// An opaque input: a placeholder with a null value (the exporter's form of
/// an object torch hoisted into the graph's inputs, vLLM's `LayerName`).
fn is_opaque_input(n: &Node) -> bool {
    n.op == NodeOp::Placeholder && n.val == Val::None
}

/// Argument `name` of an `auto_functionalized` node (v1), or of a v2 one
/// whose written arguments are whole bases (`v2_bases`): the base itself.
fn af_kwarg<'n, 'g>(node: &'n Node<'g>, twin: &OpDef, name: &str) -> Option<&'n Arg<'g>> {
    if node.target == AUTO_FUNCTIONALIZED_V2 && twin.operands.iter().any(|o| o.mutated && o.name == name) {
        let i = usize::try_from(node.kwarg(&format!("_{name}_base_index"))?.as_i64()?).ok()?;
        return node.kwarg("_all_bases")?.as_list()?.get(i);
    }
    node.kwarg(name)
}

#[derive(Clone, Copy)]
enum Slot<'c, 'a> {
    Value(Value<'c, 'a>),
    /// A tuple: index into `Importer::tuples`.
    Tuple(usize),
    Nothing,
}

/// One element of a tuple result, as `meta.val` has it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Elem {
    /// `None`: no value (`auto_functionalized`'s own result).
    Absent,
    /// A tensor or an integer: one result.
    One,
    /// A list of tensors (a variadic result group among others, e.g.
    /// `fused_all_gather_matmul`'s `Tensor[]`): that many results, read with
    /// a getitem of a getitem.
    List(usize),
    /// `None` for a result the op has but PyTorch does not return
    /// (`returned_if`: `fused_all_gather_matmul`'s `gathered` with
    /// `return_A=False`): one result nothing reads.
    Unreturned,
}

/// Identifiers every op needs, made once.
struct Ids<'c> {
    meta: Identifier<'c>,
    args: Identifier<'c>,
    target: Identifier<'c>,
    opaque_args: Identifier<'c>,
    segments: Identifier<'c>,
    buffers: Identifier<'c>,
    getitems: Identifier<'c>,
}

struct Importer<'c, 'a, 'g> {
    ctx: &'c Context,
    ids: Ids<'c>,
    unknown: Location<'c>,
    graph: &'g Graph<'g>,
    /// What each node (by index) imported as; `None`: not (yet) imported.
    env: Vec<Option<Slot<'c, 'a>>>,
    /// The index of the node being imported.
    current: usize,
    /// The elements of each tuple (`None`: a None element).
    tuples: Vec<Vec<Slot<'c, 'a>>>,
    /// For each node, the getitem nodes that read its tuple: (index, name).
    getitems: Vec<Vec<(i64, &'g str)>>,
    /// Buffer nodes dropped in value form, by index.
    dropped: Vec<bool>,
    /// Functionalized nodes kept opaque for an output layout (`buildable_outputs`), by index.
    unbuildable: Vec<bool>,
}

/// `fx.args`: args and kwargs with each reference written as its operand
/// index, or as `{"buffer": name}` when it is not an operand.
struct EncodedArgs<'x, 'c, 'a, 'g> {
    imp: &'x Importer<'c, 'a, 'g>,
    node: &'x Node<'g>,
    operands: &'x [Value<'c, 'a>],
}

struct Encoded<'x, 'c, 'a, 'g> {
    imp: &'x Importer<'c, 'a, 'g>,
    arg: &'x Arg<'g>,
    operands: &'x [Value<'c, 'a>],
}

impl Serialize for Encoded<'_, '_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.arg {
            Arg::Node(name, index) => {
                let mut m = s.serialize_map(Some(1))?;
                let operand = match self.imp.env[*index] {
                    Some(Slot::Value(v)) => self.operands.iter().position(|o| *o == v),
                    _ => None,
                };
                match operand {
                    Some(i) => m.serialize_entry("operand", &i)?,
                    None => m.serialize_entry("buffer", name)?,
                }
                m.end()
            }
            Arg::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for arg in items {
                    seq.serialize_element(&Encoded { imp: self.imp, arg, operands: self.operands })?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

impl Serialize for EncodedArgs<'_, '_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Args<'y, 'x, 'c, 'a, 'g>(&'y EncodedArgs<'x, 'c, 'a, 'g>);
        impl Serialize for Args<'_, '_, '_, '_, '_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let e = self.0;
                let mut seq = s.serialize_seq(Some(e.node.args.len()))?;
                for arg in &e.node.args {
                    seq.serialize_element(&Encoded { imp: e.imp, arg, operands: e.operands })?;
                }
                seq.end()
            }
        }
        struct Kwargs<'y, 'x, 'c, 'a, 'g>(&'y EncodedArgs<'x, 'c, 'a, 'g>);
        impl Serialize for Kwargs<'_, '_, '_, '_, '_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let e = self.0;
                let mut m = s.serialize_map(Some(e.node.kwargs.len()))?;
                for (k, arg) in &e.node.kwargs {
                    m.serialize_entry(k, &Encoded { imp: e.imp, arg, operands: e.operands })?;
                }
                m.end()
            }
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("args", &Args(self))?;
        m.serialize_entry("kwargs", &Kwargs(self))?;
        m.end()
    }
}

/// `fx.buffers`: each dropped output buffer as its whole node, or a kept one
/// as a reference.
struct Buffers<'g>(Vec<(&'g str, Result<&'g Node<'g>, &'g Arg<'g>>)>);

impl Serialize for Buffers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (b, entry) in &self.0 {
            match entry {
                Ok(node) => m.serialize_entry(b, node)?,
                Err(reference) => m.serialize_entry(b, reference)?,
            }
        }
        m.end()
    }
}

type R<T> = Result<T, GraphError>;

impl<'c, 'a, 'g> Importer<'c, 'a, 'g> {
    fn id(&self, s: &str) -> Identifier<'c> {
        Identifier::new(self.ctx, s)
    }
    fn str_attr(&self, s: &str) -> Attribute<'c> {
        StringAttribute::new(self.ctx, s).into()
    }
    fn i64_type(&self) -> Type<'c> {
        IntegerType::new(self.ctx, 64).into()
    }

    fn value(&self, node: &Node, r: NodeRef) -> R<Value<'c, 'a>> {
        let r_name = r.name;
        match self.env[r.index] {
            Some(Slot::Value(v)) => Ok(v),
            Some(Slot::Tuple(_)) => {
                Err(GraphError::at(&node.name, format!("uses the tuple '{r_name}' directly; tuples are read with getitem")))
            }
            Some(Slot::Nothing) => Err(GraphError::at(&node.name, format!("uses '{r_name}', which produces no value"))),
            None => Err(GraphError::at(&node.name, format!("refers to '{r_name}', which was not imported"))),
        }
    }

    fn is_tensor(v: Value<'c, 'a>) -> bool {
        use mlir_support::melior::ir::ValueLike;
        v.r#type().is_ranked_tensor()
    }
    fn is_index(v: Value<'c, 'a>) -> bool {
        use mlir_support::melior::ir::ValueLike;
        v.r#type().is_index()
    }

    /// Result types from `meta.val`: a tensor, an integer, a tuple (its non-null
    /// elements), or nothing.
    fn result_types(&self, node: &Node) -> R<(Vec<Type<'c>>, Option<Vec<Elem>>)> {
        let one = |v: &Val| -> R<Type<'c>> {
            match v {
                Val::Tensor { shape, dtype } => tensor_type(self.ctx, shape, dtype).map_err(|e| GraphError::at(&node.name, e)),
                Val::Int => Ok(Type::index(self.ctx)),
                _ => Err(GraphError::at(&node.name, format!("meta.val {} is neither a tensor, an integer nor a tuple", meta_text(node)))),
            }
        };
        match &node.val {
            Val::None => Ok((vec![], None)),
            Val::Tuple(items) => {
                let mut types = Vec::new();
                let mut shape = Vec::new();
                for it in items {
                    shape.push(match it {
                        Val::None => Elem::Absent,
                        Val::Tuple(list) => {
                            for x in list {
                                types.push(one(x)?);
                            }
                            Elem::List(list.len())
                        }
                        it => {
                            types.push(one(it)?);
                            Elem::One
                        }
                    });
                }
                Ok((types, Some(shape)))
            }
            v => Ok((vec![one(v)?], None)),
        }
    }

    fn loc(&self, node: &Node) -> Location<'c> {
        Location::name(self.ctx, &node.name, self.unknown)
    }

    /// args/kwargs as JSON with every reference replaced by its operand index
    /// (or `{"buffer": name}` for a buffer that is not an operand).
    fn encode_args(&self, node: &Node<'g>, operands: &[Value<'c, 'a>]) -> String {
        serde_json::to_string(&EncodedArgs { imp: self, node, operands }).expect("JSON text of parsed values")
    }

    fn provenance(&self, node: &Node<'g>, operands: &[Value<'c, 'a>], with_args: bool) -> Vec<(Identifier<'c>, Attribute<'c>)> {
        let mut attrs = vec![];
        if let Some(text) = &node.val_text {
            attrs.push((self.ids.meta, self.str_attr(text)));
        }
        if with_args {
            attrs.push((self.ids.args, self.str_attr(&self.encode_args(node, operands))));
        }
        attrs
    }

    #[allow(clippy::too_many_arguments)] // one node's parts, as the importer has them at hand
    fn append(
        &mut self,
        block: &'a Block<'c>,
        node: &'g Node,
        name: &str,
        operands: &[Value<'c, 'a>],
        results: &[Type<'c>],
        mut attrs: Vec<(Identifier<'c>, Attribute<'c>)>,
        tuple: Option<Vec<Elem>>,
    ) -> R<()> {
        // `fx.getitems`: known before the op is built (setting it afterwards
        // would rebuild the op's attribute dictionary).
        if let Some(present) = &tuple
            && !self.getitems[self.current].is_empty()
        {
            let mut names = vec![""; present.len()];
            for &(i, name) in &self.getitems[self.current] {
                if let Some(slot) = usize::try_from(i).ok().and_then(|i| names.get_mut(i)) {
                    *slot = name;
                }
            }
            let names: Vec<Attribute> = names.iter().map(|g| self.str_attr(g)).collect();
            attrs.push((self.ids.getitems, ArrayAttribute::new(self.ctx, &names).into()));
        }
        let op = OperationBuilder::new(name, self.loc(node))
            .add_operands(operands)
            .add_results(results)
            .add_attributes(&attrs)
            .build()
            .map_err(|e| GraphError::at(&node.name, format!("cannot build {name}: {e}")))?;
        let op = block.append_operation(op);
        let values: Vec<Value<'c, 'a>> = (0..results.len()).filter_map(|i| op.result(i).ok().map(Into::into)).collect();
        let slot = match tuple {
            Some(shape) => {
                let mut it = values.into_iter();
                let mut elems = Vec::with_capacity(shape.len());
                for e in shape {
                    elems.push(match e {
                        Elem::Absent => Slot::Nothing,
                        Elem::Unreturned => {
                            it.next();
                            Slot::Nothing
                        }
                        Elem::One => it.next().map_or(Slot::Nothing, Slot::Value),
                        Elem::List(n) => {
                            let list = it.by_ref().take(n).map(Slot::Value).collect();
                            self.tuples.push(list);
                            Slot::Tuple(self.tuples.len() - 1)
                        }
                    });
                }
                self.tuples.push(elems);
                Slot::Tuple(self.tuples.len() - 1)
            }
            None => match values.as_slice() {
                [] => Slot::Nothing,
                [v] => Slot::Value(*v),
                _ => return Err(GraphError::at(&node.name, "produces several values without a tuple meta.val")),
            },
        };
        self.env[self.current] = Some(slot);
        Ok(())
    }

    /// The opaque op: nothing is lost.
    fn opaque(&mut self, block: &'a Block<'c>, node: &'g Node) -> R<()> {
        let mut operands = Vec::new();
        let mut refs = Vec::new();
        for v in node.arg_values() {
            v.for_each_ref(&mut |r| refs.push(r));
        }
        for r in refs {
            let v = self.value(node, r)?;
            if !operands.contains(&v) {
                operands.push(v);
            }
        }
        let (results, tuple) = self.result_types(node)?;
        let mut attrs =
            vec![(self.ids.target, self.str_attr(&node.target)), (self.ids.opaque_args, self.str_attr(&self.encode_args(node, &operands)))];
        attrs.extend(self.provenance(node, &operands, false));
        self.append(block, node, "torch.operator", &operands, &results, attrs, tuple)
    }

    fn scalar_attr(&self, v: &Arg) -> Option<Attribute<'c>> {
        match v {
            Arg::Bool(b) => Some(BoolAttribute::new(self.ctx, *b).into()),
            Arg::Num(n) if n.is_i64() => Some(IntegerAttribute::new(self.i64_type(), n.as_i64()?).into()),
            Arg::Num(n) => Some(FloatAttribute::new(self.ctx, Type::float64(self.ctx), n.as_f64()?).into()),
            Arg::Tagged("float", s) => {
                let x = match &**s {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    "nan" => f64::NAN,
                    _ => return None,
                };
                Some(FloatAttribute::new(self.ctx, Type::float64(self.ctx), x).into())
            }
            _ => None,
        }
    }

    /// One integer that may be symbolic (a reference to an `index` value).
    fn int_or_sym(&self, node: &Node, v: &Arg, dyns: &mut Vec<Value<'c, 'a>>) -> Option<i64> {
        if let Some(i) = v.as_i64() {
            return Some(i);
        }
        let val = self.value(node, v.as_ref()?).ok()?;
        if !Self::is_index(val) {
            return None;
        }
        dyns.push(val);
        Some(K_DYNAMIC)
    }

    /// Converts an argument to an attribute of `kind`; `None` if it does not fit.
    fn attr(&self, node: &Node, def: &AttrDef, v: Option<&Arg>, dyns: &mut Vec<Value<'c, 'a>>) -> Option<Attribute<'c>> {
        let default;
        let v = match v {
            Some(Arg::Null) | None => {
                default = toml_default(def.default.as_deref()?)?;
                &default
            }
            Some(v) => v,
        };
        Some(match def.kind {
            AttrKind::F64 => {
                let x = match v {
                    Arg::Num(n) => n.as_f64()?,
                    Arg::Tagged(..) => FloatAttribute::try_from(self.scalar_attr(v)?).ok()?.value(),
                    _ => return None,
                };
                FloatAttribute::new(self.ctx, Type::float64(self.ctx), x).into()
            }
            AttrKind::I64 => IntegerAttribute::new(self.i64_type(), self.int_or_sym(node, v, dyns)?).into(),
            AttrKind::Bool => match v {
                Arg::Bool(b) => BoolAttribute::new(self.ctx, *b).into(),
                _ => return None,
            },
            // A string, or the opaque graph input that carries it (vLLM's hoisted
            // `LayerName`): a flat symbol reference to that placeholder, `@arg4_1`.
            AttrKind::Str => match v.as_ref() {
                Some(r) if is_opaque_input(&self.graph.nodes[r.index]) => FlatSymbolRefAttribute::new(self.ctx, r.name).into(),
                _ => StringAttribute::new(self.ctx, v.as_str()?).into(),
            },
            AttrKind::I64Array => {
                let items = match v {
                    Arg::List(items) => items.as_slice(),
                    single => std::slice::from_ref(single), // `int[1]` accepts a bare int
                };
                let mut xs = Vec::with_capacity(items.len());
                for it in items {
                    xs.push(self.int_or_sym(node, it, dyns)?);
                }
                DenseI64ArrayAttribute::new(self.ctx, &xs).into()
            }
            AttrKind::Type => TypeAttribute::new(element_type(self.ctx, v.tagged("dtype")?)?).into(),
            AttrKind::Scalar => self.scalar_attr(v)?,
            AttrKind::List => {
                let items = v.as_list()?;
                let mut xs = Vec::with_capacity(items.len());
                for it in items {
                    xs.push(match it {
                        Arg::Null => Attribute::unit(self.ctx),
                        Arg::Bool(b) => BoolAttribute::new(self.ctx, *b).into(),
                        Arg::Tagged("dtype", d) => TypeAttribute::new(element_type(self.ctx, d)?).into(),
                        _ => return None,
                    });
                }
                ArrayAttribute::new(self.ctx, &xs).into()
            }
        })
    }

    /// Tries to import `node` as ATen op `def`; `None` when its arguments do
    /// not fit (the caller then tries the next candidate or the opaque op).
    /// Operands, attributes and operand group sizes of `node` read as `def`.
    #[allow(clippy::type_complexity)]
    fn try_aten(
        &mut self,
        node: &'g Node,
        def: &'static OpDef,
    ) -> Option<(Vec<Value<'c, 'a>>, Vec<(Identifier<'c>, Attribute<'c>)>, Vec<i32>)> {
        let tensor_decls: Vec<_> = def.operands.iter().filter(|o| o.class != ValueClass::Index).collect();
        let has_dyn = def.operands.iter().any(|o| o.class == ValueClass::Index);
        // Schema order; keyword-only arguments (after the schema's `*`) take no slot.
        let positional = def.positional();
        // Positional arguments past the modeled ones: later vLLMs' tolerated ones.
        if node.args.len() > positional.len() + def.tolerated.len()
            || node.args.iter().skip(positional.len()).zip(&def.tolerated).any(|(a, (t, _))| !tolerated(def, t, a))
        {
            return None;
        }
        let param = |name: &str| -> Option<&'g Arg<'g>> {
            positional.iter().position(|p| *p == name).and_then(|i| node.args.get(i)).or_else(|| node.kwarg(name))
        };
        for (k, a) in &node.kwargs {
            let known = tensor_decls.iter().any(|d| d.name == *k) || def.attr(k).is_some();
            if !known && !PLACEMENT_KWARGS.contains(&&**k) && !tolerated(def, k, a) {
                return None;
            }
        }
        let mut operands = Vec::new();
        let mut segments = Vec::new();
        for d in &tensor_decls {
            let before = operands.len();
            match (param(&d.name), d.arity) {
                (Some(v), Arity::Variadic) => {
                    for it in v.as_list()? {
                        let val = self.value(node, it.as_ref()?).ok()?;
                        Self::is_tensor(val).then_some(())?;
                        operands.push(val);
                    }
                }
                (Some(Arg::Null) | None, Arity::Optional) => {}
                (Some(v), _) => {
                    let r = v.as_ref()?;
                    if def.scalars.contains(&d.name) && !one_element(self.graph, r) {
                        return None;
                    }
                    let val = self.value(node, r).ok()?;
                    Self::is_tensor(val).then_some(())?;
                    operands.push(val);
                }
                (None, _) => return None,
            }
            segments.push((operands.len() - before) as i32);
        }
        let mut dyns = Vec::new();
        let mut attrs = Vec::new();
        for a in &def.attrs {
            let v = param(&a.name);
            if absent_optional(def, a, v) {
                continue;
            }
            attrs.push((self.id(&a.name), self.attr(node, a, v, &mut dyns)?));
        }
        if !dyns.is_empty() && !has_dyn {
            return None;
        }
        if has_dyn {
            segments.push(dyns.len() as i32);
        }
        operands.extend(dyns);
        Some((operands, attrs, segments))
    }

    /// The result PyTorch returns as None when a bool attribute is false
    /// (`returned_if`) still is one of the op's results: typed as operand
    /// 0's element type and rank, every size unknown (nothing reads it).
    fn unreturned_result(
        &self,
        def: &OpDef,
        operands: &[Value<'c, 'a>],
        attrs: &[(Identifier<'c>, Attribute<'c>)],
        results: &mut Vec<Type<'c>>,
        tuple: &mut Option<Vec<Elem>>,
    ) {
        let Some((result, attr)) = &def.returned_if else { return };
        let off = attrs.iter().any(|(id, a)| *id == self.id(attr) && BoolAttribute::try_from(*a).is_ok_and(|b| !b.value()));
        let Some(slot) = def.results.iter().position(|r| &r.name == result) else { return };
        let Some(shape) = tuple.as_mut().filter(|t| off && t.get(slot) == Some(&Elem::Absent)) else { return };
        use mlir_support::melior::ir::{ShapedTypeLike, ValueLike, r#type::RankedTensorType};
        let Some(x) = operands.first().and_then(|v| mlir_support::ir::ranked_tensor(v.r#type())) else { return };
        let t = RankedTensorType::new(&vec![K_DYNAMIC as u64; x.rank()], x.element(), None);
        // Results before the slot: one per One, n per List.
        let at: usize = shape[..slot]
            .iter()
            .map(|e| match e {
                Elem::One | Elem::Unreturned => 1,
                Elem::List(n) => *n,
                Elem::Absent => 0,
            })
            .sum();
        results.insert(at.min(results.len()), t.into());
        shape[slot] = Elem::Unreturned;
    }

    /// A functional call (`torch.ops.vllm_ir.rms_norm.default(x, weight, eps)`:
    /// vLLM main's IR norms and quants, functional overloads) as the value-form
    /// op that stands for it (`functional` in the table), marked with
    /// `fx.functional` so that it stays
    /// functional and exports back as the call. `false` (opaque) when no op
    /// models the call: a parameter none models is given (`variance_size`),
    /// a `fixed` one differs (`per_token`, the FP8 dtype), a `scalars`
    /// operand has more than one element, a norm's weight is None or of
    /// another dtype than its input (the IR op then multiplies before
    /// rounding, which the kernels do not), or the results disagree.
    fn functional_call(&mut self, block: &'a Block<'c>, node: &'g Node) -> R<bool> {
        for def in vllm_dialect::table().with_functional_target(&node.target) {
            if let Some((operands, attrs)) = self.functional_bind(node, def)? {
                let (results, tuple) = self.result_types(node)?;
                if results.len() != def.results.len() {
                    continue;
                }
                let mut attrs = attrs;
                attrs.extend(self.provenance(node, &operands, true));
                attrs.push((self.id(vllm_dialect::provenance::FUNCTIONAL), self.str_attr(&node.target)));
                self.append(block, node, &def.name, &operands, &results, attrs, tuple)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The operands (declaration order) and attributes of `def` that the
    /// functional call `node` binds, or `None` when `def` does not model it.
    #[allow(clippy::type_complexity)]
    fn functional_bind(
        &self,
        node: &'g Node,
        def: &'static OpDef,
    ) -> R<Option<(Vec<Value<'c, 'a>>, Vec<(Identifier<'c>, Attribute<'c>)>)>> {
        use mlir_support::melior::ir::{ShapedTypeLike, ValueLike};
        let Some(form) = def.functional.as_ref() else { return Ok(None) };
        if node.args.len() > form.params.len() || node.kwargs.iter().any(|(k, _)| !form.params.iter().any(|p| p == k)) {
            return Ok(None);
        }
        let given = |p: &str| -> Option<&'g Arg<'g>> {
            let i = form.params.iter().position(|q| q == p)?;
            node.args.get(i).or_else(|| node.kwarg(p))
        };
        let param_of = |name: &str| form.params.iter().find(|p| form.bound_name(p) == name).map(String::as_str);
        for p in &form.params {
            let name = form.bound_name(p);
            let modeled = def.operands.iter().any(|d| d.name == name) || def.attr(name).is_some();
            let ok = match (form.fixed.get(p), given(p)) {
                _ if modeled => true,
                (Some(want), Some(a)) => is_literal(a, want),
                (Some(_), None) => false,
                (None, a) => matches!(a, None | Some(Arg::Null)),
            };
            if !ok {
                return Ok(None);
            }
        }
        let mut operands = Vec::new();
        let mut named = Vec::new();
        let mut segments = Vec::new();
        for d in &def.operands {
            match (param_of(&d.name).and_then(given), d.arity) {
                (None | Some(Arg::Null), Arity::Optional) => segments.push(0),
                (Some(a), Arity::One | Arity::Optional) => {
                    let Some(r) = a.as_ref() else { return Ok(None) };
                    let v = self.value(node, r)?;
                    if !Self::is_tensor(v) {
                        return Ok(None);
                    }
                    if form.scalars.contains(&d.name) && !one_element(self.graph, r) {
                        return Ok(None);
                    }
                    operands.push(v);
                    named.push((d.name.as_str(), v));
                    segments.push(1);
                }
                _ => return Ok(None),
            }
        }
        // A norm's weight of the input's element type (the kernels' rounding).
        if let Some(w) = &def.row_weight {
            let elem = |name: &str| {
                let v = named.iter().find(|(n, _)| *n == name)?.1;
                Some(mlir_support::ir::type_string(mlir_support::ir::ranked_tensor(v.r#type())?.element()).into_owned())
            };
            if elem(w) != elem(&def.operands[0].name) {
                return Ok(None);
            }
        }
        let mut attrs = Vec::new();
        let mut dyns = Vec::new();
        for a in &def.attrs {
            let v = param_of(&a.name).and_then(given);
            if absent_optional(def, a, v) {
                continue;
            }
            let Some(attr) = self.attr(node, a, v, &mut dyns) else { return Ok(None) };
            attrs.push((self.id(&a.name), attr));
        }
        if !dyns.is_empty() {
            return Ok(None);
        }
        if def.needs_operand_segments() {
            attrs.push((self.ids.segments, DenseI32ArrayAttribute::new(self.ctx, &segments).into()));
        }
        Ok(Some((operands, attrs)))
    }

    fn aten(&mut self, block: &'a Block<'c>, node: &'g Node) -> R<bool> {
        if self.functional_call(block, node)? {
            return Ok(true);
        }
        // Value forms with an in-place twin come through auto_functionalized; a
        // plain call of such a target is the in-place form (vLLM's graph after
        // its FixFunctionalizationPass, or our own export of one).
        let candidates = vllm_dialect::table().with_target(&node.target).filter(|o| o.inplace.is_none());
        for def in candidates {
            let Some((operands, mut attrs, segments)) = self.try_aten(node, def) else { continue };
            let (mut results, mut tuple) = self.result_types(node)?;
            if def.is_inplace() && !results.is_empty() {
                continue;
            }
            self.unreturned_result(def, &operands, &attrs, &mut results, &mut tuple);
            if def.needs_operand_segments() {
                attrs.push((self.ids.segments, DenseI32ArrayAttribute::new(self.ctx, &segments).into()));
            }
            attrs.extend(self.provenance(node, &operands, true));
            self.append(block, node, &def.name, &operands, &results, attrs, tuple)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn auto_functionalized(&mut self, block: &'a Block<'c>, node: &'g Node) -> R<bool> {
        let Some(target) = wrapped_op(node) else {
            return Err(GraphError::at(&node.name, "auto_functionalized needs the op it wraps as its first argument ({\"op\": ...})"));
        };
        let Some((v, twin, bases)) = value_form(self.graph, node) else { return Ok(false) };
        if self.unbuildable[self.current] {
            return Ok(false);
        }
        let Val::Tuple(meta) = &node.val else {
            return Err(GraphError::at(&node.name, "auto_functionalized needs a tuple meta.val"));
        };
        let written: Vec<_> = twin.operands.iter().filter(|o| o.mutated).collect();
        let slot_of = |k: usize| tuple_slot(bases.as_deref(), k);
        let expected = bases.as_ref().map_or(written.len(), |b| b.iter().flatten().count()) + 1;
        if meta.len() != expected {
            return Err(GraphError::at(
                &node.name,
                format!(
                    "auto_functionalized of {target}: meta.val has {} elements, expected {} (None, then {})",
                    meta.len(),
                    expected,
                    written.iter().map(|w| w.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let kwarg = |name: &str| af_kwarg(node, twin, name);
        let mut operands = Vec::new();
        let mut segments = Vec::new();
        for d in &v.operands {
            let given = kwarg(&d.name);
            match (given, given.and_then(Arg::as_ref), d.arity) {
                (Some(Arg::Null) | None, _, Arity::Optional) => segments.push(0),
                (_, Some(r), _) => {
                    operands.push(self.value(node, r)?);
                    segments.push(1);
                }
                _ => return Err(GraphError::at(&node.name, format!("{target}: argument '{}' must be a tensor node", d.name))),
            }
        }
        let mut attrs = Vec::new();
        let mut dyns = Vec::new();
        for a in &v.attrs {
            if absent_optional(v, a, node.kwarg(&a.name)) {
                continue;
            }
            let attr = self
                .attr(node, a, node.kwarg(&a.name), &mut dyns)
                .ok_or_else(|| GraphError::at(&node.name, format!("{target}: argument '{}' must be {}", a.name, a.kind.describe())))?;
            attrs.push((self.id(&a.name), attr));
        }
        if v.needs_operand_segments() {
            attrs.push((self.ids.segments, DenseI32ArrayAttribute::new(self.ctx, &segments).into()));
        }
        let mut results = Vec::new();
        let mut present = vec![Elem::Absent];
        let mut result_segments = Vec::new();
        for (k, w) in written.iter().enumerate() {
            let slot = slot_of(k);
            let m = slot.map_or(&Val::None, |i| &meta[i]);
            result_segments.push(i32::from(*m != Val::None));
            if *m == Val::None {
                if w.arity != Arity::Optional {
                    return Err(GraphError::at(&node.name, format!("{target}: meta.val[{}] ('{}') is None", k + 1, w.name)));
                }
                // v2 has no element for an argument not given.
                if slot.is_some() {
                    present.push(Elem::Absent);
                }
            } else {
                let Val::Tensor { shape, dtype } = m else {
                    return Err(GraphError::at(&node.name, format!("{target}: meta.val[{}] ('{}') is not a tensor", k + 1, w.name)));
                };
                results.push(tensor_type(self.ctx, shape, dtype).map_err(|e| GraphError::at(&node.name, e))?);
                present.push(Elem::One);
            }
        }
        if v.needs_result_segments() {
            attrs.push((self.id("resultSegmentSizes"), DenseI32ArrayAttribute::new(self.ctx, &result_segments).into()));
        }
        // Output-only buffers: dropped when this is their only use.
        let mut buffers = Vec::new();
        for b in out_only(v, twin) {
            if let Some(arg) = kwarg(b)
                && let Some(r) = arg.as_ref()
            {
                let entry = if self.dropped[r.index] { Ok(&self.graph.nodes[r.index]) } else { Err(arg) };
                buffers.push((b, entry));
            }
        }
        attrs.extend(self.provenance(node, &operands, true));
        if bases.is_some() {
            attrs.push((self.id(FX_TARGET), self.str_attr(AUTO_FUNCTIONALIZED_V2)));
        }
        if !buffers.is_empty() {
            let text = serde_json::to_string(&Buffers(buffers)).expect("JSON text of parsed values");
            attrs.push((self.ids.buffers, self.str_attr(&text)));
        }
        self.append(block, node, &v.name, &operands, &results, attrs, Some(present))?;
        Ok(true)
    }

    fn getitem(&mut self, node: &'g Node) -> R<()> {
        let Some((src_ref, i)) = getitem_source(node) else {
            return Err(GraphError::at(&node.name, "getitem takes a node and an integer index"));
        };
        let src = src_ref.name;
        let Some(Slot::Tuple(t)) = self.env[src_ref.index] else {
            return Err(GraphError::at(&node.name, format!("getitem of '{src}', which is not a tuple")));
        };
        let tuple = &self.tuples[t];
        let len = tuple.len();
        let idx = usize::try_from(i)
            .ok()
            .filter(|&x| x < len)
            .ok_or_else(|| GraphError::at(&node.name, format!("getitem index {i} is out of range: '{src}' has {len} elements")))?;
        let v = match tuple[idx] {
            Slot::Value(v) => v,
            // A list inside the tuple: read by getitems of this getitem.
            list @ Slot::Tuple(_) => {
                self.env[self.current] = Some(list);
                return Ok(());
            }
            // Element 0 of `auto_functionalized` (the op's own `None`): make_fx
            // writes a getitem for it that nothing reads. A reader is an error there.
            Slot::Nothing => {
                self.env[self.current] = Some(Slot::Nothing);
                return Ok(());
            }
        };
        if let Val::Tensor { shape, dtype } = &node.val {
            let expected = tensor_type(self.ctx, shape, dtype);
            use mlir_support::melior::ir::ValueLike;
            let expected = expected.map_err(|e| GraphError::at(&node.name, e))?;
            if expected != v.r#type() {
                return Err(GraphError::at(
                    &node.name,
                    format!("getitem's meta.val ({expected}) contradicts element {idx} of '{src}' ({})", v.r#type()),
                ));
            }
        }
        self.env[self.current] = Some(Slot::Value(v));
        Ok(())
    }
}

/// `meta.val` as text, `null` when there is none.
fn meta_text<'n>(n: &'n Node) -> &'n str {
    n.val_text.as_deref().unwrap_or("null")
}

/// An optional attribute (`omit_if_absent`) the call does not pass: the
/// schema of a vLLM that lacks the argument. The op then lacks it too.
fn absent_optional(def: &OpDef, a: &AttrDef, given: Option<&Arg>) -> bool {
    // An attribute of ours (`internal`) is never an argument of vLLM's call.
    def.is_internal(&a.name) || matches!(given, None | Some(Arg::Null)) && def.optional_attr(&a.name)
}

fn toml_default(text: &str) -> Option<Arg<'static>> {
    match text {
        "true" => Some(Arg::Bool(true)),
        "false" => Some(Arg::Bool(false)),
        t => t
            .parse::<i64>()
            .ok()
            .map(|x| Arg::Num(x.into()))
            .or_else(|| t.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map(Arg::Num)),
    }
}

/// For each node, the getitem nodes that read it: (index, name), in order
/// (a later getitem of the same index wins, as it did when set one by one).
fn getitems<'g>(graph: &'g Graph<'g>) -> Vec<Vec<(i64, &'g str)>> {
    let mut out = vec![Vec::new(); graph.nodes.len()];
    for n in graph.nodes.iter().filter(|n| n.op == NodeOp::CallFunction && n.target == GETITEM) {
        if let Some((src, i)) = getitem_source(n) {
            out[src.index].push((i, &*n.name));
        }
    }
    out
}

/// By node index: the buffer nodes that the value form drops (allocations
/// whose only use is as an output-only argument of a functionalized op we
/// model), and the functionalized nodes that stay opaque because an output
/// buffer's layout is one fix-functionalization cannot rebuild.
fn droppable(graph: &Graph) -> (Vec<bool>, Vec<bool>) {
    let mut uses = vec![0u32; graph.nodes.len()];
    let mut out_uses = vec![0u32; graph.nodes.len()];
    let mut unbuildable = vec![false; graph.nodes.len()];
    for (i, n) in graph.nodes.iter().enumerate() {
        for v in n.arg_values() {
            v.for_each_ref(&mut |r| uses[r.index] += 1);
        }
        if let Some((v, twin, bases)) = value_form(graph, n) {
            if !buildable_outputs(n, v, twin, bases.as_deref()) {
                unbuildable[i] = true;
                continue;
            }
            for r in out_only(v, twin).filter_map(|b| af_kwarg(n, twin, b).and_then(Arg::as_ref)) {
                out_uses[r.index] += 1;
            }
        }
    }
    let dropped =
        graph.nodes.iter().enumerate().map(|(i, n)| ALLOCATIONS.contains(&&*n.target) && uses[i] == 1 && out_uses[i] == 1).collect();
    (dropped, unbuildable)
}

pub fn import_graph<'c>(ctx: &'c Context, graph: &Graph, file: &str) -> Result<Module<'c>, Vec<Diag>> {
    let err = |e: GraphError| vec![to_diag(&e, file)];
    let unknown = Location::unknown(ctx);
    // Arguments: placeholders and get_attrs, in order.
    let mut arg_types = Vec::new();
    let mut arg_attrs = Vec::new();
    let inputs: Vec<(usize, &Node)> =
        graph.nodes.iter().enumerate().filter(|(_, n)| matches!(n.op, NodeOp::Placeholder | NodeOp::GetAttr)).collect();
    for (_, n) in &inputs {
        let t = match &n.val {
            Val::Tensor { shape, dtype } => tensor_type(ctx, shape, dtype).map_err(|e| err(GraphError::at(&n.name, e)))?,
            Val::Int => Type::index(ctx),
            // An opaque input (torch >= 2.11 hoists vLLM's `LayerName` objects into
            // placeholders; the exporter records them with a null value): `none`,
            // passed through to the ops that take it, which stay opaque.
            Val::None if n.op == NodeOp::Placeholder => Type::none(ctx),
            // A module attribute with no value: a subgraph (the body of a
            // higher-order op such as Inductor's `control_deps`, which
            // torch >= 2.12 wraps ops in to keep an order), which the format
            // does not carry.
            Val::None if n.op == NodeOp::GetAttr => {
                let msg = "a get_attr without a tensor value (a subgraph, as Inductor's control_deps or another higher-order op reads one) is not supported";
                return Err(err(GraphError::at(&n.name, msg.to_string())));
            }
            _ => {
                let msg = format!("an input's meta.val must be a tensor, an integer or null (an opaque object), got {}", meta_text(n));
                return Err(err(GraphError::at(&n.name, msg)));
            }
        };
        arg_types.push(t);
        let mut d = vec![
            (Identifier::new(ctx, "fx.name"), StringAttribute::new(ctx, &n.name).into()),
            (Identifier::new(ctx, "fx.meta"), StringAttribute::new(ctx, meta_text(n)).into()),
        ];
        if n.op == NodeOp::GetAttr || n.target != n.name {
            d.push((Identifier::new(ctx, "fx.target"), StringAttribute::new(ctx, &n.target).into()));
        }
        if n.op == NodeOp::GetAttr {
            d.push((Identifier::new(ctx, "fx.op"), StringAttribute::new(ctx, "get_attr").into()));
        }
        arg_attrs.push(Attribute::from(DictionaryAttribute::new(ctx, &d)));
    }
    let (dropped, unbuildable) = droppable(graph);
    let block =
        Block::new(&arg_types.iter().zip(&inputs).map(|(t, (_, n))| (*t, Location::name(ctx, &n.name, unknown))).collect::<Vec<_>>());
    let id = |s: &str| Identifier::new(ctx, s);
    let mut imp = Importer {
        ctx,
        ids: Ids {
            meta: id("fx.meta"),
            args: id("fx.args"),
            target: id("target"),
            opaque_args: id("fx_args"),
            segments: id("operandSegmentSizes"),
            buffers: id("fx.buffers"),
            getitems: id("fx.getitems"),
        },
        unknown,
        graph,
        env: vec![None; graph.nodes.len()],
        current: 0,
        tuples: Vec::new(),
        getitems: getitems(graph),
        dropped,
        unbuildable,
    };
    let mut result_types = Vec::new();
    let mut output_name = "output".to_string();
    {
        let block_ref = &block;
        for (i, (index, n)) in inputs.iter().enumerate() {
            let v = block_ref.argument(i).map_err(|e| err(GraphError::at(&n.name, e.to_string())))?;
            imp.env[*index] = Some(Slot::Value(v.into()));
        }
        for (index, n) in graph.nodes.iter().enumerate() {
            imp.current = index;
            let r = match n.op {
                NodeOp::Placeholder | NodeOp::GetAttr => Ok(()),
                NodeOp::Output => {
                    let outs = n.args[0].as_list().unwrap_or_default();
                    let mut values = Vec::new();
                    for (k, o) in outs.iter().enumerate() {
                        let r = o.as_ref().ok_or_else(|| err(GraphError::at(&n.name, format!("output #{k} is {o}, not a node"))))?;
                        values.push(imp.value(n, r).map_err(err)?);
                    }
                    use mlir_support::melior::ir::ValueLike;
                    result_types = values.iter().map(|v| v.r#type()).collect();
                    output_name = n.name.to_string();
                    block_ref.append_operation(func::r#return(&values, Location::name(ctx, &n.name, unknown)));
                    break;
                }
                NodeOp::CallFunction if imp.dropped[index] => Ok(()),
                NodeOp::CallFunction if n.target == GETITEM => imp.getitem(n),
                NodeOp::CallFunction if n.target == AUTO_FUNCTIONALIZED || n.target == AUTO_FUNCTIONALIZED_V2 => {
                    match imp.auto_functionalized(block_ref, n) {
                        Ok(true) => Ok(()),
                        Ok(false) => imp.opaque(block_ref, n),
                        Err(e) => Err(e),
                    }
                }
                NodeOp::CallFunction => match imp.aten(block_ref, n) {
                    Ok(true) => Ok(()),
                    Ok(false) => imp.opaque(block_ref, n),
                    Err(e) => Err(e),
                },
            };
            r.map_err(err)?;
        }
    }
    let region = Region::new();
    region.append_block(block);
    let fn_type = FunctionType::new(ctx, &arg_types, &result_types);
    let func_op = func::func(
        ctx,
        StringAttribute::new(ctx, &graph.name),
        TypeAttribute::new(fn_type.into()),
        region,
        &[
            (Identifier::new(ctx, "arg_attrs"), ArrayAttribute::new(ctx, &arg_attrs).into()),
            (Identifier::new(ctx, "fx.output"), StringAttribute::new(ctx, &output_name).into()),
        ],
        Location::name(ctx, &graph.name, unknown),
    );
    let mut module = Module::new(Location::new(ctx, file, 1, 1));
    module.body().append_operation(func_op);
    let symbols: Vec<(Identifier, Attribute)> = graph
        .symbols
        .iter()
        .map(|(name, s)| {
            let mut b = Vec::new();
            if let Some(min) = s.min {
                b.push((Identifier::new(ctx, "min"), mlir_support::ir::i64_attr(ctx, min)));
            }
            if let Some(max) = s.max {
                b.push((Identifier::new(ctx, "max"), mlir_support::ir::i64_attr(ctx, max)));
            }
            (Identifier::new(ctx, name), DictionaryAttribute::new(ctx, &b).into())
        })
        .collect();
    let mut m = module.as_operation_mut();
    m.set_attribute("torch.symbols", DictionaryAttribute::new(ctx, &symbols).into());
    if !graph.extra.is_empty() {
        m.set_attribute(
            "fx.graph",
            StringAttribute::new(ctx, &serde_json::to_string(&graph.extra).expect("JSON text of parsed values")).into(),
        );
    }
    let capture = DiagnosticCapture::attach(ctx);
    let ok = module.as_operation().verify();
    let diags = capture.take();
    if !ok {
        return Err(diags
            .into_iter()
            .map(|mut d| {
                if d.loc.is_none() {
                    d.loc_label = format!("{file}: {}", d.loc_label);
                }
                d.notes.retain(|n| !n.message.starts_with("see current operation"));
                d
            })
            .collect());
    }
    Ok(module)
}
