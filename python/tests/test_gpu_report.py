"""scripts/gpu-report on small gpu-check logs: the tables it writes and
what it counts (the docs' GPU tables are made by it)."""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

RUN = """device: NVIDIA H200; arch in manifest: sm_90
rms_norm_h4096_bf16_b512 T=1: result max 0 (0 % differ), torch.compile vs eager max 1; 1.6 us, 10 GB/s (0 % of copy); eager 20.0 us, torch.compile 1.9 us [1 s]
rms_norm_h4096_bf16 T=2048: result max 0 (0 % differ), torch.compile vs eager max 1; 6.8 us, 4900 GB/s (117 % of copy); eager 500.0 us, torch.compile 8.2 us [2 s]
silu_and_mul_d8192_bf16_s8 T=1: result max 0 (0 % differ), torch.compile vs eager max 0; 2.1 us, 15 GB/s (1 % of copy); eager 19.0 us, torch.compile 1.4 us [3 s]
silu_and_mul_d8192_bf16 T=2048: result max 0 (0 % differ), torch.compile vs eager max 0; 30.0 us, 3300 GB/s (80 % of copy); eager 300.0 us, torch.compile 70.0 us [4 s]
"""
OTHER = """rms_norm_h4096_bf16 T=2048: result max 0 (0 % differ), torch.compile vs eager max 1; 7.0 us, 4700 GB/s (112 % of copy); eager 510.0 us, torch.compile 6.0 us [2 s]
"""


def report(*logs):
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, text in enumerate(logs):
            paths.append(os.path.join(tmp, f"{i}.txt"))
            with open(paths[-1], "w") as f:
                f.write(text)
        args = [sys.executable, os.path.join(ROOT, "scripts", "gpu-report"), paths[0]]
        if len(paths) > 1:
            args += ["--baseline", *paths[1:]]
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout


class GpuReport(unittest.TestCase):
    def test_rows_fold_variants_and_mark_what_misses_a_target(self):
        out = report(RUN)
        rows = [line for line in out.splitlines() if line.startswith("| `")]
        self.assertEqual(len(rows), 2, out)  # the _b512 and _s8 variants fold into their kernels
        self.assertIn("| `rms_norm_h4096_bf16` | 1.6 / 1.9 | 6.8 / 8.2 | 117 |", out)
        self.assertIn("2.1 / 1.4 **slower**", out)
        self.assertIn("| **80** |", out)
        self.assertIn("Slower than torch.compile: 1 of 4; under 90 % of copy bandwidth at T >= 2048: 1.", out)

    def test_torch_compile_is_its_best_over_the_runs(self):
        out = report(RUN, OTHER)
        self.assertIn("6.8 / 6 **slower**", out)
        self.assertIn("best of 2 runs", out)
        self.assertIn("Slower than torch.compile: 2 of 4", out)

    def test_a_log_without_timings_is_an_error(self):
        with self.assertRaises(subprocess.CalledProcessError):
            report("device: none\n")

    def test_a_copy_of_as_many_bytes_gets_its_own_column(self):
        sized = RUN.replace("torch.compile 8.2 us [2 s]", "torch.compile 8.2 us; copy of as many bytes 6.1 us [2 s]").replace(
            "torch.compile 70.0 us [4 s]", "torch.compile 70.0 us; copy of as many bytes 27.0 us [4 s]")
        out = report(sized)
        self.assertIn("% of a same-size copy, T >= 2048 |", out)
        self.assertIn("| `rms_norm_h4096_bf16` | 1.6 / 1.9 | 6.8 / 8.2 | 117 | 90 |", out)
        self.assertIn("| **80** | 90 |", out)
        self.assertNotIn("same-size", report(RUN))  # older logs: as before

    def test_the_persistent_form_is_set_against_its_kernel(self):
        run = RUN + (
            "rms_norm_h4096_bf16_p T=1: result max 0 (0 % differ), torch.compile vs eager max 1; 1.8 us, 9 GB/s (0 % of copy); "
            "eager 20.0 us, torch.compile 1.9 us [5 s]\n"
            "rms_norm_h4096_bf16_p T=2048: result max 0 (0 % differ), torch.compile vs eager max 1; 6.4 us, 5200 GB/s (124 % of copy); "
            "eager 500.0 us, torch.compile 8.2 us [6 s]\n")
        out = report(run)
        # The main table and its counts are the default kernels' alone.
        self.assertNotIn("`rms_norm_h4096_bf16_p`", out)
        self.assertIn("Slower than torch.compile: 1 of 4;", out)
        self.assertIn("| `rms_norm_h4096_bf16` | 1.6 -> 1.8 us (0.89x) | 6.8 -> 6.4 us (1.06x), 117 -> 124 % **faster** |", out)
        self.assertIn("faster in 1 of 2 cells. With the faster of the two in each: 0 of these cells slower than "
                      "torch.compile, 0 under 90 % of copy at T >= 2048.", out)
        self.assertNotIn("persistent form", report(RUN))

    def test_an_experiment_is_set_against_its_kernel(self):
        run = RUN + (
            "silu_and_mul_d8192_bf16_divfull_s8 T=1: result max 1 (0.01 % differ), torch.compile vs eager max 0; 1.4 us, "
            "22 GB/s (1 % of copy); eager 19.0 us, torch.compile 1.4 us [5 s]\n")
        out = report(run)
        self.assertNotIn("`silu_and_mul_d8192_bf16_divfull`", out)
        self.assertIn("Slower than torch.compile: 1 of 4;", out)
        self.assertIn("| kernel (experiment: div.full.f32 in SiLU) |", out)
        self.assertIn("| `silu_and_mul_d8192_bf16` | 2.1 -> 1.4 us (1.50x) **faster** |  |", out)
        self.assertIn("Cells: us div.rn.f32 -> us experiment: div.full.f32 in SiLU (speed-up)", out)
        self.assertIn("faster in 1 of 1 cells. With the faster of the two in each: 0 of these cells slower", out)

    def test_the_fast_path_division_is_set_against_its_kernel(self):
        run = RUN + (
            "silu_and_mul_d8192_bf16_fdiv_s8 T=1: result max 1 (0.01 % differ), the bytes of silu_and_mul_d8192_bf16_s8 "
            "(8192 a patterns), torch.compile vs eager max 0; 1.5 us, 20 GB/s (1 % of copy); eager 19.0 us, "
            "torch.compile 1.4 us [5 s]\n")
        out = report(run)
        self.assertNotIn("`silu_and_mul_d8192_bf16_fdiv`", out)
        self.assertIn("| kernel (fast-path division) |", out)
        self.assertIn("| `silu_and_mul_d8192_bf16` | 2.1 -> 1.5 us (1.40x) **faster** |  |", out)
        self.assertIn("Cells: us div.rn.f32 a lane -> us fast-path division (speed-up)", out)
        self.assertIn("With the faster of the two in each: 1 of these cells slower than torch.compile", out)


if __name__ == "__main__":
    unittest.main()
