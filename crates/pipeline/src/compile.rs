//! Running a plan: one call compiles a graph for one shape context.
use crate::cache::{CompileCache, Lookup};
use crate::config::PassConfig;
use crate::manager::{CustomPass, Plan, PostGradPassManager};
use crate::shape::ShapeContext;
use mlir_support::{
    Diag,
    melior::{
        Context,
        ir::{Module, operation::OperationLike},
    },
    pipeline::Pipeline,
};
use std::{path::PathBuf, time::Instant};

/// The input graph.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// FX graph JSON text.
    FxJson(&'a str),
    /// MLIR text in the torch-like dialects.
    Mlir(&'a str),
}

impl Input<'_> {
    fn text(&self) -> &str {
        match self {
            Input::FxJson(t) | Input::Mlir(t) => t,
        }
    }
}

/// Everything a compile needs besides the graph.
#[derive(Debug, Default)]
pub struct CompileOptions {
    pub config: PassConfig,
    pub shape: Option<ShapeContext>,
    pub tp_size: u64,
    /// Passes that run first (vLLM's constructor passes).
    pub caller_passes: Vec<CustomPass>,
    /// User passes: after the built-ins, before fix-functionalization.
    pub custom_passes: Vec<CustomPass>,
    /// Also export the result as FX graph JSON.
    pub emit_fx: bool,
    pub cache: Option<CompileCache>,
    /// Write `NN.<pass>.before|after.mlir` (and `.json`) here; overrides the
    /// config's `dump_graph_dir`.
    pub dump_dir: Option<PathBuf>,
    /// Verify the IR after every pass, not only the input and the result.
    pub verify_each: bool,
    /// Explain, as remarks, what each fusion rule did at this FX node.
    pub debug_node: Option<String>,
}

/// What happened to one step.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub name: String,
    /// `None` when it ran; the reason when it was skipped.
    pub skipped: Option<String>,
    pub millis: f64,
    /// The pass's statistics (rewrites made, ...).
    pub stats: Vec<(String, u64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum CacheStatus {
    Disabled,
    Hit,
    Miss,
    /// A corrupt entry was found and replaced.
    Recompiled(String),
}

/// The result of a compile.
#[derive(Clone, Debug)]
pub struct CompileResult {
    /// The module after the pipeline.
    pub mlir: String,
    pub fx_json: Option<String>,
    pub plan_text: String,
    pub uuid: String,
    pub steps: Vec<StepReport>,
    pub warnings: Vec<String>,
    /// Remarks the passes emitted (e.g. `debug_node` explanations).
    pub remarks: Vec<Diag>,
    pub cache: CacheStatus,
}

impl CompileResult {
    /// The per-pass summary: matches, skipped, time.
    pub fn summary(&self) -> String {
        let mut out = String::from("===- vllm-opt pass summary -===\n");
        for s in &self.steps {
            match &s.skipped {
                Some(r) => out.push_str(&format!("  {:<32} skipped: {r}\n", s.name)),
                None => {
                    let stats: Vec<String> = s.stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push_str(&format!("  {:<32} {:>9.3} ms  {}\n", s.name, s.millis, stats.join(" ")));
                }
            }
        }
        out
    }
}

fn parse<'c>(ctx: &'c Context, input: Input<'_>, name: &str) -> Result<Module<'c>, Vec<Diag>> {
    match input {
        Input::FxJson(t) => vllm_fx::import(ctx, t, name),
        Input::Mlir(t) => mlir_support::source::parse(ctx, t, name),
    }
}

fn dump(dir: &std::path::Path, stem: &str, module: &Module<'_>, fx: bool) {
    let _ = std::fs::create_dir_all(dir);
    let _ = std::fs::write(dir.join(format!("{stem}.mlir")), module.as_operation().to_string());
    if fx && let Ok(doc) = vllm_fx::export(module) {
        let _ = std::fs::write(dir.join(format!("{stem}.json")), vllm_fx::to_text(&doc));
    }
}

/// Builds the plan a compile would run (for `--print-pipeline` / `--print-uuid`).
pub fn plan(options: &CompileOptions) -> Result<(Plan, Vec<String>), Diag> {
    let mut config = options.config.clone();
    let warnings = config.apply_implications();
    let mut pm = PostGradPassManager::new(config);
    pm.tp_size = options.tp_size.max(1);
    pm.debug_node = options.debug_node.clone();
    for p in &options.caller_passes {
        pm.add_caller_pass(p.clone());
    }
    for p in &options.custom_passes {
        pm.add(p.clone());
    }
    let plan = pm.plan(options.shape.unwrap_or(ShapeContext::Symbolic)).map_err(|e| Diag::error("config", e.0))?;
    Ok((plan, warnings))
}

/// Compiles `input` (named `name` in diagnostics) under `options`.
///
/// Safe to call from several threads at once: each call has its own MLIR
/// context; the pass registry it shares is initialized once.
///
/// ```
/// use vllm_pipeline::{compile, CompileOptions, Input, PassConfig, ShapeContext};
/// let graph = r#"func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
///   %dead = "aten.neg"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32>
///   return %x : tensor<?x8xf32>
/// }"#;
/// let options = CompileOptions { shape: Some(ShapeContext::Static(16)), ..Default::default() };
/// let result = compile(Input::Mlir(graph), "f.mlir", &options).unwrap();
/// assert!(result.mlir.contains("tensor<16x8xf32>"));
/// assert!(!result.mlir.contains("aten.neg"));
/// assert_eq!(result.uuid.len(), 64);
/// ```
pub fn compile(input: Input<'_>, name: &str, options: &CompileOptions) -> Result<CompileResult, Vec<Diag>> {
    let (plan, warnings) = plan(options).map_err(|d| vec![d])?;
    let format = if options.emit_fx { "mlir+fx" } else { "mlir" };
    // The key hashes the whole graph text: only worth it with a cache.
    let key = options.cache.as_ref().map(|_| CompileCache::key(input.text(), &plan.uuid, &plan.shape.to_string(), format));
    let mut cache_status = CacheStatus::Disabled;
    if let (Some(cache), Some(key)) = (&options.cache, &key) {
        match cache.get(key) {
            Lookup::Hit(body) => {
                let (mlir, fx) = match body.split_once("\n//--fx-json--\n") {
                    Some((m, f)) => (m.to_string(), Some(f.to_string())),
                    None => (body, None),
                };
                return Ok(CompileResult {
                    mlir,
                    fx_json: fx,
                    plan_text: plan.pipeline_text(),
                    uuid: plan.uuid.clone(),
                    steps: vec![],
                    warnings,
                    remarks: vec![],
                    cache: CacheStatus::Hit,
                });
            }
            Lookup::Miss => cache_status = CacheStatus::Miss,
            Lookup::Corrupt(why) => cache_status = CacheStatus::Recompiled(why),
        }
    }
    let ctx = vllm_dialect::new_context().map_err(|e| vec![Diag::error(name, e)])?;
    let mut module = parse(&ctx, input, name)?;
    let dump_dir = options.dump_dir.clone().or_else(|| options.config.dump_graph_dir.clone());
    let stages = &options.config.dump_graph_stages;
    let is_fx = matches!(input, Input::FxJson(_));
    let mut reports = Vec::new();
    let mut remarks = Vec::new();
    mlir_support::pass::take_statistics(&ctx);
    for (i, step) in plan.steps.iter().enumerate() {
        let wanted = dump_dir.as_ref().filter(|_| stages.is_empty() || stages.contains(&step.name));
        if let Err(reason) = &step.applies {
            if let Some(d) = wanted {
                let _ = std::fs::create_dir_all(d);
                let _ = std::fs::write(d.join(format!("{i:02}.{}.skipped.txt", step.name)), format!("{reason}\n"));
            }
            reports.push(StepReport { name: step.name.clone(), skipped: Some(reason.clone()), millis: 0.0, stats: vec![] });
            continue;
        }
        if let Some(d) = wanted {
            dump(d, &format!("{i:02}.{}.before", step.name), &module, is_fx);
        }
        let pipeline = Pipeline::parse(&ctx, &format!("builtin.module({})", step.element)).map_err(|d| vec![d])?;
        pipeline.verify_each(options.verify_each);
        let start = Instant::now();
        remarks.extend(pipeline.run(&mut module)?);
        let millis = start.elapsed().as_secs_f64() * 1e3;
        let stats = mlir_support::pass::take_statistics(&ctx).into_iter().map(|(_, s, v)| (s, v)).collect();
        reports.push(StepReport { name: step.name.clone(), skipped: None, millis, stats });
        if let Some(d) = wanted {
            dump(d, &format!("{i:02}.{}.after", step.name), &module, is_fx);
        }
    }
    // The input was verified on import; the output is verified here (and
    // after every pass too with `verify_each`).
    {
        let capture = mlir_support::DiagnosticCapture::attach(&ctx);
        if !module.as_operation().verify() {
            let mut d = capture.take();
            d.push(Diag::error(name, "the pipeline produced invalid IR (a pass bug): rerun with verify_each to find the pass"));
            return Err(d);
        }
    }
    let mlir = module.as_operation().to_string();
    let fx_json = if options.emit_fx { Some(vllm_fx::to_text(&vllm_fx::export(&module).map_err(|d| vec![d])?)) } else { None };
    if let (Some(cache), Some(key)) = (&options.cache, &key) {
        let body = match &fx_json {
            Some(f) => format!("{mlir}\n//--fx-json--\n{f}"),
            None => mlir.clone(),
        };
        if let Err(e) = cache.put(key, &body) {
            return Err(vec![Diag::error(cache.dir().display().to_string(), format!("cannot write the cache entry: {e}"))]);
        }
    }
    Ok(CompileResult {
        mlir,
        fx_json,
        plan_text: plan.pipeline_text(),
        uuid: plan.uuid,
        steps: reports,
        warnings,
        remarks,
        cache: cache_status,
    })
}
