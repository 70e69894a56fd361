//! The post-grad pass manager: vLLM's order, per-shape applicability, custom
//! passes, the uuid. It produces a [`Plan`]: an ordered list of steps, each an
//! MLIR pipeline element that will run or a reason it will not.
use crate::config::{ConfigError, PassConfig};
use crate::shape::ShapeContext;
use mlir_support::pass::{self, Pass};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use vllm_passes::fusion::{CONTIGUOUS_INPUT_OPS, UNAVAILABLE_OPS};

/// Why a pass does not run under a shape context, or `Ok` when it does.
pub type Applicability = Result<(), String>;

/// Where a built-in pass applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    Everywhere,
    /// A static token count divisible by the tensor-parallel size, and at
    /// least `sp_min_token_num` when that is set (sequence parallelism,
    /// async TP).
    StaticDivisibleByTp,
    /// A context whose largest token count is at most
    /// `fi_allreduce_fusion_max_token_num` (allreduce+RMSNorm); and the
    /// symbolic one, where the pass decides per site (a static row count
    /// within its limit fuses, a symbolic one is unbounded and stays).
    TokensAtMostAllreduceLimit,
}

impl Gate {
    pub fn check(self, shape: &ShapeContext, tp_size: u64, config: &PassConfig) -> Applicability {
        match self {
            Gate::Everywhere => Ok(()),
            Gate::StaticDivisibleByTp => match (shape, config.sp_min_token_num) {
                (ShapeContext::Static(n), Some(m)) if *n < m => Err(format!("runtime shape {n} is below sp_min_token_num = {m}")),
                (ShapeContext::Static(n), _) if tp_size > 0 && n % tp_size == 0 => Ok(()),
                (ShapeContext::Static(n), _) => Err(format!("runtime shape {n} is not divisible by tp_size {tp_size}")),
                (other, _) => Err(format!("needs a static runtime shape, compiling for {other}")),
            },
            Gate::TokensAtMostAllreduceLimit => {
                let limit = config.fi_allreduce_fusion_max_token_num;
                match shape.max_tokens() {
                    Some(m) if m <= limit => Ok(()),
                    Some(m) => Err(format!("up to {m} tokens exceeds fi_allreduce_fusion_max_token_num = {limit}")),
                    None => Ok(()),
                }
            }
        }
    }
}

/// One built-in slot: the config field that enables it, the pass, its gate.
#[derive(Debug)]
pub struct Slot {
    pub field: &'static str,
    pub pass: &'static str,
    pub gate: Gate,
}

/// vLLM's order (PostGradPassManager.configure, v0.9 + v0.10's allreduce;
/// main's add + RMSNorm fusion after no-op elimination and q/k-norm + RoPE
/// fusion after the attention fusion, as there).
pub const SLOTS: &[Slot] = &[
    Slot { field: "eliminate_noops", pass: "vllm-noop-elimination", gate: Gate::Everywhere },
    // vLLM main's AddRMSNormFusionPass; not a config key: on with the passes it feeds (`field_enabled`).
    Slot { field: "fuse_add_rms_norm", pass: "vllm-fuse-add-rms-norm", gate: Gate::Everywhere },
    Slot { field: "enable_sp", pass: "vllm-sequence-parallelism", gate: Gate::StaticDivisibleByTp },
    Slot { field: "fuse_gemm_comms", pass: "vllm-async-tp", gate: Gate::StaticDivisibleByTp },
    Slot { field: "fuse_allreduce_rms", pass: "vllm-fuse-allreduce-rms", gate: Gate::TokensAtMostAllreduceLimit },
    Slot { field: "fuse_norm_quant", pass: "vllm-fuse-rms-quant", gate: Gate::Everywhere },
    Slot { field: "fuse_act_quant", pass: "vllm-fuse-act-quant", gate: Gate::Everywhere },
    Slot { field: "fuse_attn_quant", pass: "vllm-fuse-attn-quant", gate: Gate::Everywhere },
    Slot { field: "enable_qk_norm_rope_fusion", pass: "vllm-fuse-qk-norm-rope", gate: Gate::Everywhere },
];

/// Always last: fix-functionalization (in-place calls, copies only where
/// needed), then the final clean-up (dead pure ops; in-place calls have
/// effects and stay).
pub const FINAL: &[&str] = &["vllm-fix-functionalization", "vllm-dce"];

fn sha256_hex(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Keys of objects sorted, recursively: the canonical form the uuid hashes.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), canonical(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The uuid of a registered pass by name: project passes hash their
/// declared sources (and the op table); upstream passes hash their name and
/// the MLIR version they come from.
///
/// Memoized per process: the sources are compiled in, and hashing them all
/// for every compile would cost more than some compiles.
pub fn pass_uuid(argument: &str, options: &str) -> String {
    use std::{collections::HashMap, sync::Mutex, sync::OnceLock};
    static MEMO: OnceLock<Mutex<HashMap<(String, String), String>>> = OnceLock::new();
    let mut memo = MEMO.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    memo.entry((argument.to_string(), options.to_string()))
        .or_insert_with(|| match info_of(argument) {
            Some(info) => {
                // The texts' digests, not the texts: passes share the op table and sources
                // (fusion.rs, native.rs), each hashed once per process.
                let mut parts = vec![info.argument.to_string(), options.to_string(), digest_of(vllm_dialect::OPS_TOML)];
                parts.extend(info.sources.iter().map(|s| digest_of(s)));
                sha256_hex(&parts.iter().map(String::as_str).collect::<Vec<_>>())
            }
            None => sha256_hex(&["upstream", "mlir-22", argument, options]),
        })
        .clone()
}

/// The SHA-256 of a compiled-in text, once per process (by address: the
/// same `include_str!` is one static).
fn digest_of(text: &'static str) -> String {
    use std::{collections::HashMap, sync::Mutex, sync::OnceLock};
    static MEMO: OnceLock<Mutex<HashMap<(usize, usize), String>>> = OnceLock::new();
    let mut memo = MEMO.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    memo.entry((text.as_ptr() as usize, text.len())).or_insert_with(|| sha256_hex(&[text])).clone()
}

fn info_of(argument: &str) -> Option<&'static pass::PassInfo> {
    vllm_passes::infos().into_iter().find(|i| i.argument == argument)
}

/// The pipeline element for a project or upstream pass.
pub fn element(argument: &str, options: &str) -> String {
    element_with_anchor(argument, options, info_of(argument).and_then(|i| i.anchor))
}

/// The pipeline element: nested under the pass's anchor when it has one.
fn element_with_anchor(argument: &str, options: &str, anchor: Option<&str>) -> String {
    let body = if options.is_empty() { argument.to_string() } else { format!("{argument}{{{options}}}") };
    match anchor {
        Some(op) if op != "builtin.module" => format!("{op}({body})"),
        _ => body,
    }
}

/// When a custom pass runs: its answer for each shape context.
type CustomGate = std::sync::Arc<dyn Fn(&ShapeContext) -> Applicability + Send + Sync>;

/// A pass added by the caller (before the built-ins) or the user (after them).
#[derive(Clone)]
pub struct CustomPass {
    argument: String,
    options: String,
    anchor: Option<&'static str>,
    uuid: String,
    gate: Option<CustomGate>,
}

impl std::fmt::Debug for CustomPass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CustomPass({})", self.argument)
    }
}

impl CustomPass {
    /// Any value implementing the project's [`Pass`] trait: registered in MLIR's
    /// registry if needed; its uuid hashes its declared sources. (A value that
    /// is not a pass does not compile.)
    pub fn new<P: Pass>(pass: P) -> Self {
        let info = pass.info();
        let mut parts = vec![info.argument, "custom"];
        parts.extend(info.sources.iter().copied());
        let uuid = sha256_hex(&parts);
        pass::register(Box::new(pass));
        CustomPass { argument: info.argument.to_string(), options: String::new(), anchor: info.anchor, uuid, gate: None }
    }

    /// A pass already in the registry, by name (`--custom-pass NAME`), with
    /// optional `{options}`. An unknown name is an error, not a silent no-op.
    pub fn registered(spec: &str) -> Result<Self, ConfigError> {
        vllm_passes::register_all();
        let (argument, options) = match spec.split_once('{') {
            Some((a, rest)) => (a.trim(), rest.strip_suffix('}').unwrap_or(rest).trim()),
            None => (spec.trim(), ""),
        };
        if !pass::is_registered(argument) {
            return Err(ConfigError(format!("custom pass '{argument}' is not a registered pass (see vllm-opt --help)")));
        }
        let anchor = info_of(argument).and_then(|i| i.anchor);
        Ok(CustomPass { argument: argument.into(), options: options.into(), anchor, uuid: pass_uuid(argument, options), gate: None })
    }

    /// Restricts where the pass runs, like vLLM's `is_applicable_for_shape`.
    pub fn only_when(mut self, gate: impl Fn(&ShapeContext) -> Applicability + Send + Sync + 'static) -> Self {
        self.gate = Some(std::sync::Arc::new(gate));
        self
    }

    pub fn argument(&self) -> &str {
        &self.argument
    }
    pub fn uuid(&self) -> &str {
        &self.uuid
    }
}

/// What a step is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    Shape,
    Caller,
    BuiltIn,
    Custom,
    Final,
}

/// One step of the plan.
#[derive(Clone, Debug)]
pub struct Step {
    pub kind: StepKind,
    /// The pass name (`vllm-fuse-rms-quant`).
    pub name: String,
    /// Its MLIR pipeline element (`func.func(vllm-dce)`).
    pub element: String,
    pub uuid: String,
    /// `Err(reason)` when the step does not run under this shape context.
    pub applies: Applicability,
}

/// The passes to run, in order, for one shape context.
#[derive(Clone, Debug)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub shape: ShapeContext,
    pub uuid: String,
}

impl Plan {
    /// The steps that run, as one textual MLIR pipeline.
    pub fn pipeline_text(&self) -> String {
        let elems: Vec<&str> = self.steps.iter().filter(|s| s.applies.is_ok()).map(|s| s.element.as_str()).collect();
        format!("builtin.module({})", elems.join(","))
    }

    pub fn skipped(&self) -> impl Iterator<Item = (&str, &str)> {
        self.steps.iter().filter_map(|s| s.applies.as_ref().err().map(|r| (s.name.as_str(), r.as_str())))
    }
}

/// The manager: configuration plus the caller's and user's passes.
#[derive(Debug, Default)]
pub struct PostGradPassManager {
    pub config: PassConfig,
    pub tp_size: u64,
    /// Explain at this FX node (vLLM's `VLLM_PATTERN_MATCH_DEBUG`); not part of the uuid.
    pub debug_node: Option<String>,
    caller: Vec<CustomPass>,
    custom: Vec<CustomPass>,
}

fn field_enabled(c: &PassConfig, field: &str) -> bool {
    match field {
        "eliminate_noops" => c.eliminate_noops,
        // Whatever fuses or shards fused_add_rms_norm wants a plain add + norm as one.
        "fuse_add_rms_norm" => c.fuse_norm_quant || c.fuse_allreduce_rms || c.enable_sp,
        "enable_sp" => c.enable_sp,
        "fuse_gemm_comms" => c.fuse_gemm_comms,
        "fuse_allreduce_rms" => c.fuse_allreduce_rms,
        "fuse_norm_quant" => c.fuse_norm_quant,
        "fuse_act_quant" => c.fuse_act_quant,
        "fuse_attn_quant" => c.fuse_attn_quant,
        "enable_qk_norm_rope_fusion" => c.enable_qk_norm_rope_fusion,
        _ => false,
    }
}

impl PostGradPassManager {
    pub fn new(config: PassConfig) -> Self {
        vllm_passes::register_all();
        PostGradPassManager { config, tp_size: 1, debug_node: None, caller: vec![], custom: vec![] }
    }

    /// A pass that runs first, before the built-ins (vLLM's constructor passes).
    pub fn add_caller_pass(&mut self, p: CustomPass) {
        self.caller.push(p);
    }

    /// A user pass: after the built-ins, before fix-functionalization
    /// (vLLM's `post_grad_custom_post_pass`). Adding one twice runs it twice.
    pub fn add(&mut self, p: CustomPass) {
        self.custom.push(p);
    }

    /// The plan for `shape`. Enabling a pass this build does not have is an error.
    pub fn plan(&self, shape: ShapeContext) -> Result<Plan, ConfigError> {
        let mut steps = Vec::new();
        let shape_opts = match shape {
            ShapeContext::Symbolic => None,
            ShapeContext::Static(n) => Some(format!("num-tokens={n}")),
            ShapeContext::Range { start, end } => Some(format!("range={start}:{end}")),
        };
        if let Some(opts) = shape_opts {
            steps.push(Step {
                kind: StepKind::Shape,
                name: "vllm-specialize-shapes".into(),
                element: element("vllm-specialize-shapes", &opts),
                uuid: pass_uuid("vllm-specialize-shapes", &opts),
                applies: Ok(()),
            });
        }
        let custom_step = |kind, p: &CustomPass| Step {
            kind,
            name: p.argument.clone(),
            element: element_with_anchor(&p.argument, &p.options, p.anchor),
            uuid: p.uuid.clone(),
            applies: p.gate.as_ref().map_or(Ok(()), |g| g(&shape)),
        };
        steps.extend(self.caller.iter().map(|p| custom_step(StepKind::Caller, p)));
        for slot in SLOTS.iter().filter(|s| field_enabled(&self.config, s.field)) {
            if !pass::is_registered(slot.pass) {
                return Err(ConfigError(format!(
                    "'{}' enables the pass '{}', which this build of vllm-opt does not have yet",
                    slot.field, slot.pass
                )));
            }
            let info = info_of(slot.pass);
            let takes = |option: &str| info.is_some_and(|i| i.options.iter().any(|o| o.name == option));
            let mut options = match (&self.debug_node, takes("debug-node")) {
                (Some(n), true) => vec![format!("debug-node={n}")],
                _ => vec![],
            };
            // The collective passes shard by the tensor-parallel size (also in the uuid's state).
            if slot.gate == Gate::StaticDivisibleByTp {
                options.insert(0, format!("tp-size={}", self.tp_size));
            }
            if slot.pass == "vllm-fuse-allreduce-rms" {
                let mut opts = format!("tp-size={} max-token-num={}", self.tp_size, self.config.fi_allreduce_fusion_max_token_num);
                if let Some(bytes) = self.config.fi_allreduce_fusion_max_size_bytes() {
                    opts += &format!(" max-size-bytes={bytes}");
                }
                options.insert(0, opts);
            }
            for (option, targets) in
                [(&UNAVAILABLE_OPS, &self.config.unavailable_ops), (&CONTIGUOUS_INPUT_OPS, &self.config.contiguous_input_ops)]
            {
                if takes(option.name) && !targets.is_empty() {
                    options.push(format!("{}={}", option.name, targets.join(",")));
                }
            }
            if let (true, Some(layers)) = (slot.pass == "vllm-fuse-attn-quant", &self.config.attn_output_quant) {
                for (kind, option) in &vllm_passes::ATTN_OUTPUT_QUANTS {
                    options.push(format!("{}={}", option.name, layers.get(*kind).map(|l| l.join(",")).unwrap_or_default()));
                }
            }
            if takes(vllm_passes::QK_PARTIAL_ROTARY.name) && self.config.qk_norm_rope_partial_rotary {
                options.push(format!("{}=true", vllm_passes::QK_PARTIAL_ROTARY.name));
            }
            if slot.pass == "vllm-async-tp" && !self.config.c10d_group_names.is_empty() {
                let names: Vec<String> = self.config.c10d_group_names.iter().map(|(k, v)| format!("{k}={v}")).collect();
                options.push(format!("group-names={}", names.join(",")));
            }
            let options = options.join(" ");
            steps.push(Step {
                kind: StepKind::BuiltIn,
                name: slot.pass.into(),
                element: element(slot.pass, &options),
                uuid: pass_uuid(slot.pass, ""),
                applies: slot.gate.check(&shape, self.tp_size, &self.config),
            });
        }
        steps.extend(self.custom.iter().map(|p| custom_step(StepKind::Custom, p)));
        for name in FINAL {
            let available = pass::is_registered(name);
            let options = match *name {
                "vllm-fix-functionalization" if self.config.donate_inputs => "donate-inputs=true".to_string(),
                "vllm-fix-functionalization" if !self.config.donated_inputs.is_empty() => {
                    format!("donated-inputs={}", self.config.donated_inputs.join(":"))
                }
                _ => String::new(),
            };
            let options = options.as_str();
            steps.push(Step {
                kind: StepKind::Final,
                name: (*name).into(),
                element: element(name, options),
                uuid: pass_uuid(name, options),
                applies: if available { Ok(()) } else { Err("not in this build yet".into()) },
            });
        }
        let uuid = self.uuid_of(&steps, shape);
        Ok(Plan { steps, shape, uuid })
    }

    /// sha256 over canonical JSON of the configuration (dump settings
    /// excluded), the tensor-parallel size, the ordered pass uuids, the final
    /// passes' uuids, and the shape context.
    fn uuid_of(&self, steps: &[Step], shape: ShapeContext) -> String {
        let passes: Vec<Value> = steps.iter().filter(|s| s.kind != StepKind::Final).map(|s| json!(s.uuid)).collect();
        let finals: Vec<Value> = steps.iter().filter(|s| s.kind == StepKind::Final).map(|s| json!(s.uuid)).collect();
        let mut state = Map::new();
        state.insert("pass_config".into(), Value::Object(self.config.key_json()));
        state.insert("tp_size".into(), json!(self.tp_size));
        state.insert("passes".into(), Value::Array(passes));
        state.insert("fix_functionalization".into(), Value::Array(finals));
        state.insert("shape".into(), json!(shape.to_string()));
        // The manager's own rules (the gates deciding where each pass runs,
        // how the config is read and handed on): a change there changes
        // what is compiled even where no pass's sources change.
        state.insert("manager".into(), json!(manager_sources_hash()));
        sha256_hex(&[&canonical(&Value::Object(state)).to_string()])
    }
}

/// sha256 of the sources that decide the plan besides the passes.
fn manager_sources_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| sha256_hex(&[include_str!("manager.rs"), include_str!("config.rs"), include_str!("shape.rs")]))
}

pub(crate) fn sha256(parts: &[&str]) -> String {
    sha256_hex(parts)
}
