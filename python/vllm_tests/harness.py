"""What the tests comparing vllm-opt with vLLM's own passes share: the
post-grad graph Inductor hands vLLM's passes, vLLM's config on the CPU, and
vLLM's attention layers for its forward context (no GPU)."""
import types

import torch


def at_post_grad(fn, args, dynamic, on_graph):
    """Compiles `fn(*args)` as vLLM does (v1 auto_functionalized; the first
    dim of each tensor in `dynamic` symbolic, as vLLM marks the token count)
    and calls `on_graph(graph)` with the post-grad graph, where vLLM's passes
    run; the compile then stops, before anything runs (Dynamo fakes the
    inputs). Returns what `on_graph` returned."""
    got = []

    def hook(graph):
        got.append(on_graph(graph))
        raise RuntimeError("captured")

    for t in dynamic:
        torch._dynamo.mark_dynamic(t, 0)
    torch._dynamo.reset()
    try:
        torch.compile(fn, fullgraph=True, options={"post_grad_custom_post_pass": hook,
                                                   "enable_auto_functionalized_v2": False})(*args)
    except Exception:  # noqa: BLE001 - Dynamo wraps the hook's
        if not got:
            raise
    return got[0]


def attention_layer(attention_class, **attributes):
    """vLLM's Attention layer (its class, which vLLM's passes look up in the
    forward context) with `attributes` (layer_name, num_heads, head_size,
    impl, ...), built without its constructor, which would pick a GPU
    backend."""
    layer = attention_class.__new__(attention_class)
    for k, v in attributes.items():
        object.__setattr__(layer, k, v)  # nn.Module's __setattr__ needs its __init__
    return layer


def vllm_config(pass_config, custom_ops, layers=()):
    """vLLM's config on the CPU with `pass_config` and `custom_ops`; with
    attention `layers` (`attention_layer`s) in its forward context by their
    `layer_name`, and a bf16 model config (all vLLM's attention passes read
    of it)."""
    from vllm.config import CompilationConfig, DeviceConfig, VllmConfig

    cc = CompilationConfig(pass_config=pass_config, custom_ops=custom_ops)
    vc = VllmConfig(compilation_config=cc, device_config=DeviceConfig(device="cpu"))
    if layers:
        object.__setattr__(vc, "model_config", types.SimpleNamespace(dtype=torch.bfloat16))
        for layer in layers:
            cc.static_forward_context[layer.layer_name] = layer
    return vc
