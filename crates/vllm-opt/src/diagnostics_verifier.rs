//! `--verify-diagnostics`: compares the diagnostics a run produced with the
//! `expected-error`/`-warning`/`-note`/`-remark` annotations in the source,
//! the way mlir-opt does:
//!
//! ```mlir
//! // expected-error @+1 {{requires attribute 'epsilon'}}
//! %0 = "vllm.rms_norm"(%x, %w) : (...) -> ...
//! ```
//!
//! Locations: `@+N`/`@-N` (relative lines), `@N` (absolute), `@above`,
//! `@below`; none means the annotation's own line. Every expected diagnostic
//! must appear (its text is a substring match) and every error or warning
//! produced must be expected. Notes and remarks are only checked when annotated.
use mlir_support::{Diag, Severity};

#[derive(Debug)]
struct Expected {
    severity: Severity,
    line: usize,
    message: String,
    /// Where the annotation itself is, for reporting.
    at_line: usize,
    matched: bool,
}

fn parse_expected(text: &str) -> Result<Vec<Expected>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let mut rest = line;
        while let Some(pos) = rest.find("expected-") {
            rest = &rest[pos + "expected-".len()..];
            let (severity, after) = if let Some(a) = rest.strip_prefix("error") {
                (Severity::Error, a)
            } else if let Some(a) = rest.strip_prefix("warning") {
                (Severity::Warning, a)
            } else if let Some(a) = rest.strip_prefix("note") {
                (Severity::Note, a)
            } else if let Some(a) = rest.strip_prefix("remark") {
                (Severity::Remark, a)
            } else {
                continue;
            };
            let after = after.trim_start();
            let (target, after) = if let Some(a) = after.strip_prefix('@') {
                let end = a.find(|c: char| c.is_whitespace() || c == '{').unwrap_or(a.len());
                let spec = &a[..end];
                let target = match spec {
                    "above" => lineno.checked_sub(1),
                    "below" => Some(lineno + 1),
                    s if s.starts_with('+') => s[1..].parse::<usize>().ok().map(|n| lineno + n),
                    s if s.starts_with('-') => s[1..].parse::<usize>().ok().and_then(|n| lineno.checked_sub(n)),
                    s => s.parse::<usize>().ok(),
                };
                let target = target.ok_or_else(|| format!("{lineno}: invalid expected-* location '@{spec}'"))?;
                (target, a[end..].trim_start())
            } else {
                (lineno, after)
            };
            let Some(body) = after.strip_prefix("{{") else {
                return Err(format!("{lineno}: expected '{{{{' after the expected-* annotation"));
            };
            let end = body.find("}}").ok_or_else(|| format!("{lineno}: unterminated expected-* message"))?;
            out.push(Expected { severity, line: target, message: body[..end].to_string(), at_line: lineno, matched: false });
            rest = &body[end + 2..];
        }
    }
    Ok(out)
}

/// Returns the mismatches as error diagnostics; empty means everything matched.
pub fn verify(file: &str, text: &str, produced: &[Diag]) -> Vec<Diag> {
    let mut expected = match parse_expected(text) {
        Ok(e) => e,
        Err(e) => return vec![Diag::error(file, format!("invalid expected-* annotation at line {e}"))],
    };
    let mut problems = Vec::new();
    let mut flat: Vec<&Diag> = Vec::new();
    for d in produced {
        flat.push(d);
        flat.extend(d.notes.iter());
    }
    for d in flat {
        let line = d.loc.as_ref().filter(|l| l.file == file).map(|l| l.line);
        let hit =
            expected.iter_mut().find(|e| !e.matched && e.severity == d.severity && Some(e.line) == line && d.message.contains(&e.message));
        match hit {
            Some(e) => e.matched = true,
            None if matches!(d.severity, Severity::Error | Severity::Warning) => {
                let mut u = d.clone();
                u.severity = Severity::Error;
                u.message = format!("unexpected {}: {}", d.severity.as_str(), d.message);
                u.notes.clear();
                problems.push(u);
            }
            None => {}
        }
    }
    for e in expected.iter().filter(|e| !e.matched) {
        problems.push(Diag {
            severity: Severity::Error,
            loc: Some(mlir_support::SourceLoc { file: file.to_string(), line: e.at_line, column: 1 }),
            loc_label: String::new(),
            message: format!("expected {} \"{}\" was not produced (at line {})", e.severity.as_str(), e.message, e.line),
            notes: vec![],
        });
    }
    problems
}
