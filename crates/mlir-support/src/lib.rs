//! The binding layer between vllm-opt and MLIR 22.
//!
//! **Architecture Invariant:** this is the only crate that touches raw
//! `mlir_sys` handles, writes `unsafe`, or links C++ (the pass-registration
//! shim in `cpp/shim.cpp`: pass registration and dynamic dialects). Every other crate uses melior's safe API plus the
//! safe helpers here, and is compiled with `unsafe_code = "deny"`.
//!
//! What it provides:
//! - [`context`]: a context with the upstream dialects and the project's
//!   table-defined dynamic dialects loaded;
//! - [`diagnostics`]: diagnostics captured as data ([`Diag`]) with readable
//!   `file:line:col` locations;
//! - [`source`]: parsing a named source buffer into a module (an implicit
//!   `builtin.module` is added, as `mlir-opt` does);
//! - [`pass`]: the Rust pass trait and its registration in MLIR's global pass
//!   registry, so project passes can be named in textual pipelines;
//! - [`pipeline`]: a pass manager driven by a textual pipeline;
//! - [`ir`]: small safe IR helpers melior lacks (uses, erase, replace).
#![allow(unsafe_code)]

pub mod context;
pub mod diagnostics;
mod ffi;
pub mod ir;
pub mod jit;
pub mod pass;
pub mod pipeline;
pub mod source;

pub use context::{DynamicDialectDef, OpVerifier, new_context};
pub use diagnostics::{Diag, DiagnosticCapture, Severity, SourceLoc};
/// melior is re-exported so that upper crates use one version of it.
pub use melior;
