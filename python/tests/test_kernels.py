"""vllm_opt.kernels on manifests vllm-opt writes, with fake tensors and a
recording launcher (no GPU, torch or cupy needed)."""
import ctypes
import os
import shutil
import struct
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

    def __init__(self, dtype, numel, contiguous=True, offset=0, shape=None, stride=None):
        self.dtype = "torch." + dtype
        self._numel = numel
        self._contiguous = contiguous
        self.shape = shape or (numel,)
        self._stride = stride or (1,)
        self.zeroed = 0
        FakeTensor.next_ptr += 0x1000
        self.ptr = FakeTensor.next_ptr + offset

    def numel(self):
        return self._numel

    def dim(self):
        return len(self.shape)

    def stride(self):
        return self._stride

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
        # Parameters in the manifest's order: the buffers, the input's row stride
        # (contiguous: the hidden size), then epsilon by value.
        self.assertEqual(args, [("ptr", t["result"].ptr), ("ptr", t["input"].ptr), ("i64", 4096), ("ptr", t["weight"].ptr),
                                ("ptr", t["scale"].ptr), ("f32", 1e-6)])

    def test_wrong_buffers_are_errors_that_name_the_parameter(self):
        ks, launches = emit("emit-kernels-quant.mlir")
        k = ks.find("vllm.static_scaled_fp8_quant", hidden=4096, dtype="bf16")
        good = {"result": FakeTensor("float8_e4m3fn", 8 * 4096), "input": FakeTensor("bfloat16", 8 * 4096),
                "scale": FakeTensor("float32", 1)}
        cases = [
            ({**good, "input": FakeTensor("float16", 8 * 4096)}, "'input' is torch.float16"),
            ({**good, "result": FakeTensor("float8_e4m3fn", 7 * 4096)}, "'result' has 28672 elements, 32768 expected"),
            ({**good, "input": FakeTensor("bfloat16", 8 * 4096, contiguous=False)}, "'input' rows are not equally spaced"),
            ({**good, "result": FakeTensor("float8_e4m3fn", 8 * 4096, contiguous=False)}, "'result' is not contiguous"),
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

    def test_column_major_scales_may_be_vllms_strided_view(self):
        # vLLM hands the kernel its logical [T, G] scales: strides (1, T), or (1, round_up(T, 4)) for TMA.
        ks, launches = emit("emit-kernels-per-group-main.mlir")
        for name, rows in (("per_token_group_fp8_quant_g128_h4096_bf16_colmajor", 18),
                           ("per_token_group_fp8_quant_g128_h4096_bf16_colmajor_tma", 20)):
            k = next(x for x in ks.kernels if x.name == name)
            t = {"input": FakeTensor("bfloat16", 18 * 4096), "output_q": FakeTensor("float8_e4m3fn", 18 * 4096)}
            view = FakeTensor("float32", 18 * 32, contiguous=False, shape=(18, 32), stride=(1, rows))
            k(18, **t, output_s=view)
            self.assertEqual(launches[-1][3][2], ("ptr", view.ptr))
            # The kernel's own layout, [G, rows] contiguous, fits too.
            k(18, **t, output_s=FakeTensor("float32", 32 * rows, shape=(32, rows), stride=(rows, 1)))
            # Another padding, or row-major scales, do not.
            for stride in ((1, rows + 4), (32, 1)):
                with self.assertRaises(ValueError) as e:
                    k(18, **t, output_s=FakeTensor("float32", 18 * 32, contiguous=stride == (32, 1), shape=(18, 32),
                                                   stride=stride))
                self.assertIn("'output_s'", str(e.exception))

    def test_norms_take_input_rows_as_far_apart_as_they_lie(self):
        # vLLM's norms read input.stride(-2) (e.g. DeepSeek's q_c, a slice of a fused projection).
        ks, launches = emit("emit-kernels-sizes.mlir")
        k = ks.find("vllm.rms_norm", hidden=8192, dtype="bf16", num_tokens=8)
        self.assertEqual([(p["name"], p["kind"]) for p in k.params][1:3], [("input", "ptr"), ("input_stride", "i64")])
        t = {"result": FakeTensor("bfloat16", 8 * 8192), "weight": FakeTensor("bfloat16", 8192)}
        views = [
            (FakeTensor("bfloat16", 8 * 8192), 8192),  # contiguous
            (FakeTensor("bfloat16", 8 * 8192, contiguous=False, shape=(8, 8192), stride=(8256, 1)), 8256),
            (FakeTensor("bfloat16", 8 * 8192, contiguous=False, shape=(2, 4, 8192), stride=(4 * 8256, 8256, 1)), 8256),
            # A dimension of size 1 may have any stride.
            (FakeTensor("bfloat16", 8 * 8192, contiguous=False, shape=(8, 1, 8192), stride=(8256, 7, 1)), 8256),
        ]
        for x, stride in views:
            k(8, 1e-6, input=x, **t)
            self.assertEqual(launches[-1][3][2], ("i64", stride))
        bad = [
            (FakeTensor("bfloat16", 8 * 8192, contiguous=False, shape=(8, 8192), stride=(8196, 1)),
             "rows are 8196 elements apart, not a multiple of 8"),
            (FakeTensor("bfloat16", 8 * 8192, contiguous=False, shape=(2, 4, 8192), stride=(5 * 8256, 8256, 1)),
             "not equally spaced"),
            (FakeTensor("bfloat16", 8 * 8192, contiguous=False, shape=(8, 8192), stride=(16384, 2)), "not equally spaced"),
            (FakeTensor("bfloat16", 8 * 8192, contiguous=False, shape=(8, 8192), stride=(4096, 1)), "not equally spaced"),
        ]
        for x, message in bad:
            with self.assertRaises(ValueError) as e:
                k(8, 1e-6, input=x, **t)
            self.assertIn("'input'", str(e.exception))
            self.assertIn(message, str(e.exception))
        # A kernel without the parameter still needs contiguous rows.
        silu = ks.find("vllm.silu_and_mul", hidden=8192, dtype="bf16", num_tokens=8)
        x = FakeTensor("bfloat16", 8 * 16384, contiguous=False, shape=(8, 16384), stride=(16448, 1))
        with self.assertRaises(ValueError) as e:
            silu(8, result=FakeTensor("bfloat16", 8 * 8192), input=x)
        self.assertIn("'input' is not contiguous", str(e.exception))

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
        self.assertEqual(launches[0][3], [("ptr", t["input"].ptr), ("i64", 4096), ("ptr", t["scale"].ptr)])
        self.assertEqual(launches[1][3], [("ptr", t["result"].ptr), ("ptr", t["input"].ptr), ("i64", 4096), ("ptr", t["scale"].ptr)])

    def test_each_token_count_runs_the_static_quant_compiled_for_it(self):
        # Only 16 tokens: the static quant is split over CTAs there, and the
        # manifest has no other (before, the max kernel named one it lacked).
        ks, launches = emit("emit-kernels-persistent-max.mlir", "--runtime-shape", "16")
        k = ks.find("vllm.dynamic_scaled_fp8_quant", hidden=4096, dtype="bf16", num_tokens=16)
        t = {"result": FakeTensor("float8_e4m3fn", 16 * 4096), "input": FakeTensor("bfloat16", 16 * 4096),
             "scale": FakeTensor("float32", 1)}
        k(16, **t)
        self.assertEqual([(name, grid) for name, grid, *_ in launches],
                         [("dynamic_scaled_fp8_quant_max_h4096_bf16", (16, 1, 1)),
                          ("static_scaled_fp8_quant_h4096_bf16_s4", (64, 1, 1))])
        # 16 and 4096 tokens, persistent: each context's own pair.
        ks, launches = emit("emit-kernels-persistent-max.mlir", "--compile-sizes", "16,4096", "--persistent-kernels")
        many = ks.find("vllm.dynamic_scaled_fp8_quant", hidden=4096, dtype="bf16", num_tokens=4096)
        self.assertEqual(many.then_kernel(4096).name, "static_scaled_fp8_quant_h4096_bf16")
        few = ks.find("vllm.dynamic_scaled_fp8_quant", hidden=4096, dtype="bf16", num_tokens=16)
        self.assertEqual(few.then_kernel(16).name, "static_scaled_fp8_quant_h4096_bf16_s4")
        self.assertIsNone(ks.find("vllm.static_scaled_fp8_quant", hidden=4096, dtype="bf16", num_tokens=16).then_kernel(16))

    def test_a_split_kernel_launches_its_ctas_per_row(self):
        ks, launches = emit("emit-kernels-sizes.mlir", "--compile-sizes", "1,4096")
        few = ks.find("vllm.silu_and_mul", hidden=8192, dtype="bf16", num_tokens=1)
        many = ks.find("vllm.silu_and_mul", hidden=8192, dtype="bf16", num_tokens=4096)
        self.assertEqual((few.name, few.ctas_per_row, many.ctas_per_row), ("silu_and_mul_d8192_bf16_s8", 8, 1))
        few(1, result=FakeTensor("bfloat16", 8192), input=FakeTensor("bfloat16", 2 * 8192))
        many(4096, result=FakeTensor("bfloat16", 4096 * 8192), input=FakeTensor("bfloat16", 4096 * 2 * 8192))
        # 8 CTAs of 128 threads for the one row; one CTA a row of the block for many rows.
        self.assertEqual([(name, grid, block) for name, grid, block, *_ in launches],
                         [(few.name, (8, 1, 1), (128, 1, 1)), (many.name, (4096, 1, 1), (256, 1, 1))])
        # Token counts no context lists take the manifest's step table: the
        # loop kernel's block is 1024 threads below 256 tokens, 256 from there.
        self.assertEqual([many.block(n) for n in (1, 255, 256, 100000)], [1024, 1024, 256, 256])

    def test_a_persistent_kernel_takes_its_rows_and_at_most_the_resident_ctas(self):
        ks, launches = emit("emit-kernels-persistent.mlir", "--compile-sizes", "16,4096", "--persistent-kernels")
        k = ks.find("vllm.rms_norm_dynamic_per_token_quant", hidden=4096, dtype="bf16", num_tokens=4096, residual=False)
        self.assertEqual((k.name, k.persistent), ("rms_norm_dynamic_per_token_quant_h4096_bf16_p", True))
        t = {"result": FakeTensor("float8_e4m3fn", 4096 * 4096), "input": FakeTensor("bfloat16", 4096 * 4096),
             "weight": FakeTensor("bfloat16", 4096), "scale": FakeTensor("float32", 4096)}
        # A launcher that cannot say how many CTAs fit: one a row (correct, not persistent).
        k(4096, 1e-6, **t)
        # One that can (the cupy launcher asks the occupancy API): at most that many.
        ks.launcher.resident_ctas = lambda kernel, block: 132 * 8 if block == 128 else 0
        k(4096, 1e-6, **t)
        k(100, 1e-6, **{**t, "result": FakeTensor("float8_e4m3fn", 100 * 4096), "input": FakeTensor("bfloat16", 100 * 4096),
                        "scale": FakeTensor("float32", 100)})
        self.assertEqual([grid for _, grid, *_ in launches], [(4096, 1, 1), (1056, 1, 1), (100, 1, 1)])
        # The row count goes last, by value.
        self.assertEqual([args[-1] for *_, args, _ in launches], [("i32", 4096), ("i32", 4096), ("i32", 100)])
        self.assertEqual(launches[0][3][5], ("f32", 1e-6))
        # 16 tokens keep the kernel of their block (one CTA a row).
        few = ks.find("vllm.rms_norm_dynamic_per_token_quant", hidden=4096, dtype="bf16", num_tokens=16, residual=False)
        self.assertEqual((few.name, few.persistent, few.grid(16, 1056)), ("rms_norm_dynamic_per_token_quant_h4096_bf16_b512", False, 16))

    def test_qk_norm_rope_buffers_follow_the_manifest(self):
        # The manifest gives each buffer's elements (per token and fixed): the
        # head layout's rows, one head of weights, the cache, a position a token.
        ks, launches = emit("emit-kernels-qk-norm-rope.mlir", "--compile-sizes", "1,4096")
        k = next(x for x in ks.kernels if x.name == "fused_qk_norm_rope_q32k8v8_d128_neox_bf16_pos40960")
        sizes = {p["name"]: k.elements(p["name"], 10) for p in k.params if p["kind"] == "ptr"}
        self.assertEqual(sizes, {"qkv": 61440, "q_weight": 128, "k_weight": 128, "cos_sin_cache": 40960 * 128,
                                 "position_ids": 10})
        self.assertEqual((k.block(10), k.launch_grid(10, k.block(10))[0]), (256, 50))

    def test_an_op_without_a_generated_kernel_says_so(self):
        ks, _ = emit("emit-kernels-none.mlir")
        self.assertEqual(ks.not_generated, {"vllm.per_token_group_fp8_quant": 1, "vllm.rms_norm": 2,
                                            "vllm.static_scaled_fp8_quant": 3})
        with self.assertRaisesRegex(KeyError, "no kernel was generated for vllm.rms_norm .2 sites"):
            ks.find("vllm.rms_norm_", 4095, "bf16")

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



class FakeCuda:
    """Stand-ins for the parts of torch and cupy the cupy launcher uses, as
    modules: what it loads, launches and asks (a GPU machine runs the real
    ones; this checks the calls before a device session spends its minutes)."""

    def __init__(self, per_sm=6, occupancy_error=None):
        import types

        self.loaded, self.launches, self.queries = [], [], []
        fake = self

        class Ctx:
            def __init__(self, *a):
                pass

            def __enter__(self):
                return self

            def __exit__(self, *a):
                return False

        class Function:
            def __init__(self, path, name):
                self.ptr = hash((path, name)) & 0xFFFF

            def __call__(self, grid, block, args):
                fake.launches.append((grid, block, args))

        class RawModule:
            def __init__(self, path):
                self.path = path
                fake.loaded.append(os.path.basename(path))

            def get_function(self, name):
                return Function(self.path, name)

        def occupancy(ptr, block, smem):
            fake.queries.append((ptr, block, smem))
            if occupancy_error:
                raise occupancy_error
            return per_sm

        cupy = types.ModuleType("cupy")
        cupy.RawModule = RawModule
        cupy.uint64 = lambda a: ("u64", a)
        cupy.float32 = lambda a: ("f32", a)
        cupy.int32 = lambda a: ("i32", a)
        cupy.int64 = lambda a: ("i64", a)
        cupy.cuda = types.SimpleNamespace(Device=Ctx, ExternalStream=Ctx,
                                          driver=types.SimpleNamespace(occupancyMaxActiveBlocksPerMultiprocessor=occupancy))
        torch = types.ModuleType("torch")
        torch.cuda = types.SimpleNamespace(
            current_device=lambda: 0,
            current_stream=lambda: types.SimpleNamespace(cuda_stream=99),
            get_device_properties=lambda d: types.SimpleNamespace(multi_processor_count=132))
        self.modules = {"cupy": cupy, "torch": torch}

    def __enter__(self):
        self.saved = {k: sys.modules.get(k) for k in self.modules}
        sys.modules.update(self.modules)
        return self

    def __exit__(self, *a):
        for k, v in self.saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        return False


@unittest.skipUnless(os.environ.get("VLLM_OPT"), "set VLLM_OPT to the vllm-opt binary")
class CupyLauncherTest(unittest.TestCase):
    """kernels.cupy_launcher, the one gpu-check and VllmOptPass users launch
    with, against stand-in torch and cupy modules."""

    def persistent_kernel(self):
        ks, _ = emit("emit-kernels-persistent.mlir", "--compile-sizes", "16,4096", "--persistent-kernels")
        ks = kernels.load(ks.folder)  # the default launcher: cupy's
        k = ks.find("vllm.rms_norm_dynamic_per_token_quant", hidden=4096, dtype="bf16", num_tokens=4096, residual=False)
        t = {"result": FakeTensor("float8_e4m3fn", 4096 * 4096), "input": FakeTensor("bfloat16", 4096 * 4096),
             "weight": FakeTensor("bfloat16", 4096), "scale": FakeTensor("float32", 4096)}
        return k, t

    def test_a_persistent_launch_asks_the_occupancy_once_and_passes_the_rows(self):
        with FakeCuda(per_sm=6) as cuda:
            k, t = self.persistent_kernel()
            k(4096, 1e-6, **t)
            k(4096, 1e-6, **t)
        # 6 CTAs of 128 threads a SM, 132 SMs; asked once, the PTX loaded once.
        self.assertEqual(len(cuda.queries), 1)
        self.assertEqual(cuda.queries[0][1:], (128, 0))
        self.assertEqual(cuda.loaded, ["rms_norm_dynamic_per_token_quant_h4096_bf16_p.ptx"])
        grid, block, args = cuda.launches[0]
        self.assertEqual((grid, block), ((792, 1, 1), (128, 1, 1)))
        self.assertEqual(args, (("u64", t["result"].ptr), ("u64", t["input"].ptr), ("i64", 4096), ("u64", t["weight"].ptr),
                                ("u64", t["scale"].ptr), ("f32", 1e-6), ("i32", 4096)))

    def test_without_the_occupancy_a_persistent_kernel_takes_a_cta_a_row(self):
        with FakeCuda(occupancy_error=RuntimeError("no occupancy here")) as cuda:
            k, t = self.persistent_kernel()
            with self.assertWarns(UserWarning):
                k(4096, 1e-6, **t)
        self.assertEqual(cuda.launches[0][0], (4096, 1, 1))


class HostTensor:
    """A contiguous host buffer of 16-bit or 8-bit elements, as the launcher reads a CPU tensor."""

    SIZE = {"bfloat16": 2, "float16": 2, "float32": 4, "float8_e4m3fn": 1, "int8": 1}

    def __init__(self, dtype, values, fill=None):
        self.dtype = "torch." + dtype
        width = self.SIZE[dtype]
        self.buf = (ctypes.c_uint8 * (width * len(values)))()
        fmt = {1: "B", 2: "H", 4: "I"}[width]
        struct.pack_into(f"<{len(values)}{fmt}", self.buf, 0, *values)
        self.width, self.fmt = width, fmt

    def numel(self):
        return len(self.buf) // self.width

    def is_contiguous(self):
        return True

    def data_ptr(self):
        return ctypes.addressof(self.buf)

    def zero_(self):
        ctypes.memset(self.buf, 0, len(self.buf))

    def values(self):
        return list(struct.unpack_from(f"<{len(self.buf) // self.width}{self.fmt}", self.buf))


class HostRows(HostTensor):
    """`rows` rows of `h` elements, `stride` apart in `values` (a slice of a wider tensor's last dimension)."""

    def __init__(self, dtype, values, rows, h, stride):
        super().__init__(dtype, values)
        self.shape, self._stride = (rows, h), (stride, 1)

    def numel(self):
        return self.shape[0] * self.shape[1]

    def is_contiguous(self):
        return False

    def stride(self):
        return self._stride


@unittest.skipUnless(os.environ.get("VLLM_OPT") and os.environ.get("PTX_SIM"),
                     "set VLLM_OPT and PTX_SIM to the vllm-opt and ptx-sim binaries")
class SimulatorLauncherTest(unittest.TestCase):
    """kernels.simulator_launcher (gpu-check --simulate) runs emitted PTX
    through ptx-sim on host memory and copies what the kernel wrote back."""

    def simulated(self, test_file, *flags):
        ks, _ = emit(test_file, *flags)
        return kernels.load(ks.folder, kernels.simulator_launcher(ks.folder, os.environ["PTX_SIM"]))

    def test_rms_norm_writes_every_element_of_every_row(self):
        ks = self.simulated("emit-kernels-sizes.mlir")
        k = ks.find("vllm.rms_norm", hidden=8192, dtype="bf16", num_tokens=2)
        # Row 0 all 2.0, row 1 zeros; weight 0.5; the result starts as NaNs.
        x = HostTensor("bfloat16", [0x4000] * 8192 + [0] * 8192)
        w = HostTensor("bfloat16", [0x3F00] * 8192)
        out = HostTensor("bfloat16", [0x7FC0] * 2 * 8192)
        k(2, 1e-6, result=out, input=x, weight=w)
        # bf16(bf16(2 * rsqrt(4 + eps)) * 0.5) = 0.5; a zero row stays zero.
        self.assertEqual(out.values(), [0x3F00] * 8192 + [0] * 8192)
        self.assertEqual(x.values(), [0x4000] * 8192 + [0] * 8192)

    def test_rms_norm_reads_rows_of_a_wider_tensor(self):
        ks = self.simulated("emit-kernels-sizes.mlir")
        k = ks.find("vllm.rms_norm", hidden=8192, dtype="bf16", num_tokens=2)
        # Rows 8192 + 64 apart; between them NaN, which a read would spread over the row.
        gap = [0x7FC0] * 64
        x = HostRows("bfloat16", [0x4000] * 8192 + gap + [0] * 8192, rows=2, h=8192, stride=8256)
        w = HostTensor("bfloat16", [0x3F00] * 8192)
        out = HostTensor("bfloat16", [0x7FC0] * 2 * 8192)
        k(2, 1e-6, result=out, input=x, weight=w)
        self.assertEqual(out.values(), [0x3F00] * 8192 + [0] * 8192)
        self.assertEqual(x.values(), [0x4000] * 8192 + gap + [0] * 8192)

    def test_a_persistent_kernel_walks_every_row(self):
        ks = self.simulated("emit-kernels-persistent.mlir", "--compile-sizes", "16,4096", "--persistent-kernels")
        k = ks.find("vllm.rms_norm_dynamic_per_token_quant", hidden=4096, dtype="bf16", num_tokens=4096, residual=False)
        self.assertTrue(k.persistent)
        # 7 rows over the simulated GPU's 5 CTAs: two CTAs take two rows.
        # Row i is all 2^(i-1): a power of two normalizes exactly to 1.0,
        # so every row's scale is 1/448 and every code 448 (e4m3 0x7E).
        rows = 7
        values = [0x3F00, 0x3F80, 0x4000, 0x4080, 0x4100, 0x4180, 0x4200]  # 0.5, 1, 2, ..., 32
        x = HostTensor("bfloat16", [v for v in values for _ in range(4096)])
        w = HostTensor("bfloat16", [0x3F80] * 4096)
        q = HostTensor("float8_e4m3fn", [0] * rows * 4096)
        s = HostTensor("float32", [0] * rows)
        k(rows, 1e-30, result=q, input=x, weight=w, scale=s)
        self.assertEqual(q.values(), [0x7E] * rows * 4096)
        self.assertEqual(s.values(), [0x3B124925] * rows)  # 1/448 in f32: every row scaled

    def test_per_tensor_quant_runs_its_two_kernels_on_a_zeroed_scale(self):
        ks = self.simulated("emit-kernels-quant.mlir")
        k = ks.find("vllm.dynamic_scaled_fp8_quant", hidden=4096, dtype="bf16")
        # amax 224 gives scale 224 / 448 = 0.5; 224 * (1 / 0.5) = 448 is e4m3 0x7e, -0.5 is 0xb8.
        x = HostTensor("bfloat16", ([0x4360] + [0xBF00] * 4095) * 3)
        scale = HostTensor("float32", [0x7F800000])  # +inf: the max kernel must start from zero
        q = HostTensor("float8_e4m3fn", [0] * 3 * 4096)
        k(3, result=q, input=x, scale=scale)
        self.assertEqual(scale.values(), [0x3F000000])
        self.assertEqual(q.values(), ([0x7E] + [0xB8] * 4095) * 3)

    def test_a_simulator_error_names_the_kernel(self):
        ks = self.simulated("emit-kernels-quant.mlir")
        k = ks.find("vllm.static_scaled_fp8_quant", hidden=4096, dtype="bf16")
        k.name = "not_in_the_ptx"
        t = {"result": HostTensor("float8_e4m3fn", [0] * 4096), "input": HostTensor("bfloat16", [0] * 4096),
             "scale": HostTensor("float32", [0x3F800000])}
        with self.assertRaises(RuntimeError) as e:
            k(1, **t)
        self.assertIn("not_in_the_ptx", str(e.exception))
        self.assertIn("no .entry not_in_the_ptx", str(e.exception))
        self.assertEqual(t["result"].values(), [0] * 4096)


if __name__ == "__main__":
    unittest.main()
