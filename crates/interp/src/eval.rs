//! Evaluates a `func.func` of the torch-like dialects on concrete tensors.
//!
//! Buffer semantics throughout: view ops alias their input's storage, and an
//! in-place op writes through the buffers it is given, so a graph before and
//! after `vllm-fix-functionalization` can be compared. Value-form ops and
//! their in-place twins share one kernel (`kernels.rs`). `aten.empty` is
//! filled with NaN, so a buffer read before it is written shows up.
use crate::kernels as k;
use crate::tensor::{DType, FP8_MAX, Tensor, broadcast};
use mlir_support::{
    ir,
    melior::ir::{
        Attribute, BlockLike, RegionLike, ShapedTypeLike, Type, Value, ValueLike,
        attribute::{BoolAttribute, DenseI64ArrayAttribute, FloatAttribute, IntegerAttribute},
        operation::{OperationLike, OperationRef},
        r#type::DimSize,
    },
};
use std::collections::HashMap;
use vllm_dialect::{K_DYNAMIC, OpDef};

/// A runtime value: a tensor or a symbolic size.
#[derive(Clone, Debug)]
pub enum Val {
    Tensor(Tensor),
    Index(i64),
}

impl Val {
    pub fn tensor(&self) -> Option<&Tensor> {
        match self {
            Val::Tensor(t) => Some(t),
            Val::Index(_) => None,
        }
    }
}

type R<T> = Result<T, String>;

/// The dtype of a tensor type's element.
pub fn dtype_of(t: Type<'_>) -> R<DType> {
    let rt = ir::ranked_tensor(t).ok_or_else(|| format!("not a ranked tensor: {t}"))?;
    let e = ir::type_string(rt.element());
    DType::from_mlir(&e).ok_or_else(|| format!("element type {e} is not modelled"))
}

fn name(op: &OperationRef<'_, '_>) -> String {
    op.name().as_string_ref().as_str().unwrap_or("").to_string()
}

fn attr<'c>(op: &OperationRef<'c, '_>, n: &str) -> Option<Attribute<'c>> {
    op.attribute(n).ok()
}

fn int(op: &OperationRef<'_, '_>, n: &str) -> Option<i64> {
    IntegerAttribute::try_from(attr(op, n)?).ok().map(|a| a.value())
}

fn float(op: &OperationRef<'_, '_>, n: &str) -> Option<f64> {
    let a = attr(op, n)?;
    if let Ok(f) = FloatAttribute::try_from(a) {
        return Some(f.value());
    }
    IntegerAttribute::try_from(a).ok().map(|i| i.value() as f64)
}

fn boolean(op: &OperationRef<'_, '_>, n: &str) -> Option<bool> {
    BoolAttribute::try_from(attr(op, n)?).ok().map(|b| b.value())
}

fn ints(op: &OperationRef<'_, '_>, n: &str) -> Option<Vec<i64>> {
    let a = DenseI64ArrayAttribute::try_from(attr(op, n)?).ok()?;
    Some((0..a.len()).filter_map(|i| a.element(i).ok()).collect())
}

/// The ranks' tensors summed element by element in f32, in rank order (what
/// every reducing collective computes before it rounds once).
fn rank_sum(xs: &[Tensor]) -> Vec<f32> {
    let mut sum = vec![0f32; xs.first().map_or(0, Tensor::numel)];
    for t in xs {
        for (s, v) in sum.iter_mut().zip(t.to_vec()) {
            *s += v;
        }
    }
    sum
}

/// The ranks' tensors concatenated along dim 0 in rank order (what an
/// all-gather along dim 0 gives every rank), in new storage.
fn concat_rows(xs: &[Tensor]) -> Tensor {
    let mut shape = xs[0].shape.clone();
    shape[0] *= xs.len();
    Tensor::new(xs[0].dtype, shape, xs.iter().flat_map(Tensor::to_vec).collect())
}

/// The ranks' tensors summed (`rank_sum`) and split by rows, rank `r`
/// getting block `r`: a reduce-scatter along dim 0, each rank in its own
/// storage.
fn reduce_scatter_rows(xs: &[Tensor]) -> R<Vec<Vec<Val>>> {
    let w = xs.len();
    let (dt, shape) = (xs[0].dtype, xs[0].shape.clone());
    if shape.first().is_none_or(|rows| rows % w != 0) {
        return Err(format!("{shape:?} rows are not divisible by {w} ranks"));
    }
    let sum = rank_sum(xs);
    let block = sum.len() / w;
    let mut out = shape;
    out[0] /= w;
    Ok((0..w).map(|r| vec![Val::Tensor(Tensor::new(dt, out.clone(), sum[r * block..(r + 1) * block].to_vec()))]).collect())
}

/// One collective over all ranks: each rank's results.
fn collective(ranks: &[Interpreter], op: &OperationRef<'_, '_>, n: &str) -> R<Vec<Vec<Val>>> {
    let x = op.operand(0).map_err(|e| e.to_string())?;
    let xs: Vec<Tensor> = ranks.iter().map(|r| r.tensor(x)).collect::<R<_>>()?;
    let w = ranks.len();
    if n != "vllm.all_reduce" {
        if int(op, "dim") != Some(0) {
            return Err("only dim 0 is modelled".into());
        }
        if int(op, "world_size") != Some(w as i64) {
            return Err(format!("world_size {:?} with {w} ranks", int(op, "world_size")));
        }
    }
    let shape = xs[0].shape.clone();
    if xs.iter().any(|t| t.shape != shape) {
        return Err("the ranks' operands differ in shape".into());
    }
    let dt = xs[0].dtype;
    // Each rank gets its own storage (a Tensor clone would share it, and an in-place op would write every rank's).
    let tensor = |shape: Vec<usize>, data: Vec<f32>| vec![Val::Tensor(Tensor::new(dt, shape, data))];
    if n == "vllm.all_gather" {
        let all = concat_rows(&xs);
        return Ok((0..w).map(|_| vec![Val::Tensor(all.deep_clone())]).collect());
    }
    if n == "vllm.all_reduce" {
        let sum = rank_sum(&xs);
        return Ok((0..w).map(|_| tensor(shape.clone(), sum.clone())).collect());
    }
    reduce_scatter_rows(&xs)
}

/// `a @ b` rounded to `dtype`, scaled as `_scaled_mm` / `cutlass_scaled_mm`
/// scale it (`sa` per tensor or per row, `sb` per tensor or per column)
/// when given.
fn product(a: &Tensor, b: &Tensor, scales: Option<(&Tensor, &Tensor)>, dtype: DType) -> Tensor {
    let (m, n) = (a.shape[0], b.shape[1]);
    let mut out = matmul(a, b);
    if let Some((sa, sb)) = scales {
        let (sa, sb) = (sa.to_vec(), sb.to_vec());
        for (i, v) in out.iter_mut().enumerate() {
            *v *= sa[if sa.len() == 1 { 0 } else { i / n }] * sb[if sb.len() == 1 { 0 } else { i % n }];
        }
    }
    Tensor::new(dtype, vec![m, n], out)
}

/// The async-TP GEMM + collective ops over all ranks, as the collective and
/// the GEMM(s) they fuse: the product is rounded to its type on each rank
/// before the reduce-scatter sums it (as the unfused graph does), and the
/// all-gather concatenates `A` (and a row-wise `A_scale` given for the
/// shard: `[rows of A_shard, 1]`) in rank order before the GEMMs.
fn gemm_collective(ranks: &[Interpreter], op: &OperationRef<'_, '_>, n: &str) -> R<Vec<Vec<Val>>> {
    let operands: Vec<Value> = op.operands().collect();
    let results: Vec<Type> = op.results().map(|r| r.r#type()).collect();
    let w = ranks.len();
    let group_size = |name: &str| -> R<usize> {
        let d = int(op, name).ok_or(format!("no {name}"))?;
        if d != 0 { Err(format!("only {name} 0 is modelled")) } else { Ok(w) }
    };
    let scaled = n.contains("scaled");
    if n.ends_with("reduce_scatter") {
        if scaled {
            group_size("orig_scatter_dim")?;
            group_size("scatter_dim_after_maybe_reshape")?;
        } else {
            group_size("scatter_dim")?;
        }
        let dtype = dtype_of(results[0])?;
        let mut products = Vec::new();
        for r in ranks.iter() {
            let (a, b) = (r.tensor(operands[0])?, r.tensor(operands[1])?);
            let scales = if scaled { Some((r.tensor(operands[2])?, r.tensor(operands[3])?)) } else { None };
            products.push(product(&a, &b, scales.as_ref().map(|(x, y)| (x, y)), dtype));
        }
        return reduce_scatter_rows(&products);
    }
    group_size("gather_dim")?;
    // Operand groups: A_shard, Bs (, A_scale, B_scales).
    let n_b = results.len() - 1;
    let bs = &operands[1..1 + n_b];
    let gather = |v: Value| -> R<Tensor> { Ok(concat_rows(&ranks.iter().map(|r| r.tensor(v)).collect::<R<Vec<_>>>()?)) };
    let a = gather(operands[0])?;
    let a_scale = if scaled {
        let sa = ranks[0].tensor(operands[1 + n_b])?;
        let shard_rows = ranks[0].tensor(operands[0])?.shape[0];
        // torch's rule (`_check_and_verify_fp8_all_gather_scale_mode`): `[rows of the shard, 1]` is the shard's.
        let row_wise_shard = sa.shape.len() == 2 && sa.shape[1] == 1 && sa.shape[0] == shard_rows;
        Some(if row_wise_shard { gather(operands[1 + n_b])? } else { sa })
    } else {
        None
    };
    let mut outs = Vec::new();
    for r in ranks {
        let mut vals = vec![Val::Tensor(a.deep_clone())];
        for (i, b) in bs.iter().enumerate() {
            let b = r.tensor(*b)?;
            let sb = if scaled { Some(r.tensor(operands[2 + n_b + i])?) } else { None };
            let scales = a_scale.as_ref().zip(sb.as_ref());
            vals.push(Val::Tensor(product(&a, &b, scales, dtype_of(results[1 + i])?)));
        }
        outs.push(vals);
    }
    Ok(outs)
}

/// The fused all-reduce + norm op over all ranks, by vLLM's reference (its
/// fallback path): the all-reduce as `all_reduce` computes it, then each
/// rank's kernel reads that sum as `allreduce_in` (writes go to the rank's
/// own buffers in the in-place form).
fn allreduce_norm(ranks: &mut [Interpreter], op: &OperationRef<'_, '_>, n: &str) -> R<Vec<Vec<Val>>> {
    let x = op.operand(0).map_err(|e| e.to_string())?;
    let xs: Vec<Tensor> = ranks.iter().map(|r| r.tensor(x)).collect::<R<_>>()?;
    let reduced = Tensor::new(xs[0].dtype, xs[0].shape.clone(), rank_sum(&xs));
    let def: &'static OpDef = vllm_dialect::op(n).ok_or("op not in the table")?;
    ranks.iter_mut().map(|r| r.kernel_op_with(op, def, Some(("allreduce_sum", reduced.deep_clone())))).collect()
}

fn norm_dim(d: i64, rank: usize) -> usize {
    if d < 0 { (d + rank as i64) as usize } else { d as usize }
}

/// The interpreter state: one value per SSA value.
#[derive(Default)]
pub struct Interpreter {
    values: HashMap<usize, Val>,
}

impl Interpreter {
    fn get(&self, v: Value<'_, '_>) -> R<&Val> {
        self.values.get(&ir::value_id(v)).ok_or_else(|| "use of a value with no definition".to_string())
    }

    fn tensor(&self, v: Value<'_, '_>) -> R<Tensor> {
        self.get(v)?.tensor().cloned().ok_or_else(|| "expected a tensor, got an index".into())
    }

    fn index(&self, v: Value<'_, '_>) -> R<i64> {
        match self.get(v)? {
            Val::Index(i) => Ok(*i),
            Val::Tensor(_) => Err("expected an index, got a tensor".into()),
        }
    }

    /// SymInt arithmetic (`torch.operator` with an `operator.*` target on
    /// index values: a padded buffer's `round_up(T, 128)` rows); Python's
    /// semantics (`//` floors).
    fn symint_arithmetic(&self, op: &OperationRef<'_, '_>, operands: &[Value<'_, '_>]) -> R<i64> {
        let target = ir::string_attr(op, "target").ok_or("no target")?;
        let args: serde_json::Value =
            serde_json::from_str(&ir::string_attr(op, "fx_args").ok_or("no fx_args")?).map_err(|e| e.to_string())?;
        let arg = |i: usize| -> R<i64> {
            let a = args.get("args").and_then(|a| a.get(i)).ok_or_else(|| format!("{target} has no argument {i}"))?;
            match a.get("operand").and_then(serde_json::Value::as_u64) {
                Some(k) => self.index(*operands.get(k as usize).ok_or("no such operand")?),
                None => a.as_i64().ok_or_else(|| format!("{target}: argument {i} is not an integer")),
            }
        };
        let (a, b) = (arg(0)?, arg(1)?);
        let v = match target.as_str() {
            "operator.add" => a.checked_add(b),
            "operator.sub" => a.checked_sub(b),
            "operator.mul" => a.checked_mul(b),
            "operator.floordiv" if b != 0 => Some(a.div_euclid(b) - i64::from(b < 0 && a.rem_euclid(b) != 0)),
            _ => return Err(format!("cannot evaluate {target}")),
        };
        v.ok_or_else(|| format!("{target} overflows"))
    }

    /// A shape list: kDynamic entries from `dyns` in order; -1 inferred from `numel`.
    fn shape_list(&self, entries: &[i64], dyns: &[Value<'_, '_>], numel: Option<usize>) -> R<Vec<usize>> {
        let mut dyns = dyns.iter();
        let mut out: Vec<i64> = Vec::new();
        for &e in entries {
            out.push(match e {
                K_DYNAMIC => self.index(*dyns.next().ok_or("missing dynamic size")?)?,
                e => e,
            });
        }
        if let Some(pos) = out.iter().position(|&d| d == -1) {
            let known: i64 = out.iter().filter(|&&d| d != -1).product();
            let n = numel.ok_or("-1 in a factory size")? as i64;
            out[pos] = if known == 0 { 0 } else { n / known };
        }
        out.into_iter().map(|d| usize::try_from(d).map_err(|_| format!("negative size {d}"))).collect()
    }

    /// Runs `func` on `args`; returns the values it returns.
    pub fn run(&mut self, func: OperationRef<'_, '_>, args: &[Val]) -> R<Vec<Val>> {
        let mut outs = Self::run_all(std::slice::from_mut(self), func, &[args.to_vec()])?;
        outs.pop().ok_or_else(|| "no rank".into())
    }

    /// Runs `func` as `args.len()` tensor-parallel ranks in lockstep, each
    /// with its own inputs and values; returns each rank's results. The
    /// collectives (dim 0) combine the ranks' operands: `all_reduce` and
    /// `reduce_scatter` sum in f32 in rank order and round once to the
    /// dtype (one reduction, whichever collective performs it), and
    /// `reduce_scatter` gives rank r its `r`-th block of rows; `all_gather`
    /// concatenates the ranks' rows in rank order.
    pub fn run_ranks(func: OperationRef<'_, '_>, args: &[Vec<Val>]) -> R<Vec<Vec<Val>>> {
        let mut ranks: Vec<Interpreter> = args.iter().map(|_| Interpreter::default()).collect();
        Self::run_all(&mut ranks, func, args)
    }

    /// `ranks[i]` runs `func` on `args[i]`, all in lockstep.
    fn run_all(ranks: &mut [Interpreter], func: OperationRef<'_, '_>, args: &[Vec<Val>]) -> R<Vec<Vec<Val>>> {
        let block = func.region(0).ok().and_then(|r| r.first_block()).ok_or("function has no body")?;
        for (rank, args) in ranks.iter_mut().zip(args) {
            if block.argument_count() != args.len() {
                return Err(format!("function takes {} arguments, given {}", block.argument_count(), args.len()));
            }
            for (i, a) in args.iter().enumerate() {
                let arg = block.argument(i).map_err(|e| e.to_string())?;
                rank.values.insert(ir::value_id(arg.into()), a.clone());
            }
        }
        for op in ir::block_ops(block) {
            let n = name(&op);
            if n == "func.return" {
                return ranks.iter().map(|r| op.operands().map(|v| r.get(v).cloned()).collect()).collect();
            }
            let at = mlir_support::diagnostics::describe_location(op.location());
            let outs = match n.as_str() {
                "vllm.all_reduce" | "vllm.reduce_scatter" | "vllm.all_gather" => collective(ranks, &op, &n),
                "vllm.fused_matmul_reduce_scatter"
                | "vllm.fused_scaled_matmul_reduce_scatter"
                | "vllm.fused_all_gather_matmul"
                | "vllm.fused_all_gather_scaled_matmul" => gemm_collective(ranks, &op, &n),
                "vllm.flashinfer_trtllm_fused_allreduce_norm" | "vllm.flashinfer_trtllm_fused_allreduce_norm_" => {
                    allreduce_norm(ranks, &op, &n)
                }
                _ => ranks.iter_mut().map(|r| r.eval(&op, &n)).collect(),
            }
            .map_err(|e| format!("{n} ({}): {e}", at.1))?;
            for (rank, outs) in ranks.iter_mut().zip(outs) {
                for (r, v) in op.results().zip(outs) {
                    rank.values.insert(ir::value_id(r.into()), v);
                }
            }
        }
        Err("function has no return".into())
    }

    fn eval(&mut self, op: &OperationRef<'_, '_>, n: &str) -> R<Vec<Val>> {
        let def: &'static OpDef = vllm_dialect::op(n).ok_or("op not in the table")?;
        if def.kernel.is_some() {
            return self.kernel_op(op, def);
        }
        let operands: Vec<Value> = op.operands().collect();
        let t = |i: usize| self.tensor(operands[i]);
        let result_ty = op.result(0).ok().map(|r| r.r#type());
        let out_dtype = || result_ty.ok_or("no result".to_string()).and_then(dtype_of);
        let one = |t: Tensor| Ok(vec![Val::Tensor(t)]);
        let short = def.short_name();
        match short {
            // Values, not storage: a strided buffer is its sizes' elements.
            "empty" | "empty_strided" | "full" => {
                let shape = self.shape_list(&ints(op, "size").ok_or("no size")?, &operands, None)?;
                let fill = if short == "full" { float(op, "fill_value").ok_or("no fill_value")? as f32 } else { f32::NAN };
                let n = shape.iter().product();
                one(Tensor::new(out_dtype()?, shape, vec![fill; n]))
            }
            "sym_size" => {
                let x = t(0)?;
                Ok(vec![Val::Index(x.shape[norm_dim(int(op, "dim").ok_or("no dim")?, x.shape.len())] as i64)])
            }
            // An input written back (`aten.copy_(input, new)`, how Inductor's graphs end a
            // mutation of a graph input): the new value, which the caller's input then holds.
            "operator" if ir::string_attr(op, "target").as_deref() == Some("torch.ops.aten.copy_.default") && operands.len() == 2 => {
                Ok(vec![Val::Tensor(self.tensor(operands[1])?)])
            }
            "operator" => Ok(vec![Val::Index(self.symint_arithmetic(op, &operands)?)]),
            "clone" => one(t(0)?.deep_clone()),
            "copy_" => {
                let (dst, src) = (t(0)?, t(1)?);
                dst.copy_from(&src);
                Ok(vec![])
            }
            "reshape" | "view" => {
                let x = t(0)?;
                let shape = self.shape_list(&ints(op, "shape").ok_or("no shape")?, &operands[1..], Some(x.numel()))?;
                one(x.reshape(shape))
            }
            "slice" => {
                let x = t(0)?;
                let d = norm_dim(int(op, "dim").unwrap_or(0), x.shape.len());
                let (s, e) = clamp_range(int(op, "start").unwrap_or(0), int(op, "end").unwrap_or(i64::MAX), x.shape[d]);
                one(x.slice(d, s, e, int(op, "step").unwrap_or(1) as usize))
            }
            "slice_scatter" => {
                let (x, src) = (t(0)?, t(1)?);
                let out = x.deep_clone();
                let d = norm_dim(int(op, "dim").unwrap_or(0), x.shape.len());
                let (s, e) = clamp_range(int(op, "start").unwrap_or(0), int(op, "end").unwrap_or(i64::MAX), x.shape[d]);
                out.slice(d, s, e, int(op, "step").unwrap_or(1) as usize).copy_from(&src);
                one(out)
            }
            "split" | "split_with_sizes" => {
                let x = t(0)?;
                let d = norm_dim(int(op, "dim").unwrap_or(0), x.shape.len());
                let sizes: Vec<usize> = if short == "split" {
                    let s = int(op, "split_size").ok_or("no split_size")? as usize;
                    (0..x.shape[d].div_ceil(s)).map(|i| s.min(x.shape[d] - i * s)).collect()
                } else {
                    ints(op, "split_sizes").ok_or("no split_sizes")?.into_iter().map(|v| v as usize).collect()
                };
                let mut start = 0;
                Ok(sizes
                    .into_iter()
                    .map(|s| {
                        start += s;
                        Val::Tensor(x.slice(d, start - s, start, 1))
                    })
                    .collect())
            }
            "unsqueeze" => {
                let x = t(0)?;
                one(x.unsqueeze(norm_dim(int(op, "dim").ok_or("no dim")?, x.shape.len() + 1)))
            }
            "permute" => {
                let x = t(0)?;
                let dims: Vec<usize> = ints(op, "dims").ok_or("no dims")?.into_iter().map(|d| norm_dim(d, x.shape.len())).collect();
                one(x.permute(&dims))
            }
            "expand" => {
                let x = t(0)?;
                let mut size = self.shape_list(
                    &ints(op, "size").ok_or("no size")?.iter().map(|&d| if d == -1 { 0 } else { d }).collect::<Vec<_>>(),
                    &operands[1..],
                    None,
                )?;
                let raw = ints(op, "size").unwrap_or_default();
                let lead = size.len() - x.shape.len();
                for (i, r) in raw.iter().enumerate() {
                    if *r == -1 {
                        size[i] = x.shape[i - lead];
                    }
                }
                one(x.expand(&size).ok_or("cannot expand")?)
            }
            "cat" => {
                let ts: Vec<Tensor> = operands.iter().map(|v| self.tensor(*v)).collect::<R<_>>()?;
                let d = norm_dim(int(op, "dim").unwrap_or(0), ts[0].shape.len());
                let mut shape = ts[0].shape.clone();
                shape[d] = ts.iter().map(|x| x.shape[d]).sum();
                let out = Tensor::zeros(out_dtype()?, shape);
                let mut start = 0;
                for x in &ts {
                    out.slice(d, start, start + x.shape[d], 1).copy_from(x);
                    start += x.shape[d];
                }
                one(out)
            }
            // One index tensor: rows of `self` along dim 0 (`cache[positions]`).
            "index" if operands.len() == 2 => {
                let (w, idx) = (t(0)?, t(1)?);
                let row: usize = w.shape[1..].iter().product();
                let (wv, rows) = (w.to_vec(), w.shape.first().copied().unwrap_or(0));
                let mut data = Vec::with_capacity(idx.to_vec().len() * row);
                for i in idx.to_vec() {
                    let i = if i < 0.0 { i + rows as f32 } else { i } as usize;
                    if i >= rows {
                        return Err(format!("aten.index: index {i} out of range for {rows} rows"));
                    }
                    data.extend_from_slice(&wv[i * row..(i + 1) * row]);
                }
                let mut shape = idx.shape.clone();
                shape.extend_from_slice(&w.shape[1..]);
                one(Tensor::new(w.dtype, shape, data))
            }
            "embedding" => {
                let (w, idx) = (t(0)?, t(1)?);
                let h = w.shape[1];
                let wv = w.to_vec();
                let data: Vec<f32> = idx.to_vec().iter().flat_map(|&i| wv[i as usize * h..(i as usize + 1) * h].to_vec()).collect();
                let mut shape = idx.shape.clone();
                shape.push(h);
                one(Tensor::new(w.dtype, shape, data))
            }
            "mm" => {
                let (a, b) = (t(0)?, t(1)?);
                one(Tensor::new(out_dtype()?, vec![a.shape[0], b.shape[1]], matmul(&a, &b)))
            }
            "scaled_mm" => {
                let p = product(&t(0)?, &t(1)?, Some((&t(2)?, &t(3)?)), DType::F32);
                let n = p.shape[1];
                let bias = if operands.len() > 4 { Some(t(4)?.to_vec()) } else { None };
                let data = p.to_vec().iter().enumerate().map(|(i, v)| v + bias.as_ref().map_or(0.0, |b| b[i % n])).collect();
                one(Tensor::new(out_dtype()?, p.shape.clone(), data))
            }
            "convert_element_type" | "to_dtype" => one(Tensor::new(out_dtype()?, t(0)?.shape.clone(), t(0)?.to_vec())),
            "mean" | "sum" | "amax" => {
                let x = t(0)?;
                let dims: Vec<usize> = ints(op, "dim").ok_or("no dim")?.into_iter().map(|d| norm_dim(d, x.shape.len())).collect();
                one(reduce(&x, &dims, boolean(op, "keepdim").unwrap_or(false), short, out_dtype()?)?)
            }
            "where" => {
                let (c, a, b) = (t(0)?, t(1)?, t(2)?);
                let shape = broadcast(&broadcast(&c.shape, &a.shape).ok_or("shapes")?, &b.shape).ok_or("shapes")?;
                let (c, a, b) = (
                    c.expand(&shape).ok_or("bc")?.to_vec(),
                    a.expand(&shape).ok_or("bc")?.to_vec(),
                    b.expand(&shape).ok_or("bc")?.to_vec(),
                );
                let data = (0..c.len()).map(|i| if c[i] != 0.0 { a[i] } else { b[i] }).collect();
                one(Tensor::new(out_dtype()?, shape, data))
            }
            "clamp" => {
                let x = t(0)?;
                let (lo, hi) = (float(op, "min").map(|v| v as f32), float(op, "max").map(|v| v as f32));
                let data = x.to_vec().into_iter().map(|v| hi.map_or(v, |h| v.min(h))).map(|v| lo.map_or(v, |l| v.max(l))).collect();
                one(Tensor::new(out_dtype()?, x.shape.clone(), data))
            }
            _ if operands.len() == 1 && def.attrs.is_empty() => {
                let f: fn(f32) -> f32 = match short {
                    "rsqrt" => |v| 1.0 / v.sqrt(),
                    "sqrt" => f32::sqrt,
                    "neg" => |v| -v,
                    "exp" => f32::exp,
                    "reciprocal" => |v| 1.0 / v,
                    "abs" => f32::abs,
                    "silu" => |v| v / (1.0 + (-v).exp()),
                    "sigmoid" => |v| 1.0 / (1.0 + (-v).exp()),
                    "bitwise_not" => |v| (v == 0.0) as u8 as f32,
                    _ => return Err("no reference semantics".into()),
                };
                let x = t(0)?;
                one(Tensor::new(out_dtype()?, x.shape.clone(), x.to_vec().into_iter().map(f).collect()))
            }
            _ if operands.len() == 1 && def.attr("other").is_some() => {
                let x = t(0)?;
                let s = float(op, "other").ok_or("no scalar")? as f32;
                let f = scalar_fn(short).ok_or("no reference semantics")?;
                one(Tensor::new(out_dtype()?, x.shape.clone(), x.to_vec().into_iter().map(|v| f(v, s)).collect()))
            }
            _ if operands.len() == 2 => {
                let (a, b) = (t(0)?, t(1)?);
                let f = binary_fn(short).ok_or("no reference semantics")?;
                let shape = broadcast(&a.shape, &b.shape).ok_or("shapes do not broadcast")?;
                let (a, b) = (a.expand(&shape).ok_or("bc")?.to_vec(), b.expand(&shape).ok_or("bc")?.to_vec());
                one(Tensor::new(out_dtype()?, shape, a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect()))
            }
            _ => Err("no reference semantics".into()),
        }
    }

    /// A value-form op or its in-place twin: one kernel, with outputs
    /// returned as results or written into the buffers.
    fn kernel_op(&mut self, op: &OperationRef<'_, '_>, def: &'static OpDef) -> R<Vec<Val>> {
        self.kernel_op_with(op, def, None)
    }

    /// `kernel_op` with one more (read-only) input the kernel reads by name.
    fn kernel_op_with(&mut self, op: &OperationRef<'_, '_>, def: &'static OpDef, extra: Option<(&'static str, Tensor)>) -> R<Vec<Val>> {
        let named = vllm_dialect::verify::named_operands(op).ok_or("op does not verify")?;
        let mut ins: HashMap<&str, Tensor> = HashMap::new();
        for (n, vs) in &named {
            if let Some(v) = vs.first() {
                ins.insert(n, self.tensor(*v)?);
            }
        }
        if let Some((n, t)) = extra {
            ins.insert(n, t);
        }
        // Output name -> (dtype, shape) and where it goes.
        let mut outs: Vec<(String, DType, Vec<usize>)> = Vec::new();
        let results: Vec<Value> = op.results().map(Into::into).collect();
        let twin =
            if def.is_inplace() { def } else { vllm_dialect::op(def.inplace.as_deref().ok_or("no in-place twin")?).ok_or("bad twin")? };
        if def.is_inplace() {
            for w in def.operands.iter().filter(|o| o.mutated) {
                if let Some(b) = ins.get(w.name.as_str()) {
                    outs.push((w.name.clone(), b.dtype, b.shape.clone()));
                }
            }
        } else {
            for (w, r) in vllm_dialect::verify::written_results(op, def, twin).ok_or("op does not verify")? {
                if let Some(r) = r {
                    let ty = results[r].r#type();
                    let mut shape = self.result_shape(ty, &ins)?;
                    // NVFP4 block scales have round_up(T, 128) rows, not T.
                    if let Some(f) = def.nvfp4.as_ref().filter(|f| f.scales == w.name && vllm_dialect::verify::nvfp4_swizzled(op, f))
                        && let (Some(rows), Some(t)) = (shape.first_mut(), ins.get(f.input.as_str()).and_then(|i| i.shape.first()))
                    {
                        *rows = k::nvfp4_scale_rows(*t);
                    }
                    outs.push((w.name.clone(), dtype_of(ty)?, shape));
                }
            }
        }
        let kernel = def.kernel.as_deref().unwrap_or("");
        let data = match nvfp4_kernel(kernel, def, op, &ins, &outs)? {
            Some(exact) => exact,
            None => rounded(run_kernel(kernel, op, &ins, &outs)?),
        };
        // Each output fills its buffer or result exactly (a dynamic input dim the types left open
        // may disagree with a static result: an error, not a short tensor).
        for (n, _, shape) in &outs {
            let len = match data.get(n.as_str()) {
                Some(Out::Rounded(d)) => d.len(),
                Some(Out::Exact(d)) => d.len(),
                None => continue,
            };
            if len != shape.iter().product::<usize>() {
                return Err(format!("the kernel computed {len} values of '{n}', which is {shape:?}"));
            }
        }
        let get = |n: &str| data.get(n).ok_or_else(|| format!("kernel wrote no '{n}'"));
        if def.is_inplace() {
            for (n, _, _) in &outs {
                match get(n)? {
                    Out::Rounded(d) => ins[n.as_str()].write(d),
                    Out::Exact(d) => ins[n.as_str()].write_exact(d),
                }
            }
            Ok(vec![])
        } else {
            outs.into_iter()
                .map(|(n, dt, shape)| {
                    Ok(Val::Tensor(match get(&n)? {
                        Out::Rounded(d) => Tensor::new(dt, shape, d.clone()),
                        Out::Exact(d) => Tensor::exact(dt, shape, d.clone()),
                    }))
                })
                .collect()
        }
    }

    /// A result's concrete shape: static dims from the type, dynamic leading
    /// dims from the first input (the token count). A dynamic last dim is an
    /// error: the kernels change it (SiLU-and-mul halves it), as
    /// fix-functionalization's buffer sizing knows too.
    fn result_shape(&self, ty: Type<'_>, ins: &HashMap<&str, Tensor>) -> R<Vec<usize>> {
        let rt = ir::ranked_tensor(ty).ok_or("result is not a tensor")?;
        let first = ins
            .get("input")
            .or_else(|| ins.get("query"))
            .or_else(|| ins.get("a"))
            .or_else(|| ins.get("allreduce_in"))
            .ok_or("no input to size the result")?;
        let rank = rt.rank();
        (0..rank)
            .map(|i| match rt.dim_size(i) {
                Ok(DimSize::Static(d)) => Ok(d as usize),
                _ => first.shape.get(i).copied().filter(|_| i + 1 < rank).ok_or_else(|| "cannot size a dynamic result dim".to_string()),
            })
            .collect()
    }
}

fn clamp_range(start: i64, end: i64, n: usize) -> (usize, usize) {
    let n = n as i64;
    let fix = |v: i64| if v < 0 { (v + n).max(0) } else { v.min(n) };
    let (s, e) = (fix(start), fix(end));
    (s as usize, e.max(s) as usize)
}

fn matmul(a: &Tensor, b: &Tensor) -> Vec<f32> {
    let (m, kk, n) = (a.shape[0], a.shape[1], b.shape[1]);
    let (av, bv) = (a.to_vec(), b.to_vec());
    let mut out = vec![0.0f32; m * n];
    for i in 0..m {
        for p in 0..kk {
            let x = av[i * kk + p];
            for j in 0..n {
                out[i * n + j] += x * bv[p * n + j];
            }
        }
    }
    out
}

fn reduce(x: &Tensor, dims: &[usize], keepdim: bool, kind: &str, dt: DType) -> R<Tensor> {
    // Move the reduced dims last, then fold each group in f32.
    let keep: Vec<usize> = (0..x.shape.len()).filter(|d| !dims.contains(d)).collect();
    let order: Vec<usize> = keep.iter().chain(dims).copied().collect();
    let v = x.permute(&order).to_vec();
    let group: usize = dims.iter().map(|&d| x.shape[d]).product();
    let data: Vec<f32> = v
        .chunks(group.max(1))
        .map(|g| match kind {
            "sum" => g.iter().sum(),
            "mean" => g.iter().sum::<f32>() / group as f32,
            _ => g.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)),
        })
        .collect();
    let shape: Vec<usize> =
        (0..x.shape.len()).filter_map(|d| if dims.contains(&d) { keepdim.then_some(1) } else { Some(x.shape[d]) }).collect();
    Ok(Tensor::new(dt, shape, data))
}

fn scalar_fn(short: &str) -> Option<fn(f32, f32) -> f32> {
    Some(match short {
        "add_scalar" => |a, b| a + b,
        "sub_scalar" => |a, b| a - b,
        "mul_scalar" => |a, b| a * b,
        "div_scalar" => |a, b| a / b,
        "pow_scalar" => |a, b| if b == 2.0 { a * a } else { a.powf(b) },
        // torch.clamp keeps NaN (Rust's max/min would drop it).
        "clamp_min" => |a, b| if a.is_nan() { a } else { a.max(b) },
        "clamp_max" => |a, b| if a.is_nan() { a } else { a.min(b) },
        "ge_scalar" => |a, b| (a >= b) as u8 as f32,
        "gt_scalar" => |a, b| (a > b) as u8 as f32,
        "le_scalar" => |a, b| (a <= b) as u8 as f32,
        "lt_scalar" => |a, b| (a < b) as u8 as f32,
        "eq_scalar" => |a, b| (a == b) as u8 as f32,
        _ => return None,
    })
}

fn binary_fn(short: &str) -> Option<fn(f32, f32) -> f32> {
    Some(match short {
        "add" => |a, b| a + b,
        "sub" => |a, b| a - b,
        "mul" => |a, b| a * b,
        "div" => |a, b| a / b,
        "maximum" => f32::max,
        "minimum" => f32::min,
        "bitwise_and" => |a, b| ((a != 0.0) && (b != 0.0)) as u8 as f32,
        "bitwise_or" => |a, b| ((a != 0.0) || (b != 0.0)) as u8 as f32,
        _ => return None,
    })
}

/// A kernel's output: `f32` values rounded to the buffer's dtype on write, or
/// exact words (the NVFP4 block scales: four e4m3 bytes to an `i32`).
enum Out {
    Rounded(Vec<f32>),
    Exact(Vec<f64>),
}

fn rounded(m: HashMap<String, Vec<f32>>) -> HashMap<String, Out> {
    m.into_iter().map(|(n, d)| (n, Out::Rounded(d))).collect()
}

/// The kernels that write NVFP4 (exact block-scale words), by the op's
/// `nvfp4` layout (which operand is quantized, which outputs are the packed
/// values and the block scales); `None` for the others, and for the
/// all-reduce + norm without `scale_out` (its FP8 quant is `run_kernel`'s).
/// What is quantized: the input (the quant), its SiLU-and-mul, or the
/// all-reduce + norm's normalized rows (`run_kernel` gives them and the new
/// residual).
fn nvfp4_kernel(
    kernel: &str,
    def: &OpDef,
    op: &OperationRef<'_, '_>,
    ins: &HashMap<&str, Tensor>,
    outs: &[(String, DType, Vec<usize>)],
) -> R<Option<HashMap<String, Out>>> {
    let Some(f) = def.nvfp4.as_ref().filter(|f| outs.iter().any(|o| o.0 == f.scales)) else { return Ok(None) };
    let scalar = |n: &str| ins.get(n).and_then(|t| t.to_vec().first().copied()).ok_or_else(|| format!("no '{n}'"));
    let x = ins.get(f.input.as_str()).ok_or_else(|| format!("no '{}'", f.input))?;
    // Whole blocks of 16 quantized elements, of `input_per_byte / 2` input elements each (SiLU-and-mul's
    // input is twice as wide). The verifier checks static widths; a dynamic one is checked here.
    let inputs_per_element = f.input_per_byte as usize / 2;
    let width = *x.shape.last().ok_or_else(|| format!("no '{}' rows", f.input))?;
    if width % (k::NVFP4_BLOCK * inputs_per_element) != 0 {
        return Err(format!(
            "'{}' rows of {width} elements are not whole NVFP4 blocks ({} a block)",
            f.input,
            k::NVFP4_BLOCK * inputs_per_element
        ));
    }
    let n = width / inputs_per_element;
    let (mut m, (q, sf)) = match kernel {
        "scaled_fp4_quant" if !vllm_dialect::verify::nvfp4_swizzled(op, f) => {
            (HashMap::new(), k::scaled_fp4_quant_linear(&x.to_vec(), n, scalar("input_scale")?))
        }
        "scaled_fp4_quant" => (HashMap::new(), k::scaled_fp4_quant(&x.to_vec(), n, scalar("input_scale")?)),
        "silu_and_mul_nvfp4_quant" => {
            (HashMap::new(), k::silu_and_mul_nvfp4_quant(&x.to_vec(), width, scalar("input_global_scale")?, x.dtype))
        }
        "flashinfer_trtllm_fused_allreduce_norm" => {
            let m = run_kernel(kernel, op, ins, outs)?;
            let rows = m.get("allreduce_in").ok_or("no normalized rows to quantize")?;
            let qs = k::scaled_fp4_quant(rows, n, scalar("scale_factor")?);
            (rounded(m), qs)
        }
        other => return Err(format!("no NVFP4 reference for kernel '{other}'")),
    };
    m.insert(f.values.clone(), Out::Rounded(q));
    m.insert(f.scales.clone(), Out::Exact(sf));
    Ok(Some(m))
}

/// The kernel `kernel` on `ins` (by operand name); returns each output named
/// in `outs` (the in-place twin's written arguments), row-major.
fn run_kernel(
    kernel: &str,
    op: &OperationRef<'_, '_>,
    ins: &HashMap<&str, Tensor>,
    outs: &[(String, DType, Vec<usize>)],
) -> R<HashMap<String, Vec<f32>>> {
    let get = |n: &str| ins.get(n).map(Tensor::to_vec).ok_or_else(|| format!("no '{n}'"));
    let opt = |n: &str| ins.get(n).map(Tensor::to_vec);
    let scalar = |n: &str| -> R<f32> { get(n)?.first().copied().ok_or_else(|| format!("'{n}' is empty")) };
    let act = ins.get("input").or_else(|| ins.get("query")).map(|t| t.dtype).unwrap_or(DType::F32);
    let eps = float(op, "epsilon").unwrap_or(1e-6) as f32;
    let out_dtype = |n: &str| outs.iter().find(|o| o.0 == n).map(|o| o.1).unwrap_or(DType::F8E4M3FN);
    let mut m: HashMap<String, Vec<f32>> = HashMap::new();
    match kernel {
        "rms_norm" => {
            m.insert("result".into(), k::rms_norm(&get("input")?, &get("weight")?, eps, act));
        }
        "fused_add_rms_norm" => {
            let (o, z) = k::fused_add_rms_norm(&get("input")?, &get("residual")?, &get("weight")?, eps, act);
            m.insert("input".into(), o);
            m.insert("residual".into(), z);
        }
        "rms_norm_static_fp8_quant" => {
            let y = k::rms_norm(&get("input")?, &get("weight")?, eps, act);
            m.insert("result".into(), k::static_quant(&y, scalar("scale")?));
        }
        "flashinfer_trtllm_fused_allreduce_norm" => {
            // With norm_out None: the norm into allreduce_in, the new residual into residual.
            let act = ins.get("allreduce_in").map_or(DType::F32, |t| t.dtype);
            let eps = float(op, "rms_eps").ok_or("no rms_eps")? as f32;
            let (sum, residual, gamma) = (get("allreduce_sum")?, get("residual")?, get("rms_gamma")?);
            let bias = float(op, "weight_bias").unwrap_or(0.0);
            let (o, z) = if bias == 0.0 {
                k::fused_add_rms_norm(&sum, &residual, &gamma, eps, act)
            } else {
                // Gemma's (1 + w): the kernel's f32 product, rounded once (what the native Gemma norm computes).
                k::fused_add_rms_norm_biased(&sum, &residual, &gamma, eps, bias as f32, act)
            };
            // FP8 here; NVFP4 (with `scale_out`) in `nvfp4_kernel`, its block scales being exact words.
            if outs.iter().any(|o| o.0 == "quant_out") && !outs.iter().any(|o| o.0 == "scale_out") {
                m.insert("quant_out".into(), k::static_quant(&o, scalar("scale_factor")?));
            }
            m.insert("allreduce_in".into(), o);
            m.insert("residual".into(), z);
        }
        "fused_add_rms_norm_static_fp8_quant" => {
            let (o, z) = k::fused_add_rms_norm(&get("input")?, &get("residual")?, &get("weight")?, eps, act);
            m.insert("result".into(), k::static_quant(&o, scalar("scale")?));
            m.insert("residual".into(), z);
        }
        "rms_norm_dynamic_per_token_quant" => {
            let ub = opt("scale_ub").and_then(|v| v.first().copied());
            let r = opt("residual");
            let (q, s, r2) = k::rms_norm_per_token_quant(&get("input")?, &get("weight")?, eps, ub, r.as_deref(), act, out_dtype("result"));
            m.insert("result".into(), q);
            m.insert("scale".into(), s);
            if let Some(r2) = r2 {
                m.insert("residual".into(), r2);
            }
        }
        "rms_norm_per_block_quant" => {
            // The fused kernel: the norm of the f32 sum (as the per-token
            // kernel), then per_token_group_fp8_quant's math per group.
            let g = int(op, "group_size").ok_or("no group_size")? as usize;
            let x = get("input")?;
            let r = opt("residual");
            let sum: Vec<f32> = match &r {
                Some(r) => x.iter().zip(r).map(|(a, b)| a + b).collect(),
                None => x,
            };
            let y = k::rms_norm(&sum, &get("weight")?, eps, act);
            let (q, s) = k::per_group_quant(&y, g, 1e-10, -FP8_MAX, FP8_MAX, false);
            m.insert("result".into(), q);
            m.insert("scale".into(), s);
            if r.is_some() {
                m.insert("residual".into(), sum);
            }
        }
        "silu_and_mul_per_block_quant" => {
            let g = int(op, "group_size").ok_or("no group_size")? as usize;
            let x = &ins["input"];
            let y = k::silu_and_mul(&x.to_vec(), *x.shape.last().unwrap_or(&0), act);
            let (q, s) = k::per_group_quant(&y, g, 1e-10, -FP8_MAX, FP8_MAX, false);
            m.insert("out".into(), q);
            m.insert("scales".into(), s);
        }
        "static_scaled_fp8_quant" => {
            m.insert("result".into(), k::static_quant(&get("input")?, scalar("scale")?));
        }
        "dynamic_per_token_scaled_fp8_quant" => {
            let x = &ins["input"];
            let ub = opt("scale_ub").and_then(|v| v.first().copied());
            let (q, s) = k::per_token_quant(&x.to_vec(), *x.shape.last().unwrap_or(&1), ub);
            m.insert("result".into(), q);
            m.insert("scale".into(), s);
        }
        "dynamic_scaled_fp8_quant" => {
            let x = get("input")?;
            let s = x.iter().fold(0.0f32, |a, v| a.max(v.abs())) / FP8_MAX;
            m.insert("result".into(), k::static_quant(&x, s));
            m.insert("scale".into(), vec![s]);
        }
        "per_token_group_fp8_quant" => {
            let g = int(op, "group_size").ok_or("no group_size")? as usize;
            let f = |n| float(op, n).map(|v| v as f32);
            let (q, s) = k::per_group_quant(
                &get("input")?,
                g,
                f("eps").unwrap_or(1e-10),
                f("fp8_min").unwrap_or(-FP8_MAX),
                f("fp8_max").unwrap_or(FP8_MAX),
                boolean(op, "scale_ue8m0").unwrap_or(false),
            );
            m.insert("output_q".into(), q);
            m.insert("output_s".into(), s);
        }
        "silu_and_mul" => {
            let x = &ins["input"];
            m.insert("result".into(), k::silu_and_mul(&x.to_vec(), *x.shape.last().unwrap_or(&0), act));
        }
        "silu_and_mul_quant" => {
            let x = &ins["input"];
            m.insert("result".into(), k::silu_and_mul_quant(&x.to_vec(), *x.shape.last().unwrap_or(&0), scalar("scale")?, act));
        }
        "rotary_embedding" => {
            let head = int(op, "head_size").ok_or("no head_size")? as usize;
            let neox = boolean(op, "is_neox").unwrap_or(true);
            let cache = &ins["cos_sin_cache"];
            let rot = *cache.shape.last().unwrap_or(&head);
            let pos = get("positions")?;
            let cv = cache.to_vec();
            for n in ["query", "key"] {
                if let Some(mut v) = opt(n) {
                    k::rotary(&pos, &mut v, &cv, head, rot, neox, act);
                    m.insert(n.into(), v);
                }
            }
        }
        "fused_qk_norm_rope" => {
            let dim = |n: &str| int(op, n).and_then(|v| usize::try_from(v).ok()).ok_or_else(|| format!("no {n}"));
            let heads = k::Heads { q: dim("num_heads_q")?, k: dim("num_heads_k")?, v: dim("num_heads_v")?, dim: dim("head_dim")? };
            let qkv = &ins["qkv"];
            let cache = &ins["cos_sin_cache"];
            let rot = *cache.shape.last().unwrap_or(&heads.dim);
            let eps = float(op, "eps").unwrap_or(1e-6) as f32;
            let neox = boolean(op, "is_neox").unwrap_or(true);
            let out = k::fused_qk_norm_rope(
                &qkv.to_vec(),
                heads,
                eps,
                (&get("q_weight")?, &get("k_weight")?),
                (&get("position_ids")?, &cache.to_vec(), rot),
                neox,
                qkv.dtype,
            );
            m.insert("qkv".into(), out);
        }
        "cutlass_scaled_mm" => {
            let (a, b) = (&ins["a"], &ins["b"]);
            let prod = matmul(a, b);
            let (sa, sb) = (get("a_scales")?, get("b_scales")?);
            let n = b.shape[1];
            let bias = opt("bias");
            let out: Vec<f32> = prod
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let x = v * sa[if sa.len() == 1 { 0 } else { i / n }] * sb[if sb.len() == 1 { 0 } else { i % n }];
                    x + bias.as_ref().map_or(0.0, |b| b[i % n])
                })
                .collect();
            m.insert("out".into(), out);
        }
        other => return Err(format!("kernel '{other}' has no reference implementation")),
    }
    Ok(m)
}
