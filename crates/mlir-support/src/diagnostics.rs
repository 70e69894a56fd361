//! Diagnostics as data.
//!
//! MLIR reports problems through a context-wide handler. [`DiagnosticCapture`]
//! installs one that records every diagnostic (with its notes) as a [`Diag`],
//! so drivers can print them as `file:line:col: error: message`, compare them
//! with `expected-error` annotations, or return them from library calls.
use melior::{
    Context,
    diagnostic::{Diagnostic, DiagnosticHandlerId, DiagnosticSeverity},
    ir::Location,
};
use std::{
    fmt,
    sync::{Arc, Mutex},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    Error,
    Warning,
    Note,
    Remark,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
            Severity::Remark => "remark",
        }
    }
}

/// A resolved source position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLoc {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// One diagnostic, detached from the context.
#[derive(Clone, Debug, PartialEq)]
pub struct Diag {
    pub severity: Severity,
    /// The file position, when the location resolves to one.
    pub loc: Option<SourceLoc>,
    /// A printable location when there is no file position (an FX node name,
    /// `unknown`, ...); empty when `loc` says it all.
    pub loc_label: String,
    pub message: String,
    pub notes: Vec<Diag>,
}

impl Diag {
    /// A diagnostic that did not come from MLIR (driver errors).
    pub fn error(label: impl Into<String>, message: impl Into<String>) -> Self {
        Diag { severity: Severity::Error, loc: None, loc_label: label.into(), message: message.into(), notes: vec![] }
    }

    fn from_mlir(d: &Diagnostic) -> Self {
        let severity = match d.severity() {
            DiagnosticSeverity::Error => Severity::Error,
            DiagnosticSeverity::Warning => Severity::Warning,
            DiagnosticSeverity::Note => Severity::Note,
            DiagnosticSeverity::Remark => Severity::Remark,
        };
        let (loc, loc_label) = describe_location(d.location());
        let notes = (0..d.note_count()).filter_map(|i| d.note(i).ok()).map(|n| Diag::from_mlir(&n)).collect();
        Diag { severity, loc, loc_label, message: d.to_string(), notes }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.loc, self.loc_label.is_empty()) {
            (Some(l), true) => write!(f, "{}:{}:{}: ", l.file, l.line, l.column)?,
            (Some(l), false) => write!(f, "{}:{}:{}: ({}) ", l.file, l.line, l.column, self.loc_label)?,
            (None, false) => write!(f, "{}: ", self.loc_label)?,
            (None, true) => {}
        }
        write!(f, "{}: {}", self.severity.as_str(), self.message)?;
        for n in &self.notes {
            write!(f, "\n{n}")?;
        }
        Ok(())
    }
}

/// Resolves a location to a file position where it has one (through name,
/// call-site and fused locations), and a label for what it cannot resolve.
pub fn describe_location(loc: Location<'_>) -> (Option<SourceLoc>, String) {
    if loc.is_file_line_col_range() {
        let file = loc.file_line_col_range_filename().as_string_ref().as_str().unwrap_or("").to_string();
        return (
            Some(SourceLoc { file, line: loc.file_line_col_range_start_line(), column: loc.file_line_col_range_start_column() }),
            String::new(),
        );
    }
    if loc.is_name() {
        let name = loc.name_value().as_string_ref().as_str().unwrap_or("").to_string();
        let (inner, label) = describe_location(loc.name_child_location());
        let label = if label.is_empty() || label == "unknown" { format!("node '{name}'") } else { format!("node '{name}' {label}") };
        return (inner, label);
    }
    if loc.is_call_site() {
        return describe_location(loc.call_site_callee());
    }
    if loc.is_fused() {
        for i in 0..loc.fused_num_locations() {
            let (inner, label) = describe_location(loc.fused_location(i));
            if inner.is_some() || (!label.is_empty() && label != "unknown") {
                return (inner, label);
            }
        }
    }
    (None, "unknown".to_string())
}

/// Records every diagnostic of a context while alive; detaches on drop.
pub struct DiagnosticCapture<'c> {
    context: &'c Context,
    id: Option<DiagnosticHandlerId>,
    diags: Arc<Mutex<Vec<Diag>>>,
}

impl<'c> DiagnosticCapture<'c> {
    pub fn attach(context: &'c Context) -> Self {
        let diags = Arc::new(Mutex::new(Vec::new()));
        let sink = diags.clone();
        let id = context.attach_diagnostic_handler(move |d| {
            if let Ok(mut v) = sink.lock() {
                v.push(Diag::from_mlir(&d));
            }
            true
        });
        DiagnosticCapture { context, id: Some(id), diags }
    }

    /// Takes the diagnostics recorded so far.
    pub fn take(&self) -> Vec<Diag> {
        self.diags.lock().map(|mut v| std::mem::take(&mut *v)).unwrap_or_default()
    }

    pub fn has_errors(&self) -> bool {
        self.diags.lock().map(|v| v.iter().any(|d| d.severity == Severity::Error)).unwrap_or(false)
    }
}

impl Drop for DiagnosticCapture<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.context.detach_diagnostic_handler(id);
        }
    }
}
