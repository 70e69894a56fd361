//! A pass manager built from a textual pipeline.
use crate::{Diag, DiagnosticCapture};
use melior::{
    Context,
    ir::{Module, operation::OperationPrintingFlags},
    pass::{PassIrPrintingOptions, PassManager},
};

/// Instrumentation switches, named after their mlir-opt flags.
#[derive(Clone, Debug, Default)]
pub struct Instrumentation {
    /// `--mlir-print-ir-before-all`
    pub print_before_all: bool,
    /// `--mlir-print-ir-after-all`
    pub print_after_all: bool,
    /// `--mlir-print-ir-after-change`
    pub print_after_change: bool,
    /// `--mlir-print-ir-after-failure`
    pub print_after_failure: bool,
    /// `--mlir-timing` (report on stderr when the pipeline is dropped)
    pub timing: bool,
}

pub struct Pipeline<'c> {
    context: &'c Context,
    pm: PassManager<'c>,
}

impl<'c> Pipeline<'c> {
    /// Parses `text` (`builtin.module(...)`). An unknown pass, a bad option or
    /// a syntax error comes back as one error diagnostic located in the text.
    pub fn parse(context: &'c Context, text: &str) -> Result<Self, Diag> {
        crate::pass::register_upstream_passes();
        let pm = PassManager::new(context);
        melior::utility::parse_pass_pipeline(pm.as_operation_pass_manager(), text).map_err(|e| {
            let msg = match e {
                melior::Error::ParsePassPipeline(m) => m,
                other => other.to_string(),
            };
            pipeline_error(&msg)
        })?;
        Ok(Pipeline { context, pm })
    }

    /// Verify the IR after every pass (MLIR's default: on). Turning it off is
    /// for callers that verify the final result themselves.
    pub fn verify_each(&self, on: bool) {
        self.pm.enable_verifier(on);
    }

    /// The pipeline in MLIR's textual form, as it will run.
    pub fn to_text(&self) -> String {
        self.pm.as_operation_pass_manager().to_string()
    }

    pub fn instrument(&self, inst: &Instrumentation) {
        if inst.print_before_all || inst.print_after_all || inst.print_after_change || inst.print_after_failure {
            // MLIR refuses (with a fatal error) to print the IR of a
            // multi-threaded pass manager: dumps need a stable order.
            self.context.enable_multi_threading(false);
            self.pm.enable_ir_printing(&PassIrPrintingOptions {
                before_all: inst.print_before_all,
                after_all: inst.print_after_all || inst.print_after_change,
                module_scope: true,
                on_change: inst.print_after_change,
                on_failure: inst.print_after_failure,
                flags: OperationPrintingFlags::new(),
                tree_printing_path: Default::default(),
            });
        }
        if inst.timing {
            unsafe { mlir_sys::mlirPassManagerEnableTiming(self.pm.to_raw()) }
        }
    }

    /// Runs the pipeline; on failure returns the diagnostics the passes emitted.
    pub fn run(&self, module: &mut Module<'c>) -> Result<Vec<Diag>, Vec<Diag>> {
        let capture = DiagnosticCapture::attach(self.context);
        let result = self.pm.run(module);
        let diags = capture.take();
        match result {
            Ok(()) => Ok(diags),
            Err(_) if diags.iter().any(|d| d.severity == crate::Severity::Error) => Err(diags),
            Err(_) => {
                let mut diags = diags;
                diags.push(Diag::error("<pass-pipeline>", "pass pipeline failed"));
                Err(diags)
            }
        }
    }
}

/// Turns MLIR's "MLIR Textual PassPipeline Parser:1:35: error: msg\n<text>\n<caret>"
/// into a diagnostic located in the pipeline text.
fn pipeline_error(msg: &str) -> Diag {
    let msg = msg.trim_end();
    let parsed = msg.strip_prefix("MLIR Textual PassPipeline Parser:").and_then(|rest| {
        let mut it = rest.splitn(3, ':');
        let line = it.next()?.trim().parse::<usize>().ok()?;
        let column = it.next()?.trim().parse::<usize>().ok()?;
        let body = it.next()?.trim_start();
        let body = body.strip_prefix("error:").unwrap_or(body).trim_start();
        Some((line, column, body.to_string()))
    });
    match parsed {
        Some((line, column, body)) => Diag {
            severity: crate::Severity::Error,
            loc: Some(crate::SourceLoc { file: "<pass-pipeline>".into(), line, column }),
            loc_label: String::new(),
            message: body,
            notes: vec![],
        },
        None => Diag::error("<pass-pipeline>", msg),
    }
}
