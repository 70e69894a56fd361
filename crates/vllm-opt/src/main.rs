//! `vllm-opt`: the pipeline tool, with mlir-opt's conventions.
//!
//! It parses arguments, reads and writes files and prints diagnostics; all of
//! the compiler work happens in the library crates. Every failure is an
//! `error:` with a location and exit code 1.
#![deny(unsafe_code)]
// The arguments' doc comments are clap's --help text (`<pass>`, `<node>`), not HTML.
#![allow(rustdoc::invalid_html_tags)]

mod diagnostics_verifier;
mod post_grad;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use mlir_support::{
    Diag, Severity,
    melior::ir::operation::{OperationLike, OperationPrintingFlags},
    pipeline::{Instrumentation, Pipeline},
};
use std::{
    io::{Read, Write},
    process::ExitCode,
};

#[derive(Parser, Debug)]
#[command(
    name = "vllm-opt",
    version,
    about = "vLLM's post-grad graph compiler: the torch-like dialects and vllm-opt's passes, driven like mlir-opt.",
    after_help = "Passes can also be given as flags, as with mlir-opt: `vllm-opt --vllm-dce x.mlir`\n\
                  (project passes that run on functions are nested under func.func for you).\n\
                  The registered passes follow."
)]
pub(crate) struct Cli {
    /// Input file (`.mlir`); `-` reads standard input.
    #[arg(default_value = "-")]
    pub(crate) input: String,

    /// Output file; `-` writes standard output.
    #[arg(short = 'o', long = "output", default_value = "-")]
    pub(crate) output: String,

    /// A textual pass pipeline, e.g. 'builtin.module(func.func(vllm-dce),canonicalize)'.
    #[arg(long = "pass-pipeline", value_name = "PIPELINE")]
    pub(crate) pass_pipeline: Option<String>,

    /// Split the input at `// -----` lines and process each part on its own.
    #[arg(long = "split-input-file")]
    pub(crate) split_input_file: bool,

    /// Check diagnostics against `expected-*` annotations in the input.
    #[arg(long = "verify-diagnostics")]
    pub(crate) verify_diagnostics: bool,

    /// Print the IR before every pass (to stderr).
    #[arg(long = "mlir-print-ir-before-all")]
    pub(crate) print_ir_before_all: bool,

    /// Print the IR after every pass (to stderr).
    #[arg(long = "mlir-print-ir-after-all")]
    pub(crate) print_ir_after_all: bool,

    /// Print the IR after every pass that changed it (to stderr).
    #[arg(long = "mlir-print-ir-after-change")]
    pub(crate) print_ir_after_change: bool,

    /// Print the IR after a pass failure (to stderr).
    #[arg(long = "mlir-print-ir-after-failure")]
    pub(crate) print_ir_after_failure: bool,

    /// Report the time spent in each pass (to stderr).
    #[arg(long = "mlir-timing")]
    pub(crate) timing: bool,

    /// Report pass statistics (e.g. rewrite counts) (to stderr).
    #[arg(long = "mlir-pass-statistics")]
    pub(crate) statistics: bool,

    /// Print location information in the output IR.
    #[arg(long = "mlir-print-debuginfo")]
    pub(crate) print_debuginfo: bool,

    /// Print the pass pipeline that will run (to stderr), then run it.
    #[arg(long = "dump-pass-pipeline")]
    pub(crate) dump_pass_pipeline: bool,

    /// Input format; by default `.json` files are FX graph JSON, anything else MLIR.
    #[arg(long = "input-format", value_enum)]
    pub(crate) input_format: Option<Format>,

    /// Output format.
    #[arg(long = "emit", value_enum, default_value = "mlir")]
    pub(crate) emit: Format,

    /// Run vLLM's post-grad pipeline built from this PassConfig (a JSON file or inline JSON).
    #[arg(long = "config", value_name = "FILE|JSON", help_heading = "Post-grad pipeline")]
    pub(crate) config: Option<String>,

    /// Compile specialized to N tokens (vLLM's runtime_shape).
    #[arg(long = "runtime-shape", value_name = "N", help_heading = "Post-grad pipeline")]
    pub(crate) runtime_shape: Option<String>,

    /// Compile for a token range A:B (vLLM's compile ranges).
    #[arg(long = "compile-range", value_name = "A:B", help_heading = "Post-grad pipeline")]
    pub(crate) compile_range: Option<String>,

    /// Compile every size in one run, in parallel, each to its own output (OUT.nN.EXT).
    #[arg(long = "compile-sizes", value_name = "N,N,...", value_delimiter = ',', help_heading = "Post-grad pipeline")]
    pub(crate) compile_sizes: Vec<String>,

    /// Tensor-parallel size (sequence parallelism and async TP need sizes divisible by it).
    #[arg(long = "tp-size", value_name = "N", default_value_t = 1, help_heading = "Post-grad pipeline")]
    pub(crate) tp_size: u64,

    /// A registered pass to run after the built-ins, before fix-functionalization (repeatable).
    #[arg(long = "custom-pass", value_name = "NAME", help_heading = "Post-grad pipeline")]
    pub(crate) custom_pass: Vec<String>,

    /// Print the post-grad pipeline as one textual MLIR pipeline and exit.
    #[arg(long = "print-pipeline", help_heading = "Post-grad pipeline")]
    pub(crate) print_pipeline: bool,

    /// Print the cache key (uuid) of the configuration and passes and exit.
    #[arg(long = "print-uuid", help_heading = "Post-grad pipeline")]
    pub(crate) print_uuid: bool,

    /// Print the PyTorch targets of the ops the fusions write, one a line, and exit
    /// (what a running vLLM may lack: the config's unavailable_ops).
    #[arg(long = "print-fused-targets", help_heading = "Post-grad pipeline")]
    pub(crate) print_fused_targets: bool,

    /// Store and reuse compiled outputs here, keyed by sha256(graph, uuid, shape).
    #[arg(long = "cache-dir", value_name = "DIR", help_heading = "Post-grad pipeline")]
    pub(crate) cache_dir: Option<String>,

    /// Write NN.<pass>.before|after.mlir (and .json for FX input) for each pass.
    #[arg(long = "dump-dir", value_name = "DIR", help_heading = "Post-grad pipeline")]
    pub(crate) dump_dir: Option<String>,

    /// Explain why each fusion rule did or did not fire at this FX node (also: VLLM_OPT_DEBUG=<node>).
    #[arg(long = "debug-node", value_name = "NODE", help_heading = "Post-grad pipeline")]
    pub(crate) debug_node: Option<String>,

    /// Verify the IR after every pass of the post-grad pipeline (default: input and result only).
    #[arg(long = "verify-each", help_heading = "Post-grad pipeline")]
    pub(crate) verify_each: bool,

    /// Print the per-pass summary (rewrites, skipped passes and why, time) to stderr.
    #[arg(long = "pass-summary", help_heading = "Post-grad pipeline")]
    pub(crate) pass_summary: bool,

    /// Write one PTX file per unique fused kernel of the compiled graph, and manifest.json.
    #[arg(long = "emit-kernels", value_name = "DIR", help_heading = "Kernels")]
    pub(crate) emit_kernels: Option<String>,

    /// The GPU architecture the kernels target: sm_89, sm_90(a), sm_100(a), sm_103(a), sm_120(a) or sm_121(a).
    #[arg(long = "cuda-arch", value_name = "ARCH", default_value = "sm_90", help_heading = "Kernels")]
    pub(crate) cuda_arch: String,

    /// For many tokens (symbolic, or >= 256), emit the norms, the per-token quants and the per-tensor
    /// quant's max kernel in their persistent form (`_p`: a grid of the CTAs the GPU holds at once, each
    /// walking rows with the next row's loads in flight; takes num_tokens). Off by default until
    /// measured faster (docs/codegen-plan.md).
    #[arg(long = "persistent-kernels", help_heading = "Kernels")]
    pub(crate) persistent_kernels: bool,

    /// SiLU-and-mul kernels run div.rn.f32's fast path for all lanes in one block and fall back to
    /// div.rn.f32 only when a lane is out of its range (the same bits, `_fdiv`; off until a GPU run
    /// says it is faster).
    #[arg(long = "silu-fast-division", help_heading = "Kernels")]
    pub(crate) silu_fast_division: bool,
}

impl Cli {
    fn post_grad_mode(&self) -> bool {
        self.config.is_some()
            || self.runtime_shape.is_some()
            || self.compile_range.is_some()
            || !self.compile_sizes.is_empty()
            || !self.custom_pass.is_empty()
            || self.print_pipeline
            || self.print_uuid
            || self.cache_dir.is_some()
            || self.dump_dir.is_some()
            || self.emit_kernels.is_some()
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// MLIR text.
    Mlir,
    /// FX graph JSON (shared/spec/fx-graph-json.md).
    FxJson,
}

/// Splits mlir-opt style pass flags (`--canonicalize`, `--vllm-dce=opt=1`) from
/// the other arguments and turns them into pipeline elements.
fn extract_pass_flags(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    let project: Vec<&'static vllm_passes::PassInfo> = vllm_passes::infos();
    let mut rest = Vec::new();
    let mut passes = Vec::new();
    for (i, a) in args.into_iter().enumerate() {
        let flag = a.strip_prefix("--").or_else(|| a.strip_prefix('-').filter(|s| !s.starts_with('-')));
        let element = flag.filter(|_| i > 0).and_then(|f| {
            let (name, opts) = match f.split_once('=') {
                Some((n, o)) => (n, Some(o)),
                None => (f, None),
            };
            if !mlir_support::pass::is_registered(name) {
                return None;
            }
            let body = match opts {
                Some(o) => format!("{name}{{{o}}}"),
                None => name.to_string(),
            };
            let anchor = project.iter().find(|p| p.argument == name).and_then(|p| p.anchor);
            Some(match anchor {
                Some(op) => format!("{op}({body})"),
                None => body,
            })
        });
        match element {
            Some(e) => passes.push(e),
            None => rest.push(a),
        }
    }
    (rest, passes)
}

pub(crate) fn read_input(path: &str) -> Result<(String, String), Diag> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Diag::error("<stdin>", format!("could not read standard input: {e}")))?;
        return Ok(("<stdin>".to_string(), s));
    }
    let s = std::fs::read_to_string(path).map_err(|e| Diag::error(path, format!("could not open input file: {e}")))?;
    Ok((path.to_string(), s))
}

/// The parts of a `--split-input-file` input, each padded with blank lines so
/// that diagnostics keep the line numbers of the whole file.
fn split_input(text: &str, split: bool) -> Vec<String> {
    if !split {
        return vec![text.to_string()];
    }
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut first_line = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "// -----" {
            parts.push("\n".repeat(first_line) + &cur);
            cur.clear();
            first_line = i + 1;
        } else {
            cur.push_str(line);
        }
    }
    parts.push("\n".repeat(first_line) + &cur);
    parts
}

pub(crate) fn print_diags(diags: &[Diag]) {
    let mut err = std::io::stderr().lock();
    for d in diags {
        let _ = writeln!(err, "{d}");
    }
}

pub(crate) fn fail(diag: Diag) -> ExitCode {
    print_diags(&[diag]);
    ExitCode::FAILURE
}

fn print_statistics(stats: &[(&str, String, u64)]) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "===- Pass statistics -===");
    let mut last = "";
    for (pass, stat, value) in stats {
        if *pass != last {
            let _ = writeln!(err, "{pass}");
            last = pass;
        }
        let _ = writeln!(err, "  ({value}) {stat}");
    }
}

/// After clap's help. Stops quietly when stdout is closed (`--help | head`)
/// instead of panicking as `println!` would.
fn print_help_passes() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let mut text = String::from("\nvllm-opt passes:\n");
    for p in vllm_passes::infos() {
        text.push_str(&format!("  --{:<40} - {}\n", p.argument, p.summary));
    }
    text.push_str("\nEvery registered pass (vllm-opt's and upstream MLIR's), with options:\n");
    if out.write_all(text.as_bytes()).and_then(|_| out.flush()).is_ok() {
        drop(out);
        mlir_support::pass::print_registered_passes();
    }
}

fn main() -> ExitCode {
    mlir_support::context::install_fatal_error_handler();
    vllm_passes::register_all();
    let (args, pass_flags) = extract_pass_flags(std::env::args().collect());
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let help = matches!(e.kind(), clap::error::ErrorKind::DisplayHelp);
            let _ = e.print();
            if help {
                print_help_passes();
                return ExitCode::SUCCESS;
            }
            return if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    if cli.print_fused_targets {
        use std::io::Write;
        let text: String = vllm_passes::fused_targets().iter().map(|t| format!("{t}\n")).collect();
        // Quietly when stdout is closed, as --help.
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        return ExitCode::SUCCESS;
    }
    if cli.post_grad_mode() {
        if cli.pass_pipeline.is_some() || !pass_flags.is_empty() || cli.split_input_file {
            return fail(Diag::error(
                "vllm-opt",
                "the post-grad pipeline (--config, --runtime-shape, ...) cannot be combined with --pass-pipeline, pass flags or --split-input-file",
            ));
        }
        return post_grad::run(&cli);
    }
    let pipeline_text = match (&cli.pass_pipeline, pass_flags.is_empty()) {
        (Some(_), false) => {
            return fail(Diag::error("vllm-opt", "--pass-pipeline cannot be combined with individual pass flags"));
        }
        (Some(p), true) => Some(p.clone()),
        (None, false) => Some(format!("builtin.module({})", pass_flags.join(","))),
        (None, true) => None,
    };
    let (file, text) = match read_input(&cli.input) {
        Ok(x) => x,
        Err(d) => return fail(d),
    };
    let context = match vllm_dialect::new_context() {
        Ok(c) => c,
        Err(e) => return fail(Diag::error("vllm-opt", e)),
    };
    let pipeline = match pipeline_text.as_deref().map(|p| Pipeline::parse(&context, p)).transpose() {
        Ok(p) => p,
        Err(d) => return fail(d),
    };
    if let Some(p) = &pipeline {
        p.instrument(&Instrumentation {
            print_before_all: cli.print_ir_before_all,
            print_after_all: cli.print_ir_after_all,
            print_after_change: cli.print_ir_after_change,
            print_after_failure: cli.print_ir_after_failure,
            timing: cli.timing,
        });
        if cli.dump_pass_pipeline {
            eprintln!("Pass Manager with pipeline:\n{}", p.to_text());
        }
    }

    let format = cli.input_format.unwrap_or(if file.ends_with(".json") { Format::FxJson } else { Format::Mlir });
    let mut outputs = Vec::new();
    let mut ok = true;
    let parts = if format == Format::FxJson { vec![text.clone()] } else { split_input(&text, cli.split_input_file) };
    for part in parts {
        let mut diags = Vec::new();
        let parsed = match format {
            Format::Mlir => mlir_support::source::parse(&context, &part, &file),
            Format::FxJson => vllm_fx::import(&context, &part, &file),
        };
        match parsed {
            Err(d) => diags.extend(d),
            Ok(mut module) => {
                let ran = match &pipeline {
                    Some(p) => p.run(&mut module),
                    None => Ok(vec![]),
                };
                let succeeded = ran.is_ok();
                diags.extend(ran.unwrap_or_else(|d| d));
                if succeeded {
                    match cli.emit {
                        Format::Mlir => {
                            let flags = OperationPrintingFlags::new().enable_debug_info(cli.print_debuginfo, false);
                            match module.as_operation().to_string_with_flags(flags) {
                                Ok(s) => outputs.push(s),
                                Err(e) => diags.push(Diag::error(&file, format!("could not print the module: {e}"))),
                            }
                        }
                        Format::FxJson => match vllm_fx::export(&module) {
                            Ok(doc) => outputs.push(vllm_fx::to_text(&doc)),
                            Err(d) => diags.push(d),
                        },
                    }
                }
            }
        }
        if cli.verify_diagnostics {
            let problems = diagnostics_verifier::verify(&file, &part, &diags);
            ok &= problems.is_empty();
            print_diags(&problems);
        } else {
            ok &= !diags.iter().any(|d| d.severity == Severity::Error);
            print_diags(&diags);
        }
    }
    drop(pipeline); // prints the --mlir-timing report, if any
    if cli.statistics {
        print_statistics(&mlir_support::pass::take_statistics(&context));
    }

    let rendered = outputs.join("// -----\n");
    let written = if cli.output == "-" {
        let mut out = std::io::stdout().lock();
        out.write_all(rendered.as_bytes()).and_then(|_| out.flush())
    } else {
        write_atomically(&cli.output, rendered.as_bytes())
    };
    if let Err(e) = written {
        return fail(Diag::error(&cli.output, format!("could not write the output: {e}")));
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Writes through a temporary file and a rename, so a failed run never leaves a torn output.
/// Only a regular file (or a new path) is replaced that way: a device (`-o /dev/null`), a
/// FIFO or a symlink is written in place, or the rename would replace the node itself.
pub(crate) fn write_atomically(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => return std::fs::write(path, bytes),
        _ => {}
    }
    let tmp = format!("{path}.tmp{}", std::process::id());
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
