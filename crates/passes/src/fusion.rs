//! The fusion rule engine: short declarative rules over a root op and the
//! producer of one of its operands (docs/writing-fusion-rules.md).
//!
//! A [`Rule`] names its root, the root operand that must come from the
//! producer, the producer and which of its results, the constraints, and the
//! replacement: the fused op with operands, attributes and which old values
//! its results replace. [`apply`] runs a set of rules over a function body.
//! A rule rewrites only when every constraint holds, and never moves a use
//! above its definition.
use mlir_support::{
    ir,
    melior::{
        Context,
        ir::{
            Attribute, BlockLike, BlockRef, Identifier, Location, RegionLike, Type, Value, ValueLike,
            attribute::{DenseI32ArrayAttribute, StringAttribute},
            operation::{OperationBuilder, OperationLike, OperationRef},
        },
    },
};
use vllm_dialect::provenance;
use vllm_dialect::verify::{named_operands, named_results};

/// `aten.sym_size(like, dim)`, inserted before `before`: a dynamic size for a
/// new buffer shaped like `like`.
pub(crate) fn sym_size<'c: 'a, 'a>(
    ctx: &'c Context,
    block: BlockRef<'c, 'a>,
    before: OperationRef<'c, 'a>,
    like: Value<'c, 'a>,
    dim: usize,
) -> Option<Value<'c, 'a>> {
    let op = OperationBuilder::new("aten.sym_size", before.location())
        .add_operands(&[like])
        .add_results(&[Type::index(ctx)])
        .add_attributes(&[ir::named(ctx, "dim", ir::i64_attr(ctx, dim as i64))])
        .build()
        .ok()?;
    Some(block.insert_operation_before(before, op).result(0).ok()?.into())
}

/// The option every rule-based pass takes: explain, as remarks, what each
/// rule did at one FX node (`VLLM_OPT_DEBUG=<node>` sets it).
pub const DEBUG_NODE: mlir_support::pass::PassOption = mlir_support::pass::PassOption {
    name: "debug-node",
    description: "Explain (as remarks) why each rule did or did not fuse at this FX node",
    default: "",
};

/// The PyTorch targets (comma-separated) of ops the running vLLM lacks: a
/// rule whose fused op would be one does not fire (the pipeline's
/// `unavailable_ops`).
pub const UNAVAILABLE_OPS: mlir_support::pass::PassOption = mlir_support::pass::PassOption {
    name: "unavailable-ops",
    description: "PyTorch targets (comma-separated) the running vLLM lacks: no rule writes one",
    default: "",
};

/// The PyTorch targets (comma-separated) of fused ops whose kernel, in the
/// running vLLM, takes only contiguous input: a rule whose fused op would be
/// one does not fire where its `input` is recorded strided (the pipeline's
/// `contiguous_input_ops`; vLLM before PR 36551, March 2026, checks
/// `input.is_contiguous()` in its per-token and per-block norm kernels,
/// where a norm of a slice, DeepSeek's `q_a_layernorm`, has rows apart).
pub const CONTIGUOUS_INPUT_OPS: mlir_support::pass::PassOption = mlir_support::pass::PassOption {
    name: "contiguous-input-ops",
    description: "PyTorch targets (comma-separated) whose kernel takes only contiguous input: no rule writes one on strided input",
    default: "",
};

/// The PyTorch target a fused op is written back as: its in-place twin's
/// (what fix-functionalization leaves), else its own.
pub fn exported_target(op: &str) -> Option<&'static str> {
    let target = vllm_dialect::inplace_form(vllm_dialect::op(op)?).target.as_str();
    Some(target).filter(|t| !t.is_empty())
}

/// Whether `item` is one of the entries of `list`, a comma-separated option
/// value (`unavailable-ops`, `contiguous-input-ops`, the attention layer lists).
pub fn listed(list: &str, item: &str) -> bool {
    list.split(',').any(|entry| entry == item)
}

/// Why the op named `fused` may not be written: its target is in
/// `unavailable` (an `unavailable-ops` option's value).
pub fn unavailable(fused: &str, unavailable: &str) -> Option<String> {
    let target = exported_target(fused)?;
    listed(unavailable, target).then(|| format!("{target} is not in the running vLLM (unavailable-ops)"))
}

/// Why the match's fused op may not take its `input` here: the op is in
/// `contiguous` (a `contiguous-input-ops` option's value) and the input's
/// recorded strides are not row-major (rows apart, a slice's).
fn strided_input(rule: &Rule, m: &Match<'_, '_>, contiguous: &str) -> Option<String> {
    let target = exported_target(rule.fused)?;
    if !listed(contiguous, target) {
        return None;
    }
    let def = vllm_dialect::op(rule.fused)?;
    let input = def.operands.iter().position(|o| o.name == "input").and_then(|i| *rule.operands.get(i)?)?;
    recorded_strided(m.value(input)?)
        .then(|| format!("its input is strided and {target} takes contiguous input in the running vLLM (contiguous-input-ops)"))
}

/// Whether `v` is recorded with other strides than contiguous rows (rows
/// apart: a slice's); false where nothing is recorded.
pub(crate) fn recorded_strided(v: Value<'_, '_>) -> bool {
    provenance::value_meta_as::<Box<serde_json::value::RawValue>>(v)
        .is_some_and(|record| provenance::layout(record.get()) != provenance::Layout::RowMajor)
}

/// A value of the matched ops, by declared name.
#[derive(Clone, Copy, Debug)]
pub enum V {
    /// An operand or result (or attribute, in `attrs`) of the root.
    Root(&'static str),
    /// An operand or result (or attribute) of the producer.
    Prod(&'static str),
    /// An attribute literal in MLIR syntax (in `attrs`), e.g. `false`.
    Lit(&'static str),
    /// An attribute of the root, or the literal where the root lacks it (an
    /// argument older vLLMs' calls do not pass: `omit_if_absent`).
    RootOr(&'static str, &'static str),
}

/// An NVFP4 quant (a `scaled_fp4_quant` kernel: vLLM 0.11's call, or vLLM
/// main's `.out` overload) whose block scales are in the FP4 GEMM's swizzled
/// layout, the one every fused NVFP4 kernel writes.
pub fn swizzled_nvfp4_quant(op: &OperationRef<'_, '_>) -> bool {
    let name = op.name();
    let def = name.as_string_ref().as_str().ok().and_then(vllm_dialect::op);
    def.is_some_and(|d| {
        !d.is_inplace()
            && d.kernel.as_deref() == Some("scaled_fp4_quant")
            && d.nvfp4.as_ref().is_some_and(|f| vllm_dialect::verify::nvfp4_swizzled(op, f))
    })
}

/// A constraint on a match.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// The value has exactly one use (the root): nothing else reads it.
    OneUse(V),
    /// An optional operand is absent (e.g. `scale_ub`).
    Absent(V),
    /// Two tensors have the same element type.
    SameElementType(V, V),
    /// Two values have the same type (shape and element type: no broadcast).
    SameType(V, V),
    /// An attribute equals a literal: a constant the fused kernel hard-codes.
    AttrIs(V, &'static str),
    /// An optional attribute is absent or equals a literal.
    AttrIsOrAbsent(V, &'static str),
    /// An attribute equals one of the literals: the variants the fused
    /// kernel is built for (vLLM's per-block kernels: groups of 64 or 128).
    AttrIn(V, &'static [&'static str]),
    /// A written value's recorded strides are the layout its op's flags
    /// name (`transposed_if`, `tma_aligned_if`; rows where a call has no
    /// flag, as older vLLMs' calls, whose kernel reads the strides): the
    /// fused op writes the layout the flags say.
    LaidOutAsFlagged(V),
    /// Every check of a shared list (the per-group kernels' defaults).
    All(&'static [Check]),
}

/// Whether `v`, written by `op` as its declared `name`, is recorded in the
/// layout `op`'s flags name (rows without flags); true where nothing is
/// recorded, or the buffer has one row or column and no padding (the same
/// bytes either way).
pub(crate) fn laid_out_as_flagged(op: &OperationRef<'_, '_>, name: &str, v: Value<'_, '_>) -> bool {
    use provenance::Layout;
    let Some(def) = op.name().as_string_ref().as_str().ok().and_then(vllm_dialect::op) else { return false };
    // The layout flags live on the in-place twin; the value form shares its attributes.
    let twin = vllm_dialect::inplace_form(def);
    let want = match (vllm_dialect::verify::transposed(op, twin, name), vllm_dialect::verify::tma_aligned(op, twin, name)) {
        (Some(true), Some(true)) => Layout::TmaPadded,
        (Some(true), _) => Layout::Transposed,
        _ => Layout::RowMajor,
    };
    let Some(record) = provenance::value_meta_as::<Box<serde_json::value::RawValue>>(v) else { return true };
    let got = provenance::layout(record.get());
    let thin = vllm_dialect::verify::shape_of(v.r#type()).is_some_and(|s| s.contains(&Some(1)));
    got == want || thin && ![got, want].contains(&Layout::TmaPadded) && got != Layout::Other
}

/// One fusion rule.
#[derive(Debug)]
pub struct Rule {
    pub name: &'static str,
    /// `lhs -> rhs`, one line.
    pub rewrite: &'static str,
    pub root: &'static str,
    /// The root operand that the producer's result feeds.
    pub via: &'static str,
    pub producer: &'static str,
    pub producer_result: &'static str,
    pub checks: &'static [Check],
    pub fused: &'static str,
    /// The fused op's operands in declaration order; `None` leaves an optional out.
    pub operands: &'static [Option<V>],
    pub attrs: &'static [(&'static str, V)],
    /// For each fused result, in order: the value it replaces.
    pub replaces: &'static [V],
}

struct Match<'c, 'a> {
    root: OperationRef<'c, 'a>,
    producer: OperationRef<'c, 'a>,
    root_vals: Vec<(&'static str, Vec<Value<'c, 'a>>)>,
    prod_vals: Vec<(&'static str, Vec<Value<'c, 'a>>)>,
}

impl<'c, 'a> Match<'c, 'a> {
    fn value(&self, v: V) -> Option<Value<'c, 'a>> {
        let (vals, _) = self.side(v);
        let name = match v {
            V::Root(n) | V::Prod(n) => n,
            V::Lit(_) | V::RootOr(..) => return None,
        };
        vals.iter().find(|(n, _)| *n == name).and_then(|(_, vs)| vs.first().copied())
    }
    fn present(&self, v: V) -> bool {
        self.value(v).is_some()
    }
    fn side(&self, v: V) -> (&Vec<(&'static str, Vec<Value<'c, 'a>>)>, OperationRef<'c, 'a>) {
        match v {
            V::Prod(_) => (&self.prod_vals, self.producer),
            V::Root(_) | V::Lit(_) | V::RootOr(..) => (&self.root_vals, self.root),
        }
    }
    fn attr(&self, ctx: &'c Context, v: V) -> Option<Attribute<'c>> {
        let (_, op) = self.side(v);
        match v {
            V::Root(n) | V::Prod(n) => op.attribute(n).ok(),
            V::Lit(text) => Attribute::parse(ctx, text),
            V::RootOr(n, text) => op.attribute(n).ok().or_else(|| Attribute::parse(ctx, text)),
        }
    }
}

/// The match, or why there is none (for `debug-node` explanations).
fn matches<'c, 'a>(ctx: &'c Context, rule: &Rule, root: OperationRef<'c, 'a>) -> Result<Match<'c, 'a>, String> {
    let named = |op: &OperationRef<'c, 'a>| {
        let mut v = named_operands(op)?;
        v.extend(named_results(op)?);
        Some(v)
    };
    let root_vals = named(&root).ok_or("the root does not verify")?;
    let input = root_vals
        .iter()
        .find(|(n, _)| *n == rule.via)
        .and_then(|(_, v)| v.first().copied())
        .ok_or_else(|| format!("the root has no '{}' operand", rule.via))?;
    let Some(producer) = ir::producer(input) else {
        return Err(format!("'{}' is a function argument, not produced by {}", rule.via, rule.producer));
    };
    let pname = producer.name();
    let pname = pname.as_string_ref().as_str().unwrap_or("?");
    if pname != rule.producer {
        return Err(format!("'{}' comes from {pname}, not {}", rule.via, rule.producer));
    }
    let prod_vals = named(&producer).ok_or("the producer does not verify")?;
    let m = Match { root, producer, root_vals, prod_vals };
    if m.value(V::Prod(rule.producer_result)) != Some(input) {
        return Err(format!("'{}' is not the producer's '{}' result", rule.via, rule.producer_result));
    }
    match rule.checks.iter().find_map(|c| failed(ctx, &m, c)) {
        Some(why) => Err(why),
        None => Ok(m),
    }
}

/// Why `c` does not hold for `m` (the `--debug-node` reason); `None` when it holds.
fn failed(ctx: &Context, m: &Match<'_, '_>, c: &Check) -> Option<String> {
    match *c {
        Check::OneUse(v) => m
            .value(v)
            .map(|x| ir::users(x).len())
            .filter(|&n| n != 1)
            .map(|n| format!("{v:?} has {n} uses; fusing would drop what the others read")),
        Check::Absent(v) => m.present(v).then(|| format!("{v:?} is given")),
        Check::SameElementType(a, b) => match (m.value(a).and_then(crate::native::elem), m.value(b).and_then(crate::native::elem)) {
            (Some(x), Some(y)) if x == y => None,
            (x, y) => Some(format!("{a:?} is {} but {b:?} is {}", x.unwrap_or_default(), y.unwrap_or_default())),
        },
        Check::SameType(a, b) => match (m.value(a).map(|v| v.r#type()), m.value(b).map(|v| v.r#type())) {
            (Some(x), Some(y)) if x == y => None,
            (x, y) => Some(format!(
                "{a:?} is {} but {b:?} is {}",
                x.map_or("absent".into(), |t| t.to_string()),
                y.map_or("absent".into(), |t| t.to_string())
            )),
        },
        Check::AttrIs(a, lit) => {
            let want = m.attr(ctx, V::Lit(lit));
            match m.attr(ctx, a) {
                Some(got) if Some(got) == want => None,
                got => Some(format!("{a:?} is {}, the fused kernel assumes {lit}", got.map_or("absent".into(), |g| g.to_string()))),
            }
        }
        Check::AttrIsOrAbsent(a, lit) => match m.attr(ctx, a) {
            Some(got) if Some(got) != m.attr(ctx, V::Lit(lit)) => Some(format!("{a:?} is {got}, the fused kernel assumes {lit}")),
            _ => None,
        },
        Check::AttrIn(a, lits) => match m.attr(ctx, a) {
            Some(got) if lits.iter().any(|lit| Some(got) == m.attr(ctx, V::Lit(lit))) => None,
            got => Some(format!(
                "{a:?} is {}, the fused kernel is built for {}",
                got.map_or("absent".into(), |g| g.to_string()),
                lits.join(" or ")
            )),
        },
        Check::LaidOutAsFlagged(v @ (V::Root(name) | V::Prod(name))) => match m.value(v) {
            Some(x) if !laid_out_as_flagged(&m.side(v).1, name, x) => {
                Some(format!("{v:?} is recorded in another layout than the call's flags say (or, without them, rows)"))
            }
            _ => None,
        },
        Check::LaidOutAsFlagged(_) => None,
        Check::All(cs) => cs.iter().find_map(|c| failed(ctx, m, c)),
    }
}

/// Whether `checks` hold at `root` as far as they concern the root alone
/// (its attributes, its absent optionals; others are left to the match).
pub fn root_checks_hold(ctx: &Context, checks: &[Check], root: OperationRef<'_, '_>) -> bool {
    let Some(root_vals) = named_operands(&root) else { return false };
    let m = Match { root, producer: root, root_vals, prod_vals: Vec::new() };
    checks.iter().all(|c| holds_at_root(ctx, &m, c))
}

fn holds_at_root(ctx: &Context, m: &Match<'_, '_>, c: &Check) -> bool {
    match *c {
        Check::AttrIs(V::Root(_), _) | Check::AttrIsOrAbsent(V::Root(_), _) | Check::AttrIn(V::Root(_), _) | Check::Absent(V::Root(_)) => {
            failed(ctx, m, c).is_none()
        }
        Check::All(cs) => cs.iter().all(|c| holds_at_root(ctx, m, c)),
        _ => true,
    }
}

/// The root's `via` operand, where the producer would go, when the checks
/// of `rule` on the root alone hold at `root`: what a pass asks before
/// raising a decomposed producer that only this rule would fuse.
pub fn root_input<'c, 'a>(ctx: &'c Context, rule: &Rule, root: OperationRef<'c, 'a>) -> Option<Value<'c, 'a>> {
    if !root_checks_hold(ctx, rule.checks, root) {
        return None;
    }
    named_operands(&root)?.into_iter().find(|(n, _)| *n == rule.via).and_then(|(_, vs)| vs.first().copied())
}

/// The pass option `name` as a non-negative count (`default` when not
/// given); an error at `func` naming the pass and the option otherwise.
pub fn count_option(
    func: OperationRef<'_, '_>,
    run: &mlir_support::pass::PassRun<'_>,
    name: &str,
    default: u64,
) -> Result<u64, mlir_support::pass::PassFailed> {
    match run.option(name) {
        "" => Ok(default),
        s => s.parse().map_err(|_| {
            ir::emit_error(func.location(), &format!("{}: {name} '{s}' is not a count", run.pass_argument()));
            mlir_support::pass::PassFailed
        }),
    }
}

/// Explains, as a remark prefixed with the pass, why `op` was left alone,
/// when `op` is the FX node named by the pass's `debug-node` option.
pub fn explain(debug_node: &str, pass: &str, op: &OperationRef<'_, '_>, why: &str) {
    if !debug_node.is_empty() && is_node(op, debug_node) {
        ir::emit_remark(op.location(), &format!("{pass}: {why}"));
    }
}

/// Whether `op` is the FX node `node` (its location, or one of its getitems).
pub fn is_node(op: &OperationRef<'_, '_>, node: &str) -> bool {
    let loc = op.location();
    if loc.is_name() && loc.name_value().as_string_ref().as_str() == Ok(node) {
        return true;
    }
    op.attribute("fx.getitems").is_ok_and(|a| a.to_string().contains(&format!("\"{node}\"")))
}

/// Builds the fused op before the root and rewires the replaced values.
fn rewrite<'c, 'a>(ctx: &'c Context, block: BlockRef<'c, 'a>, rule: &Rule, m: &Match<'c, 'a>) -> bool {
    let Some(def) = vllm_dialect::op(rule.fused) else { return false };
    let replaced: Vec<Value> = match rule.replaces.iter().map(|v| m.value(*v)).collect::<Option<Vec<_>>>() {
        Some(r) => r,
        None => return false,
    };
    // Every use of a replaced value must come after the root, where the fused op goes.
    for r in &replaced {
        for u in ir::users(*r) {
            if u != m.root && !m.root.is_before_in_block(u) {
                return false;
            }
        }
    }
    let mut operands = Vec::new();
    let mut segments = Vec::new();
    for src in rule.operands {
        match src.and_then(|v| m.value(v)) {
            Some(v) => {
                operands.push(v);
                segments.push(1);
            }
            None => segments.push(0),
        }
    }
    let mut attrs: Vec<(Identifier, Attribute)> = Vec::new();
    for (name, src) in rule.attrs {
        match m.attr(ctx, *src) {
            Some(a) => attrs.push(ir::named(ctx, name, a)),
            // The matched call's vLLM lacks the argument, and so the fused op's.
            None if def.optional_attr(name) => {}
            None => return false,
        }
    }
    if def.needs_operand_segments() {
        attrs.push(ir::named(ctx, "operandSegmentSizes", DenseI32ArrayAttribute::new(ctx, &segments).into()));
    }
    let types: Vec<Type> = replaced.iter().map(|v| v.r#type()).collect();
    let loc = Location::fused(ctx, &[m.producer.location(), m.root.location()], Attribute::unit(ctx));
    let Ok(op) = OperationBuilder::new(rule.fused, loc).add_operands(&operands).add_results(&types).add_attributes(&attrs).build() else {
        return false;
    };
    let fused = block.insert_operation_before(m.root, op);
    let functional = functional_target(def, m);
    keep_recorded_meta(ctx, fused, def, &replaced, functional.is_some());
    if let Some(target) = functional {
        ir::set_attribute(fused, provenance::FUNCTIONAL, StringAttribute::new(ctx, target).into());
    }
    for (i, r) in replaced.iter().enumerate() {
        if let Ok(new) = fused.result(i) {
            ir::replace_all_uses(*r, new.into());
        }
    }
    if ir::results_unused(m.root) {
        ir::erase(m.root);
    }
    if ir::results_unused(m.producer) {
        ir::erase(m.producer);
    }
    true
}

/// A fusion of functional (vLLM IR) ops into an op with a functional form of
/// its own (add + `vllm_ir.rms_norm` -> `vllm_ir.fused_add_rms_norm`, as vLLM
/// main's AddRMSNormPattern writes it) stays functional: the fused op is
/// marked with that form's target, and its record is the call's results
/// (without `auto_functionalized`'s leading null).
fn functional_target<'d>(def: &'d vllm_dialect::spec::OpDef, m: &Match<'_, '_>) -> Option<&'d str> {
    let form = def.functional.as_ref().filter(|f| f.fixed.is_empty())?;
    [m.root, m.producer].iter().any(|o| ir::string_attr(o, provenance::FUNCTIONAL).is_some()).then_some(form.target.as_str())
}

/// Gives the fused op the replaced values' recorded `fx.meta` (as an
/// `auto_functionalized` node's: `[null, each written buffer's]`, or a
/// `functional` call's: without the null), so that fix-functionalization
/// sizes its buffers as the graph recorded them: an NVFP4 block-scale buffer
/// has `round_up(T, 128)` rows, which no operand's shape gives. Only when
/// every replaced value has a record.
pub(crate) fn keep_recorded_meta<'c>(
    ctx: &'c Context,
    fused: OperationRef<'c, '_>,
    def: &vllm_dialect::spec::OpDef,
    replaced: &[Value<'c, '_>],
    functional: bool,
) {
    if def.inplace.is_none() {
        return;
    }
    if let Some(text) = provenance::written_meta_of(replaced, functional) {
        ir::set_attribute(fused, provenance::META, StringAttribute::new(ctx, &text).into());
    }
}

/// Applies `rules` to every op in the body of `func` (one forward sweep; rules
/// in table order); returns the number of rewrites of each rule.
pub fn apply(
    func: OperationRef<'_, '_>,
    rules: &[Rule],
    debug_node: &str,
    unavailable_ops: &str,
    contiguous_input_ops: &str,
) -> Vec<(&'static str, u64)> {
    let mut counts: Vec<(&'static str, u64)> = rules.iter().map(|r| (r.name, 0)).collect();
    let handle = ir::ContextHandle::of(&func);
    let ctx = handle.get();
    let Some(block) = func.region(0).ok().and_then(|r| r.first_block()) else { return counts };
    for op in ir::block_ops(block) {
        let name = op.name();
        let Ok(name) = name.as_string_ref().as_str() else { continue };
        for (i, rule) in rules.iter().enumerate() {
            if rule.root != name {
                continue;
            }
            let explain = !debug_node.is_empty() && is_node(&op, debug_node);
            if let Some(why) = unavailable(rule.fused, unavailable_ops) {
                if explain {
                    ir::emit_remark(op.location(), &format!("rule '{}' is off: {why}", rule.name));
                }
                continue;
            }
            match matches(ctx, rule, op) {
                Ok(m) => {
                    if let Some(why) = strided_input(rule, &m, contiguous_input_ops) {
                        if explain {
                            ir::emit_remark(op.location(), &format!("rule '{}' matched but {why}", rule.name));
                        }
                    } else if rewrite(ctx, block, rule, &m) {
                        if explain {
                            ir::emit_remark(op.location(), &format!("rule '{}' fused node '{debug_node}'", rule.name));
                        }
                        counts[i].1 += 1;
                        break;
                    } else if explain {
                        ir::emit_remark(
                            op.location(),
                            &format!("rule '{}' matched but a replaced value is read before the root", rule.name),
                        );
                    }
                }
                Err(why) if explain => ir::emit_remark(op.location(), &format!("rule '{}' did not match: {why}", rule.name)),
                Err(_) => {}
            }
        }
    }
    counts
}

/// A rule-based pass's `run`: applies the rules, reports a count per rule
/// (each rule's name is one of the pass's statistics).
pub fn run(
    func: OperationRef<'_, '_>,
    run: &mlir_support::pass::PassRun<'_>,
    rules: &[Rule],
) -> Result<(), mlir_support::pass::PassFailed> {
    let (unavailable, contiguous) = (run.option(UNAVAILABLE_OPS.name), run.option(CONTIGUOUS_INPUT_OPS.name));
    for (name, n) in apply(func, rules, run.option("debug-node"), unavailable, contiguous) {
        run.bump(name, n);
    }
    Ok(())
}
