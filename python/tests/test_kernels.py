"""vllm_opt.kernels on manifests vllm-opt writes, with fake tensors and a
recording launcher (no GPU, torch or cupy needed)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from vllm_opt import kernels  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


class FakeTensor:
    """What the launcher reads from a torch tensor."""

    next_ptr = 0x1000

    def __init__(self, dtype, numel, contiguous=True, offset=0):
        self.dtype = "torch." + dtype
        self._numel = numel
        self._contiguous = contiguous
        self.zeroed = 0
        FakeTensor.next_ptr += 0x1000
        self.ptr = FakeTensor.next_ptr + offset

    def numel(self):
        return self._numel

    def is_contiguous(self):
        return self._contiguous

    def data_ptr(self):
        return self.ptr

    def zero_(self):
        self.zeroed += 1


FOLDERS = []


def tearDownModule():  # noqa: N802 - unittest's name
    for f in FOLDERS:
        shutil.rmtree(f, ignore_errors=True)


def emit(test_file, *flags):
    """Kernels of tests/codegen/<test_file> in a temporary folder, with a recording launcher."""
    out = tempfile.mkdtemp()
    FOLDERS.append(out)
    folder = os.path.join(out, "k")
    cmd = [os.environ["VLLM_OPT"], os.path.join(ROOT, "tests", "codegen", test_file),
           "--config", os.path.join(ROOT, "examples", "pass_config.json"), "--emit-kernels", folder,
           "-o", os.devnull, *flags]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        raise AssertionError(run.stderr)
    launches = []
    ks = kernels.load(folder, launcher=lambda k, grid, block, args, stream: launches.append((k.name, grid, block, args, stream)))
    return ks, launches


@unittest.skipUnless(os.environ.get("VLLM_OPT"), "set VLLM_OPT to the vllm-opt binary")
class KernelsTest(unittest.TestCase):
    def test_launch_follows_the_manifest_abi(self):
        ks, launches = emit("emit-kernels-quant.mlir")
        k = ks.find("vllm.rms_norm_dynamic_per_token_quant_", hidden=4096, dtype="f16", num_tokens=16, out="i8")
        self.assertEqual(k.name, "rms_norm_dynamic_per_token_quant_i8_h4096_f16")
        t = {"result": FakeTensor("int8", 16 * 4096), "input": FakeTensor("float16", 16 * 4096),
             "weight": FakeTensor("float16", 4096), "scale": FakeTensor("float32", 16)}
        k(16, 1e-6, **t)
        self.assertEqual(len(launches), 1)
        name, grid, block, args, stream = launches[0]
        self.assertIsNone(stream)  # the launcher then takes torch's current stream
        # Symbolic context only: the many-token block (128 threads, 4 chunks each).
        self.assertEqual((name, grid, block), (k.name, (16, 1, 1), (128, 1, 1)))
        # Parameters in the manifest's order: the buffers, then epsilon by value.
        self.assertEqual(args, [("ptr", t["result"].ptr), ("ptr", t["input"].ptr), ("ptr", t["weight"].ptr),
                                ("ptr", t["scale"].ptr), ("f32", 1e-6)])

    def test_wrong_buffers_are_errors_that_name_the_parameter(self):
        ks, launches = emit("emit-kernels-quant.mlir")
        k = ks.find("vllm.static_scaled_fp8_quant", hidden=4096, dtype="bf16")
        good = {"result": FakeTensor("float8_e4m3fn", 8 * 4096), "input": FakeTensor("bfloat16", 8 * 4096),
                "scale": FakeTensor("float32", 1)}
        cases = [
            ({**good, "input": FakeTensor("float16", 8 * 4096)}, "'input' is torch.float16"),
            ({**good, "result": FakeTensor("float8_e4m3fn", 7 * 4096)}, "'result' has 28672 elements, 32768 expected"),
            ({**good, "input": FakeTensor("bfloat16", 8 * 4096, contiguous=False)}, "'input' is not contiguous"),
            ({k_: v for k_, v in good.items() if k_ != "scale"}, "no tensor for parameter 'scale'"),
            ({**good, "weight": FakeTensor("bfloat16", 4096)}, "no parameter named weight"),
            ({**good, "input": FakeTensor("bfloat16", 8 * 4096, offset=2)}, "is not 16-byte aligned"),
            ({**good, "result": FakeTensor("float8_e4m3fn", 8 * 4096, offset=4)}, "is not 8-byte aligned"),
        ]
        for tensors, message in cases:
            with self.assertRaises(ValueError) as e:
                k(8, **tensors)
            self.assertIn(message, str(e.exception))
        self.assertEqual(launches, [])

    def test_per_tensor_quant_zeroes_its_scale_then_runs_the_static_quant(self):
        ks, launches = emit("emit-kernels-quant.mlir")
        k = ks.find("vllm.dynamic_scaled_fp8_quant", hidden=4096, dtype="bf16")
        t = {"result": FakeTensor("float8_e4m3fn", 4 * 4096), "input": FakeTensor("bfloat16", 4 * 4096),
             "scale": FakeTensor("float32", 1)}
        k(4, stream=7, **t)
        self.assertEqual(t["scale"].zeroed, 1)
        self.assertEqual([s for *_, s in launches], [7, 7])
        self.assertEqual([name for name, *_ in launches],
                         ["dynamic_scaled_fp8_quant_max_h4096_bf16", "static_scaled_fp8_quant_h4096_bf16"])
        # The max kernel takes (input, scale); the static quant (result, input, scale).
        self.assertEqual(launches[0][3], [("ptr", t["input"].ptr), ("ptr", t["scale"].ptr)])
        self.assertEqual(launches[1][3], [("ptr", t["result"].ptr), ("ptr", t["input"].ptr), ("ptr", t["scale"].ptr)])

    def test_find_picks_the_variant_compiled_for_the_token_count(self):
        ks, _ = emit("emit-kernels-sizes.mlir", "--compile-sizes", "1,4096")
        small = ks.find("vllm.rms_norm", hidden=8192, dtype="bf16", num_tokens=1)
        large = ks.find("vllm.rms_norm", hidden=8192, dtype="bf16", num_tokens=4096)
        self.assertEqual((small.name, small.block(1)), ("rms_norm_h8192_bf16_b1024", 1024))
        self.assertEqual((large.name, large.block(4096)), ("rms_norm_h8192_bf16", 256))
        with self.assertRaises(KeyError):
            ks.find("vllm.rms_norm", hidden=4096, dtype="bf16", num_tokens=1)
        ks, _ = emit("emit-kernels-per-group.mlir")
        ue = ks.find("vllm.per_token_group_fp8_quant", hidden=4096, dtype="bf16", scale_ue8m0=True)
        plain = ks.find("vllm.per_token_group_fp8_quant", hidden=4096, dtype="bf16", scale_ue8m0=False)
        res = ks.find("vllm.rms_norm_per_block_quant", hidden=4096, dtype="bf16", residual=True)
        self.assertEqual((ue.name, plain.name, res.name), ("per_token_group_fp8_quant_g128_h4096_bf16_ue8m0",
                                                           "per_token_group_fp8_quant_g128_h4096_bf16",
                                                           "rms_norm_per_block_quant_residual_g128_h4096_bf16"))
        # Ambiguous without the variant: both scale layouts of one op.
        with self.assertRaises(KeyError) as e:
            ks.find("vllm.per_token_group_fp8_quant", hidden=4096, dtype="bf16")
        self.assertIn("2 kernels", str(e.exception))
        # One f32 scale per group of 128 (32 per row).
        self.assertEqual(ue.elements("output_s", 10), 320)


if __name__ == "__main__":
    unittest.main()
