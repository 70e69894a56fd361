//! `vllm-opt --config ... / --runtime-shape / --compile-sizes ...`: vLLM's
//! post-grad pipeline through the library API (crates/pipeline).
use crate::{Cli, Format, fail, print_diags, read_input, write_atomically};
use mlir_support::Diag;
use std::process::ExitCode;
use vllm_pipeline::{CacheStatus, CompileCache, CompileOptions, CustomPass, Input, PassConfig, ShapeContext, compile};

fn load_config(spec: &str) -> Result<(PassConfig, Vec<String>), Diag> {
    let text = if spec.trim_start().starts_with('{') {
        spec.to_string()
    } else {
        std::fs::read_to_string(spec).map_err(|e| Diag::error(spec, format!("cannot read the config: {e}")))?
    };
    PassConfig::from_json(&text).map_err(|e| Diag::error(spec.chars().take(60).collect::<String>(), e.0))
}

fn shapes(cli: &Cli) -> Result<Vec<Option<ShapeContext>>, Diag> {
    let given = [cli.runtime_shape.is_some(), cli.compile_range.is_some(), !cli.compile_sizes.is_empty()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(Diag::error("vllm-opt", "give one of --runtime-shape, --compile-range and --compile-sizes"));
    }
    let parse = |s: &str| ShapeContext::parse(s).map_err(|e| Diag::error("vllm-opt", e));
    if let Some(s) = &cli.runtime_shape {
        return Ok(vec![Some(parse(s)?)]);
    }
    if let Some(r) = &cli.compile_range {
        if !r.contains(':') {
            return Err(Diag::error("vllm-opt", format!("--compile-range takes A:B, got '{r}'")));
        }
        return Ok(vec![Some(parse(r)?)]);
    }
    if !cli.compile_sizes.is_empty() {
        let mut out = Vec::new();
        for s in &cli.compile_sizes {
            let sh = parse(s)?;
            if !out.contains(&Some(sh)) {
                out.push(Some(sh));
            }
        }
        return Ok(out);
    }
    Ok(vec![None])
}

fn options(cli: &Cli, config: &PassConfig, shape: Option<ShapeContext>) -> Result<CompileOptions, Diag> {
    let custom_passes = cli
        .custom_pass
        .iter()
        .map(|n| CustomPass::registered(n).map_err(|e| Diag::error("--custom-pass", e.0)))
        .collect::<Result<Vec<_>, _>>()?;
    let cache = match &cli.cache_dir {
        Some(d) => Some(CompileCache::new(d).map_err(|e| Diag::error(d, format!("cannot create the cache directory: {e}")))?),
        None => None,
    };
    Ok(CompileOptions {
        config: config.clone(),
        shape,
        tp_size: cli.tp_size,
        caller_passes: vec![],
        custom_passes,
        emit_fx: cli.emit == Format::FxJson,
        cache,
        dump_dir: cli.dump_dir.clone().map(Into::into),
        verify_each: cli.verify_each,
        debug_node: cli.debug_node.clone().or_else(|| std::env::var("VLLM_OPT_DEBUG").ok()).filter(|n| !n.is_empty()),
    })
}

/// The output path for one of several sizes: `out.mlir` -> `out.n16.mlir`.
fn sized_path(out: &str, shape: &Option<ShapeContext>, many: bool) -> String {
    let (Some(sh), true) = (shape, many) else { return out.to_string() };
    let tag = format!("n{}", sh.to_string().replace(':', "-"));
    match out.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.contains('/') => format!("{stem}.{tag}.{ext}"),
        _ => format!("{out}.{tag}"),
    }
}

pub fn run(cli: &Cli) -> ExitCode {
    let (config, mut warnings) = match cli.config.as_deref().map(load_config).transpose() {
        Ok(Some(c)) => c,
        Ok(None) => (PassConfig::default(), vec![]),
        Err(d) => return fail(d),
    };
    let shapes = match shapes(cli) {
        Ok(s) => s,
        Err(d) => return fail(d),
    };
    if cli.print_pipeline || cli.print_uuid {
        for shape in &shapes {
            let opts = match options(cli, &config, *shape) {
                Ok(o) => o,
                Err(d) => return fail(d),
            };
            match vllm_pipeline::plan(&opts) {
                Ok((plan, _)) => {
                    if cli.print_pipeline {
                        println!("{}", plan.pipeline_text());
                    }
                    if cli.print_uuid {
                        println!("{}", plan.uuid);
                    }
                }
                Err(d) => return fail(d),
            }
        }
        return ExitCode::SUCCESS;
    }
    let (file, text) = match read_input(&cli.input) {
        Ok(x) => x,
        Err(d) => return fail(d),
    };
    let is_fx = cli.input_format.unwrap_or(if file.ends_with(".json") { Format::FxJson } else { Format::Mlir }) == Format::FxJson;
    let many = shapes.len() > 1;
    if many && cli.output == "-" && cli.emit == Format::FxJson {
        return fail(Diag::error("vllm-opt", "--compile-sizes with --emit=fx-json needs -o (one file per size)"));
    }
    // One compile per size, on all cores: each has its own MLIR context.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(shapes.len()).max(1);
    let jobs: Vec<(usize, Option<ShapeContext>)> = shapes.iter().copied().enumerate().collect();
    let results = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some((idx, shape)) = jobs.get(i).copied() else { break };
                    let r = options(cli, &config, shape).map_err(|d| vec![d]).and_then(|o| {
                        let input = if is_fx { Input::FxJson(&text) } else { Input::Mlir(&text) };
                        compile(input, &file, &o)
                    });
                    results.lock().unwrap_or_else(|e| e.into_inner()).push((idx, shape, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _, _)| *i);
    let mut ok = true;
    let mut stdout_parts = Vec::new();
    let mut kernel_inputs: Vec<(Option<u64>, String)> = Vec::new();
    for (_, shape, r) in results {
        let tag = shape.map_or("symbolic".to_string(), |s| s.to_string());
        match r {
            Err(d) => {
                print_diags(&d);
                ok = false;
            }
            Ok(res) => {
                warnings.extend(res.warnings.iter().cloned());
                print_diags(&res.remarks);
                match &res.cache {
                    CacheStatus::Disabled => {}
                    CacheStatus::Hit => eprintln!("cache: hit ({tag}) {}", &res.uuid[..16]),
                    CacheStatus::Miss => eprintln!("cache: miss ({tag}), stored"),
                    CacheStatus::Recompiled(why) => eprintln!("cache: corrupt entry ({why}) for {tag}, recompiled and replaced"),
                }
                if cli.emit_kernels.is_some() {
                    kernel_inputs.push((
                        match shape {
                            Some(ShapeContext::Static(n)) => Some(n),
                            _ => None,
                        },
                        res.mlir.clone(),
                    ));
                }
                if cli.pass_summary || cli.timing {
                    eprint!("{}", res.summary().replace("summary -===", &format!("summary ({tag}) -===")));
                    eprintln!("  op verifications so far in this process: {}", mlir_support::context::verifications());
                }
                let body = match cli.emit {
                    Format::Mlir => res.mlir,
                    Format::FxJson => res.fx_json.unwrap_or_default(),
                };
                if cli.output == "-" {
                    stdout_parts.push(if many { format!("// ----- runtime_shape={tag}\n{body}") } else { body });
                } else if let Err(e) = write_atomically(&sized_path(&cli.output, &shape, many), body.as_bytes()) {
                    print_diags(&[Diag::error(&cli.output, format!("could not write the output: {e}"))]);
                    ok = false;
                }
            }
        }
    }
    // Kernels only for a compilation that succeeded in every shape context:
    // a manifest missing a context would look complete.
    if let Some(dir) = cli.emit_kernels.as_ref().filter(|_| ok)
        && let Err(d) = emit_kernels(
            dir,
            &vllm_codegen::Options {
                arch: cli.cuda_arch.clone(),
                persistent: cli.persistent_kernels,
                silu_fast_division: cli.silu_fast_division,
            },
            &kernel_inputs,
        )
    {
        print_diags(&[d]);
        ok = false;
    }
    warnings.sort();
    warnings.dedup();
    for w in warnings {
        eprintln!("warning: {w}");
    }
    if !stdout_parts.is_empty() {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(stdout_parts.join("\n").as_bytes());
        let _ = out.flush();
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `--emit-kernels DIR`: the unique kernels of every compiled shape
/// context, one PTX each, and manifest.json (ops, parameter ABI in launch
/// order, grid/block per shape context).
fn emit_kernels(dir: &str, options: &vllm_codegen::Options, compiled: &[(Option<u64>, String)]) -> Result<(), Diag> {
    let compiled: Vec<(Option<u64>, &str)> = compiled.iter().map(|(t, text)| (*t, text.as_str())).collect();
    let emitted = vllm_codegen::emit_with(&compiled, options).map_err(|e| Diag::error(dir, e))?;
    std::fs::create_dir_all(dir).map_err(|e| Diag::error(dir, format!("cannot create the kernel directory: {e}")))?;
    for (k, ptx) in &emitted.kernels {
        let path = std::path::Path::new(dir).join(format!("{}.ptx", k.name));
        write_atomically(&path.to_string_lossy(), ptx.as_bytes())
            .map_err(|e| Diag::error(dir, format!("cannot write {}: {e}", path.display())))?;
    }
    let path = std::path::Path::new(dir).join("manifest.json");
    let text = serde_json::to_string_pretty(&emitted.manifest).unwrap_or_default() + "\n";
    write_atomically(&path.to_string_lossy(), text.as_bytes())
        .map_err(|e| Diag::error(dir, format!("cannot write {}: {e}", path.display())))?;
    let sites: usize = emitted.kernels.iter().map(|(k, _)| k.sites).sum();
    eprintln!("kernels: {} unique for {sites} sites, written to {dir}", emitted.kernels.len());
    if !emitted.not_generated.is_empty() {
        let left: Vec<String> = emitted.not_generated.iter().map(|(op, n)| format!("{op} ({n})")).collect();
        eprintln!("not generated (vLLM's own kernels run them; manifest.json: not_generated): {}", left.join(", "));
    }
    Ok(())
}
