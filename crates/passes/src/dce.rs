//! `vllm-dce`: dead-op elimination for the torch-like dialects.
use mlir_support::{
    ir,
    melior::ir::{
        BlockLike, RegionLike,
        operation::{OperationLike, OperationRef},
    },
    pass::{Pass, PassFailed, PassInfo, PassRun, PassStatistic},
};

pub static INFO: PassInfo = PassInfo {
    argument: "vllm-dce",
    summary: "Erase unused pure ops of the torch-like dialects",
    description: "
Dynamic-dialect ops carry no MLIR traits, so upstream `canonicalize` and `cse`
treat them as having unknown side effects and never erase them. This pass uses
the op table instead: an `aten.*`/`vllm.*` op that the table marks pure and whose
results are all unused is erased, and so is unread SymInt arithmetic
(`torch.operator` with an `operator.*` target on index values). Ops with
effects (collectives, in-place ops, any other `torch.operator`) are always kept. One backward sweep over each block removes
whole dead chains, since users are visited before their producers.

```mlir
%0 = \"aten.reshape\"(%x) {shape = array<i64: -1, 4096>} : (...) -> ...  // erased: unused
```",
    anchor: Some("func.func"),
    options: &[],
    statistics: &[PassStatistic { name: "num-erased", description: "Number of dead ops erased" }],
    sources: &[include_str!("dce.rs")],
};

/// The `vllm-dce` pass.
#[derive(Debug, Default, Clone, Copy)]
pub struct DcePass;

fn is_dead_pure(op: OperationRef<'_, '_>) -> bool {
    let name = op.name();
    let Ok(name) = name.as_string_ref().as_str() else { return false };
    (vllm_dialect::op(name).is_some_and(|d| d.is_pure()) || is_symint_arithmetic(&op, name)) && ir::results_unused(op)
}

/// SymInt arithmetic (`torch.operator` with an `operator.*` target, index
/// operands and results: a padded buffer's `round_up(T, 128)` rows) is pure.
/// After shape specialization the buffers it sized have static sizes, and
/// it is left unread.
fn is_symint_arithmetic(op: &OperationRef<'_, '_>, name: &str) -> bool {
    use mlir_support::melior::ir::{TypeLike, ValueLike};
    name == "torch.operator"
        && ir::string_attr(op, "target").is_some_and(|t| t.starts_with("operator."))
        && op.operands().all(|v| v.r#type().is_index())
        && op.results().all(|v| v.r#type().is_index())
}

impl Pass for DcePass {
    fn info(&self) -> &'static PassInfo {
        &INFO
    }

    fn run(&self, op: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        let mut erased = 0u64;
        for region in op.regions() {
            let mut block = region.first_block();
            while let Some(b) = block {
                // Users come after producers: a backward sweep frees whole dead chains.
                for o in ir::block_ops(b).into_iter().rev() {
                    if is_dead_pure(o) {
                        ir::erase(o);
                        erased += 1;
                    }
                }
                block = b.next_in_region();
            }
        }
        run.bump("num-erased", erased);
        Ok(())
    }
}
