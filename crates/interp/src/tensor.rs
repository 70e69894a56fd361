//! Tensors with PyTorch's storage model: a view (shape, strides, offset) on a
//! shared storage, so that in-place writes are seen through every alias.
//! Elements are kept as `f64` already rounded to the tensor's dtype: every
//! f32, bf16, f16, FP8 and i32 value is exact (the NVFP4 block scales are
//! four e4m3 bytes to an `i32`). The float kernels work in `f32`
//! (`to_vec`, `write`); integer words go through `to_exact`/`write_exact`.
use half::{bf16, f16};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    BF16,
    F16,
    F8E4M3FN,
    I8,
    U8,
    I32,
    I64,
    Bool,
}

/// The largest finite e4m3fn value (vLLM's `FP8_MAX`).
pub const FP8_MAX: f32 = 448.0;

/// Round-to-nearest-even to e4m3fn and back, as `Tensor.to(float8_e4m3fn)`
/// does for values in range (vLLM always clamps first).
pub fn round_e4m3(v: f32) -> f32 {
    float8::F8E4M3::from_f32(v).to_f32()
}

/// vLLM's `fp8(v)`: `fmaxf(-QMAX, fminf(v, QMAX))` then round. The operand
/// order makes NaN map to +QMAX (`fminf(NaN, x) = x`), which Rust's `min`
/// (IEEE minNum) reproduces.
pub fn fp8(v: f32) -> f32 {
    round_e4m3((-FP8_MAX).max(v.min(FP8_MAX)))
}

impl DType {
    /// From an MLIR element type's spelling.
    pub fn from_mlir(elem: &str) -> Option<DType> {
        Some(match elem {
            "f32" => DType::F32,
            "bf16" => DType::BF16,
            "f16" => DType::F16,
            "f8E4M3FN" => DType::F8E4M3FN,
            "i8" => DType::I8,
            "ui8" => DType::U8,
            "i32" => DType::I32,
            "i64" => DType::I64,
            "i1" => DType::Bool,
            _ => return None,
        })
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::BF16 | DType::F16 | DType::F8E4M3FN)
    }

    /// `rT(v)`: round an `f32` to this dtype (round-to-nearest-even) and back.
    pub fn round(self, v: f32) -> f32 {
        match self {
            DType::F32 => v,
            DType::BF16 => bf16::from_f32(v).to_f32(),
            DType::F16 => f16::from_f32(v).to_f32(),
            DType::F8E4M3FN => round_e4m3(v),
            // NaN -> 0, as CUDA's saturating `cvt.rni.sat.s8.f32`.
            DType::I8 if v.is_nan() => 0.0,
            DType::I8 => v.round_ties_even().clamp(-128.0, 127.0),
            DType::U8 | DType::I32 | DType::I64 => v.trunc(),
            DType::Bool => (v != 0.0) as u8 as f32,
        }
    }

    /// The raw bits of a rounded value (for bit-exact comparisons).
    pub fn bits(self, v: f32) -> u32 {
        match self {
            DType::BF16 => bf16::from_f32(v).to_bits() as u32,
            DType::F16 => f16::from_f32(v).to_bits() as u32,
            DType::F8E4M3FN => float8::F8E4M3::from_f32(v).to_bits() as u32,
            _ => v.to_bits(),
        }
    }
}

/// A strided view on shared storage.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub storage: Rc<RefCell<Vec<f64>>>,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub strides: Vec<isize>,
    pub offset: usize,
}

fn contiguous_strides(shape: &[usize]) -> Vec<isize> {
    let mut s = vec![1isize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1] as isize;
    }
    s
}

impl Tensor {
    /// A new tensor owning `data` (rounded to `dtype`), row-major.
    pub fn new(dtype: DType, shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        assert_eq!(data.len(), shape.iter().product::<usize>(), "data does not fill the shape");
        let data = data.into_iter().map(|v| dtype.round(v) as f64).collect();
        Tensor::exact(dtype, shape, data)
    }

    /// A new tensor owning `data` exactly (integer words beyond f32's 24 bits).
    pub fn exact(dtype: DType, shape: Vec<usize>, data: Vec<f64>) -> Tensor {
        assert_eq!(data.len(), shape.iter().product::<usize>(), "data does not fill the shape");
        Tensor { storage: Rc::new(RefCell::new(data)), dtype, strides: contiguous_strides(&shape), shape, offset: 0 }
    }

    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(dtype, shape, vec![0.0; n])
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Storage offsets of the elements in row-major order.
    fn offsets(&self) -> Vec<usize> {
        let n = self.numel();
        let mut out = Vec::with_capacity(n);
        let mut idx = vec![0usize; self.shape.len()];
        for _ in 0..n {
            let off: isize = self.offset as isize + idx.iter().zip(&self.strides).map(|(i, s)| *i as isize * s).sum::<isize>();
            out.push(off as usize);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < self.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    }

    /// The elements, row-major, as `f32` (exact for every float dtype).
    pub fn to_vec(&self) -> Vec<f32> {
        self.to_exact().into_iter().map(|v| v as f32).collect()
    }

    /// The elements, row-major, exactly (i32 words included).
    pub fn to_exact(&self) -> Vec<f64> {
        let s = self.storage.borrow();
        self.offsets().into_iter().map(|o| s[o]).collect()
    }

    /// Writes row-major values already of the dtype (integer words beyond
    /// f32's 24 bits included) through the view, exactly.
    pub fn write_exact(&self, data: &[f64]) {
        let offs = self.offsets();
        assert_eq!(offs.len(), data.len(), "write does not fill the view");
        let mut s = self.storage.borrow_mut();
        for (o, v) in offs.into_iter().zip(data) {
            s[o] = *v;
        }
    }

    /// Writes row-major `data` (rounded to the dtype) through the view.
    pub fn write(&self, data: &[f32]) {
        self.write_exact(&data.iter().map(|v| self.dtype.round(*v) as f64).collect::<Vec<_>>())
    }

    /// `self.copy_(src)`: exact within a dtype, else rounded to this one.
    pub fn copy_from(&self, src: &Tensor) {
        if src.dtype == self.dtype { self.write_exact(&src.to_exact()) } else { self.write(&src.to_vec()) }
    }

    /// A fresh contiguous copy.
    pub fn deep_clone(&self) -> Tensor {
        Tensor::exact(self.dtype, self.shape.clone(), self.to_exact())
    }

    pub fn is_contiguous(&self) -> bool {
        self.strides == contiguous_strides(&self.shape)
    }

    /// `self[..., start:end:step, ...]` along `dim` (bounds already clamped).
    pub fn slice(&self, dim: usize, start: usize, end: usize, step: usize) -> Tensor {
        let mut t = self.clone();
        t.offset = (self.offset as isize + start as isize * self.strides[dim]) as usize;
        t.shape[dim] = if end > start { (end - start).div_ceil(step) } else { 0 };
        t.strides[dim] *= step as isize;
        t
    }

    /// A view when contiguous, else a copy (PyTorch's `reshape`).
    pub fn reshape(&self, shape: Vec<usize>) -> Tensor {
        let base = if self.is_contiguous() { self.clone() } else { self.deep_clone() };
        Tensor { strides: contiguous_strides(&shape), shape, ..base }
    }

    pub fn permute(&self, dims: &[usize]) -> Tensor {
        let mut t = self.clone();
        t.shape = dims.iter().map(|&d| self.shape[d]).collect();
        t.strides = dims.iter().map(|&d| self.strides[d]).collect();
        t
    }

    pub fn unsqueeze(&self, dim: usize) -> Tensor {
        let mut t = self.clone();
        let stride = if dim < self.shape.len() { self.strides[dim] * self.shape[dim] as isize } else { 1 };
        t.shape.insert(dim, 1);
        t.strides.insert(dim, stride);
        t
    }

    /// Broadcast view to `shape` (stride 0 on the expanded dims).
    pub fn expand(&self, shape: &[usize]) -> Option<Tensor> {
        let lead = shape.len().checked_sub(self.shape.len())?;
        let mut strides = vec![0isize; shape.len()];
        for (i, &n) in shape.iter().enumerate() {
            if i < lead {
                continue;
            }
            let (d, s) = (self.shape[i - lead], self.strides[i - lead]);
            strides[i] = if d == n {
                s
            } else if d == 1 {
                0
            } else {
                return None;
            };
        }
        Some(Tensor { storage: self.storage.clone(), dtype: self.dtype, shape: shape.to_vec(), strides, offset: self.offset })
    }
}

/// The broadcast shape of two shapes (NumPy rules).
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    (0..n)
        .map(|i| {
            let x = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
            let y = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
            if x == y || y == 1 {
                Some(x)
            } else if x == 1 {
                Some(y)
            } else {
                None
            }
        })
        .collect()
}
