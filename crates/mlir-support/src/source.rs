//! Parsing named source buffers.
use crate::{Diag, DiagnosticCapture, ffi};
use melior::{Context, ir::Module};

/// Parses `text` into a verified module. `name` is the file name that
/// locations and diagnostics carry. A source that is not a single
/// `builtin.module` is wrapped in an implicit one, as `mlir-opt` does.
pub fn parse<'c>(context: &'c Context, text: &str, name: &str) -> Result<Module<'c>, Vec<Diag>> {
    let capture = DiagnosticCapture::attach(context);
    let raw = unsafe { ffi::vllmParseSourceWithName(context.to_raw(), ffi::string_ref(text), ffi::string_ref(name)) };
    let module = unsafe { Module::from_option_raw(raw) };
    let diags = capture.take();
    match module {
        Some(m) => Ok(m),
        None if diags.is_empty() => Err(vec![Diag::error(name, "failed to parse the input")]),
        None => Err(diags),
    }
}
