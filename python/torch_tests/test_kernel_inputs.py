"""vllm_opt.kernels.make_inputs, the buffers scripts/gpu-check and
scripts/diff-kernels launch kernels on: each parameter's buffer, and the
special rows planted where the kernels rely on the hardware's conversions."""
import math
import os
import subprocess
import sys
import tempfile
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from vllm_opt import kernels  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def emitted(test_file):
    """The kernel set of tests/codegen/<test_file> (its manifest: no launches here)."""
    with tempfile.TemporaryDirectory() as folder:
        cmd = [os.environ.get("VLLM_OPT", "vllm-opt"), os.path.join(ROOT, "tests", "codegen", test_file),
               "--config", os.path.join(ROOT, "examples", "pass_config.json"), "--emit-kernels", folder, "-o", os.devnull]
        subprocess.run(cmd, check=True, capture_output=True)
        return kernels.load(folder)


class MakeInputsTest(unittest.TestCase):
    def test_every_buffer_has_the_kernels_type_and_size(self):
        ks = emitted("emit-kernels-quant.mlir")
        k = ks.find("vllm.static_scaled_fp8_quant", hidden=4096, dtype="bf16")
        bufs = kernels.make_inputs(k, 8, static_scale=0.25)
        self.assertEqual(set(bufs), {p["name"] for p in k.params if p["kind"] == "ptr"})
        for p in k.params:
            if p["kind"] == "ptr":
                b = bufs[p["name"]]
                self.assertEqual(str(b.dtype), kernels.TORCH_DTYPE[p["elem"]], p["name"])
                self.assertEqual(b.numel(), k.elements(p["name"], 8), p["name"])
                self.assertTrue(b.is_contiguous(), p["name"])
        self.assertEqual(bufs["scale"].tolist(), [0.25])  # read only: the static scale
        self.assertEqual(tuple(bufs["result"].shape), (8, 4096))
        self.assertFalse(bufs["result"].float().any())

    def test_the_last_rows_hold_the_special_values(self):
        ks = emitted("emit-kernels-quant.mlir")
        k = ks.find("vllm.static_scaled_fp8_quant", hidden=4096, dtype="bf16")
        x = kernels.make_inputs(k, 6, generator=torch.Generator().manual_seed(0))["input"].float()
        self.assertEqual(x[-1, :4].tolist()[:2], [29952.0, -29952.0])  # 3e4 in bf16
        self.assertEqual(math.copysign(1, x[-1, 2].item()), -1.0)  # -0 keeps its sign
        self.assertTrue(x[-2, :2].isinf().all() and x[-2, 2].isnan())
        self.assertFalse(x[-3].any())
        self.assertTrue(all(math.copysign(1, v) == -1.0 and v == 0 for v in x[-4].tolist()))
        self.assertGreater(x[-5].abs().max().item(), 1000)
        self.assertTrue(x[0].isfinite().all() and x[0].abs().max().item() < 100)  # row 0 stays random
        # Fewer rows: as many specials as fit, row 0 untouched.
        one = kernels.make_inputs(k, 1)["input"].float()
        self.assertTrue(one.isfinite().all() and one.abs().max().item() < 100)

    def test_the_per_tensor_quant_gets_no_infinity(self):
        ks = emitted("emit-kernels-quant.mlir")
        k = ks.find("vllm.dynamic_scaled_fp8_quant", hidden=4096, dtype="bf16")
        bufs = kernels.make_inputs(k, 6)
        self.assertFalse(bufs["input"].float().isinf().any() or bufs["input"].float().isnan().any())
        self.assertEqual(bufs["scale"].tolist(), [0.0])  # it writes its own: zeroed

    def test_a_generator_makes_them_again(self):
        ks = emitted("emit-kernels-quant.mlir")
        k = ks.find("vllm.static_scaled_fp8_quant", hidden=4096, dtype="bf16")
        a, b = (kernels.make_inputs(k, 4, generator=torch.Generator().manual_seed(3)) for _ in range(2))
        self.assertTrue(all(torch.equal(a[n].view(torch.uint8), b[n].view(torch.uint8)) for n in a))


if __name__ == "__main__":
    unittest.main()
