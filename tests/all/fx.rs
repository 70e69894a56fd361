//! FX graph JSON: every real fixture imports, verifies and round-trips.
use crate::RustTest;
use libtest_mimic::Failed;
use serde_json::Value;
use std::{collections::HashMap, path::PathBuf};

pub const TESTS: &[RustTest] = &[
    ("fx::every_fixture_round_trips_node_for_node", every_fixture_round_trips),
    ("fx::fixtures_import_without_opaque_ops_or_buffers", fixtures_import_without_opaque_ops),
    ("fx::export_is_a_fixed_point", export_is_a_fixed_point),
    ("fx::dyn_fixtures_specialized_to_n_are_the_captured_n_fixtures", specialization_matches_captured_static_graphs),
    ("fx::fixtures_fuse_as_their_readme_states", fixture_fusion_counts),
    ("fx::generated_80_layer_graph_fuses_everywhere", generated_80_layer_graph_fuses_everywhere),
    ("fx::generated_80_layer_qwen3_fuses_its_qk_norms", generated_80_layer_qwen3_fuses_its_qk_norms),
    ("fx::dtypes_build_the_types_they_name", dtypes_build_the_types_they_name),
];

pub fn fixtures() -> Result<Vec<PathBuf>, Failed> {
    let dir = crate::root().join("../shared/fixtures");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e} (the fixtures live in ../shared/fixtures)", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    if out.len() < 10 {
        return Err(format!("expected the 10 fixtures in {}, found {}", dir.display(), out.len()).into());
    }
    Ok(out)
}

fn round_trip(ctx: &mlir_support::melior::Context, text: &str, name: &str) -> Result<Value, Failed> {
    let module = vllm_fx::import(ctx, text, name).map_err(|d| format!("{name}: import failed: {d:?}"))?;
    let doc = vllm_fx::export(&module).map_err(|d| format!("{name}: export failed: {d}"))?;
    Ok(doc)
}

/// An FX graph JSON's nodes by name.
fn nodes_by_name(graph: &Value) -> HashMap<String, Value> {
    graph["nodes"].as_array().into_iter().flatten().map(|n| (n["name"].as_str().unwrap_or("").to_string(), n.clone())).collect()
}

fn key(n: &Value) -> (Value, Value, Value, Value, Value) {
    let or = |v: &Value, d: Value| if v.is_null() { d } else { v.clone() };
    (
        n["op"].clone(),
        n["target"].clone(),
        or(&n["args"], Value::Array(vec![])),
        or(&n["kwargs"], Value::Object(Default::default())),
        n["meta"]["val"].clone(),
    )
}

fn every_fixture_round_trips() -> Result<(), Failed> {
    let ctx = vllm_dialect::new_context()?;
    let mut problems = Vec::new();
    for f in fixtures()? {
        let name = f.file_name().unwrap_or_default().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f)?;
        let original: Value = serde_json::from_str(&text)?;
        let exported = round_trip(&ctx, &text, &name)?;
        for k in ["format", "version", "name", "symbols", "description", "capture"] {
            if original[k] != exported[k] {
                problems.push(format!("{name}: top-level '{k}' differs"));
            }
        }
        let a = original["nodes"].as_array().cloned().unwrap_or_default();
        let b = nodes_by_name(&exported);
        if a.len() != b.len() {
            problems.push(format!("{name}: {} nodes in, {} out", a.len(), b.len()));
        }
        for n in &a {
            let nm = n["name"].as_str().unwrap_or("");
            match b.get(nm) {
                None => problems.push(format!("{name}: node '{nm}' is missing after the round trip")),
                Some(m) if key(n) != key(m) => {
                    problems.push(format!("{name}: node '{nm}' differs:\n  in:  {:?}\n  out: {:?}", key(n), key(m)))
                }
                _ => {}
            }
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n").into()) }
}

fn fixtures_import_without_opaque_ops() -> Result<(), Failed> {
    let ctx = vllm_dialect::new_context()?;
    for f in fixtures()? {
        let name = f.display().to_string();
        let module = vllm_fx::import(&ctx, &std::fs::read_to_string(&f)?, &name).map_err(|d| format!("{d:?}"))?;
        let text = module.as_operation().to_string();
        let opaque = text.matches("\"torch.operator\"(").count();
        let empty = text.matches("\"aten.empty\"(").count();
        let value_ops = text.matches("\"vllm.").count();
        if opaque != 0 || empty != 0 || value_ops == 0 {
            return Err(format!(
                "{name}: every op in the fixtures is modeled and every buffer is output-only, \
                 yet the import has {opaque} torch.operator, {empty} aten.empty, {value_ops} vllm ops"
            )
            .into());
        }
    }
    Ok(())
}

fn export_is_a_fixed_point() -> Result<(), Failed> {
    let ctx = vllm_dialect::new_context()?;
    for f in fixtures()? {
        let name = f.display().to_string();
        let once = vllm_fx::to_text(&round_trip(&ctx, &std::fs::read_to_string(&f)?, &name)?);
        let twice = vllm_fx::to_text(&round_trip(&ctx, &once, &name)?);
        if once != twice {
            return Err(format!("{name}: exporting the re-imported export changes it").into());
        }
    }
    Ok(())
}

/// The `_dyn` fixtures specialized to N are the `_nN` fixtures PyTorch
/// captured for N tokens, node for node.
pub fn specialization_matches_captured_static_graphs() -> Result<(), Failed> {
    use mlir_support::pipeline::Pipeline;
    let ctx = vllm_dialect::new_context()?;
    vllm_passes::register_all();
    let dir = crate::root().join("../shared/fixtures");
    for (dynamic, n, captured) in [
        ("llama_fp8_custom_L2_dyn.json", 256, "llama_fp8_custom_L2_n256.json"),
        ("llama_fp8_custom_L2_dyn.json", 1, "llama_fp8_custom_L2_n1.json"),
        ("llama_fp8tok_custom_L2_dyn.json", 256, "llama_fp8tok_custom_L2_n256.json"),
    ] {
        let mut module = vllm_fx::import(&ctx, &std::fs::read_to_string(dir.join(dynamic))?, dynamic).map_err(|d| format!("{d:?}"))?;
        let p = Pipeline::parse(&ctx, &format!("builtin.module(vllm-specialize-shapes{{num-tokens={n}}})")).map_err(|d| d.to_string())?;
        p.run(&mut module).map_err(|d| format!("{d:?}"))?;
        let ours = vllm_fx::export(&module).map_err(|d| d.to_string())?;
        let theirs: Value = serde_json::from_str(&std::fs::read_to_string(dir.join(captured))?)?;
        let ours = nodes_by_name(&ours);
        let want = theirs["nodes"].as_array().cloned().unwrap_or_default();
        if want.len() != ours.len() {
            return Err(format!("{dynamic} @ {n}: {} nodes, captured graph has {}", ours.len(), want.len()).into());
        }
        for node in &want {
            let name = node["name"].as_str().unwrap_or("");
            if ours.get(name).map(key) != Some(key(node)) {
                return Err(format!(
                    "{dynamic} @ {n}: node '{name}' differs from {captured}:\n  ours: {:?}\n  want: {:?}",
                    ours.get(name).map(key),
                    key(node)
                )
                .into());
            }
        }
        if theirs["symbols"] != Value::Object(Default::default()) {
            return Err("the captured static graph has symbols?".into());
        }
    }
    Ok(())
}

/// The fusion counts the fixtures' README states (its "ideal" column: native
/// forms and any epsilon), with no-op elimination, RMSNorm+quant, act+quant
/// and attn+quant on. Columns: rms->static, fused_add->static, rms->per-token,
/// fused_add->per-token, silu->static, attention->static.
const EXPECTED: &[(&str, [u64; 6])] = &[
    ("llama_fp8_custom_L2_dyn.json", [1, 3, 0, 0, 2, 2]),
    ("llama_fp8_custom_L2_n256.json", [1, 3, 0, 0, 2, 2]),
    ("llama_fp8_custom_L2_n1.json", [1, 3, 0, 0, 2, 2]),
    ("llama_fp8tok_custom_L2_dyn.json", [0, 0, 1, 3, 0, 0]),
    ("llama_fp8tok_custom_L2_n256.json", [0, 0, 1, 3, 0, 0]),
    ("llama_fp8_native_L2_dyn.json", [1, 3, 0, 0, 2, 2]),
    ("llama_fp8_native_L2_n256.json", [1, 3, 0, 0, 2, 2]),
    ("llama_fp8_custom_tp2_L2_dyn.json", [1, 3, 0, 0, 2, 2]),
    ("llama_bf16_custom_L2_dyn.json", [0, 0, 0, 0, 0, 0]),
    ("llama_fp8_custom_L32_dyn.json", [1, 63, 0, 0, 32, 32]),
];

/// Expected failures, keyed by fixture, with the reason (a side table, as
/// torch-mlir keeps them). A fixture listed here must still fail: when it
/// starts passing, remove it.
const XFAIL: &[(&str, &str)] = &[];

pub fn fixture_fusion_counts() -> Result<(), Failed> {
    use vllm_pipeline::{CompileOptions, Input, PassConfig, compile};
    let stats = [
        "rms-static-quant",
        "fused-add-rms-static-quant",
        "rms-dynamic-per-token-quant",
        "fused-add-rms-dynamic-per-token-quant",
        "silu-mul-static-quant",
        "attn-static-quant",
    ];
    let config = PassConfig::from_json(r#"{"eliminate_noops": true, "enable_fusion": true, "enable_attn_fusion": true}"#)?.0;
    let dir = crate::root().join("../shared/fixtures");
    let mut problems = Vec::new();
    for (file, want) in EXPECTED {
        let text = std::fs::read_to_string(dir.join(file))?;
        let o = CompileOptions { config: config.clone(), emit_fx: true, ..Default::default() };
        let r = compile(Input::FxJson(&text), file, &o).map_err(|d| format!("{file}: {d:?}"))?;
        let got: Vec<u64> =
            stats.iter().map(|s| r.steps.iter().flat_map(|st| st.stats.iter()).filter(|(k, _)| k == s).map(|(_, v)| *v).sum()).collect();
        let xfail = XFAIL.iter().find(|(f, _)| f == file);
        match (got == want.to_vec(), xfail) {
            (true, None) | (false, Some(_)) => {}
            (false, None) => problems.push(format!("{file}: fused {got:?}, the README expects {want:?}")),
            (true, Some((_, why))) => problems.push(format!("{file} now fuses as expected: remove its XFAIL entry ({why})")),
        }
        // Fix-functionalization reused every buffer in place: no copies, and no
        // auto_functionalized left in the exported graph.
        let copies: u64 = r.steps.iter().flat_map(|st| st.stats.iter()).filter(|(k, _)| k == "copies").map(|(_, v)| *v).sum();
        let converted: u64 = r.steps.iter().flat_map(|st| st.stats.iter()).filter(|(k, _)| k == "converted").map(|(_, v)| *v).sum();
        if copies != 0 || converted == 0 {
            problems.push(format!("{file}: fix-functionalization made {copies} copies and {converted} in-place calls"));
        }
        let fx = r.fx_json.ok_or("no FX output")?;
        let doc: serde_json::Value = serde_json::from_str(&fx)?;
        let af =
            doc["nodes"].as_array().into_iter().flatten().filter(|n| n["target"] == "torch.ops.higher_order.auto_functionalized").count();
        if af != 0 {
            problems.push(format!("{file}: {af} auto_functionalized nodes remain after the pipeline"));
        }
        // The fused graph still exports and re-imports.
        let ctx = vllm_dialect::new_context()?;
        vllm_fx::import(&ctx, &fx, file).map_err(|d| format!("{file}: the fused export does not re-import: {d:?}"))?;
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("\n").into()) }
}

/// The generated 80-layer graph (the benchmark's): every site fuses, no copies.
pub fn generated_80_layer_graph_fuses_everywhere() -> Result<(), Failed> {
    use vllm_pipeline::{CompileOptions, Input, PassConfig, compile};
    let json = crate::llama::llama_fx_json(80)?;
    let config = PassConfig::from_json(r#"{"eliminate_noops": true, "enable_fusion": true, "enable_attn_fusion": true}"#)?.0;
    let r = compile(Input::FxJson(&json), "llama_L80", &CompileOptions { config, ..Default::default() }).map_err(|d| format!("{d:?}"))?;
    let stat = |k: &str| -> u64 { r.steps.iter().flat_map(|s| s.stats.iter()).filter(|(n, _)| n == k).map(|(_, v)| *v).sum() };
    let got = [
        stat("rms-static-quant"),
        stat("fused-add-rms-static-quant"),
        stat("silu-mul-static-quant"),
        stat("attn-static-quant"),
        stat("copies"),
    ];
    eprintln!("{}", r.summary());
    if got != [1, 159, 80, 80, 0] {
        return Err(format!("L80 fused/copied {got:?}, expected [1, 159, 80, 80, 0]").into());
    }
    Ok(())
}

/// The generated 80-layer Qwen3-shaped decoder through the pipeline with the
/// q/k-norm + RoPE fusion: every layer's two norms and rotary become one
/// in-place kernel on the layer's qkv projection (no copy), next to the
/// static FP8 fusions.
pub fn generated_80_layer_qwen3_fuses_its_qk_norms() -> Result<(), Failed> {
    use vllm_pipeline::{CompileOptions, Input, PassConfig, compile};
    let json = crate::llama::qwen3_fx_json(80)?;
    let config = r#"{"eliminate_noops": true, "enable_fusion": true, "enable_attn_fusion": true, "enable_qk_norm_rope_fusion": true}"#;
    let config = PassConfig::from_json(config)?.0;
    let r = compile(Input::FxJson(&json), "qwen3_L80", &CompileOptions { config, ..Default::default() }).map_err(|d| format!("{d:?}"))?;
    let stat = |k: &str| -> u64 { r.steps.iter().flat_map(|s| s.stats.iter()).filter(|(n, _)| n == k).map(|(_, v)| *v).sum() };
    let got = [stat("qk-norm-rope"), stat("fused-add-rms-static-quant"), stat("silu-mul-static-quant"), stat("copies")];
    eprintln!("{}", r.summary());
    let count = |op: &str| r.mlir.matches(&format!("\"{op}\"(")).count();
    if got != [80, 159, 80, 0] || count("vllm.fused_qk_norm_rope_") != 80 || count("vllm.rotary_embedding_") != 0 {
        return Err(format!("qwen3 L80: fused/copied {got:?} (expected [80, 159, 80, 0]):\n{}", r.summary()).into());
    }
    Ok(())
}

/// `element_type` builds types by constructor (for speed); each must be the
/// type its MLIR name parses to.
fn dtypes_build_the_types_they_name() -> Result<(), Failed> {
    let ctx = vllm_dialect::new_context()?;
    for (torch, mlir) in vllm_fx::types::DTYPES {
        let built = vllm_fx::types::element_type(&ctx, torch).ok_or_else(|| format!("no type for {torch}"))?;
        let parsed = mlir_support::melior::ir::Type::parse(&ctx, mlir).ok_or_else(|| format!("{mlir} does not parse"))?;
        if built != parsed {
            return Err(format!("{torch}: built {built}, expected {parsed}").into());
        }
    }
    Ok(())
}
