//! Rust-level tests of the dialect crate: the op table and its invariants.
use crate::RustTest;
use libtest_mimic::Failed;
use vllm_dialect::{Arity, spec};

pub const TESTS: &[RustTest] = &[
    ("dialect::op_table_parses", op_table_parses),
    ("dialect::malformed_tables_are_rejected_with_the_op_name", malformed_tables_are_rejected),
    ("dialect::every_op_is_registered_in_a_context", every_op_is_registered),
    ("dialect::inplace_twins_write_what_the_value_form_returns", inplace_twins_match),
    ("dialect::recorded_layouts", recorded_layouts),
];

/// `provenance::layout`: what fix-functionalization can allocate.
fn recorded_layouts() -> Result<(), Failed> {
    use serde_json::json;
    use vllm_dialect::provenance::{Layout, layout};
    let cases = [
        (json!({"shape": ["s77", 4096]}), Layout::RowMajor),
        (json!({"shape": ["s77", 4096], "stride": [4096, 1]}), Layout::RowMajor),
        (json!({"shape": ["s77", 8, 128], "stride": [1024, 128, 1]}), Layout::RowMajor),
        (json!({"shape": [8, "s77", 128], "stride": ["128*s77", 128, 1]}), Layout::RowMajor),
        (json!({"shape": [2, "s0", "s1"], "stride": ["s0*s1", "s1", 1]}), Layout::RowMajor),
        // A dim of size 1 takes any stride.
        (json!({"shape": ["s77", 1], "stride": [1, 1]}), Layout::RowMajor),
        (json!({"shape": [1, 4096], "stride": [7, 1]}), Layout::RowMajor),
        // ... but exact strides win: one group of column-major scales, and
        // one row whose strides are exactly the transpose's.
        (json!({"shape": ["s77", 1], "stride": [1, "s77"]}), Layout::Transposed),
        (json!({"shape": [1, 4096], "stride": [1, 1]}), Layout::Transposed),
        // vLLM main's column-major per-group scales: empty([H/G, T]).permute(1, 0).
        (json!({"shape": ["s77", 32], "stride": [1, "s77"]}), Layout::Transposed),
        (json!({"shape": [16, 32], "stride": [1, 16]}), Layout::Transposed),
        // ... and TMA-aligned ones: their rows padded to a multiple of 4.
        (json!({"shape": ["s77", 32], "stride": [1, "4*(((s77 + 3)//4))"]}), Layout::TmaPadded),
        (json!({"shape": ["s77", 32], "stride": [1, "4*((s77 + 3)//4)"]}), Layout::TmaPadded),
        (json!({"shape": [18, 32], "stride": [1, 20]}), Layout::TmaPadded),
        // Padded to another multiple, or another symbol's: not what the kernels write.
        (json!({"shape": ["s77", 32], "stride": [1, "8*(((s77 + 7)//8))"]}), Layout::Other),
        (json!({"shape": ["s77", 32], "stride": [1, "4*(((s5 + 3)//4))"]}), Layout::Other),
        (json!({"shape": [18, 32], "stride": [1, 24]}), Layout::Other),
        (json!({"shape": [18, 32], "stride": [2, 20]}), Layout::Other),
        // A slice of wider rows.
        (json!({"shape": ["s77", 128], "stride": [4096, 1]}), Layout::Other),
        (json!({"shape": ["s77", 4096], "stride": [4096]}), Layout::Other),
    ];
    for (record, want) in cases {
        let got = layout(&record.to_string());
        if got != want {
            return Err(format!("{record}: {got:?}, wanted {want:?}").into());
        }
    }
    Ok(())
}

fn op_table_parses() -> Result<(), Failed> {
    let t = vllm_dialect::try_table()?;
    let names: Vec<&str> = t.ops.iter().map(|o| o.name.as_str()).collect();
    for must in [
        "vllm.rms_norm",
        "vllm.fused_add_rms_norm",
        "vllm.static_scaled_fp8_quant",
        "vllm.dynamic_scaled_fp8_quant",
        "vllm.dynamic_per_token_scaled_fp8_quant",
        "vllm.rms_norm_static_fp8_quant",
        "vllm.fused_add_rms_norm_static_fp8_quant",
        "vllm.rms_norm_dynamic_per_token_quant",
        "vllm.silu_and_mul",
        "vllm.silu_and_mul_quant",
        "vllm.rotary_embedding",
        "vllm.unified_attention_with_output",
        "vllm.all_reduce",
        "vllm.reduce_scatter",
        "vllm.all_gather",
        "vllm.fused_matmul_reduce_scatter",
        "vllm.fused_all_gather_matmul",
        "aten.reshape",
        "aten.view",
        "aten.slice",
        "aten.slice_scatter",
        "aten.empty",
        "aten.mm",
        "aten.scaled_mm",
        "aten.add",
        "aten.mul",
        "aten.convert_element_type",
        "aten.pow_scalar",
        "aten.mean",
        "aten.rsqrt",
        "aten.silu",
        "aten.split",
        "torch.operator",
    ] {
        if !names.contains(&must) {
            return Err(format!("the op table lacks {must}").into());
        }
    }
    let rms = vllm_dialect::op("vllm.rms_norm").ok_or("no rms_norm")?;
    if !rms.is_pure() || rms.inplace.as_deref() != Some("vllm.rms_norm_") || rms.target != "torch.ops._C.rms_norm.default" {
        return Err(format!("vllm.rms_norm facts are wrong: {rms:?}").into());
    }
    if vllm_dialect::op("vllm.all_reduce").ok_or("no all_reduce")?.is_pure() {
        return Err("collectives must not be pure".into());
    }
    let mutated: Vec<usize> = vllm_dialect::op("vllm.fused_add_rms_norm_").ok_or("no twin")?.mutated_operands().collect();
    if mutated != vec![0, 1] {
        return Err(format!("fused_add_rms_norm_ must write input and residual, got {mutated:?}").into());
    }
    Ok(())
}

fn malformed_tables_are_rejected() -> Result<(), Failed> {
    let head = "[[dialect]]\nname = \"vllm\"\nsummary = \"s\"\n";
    let op = |body: &str| format!("{head}[[op]]\nname = \"vllm.x\"\ntarget = \"t\"\nsummary = \"s\"\nexample = \"e\"\n{body}\n");
    let cases = [
        (op("operands = [\"a:f17\"]"), "unknown value class"),
        (op("operands = [\"a?*\"]"), "both optional and variadic"),
        (op("attrs = [\"eps\"]"), "needs a kind"),
        (op("attrs = [\"eps:float\"]"), "unknown attribute kind"),
        (op("operands = [\"a!\"]"), "end in '_'"),
        (op("inplace = \"vllm.nope_\""), "in-place twin"),
        (op("frobnicate = true"), "unknown field"),
        (op("collective = \"spread\""), "'scatter' or 'gather'"),
        (op("attrs = [\"dim:i64\"]\ncollective = \"gather\""), "needs 'dim' and 'world_size'"),
        (format!("{head}[[op]]\nname = \"aten.x\"\ntarget = \"t\"\nsummary = \"s\"\nexample = \"e\"\n"), "unknown dialect"),
        (op("operands = [\"a\"]\nnvfp4 = { input = \"a\", values = \"q\", scales = \"s\", input_per_byte = 2 }"), "nvfp4 names"),
        (
            op(
                "operands = [\"a\"]\nresults = [\"q\", \"s\"]\nattrs = [\"sw:i64\"]\nnvfp4 = { input = \"a\", values = \"q\", scales = \"s\", input_per_byte = 2, swizzled_if = \"sw\" }",
            ),
            "swizzled_if names 'sw'",
        ),
        (op("operands = [\"*a\"]\nfx_positional = true"), "no operand can be keyword-only"),
        (
            op("operands = [\"a\"]\nfunctional = { target = \"torch.ops.vllm_ir.x.default\", params = [\"x\"] }"),
            "functional names a functional form",
        ),
        (op("operands = [\"a\"]\npadded_rows = [\"a\"]"), "padded_rows names 'a'"),
        (op("padded_unless = \"g\""), "padded_unless names 'g'"),
        (op("operands = [\"a\", \"b?\"]\nattrs = [\"g:i64\"]\nfx_positional = true\nomit_if_absent = [\"b\"]"), "must come last"),
        (op("operands = [\"a\"]\nattrs = [\"t:bool\"]\ntransposed_if = { a = \"t\" }"), "transposed_if maps 'a'"),
        // TMA padding pads a transposed buffer, by a bool attribute.
        (
            op("operands = [\"a!\"]\nattrs = [\"t:bool\"]\ntma_aligned_if = { a = \"t\" }").replace("vllm.x\"", "vllm.x_\""),
            "tma_aligned_if maps 'a'",
        ),
        (
            op("operands = [\"a!\"]\nattrs = [\"t:bool\", \"p:i64\"]\ntransposed_if = { a = \"t\" }\ntma_aligned_if = { a = \"p\" }")
                .replace("vllm.x\"", "vllm.x_\""),
            "tma_aligned_if maps 'a' to 'p'",
        ),
        // An internal attribute is ours: no default, not an argument an older schema lacks.
        (op("attrs = [\"f:bool=false\"]\ninternal = [\"f\"]"), "internal names 'f'"),
        (op("attrs = [\"f:bool\"]\ninternal = [\"f\"]\nomit_if_absent = [\"f\"]"), "internal names 'f'"),
        (op("internal = [\"f\"]"), "internal names 'f'"),
        (op("operands = [\"a\"]\nscalars = [\"s\"]"), "scalars names 's'"),
        (op("operands = [\"a\"]\ntolerated = { a = 1 }"), "tolerated names 'a'"),
        (op("operands = [\"a\"]\ntolerated = { g = 1.5 }"), "tolerated values are"),
        (op("operands = [\"a\"]\nomit_if_absent = [\"a\"]"), "omit_if_absent names 'a'"),
        // An optional attribute has no default (a call that lacks it is an older schema's).
        (op("attrs = [\"f:bool=false\"]\nomit_if_absent = [\"f\"]"), "omit_if_absent names 'f'"),
        (op("operands = [\"a\", \"b\"]\nattrs = [\"g:i64\"]\nschema_order = [\"a\", \"g\"]"), "schema_order must name"),
        (op("operands = [\"a\"]\nattrs = [\"g:i64\"]\nschema_order = [\"a\", \"g\", \"a\"]"), "schema_order must name"),
        // An IR form binds a parameter to every operand.
        (
            format!(
                "{}[[op]]\nname = \"vllm.x_\"\ntarget = \"t\"\nsummary = \"s\"\nexample = \"e\"\noperands = [\"r!\", \"a\"]\n",
                op("operands = [\"a\"]\nresults = [\"r\"]\ninplace = \"vllm.x_\"\nfunctional = { target = \"i\", params = [\"x\"] }")
            ),
            "functional binds no parameter to 'a'",
        ),
        // A fixed value is a bool, a dtype or a string; a tolerated one is no dtype.
        (
            format!(
                "{}[[op]]\nname = \"vllm.x_\"\ntarget = \"t\"\nsummary = \"s\"\nexample = \"e\"\noperands = [\"r!\", \"a\"]\n",
                op(
                    "operands = [\"a\"]\nresults = [\"r\"]\ninplace = \"vllm.x_\"\nfunctional = { target = \"i\", params = [\"a\", \"p\"], fixed = { p = 1 } }"
                )
            ),
            "fixed values are",
        ),
        (op("operands = [\"a\"]\ntolerated = { g = { dtype = \"float8_e4m3fn\" } }"), "tolerated values are"),
        // The value form's results pair with what the twin writes, in order.
        (
            format!(
                "{}[[op]]\nname = \"vllm.x_\"\ntarget = \"t\"\nsummary = \"s\"\nexample = \"e\"\noperands = [\"r!\", \"s?!\"]\n",
                op("operands = [\"a\"]\nresults = [\"r\", \"s\"]\ninplace = \"vllm.x_\"")
            ),
            "optional where those are",
        ),
    ];
    for (text, want) in cases {
        match spec::parse(&text) {
            Ok(_) => return Err(format!("accepted a malformed table (wanted '{want}'):\n{text}").into()),
            Err(e) if e.contains(want) && (e.contains("vllm.x") || e.contains("aten.x") || want == "unknown field") => {}
            Err(e) => return Err(format!("wanted an error with '{want}' naming the op, got: {e}").into()),
        }
    }
    Ok(())
}

fn every_op_is_registered() -> Result<(), Failed> {
    let ctx = vllm_dialect::new_context()?;
    for op in &vllm_dialect::table().ops {
        if !ctx.is_registered_operation(&op.name) {
            return Err(format!("{} is not registered in a fresh context", op.name).into());
        }
    }
    if ctx.is_registered_operation("vllm.not_an_op") {
        return Err("an unknown op is registered".into());
    }
    Ok(())
}

fn inplace_twins_match() -> Result<(), Failed> {
    for op in &vllm_dialect::table().ops {
        let Some(twin) = &op.inplace else { continue };
        let twin = vllm_dialect::op(twin).ok_or("missing twin")?;
        let written: Vec<_> = twin.operands.iter().filter(|o| o.mutated).collect();
        if written.len() != op.results.len() {
            return Err(format!("{}: {} results but its twin writes {} buffers", op.name, op.results.len(), written.len()).into());
        }
        for (r, w) in op.results.iter().zip(&written) {
            if (r.arity == Arity::Optional) != (w.arity == Arity::Optional) || r.class != w.class {
                return Err(format!("{}: result '{}' does not match written operand '{}'", op.name, r.name, w.name).into());
            }
        }
        for o in &op.operands {
            if !twin.operands.iter().any(|t| t.name == o.name && t.class == o.class && t.arity == o.arity) {
                return Err(format!("{}: operand '{}' is missing from {}", op.name, o.name, twin.name).into());
            }
        }
        if op.kernel != twin.kernel {
            return Err(format!("{}: kernel differs from its twin's", op.name).into());
        }
    }
    Ok(())
}
