//! The one integration-test binary (every test binary links all of MLIR,
//! about 250 MB, so there is exactly one).
//!
//! - every `tests/**/*.mlir` file is a test, run like LLVM's lit: its `RUN:`
//!   lines execute with `%s`, `vllm-opt`, `FileCheck` and `not` substituted;
//! - tidy checks on the test files, generated files and sources;
//! - Rust-level tests of the library crates.
//!
//! `VLLM_OPT_BLESS=1 cargo test` rewrites generated files instead of failing
//! on them. Filter as usual: `cargo test -- invalid.mlir`.

mod codegen;
mod dialect;
mod fx;
mod kernels;
mod lit;
#[path = "../support/llama.rs"]
pub mod llama;
mod numerics;
mod pipeline;
mod ptx_sim;
mod python;
mod tidy;

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

pub fn bless() -> bool {
    std::env::var_os("VLLM_OPT_BLESS").is_some_and(|v| v != "0")
}

/// A Rust test: a name and a function.
pub type RustTest = (&'static str, fn() -> Result<(), Failed>);

fn main() {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = lit::trials();
    for (name, f) in tidy::TESTS
        .iter()
        .chain(dialect::TESTS)
        .chain(fx::TESTS)
        .chain(python::TESTS)
        .chain(pipeline::TESTS)
        .chain(numerics::TESTS)
        .chain(kernels::TESTS)
        .chain(codegen::TESTS)
        .chain(ptx_sim::TESTS)
    {
        trials.push(Trial::test(*name, *f));
    }
    libtest_mimic::run(&args, trials).exit();
}
