//! FX graph JSON (../shared/spec/fx-graph-json.md): the format, the importer
//! into the torch-like dialects, and the exporter back.
//!
//! **Architecture Invariant:** this is the only crate that knows the graph
//! format. It depends on the dialect crate and the binding layer only.
#![deny(unsafe_code)]

pub mod export;
pub mod graph;
pub mod import;
pub mod types;

pub use export::{export, to_text};
pub use import::{import, import_graph};
