//! vLLM's `PostGradPassManager`, built on MLIR's pass infrastructure.
//!
//! - [`PassConfig`]: which passes run (vLLM's names and the newer aliases;
//!   unknown fields are errors);
//! - [`PostGradPassManager`]: vLLM's order, caller and user passes, per-shape
//!   applicability, and the uuid that keys the compile cache;
//! - [`ShapeContext`]: symbolic, one token count, or a compile range;
//! - [`compile()`]: graph in, compiled graph out, with dumps, a per-pass
//!   summary and an optional [`CompileCache`].
//!
//! **Architecture Invariant:** this crate does no printing; files are touched
//! only where the caller asks (cache, dumps).
#![deny(unsafe_code)]

pub mod cache;
pub mod compile;
pub mod config;
pub mod manager;
pub mod shape;

pub use cache::{CompileCache, Lookup};
pub use compile::{CacheStatus, CompileOptions, CompileResult, Input, StepReport, compile, plan};
pub use config::{ConfigError, PassConfig};
pub use manager::{CustomPass, Plan, PostGradPassManager, SLOTS, Step, StepKind};
pub use shape::ShapeContext;
