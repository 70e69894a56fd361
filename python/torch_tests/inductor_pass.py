"""Shared by the torch tests that compile through Inductor: VllmOptPass as
its post-grad custom pass, recording the ops of each graph it returns."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from vllm_opt import VllmOptPass  # noqa: E402

VLLM_OPT = os.environ.get("VLLM_OPT", os.path.join(os.path.dirname(__file__), "..", "..", "target", "debug", "vllm-opt"))


class RecordingPass(VllmOptPass):
    """VllmOptPass that appends, per call, the targets of the graph's calls after it ran to `seen`."""

    def __init__(self, seen, *args, **kwargs):
        super().__init__(VLLM_OPT, *args, **kwargs)
        self.seen = seen

    def __call__(self, graph, runtime_shape=None):
        out = super().__call__(graph, runtime_shape)
        self.seen.append([str(n.target) for n in graph.nodes if n.op == "call_function"])
        return out


def compile_with_pass(fn, config, **options):
    """`torch.compile(fn)` with a fresh Dynamo and RecordingPass(config) as
    the post-grad custom pass (caches off, so each call compiles); returns
    the compiled function and the list the pass records into."""
    import torch

    seen = []
    torch._dynamo.reset()
    compiled = torch.compile(fn, options={"post_grad_custom_post_pass": RecordingPass(seen, config=config),
                                          "force_disable_caches": True, **options})
    return compiled, seen


def assert_same_outputs(test, got, want, what="", strides=False):
    """`got` equals `want` element for element (FP8 compared as its bytes, NaN payloads
    included); with `strides`, each output also has eager's strides (its memory layout)."""
    import torch

    def bits(t):
        return t.view(torch.uint8) if t.dtype == torch.float8_e4m3fn else t

    for i, (a, b) in enumerate(zip(got, want)):
        if strides:
            test.assertEqual(a.stride(), b.stride(), f"{what} output {i}")
        test.assertTrue(torch.equal(bits(a), bits(b)), f"{what} output {i}")


def define_ops(lib, schemas, bodies, fakes=None):
    """Defines vLLM's ops in `lib` (a torch.library.Library) by their schemas,
    skipping those an earlier test module in this process defined, and gives
    each of `bodies` (name -> CPU body) its implementation and a fake: the
    one `fakes` names, else one that returns nothing (they mutate their
    `Tensor!` arguments)."""
    import torch

    for schema in schemas:
        try:
            lib.define(schema)
        except RuntimeError:  # defined by an earlier test module
            pass
    for name, body in bodies.items():
        try:
            lib.impl(name, body, "CompositeExplicitAutograd")
            torch.library.register_fake(f"{lib.ns}::{name}", (fakes or {}).get(name, lambda *a, **k: None), lib=lib)
        except RuntimeError:  # an earlier test module gave it a body
            pass


def dump_post_grad(fn, args, sub):
    """With VLLM_OPT_DUMP_GRAPH set, compiles `fn(*args)` once more with the
    FX exporter as the post-grad pass (v1 functionalization, as vLLM runs)
    and writes the graph under that directory's `sub/`: how the lit inputs
    in tests/ were captured."""
    dump = os.environ.get("VLLM_OPT_DUMP_GRAPH")
    if not dump:
        return
    import torch
    import vllm_opt.fx_export as fx_export

    torch._dynamo.reset()
    torch.compile(fn, options={"post_grad_custom_post_pass": fx_export.post_grad_dump_pass(os.path.join(dump, sub)),
                               "force_disable_caches": True, "enable_auto_functionalized_v2": False})(*args)
