//! `PassConfig`: which post-grad passes run. vLLM's field names, the newer
//! names as aliases, and an error for any field it does not know (a typo must
//! not silently disable a pass, as `fuse_gemm_comms` once did in vLLM).
use serde_json::{Map, Value};
use std::path::PathBuf;

/// The configuration. Field names are the canonical (newer vLLM) ones; see
/// [`FIELDS`] for every accepted spelling.
#[derive(Clone, Debug, PartialEq)]
pub struct PassConfig {
    pub eliminate_noops: bool,
    pub enable_sp: bool,
    pub fuse_gemm_comms: bool,
    pub fuse_allreduce_rms: bool,
    pub fuse_norm_quant: bool,
    pub fuse_act_quant: bool,
    pub fuse_attn_quant: bool,
    /// Per-head q/k RMSNorm + rotary embedding (vLLM main's
    /// `enable_qk_norm_rope_fusion`, off by default there too).
    pub enable_qk_norm_rope_fusion: bool,
    /// The running vLLM's `fused_qk_norm_rope` rotates part of a head
    /// (vLLM 0.33.0's checks `rotary_dim <= head_dim`): partial rotaries
    /// (GLM-4's) fuse too. Off by default: the graph does not say which
    /// vLLM runs it (`VllmOptPass` fills it in from vLLM's library).
    pub qk_norm_rope_partial_rotary: bool,
    /// allreduce+rms applies only while the token range ends at or below this.
    pub fi_allreduce_fusion_max_token_num: u64,
    /// allreduce+rms: the most bytes of one rank's rows the FlashInfer
    /// workspace takes, in MiB (vLLM main's `fi_allreduce_fusion_max_size_mb`,
    /// whose default it looks up per GPU and world size). Each site's token
    /// limit is then also at most `size / (hidden * elem_size)`. `None`: the
    /// token count alone.
    pub fi_allreduce_fusion_max_size_mb: Option<f64>,
    /// Sequence parallelism (and async TP) applies only from this many
    /// tokens (vLLM main's `sp_min_token_num`, which it derives on SM90 as
    /// `8 MiB * tp / (hidden * elem_size)` for hidden >= 8192). `None`: no
    /// threshold, vLLM 0.9's behaviour.
    pub sp_min_token_num: Option<u64>,
    /// Async TP: the c10d process-group name (`device_group.group_name`)
    /// of each vLLM group (`unique_name`, the collectives' `group_name`).
    /// The symmetric-memory ops take the c10d name, which only the running
    /// process knows; a group without one is not fused.
    pub c10d_group_names: std::collections::BTreeMap<String, String>,
    /// Graph inputs may be overwritten in place by fix-functionalization.
    pub donate_inputs: bool,
    /// The graph inputs (placeholder names) the caller donates: vLLM main
    /// records them in its pass context (`donated_input_ids`, the inputs its
    /// model passed to an IR op's `maybe_inplace` overload), and
    /// fix-functionalization may overwrite those in place.
    pub donated_inputs: Vec<String>,
    /// Ops the running vLLM does not have (their PyTorch targets,
    /// `torch.ops._C.rms_norm_per_block_quant.default`): the fusions that
    /// would write them do not fire. An older vLLM lacks the newer fused
    /// kernels (0.11 has no per-block norm or SiLU quant); the graph does not
    /// say which vLLM runs it, the process does (`VllmOptPass` fills it in).
    pub unavailable_ops: Vec<String>,
    /// Fused ops (PyTorch targets) whose kernel in the running vLLM takes
    /// only contiguous input: the fusions do not write one on a strided
    /// input (a norm of a slice, DeepSeek's `q_a_layernorm`). vLLM before
    /// PR 36551 (March 2026) checks `input.is_contiguous()` in its per-token
    /// and per-block norm kernels; the schema does not say so, the running
    /// library does (`VllmOptPass` fills it in).
    pub contiguous_input_ops: Vec<String>,
    /// Which layers' attention writes each quant in its epilogue (kind:
    /// `fp8_static`, `nvfp4`, `fp8_group128`, `fp8_group64` -> layer names,
    /// `*` for every layer; a kind left out: no layer). vLLM asks each
    /// layer's backend (`fused_output_quant_supported`): FlashAttention,
    /// its default on Hopper, writes none, and an attention given an
    /// `output_scale` it cannot write fails at run time. `None`: every layer
    /// writes every quant (the graph alone cannot say; `VllmOptPass` fills it
    /// in from vLLM's layers).
    pub attn_output_quant: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// Stages (pass names) to dump; empty with `dump_graph_dir` set = all.
    pub dump_graph_stages: Vec<String>,
    pub dump_graph_dir: Option<PathBuf>,
}

impl Default for PassConfig {
    /// vLLM ≥ 0.11 defaults: everything off.
    fn default() -> Self {
        PassConfig {
            eliminate_noops: false,
            enable_sp: false,
            fuse_gemm_comms: false,
            fuse_allreduce_rms: false,
            fuse_norm_quant: false,
            fuse_act_quant: false,
            fuse_attn_quant: false,
            enable_qk_norm_rope_fusion: false,
            qk_norm_rope_partial_rotary: false,
            fi_allreduce_fusion_max_token_num: 16384,
            fi_allreduce_fusion_max_size_mb: None,
            sp_min_token_num: None,
            c10d_group_names: Default::default(),
            donate_inputs: false,
            donated_inputs: vec![],
            unavailable_ops: vec![],
            contiguous_input_ops: vec![],
            attn_output_quant: None,
            dump_graph_stages: vec![],
            dump_graph_dir: None,
        }
    }
}

/// Every accepted key: (spelling, canonical field). `enable_fusion` is vLLM
/// 0.9's single switch for both RMSNorm+quant and act+quant fusion.
pub const FIELDS: &[(&str, &str)] = &[
    ("eliminate_noops", "eliminate_noops"),
    ("enable_noop", "eliminate_noops"),
    ("enable_sp", "enable_sp"),
    ("enable_sequence_parallelism", "enable_sp"),
    ("fuse_gemm_comms", "fuse_gemm_comms"),
    ("enable_async_tp", "fuse_gemm_comms"),
    ("fuse_allreduce_rms", "fuse_allreduce_rms"),
    ("enable_fi_allreduce_fusion", "fuse_allreduce_rms"),
    ("fuse_norm_quant", "fuse_norm_quant"),
    ("fuse_act_quant", "fuse_act_quant"),
    ("enable_fusion", "fuse_norm_quant+fuse_act_quant"),
    ("fuse_attn_quant", "fuse_attn_quant"),
    ("enable_attn_fusion", "fuse_attn_quant"),
    ("enable_qk_norm_rope_fusion", "enable_qk_norm_rope_fusion"),
    ("qk_norm_rope_partial_rotary", "qk_norm_rope_partial_rotary"),
    ("fi_allreduce_fusion_max_token_num", "fi_allreduce_fusion_max_token_num"),
    ("fi_allreduce_fusion_max_size_mb", "fi_allreduce_fusion_max_size_mb"),
    ("sp_min_token_num", "sp_min_token_num"),
    ("c10d_group_names", "c10d_group_names"),
    ("donate_inputs", "donate_inputs"),
    ("donated_inputs", "donated_inputs"),
    ("unavailable_ops", "unavailable_ops"),
    ("contiguous_input_ops", "contiguous_input_ops"),
    ("attn_output_quant", "attn_output_quant"),
    ("dump_graph_stages", "dump_graph_stages"),
    ("dump_graph_dir", "dump_graph_dir"),
];

/// A configuration problem, naming the field.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn suggestion(key: &str) -> String {
    FIELDS
        .iter()
        .map(|(k, _)| (edit_distance(key, k), *k))
        .min()
        .filter(|(d, _)| *d <= 3)
        .map(|(_, k)| format!(" (did you mean '{k}'?)"))
        .unwrap_or_default()
}

impl PassConfig {
    /// Parses JSON, applies vLLM's implications, and returns the warnings.
    pub fn from_json(text: &str) -> Result<(PassConfig, Vec<String>), ConfigError> {
        let v: Value = serde_json::from_str(text).map_err(|e| ConfigError(format!("config: malformed JSON: {e}")))?;
        let Value::Object(m) = v else { return Err(ConfigError("config: expected a JSON object".into())) };
        Self::from_map(&m)
    }

    pub fn from_map(m: &Map<String, Value>) -> Result<(PassConfig, Vec<String>), ConfigError> {
        let mut c = PassConfig::default();
        let mut seen: Vec<(&str, &str, Value)> = Vec::new(); // (canonical, spelling, value)
        let mut unknown = Vec::new();
        for (key, value) in m {
            let Some((spelling, canonical)) = FIELDS.iter().find(|(k, _)| k == key) else {
                unknown.push(format!("'{key}'{}", suggestion(key)));
                continue;
            };
            for field in canonical.split('+') {
                if let Some((_, other, v)) = seen.iter().find(|(f, _, _)| *f == field)
                    && v != value
                {
                    return Err(ConfigError(format!("config: '{spelling}' and '{other}' set the same option to different values")));
                }
                seen.push((field, spelling, value.clone()));
                c.set(field, spelling, value)?;
            }
        }
        if !unknown.is_empty() {
            return Err(ConfigError(format!("config: unknown field(s) {}", unknown.join(", "))));
        }
        let warnings = c.apply_implications();
        Ok((c, warnings))
    }

    fn set(&mut self, field: &str, spelling: &str, v: &Value) -> Result<(), ConfigError> {
        let boolean = || v.as_bool().ok_or_else(|| ConfigError(format!("config: '{spelling}' must be true or false, got {v}")));
        match field {
            "eliminate_noops" => self.eliminate_noops = boolean()?,
            "enable_sp" => self.enable_sp = boolean()?,
            "fuse_gemm_comms" => self.fuse_gemm_comms = boolean()?,
            "fuse_allreduce_rms" => self.fuse_allreduce_rms = boolean()?,
            "fuse_norm_quant" => self.fuse_norm_quant = boolean()?,
            "fuse_act_quant" => self.fuse_act_quant = boolean()?,
            "fuse_attn_quant" => self.fuse_attn_quant = boolean()?,
            "enable_qk_norm_rope_fusion" => self.enable_qk_norm_rope_fusion = boolean()?,
            "qk_norm_rope_partial_rotary" => self.qk_norm_rope_partial_rotary = boolean()?,
            "donate_inputs" => self.donate_inputs = boolean()?,
            "fi_allreduce_fusion_max_token_num" => {
                self.fi_allreduce_fusion_max_token_num =
                    v.as_u64().ok_or_else(|| ConfigError(format!("config: '{spelling}' must be a non-negative integer, got {v}")))?
            }
            "fi_allreduce_fusion_max_size_mb" => {
                self.fi_allreduce_fusion_max_size_mb =
                    match v {
                        Value::Null => None,
                        _ => Some(v.as_f64().filter(|mb| *mb > 0.0 && mb.is_finite()).ok_or_else(|| {
                            ConfigError(format!("config: '{spelling}' must be a positive number of MiB or null, got {v}"))
                        })?),
                    }
            }
            "sp_min_token_num" => {
                self.sp_min_token_num = match v {
                    Value::Null => None,
                    _ => Some(
                        v.as_u64()
                            .ok_or_else(|| ConfigError(format!("config: '{spelling}' must be a non-negative integer or null, got {v}")))?,
                    ),
                }
            }
            "c10d_group_names" => {
                let bad = || {
                    ConfigError(format!("config: '{spelling}' must map group names to c10d group names (strings without spaces), got {v}"))
                };
                let m = v.as_object().ok_or_else(bad)?;
                self.c10d_group_names = m
                    .iter()
                    .map(|(k, v)| v.as_str().filter(|s| fits_option(k) && fits_option(s)).map(|s| (k.clone(), s.to_string())))
                    .collect::<Option<_>>()
                    .ok_or_else(bad)?;
            }
            "donated_inputs" => {
                self.donated_inputs = string_set(v, |s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                    .ok_or_else(|| ConfigError(format!("config: '{spelling}' must be a list of placeholder names, got {v}")))?;
            }
            "unavailable_ops" | "contiguous_input_ops" => {
                let targets = string_set(v, |s| s.starts_with("torch.ops.") && fits_option(s)).ok_or_else(|| {
                    ConfigError(format!("config: '{spelling}' must be a list of PyTorch op targets (torch.ops...), got {v}"))
                })?;
                *(if field == "unavailable_ops" { &mut self.unavailable_ops } else { &mut self.contiguous_input_ops }) = targets;
            }
            "attn_output_quant" => {
                let kinds: Vec<&str> = vllm_passes::ATTN_OUTPUT_QUANTS.iter().map(|(k, _)| *k).collect();
                let bad = || {
                    ConfigError(format!(
                        "config: '{spelling}' must map quant kinds ({}) to lists of layer names (\"*\": every layer), or be null, got {v}",
                        kinds.join(", ")
                    ))
                };
                self.attn_output_quant = match v {
                    Value::Null => None,
                    _ => Some(
                        v.as_object()
                            .ok_or_else(bad)?
                            .iter()
                            .map(|(kind, layers)| {
                                let layers = string_set(layers, fits_option)?;
                                kinds.contains(&kind.as_str()).then(|| (kind.clone(), layers))
                            })
                            .collect::<Option<_>>()
                            .ok_or_else(bad)?,
                    ),
                };
            }
            "dump_graph_stages" => {
                self.dump_graph_stages = v
                    .as_array()
                    .and_then(|a| a.iter().map(|s| s.as_str().map(String::from)).collect())
                    .ok_or_else(|| ConfigError(format!("config: '{spelling}' must be a list of strings, got {v}")))?
            }
            "dump_graph_dir" => {
                self.dump_graph_dir = match v {
                    Value::Null => None,
                    Value::String(s) => Some(PathBuf::from(s)),
                    _ => return Err(ConfigError(format!("config: '{spelling}' must be a path string or null"))),
                }
            }
            _ => return Err(ConfigError(format!("config: internal: no field {field}"))),
        }
        Ok(())
    }

    /// `fi_allreduce_fusion_max_size_mb` in bytes, as vLLM converts it (`int(mb * MiB)`).
    pub fn fi_allreduce_fusion_max_size_bytes(&self) -> Option<u64> {
        self.fi_allreduce_fusion_max_size_mb.map(|mb| (mb * 1024.0 * 1024.0) as u64)
    }

    /// vLLM's implications: async TP needs sequence parallelism; fusion
    /// without no-op elimination works poorly (reshapes sit between the ops).
    pub fn apply_implications(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.fuse_gemm_comms && !self.enable_sp {
            self.enable_sp = true;
            warnings.push("fuse_gemm_comms (async TP) turns on enable_sp (sequence parallelism)".into());
        }
        if !self.eliminate_noops {
            for (on, what) in [
                (self.fuse_norm_quant, "RMSNorm + quant"),
                (self.fuse_act_quant, "SiLU-mul + quant"),
                (self.fuse_attn_quant, "attention + quant"),
            ] {
                if on {
                    warnings.push(format!("{what} fusion is on but eliminate_noops is off: no-op reshapes between the ops may block it"));
                }
            }
        }
        warnings
    }

    /// Canonical JSON (canonical names, every field).
    pub fn to_json(&self) -> Value {
        let mut m = self.key_json();
        m.insert("dump_graph_stages".into(), Value::from(self.dump_graph_stages.clone()));
        m.insert("dump_graph_dir".into(), self.dump_graph_dir.as_ref().map_or(Value::Null, |d| Value::from(d.display().to_string())));
        Value::Object(m)
    }

    /// The fields that define compilation (dump settings excluded): the part of the uuid.
    pub fn key_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        for (k, v) in [
            ("eliminate_noops", self.eliminate_noops),
            ("enable_sp", self.enable_sp),
            ("fuse_gemm_comms", self.fuse_gemm_comms),
            ("fuse_allreduce_rms", self.fuse_allreduce_rms),
            ("fuse_norm_quant", self.fuse_norm_quant),
            ("fuse_act_quant", self.fuse_act_quant),
            ("fuse_attn_quant", self.fuse_attn_quant),
            ("donate_inputs", self.donate_inputs),
        ] {
            m.insert(k.into(), Value::Bool(v));
        }
        m.insert("fi_allreduce_fusion_max_token_num".into(), Value::from(self.fi_allreduce_fusion_max_token_num));
        // Only when set: a config without it keeps the uuid it always had.
        if let Some(mb) = self.fi_allreduce_fusion_max_size_mb {
            m.insert("fi_allreduce_fusion_max_size_mb".into(), Value::from(mb));
        }
        // Only when on: configs without it keep the uuid they always had.
        if self.enable_qk_norm_rope_fusion {
            m.insert("enable_qk_norm_rope_fusion".into(), Value::Bool(true));
        }
        if self.qk_norm_rope_partial_rotary {
            m.insert("qk_norm_rope_partial_rotary".into(), Value::Bool(true));
        }
        if let Some(n) = self.sp_min_token_num {
            m.insert("sp_min_token_num".into(), Value::from(n));
        }
        if !self.c10d_group_names.is_empty() {
            m.insert("c10d_group_names".into(), serde_json::to_value(&self.c10d_group_names).unwrap_or_default());
        }
        // Only when given: configs without it keep the uuid they always had.
        if !self.donated_inputs.is_empty() {
            m.insert("donated_inputs".into(), serde_json::to_value(&self.donated_inputs).unwrap_or_default());
        }
        if !self.unavailable_ops.is_empty() {
            m.insert("unavailable_ops".into(), serde_json::to_value(&self.unavailable_ops).unwrap_or_default());
        }
        if !self.contiguous_input_ops.is_empty() {
            m.insert("contiguous_input_ops".into(), serde_json::to_value(&self.contiguous_input_ops).unwrap_or_default());
        }
        if let Some(layers) = &self.attn_output_quant {
            m.insert("attn_output_quant".into(), serde_json::to_value(layers).unwrap_or_default());
        }
        m
    }
}

/// Whether `s` can stand as one entry of a pass option's value (which the
/// manager writes as `name=a,b` or `name=k=v,...` inside a pipeline's braces).
fn fits_option(s: &str) -> bool {
    !s.is_empty() && !s.contains([' ', ',', '=', '{', '}'])
}

/// `v` as a list of strings each of which `valid` accepts, sorted and
/// without duplicates (a set the config gives as a list); `None` otherwise.
fn string_set(v: &Value, valid: impl Fn(&str) -> bool) -> Option<Vec<String>> {
    let mut items: Vec<String> = v.as_array()?.iter().map(|s| s.as_str().filter(|s| valid(s)).map(String::from)).collect::<Option<_>>()?;
    items.sort();
    items.dedup();
    Some(items)
}
