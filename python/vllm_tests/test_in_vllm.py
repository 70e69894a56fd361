"""VllmOptPass inside vLLM's own pass manager: vLLM's `PostGradPassManager`,
`CompilationConfig`, `VllmConfig` and pass context, not stand-ins, of vLLM
0.11 (a runtime shape) and of main (a compile range). Run by
scripts/vllm-tests, which installs each vLLM with the torch it pins. No GPU:
vLLM's `_C` ops are defined here with CPU bodies, as in python/torch_tests,
since its CUDA library does not load without a driver.

What a vLLM user does: the pass goes in through
`CompilationConfig(inductor_compile_config={"post_grad_custom_post_pass":
VllmOptPass(...).for_vllm()})`; vLLM's manager runs its own passes, then
ours with its pass context's shape, then its post-cleanup (a dead-code
elimination) and its fix-functionalization; Inductor compiles the result.
"""
import os
import pickle
import sys
import tempfile
import unittest

import torch
from vllm.config import CompilationConfig, DeviceConfig, VllmConfig, set_current_vllm_config

try:  # vLLM main: the passes moved, the pass context holds a compile range (both ends inclusive)
    from vllm.compilation.passes.inductor_pass import InductorPass, pass_context
    from vllm.compilation.passes.pass_manager import PostGradPassManager
    from vllm.config.utils import Range

    VLLM_PASSES_OFF = {"eliminate_noops": False, "fuse_norm_quant": False}
    GENERAL = ["--compile-range", "1:8192"]
    PER_GROUP_FLAGS = (False, False)  # dummy_is_scale_transposed, dummy_is_tma_aligned

    def shape_context(shape):
        """vLLM's pass context for `shape` tokens (None: the general graph, up to 8192)."""
        return pass_context(Range(shape, shape) if shape else Range(1, 8192))
except ImportError:  # vLLM <= 0.11: a runtime shape, None for the general graph
    from vllm.compilation.inductor_pass import InductorPass, pass_context
    from vllm.compilation.pass_manager import PostGradPassManager

    VLLM_PASSES_OFF = {"enable_noop": False, "enable_fusion": False}
    GENERAL = []
    PER_GROUP_FLAGS = ()

    def shape_context(shape):
        return pass_context(shape)

PER_GROUP = ("per_token_group_fp8_quant(Tensor input, Tensor! output_q, Tensor! output_s, int group_size, float eps, "
             "float fp8_min, float fp8_max, bool scale_ue8m0" + ", bool dummy_is_scale_transposed, bool dummy_is_tma_aligned"
             * bool(PER_GROUP_FLAGS) + ") -> ()")
TORCH_TESTS = os.path.join(os.path.dirname(__file__), "..", "torch_tests")
sys.path.insert(0, TORCH_TESTS)
from fp8 import BODIES, EPS, RMS_NORM, RMS_NORM_STATIC_FP8_QUANT, per_group, rms  # noqa: E402
from inductor_pass import VLLM_OPT, assert_same_outputs, define_ops  # noqa: E402 (puts python/ on the path too)
from vllm_opt import VllmOptPass  # noqa: E402

LIB = torch.library.Library("_C", "FRAGMENT")


def per_token_group_fp8_quant(input, output_q, output_s, group_size, eps, fp8_min, fp8_max, scale_ue8m0, *flags):
    """`_C.per_token_group_fp8_quant`'s CPU body (row-major scales)."""
    q, s = per_group(input, group_size, eps, fp8_max, scale_ue8m0)
    output_q.copy_(q)
    output_s.copy_(s)


def fused_add_rms_norm(input, residual, weight, epsilon):
    """`_C.fused_add_rms_norm`'s CPU body: the sum rounded, kept as the residual, then normalized."""
    z = (input.float() + residual.float()).to(input.dtype)
    residual.copy_(z)
    input.copy_(rms(z, weight, epsilon))


# The rotary only by its schema: vLLM main's fix-functionalization names it.
define_ops(LIB, (RMS_NORM, "static_scaled_fp8_quant(Tensor! result, Tensor input, Tensor scale) -> ()", RMS_NORM_STATIC_FP8_QUANT,
                 "rotary_embedding(Tensor positions, Tensor! query, Tensor!? key, int head_size, Tensor cos_sin_cache, "
                 "bool is_neox) -> ()", PER_GROUP, "fused_add_rms_norm(Tensor! input, Tensor! residual, Tensor weight, float epsilon) -> ()"),
           {**BODIES, "per_token_group_fp8_quant": per_token_group_fp8_quant, "fused_add_rms_norm": fused_add_rms_norm})
try:  # vLLM main's IR ops (torch.ops.vllm_ir.*), registered on import
    import vllm.ir.ops as IR_OPS
except ImportError:
    IR_OPS = None
KEY = "post_grad_custom_post_pass"
CONFIG = {"enable_noop": True, "enable_fusion": True}


def model(x, w, scale):
    """vLLM 0.11's RMSNorm then static FP8 quant, as its layers call them."""
    n = torch.empty_like(x)
    torch.ops._C.rms_norm(n, x, w, EPS)
    q = torch.empty(n.shape, dtype=torch.float8_e4m3fn)
    torch.ops._C.static_scaled_fp8_quant(q, n, scale)
    return q


def model_per_group(x, w):
    """RMSNorm then a per-group (1x128) FP8 quant, in the running vLLM's schema."""
    n = torch.empty_like(x)
    torch.ops._C.rms_norm(n, x, w, EPS)
    q = torch.empty(n.shape, dtype=torch.float8_e4m3fn)
    s = torch.empty(n.shape[0], n.shape[1] // 128, dtype=torch.float32)
    torch.ops._C.per_token_group_fp8_quant(n, q, s, 128, 1e-10, -448.0, 448.0, False, *PER_GROUP_FLAGS)
    return q, s


def vllm_manager(inductor_pass):
    """vLLM's pass manager as its backend configures it (configure_post_pass):
    its own passes from the pass config (off: vllm-opt runs them), then the
    inductor_compile_config's post-grad pass, which must be an InductorPass
    (None: vLLM's own passes alone)."""
    cc = CompilationConfig(pass_config=VLLM_PASSES_OFF, inductor_compile_config={KEY: inductor_pass} if inductor_pass else {})
    vc = VllmConfig(compilation_config=cc, device_config=DeviceConfig(device="cpu"))
    with set_current_vllm_config(vc):
        manager = PostGradPassManager()
        manager.configure(vc)
        if inductor_pass:
            manager.add(cc.inductor_compile_config[KEY])
    return manager, vc


def inductor_options(vc, manager):
    """What vLLM's backend gives Inductor: its config's inductor options (v1
    auto_functionalized, ...), the pass manager as the post-grad pass."""
    return {**vc.compilation_config.inductor_compile_config, KEY: manager}


class Recorder(InductorPass):
    """A pass that appends the targets of the graph's calls to `seen`."""

    def __init__(self, seen):
        self.seen = seen

    def __call__(self, graph):
        self.seen.append([str(n.target) for n in graph.nodes if n.op == "call_function"])


class RecordedArgs:
    """A vllm-opt that records its command lines."""

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log, self.binary = os.path.join(self.dir.name, "argv"), os.path.join(self.dir.name, "vllm-opt")
        with open(self.binary, "w") as f:
            f.write(f'#!/bin/sh\necho "$@" >> {self.log}\nexec {os.path.abspath(VLLM_OPT)} "$@"\n')
        os.chmod(self.binary, 0o755)
        return self

    def runs(self):
        with open(self.log) as f:
            return [line for line in f.read().splitlines() if "--print-uuid" not in line]

    def __exit__(self, *exc):
        self.dir.cleanup()


class InVllm(unittest.TestCase):
    def test_vllm_takes_it_and_keys_its_cache_by_the_config(self):
        fused, unfused = (VllmOptPass(VLLM_OPT, config=c).for_vllm() for c in (CONFIG, {"enable_noop": True}))
        a, vc = vllm_manager(fused)
        b, _ = vllm_manager(unfused)
        self.assertIs(vc.compilation_config.inductor_compile_config[KEY], fused)  # not re-wrapped
        self.assertIn(fused, a.passes)
        with shape_context(None):  # vLLM main's key includes the compile range
            self.assertNotEqual(a.uuid(), b.uuid())
        # vLLM's compile-cache hash prints the config: ours must print the same in every process.
        self.assertEqual(repr(fused), repr(VllmOptPass(VLLM_OPT, config=CONFIG).for_vllm()))
        self.assertNotIn(" at 0x", repr(fused))
        # vLLM pickles its config into its engine and worker processes.
        again = pickle.loads(pickle.dumps(vc))
        self.assertEqual(repr(again.compilation_config.inductor_compile_config[KEY]), repr(fused))
        with shape_context(None):
            self.assertEqual(vllm_manager(again.compilation_config.inductor_compile_config[KEY])[0].uuid(), a.uuid())

    def test_the_plain_pass_is_refused(self):
        # The pass manager add()s only InductorPass instances (why for_vllm exists).
        with self.assertRaises(AssertionError):
            vllm_manager(VllmOptPass(VLLM_OPT, config=CONFIG))

    def test_compiled_through_vllms_manager_it_fuses_and_computes_the_same(self):
        x = torch.randn(16, 256, dtype=torch.bfloat16)
        w = (1 + 0.1 * torch.randn(256)).to(torch.bfloat16)
        scale = torch.tensor(0.05)
        want = model(x, w, scale)
        for shape in (None, 16):
            with self.subTest(runtime_shape=shape), RecordedArgs() as rec:
                seen = []
                manager, vc = vllm_manager(VllmOptPass(rec.binary, config=CONFIG).for_vllm())
                manager.add(Recorder(seen))  # after ours, before vLLM's post-cleanup and fix-functionalization
                torch._dynamo.reset()
                # No cache: each compile runs the passes.
                with set_current_vllm_config(vc), shape_context(shape), torch._inductor.config.patch(force_disable_caches=True):
                    compiled = torch.compile(model, dynamic=shape is None, options=inductor_options(vc, manager))
                    got = compiled(x, w, scale)
                assert_same_outputs(self, (got,), (want,), f"runtime_shape={shape}")
                self.assertIn("_C.rms_norm_static_fp8_quant.default", seen[-1])
                self.assertNotIn("_C.rms_norm.default", seen[-1])
                args = rec.runs()[-1].split()
                shape_args = args[args.index("-o") + 2:]  # after the output file
                self.assertEqual(shape_args, GENERAL if shape is None else ["--runtime-shape", str(shape)])

    def test_a_fused_kernel_this_vllm_lacks_is_not_written(self):
        # A norm + per-group quant (block FP8, Qwen3-FP8's): vllm-opt fuses it
        # into `_C.rms_norm_per_block_quant`, which vLLM 0.11 has not (nor this
        # CPU stand-in of any vLLM): the call would not resolve and the
        # compile would fail. VllmOptPass tells vllm-opt what the process
        # lacks (`unavailable_ops`), and the pair stays as it was.
        self.assertFalse(hasattr(torch.ops._C, "rms_norm_per_block_quant"))
        x = torch.randn(16, 256, dtype=torch.bfloat16)
        w = (1 + 0.1 * torch.randn(256)).to(torch.bfloat16)
        want = model_per_group(x, w)
        seen = []
        manager, vc = vllm_manager(VllmOptPass(VLLM_OPT, config=CONFIG).for_vllm())
        manager.add(Recorder(seen))
        torch._dynamo.reset()
        with set_current_vllm_config(vc), shape_context(16), torch._inductor.config.patch(force_disable_caches=True):
            got = torch.compile(model_per_group, options=inductor_options(vc, manager))(x, w)
        assert_same_outputs(self, got, want)
        self.assertIn("_C.per_token_group_fp8_quant.default", seen[-1])

    def test_in_place_writes_keep_what_vllms_own_fix_functionalization_overwrites(self):
        # vLLM's FixFunctionalizationPass writes in place without asking who
        # reads the old value: here a copy of the activation taken before the
        # norm (which Inductor may fold into the activation itself) and, where
        # Inductor drops `r * 1`, the caller's residual tensor. Compiled
        # through vLLM's manager with only its own passes, both go wrong;
        # with vllm-opt, which copies where an old value is still read (and
        # never writes a graph input vLLM has not donated), nothing does.
        def model_add_norm(x, r, w):
            h = x * 2
            before = h.clone()
            res = r * 1
            torch.ops._C.fused_add_rms_norm(h, res, w, EPS)
            return h, res, before

        x = torch.randn(16, 256, dtype=torch.bfloat16)
        r = torch.randn(16, 256, dtype=torch.bfloat16)
        w = (1 + 0.1 * torch.randn(256)).to(torch.bfloat16)
        want = model_add_norm(x, r, w)

        def run(manager, vc):
            args = (x.clone(), r.clone(), w)
            torch._dynamo.reset()
            with set_current_vllm_config(vc), shape_context(16), torch._inductor.config.patch(force_disable_caches=True):
                got = torch.compile(model_add_norm, options=inductor_options(vc, manager))(*args)
            return got, torch.equal(args[1], r)

        alone = vllm_manager(None)
        got, r_kept = run(*alone)
        self.assertFalse(torch.equal(got[2], want[2]), "vLLM's own pass kept the pre-norm copy (fixed in this vLLM?)")
        got, r_kept = run(*vllm_manager(VllmOptPass(VLLM_OPT, config={"enable_noop": True}).for_vllm()))
        assert_same_outputs(self, got, want)
        self.assertTrue(r_kept, "the caller's residual was written")

    @unittest.skipUnless(IR_OPS, "vLLM without its IR ops (before main's vllm.ir)")
    def test_vllms_own_ir_ops_fuse_and_the_rest_is_left_to_its_lowering(self):
        # vLLM main's models call its IR ops (torch.ops.vllm_ir.*, registered
        # by vllm.ir itself here); vLLM lowers what no pass fused, after ours.
        def model_ir(x, w, scale):
            n = IR_OPS.rms_norm(x, w, EPS)
            q = torch.empty(n.shape, dtype=torch.float8_e4m3fn)
            torch.ops._C.static_scaled_fp8_quant(q, n, scale)
            return q, IR_OPS.rms_norm(x * 2, w, EPS)

        x = torch.randn(16, 256, dtype=torch.bfloat16)
        w = (1 + 0.1 * torch.randn(256)).to(torch.bfloat16)
        scale = torch.tensor(0.05)
        want = model_ir(x, w, scale)
        seen = []
        manager, vc = vllm_manager(VllmOptPass(VLLM_OPT, config=CONFIG).for_vllm())
        manager.add(Recorder(seen))
        torch._dynamo.reset()
        with set_current_vllm_config(vc), shape_context(16), torch._inductor.config.patch(force_disable_caches=True):
            got = torch.compile(model_ir, options=inductor_options(vc, manager))(x, w, scale)
        assert_same_outputs(self, got[:1], want[:1])  # ours: the fused kernel's CPU body, bit for bit
        torch.testing.assert_close(got[1], want[1])  # Inductor's code for the lowered native norm, not eager's roundings
        self.assertIn("_C.rms_norm_static_fp8_quant.default", seen[-1])
        self.assertEqual(seen[-1].count("vllm_ir.rms_norm.default"), 1)  # the unquantized one, for vLLM's lowering


if __name__ == "__main__":
    unittest.main()
