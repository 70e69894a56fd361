//! A reference interpreter for the torch-like dialects, for numerics tests:
//! it runs a graph on concrete tensors with vLLM's rounding points
//! (../shared/reference/vllm-passes.md §10) and PyTorch's buffer semantics,
//! so that a graph before and after a pass can be compared bit for bit.
//!
//! **Architecture Invariant:** test infrastructure only. No pass or driver
//! depends on it; it depends on the dialect table, not on any pass.
#![deny(unsafe_code)]

pub mod eval;
pub mod kernels;
pub mod tensor;

pub use eval::{Interpreter, Val, dtype_of};
pub use tensor::{DType, Tensor};

/// SplitMix64: a deterministic, seedable source of test inputs (a dependency
/// would buy nothing for eight lines).
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}
