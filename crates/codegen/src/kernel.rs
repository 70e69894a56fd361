//! The kernel description (`Kernel`): the op it implements, its parameters
//! in launch order (the ABI), its block and grid per shape context, its
//! variants (few-token blocks and split rows, the persistent schedule,
//! SiLU's fast-path division, per-group scale layouts), its buffers' sizes
//! and its manifest entry. `kernel_for` and `qk_norm_rope_kernel` make one;
//! `collect` finds them in a compiled graph, `lower` generates them.
use crate::body::{self, Form, Target};
use crate::{GroupScales, QK_ROPE_HEAD_DIMS, QkHeads, SiluDivision, act, group, per_token, qk_rope, quant, rms};
use serde_json::{Value as Json, json};

/// A kernel parameter, in launch order.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub name: &'static str,
    /// `ptr` (a device pointer to `elem`), `f32` (a scalar by value: the
    /// epsilon) or `i32` (the persistent kernels' `num_tokens`).
    pub kind: &'static str,
    pub elem: String,
}

/// One unique kernel: what it implements and how to launch it.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    pub name: String,
    /// The dialect op it implements (value and in-place forms alike).
    pub op: &'static str,
    pub hidden: u64,
    pub elem: String,
    pub params: Vec<Param>,
    /// The quant group size of the per-group kernels.
    pub group: Option<u64>,
    /// How the per-group kernels write their scales (UE8M0, column-major).
    pub scales: GroupScales,
    /// The block a register-form or split kernel is compiled for (`None`:
    /// it loops with the block `block` gives).
    pub threads: Option<u64>,
    /// CTAs per row: more than one for the pointwise kernels' few-row
    /// variants (`for_tokens`), which split each row over `ctas_per_row`
    /// CTAs of `threads` so that a handful of rows still spreads over the
    /// GPU (the grid is rows * ctas_per_row, row-major).
    pub ctas_per_row: u64,
    /// The persistent schedule (`persistent`): a grid of at most the CTAs
    /// the GPU holds at once, each walking rows `blockIdx.x + k * gridDim.x`
    /// with the next row's loads in flight; the kernel takes the row count
    /// (`num_tokens`, last).
    pub persistent: bool,
    /// How the SiLU kinds divide on the GPU (`with_fast_division`).
    pub division: SiluDivision,
    /// `fused_qk_norm_rope`'s head layout (`qk_norm_rope_kernel`).
    pub heads: Option<QkHeads>,
    /// The shape contexts (token counts, `None` = symbolic) that use it.
    pub contexts: Vec<Option<u64>>,
    /// How many ops of the graph it implements (all layers share it).
    pub sites: usize,
}

impl Kernel {
    fn residual(&self) -> bool {
        self.params.iter().any(|p| p.name == "residual")
    }

    /// The quantized (or activation) type it writes.
    fn out_elem(&self) -> &str {
        self.params.iter().find(|p| matches!(p.name, "result" | "out" | "output_q")).map_or(self.elem.as_str(), |p| p.elem.as_str())
    }

    /// The kernel that must run after this one on the same buffers in shape
    /// context `tokens`, for ops that take two launches (the per-tensor
    /// dynamic quant: the static quant, as compiled for that context, e.g.
    /// split over CTAs for few rows). The manifest names it per launch.
    pub fn then(&self, tokens: Option<u64>) -> Option<Kernel> {
        (self.op == "vllm.dynamic_scaled_fp8_quant")
            .then(|| kernel_for("vllm.static_scaled_fp8_quant", self.hidden, &self.elem, false, "f8E4M3FN", None, false))
            .flatten()
            .map(|k| k.for_tokens(tokens))
    }

    /// True for kernels whose `scale` is one f32 per row (written).
    fn per_token(&self) -> bool {
        matches!(self.op, "vllm.rms_norm_dynamic_per_token_quant" | "vllm.dynamic_per_token_scaled_fp8_quant")
    }

    /// The kernel body for `target`.
    pub(crate) fn body(&self, target: Target) -> String {
        // The GPU keeps the row in registers where the kernel can; the host loops.
        self.body_in(target, if target == Target::Gpu && self.row_in_registers() { Form::Registers } else { Form::Loops })
    }

    /// The kernel for a shape context: a register-form kernel is compiled for
    /// the block that suits the token count (`body::reg_threads`); a variant
    /// other than the many-token one gets a `_b{threads}` suffix. A pointwise
    /// kernel for few rows splits each row over several CTAs
    /// (`body::split_row`), named with an `_s{ctas_per_row}` suffix.
    pub fn for_tokens(mut self, tokens: Option<u64>) -> Kernel {
        if self.heads.is_some() {
            // One geometry for any count: a warp per (token, head).
            return self;
        }
        if self.threads.is_some() {
            let th = body::reg_threads(self.hidden, tokens);
            if th != body::reg_threads(self.hidden, None) {
                self.name = format!("{}_b{th}", self.name);
            }
            self.threads = Some(th);
        } else if self.pointwise()
            && let Some((th, ctas)) = body::split_row(self.hidden, tokens)
            // A group's threads shuffle together: every thread needs its step.
            && (self.group.is_none() || (self.hidden / self.lanes()).is_multiple_of(th))
        {
            self.name = format!("{}_s{ctas}", self.name);
            self.threads = Some(th);
            self.ctas_per_row = ctas;
        }
        self
    }

    /// The persistent-schedule form of this many-token register kernel or
    /// of the per-tensor quant's max kernel, named with a `_p` suffix
    /// (`None` for the other loop kernels and the split ones, which have no
    /// row reduction or no room for the row). Its threads are those of the
    /// many-token register kernel; it takes the row count as its last
    /// parameter.
    pub fn persistent(mut self) -> Option<Kernel> {
        if self.persistent || !self.has_persistent_form() {
            return None;
        }
        let th = body::reg_threads(self.hidden, None);
        self.name = format!("{}_p", self.name.strip_suffix(&format!("_b{}", self.threads.unwrap_or(th))).unwrap_or(&self.name));
        self.threads = Some(th);
        self.persistent = true;
        self.params.push(Param { name: "num_tokens", kind: "i32", elem: "i32".into() });
        Some(self)
    }

    /// The SiLU kernel dividing by `SiluDivision::FastPath`, named with an
    /// `_fdiv` suffix (`None` for the kinds without SiLU). Its bits are
    /// those of the default's `div.rn.f32`; off by default until a GPU run
    /// says it is faster (docs/codegen-plan.md).
    pub fn with_fast_division(mut self) -> Option<Kernel> {
        if !self.op.starts_with("vllm.silu_and_mul") || self.division == SiluDivision::FastPath {
            return None;
        }
        self.name.push_str("_fdiv");
        self.division = SiluDivision::FastPath;
        Some(self)
    }

    /// True for the kernels with no reduction over the row (the per-group
    /// ones reduce within a group, a few threads of one warp): a row may be
    /// split over CTAs.
    fn pointwise(&self) -> bool {
        matches!(
            self.op,
            "vllm.silu_and_mul"
                | "vllm.silu_and_mul_quant"
                | "vllm.static_scaled_fp8_quant"
                | "vllm.per_token_group_fp8_quant"
                | "vllm.silu_and_mul_per_block_quant"
        )
    }

    /// The grid (CTAs, in x) for `rows` rows. A persistent kernel's grid is
    /// at most the CTAs resident at once (`grid_resident`); this is the
    /// most it uses, one CTA per row.
    pub fn grid(&self, rows: u64) -> u64 {
        rows * self.ctas_per_row
    }

    /// The grid for `rows` rows on a GPU that holds `resident` CTAs of this
    /// kernel at once: a persistent kernel launches at most that many (at
    /// least one); the others, `grid`.
    pub fn grid_resident(&self, rows: u64, resident: u64) -> u64 {
        if self.persistent { rows.min(resident).max(1) } else { self.grid(rows) }
    }

    /// The per-group kernel writing its scales as `scales` (UE8M0 and/or
    /// column-major, TMA-padded), named with a `_ue8m0` / `_colmajor` /
    /// `_tma` suffix; `None` for a kernel without groups asked for anything
    /// but the default, and for TMA padding without a transpose or in the
    /// SiLU kernel (whose op has no such layout).
    pub fn with_scales(mut self, scales: GroupScales) -> Option<Kernel> {
        if scales == GroupScales::default() {
            return Some(self);
        }
        self.group?;
        // Only the standalone quant and the fused norm pad for TMA (vLLM's SiLU kernel never does).
        if scales.tma && (!scales.transposed || self.op == "vllm.silu_and_mul_per_block_quant") {
            return None;
        }
        if scales.ue8m0 {
            self.name.push_str("_ue8m0");
        }
        if scales.transposed {
            self.name.push_str("_colmajor");
        }
        if scales.tma {
            self.name.push_str("_tma");
        }
        self.scales = scales;
        Some(self)
    }

    /// The kernel body for `target` in `form` (kinds with one form ignore it).
    pub(crate) fn body_in(&self, target: Target, form: Form) -> String {
        let (n, h, t, res) = (self.name.as_str(), self.hidden, self.elem.as_str(), self.residual());
        let ub = self.params.iter().any(|p| p.name == "scale_ub");
        let form = body::Layout { form, threads: self.threads.unwrap_or(32), persistent: self.persistent };
        let quant = if self.out_elem() == "i8" { per_token::Quant::I8 } else { per_token::Quant::Fp8 };
        let g = self.group.unwrap_or(128);
        match self.op {
            "vllm.per_token_group_fp8_quant" | "vllm.rms_norm_per_block_quant" | "vllm.silu_and_mul_per_block_quant" => {
                let src = match self.op {
                    "vllm.per_token_group_fp8_quant" => group::Src::Input,
                    "vllm.silu_and_mul_per_block_quant" => group::Src::Silu(self.division),
                    _ => group::Src::Rms { residual: res },
                };
                // Only the fused norm has a register form.
                let threads = (form.form == Form::Registers && self.row_in_registers()).then_some(form.threads);
                let spec = group::Spec { src, g, scales: self.scales, threads, ctas: self.ctas_per_row, persistent: self.persistent };
                group::kernel(n, spec, h, t, target)
            }
            "vllm.rms_norm" | "vllm.fused_add_rms_norm" => rms::kernel(n, res, rms::Out::Act, h, t, target, form),
            "vllm.rms_norm_dynamic_per_token_quant" => {
                per_token::kernel(n, per_token::Kind { norm: true, residual: res, quant, scale_ub: ub }, h, t, target, form)
            }
            "vllm.dynamic_per_token_scaled_fp8_quant" => {
                per_token::kernel(n, per_token::Kind { norm: false, residual: false, quant, scale_ub: ub }, h, t, target, form)
            }
            "vllm.static_scaled_fp8_quant" => quant::kernel(n, h, t, target, self.ctas_per_row),
            "vllm.dynamic_scaled_fp8_quant" => quant::max_kernel(n, h, t, target, self.persistent.then_some(form.threads)),
            "vllm.silu_and_mul_quant" => act::kernel(n, true, h, t, target, self.ctas_per_row, self.division),
            "vllm.silu_and_mul" => act::kernel(n, false, h, t, target, self.ctas_per_row, self.division),
            "vllm.fused_qk_norm_rope" => match self.heads {
                Some(heads) => qk_rope::kernel(n, heads, t, target),
                None => String::new(), // refused by `lowered`
            },
            _ => rms::kernel(n, res, rms::Out::Fp8, h, t, target, form),
        }
    }

    /// Bytes of parameter `p`'s buffer for `rows` rows.
    pub fn bytes(&self, p: &Param, rows: usize) -> usize {
        let h = self.hidden as usize;
        let size = elem_size(&p.elem);
        let count = match p.name {
            "weight" => h,
            "q_weight" | "k_weight" => self.heads.map_or(0, |q| q.dim as usize),
            "cos_sin_cache" => self.heads.map_or(0, |q| (q.cache_rows * q.rot) as usize),
            "position_ids" => rows,
            // One scale per group: [rows, H/G], or [H/G, rows] column-major
            // ([H/G, round_up(rows, 4)] padded for TMA).
            "scale" | "scales" | "output_s" if self.group.is_some() => {
                let rows = if self.scales.tma { rows.div_ceil(4) * 4 } else { rows };
                rows * h / self.group.unwrap_or(1) as usize
            }
            "scale" if self.per_token() => rows,
            "scale" | "scale_ub" => 1,
            // SiLU-and-mul reads rows of 2d.
            "input" if self.op.starts_with("vllm.silu_and_mul") => 2 * rows * h,
            _ => rows * h,
        };
        size * count
    }

    /// Bytes parameter `p`'s buffer spans for `rows` rows: `bytes`, except
    /// for the input of a kernel with an `input_stride` parameter given
    /// `input_stride` (elements between its rows), whose rows end
    /// `(rows - 1) * input_stride + hidden` elements after its start. An
    /// error for a stride the kernel cannot take: below `hidden`, not a
    /// multiple of its lanes (each row must stay aligned), or given to a
    /// kernel without that parameter.
    pub fn span(&self, p: &Param, rows: usize, input_stride: Option<u64>) -> Result<usize, String> {
        let Some(s) = input_stride else { return Ok(self.bytes(p, rows)) };
        if !self.params.iter().any(|q| q.name == "input_stride") {
            return Err("no input_stride parameter: its input rows are contiguous".into());
        }
        if s < self.hidden || !s.is_multiple_of(self.lanes()) {
            return Err(format!("input_stride {s}: at least {} and a multiple of {} elements", self.hidden, self.lanes()));
        }
        Ok(match (p.name, rows) {
            ("input", 1..) => ((rows - 1) * s as usize + self.hidden as usize) * elem_size(&p.elem),
            _ => self.bytes(p, rows),
        })
    }

    /// Elements of parameter `p`'s buffer as `(per_token, fixed)`: `bytes`
    /// is affine in the row count.
    pub fn elements(&self, p: &Param) -> (u64, u64) {
        // Per padded row where the rows are padded (`bytes` of 1 row is 4).
        let one = self.padded_rows(p).unwrap_or(1) as usize;
        let (row, elem) = ((self.bytes(p, one) - self.bytes(p, 0)) / one, elem_size(&p.elem));
        ((row / elem) as u64, (self.bytes(p, 0) / elem) as u64)
    }

    /// The multiple parameter `p`'s buffer rounds the token count up to
    /// (TMA-padded per-group scales: 4), if any: `elements` then counts per
    /// one of `round_up(num_tokens, m)` rows.
    pub fn padded_rows(&self, p: &Param) -> Option<u64> {
        (self.scales.tma && matches!(p.name, "scale" | "scales" | "output_s")).then_some(4)
    }

    /// How the kernel uses parameter `p`'s buffer: `read`, `write` or
    /// `read_write` (`value` for a scalar). In-place operands are read and
    /// written (`fused_add_rms_norm`'s input, every residual); the per-tensor
    /// scale kernel atomically maxes into its zeroed scale.
    pub fn access(&self, p: &Param) -> &'static str {
        match p.name {
            _ if p.kind != "ptr" => "value",
            "input" if self.op == "vllm.fused_add_rms_norm" => "read_write",
            "input" | "weight" | "scale_ub" | "q_weight" | "k_weight" | "cos_sin_cache" | "position_ids" => "read",
            "qkv" => "read_write",
            "residual" => "read_write",
            "scale" if self.op == "vllm.dynamic_scaled_fp8_quant" => "read_write",
            "scale" if !(self.per_token() || self.group.is_some()) => "read",
            _ => "write",
        }
    }

    /// Bytes parameter `p`'s address must be a multiple of: the kernel moves
    /// `lanes` elements of a row at once (16 bytes of bf16, 8 of FP8), an
    /// f32 scale alone. (A sliced tensor view may break it: the launcher
    /// must check.)
    pub fn alignment(&self, p: &Param) -> u64 {
        if let Some(h) = self.heads {
            // One lane's elements at once (half of them for a GPT-J cache row).
            let cache = if h.neox { h.per_lane() } else { h.per_lane() / 2 };
            return match p.name {
                "cos_sin_cache" => cache * if h.cache == "f32" { 4 } else { 2 },
                "position_ids" => 8,
                _ => 2 * h.per_lane(),
            };
        }
        match p.elem.as_str() {
            "f32" => 4,
            "f8E4M3FN" | "i8" => self.lanes(),
            _ => 2 * self.lanes(),
        }
    }

    /// Elements each thread loads per step (8 = one 16-byte load).
    pub fn lanes(&self) -> u64 {
        if let Some(h) = self.heads {
            return h.per_lane();
        }
        // Every kernel kind uses body::lanes of its row width (d for SiLU-and-mul).
        body::lanes(self.hidden)
    }

    /// True for the kernels whose GPU form keeps the row in registers (the
    /// norms, the per-token quants and the fused per-group norm, for rows
    /// that fit: `body::fits_in_registers`): they are specialized on their
    /// block. Longer rows loop.
    /// True for the kernels with a persistent form (`persistent`): the
    /// register-form ones, and the per-tensor quant's max kernel (a grid
    /// striding over the whole tensor: `quant::max_kernel`).
    pub(crate) fn has_persistent_form(&self) -> bool {
        self.row_in_registers() || self.op == "vllm.dynamic_scaled_fp8_quant"
    }

    pub fn row_in_registers(&self) -> bool {
        self.keeps_row() && self.threads.is_some()
    }

    /// True for the kinds that have a register form.
    fn keeps_row(&self) -> bool {
        matches!(
            self.op,
            "vllm.rms_norm"
                | "vllm.fused_add_rms_norm"
                | "vllm.rms_norm_static_fp8_quant"
                | "vllm.fused_add_rms_norm_static_fp8_quant"
                | "vllm.rms_norm_dynamic_per_token_quant"
                | "vllm.dynamic_per_token_scaled_fp8_quant"
                | "vllm.rms_norm_per_block_quant"
        )
    }

    /// Threads per row. Kernels that keep the row in registers are compiled
    /// for one block (`threads`, see `for_tokens`). The others loop: `lanes` elements per thread
    /// per step, a multiple of a warp; 256 for many rows (more CTAs resident
    /// per SM), up to 1024 for few. The per-group kernels take the largest
    /// such block that divides the row's 16-byte chunks, so every thread runs
    /// the same steps (their group max is a warp shuffle).
    /// The block for `tokens` (`None`: any count): the compiled one, or for
    /// the loop kernels up to 1024 threads below `BLOCK_STEP` tokens and 256
    /// from there on (the manifest's `block_by_tokens` says the same).
    pub fn block(&self, tokens: Option<u64>) -> u64 {
        if let Some(th) = self.threads {
            return th;
        }
        let chunks = self.hidden / self.lanes();
        let cap = match tokens {
            Some(t) if t < BLOCK_STEP => 1024,
            _ => 256,
        };
        let mut b = (chunks.max(32).min(cap) / 32).max(1) * 32;
        if self.group.is_some() {
            while b > 32 && !chunks.is_multiple_of(b) {
                b -= 32;
            }
        }
        b
    }

    /// The manifest entry: name, op, parameters, launch per shape context.
    pub fn manifest(&self) -> Json {
        let launches: Vec<Json> = self
            .contexts
            .iter()
            .map(|c| {
                let mut launch = match c {
                    Some(t) if self.persistent => {
                        json!({ "num_tokens": t, "grid": [format!("min({t}, resident_ctas)"), 1, 1], "block": [self.block(Some(*t)), 1, 1] })
                    }
                    None if self.persistent => {
                        json!({ "num_tokens": "symbolic", "grid": ["min(num_tokens, resident_ctas)", 1, 1], "block": [self.block(None), 1, 1] })
                    }
                    Some(t) => json!({ "num_tokens": t, "grid": [self.grid(*t), 1, 1], "block": [self.block(Some(*t)), 1, 1] }),
                    None if self.ctas_per_row > 1 => {
                        json!({ "num_tokens": "symbolic", "grid": [format!("num_tokens * {}", self.ctas_per_row), 1, 1], "block": [self.block(None), 1, 1] })
                    }
                    None => json!({ "num_tokens": "symbolic", "grid": ["num_tokens", 1, 1], "block": [self.block(None), 1, 1] }),
                };
                // The kernel to launch after this one in this context (the per-tensor quant's).
                if let Some(then) = self.then(*c) {
                    launch["then"] = json!(then.name);
                }
                launch
            })
            .collect();
        let two_launches = self.then(None).is_some();
        json!({
            "name": self.name,
            "file": format!("{}.ptx", self.name),
            "implements": self.op,
            "hidden": self.hidden,
            "dtype": self.elem,
            "elements_per_thread_step": self.lanes(),
            "row_in_registers": self.row_in_registers(),
            "threads": self.threads,
            "ctas_per_row": self.ctas_per_row,
            // Launch at most the CTAs the GPU holds at once ("resident_ctas":
            // the occupancy API's CTAs per SM times the SMs); the kernel
            // takes num_tokens and walks its rows.
            "persistent": self.persistent,
            // SiLU's division ("ieee": div.rn.f32 a lane; "fast-path": SiluDivision::FastPath, the same bits).
            "silu_division": self.op.starts_with("vllm.silu_and_mul").then_some(match self.division {
                SiluDivision::Ieee => "ieee",
                SiluDivision::FastPath => "fast-path",
            }),
            // Zeroed before the launch; the kernel to launch after it, per shape context, is each launch's "then".
            "zero_before_launch": if two_launches { json!(["scale"]) } else { json!([]) },
            "group_size": self.group,
            "scale_layout": match (self.group, self.scales.transposed, self.scales.tma) {
                (None, ..) => Json::Null,
                (Some(_), false, _) => json!("row-major [num_tokens, hidden / group_size]"),
                (Some(_), true, false) => json!("column-major [hidden / group_size, num_tokens]"),
                (Some(_), true, true) => json!("column-major TMA-padded [hidden / group_size, round_up(num_tokens, 4)]"),
            },
            "scale_ue8m0": self.group.map(|_| self.scales.ue8m0),
            // fused_qk_norm_rope: heads per row and their size, the rotation, the cache.
            "heads": self.heads.map(|h| json!({ "num_heads_q": h.q, "num_heads_k": h.k, "num_heads_v": h.v, "head_dim": h.dim, "rotary_dim": h.rot, "is_neox": h.neox, "cache_rows": h.cache_rows, "cache_dtype": h.cache })),
            // What it reads and writes where that is less than its buffers: a
            // token's q and k heads read and written, one cache row, its
            // position; the two weights once (not the value heads, not the
            // rest of the cache).
            "bytes_moved": self.heads.map(|h| {
                let cache = if h.cache == "f32" { 4 } else { 2 };
                json!({ "per_token": (h.q + h.k) * h.dim * 2 * 2 + h.rot * cache + 8, "fixed": 2 * h.dim * 2 })
            }),
            // A buffer's elements for num_tokens rows: per_token * num_tokens + fixed (`Kernel::bytes`).
            "params": self.params.iter().map(|p| {
                let ptr = p.kind == "ptr";
                let elements = ptr.then(|| self.elements(p)).map(|(per_token, fixed)| match self.padded_rows(p) {
                    // TMA-padded scales: per_token * round_up(n, tokens_multiple_of) + fixed.
                    Some(m) => json!({ "per_token": per_token, "fixed": fixed, "tokens_multiple_of": m }),
                    None => json!({ "per_token": per_token, "fixed": fixed }),
                });
                json!({ "name": p.name, "kind": p.kind, "elem": p.elem, "access": self.access(p), "align": if ptr { json!(self.alignment(p)) } else { Json::Null }, "elements": elements })
            }).collect::<Vec<_>>(),
            "launch": launches,
            // The block for any token count, as a step table (from that many
            // tokens on, that block): launchers read it for counts the
            // contexts above do not list, and need no copy of `block`'s rule.
            "block_by_tokens": [[1, self.block(Some(1))], [BLOCK_STEP, self.block(Some(BLOCK_STEP))]],
            "dynamic_shared_bytes": 0,
            "sites": self.sites,
        })
    }
}

/// Bytes of one element of a kernel buffer's type.
fn elem_size(elem: &str) -> usize {
    match elem {
        "f8E4M3FN" | "i8" => 1,
        "f32" => 4,
        "i64" => 8,
        _ => 2,
    }
}

/// The token count from which the loop kernels' block is the many-token one
/// (`Kernel::block`; the manifest's `block_by_tokens` steps here).
pub(crate) const BLOCK_STEP: u64 = 256;

/// The `fused_qk_norm_rope` kernel for `heads` on rows of `elem` (bf16 or
/// f16); `None` for a layout it is not built for.
pub fn qk_norm_rope_kernel(heads: QkHeads, elem: &str) -> Option<Kernel> {
    if !matches!(elem, "bf16" | "f16") || !QK_ROPE_HEAD_DIMS.contains(&heads.dim) || heads.q + heads.k == 0 || !heads.rot_supported() {
        return None;
    }
    let p = |name: &'static str, kind: &'static str, elem: &str| Param { name, kind, elem: elem.to_string() };
    let rot = if heads.neox { "neox" } else { "gptj" };
    let cache = if heads.cache == elem { String::new() } else { format!("_c{}", heads.cache) };
    // A partial rotary's width (the cache's row) in the name: `_r64` (none for a whole head).
    let partial = if heads.rot == heads.dim { String::new() } else { format!("_r{}", heads.rot) };
    Some(Kernel {
        // The cache's rows size its buffer (the ABI): part of the name, so a kernel is one ABI.
        name: format!(
            "fused_qk_norm_rope_q{}k{}v{}_d{}{partial}_{rot}_{elem}{cache}_pos{}",
            heads.q, heads.k, heads.v, heads.dim, heads.cache_rows
        ),
        op: "vllm.fused_qk_norm_rope",
        hidden: heads.row(),
        elem: elem.to_string(),
        params: vec![
            p("qkv", "ptr", elem),
            p("q_weight", "ptr", elem),
            p("k_weight", "ptr", elem),
            p("cos_sin_cache", "ptr", heads.cache),
            p("position_ids", "ptr", "i64"),
            p("epsilon", "f32", "f32"),
        ],
        group: None,
        scales: GroupScales::default(),
        threads: Some(32 * heads.warps()),
        ctas_per_row: (heads.q + heads.k) / heads.warps(),
        persistent: false,
        division: SiluDivision::Ieee,
        heads: Some(heads),
        contexts: vec![],
        sites: 0,
    })
}

/// The ops that have a kernel (value and in-place forms share it).
const KERNEL_OPS: &[&str] = &[
    "vllm.rms_norm",
    "vllm.fused_add_rms_norm",
    "vllm.rms_norm_static_fp8_quant",
    "vllm.fused_add_rms_norm_static_fp8_quant",
    "vllm.rms_norm_dynamic_per_token_quant",
    "vllm.static_scaled_fp8_quant",
    "vllm.dynamic_per_token_scaled_fp8_quant",
    "vllm.dynamic_scaled_fp8_quant",
    "vllm.silu_and_mul",
    "vllm.silu_and_mul_quant",
    "vllm.per_token_group_fp8_quant",
    "vllm.rms_norm_per_block_quant",
    "vllm.silu_and_mul_per_block_quant",
    "vllm.fused_qk_norm_rope",
];

/// The kernel kind of a value or in-place op name.
pub(crate) fn kind_of(op: &str) -> Option<&'static str> {
    let value = op.strip_suffix('_').unwrap_or(op);
    KERNEL_OPS.iter().copied().find(|k| *k == value)
}

/// A kernel description for `op` (value or in-place form) at hidden size
/// `hidden` (`d` for SiLU-and-mul), activation type `elem` (`bf16`/`f16`),
/// as `collect` would find it in a graph. `residual` selects the per-token
/// op's residual form; `out` is what it writes (`f8E4M3FN`, `i8` for the
/// per-token norm, or `elem` for the unquantized ops), `group` the group
/// size of the per-group ops, `scale_ub` whether the per-token op clamps its
/// row max. `None` when no kernel is generated for that combination.
pub fn kernel_for(op: &str, hidden: u64, elem: &str, residual: bool, out: &str, group: Option<u64>, scale_ub: bool) -> Option<Kernel> {
    let kind = kind_of(op)?;
    // vLLM allows `scale_ub` only with FP8 output, on the per-token ops.
    let ub_ok = out == "f8E4M3FN" && matches!(kind, "vllm.rms_norm_dynamic_per_token_quant" | "vllm.dynamic_per_token_scaled_fp8_quant");
    if scale_ub && !ub_ok {
        return None;
    }
    if !matches!(elem, "bf16" | "f16") || hidden == 0 || !hidden.is_multiple_of(2) {
        return None;
    }
    let grouped = matches!(kind, "vllm.per_token_group_fp8_quant" | "vllm.rms_norm_per_block_quant" | "vllm.silu_and_mul_per_block_quant");
    if grouped != group.is_some() {
        return None;
    }
    if let Some(g) = group {
        // 16-byte chunks, G/8 threads per group (a power of two within a
        // warp), whole warps per row.
        let per = g / 8;
        if !g.is_multiple_of(8) || !per.is_power_of_two() || per > 32 || !hidden.is_multiple_of(g) || !(hidden / 8).is_multiple_of(32) {
            return None;
        }
    }
    let quantized = kind.ends_with("quant");
    let int8_ok = kind == "vllm.rms_norm_dynamic_per_token_quant";
    match out {
        "f8E4M3FN" if quantized => {}
        "i8" if int8_ok => {}
        o if !quantized && o == elem => {}
        _ => return None,
    }
    let p = |name, kind: &'static str, e: &str| Param { name, kind, elem: e.to_string() };
    let (result, input, weight, scale) =
        (p("result", "ptr", out), p("input", "ptr", elem), p("weight", "ptr", elem), p("scale", "ptr", "f32"));
    let (res, eps) = (p("residual", "ptr", elem), p("epsilon", "f32", "f32"));
    // The norms and the static, per-token and per-tensor quants read input
    // rows `input_stride` elements apart, as vLLM's; SiLU and the per-group
    // quant take contiguous rows.
    let stride = p("input_stride", "i64", "i64");
    let short = kind.trim_start_matches("vllm.");
    let (params, name) = match kind {
        "vllm.rms_norm" => (vec![result, input, stride, weight, eps], format!("{short}_h{hidden}_{elem}")),
        "vllm.fused_add_rms_norm" => (vec![input, stride, res, weight, eps], format!("{short}_h{hidden}_{elem}")),
        "vllm.rms_norm_static_fp8_quant" => (vec![result, input, stride, weight, scale, eps], format!("{short}_h{hidden}_{elem}")),
        "vllm.fused_add_rms_norm_static_fp8_quant" => {
            (vec![result, input, stride, res, weight, scale, eps], format!("{short}_h{hidden}_{elem}"))
        }
        "vllm.rms_norm_dynamic_per_token_quant" => {
            let form = if residual { "_residual" } else { "" };
            let q = if out == "i8" { "_i8" } else { "" };
            let u = if scale_ub { "_ub" } else { "" };
            let mut ps = vec![result, input, stride, weight, scale];
            if scale_ub {
                ps.push(p("scale_ub", "ptr", "f32"));
            }
            if residual {
                ps.push(res);
            }
            ps.push(eps);
            (ps, format!("{short}{form}{q}{u}_h{hidden}_{elem}"))
        }
        "vllm.dynamic_per_token_scaled_fp8_quant" => {
            let mut ps = vec![result, input, stride, scale];
            let u = if scale_ub { "_ub" } else { "" };
            if scale_ub {
                ps.push(p("scale_ub", "ptr", "f32"));
            }
            (ps, format!("{short}{u}_h{hidden}_{elem}"))
        }
        // Its first kernel: the tensor's scale; `then` runs the static quant.
        "vllm.dynamic_scaled_fp8_quant" => (vec![input, stride, scale], format!("{short}_max_h{hidden}_{elem}")),
        "vllm.silu_and_mul" => (vec![result, input], format!("{short}_d{hidden}_{elem}")),
        "vllm.silu_and_mul_quant" => (vec![result, input, scale], format!("{short}_d{hidden}_{elem}")),
        "vllm.per_token_group_fp8_quant" => {
            let g = group.unwrap_or(0);
            (
                vec![p("input", "ptr", elem), p("output_q", "ptr", out), p("output_s", "ptr", "f32")],
                format!("{short}_g{g}_h{hidden}_{elem}"),
            )
        }
        "vllm.rms_norm_per_block_quant" => {
            let g = group.unwrap_or(0);
            let form = if residual { "_residual" } else { "" };
            let mut ps = vec![result, input, stride, weight, scale];
            if residual {
                ps.push(res);
            }
            ps.push(eps);
            (ps, format!("{short}{form}_g{g}_h{hidden}_{elem}"))
        }
        "vllm.silu_and_mul_per_block_quant" => {
            let g = group.unwrap_or(0);
            (vec![result, input, p("scales", "ptr", "f32")], format!("{short}_g{g}_d{hidden}_{elem}"))
        }
        // The standalone static quant.
        _ => (vec![result, input, stride, scale], format!("{short}_h{hidden}_{elem}")),
    };
    let mut k = Kernel {
        name,
        op: kind,
        hidden,
        elem: elem.to_string(),
        params,
        group,
        scales: GroupScales::default(),
        threads: None,
        ctas_per_row: 1,
        persistent: false,
        division: SiluDivision::Ieee,
        heads: None,
        contexts: vec![],
        sites: 0,
    };
    let threads = body::reg_threads(hidden, None);
    if k.keeps_row() && body::fits_in_registers(hidden, threads) {
        k.threads = Some(threads);
    }
    Some(k)
}
