//! The post-grad pass manager: config, order, gating, custom passes, uuid,
//! cache, dumps, threads.
use crate::RustTest;
use libtest_mimic::Failed;
use mlir_support::{
    melior::ir::operation::OperationRef,
    pass::{Pass, PassFailed, PassInfo, PassRun},
};
use vllm_pipeline::{
    CacheStatus, CompileCache, CompileOptions, CustomPass, Input, PassConfig, PostGradPassManager, SLOTS, ShapeContext, StepKind, compile,
};

pub const TESTS: &[RustTest] = &[
    ("pipeline::config_names_aliases_and_implications", config_names_aliases_and_implications),
    ("pipeline::slots_follow_vllms_order", slots_follow_vllms_order),
    ("pipeline::gates_decide_per_shape", gates_decide_per_shape),
    ("pipeline::caller_and_custom_passes_are_placed_and_gated", custom_passes_are_placed),
    ("pipeline::uuid_rules", uuid_rules),
    ("pipeline::cache_hits_and_recovers_from_corrupt_entries", cache_hits_and_recovers),
    ("pipeline::dumps_every_stage", dumps_every_stage),
    ("pipeline::compiles_from_several_threads_at_once", compiles_from_several_threads),
    ("pipeline::collective_passes_on_an_80_layer_tp_graph", collective_passes_on_80_layers),
];

const GRAPH: &str = r#"module attributes {torch.symbols = {s0 = {min = 2 : i64}}} {
  func.func @g(%x: tensor<?x4096xbf16>, %w: tensor<4096xbf16>) -> tensor<?x4096xbf16> {
    %dead = "aten.neg"(%x) : (tensor<?x4096xbf16>) -> tensor<?x4096xbf16>
    %y = "vllm.rms_norm"(%x, %w) {epsilon = 1.0e-05 : f64} : (tensor<?x4096xbf16>, tensor<4096xbf16>) -> tensor<?x4096xbf16>
    return %y : tensor<?x4096xbf16>
  }
}"#;

fn check(cond: bool, msg: impl Into<String>) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg.into().into()) }
}

fn config_names_aliases_and_implications() -> Result<(), Failed> {
    let (old, _) = PassConfig::from_json(
        r#"{"enable_noop": true, "enable_fusion": true, "enable_attn_fusion": true,
        "enable_sequence_parallelism": false, "enable_async_tp": true, "dump_graph_stages": [], "dump_graph_dir": "."}"#,
    )?;
    let (new, _) = PassConfig::from_json(
        r#"{"eliminate_noops": true, "fuse_norm_quant": true, "fuse_act_quant": true,
        "fuse_attn_quant": true, "enable_sp": false, "fuse_gemm_comms": true}"#,
    )?;
    check(old.key_json() == new.key_json(), "vLLM 0.9 names and the newer aliases must mean the same")?;
    check(new.enable_sp, "async TP must turn sequence parallelism on")?;
    let (_, warnings) = PassConfig::from_json(r#"{"fuse_norm_quant": true}"#)?;
    check(warnings.iter().any(|w| w.contains("eliminate_noops")), format!("fusion without noop elimination warns: {warnings:?}"))?;
    let err = PassConfig::from_json(r#"{"fuse_gemm_comm": true, "bogus": 1}"#).err().ok_or("unknown fields accepted")?;
    check(
        err.0.contains("'fuse_gemm_comm'") && err.0.contains("'bogus'") && err.0.contains("did you mean 'fuse_gemm_comms'"),
        err.0.clone(),
    )?;
    let back = PassConfig::from_json(&new.to_json().to_string())?.0;
    check(back == new, "to_json must read back to the same config")?;
    // vLLM main's byte budget for the all-reduce fusion: MiB, converted as vLLM does (int(mb * MiB)).
    let (sized, _) = PassConfig::from_json(r#"{"fi_allreduce_fusion_max_size_mb": 0.5}"#)?;
    check(sized.fi_allreduce_fusion_max_size_bytes() == Some(524288), format!("{sized:?}"))?;
    check(PassConfig::from_json(&sized.to_json().to_string())?.0 == sized, "the byte budget reads back")?;
    for bad in ["0", "-1", "\"big\"", "true"] {
        let err =
            PassConfig::from_json(&format!(r#"{{"fi_allreduce_fusion_max_size_mb": {bad}}}"#)).err().ok_or(format!("{bad} accepted"))?;
        check(err.0.contains("'fi_allreduce_fusion_max_size_mb' must be a positive number of MiB or null"), err.0)?;
    }
    Ok(())
}

fn slots_follow_vllms_order() -> Result<(), Failed> {
    let order: Vec<&str> = SLOTS.iter().map(|s| s.field).collect();
    check(
        order
            == [
                "eliminate_noops",
                // vLLM main: right after no-op elimination (implied by the passes it feeds).
                "fuse_add_rms_norm",
                "enable_sp",
                "fuse_gemm_comms",
                "fuse_allreduce_rms",
                "fuse_norm_quant",
                "fuse_act_quant",
                "fuse_attn_quant",
                // vLLM main: after the attention fusions.
                "enable_qk_norm_rope_fusion",
            ],
        format!("built-in order differs from vLLM's: {order:?}"),
    )?;
    // Every slot's pass exists in this build (enabling one that did not would be an error, never a silent no-op).
    let _registers_them = PostGradPassManager::new(PassConfig::default());
    for slot in SLOTS {
        check(mlir_support::pass::is_registered(slot.pass), format!("slot {} has no pass {}", slot.field, slot.pass))?;
    }
    // The all-reduce + norm fusion gets the tensor-parallel size and the token limit.
    let mut pm =
        PostGradPassManager::new(PassConfig::from_json(r#"{"fuse_allreduce_rms": true, "fi_allreduce_fusion_max_token_num": 64}"#)?.0);
    pm.tp_size = 8;
    let text = pm.plan(ShapeContext::Static(8))?.pipeline_text();
    check(text.contains("vllm-fuse-allreduce-rms{tp-size=8 max-token-num=64}"), text)?;
    // ... and the byte budget, when the config sets one.
    let mut pm =
        PostGradPassManager::new(PassConfig::from_json(r#"{"fuse_allreduce_rms": true, "fi_allreduce_fusion_max_size_mb": 2}"#)?.0);
    pm.tp_size = 4;
    let text = pm.plan(ShapeContext::Static(8))?.pipeline_text();
    check(text.contains("vllm-fuse-allreduce-rms{tp-size=4 max-token-num=16384 max-size-bytes=2097152}"), text)?;
    // Sequence parallelism runs with the manager's tensor-parallel size, where its gate allows.
    let mut pm = PostGradPassManager::new(PassConfig::from_json(r#"{"enable_sp": true}"#)?.0);
    pm.tp_size = 4;
    let plan = pm.plan(ShapeContext::Static(256))?;
    check(plan.pipeline_text().contains("vllm-sequence-parallelism{tp-size=4}"), plan.pipeline_text())?;
    let plan = pm.plan(ShapeContext::Static(255))?;
    check(!plan.pipeline_text().contains("vllm-sequence-parallelism"), plan.pipeline_text())
}

fn gates_decide_per_shape() -> Result<(), Failed> {
    use vllm_pipeline::manager::Gate;
    let c = PassConfig { fi_allreduce_fusion_max_token_num: 1024, ..Default::default() };
    let sp = Gate::StaticDivisibleByTp;
    check(sp.check(&ShapeContext::Static(256), 2, &c).is_ok(), "SP applies to 256 with tp 2")?;
    check(sp.check(&ShapeContext::Static(255), 2, &c).is_err(), "SP does not apply to 255 with tp 2")?;
    check(sp.check(&ShapeContext::Symbolic, 2, &c).is_err(), "SP does not apply to the symbolic graph")?;
    check(sp.check(&ShapeContext::Range { start: 2, end: 8 }, 2, &c).is_err(), "SP does not apply to a range")?;
    let min = PassConfig { sp_min_token_num: Some(512), ..c.clone() };
    check(sp.check(&ShapeContext::Static(256), 2, &min).is_err(), "SP does not apply below sp_min_token_num")?;
    check(sp.check(&ShapeContext::Static(512), 2, &min).is_ok(), "SP applies from sp_min_token_num")?;
    check(sp.check(&ShapeContext::Static(513), 2, &min).is_err(), "the threshold does not lift divisibility")?;
    let ar = Gate::TokensAtMostAllreduceLimit;
    check(ar.check(&ShapeContext::Range { start: 1, end: 1024 }, 1, &c).is_ok(), "AR applies up to the limit")?;
    check(ar.check(&ShapeContext::Range { start: 1, end: 1025 }, 1, &c).is_err(), "AR stops past the limit")?;
    check(ar.check(&ShapeContext::Symbolic, 1, &c).is_ok(), "AR runs on the symbolic graph: each site's rows decide")?;
    check(Gate::Everywhere.check(&ShapeContext::Symbolic, 3, &c).is_ok(), "everywhere is everywhere")
}

/// A user pass that counts functions; only meaningful for static shapes.
struct CountFunctions;
static COUNT_INFO: PassInfo = PassInfo {
    argument: "test-count-functions",
    summary: "Counts functions (test pass)",
    description: "",
    anchor: Some("func.func"),
    options: &[],
    statistics: &[mlir_support::pass::PassStatistic { name: "num-functions", description: "Functions seen" }],
    sources: &["test-count-functions v1"],
};
impl Pass for CountFunctions {
    fn info(&self) -> &'static PassInfo {
        &COUNT_INFO
    }
    fn run(&self, _op: OperationRef<'_, '_>, run: &PassRun<'_>) -> Result<(), PassFailed> {
        run.bump("num-functions", 1);
        Ok(())
    }
}

fn custom_passes_are_placed() -> Result<(), Failed> {
    let mut pm = PostGradPassManager::new(PassConfig::default());
    pm.add_caller_pass(CustomPass::registered("canonicalize")?);
    pm.add(CustomPass::new(CountFunctions).only_when(|s| match s {
        ShapeContext::Static(_) => Ok(()),
        other => Err(format!("only for static shapes, not {other}")),
    }));
    let kinds = |plan: &vllm_pipeline::Plan| plan.steps.iter().map(|s| (s.kind, s.name.clone())).collect::<Vec<_>>();
    let plan = pm.plan(ShapeContext::Static(4))?;
    let want = vec![
        (StepKind::Shape, "vllm-specialize-shapes".to_string()),
        (StepKind::Caller, "canonicalize".into()),
        (StepKind::Custom, "test-count-functions".into()),
        (StepKind::Final, "vllm-fix-functionalization".into()),
        (StepKind::Final, "vllm-dce".into()),
    ];
    check(kinds(&plan) == want, format!("order: {:?}", kinds(&plan)))?;
    check(
        plan.pipeline_text()
            .contains("canonicalize,func.func(test-count-functions),func.func(vllm-fix-functionalization),func.func(vllm-dce)"),
        plan.pipeline_text(),
    )?;
    let symbolic = pm.plan(ShapeContext::Symbolic)?;
    check(!symbolic.pipeline_text().contains("test-count-functions"), "a gated pass must not run where it does not apply")?;
    check(
        symbolic.skipped().any(|(n, why)| n == "test-count-functions" && why.contains("only for static")),
        "the skip and its reason must be visible",
    )?;
    check(CustomPass::registered("vllm-no-such-pass").is_err(), "an unknown registered pass must be an error")?;
    // End to end: the user pass runs and reports.
    let mut o = CompileOptions { shape: Some(ShapeContext::Static(4)), ..Default::default() };
    o.custom_passes.push(CustomPass::new(CountFunctions));
    let r = compile(Input::Mlir(GRAPH), "g.mlir", &o).map_err(|d| format!("{d:?}"))?;
    let step = r.steps.iter().find(|s| s.name == "test-count-functions").ok_or("custom pass did not run")?;
    check(step.stats == vec![("num-functions".to_string(), 1)], format!("{step:?}"))
}

fn uuid_of(config: &str, shape: ShapeContext, tp: u64, custom: &[&str]) -> Result<String, Failed> {
    let mut pm = PostGradPassManager::new(PassConfig::from_json(config)?.0);
    pm.tp_size = tp;
    for c in custom {
        pm.add(CustomPass::registered(c)?);
    }
    Ok(pm.plan(shape)?.uuid)
}

fn uuid_rules() -> Result<(), Failed> {
    let base = uuid_of("{}", ShapeContext::Static(8), 1, &[])?;
    check(base == uuid_of("{}", ShapeContext::Static(8), 1, &[])?, "same inputs, same uuid")?;
    check(base.len() == 64 && base.chars().all(|c| c.is_ascii_hexdigit()), "a sha256 hex digest")?;
    let variants = [
        ("a flag", uuid_of(r#"{"donate_inputs": true}"#, ShapeContext::Static(8), 1, &[])?),
        ("a limit", uuid_of(r#"{"fi_allreduce_fusion_max_token_num": 7}"#, ShapeContext::Static(8), 1, &[])?),
        ("the SP threshold", uuid_of(r#"{"sp_min_token_num": 4}"#, ShapeContext::Static(8), 1, &[])?),
        ("the all-reduce byte budget", uuid_of(r#"{"fi_allreduce_fusion_max_size_mb": 1}"#, ShapeContext::Static(8), 1, &[])?),
        ("the shape", uuid_of("{}", ShapeContext::Static(16), 1, &[])?),
        ("a range", uuid_of("{}", ShapeContext::Range { start: 1, end: 8 }, 1, &[])?),
        ("the tp size", uuid_of("{}", ShapeContext::Static(8), 2, &[])?),
        ("a custom pass", uuid_of("{}", ShapeContext::Static(8), 1, &["cse"])?),
        ("a pass added twice", uuid_of("{}", ShapeContext::Static(8), 1, &["cse", "cse"])?),
        ("pass options", uuid_of("{}", ShapeContext::Static(8), 1, &["canonicalize{max-iterations=3}"])?),
    ];
    for (what, u) in &variants {
        check(*u != base, format!("changing {what} must change the uuid"))?;
    }
    check(variants[7].1 != variants[8].1, "adding a pass twice differs from once")?;
    let dumps = uuid_of(r#"{"dump_graph_stages": ["vllm-dce"], "dump_graph_dir": "/tmp/x"}"#, ShapeContext::Static(8), 1, &[])?;
    check(dumps == base, "dump settings must not change the uuid")?;
    let unset = uuid_of(r#"{"sp_min_token_num": null}"#, ShapeContext::Static(8), 1, &[])?;
    check(unset == base, "no SP threshold keeps the uuid a config without the field had")?;
    let unset = uuid_of(r#"{"fi_allreduce_fusion_max_size_mb": null}"#, ShapeContext::Static(8), 1, &[])?;
    check(unset == base, "no byte budget keeps the uuid a config without the field had")?;
    // A pass's uuid covers its rule sources: same name, different sources.
    struct V2;
    static V2_INFO: PassInfo = PassInfo { sources: &["test-count-functions v2"], ..COUNT_INFO_COPY };
    const COUNT_INFO_COPY: PassInfo = PassInfo {
        argument: "test-count-functions",
        summary: "",
        description: "",
        anchor: Some("func.func"),
        options: &[],
        statistics: &[],
        sources: &[],
    };
    impl Pass for V2 {
        fn info(&self) -> &'static PassInfo {
            &V2_INFO
        }
        fn run(&self, _: OperationRef<'_, '_>, _: &PassRun<'_>) -> Result<(), PassFailed> {
            Ok(())
        }
    }
    check(CustomPass::new(V2).uuid() != CustomPass::new(CountFunctions).uuid(), "changing a pass's rules must change its uuid")?;
    // And across processes (another run of the tool).
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vllm-opt"))
            .args(["--print-uuid", "--runtime-shape", "8"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let (a, b) = (run()?, run()?);
    check(a == b && a == base, format!("the uuid must not depend on the process: {a} / {b} / {base}"))
}

fn cache_hits_and_recovers() -> Result<(), Failed> {
    let dir = std::env::temp_dir().join(format!("vllm-opt-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = || -> Result<CompileOptions, Failed> {
        Ok(CompileOptions { shape: Some(ShapeContext::Static(32)), cache: Some(CompileCache::new(&dir)?), ..Default::default() })
    };
    let first = compile(Input::Mlir(GRAPH), "g.mlir", &opts()?).map_err(|d| format!("{d:?}"))?;
    check(first.cache == CacheStatus::Miss, format!("first compile: {:?}", first.cache))?;
    let second = compile(Input::Mlir(GRAPH), "g.mlir", &opts()?).map_err(|d| format!("{d:?}"))?;
    check(second.cache == CacheStatus::Hit && second.mlir == first.mlir, "second compile must hit with the same output")?;
    // Corrupt the entry: it must be detected, recompiled and replaced.
    let entries: Vec<_> = std::fs::read_dir(&dir)?.flatten().map(|e| e.path()).collect();
    check(entries.len() == 1, format!("one entry, no temporaries: {entries:?}"))?;
    let text = std::fs::read_to_string(&entries[0])?;
    std::fs::write(&entries[0], text.replace("vllm.rms_norm", "vllm.rms_nrom"))?;
    let third = compile(Input::Mlir(GRAPH), "g.mlir", &opts()?).map_err(|d| format!("{d:?}"))?;
    check(matches!(third.cache, CacheStatus::Recompiled(_)) && third.mlir == first.mlir, format!("{:?}", third.cache))?;
    let fourth = compile(Input::Mlir(GRAPH), "g.mlir", &opts()?).map_err(|d| format!("{d:?}"))?;
    check(fourth.cache == CacheStatus::Hit, "the replaced entry must hit")?;
    // A truncated entry too.
    std::fs::write(&entries[0], &text[..text.len() / 2])?;
    let fifth = compile(Input::Mlir(GRAPH), "g.mlir", &opts()?).map_err(|d| format!("{d:?}"))?;
    check(matches!(fifth.cache, CacheStatus::Recompiled(_)), "a truncated entry must be recompiled")?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn dumps_every_stage() -> Result<(), Failed> {
    let dir = std::env::temp_dir().join(format!("vllm-opt-dump-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let fixture = std::fs::read_to_string(crate::root().join("tests/fx/inputs/rms_quant.json"))?;
    let o = CompileOptions { shape: Some(ShapeContext::Static(8)), dump_dir: Some(dir.clone()), ..Default::default() };
    compile(Input::FxJson(&fixture), "rms_quant.json", &o).map_err(|d| format!("{d:?}"))?;
    let mut names: Vec<String> = std::fs::read_dir(&dir)?.flatten().map(|e| e.file_name().to_string_lossy().into()).collect();
    names.sort();
    let want = [
        "00.vllm-specialize-shapes.after.json",
        "00.vllm-specialize-shapes.after.mlir",
        "00.vllm-specialize-shapes.before.json",
        "00.vllm-specialize-shapes.before.mlir",
        "01.vllm-fix-functionalization.after.json",
        "01.vllm-fix-functionalization.after.mlir",
        "01.vllm-fix-functionalization.before.json",
        "01.vllm-fix-functionalization.before.mlir",
        "02.vllm-dce.after.json",
        "02.vllm-dce.after.mlir",
        "02.vllm-dce.before.json",
        "02.vllm-dce.before.mlir",
    ];
    check(names == want, format!("dumps: {names:?}"))?;
    let after = std::fs::read_to_string(dir.join("00.vllm-specialize-shapes.after.mlir"))?;
    check(after.contains("tensor<8x4096xbf16>"), "the after-dump shows the pass's effect")?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn compiles_from_several_threads() -> Result<(), Failed> {
    let fixture = std::fs::read_to_string(crate::root().join("../shared/fixtures/llama_fp8_custom_L2_dyn.json"))?;
    let outputs: Vec<Result<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let o = CompileOptions { shape: Some(ShapeContext::Static(64)), emit_fx: true, ..Default::default() };
                    compile(Input::FxJson(&fixture), "l2.json", &o).map(|r| r.mlir).map_err(|d| format!("{d:?}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a thread panicked".into()))).collect()
    });
    let first = outputs[0].clone()?;
    for o in &outputs {
        check(o.as_ref().ok() == Some(&first), "concurrent compiles must agree")?;
    }
    Ok(())
}

/// The generated 80-layer decoder as a tensor-parallel rank runs it (161
/// all-reduces, each before a norm; 320 FP8 GEMMs), at 256 tokens on tp 2:
/// sequence parallelism + async TP shard every norm and fuse every GEMM with
/// its collective; the all-reduce fusion instead fuses every all-reduce with
/// its norm and all but the output norm's quant.
fn collective_passes_on_80_layers() -> Result<(), Failed> {
    use vllm_pipeline::{CompileOptions, Input, ShapeContext, compile};
    let json = crate::llama::llama_fx_json_with(80, true)?;
    let run = |config: &str| -> Result<Vec<(String, u64)>, Failed> {
        let options = CompileOptions {
            config: PassConfig::from_json(config)?.0,
            shape: Some(ShapeContext::Static(256)),
            tp_size: 2,
            ..Default::default()
        };
        let r = compile(Input::FxJson(&json), "llama_tp_L80", &options).map_err(|d| format!("{d:?}"))?;
        Ok(r.steps.iter().flat_map(|s| s.stats.iter().map(|(n, v)| (format!("{}/{n}", s.name), *v))).collect())
    };
    let stat = |stats: &[(String, u64)], k: &str| stats.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v);
    let sp = run(r#"{"eliminate_noops": true, "enable_fusion": true, "enable_async_tp": true, "c10d_group_names": {"tp:0": "0"}}"#)?;
    let got: Vec<u64> = [
        "vllm-sequence-parallelism/rms-norm",
        "vllm-sequence-parallelism/fused-add-rms-norm",
        "vllm-sequence-parallelism/quant-sharded",
        "vllm-async-tp/all-gather-gemm",
        "vllm-async-tp/gemm-reduce-scatter",
        "vllm-fuse-rms-quant/fused-add-rms-static-quant",
    ]
    .iter()
    .map(|k| stat(&sp, k))
    .collect();
    check(got == [1, 160, 160, 160, 160, 159], format!("SP + async TP on 80 layers: {got:?}, expected [1, 160, 160, 160, 160, 159]"))?;
    let ar = run(r#"{"eliminate_noops": true, "enable_fusion": true, "enable_fi_allreduce_fusion": true}"#)?;
    let got: Vec<u64> = ["allreduce-rms", "allreduce-fused-add-rms", "with-static-quant"]
        .iter()
        .map(|k| stat(&ar, &format!("vllm-fuse-allreduce-rms/{k}")))
        .collect();
    check(got == [1, 160, 160], format!("all-reduce fusion on 80 layers: {got:?}, expected [1, 160, 160]"))?;
    // Linear work: each compile (its own process, so the count is its own)
    // verifies each op a bounded number of times. A pass that prints an op
    // per site (melior's errors for an out-of-range operand do) verifies
    // the whole function each time: 320,889 verifications here instead of
    // 6,569 when fix-functionalization did so for the fused all-reduce.
    let dir = std::env::temp_dir().join(format!("vllm-opt-verify-count-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("llama_tp_L80.json");
    std::fs::write(&path, &json)?;
    let nodes = json.matches("\"op\":").count() as u64;
    for config in [
        r#"{"eliminate_noops": true, "enable_fusion": true, "enable_attn_fusion": true}"#,
        r#"{"eliminate_noops": true, "enable_fusion": true, "enable_async_tp": true, "c10d_group_names": {"tp:0": "0"}}"#,
        r#"{"eliminate_noops": true, "enable_fusion": true, "enable_fi_allreduce_fusion": true}"#,
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vllm-opt"))
            .arg(&path)
            .args(["--config", config, "--runtime-shape", "256", "--tp-size", "2", "--pass-summary", "-o", "/dev/null"])
            .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        let count: u64 = err
            .lines()
            .find_map(|l| l.trim().strip_prefix("op verifications so far in this process: "))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no verification count in:\n{err}"))?;
        check(
            out.status.success() && count <= 4 * nodes,
            format!("{config}: {count} op verifications for {nodes} nodes (at most {})", 4 * nodes),
        )?;
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
