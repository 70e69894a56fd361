//! A generated Llama-3-8B-shaped decoder (and its Qwen3 variant, with per-head
//! q/k norms) of any depth, in the custom-op form
//! vLLM's graphs have (value form, as imported): the 80-layer benchmark graph
//! and its test. Exported to FX JSON by vllm-opt's own exporter.
use std::fmt::Write;

/// MLIR text of an `n`-layer decoder: hidden 4096, q/k/v 4096/1024/1024,
/// intermediate 14336, static FP8 activations, symbolic token count `s0`;
/// when `tp`, as one tensor-parallel rank runs it: the embedding,
/// o_proj and down_proj products all-reduced (`tp:0`) before their norms, as
/// in the captured tp2 fixture.
pub fn llama_mlir_with(layers: usize, tp: bool) -> String {
    decoder_mlir(layers, tp, false)
}

/// The same decoder shaped as Qwen3-8B's attention input: each layer's query
/// and key heads (32 and 8 of 128) normalized per head (`q_norm`/`k_norm`,
/// custom `rms_norm` over `[T, heads, 128]`, eps 1e-6) before the rotary
/// embedding, whose results the attention reads directly.
fn qwen3_mlir(layers: usize) -> String {
    decoder_mlir(layers, false, true)
}

fn decoder_mlir(layers: usize, tp: bool, qk_norm: bool) -> String {
    let bf = |shape: &str| format!("tensor<{shape}xbf16>");
    let f8 = |shape: &str| format!("tensor<{shape}xf8E4M3FN>");
    let s = "tensor<f32>";
    let mut args = vec![
        "%ntok: index {fx.name = \"arg_tokens\", fx.meta = \"{\\\"sym\\\":\\\"s0\\\"}\"}".to_string(),
        "%ids: tensor<?xi64>".into(),
        format!("%emb: {}", bf("128256x4096")),
        "%pos: tensor<?xi64>".into(),
        format!("%cache: {}", bf("131072x128")),
        format!("%sw: {s}"),
        format!("%w_final: {}", bf("4096")),
    ];
    let mut body = String::new();
    let mm = |b: &mut String, out: &str, a: &str, w: &str, sa: &str, k: usize, n: usize| {
        let _ = writeln!(
            b,
            "    {out} = \"vllm.cutlass_scaled_mm\"({a}, {w}, {sa}, %sw) : ({}, {}, {s}, {s}) -> {}",
            f8(&format!("?x{k}")),
            f8(&format!("{k}x{n}")),
            bf(&format!("?x{n}"))
        );
    };
    let _ = writeln!(body, "    %h = \"aten.embedding\"(%emb, %ids) : ({}, tensor<?xi64>) -> {}", bf("128256x4096"), bf("?x4096"));
    // `v` all-reduced as `out` (tensor-parallel graphs), else `v` itself.
    let all_reduce = |b: &mut String, out: &str, v: &str| -> String {
        if !tp {
            return v.to_string();
        }
        let _ = writeln!(b, "    {out} = \"vllm.all_reduce\"({v}) {{group_name = \"tp:0\"}} : ({0}) -> {0}", bf("?x4096"));
        out.to_string()
    };
    let h = all_reduce(&mut body, "%hr", "%h");
    let mut res = h.clone();
    let mut down = String::new();
    for l in 0..layers {
        for (name, ty) in [
            ("w_in", bf("4096")),
            ("s_qkv", s.into()),
            ("wqkv", f8("4096x6144")),
            ("s_o", s.into()),
            ("wo", f8("4096x4096")),
            ("w_post", bf("4096")),
            ("s_gu", s.into()),
            ("wgu", f8("4096x28672")),
            ("s_d", s.into()),
            ("wd", f8("14336x4096")),
        ] {
            args.push(format!("%{name}{l}: {ty}"));
        }
        if qk_norm {
            args.push(format!("%wq{l}: {}", bf("128")));
            args.push(format!("%wk{l}: {}", bf("128")));
        }
        let b = &mut body;
        if l == 0 {
            let _ = writeln!(
                b,
                "    %n{l} = \"vllm.rms_norm\"({h}, %w_in{l}) {{epsilon = 1.0e-05 : f64}} : ({}, {}) -> {}",
                bf("?x4096"),
                bf("4096"),
                bf("?x4096")
            );
        } else {
            let _ = writeln!(
                b,
                "    %n{l}, %res{l} = \"vllm.fused_add_rms_norm\"({down}, {res}, %w_in{l}) {{epsilon = 1.0e-05 : f64}} : ({0}, {0}, {1}) -> ({0}, {0})",
                bf("?x4096"),
                bf("4096")
            );
            res = format!("%res{l}");
        }
        let _ =
            writeln!(b, "    %q8_{l} = \"vllm.static_scaled_fp8_quant\"(%n{l}, %s_qkv{l}) : ({}, {s}) -> {}", bf("?x4096"), f8("?x4096"));
        mm(b, &format!("%qkv{l}"), &format!("%q8_{l}"), &format!("%wqkv{l}"), &format!("%s_qkv{l}"), 4096, 6144);
        let slice = |b: &mut String, out: &str, src: &str, st: usize, en: usize| {
            let _ = writeln!(
                b,
                "    {out} = \"aten.slice\"({src}) {{dim = -1 : i64, start = {st} : i64, end = {en} : i64, step = 1 : i64}} : ({}) -> {}",
                bf("?x6144"),
                bf(&format!("?x{}", en - st))
            );
        };
        if qk_norm {
            qwen3_attention_input(b, l);
        } else {
            slice(b, &format!("%q{l}"), &format!("%qkv{l}"), 0, 4096);
            slice(b, &format!("%k{l}"), &format!("%qkv{l}"), 4096, 5120);
            let _ = writeln!(
                b,
                "    %rq{l}, %rk{l} = \"vllm.rotary_embedding\"(%pos, %q{l}, %k{l}, %cache) {{head_size = 128 : i64, is_neox = true}} : (tensor<?xi64>, {}, {}, {}) -> ({}, {})",
                bf("?x4096"),
                bf("?x1024"),
                bf("131072x128"),
                bf("?x4096"),
                bf("?x1024")
            );
            let _ = writeln!(
                b,
                "    %sa{l} = \"aten.slice_scatter\"(%qkv{l}, %rq{l}) {{dim = 1 : i64, start = 0 : i64, end = 4096 : i64, step = 1 : i64}} : ({}, {}) -> {}",
                bf("?x6144"),
                bf("?x4096"),
                bf("?x6144")
            );
            let _ = writeln!(
                b,
                "    %sb{l} = \"aten.slice_scatter\"(%sa{l}, %rk{l}) {{dim = 1 : i64, start = 4096 : i64, end = 5120 : i64, step = 1 : i64}} : ({}, {}) -> {}",
                bf("?x6144"),
                bf("?x1024"),
                bf("?x6144")
            );
            for (v, st, en, heads) in [("qq", 0, 4096, 32), ("kk", 4096, 5120, 8), ("vv", 5120, 6144, 8)] {
                slice(b, &format!("%{v}{l}"), &format!("%sb{l}"), st, en);
                let _ = writeln!(
                    b,
                    "    %{v}r{l} = \"aten.reshape\"(%{v}{l}) {{shape = array<i64: -1, {heads}, 128>}} : ({}) -> {}",
                    bf(&format!("?x{}", en - st)),
                    bf(&format!("?x{heads}x128"))
                );
            }
        }
        let _ = writeln!(
            b,
            "    %att{l} = \"vllm.unified_attention_with_output\"(%qqr{l}, %kkr{l}, %vvr{l}) {{layer_name = \"model.layers.{l}.self_attn.attn\", operandSegmentSizes = array<i32: 1, 1, 1, 0, 0>}} : ({}, {}, {}) -> {}",
            bf("?x32x128"),
            bf("?x8x128"),
            bf("?x8x128"),
            bf("?x32x128")
        );
        let _ = writeln!(
            b,
            "    %ar{l} = \"aten.reshape\"(%att{l}, %ntok) {{shape = array<i64: -9223372036854775808, 4096>}} : ({}, index) -> {}",
            bf("?x32x128"),
            bf("?x4096")
        );
        let _ =
            writeln!(b, "    %a8_{l} = \"vllm.static_scaled_fp8_quant\"(%ar{l}, %s_o{l}) : ({}, {s}) -> {}", bf("?x4096"), f8("?x4096"));
        mm(b, &format!("%o{l}"), &format!("%a8_{l}"), &format!("%wo{l}"), &format!("%s_o{l}"), 4096, 4096);
        let o = all_reduce(b, &format!("%oa{l}"), &format!("%o{l}"));
        let _ = writeln!(
            b,
            "    %m{l}, %mres{l} = \"vllm.fused_add_rms_norm\"({o}, {res}, %w_post{l}) {{epsilon = 1.0e-05 : f64}} : ({0}, {0}, {1}) -> ({0}, {0})",
            bf("?x4096"),
            bf("4096")
        );
        res = format!("%mres{l}");
        let _ =
            writeln!(b, "    %m8_{l} = \"vllm.static_scaled_fp8_quant\"(%m{l}, %s_gu{l}) : ({}, {s}) -> {}", bf("?x4096"), f8("?x4096"));
        mm(b, &format!("%gu{l}"), &format!("%m8_{l}"), &format!("%wgu{l}"), &format!("%s_gu{l}"), 4096, 28672);
        let _ = writeln!(b, "    %act{l} = \"vllm.silu_and_mul\"(%gu{l}) : ({}) -> {}", bf("?x28672"), bf("?x14336"));
        let _ = writeln!(
            b,
            "    %act8_{l} = \"vllm.static_scaled_fp8_quant\"(%act{l}, %s_d{l}) : ({}, {s}) -> {}",
            bf("?x14336"),
            f8("?x14336")
        );
        mm(b, &format!("%down{l}"), &format!("%act8_{l}"), &format!("%wd{l}"), &format!("%s_d{l}"), 14336, 4096);
        down = all_reduce(b, &format!("%da{l}"), &format!("%down{l}"));
    }
    let _ = writeln!(
        body,
        "    %y, %yres = \"vllm.fused_add_rms_norm\"({down}, {res}, %w_final) {{epsilon = 1.0e-05 : f64}} : ({0}, {0}, {1}) -> ({0}, {0})",
        bf("?x4096"),
        bf("4096")
    );
    let _ = writeln!(body, "    return %y : {}", bf("?x4096"));
    format!(
        "module attributes {{torch.symbols = {{s0 = {{min = 2 : i64}}}}}} {{\n  func.func @llama_L{layers}({}) -> {} {{\n{body}  }}\n}}\n",
        args.join(", "),
        bf("?x4096")
    )
}

/// Layer `l`'s q, k and v of `%qkv{l}` as Qwen3 makes them: `%qqr{l}`,
/// `%kkr{l}` (normalized per head, rotated) and `%vvr{l}`, as heads.
fn qwen3_attention_input(b: &mut String, l: usize) {
    let bf = |shape: &str| format!("tensor<{shape}xbf16>");
    for (v, st, en) in [("q", 0, 4096), ("k", 4096, 5120), ("v", 5120, 6144)] {
        let _ = writeln!(
            b,
            "    %{v}{l} = \"aten.slice\"(%qkv{l}) {{dim = -1 : i64, start = {st} : i64, end = {en} : i64, step = 1 : i64}} : ({}) -> {}",
            bf("?x6144"),
            bf(&format!("?x{}", en - st))
        );
    }
    for (v, heads) in [("q", 32), ("k", 8)] {
        let (rows, by_head) = (bf(&format!("?x{}", heads * 128)), bf(&format!("?x{heads}x128")));
        let _ = writeln!(b, "    %{v}h{l} = \"aten.reshape\"(%{v}{l}) {{shape = array<i64: -1, {heads}, 128>}} : ({rows}) -> {by_head}");
        let _ = writeln!(
            b,
            "    %{v}n{l} = \"vllm.rms_norm\"(%{v}h{l}, %w{v}{l}) {{epsilon = 1.0e-06 : f64}} : ({by_head}, {}) -> {by_head}",
            bf("128")
        );
        let _ =
            writeln!(b, "    %{v}f{l} = \"aten.reshape\"(%{v}n{l}) {{shape = array<i64: -1, {}>}} : ({by_head}) -> {rows}", heads * 128);
    }
    let _ = writeln!(
        b,
        "    %rq{l}, %rk{l} = \"vllm.rotary_embedding\"(%pos, %qf{l}, %kf{l}, %cache) {{head_size = 128 : i64, is_neox = true}} : (tensor<?xi64>, {}, {}, {}) -> ({}, {})",
        bf("?x4096"),
        bf("?x1024"),
        bf("131072x128"),
        bf("?x4096"),
        bf("?x1024")
    );
    for (v, src, heads) in [("qq", "%rq", 32), ("kk", "%rk", 8), ("vv", "%v", 8)] {
        let _ = writeln!(
            b,
            "    %{v}r{l} = \"aten.reshape\"({src}{l}) {{shape = array<i64: -1, {heads}, 128>}} : ({}) -> {}",
            bf(&format!("?x{}", heads * 128)),
            bf(&format!("?x{heads}x128"))
        );
    }
}

/// The same graph as FX graph JSON (through vllm-opt's exporter).
pub fn llama_fx_json(layers: usize) -> Result<String, String> {
    llama_fx_json_with(layers, false)
}

/// `llama_mlir_with` as FX graph JSON.
pub fn llama_fx_json_with(layers: usize, tp: bool) -> Result<String, String> {
    to_fx_json(&llama_mlir_with(layers, tp))
}

/// `qwen3_mlir` as FX graph JSON (the tests', not the bench's).
#[allow(dead_code)]
pub fn qwen3_fx_json(layers: usize) -> Result<String, String> {
    to_fx_json(&qwen3_mlir(layers))
}

fn to_fx_json(text: &str) -> Result<String, String> {
    let ctx = vllm_dialect::new_context()?;
    let module = mlir_support::source::parse(&ctx, text, "decoder.mlir").map_err(|d| format!("generated graph: {d:?}"))?;
    Ok(vllm_fx::export::to_text(&vllm_fx::export(&module).map_err(|d| format!("generated graph: {d:?}"))?))
}
