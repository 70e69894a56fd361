//! A PTX interpreter for tests: it runs the PTX that `crates/codegen` emits
//! on the CPU, with every thread of a CTA, warps that exchange values
//! through `shfl.sync`, and `bar.sync` barriers. The host twins of the
//! kernels run their body with one thread per row; this runs the GPU form
//! itself (block reductions, group butterflies, the row split over the
//! threads, the parameter order, the launch geometry), so a test can check
//! the artifact that goes to the GPU without a GPU.
//!
//! It knows the subset of PTX that LLVM's NVPTX backend emits for our
//! kernels; anything else is an error naming the instruction, never a guess.
//! Semantics follow the PTX ISA; the approximations are exact here:
//! `rsqrt.approx.f32` is `1/sqrt` and `ex2.approx.f32` is `2^x`, both
//! rounded once from f64, and `div.full.f32` is `div.rn.f32` (the GPU may
//! differ by an ulp or two).
//!
//! Memory: global buffers the caller passes (every access bounds-checked,
//! so an out-of-bounds read or write is an error), one shared window per
//! CTA. CTAs run one after another (atomics are therefore trivially atomic).
#![deny(unsafe_code)]

mod exec;
mod parse;

pub use exec::{Arg, Launch, Stats, Traffic, run};
pub use parse::{Kernel, parse};
