//! Tidy checks: conventions that keep the test suite honest and the layering
//! visible. Each failure names the file and line to fix.
use crate::{RustTest, bless, root};
use libtest_mimic::Failed;
use std::path::{Path, PathBuf};

pub const TESTS: &[RustTest] = &[
    ("tidy::mlir_tests_have_run_lines", mlir_tests_have_run_lines),
    ("tidy::filecheck_directives_are_well_formed", filecheck_directives_are_well_formed),
    ("tidy::every_pass_has_a_test_file", every_pass_has_a_test_file),
    ("tidy::no_should_panic", no_should_panic),
    ("tidy::ffi_and_unsafe_stay_in_the_binding_layer", ffi_and_unsafe_stay_in_the_binding_layer),
    ("tidy::crate_dependencies_point_down", crate_dependencies_point_down),
    ("tidy::generated_files_are_fresh", generated_files_are_fresh),
    ("tidy::rust_sources_are_formatted", rust_sources_are_formatted),
];

/// `cargo fmt --check` with rustfmt.toml (140 columns): `cargo fmt` fixes it.
fn rust_sources_are_formatted() -> Result<(), Failed> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["fmt", "--all", "--check", "--", "-l"])
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run cargo fmt (rustup component add rustfmt): {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let files = String::from_utf8_lossy(&out.stdout);
    Err(format!("not formatted (run `cargo fmt`):\n{files}{}", String::from_utf8_lossy(&out.stderr)).into())
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

fn fail_if(problems: Vec<String>) -> Result<(), Failed> {
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n").into()) }
}

fn mlir_tests_have_run_lines() -> Result<(), Failed> {
    let mut problems = Vec::new();
    for f in crate::lit::mlir_files() {
        let text = std::fs::read_to_string(&f)?;
        if crate::lit::run_lines(&text).is_empty() {
            problems.push(format!("{}: a .mlir test without a RUN line checks nothing", rel(&f)));
        }
    }
    fail_if(problems)
}

const SUFFIXES: &[&str] = &["", "-NEXT", "-SAME", "-NOT", "-DAG", "-LABEL", "-EMPTY"];

/// The problems of one line: misspelled FileCheck directives and malformed
/// `expected-*` annotations.
pub fn directive_problems(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let Some(comment) = line.find("//").map(|i| &line[i + 2..]) else { return out };
    let mut rest = comment;
    while let Some(pos) = rest.find("CHECK") {
        let before = rest[..pos].chars().last();
        let after = &rest[pos + "CHECK".len()..];
        rest = after;
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            continue; // part of a longer word (e.g. a prefix such as DUMP-CHECK)
        }
        let suffix: String = after.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-').collect();
        let next = after[suffix.len()..].chars().next();
        let counted = suffix.strip_prefix("-COUNT-").is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if !SUFFIXES.contains(&suffix.as_str()) && !counted {
            out.push(format!("unknown FileCheck directive 'CHECK{suffix}'"));
        } else if next != Some(':') {
            out.push(format!("FileCheck directive 'CHECK{suffix}' must be followed by ':' (without it nothing is checked)"));
        }
    }
    if let Some(pos) = comment.find("expected-") {
        let after = &comment[pos + "expected-".len()..];
        let kind: String = after.chars().take_while(|c| c.is_ascii_lowercase()).collect();
        if !["error", "warning", "note", "remark"].contains(&kind.as_str()) {
            out.push(format!("unknown annotation 'expected-{kind}'"));
        } else {
            let tail = after[kind.len()..].trim_start();
            let tail = if let Some(t) = tail.strip_prefix('@') {
                t.trim_start_matches(|c: char| !c.is_whitespace() && c != '{').trim_start()
            } else {
                tail
            };
            if !tail.starts_with("{{") {
                out.push(format!("'expected-{kind}' needs its message in {{{{...}}}}"));
            }
        }
    }
    out
}

fn filecheck_directives_are_well_formed() -> Result<(), Failed> {
    // The checker must catch what it claims to.
    for bad in ["// CHECK-LABEL func.func @f", "// CHECK-NXT: x", "// expected-error missing braces"] {
        if directive_problems(bad).is_empty() {
            return Err(format!("tidy self-check: '{bad}' was not reported").into());
        }
    }
    for good in ["// CHECK-LABEL: func.func @f", "// CHECK-COUNT-2: x", "// expected-error @+1 {{msg}}", "// CHECK: a // CHECK-NOT: b"] {
        if !directive_problems(good).is_empty() {
            return Err(format!("tidy self-check: '{good}' was reported: {:?}", directive_problems(good)).into());
        }
    }
    let mut problems = Vec::new();
    for f in crate::lit::mlir_files() {
        let text = std::fs::read_to_string(&f)?;
        for (i, line) in text.lines().enumerate() {
            for p in directive_problems(line) {
                problems.push(format!("{}:{}: {p}", rel(&f), i + 1));
            }
        }
    }
    fail_if(problems)
}

fn every_pass_has_a_test_file() -> Result<(), Failed> {
    let files: Vec<String> =
        crate::lit::mlir_files().iter().filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().to_string())).collect();
    let problems = vllm_passes::infos()
        .iter()
        .filter(|p| !files.iter().any(|f| f == p.argument))
        .map(|p| format!("pass '{}' has no tests/**/{}.mlir", p.argument, p.argument))
        .collect();
    fail_if(problems)
}

fn rust_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") {
                    walk(&p, out);
                }
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for d in ["crates", "tests", "benches"] {
        walk(&root().join(d), &mut out);
    }
    out
}

fn no_should_panic() -> Result<(), Failed> {
    let needle = concat!("#[should", "_panic");
    let mut problems = Vec::new();
    for f in rust_sources() {
        if std::fs::read_to_string(&f)?.contains(needle) {
            problems.push(format!("{}: panics are not error reporting; test the returned error instead", rel(&f)));
        }
    }
    fail_if(problems)
}

fn ffi_and_unsafe_stay_in_the_binding_layer() -> Result<(), Failed> {
    let binding = root().join("crates/mlir-support");
    let unsafe_block = concat!("unsafe", " {");
    let unsafe_fn = concat!("unsafe", " fn");
    let sys = concat!("mlir", "_sys::");
    let mut problems = Vec::new();
    for f in rust_sources().into_iter().filter(|f| !f.starts_with(&binding)) {
        let text = std::fs::read_to_string(&f)?;
        for (i, line) in text.lines().enumerate() {
            if line.contains(unsafe_block) || line.contains(unsafe_fn) || line.contains(sys) {
                problems.push(format!("{}:{}: raw MLIR handles and unsafe code belong in crates/mlir-support", rel(&f), i + 1));
            }
        }
    }
    fail_if(problems)
}

/// The crate stack of docs/ARCHITECTURE.md: a crate's (non-dev) dependencies
/// on our crates must sit on a lower layer, so siblings never use each other.
/// A new crate must be given its layer here.
const LAYERS: &[(&str, u32)] = &[
    ("mlir-support", 0),
    ("ptx-sim", 0),
    ("dialect", 1),
    ("fx", 2),
    ("passes", 2),
    ("codegen", 2),
    ("interp", 2),
    ("pipeline", 3),
    ("vllm-opt", 4),
];

fn crate_dependencies_point_down() -> Result<(), Failed> {
    let layer = |name: &str| LAYERS.iter().find(|(n, _)| *n == name).map(|(_, l)| *l);
    let mut problems = Vec::new();
    for dir in std::fs::read_dir(root().join("crates"))? {
        let dir = dir?.path();
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let Some(own) = layer(&name) else {
            problems.push(format!("crates/{name}: not in tidy.rs's LAYERS (and docs/ARCHITECTURE.md's code map)"));
            continue;
        };
        let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml"))?)?;
        let deps =
            manifest.get("dependencies").and_then(|d| d.as_table()).map(|t| t.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
        for dep in deps.iter().filter_map(|d| d.strip_prefix("vllm-")) {
            match layer(dep) {
                Some(l) if l < own => {}
                Some(l) => problems
                    .push(format!("crates/{name}/Cargo.toml: depends on vllm-{dep} (layer {l}) from layer {own}; dependencies point down")),
                None => problems.push(format!("crates/{name}/Cargo.toml: vllm-{dep} has no layer")),
            }
        }
    }
    fail_if(problems)
}

/// Compares a generated file with what is checked in; rewrites it under VLLM_OPT_BLESS=1.
fn check_generated(path: &str, expected: &str) -> Result<(), String> {
    let full = root().join(path);
    let actual = std::fs::read_to_string(&full).unwrap_or_default();
    if actual == expected {
        return Ok(());
    }
    if bless() {
        std::fs::write(&full, expected).map_err(|e| format!("{path}: {e}"))?;
        return Ok(());
    }
    Err(format!("{path} is stale: run `VLLM_OPT_BLESS=1 cargo test` and commit the result"))
}

fn generated_files_are_fresh() -> Result<(), Failed> {
    let table = vllm_dialect::try_table()?;
    let mut problems = Vec::new();
    let ops_mlir = vllm_dialect::docs::ops_mlir(table)?;
    for (path, text) in [
        ("docs/dialect.md", vllm_dialect::docs::dialect_md(table)),
        ("tests/dialect/ops.mlir", ops_mlir),
        ("docs/passes.md", vllm_passes::passes_md()),
    ] {
        if let Err(e) = check_generated(path, &text) {
            problems.push(e);
        }
    }
    fail_if(problems)
}
