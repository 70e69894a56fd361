//! A small lit: every `.mlir` file under `tests/` is a test whose `// RUN:`
//! lines are shell pipelines. Substitutions: `%s` (the file), `%S` (its
//! folder), `%t` (a scratch path). `PATH` starts with the vllm-opt under test
//! and LLVM 22's `FileCheck` and `not` (which also fails when the program
//! crashed: a crash is never an expected result).
use libtest_mimic::{Failed, Trial};
use std::{
    path::{Path, PathBuf},
    process::Command,
};

pub const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

/// All `.mlir` files under `tests/`, sorted.
pub fn mlir_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "mlir") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&crate::root().join("tests"), &mut out);
    out.sort();
    out
}

/// The RUN commands of a file (with `\` continuations joined).
pub fn run_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending: Option<String> = None;
    for line in text.lines() {
        let Some(pos) = line.find("RUN:") else { continue };
        if !line[..pos].trim_start().starts_with("//") {
            continue;
        }
        let cmd = line[pos + 4..].trim();
        let (cmd, cont) = match cmd.strip_suffix('\\') {
            Some(c) => (c.trim_end(), true),
            None => (cmd, false),
        };
        let joined = match pending.take() {
            Some(p) => format!("{p} {cmd}"),
            None => cmd.to_string(),
        };
        if cont {
            pending = Some(joined);
        } else {
            out.push(joined);
        }
    }
    out.extend(pending);
    out
}

fn substitute(cmd: &str, file: &Path, scratch: &Path) -> String {
    cmd.replace("%s", &file.display().to_string())
        .replace("%S", &file.parent().unwrap_or(Path::new(".")).display().to_string())
        .replace("%t", &scratch.display().to_string())
}

/// `PATH` for RUN lines: the freshly built vllm-opt, then LLVM 22's tools
/// (FileCheck, not), then the rest, as lit sets it up.
fn tool_path() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_vllm-opt")).parent().unwrap_or(Path::new("."));
    format!("{}:{LLVM_BIN}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

fn run_file(file: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let runs = run_lines(&text);
    if runs.is_empty() {
        return Err(format!("{}: no RUN lines", file.display()).into());
    }
    let scratch_dir = std::env::temp_dir().join(format!("vllm-opt-lit-{}", std::process::id()));
    std::fs::create_dir_all(&scratch_dir).map_err(|e| e.to_string())?;
    let scratch = scratch_dir.join(file.file_name().unwrap_or_default());
    for run in runs {
        let cmd = substitute(&run, file, &scratch);
        let out = Command::new("bash")
            .arg("-o")
            .arg("pipefail")
            .arg("-c")
            .arg(&cmd)
            .current_dir(crate::root())
            .env("FILECHECK_OPTS", "--dump-input=fail --color=0")
            .env("PATH", tool_path())
            .output()
            .map_err(|e| format!("cannot run bash: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "RUN: {run}\n--- exit: {}\n--- stdout:\n{}\n--- stderr:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
    }
    Ok(())
}

pub fn trials() -> Vec<Trial> {
    let root = crate::root();
    mlir_files()
        .into_iter()
        .map(|f| {
            let name = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
            Trial::test(name, move || run_file(&f))
        })
        .collect()
}
