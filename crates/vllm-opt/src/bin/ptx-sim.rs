//! `ptx-sim`: runs one kernel of a PTX file on the CPU, on buffers in files.
//!
//!     ptx-sim FILE.ptx ENTRY GRID BLOCK ARG...
//!
//! Each ARG is, in parameter order, `buf:PATH` (a global buffer: the file's
//! bytes, written back in place after the launch), `f32:VALUE`, `i32:VALUE` or `i64:VALUE`. On
//! success it prints the instructions executed to stdout; any error
//! (unreadable file, unknown instruction, out-of-bounds access, divergent
//! barrier) is one line on stderr and exit status 1, and no file is written.
//!
//! It exists so that scripts/gpu-check can run its whole check (manifest,
//! buffers, launch geometry, torch reference, comparison) without a GPU
//! (`--simulate`, through `vllm_opt.kernels.simulator_launcher`).
use std::process::ExitCode;

use vllm_ptx_sim::{Arg, Launch, parse, run};

fn main() -> ExitCode {
    match simulate(std::env::args().skip(1).collect()) {
        Ok(instructions) => {
            println!("{instructions}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ptx-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An argument as given: a buffer file or a scalar.
enum Given {
    Buf(String, Vec<u8>),
    F32(f32),
    I32(i32),
    I64(i64),
}

fn simulate(args: Vec<String>) -> Result<u64, String> {
    let [file, entry, grid, block, rest @ ..] = args.as_slice() else {
        return Err("usage: ptx-sim FILE.ptx ENTRY GRID BLOCK [buf:PATH | f32:VALUE | i32:VALUE | i64:VALUE]...".into());
    };
    let ptx = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let kernel = parse(&ptx, entry).map_err(|e| format!("{file}: {e}"))?;
    let number = |what: &str, s: &str| s.parse::<u32>().map_err(|_| format!("{what} '{s}' is not a count"));
    let launch = Launch { grid: number("grid", grid)?, block: number("block", block)? };
    let mut given = Vec::new();
    for a in rest {
        given.push(match a.split_once(':') {
            Some(("buf", path)) => Given::Buf(path.into(), std::fs::read(path).map_err(|e| format!("{path}: {e}"))?),
            Some(("f32", v)) => Given::F32(v.parse().map_err(|_| format!("'{v}' is not an f32"))?),
            Some(("i32", v)) => Given::I32(v.parse().map_err(|_| format!("'{v}' is not an i32"))?),
            Some(("i64", v)) => Given::I64(v.parse().map_err(|_| format!("'{v}' is not an i64"))?),
            _ => return Err(format!("argument '{a}' is not buf:PATH, f32:VALUE, i32:VALUE or i64:VALUE")),
        });
    }
    let mut args: Vec<Arg<'_>> = given
        .iter_mut()
        .map(|g| match g {
            Given::Buf(_, bytes) => Arg::Buf(bytes),
            Given::F32(v) => Arg::F32(*v),
            Given::I32(v) => Arg::I32(*v),
            Given::I64(v) => Arg::I64(*v),
        })
        .collect();
    let stats = run(&kernel, launch, &mut args).map_err(|e| format!("{file}: {e}"))?;
    for g in &given {
        if let Given::Buf(path, bytes) = g {
            std::fs::write(path, bytes).map_err(|e| format!("{path}: {e}"))?;
        }
    }
    Ok(stats.instructions)
}
