//! The PTX simulator's own checks: what it must refuse or report, on small
//! hand-written kernels. (Its semantics are exercised on every generated
//! kernel by `kernels::gpu_kernels_match_the_reference_in_the_ptx_simulator`.)
use libtest_mimic::Failed;
use vllm_ptx_sim::{Arg, Launch, parse, run};

pub const TESTS: &[crate::RustTest] = &[
    ("ptx_sim::shuffles_partial_warps_and_packs_halves", shuffles_partial_warps_and_packs_halves),
    ("ptx_sim::reports_what_it_cannot_run", reports_what_it_cannot_run),
    ("ptx_sim::divides_by_a_constant_with_mul_hi", divides_by_a_constant_with_mul_hi),
    ("ptx_sim::runs_the_full_range_division_as_ieee", runs_the_full_range_division_as_ieee),
    ("ptx_sim::approximate_reciprocal_flushes_subnormals", approximate_reciprocal_flushes_subnormals),
    ("ptx_sim::extracts_bit_fields", extracts_bit_fields),
    ("ptx_sim::converts_to_int8_as_vllm_does", converts_to_int8_as_vllm_does),
    ("ptx_sim::takes_packed_maxima_as_fmaxf", takes_packed_maxima_as_fmaxf),
];

/// A kernel over one `u64` pointer parameter with `body` between the
/// pointer load and `ret`; `%rd1` holds the buffer's address.
fn kernel(body: &str) -> String {
    format!(
        ".version 8.0\n.target sm_90\n.address_size 64\n\n.visible .entry k(\n\t.param .u64 .ptr .align 1 k_param_0\n)\n{{\n\t.reg .pred %p<4>;\n\t.reg .b16 %rs<4>;\n\t.reg .b32 %r<16>;\n\t.reg .b64 %rd<8>;\n\t.shared .align 4 .b8 sm[8];\n\tld.param.b64 \t%rd1, [k_param_0];\n{body}\n\tret;\n\n}}\n"
    )
}

/// Runs `body` with one CTA of `threads` over a zeroed buffer of `bytes`.
fn run_body(body: &str, threads: u32, bytes: usize) -> Result<Vec<u8>, String> {
    let k = parse(&kernel(body), "k")?;
    let mut buf = vec![0u8; bytes];
    run(&k, Launch { grid: 1, block: threads }, &mut [Arg::Buf(&mut buf)])?;
    Ok(buf)
}

/// The 32-bit little-endian words of `out`, a body's stores.
fn words(out: &[u8]) -> Vec<u32> {
    out.chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// A butterfly over a 20-lane warp (member mask and clamp from the active
/// count, as LLVM emits for a partial warp): each lane adds its partner's
/// value where the partner exists; and `mov.b32 {lo, hi}` unpacking with
/// `cvt.rn.bf16x2.f32` packing (`a` into the upper half).
fn shuffles_partial_warps_and_packs_halves() -> Result<(), Failed> {
    let body = "\tmov.u32 \t%r1, %tid.x;\n\tshfl.sync.bfly.b32 \t%r2|%p1, %r1, 16, 19, 1048575;\n\tadd.s32 \t%r3, %r1, %r2;\n\tselp.b32 \t%r4, %r3, %r1, %p1;\n\tmul.wide.u32 \t%rd2, %r1, 4;\n\tadd.s64 \t%rd3, %rd1, %rd2;\n\tst.global.b32 \t[%rd3], %r4;";
    let out = run_body(body, 20, 80)?;
    let got = words(&out);
    // Lane l pairs with l ^ 16 when that is at most 19 (lanes 0-3 with 16-19).
    let want: Vec<u32> = (0..20).map(|l| if (l ^ 16) <= 19 { l + (l ^ 16) } else { l }).collect();
    if got != want {
        return Err(format!("butterfly over 20 lanes: {got:?}, want {want:?}").into());
    }
    let body = "\tmov.b32 \t%r1, 1065353216;\n\tmov.b32 \t%r2, -1073741824;\n\tcvt.rn.bf16x2.f32 \t%r3, %r1, %r2;\n\tmov.b32 \t{%rs1, %rs2}, %r3;\n\tmov.b32 \t%r4, {%rs2, %rs1};\n\tst.global.v2.b32 \t[%rd1], {%r3, %r4};";
    let out = run_body(body, 1, 8)?;
    // 1.0 is bf16 0x3f80 (upper), -2.0 is 0xc000 (lower); then swapped.
    if out != [0x00, 0xc0, 0x80, 0x3f, 0x80, 0x3f, 0x00, 0xc0] {
        return Err(format!("bf16x2 packing: {out:02x?}").into());
    }
    Ok(())
}

/// Out-of-bounds and misaligned accesses, a barrier some threads never
/// reach, a shuffle a member lane skips, and an instruction it does not
/// know are errors that say so; none of them panics.
fn reports_what_it_cannot_run() -> Result<(), Failed> {
    let cases = [
        ("\tst.global.b32 \t[%rd1+8], 7;", 1, 8, "out of bounds"),
        ("\tst.global.b32 \t[%rd1+2], 7;", 1, 8, "misaligned"),
        ("\tst.shared.b32 \t[sm+8], 7;", 1, 8, "shared access"),
        (
            "\tmov.u32 \t%r1, %tid.x;\n\tsetp.eq.s32 \t%p1, %r1, 0;\n\t@%p1 bra \t$L__BB0_2;\n\tbar.sync \t0;\n$L__BB0_2:",
            64,
            8,
            "divergent barrier",
        ),
        (
            "\tmov.u32 \t%r1, %tid.x;\n\tsetp.eq.s32 \t%p1, %r1, 0;\n\t@%p1 bra \t$L__BB0_2;\n\tshfl.sync.bfly.b32 \t%r2, %r1, 1, 31, -1;\n$L__BB0_2:",
            32,
            8,
            "deadlock",
        ),
        ("\tadd.rn.ftz.f32 \t%r1, %r2, %r3;", 1, 8, "unsupported instruction `add.rn.ftz.f32`"),
        ("\tdiv.approx.f32 \t%r1, %r2, %r3;", 1, 8, "unsupported instruction `div.approx.f32`"),
        ("\tst.global.b32 \t[], 7;", 1, 8, "unknown address"),
    ];
    for (body, threads, bytes, want) in cases {
        match run_body(body, threads, bytes) {
            Ok(_) => return Err(format!("ran without an error:\n{body}").into()),
            Err(e) if e.contains(want) => {}
            Err(e) => return Err(format!("`{e}` does not say `{want}`:\n{body}").into()),
        }
    }
    Ok(())
}

/// `div.full.f32` (the gpu-check experiment's SiLU division, within 2 ulp
/// on a GPU) runs as `div.rn.f32`: 1 / 3 and -7 / 0.1, both rounded once.
fn runs_the_full_range_division_as_ieee() -> Result<(), Failed> {
    let body = "\tmov.b32 \t%r1, 1065353216;\n\tmov.b32 \t%r2, 1077936128;\n\tdiv.full.f32 \t%r3, %r1, %r2;\n\tmov.b32 \t%r4, -1059061760;\n\tmov.b32 \t%r5, 1036831949;\n\tdiv.rn.f32 \t%r6, %r4, %r5;\n\tdiv.full.f32 \t%r7, %r4, %r5;\n\tst.global.v2.b32 \t[%rd1], {%r3, %r6};\n\tst.global.b32 \t[%rd1+8], %r7;";
    let out = run_body(body, 1, 12)?;
    let got: Vec<f32> = words(&out).into_iter().map(f32::from_bits).collect();
    let want = [1.0f32 / 3.0, -7.0f32 / 0.1, -7.0f32 / 0.1];
    if got.iter().zip(&want).any(|(g, w)| g.to_bits() != w.to_bits()) {
        return Err(format!("divisions: {got:?}, want {want:?}").into());
    }
    Ok(())
}

/// `rcp.approx.ftz.f32` (SiLU's fast-path division) runs as the rounded
/// reciprocal with subnormals flushed to zero of their sign: 1/3; 1/2^127
/// (a subnormal result) is +0; -1/2^-130 (a subnormal input) is -inf.
fn approximate_reciprocal_flushes_subnormals() -> Result<(), Failed> {
    let body = "\tmov.b32 \t%r1, 1077936128;\n\trcp.approx.ftz.f32 \t%r2, %r1;\n\tmov.b32 \t%r3, 2130706432;\n\trcp.approx.ftz.f32 \t%r4, %r3;\n\tmov.b32 \t%r5, -2146959360;\n\trcp.approx.ftz.f32 \t%r6, %r5;\n\tst.global.v2.b32 \t[%rd1], {%r2, %r4};\n\tst.global.b32 \t[%rd1+8], %r6;";
    let out = run_body(body, 1, 12)?;
    let got = words(&out);
    let want = [(1.0f32 / 3.0).to_bits(), 0, f32::NEG_INFINITY.to_bits()];
    if got != want {
        return Err(format!("rcp.approx.ftz: {got:x?}, want {want:x?}").into());
    }
    Ok(())
}

/// `bfe` (LLVM's `(x >> pos) & mask` of a value of known range, e.g. a
/// warp index): 0xf0f0 bits 4-7 unsigned (15) and signed (-1), 0x80000000
/// from bit 28 for 8 bits signed (past bit 31 the sign: -8) and unsigned (8).
fn extracts_bit_fields() -> Result<(), Failed> {
    let body = "\tmov.b32 \t%r1, 61680;\n\tbfe.u32 \t%r2, %r1, 4, 4;\n\tbfe.s32 \t%r3, %r1, 4, 4;\n\tmov.b32 \t%r4, -2147483648;\n\tbfe.s32 \t%r5, %r4, 28, 8;\n\tbfe.u32 \t%r6, %r4, 28, 8;\n\tst.global.v4.b32 \t[%rd1], {%r2, %r3, %r5, %r6};";
    let out = run_body(body, 1, 16)?;
    let got: Vec<i32> = words(&out).into_iter().map(|w| w as i32).collect();
    if got != [15, -1, -8, 8] {
        return Err(format!("bfe: {got:?}, want [15, -1, -8, 8]").into());
    }
    Ok(())
}

/// LLVM divides by a constant with `mul.hi` (a split SiLU-and-mul's row is
/// `ctaid / 14`): the high half of the 64-bit product, unsigned and signed;
/// and of the 128-bit one for 64-bit operands.
fn divides_by_a_constant_with_mul_hi() -> Result<(), Failed> {
    // 4000000000 * 0x92492493 >> 32 (unsigned); -7 * 3 >> 32 = -1 (signed).
    let body = "\tmov.b32 \t%r1, -294967296;\n\tmul.hi.u32 \t%r2, %r1, -1840700269;\n\tmov.b32 \t%r3, -7;\n\tmul.hi.s32 \t%r4, %r3, 3;\n\tst.global.v2.b32 \t[%rd1], {%r2, %r4};";
    let out = run_body(body, 1, 8)?;
    let got = [u32::from_le_bytes([out[0], out[1], out[2], out[3]]), u32::from_le_bytes([out[4], out[5], out[6], out[7]])];
    let want = [((4_000_000_000u64 * 0x9249_2493u64) >> 32) as u32, u32::MAX];
    if got != want {
        return Err(format!("mul.hi: {got:x?}, want {want:x?}").into());
    }
    // The quotient LLVM derives from it for 14: (hi >> 3).
    if want[0] >> 3 != 4_000_000_000 / 14 {
        return Err("the magic number is not division by 14".into());
    }
    // 64-bit (a chunk's row in the persistent max kernel, divided by 45 chunks a row):
    // 4e18 * 0x2d82d82d82d82d83 >> 64 (unsigned); -7 * 3 >> 64 = -1 (signed).
    let body = "\tmov.b64 \t%rd2, 4000000000000000000;\n\tmul.hi.u64 \t%rd3, %rd2, 3279421168659475843;\n\tmov.b64 \t%rd4, -7;\n\tmul.hi.s64 \t%rd5, %rd4, 3;\n\tst.global.b64 \t[%rd1], %rd3;\n\tst.global.b64 \t[%rd1+8], %rd5;";
    let out = run_body(body, 1, 16)?;
    let got = [u64::from_le_bytes(out[..8].try_into()?), u64::from_le_bytes(out[8..].try_into()?)];
    let want = [((4_000_000_000_000_000_000u128 * 3_279_421_168_659_475_843u128) >> 64) as u64, u64::MAX];
    if got != want {
        return Err(format!("mul.hi.64: {got:x?}, want {want:x?}").into());
    }
    // LLVM's quotient for 45: (hi >> 3).
    if want[0] >> 3 != 4_000_000_000_000_000_000 / 45 {
        return Err("the magic number is not division by 45".into());
    }
    Ok(())
}

/// `cvt.rni.sat.s8.f32` (vLLM's `float_to_int8_rn`, in the int8 kernels as
/// inline PTX): ties to even (2.5 -> 2, -3.5 -> -4), saturated (300 -> 127,
/// -inf -> -128), NaN -> 0, and the byte sign-extended into the 32-bit
/// destination register.
fn converts_to_int8_as_vllm_does() -> Result<(), Failed> {
    let inputs = [2.5f32, -3.5, 300.0, f32::NEG_INFINITY, f32::NAN, -0.4, 126.5, -128.5];
    let mut body = String::new();
    for (i, x) in inputs.iter().enumerate() {
        body.push_str(&format!(
            "\tmov.b32 \t%r1, {};\n\tcvt.rni.sat.s8.f32 %r2, %r1;\n\tst.global.b32 \t[%rd1+{}], %r2;\n",
            x.to_bits() as i32,
            4 * i
        ));
    }
    let out = run_body(&body, 1, 4 * inputs.len())?;
    let got: Vec<i32> = words(&out).into_iter().map(|w| w as i32).collect();
    let want = [2, -4, 127, -128, 0, 0, 126, -128];
    if got != want {
        return Err(format!("cvt.rni.sat.s8.f32 of {inputs:?}: {got:?}, want {want:?}").into());
    }
    Ok(())
}

/// `max.bf16x2` (the per-token norm's row max, taken on the packed lanes)
/// and `max.bf16` lane by lane as `fmaxf`: the larger lane's bits, a NaN
/// lane yields the other, two NaNs the canonical 0x7fff, +0 above -0.
fn takes_packed_maxima_as_fmaxf() -> Result<(), Failed> {
    // bf16 lanes (high, low): (2.0, NaN) against (-3.0, 1.5); (NaN, -0) against (NaN, +0).
    let body = "\tmov.b32 \t%r1, 1073774528;\n\tmov.b32 \t%r2, -1069531200;\n\tmax.bf16x2 \t%r3, %r1, %r2;\n\tmov.b32 \t%r4, 2143322112;\n\tmov.b32 \t%r5, 2143289344;\n\tmax.bf16x2 \t%r6, %r4, %r5;\n\tmov.b16 \t%rs1, 16448;\n\tmov.b16 \t%rs2, 32704;\n\tmax.bf16 \t%rs3, %rs1, %rs2;\n\tmov.b32 \t{%rs1, %rs2}, %r6;\n\tst.global.v2.b32 \t[%rd1], {%r3, %r6};\n\tst.global.b16 \t[%rd1+8], %rs3;";
    let out = run_body(body, 1, 10)?;
    let w = |i: usize| u32::from_le_bytes([out[i], out[i + 1], out[i + 2], out[i + 3]]);
    // 2.0 = 0x4000 beats -3.0; 1.5 = 0x3fc0 beats NaN 0x7fc0. NaN vs NaN: 0x7fff; -0 vs +0: +0. 3.0 vs NaN: 3.0.
    let want = [0x4000_3fc0u32, 0x7fff_0000];
    let half = u16::from_le_bytes([out[8], out[9]]);
    if [w(0), w(4)] != want || half != 0x4040 {
        return Err(format!(
            "max.bf16x2: {:08x} {:08x}, want {:08x} {:08x}; max.bf16: {half:04x}, want 4040",
            w(0),
            w(4),
            want[0],
            want[1]
        )
        .into());
    }
    Ok(())
}
