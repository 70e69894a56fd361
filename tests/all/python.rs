//! The Python exporter's unit tests (fake FX objects, no torch), with the
//! end-to-end case that feeds its output to vllm-opt.
use crate::RustTest;
use libtest_mimic::Failed;
use std::process::Command;

pub const TESTS: &[RustTest] = &[("python::fx_exporter_unit_tests", fx_exporter_unit_tests)];

fn fx_exporter_unit_tests() -> Result<(), Failed> {
    let out = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "python/tests", "-v"])
        .current_dir(crate::root())
        .env("VLLM_OPT", env!("CARGO_BIN_EXE_vllm-opt"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || stderr.contains("skipped") {
        return Err(format!("python exporter tests failed:\n{stderr}").into());
    }
    Ok(())
}
