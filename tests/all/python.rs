//! The Python side's unit tests, no torch or GPU needed: the FX exporter on
//! fake FX objects (with the end-to-end case that feeds its output to
//! vllm-opt), and the kernel launcher on manifests vllm-opt writes, with fake
//! tensors and, through the `ptx-sim` binary, on host buffers; and
//! `scripts/gpu-check --plan`.
use crate::RustTest;
use libtest_mimic::Failed;
use std::process::Command;

pub const TESTS: &[RustTest] =
    &[("python::unit_tests", python_unit_tests), ("python::gpu_check_plan_matches_the_manifest", gpu_check_plan_matches_the_manifest)];

fn python_unit_tests() -> Result<(), Failed> {
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "python/tests", "-v"])
        .current_dir(crate::root())
        .env("VLLM_OPT", env!("CARGO_BIN_EXE_vllm-opt"))
        .env("PTX_SIM", env!("CARGO_BIN_EXE_ptx-sim"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("skipped") {
        return Err(format!("python unit tests failed:\n{stderr}").into());
    }
    Ok(())
}

/// `scripts/prepare-gpu-check` (the folder a GPU session carries) and
/// `scripts/gpu-check --plan` on it (no GPU needed): every kernel kind is
/// there and has a reference, and the script's buffer sizes and launch
/// blocks agree with crates/codegen's (it must repeat them: it runs on a GPU
/// machine without Rust).
fn gpu_check_plan_matches_the_manifest() -> Result<(), Failed> {
    let root = crate::root();
    let dir = std::env::temp_dir().join(format!("vllm-opt-gpu-check-{}", std::process::id()));
    let prepare =
        Command::new("scripts/prepare-gpu-check").arg(&dir).env("VLLM_OPT", env!("CARGO_BIN_EXE_vllm-opt")).current_dir(&root).output()?;
    if !prepare.status.success() {
        return Err(format!(
            "prepare-gpu-check failed:\n{}{}",
            String::from_utf8_lossy(&prepare.stdout),
            String::from_utf8_lossy(&prepare.stderr)
        )
        .into());
    }
    let mut kinds = std::collections::BTreeSet::new();
    {
        let plan = Command::new("python3")
            .arg("scripts/gpu-check")
            .arg("--plan")
            .arg(&dir)
            .args(["--tokens", "16,4096"])
            .current_dir(&root)
            .output()?;
        let text = String::from_utf8_lossy(&plan.stdout).into_owned();
        if !plan.status.success() {
            return Err(format!("gpu-check --plan failed:\n{text}{}", String::from_utf8_lossy(&plan.stderr)).into());
        }
        let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json"))?)?;
        for k in manifest["kernels"].as_array().ok_or("no kernels")? {
            let name = k["name"].as_str().unwrap_or_default();
            let op = k["implements"].as_str().unwrap_or_default();
            kinds.insert(op.to_string());
            let params = k["params"].as_array().ok_or("no params")?;
            let has = |n: &str| params.iter().any(|p| p["name"] == n);
            let out_elem = params
                .iter()
                .find(|p| p["name"] == "result" || p["name"] == "output_q")
                .and_then(|p| p["elem"].as_str())
                .unwrap_or(if op.ends_with("quant") { "f8E4M3FN" } else { k["dtype"].as_str().unwrap_or_default() });
            if let Some(h) = k["heads"].as_object() {
                // fused_qk_norm_rope: from its head layout.
                let n = |f: &str| h.get(f).and_then(|v| v.as_u64()).unwrap_or(0);
                let cache = match h.get("cache_dtype").and_then(|v| v.as_str()) {
                    Some("f32") => "f32",
                    Some("f16") => "f16",
                    _ => "bf16",
                };
                let heads = vllm_codegen::QkHeads {
                    q: n("num_heads_q"),
                    k: n("num_heads_k"),
                    v: n("num_heads_v"),
                    dim: n("head_dim"),
                    rot: h.get("rotary_dim").and_then(|v| v.as_u64()).unwrap_or(n("head_dim")),
                    neox: h.get("is_neox").and_then(|v| v.as_bool()).unwrap_or(true),
                    cache,
                    cache_rows: n("cache_rows"),
                };
                let kernel = vllm_codegen::qk_norm_rope_kernel(heads, k["dtype"].as_str().unwrap_or_default())
                    .ok_or_else(|| format!("{name}: no fused_qk_norm_rope kernel for its heads"))?;
                if kernel.name != name || kernel.manifest()["params"] != k["params"] {
                    return Err(format!("the manifest's {name} is {} in crates/codegen", kernel.name).into());
                }
                continue;
            }
            let kernel = vllm_codegen::kernel_for(
                op,
                k["hidden"].as_u64().unwrap_or(0),
                k["dtype"].as_str().unwrap_or_default(),
                has("residual"),
                out_elem,
                k["group_size"].as_u64(),
                has("scale_ub"),
            )
            .and_then(|kernel| {
                let layout = k["scale_layout"].as_str().unwrap_or_default();
                let (transposed, tma) = (layout.starts_with("column-major"), layout.contains("TMA-padded"));
                kernel.with_scales(vllm_codegen::GroupScales { ue8m0: k["scale_ue8m0"] == true, transposed, tma })
            })
            .ok_or_else(|| format!("{name}: kernel_for refuses the manifest's kernel"))?;
            // prepare-gpu-check also emits the SiLU kernels' fast-path division (named before `_s`).
            let kernel = if k["silu_division"] == "fast-path" {
                kernel.with_fast_division().ok_or_else(|| format!("{name}: no fast-path division in crates/codegen"))?
            } else {
                kernel
            };
            let kernel = kernel.for_tokens(k["launch"][0]["num_tokens"].as_u64());
            // prepare-gpu-check also emits the persistent form.
            let kernel = if k["persistent"] == true {
                kernel.persistent().ok_or_else(|| format!("{name}: no persistent form in crates/codegen"))?
            } else {
                kernel
            };
            // An experiment is a kernel's PTX varied by prepare-gpu-check, with its geometry and ABI.
            let generated = k["variant_of"].as_str().unwrap_or(name);
            if kernel.name != generated {
                return Err(format!("the manifest's {generated} is {} in crates/codegen", kernel.name).into());
            }
            for n in [16usize, 4096] {
                let line = text
                    .lines()
                    .find(|l| l.starts_with(&format!("{name} T={n}:")))
                    .ok_or_else(|| format!("{name} T={n}: not in the plan:\n{text}"))?;
                let want_block = format!("block ({},1,1)", kernel.block(Some(n as u64)));
                if !line.contains(&want_block) {
                    return Err(format!("{line}\n  expected {want_block}").into());
                }
                for p in kernel.params.iter().filter(|p| p.kind == "ptr") {
                    let elem_size = match p.elem.as_str() {
                        "f8E4M3FN" | "i8" => 1,
                        "f32" => 4,
                        _ => 2,
                    };
                    let want = format!("{}={}", p.name, kernel.bytes(p, n) / elem_size);
                    if !line.split([';', ',', ' ']).any(|w| w == want) {
                        return Err(format!("{line}\n  expected {want}").into());
                    }
                }
            }
        }
    }
    // Each experiment is its kernel with the one instruction it names swapped, and no other change.
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json"))?)?;
    let mut experiments = 0;
    for k in manifest["kernels"].as_array().ok_or("no kernels")?.iter().filter(|k| k["variant_of"].is_string()) {
        let (name, base) = (k["name"].as_str().unwrap_or_default(), k["variant_of"].as_str().unwrap_or_default());
        let varied = std::fs::read_to_string(dir.join(format!("{name}.ptx")))?;
        let original = std::fs::read_to_string(dir.join(format!("{base}.ptx")))?;
        if !varied.contains("div.full.f32") || varied.replace(name, base).replace("div.full.f32", "div.rn.f32") != original {
            return Err(format!("{name} is not {base} with div.full.f32 for div.rn.f32").into());
        }
        experiments += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if experiments < 3 {
        return Err(format!("{experiments} experiments: prepare-gpu-check varies the three split SiLU kernels").into());
    }
    if kinds.len() < 13 {
        return Err(format!("the fixtures reached only {} kernel kinds: {kinds:?}", kinds.len()).into());
    }
    Ok(())
}
