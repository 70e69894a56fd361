"""Load and launch the CUDA kernels `vllm-opt --emit-kernels DIR` wrote.

    from vllm_opt import kernels
    ks = kernels.load("kernels/")                      # reads DIR/manifest.json
    k = ks.find("vllm.rms_norm_static_fp8_quant", hidden=4096, dtype="bf16", num_tokens=T)
    k(num_tokens=T, epsilon=1e-6, result=q, input=x, weight=w, scale=s)

The manifest is the ABI: each kernel's parameters in launch order (name,
pointer, f32 scalar (epsilon), i32 scalar (num_tokens) or i64 scalar
(`input_stride`: the norms take input rows that far apart, as vLLM's,
e.g. a row of a wider tensor; the launcher passes the input's row stride),
element type, read/write), its block per shape context, and for the per-tensor dynamic
quant a second kernel (each launch's `then`: the static quant as compiled for
that shape context) and the buffers to zero first. A
`persistent` kernel (`vllm-opt --persistent-kernels`) is launched with at
most the CTAs the GPU holds at once (`resident_ctas`: the occupancy API's
CTAs per SM times the SMs) and walks its rows itself. `Kernel.__call__` checks every tensor against it
(dtype, element count, contiguity, or rows equally spaced where the kernel
takes an `input_stride`) and raises `ValueError` naming the
parameter, so a wrong buffer is an error, not memory corruption.

Nothing but the standard library is imported here; cupy (the launcher) is
imported at the first launch, and torch by `make_inputs` (test buffers for
a kernel), so the ABI logic runs, and is tested, without a GPU or torch.
scripts/gpu-check and scripts/diff-kernels build on this module.
"""
import json
import os

# Bytes per element of each manifest element type.
SIZE = {"f8E4M3FN": 1, "i8": 1, "f32": 4, "bf16": 2, "f16": 2, "i64": 8}

# The torch dtype each manifest element type must have.
TORCH_DTYPE = {
    "f8E4M3FN": "torch.float8_e4m3fn",
    "i8": "torch.int8",
    "f32": "torch.float32",
    "bf16": "torch.bfloat16",
    "f16": "torch.float16",
    "i64": "torch.int64",
}

PER_TOKEN_SCALE = ("vllm.rms_norm_dynamic_per_token_quant", "vllm.dynamic_per_token_scaled_fp8_quant")


def cupy_launcher(folder):
    """Launches through the driver: cupy.RawModule (cuModuleLoadData), on
    `stream` (a CUDA stream handle) or else torch's current stream and
    device, so the kernel is ordered with the torch work around it."""
    import warnings

    import cupy as cp

    # cupy 14 deprecates ExternalStream for Stream.from_external; the former
    # still works on every cupy the GPU machines have (13, 14).
    warnings.filterwarnings("ignore", message="ExternalStream is deprecated", category=DeprecationWarning)
    modules = {}

    def launch(kernel, grid, block, args, stream=None):
        import torch

        device = torch.cuda.current_device()
        if stream is None:
            stream = torch.cuda.current_stream().cuda_stream
        with cp.cuda.Device(device), cp.cuda.ExternalStream(stream):
            function(kernel, device)(grid, block, tuple(CUPY_SCALAR[kind](a) for kind, a in args))

    def function(kernel, device):
        """The kernel's function, its PTX loaded once per device."""
        key = (device, kernel.file)
        if key not in modules:
            with cp.cuda.Device(device):
                modules[key] = cp.RawModule(path=os.path.join(folder, kernel.file))
        return modules[key].get_function(kernel.name)

    resident = {}

    def resident_ctas(kernel, block):
        """CTAs of `kernel` (with `block` threads) the GPU holds at once;
        asked once per device, kernel and block (launches, e.g. during CUDA
        graph capture, only look it up)."""
        import torch

        key = (torch.cuda.current_device(), kernel.file, kernel.name, block)
        if key not in resident:
            resident[key] = occupancy(kernel, block)
        return resident[key]

    def occupancy(kernel, block):
        import torch

        device = torch.cuda.current_device()
        fn = function(kernel, device)
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        try:  # cuOccupancyMaxActiveBlocksPerMultiprocessor (no dynamic shared memory)
            with cp.cuda.Device(device):
                per_sm = cp.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(fn.ptr, block, 0)
        except Exception as e:  # noqa: BLE001 - a launch one CTA a row is still correct
            warnings.warn(f"{kernel.name}: occupancy unknown ({e}); launching one CTA a row")
            return None
        return max(1, per_sm) * sms

    launch.resident_ctas = resident_ctas
    return launch


# How each scalar kind goes to cupy's launch.
CUPY_SCALAR = {"ptr": lambda a: __import__("cupy").uint64(a), "f32": lambda a: __import__("cupy").float32(a),
               "i32": lambda a: __import__("cupy").int32(a), "i64": lambda a: __import__("cupy").int64(a)}


def simulator_launcher(folder, binary):
    """Launches on the CPU through `binary`, the `ptx-sim` program
    (crates/vllm-opt/src/bin/ptx-sim.rs, over crates/ptx-sim): every thread
    of every CTA of the grid, on copies of the buffers, which are copied
    back after the launch. Pointers must be host addresses (CPU tensors'
    data_ptr()); each buffer's size comes from the manifest for the grid's
    rows (grid[0] / ctas_per_row). scripts/gpu-check --simulate runs
    through it."""
    import ctypes
    import struct
    import subprocess
    import tempfile

    def launch(kernel, grid, block, args, stream=None):
        # A persistent kernel's grid is not its rows: it takes them (num_tokens).
        counts = [value for kind, value in args if kind == "i32"]
        rows = counts[0] if counts else grid[0] // kernel.ctas_per_row
        strides = [value for kind, value in args if kind == "i64"]
        with tempfile.TemporaryDirectory() as tmp:
            argv, bufs = [], []
            for p, (kind, value) in zip(kernel.params, args):
                if kind in ("i32", "i64"):
                    argv.append(f"{kind}:{int(value)}")
                    continue
                if kind != "ptr":
                    # The f32 the GPU would get, written exactly.
                    argv.append(f"f32:{struct.unpack('f', struct.pack('f', value))[0]!r}")
                    continue
                size = kernel.elements(p["name"], rows) * SIZE[p["elem"]]
                if p["name"] == "input" and strides and rows:
                    # Strided rows: the buffer spans to the last row's end.
                    size = ((rows - 1) * strides[0] + kernel.hidden) * SIZE[p["elem"]]
                path = os.path.join(tmp, p["name"])
                with open(path, "wb") as f:
                    f.write(ctypes.string_at(value, size))
                argv.append("buf:" + path)
                bufs.append((path, value, size))
            cmd = [binary, os.path.join(folder, kernel.file), kernel.name, str(grid[0]), str(block[0]), *argv]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{kernel.name}: {done.stderr.strip()}")
            for path, address, size in bufs:
                with open(path, "rb") as f:
                    ctypes.memmove(address, f.read(size), size)

    # As if the GPU held 5 CTAs: a persistent kernel's CTAs then walk several rows.
    launch.resident_ctas = lambda kernel, block: SIMULATED_RESIDENT_CTAS
    return launch


# The CTAs a simulated GPU holds at once (tests/all/kernels.rs simulates the same).
SIMULATED_RESIDENT_CTAS = 5


class Kernel:
    """One manifest entry."""

    def __init__(self, entry, kernel_set):
        self.entry = entry
        self.set = kernel_set
        self.name = entry["name"]
        self.file = entry["file"]
        self.op = entry["implements"]
        self.hidden = entry["hidden"]
        self.dtype = entry["dtype"]
        self.params = entry["params"]

    def __repr__(self):
        return f"Kernel({self.name})"

    @property
    def ctas_per_row(self):
        """CTAs each row is split over (Kernel::ctas_per_row in crates/codegen)."""
        return self.entry.get("ctas_per_row", 1)

    @property
    def persistent(self):
        """Launched with at most the resident CTAs, each walking rows (Kernel::persistent in crates/codegen)."""
        return self.entry.get("persistent", False)

    def grid(self, n, resident=None):
        """CTAs (in x) for n rows; a persistent kernel's with `resident`
        CTAs held at once is at most that many (one a row without it)."""
        if self.persistent and resident:
            return max(1, min(n, resident))
        return n * self.ctas_per_row

    def args(self, n, tensors, epsilon):
        """The launch arguments for n rows, in parameter order: ("ptr",
        address), ("f32", epsilon), ("i32", n) or ("i64", the input's row
        stride)."""
        args = []
        for p in self.params:
            if p["kind"] == "ptr":
                args.append(("ptr", tensors[p["name"]].data_ptr()))
            elif p["kind"] == "i32":
                args.append(("i32", n))
            elif p["kind"] == "i64":
                args.append(("i64", self.input_stride(tensors["input"], n)))
            else:
                if epsilon is None:
                    raise ValueError(f"{self.name}: no value for scalar '{p['name']}'")
                args.append(("f32", float(epsilon)))
        return args

    def launch_grid(self, n, block):
        """The grid for n rows as launched by this set's launcher."""
        return (self.grid(n, self.set.resident_ctas(self, block) if self.persistent else None), 1, 1)

    @property
    def is_silu(self):
        return self.op.startswith("vllm.silu_and_mul")

    def contexts(self):
        """The token counts the manifest launches it for (None: symbolic)."""
        return [None if c["num_tokens"] == "symbolic" else c["num_tokens"] for c in self.entry["launch"]]

    def elements(self, name, n):
        """Elements of parameter `name` for n rows: the manifest's
        `per_token * n + fixed` (Kernel::elements in crates/codegen); for
        manifests without it, the rule Kernel::bytes had for their kinds."""
        given = next((p.get("elements") for p in self.params if p["name"] == name), None)
        if given:
            # TMA-padded scales: rows rounded up to a multiple (`tokens_multiple_of`).
            m = given.get("tokens_multiple_of", 1)
            return given["per_token"] * (-(-n // m) * m) + given["fixed"]
        h, g = self.hidden, self.entry.get("group_size")
        if name == "weight":
            return h
        if name == "scale_ub":
            return 1
        if name in ("scale", "scales", "output_s"):
            if g:
                return n * h // g
            return n if self.op in PER_TOKEN_SCALE else 1
        if name == "input" and self.is_silu:
            return 2 * n * h
        return n * h

    def block(self, n):
        """Threads per row for n tokens: the manifest's step table
        (`block_by_tokens`: from that many tokens on, that block), which
        Kernel::block in crates/codegen writes."""
        return [b for t, b in self.entry["block_by_tokens"] if n >= t][-1]

    def alignment(self, p):
        """Bytes a buffer's address must be a multiple of (the manifest's
        `align`: the kernel moves 16 bytes of bf16 or 8 of FP8 at once)."""
        return p["align"]

    def bytes_moved(self, n):
        """Bytes read plus bytes written (a buffer read and written counts twice);
        the manifest's `bytes_moved` (per token and fixed) where a kernel touches
        less than its buffers (fused_qk_norm_rope: not the value heads, only the
        cache rows of its positions)."""
        given = self.entry.get("bytes_moved")
        if given:
            return given["per_token"] * n + given["fixed"]
        total = 0
        for p in self.params:
            if p["kind"] == "ptr":
                size = self.elements(p["name"], n) * SIZE[p["elem"]]
                total += size * (int("write" in p["access"]) + int("read" in p["access"]))
        return total

    @property
    def takes_input_stride(self):
        """True for the kernels that read input rows `input_stride` apart (the norms, as vLLM's)."""
        return any(p["name"] == "input_stride" for p in self.params)

    def input_stride(self, t, n):
        """Elements between the starts of `t`'s n rows of `hidden` when they
        are equally spaced with contiguous elements (a contiguous tensor, or a
        slice of a wider one's last dimension, as DeepSeek's `q_c`), else
        None. A tensor of any rank is taken as its rows."""
        h = self.hidden
        if t.is_contiguous():
            return h
        shape, stride = tuple(t.shape), tuple(t.stride())
        if not shape or shape[-1] != h or (h > 1 and stride[-1] != 1):
            return None
        # The leading dimensions that step (a dimension of size 1 never does),
        # innermost first: the first steps over one row, each next one over
        # all the rows inside it.
        steps = [(size, step) for size, step in zip(reversed(shape[:-1]), reversed(stride[:-1])) if size > 1]
        if n <= 1 or not steps:
            return h
        row = span = steps[0][1]
        for size, step in steps:
            if step != span:
                return None
            span *= size
        return row if row >= h else None

    def column_major_scales(self, name, t, n):
        """For a per-group kernel's column-major scales given as vLLM holds them, the logical
        [n, G] tensor: whether its strides are the kernel's, (1, n) or (1, round_up(n, 4))
        TMA-padded (the manifest's `scale_layout`). None for any other tensor, which must be
        the kernel's own layout, [G, rows] contiguous."""
        layout = self.entry.get("scale_layout") or ""
        if name not in ("scale", "scales", "output_s") or not layout.startswith("column-major"):
            return None
        g = self.hidden // self.entry["group_size"]
        if not hasattr(t, "stride") or t.dim() != 2 or tuple(t.shape) != (n, g) or n == g:
            return None
        rows = -(-n // 4) * 4 if "TMA-padded" in layout else n
        stride = tuple(t.stride())
        return (n == 1 or stride[0] == 1) and (g == 1 or stride[1] == rows)

    def check(self, n, tensors):
        """Raises ValueError unless `tensors` (by parameter name) fit the ABI for n rows."""
        for p in self.params:
            if p["kind"] != "ptr":
                continue
            t = tensors.get(p["name"])
            if t is None:
                raise ValueError(f"{self.name}: no tensor for parameter '{p['name']}'")
            want = self.elements(p["name"], n)
            if str(t.dtype) != TORCH_DTYPE[p["elem"]]:
                raise ValueError(f"{self.name}: '{p['name']}' is {t.dtype}, the kernel takes {TORCH_DTYPE[p['elem']]}")
            logical = self.column_major_scales(p["name"], t, n)
            if logical is not None:
                if not logical:
                    raise ValueError(f"{self.name}: '{p['name']}' is [{n}, G] with strides {tuple(t.stride())}; the "
                                     f"kernel writes {self.entry['scale_layout']}")
            elif t.numel() != want:
                raise ValueError(f"{self.name}: '{p['name']}' has {t.numel()} elements, {want} expected for {n} tokens")
            elif p["name"] == "input" and self.takes_input_stride:
                stride = self.input_stride(t, n)
                lanes = self.entry["elements_per_thread_step"]
                if stride is None:
                    raise ValueError(f"{self.name}: 'input' rows are not equally spaced with contiguous elements "
                                     f"(shape {tuple(t.shape)}, strides {tuple(t.stride())})")
                if stride % lanes:
                    raise ValueError(f"{self.name}: 'input' rows are {stride} elements apart, not a multiple of {lanes} "
                                     "(the kernel moves whole vectors)")
            elif not t.is_contiguous():
                raise ValueError(f"{self.name}: '{p['name']}' is not contiguous")
            align = self.alignment(p)
            if t.data_ptr() % align:
                raise ValueError(f"{self.name}: '{p['name']}' at {t.data_ptr():#x} is not {align}-byte aligned "
                                 "(the kernel moves whole vectors; a sliced view may not be)")
        # A kernel with a `then` kernel takes that one's buffers too.
        then = self.then_kernel(n)
        known = {p["name"] for p in self.params + (then.params if then else [])}
        unknown = set(tensors) - known
        if unknown:
            raise ValueError(f"{self.name}: no parameter named {', '.join(sorted(unknown))}")

    def __call__(self, num_tokens, epsilon=None, stream=None, **tensors):
        """Launches it (and its `then` kernel) over num_tokens rows, on
        `stream` (a CUDA stream handle; default: torch's current stream)."""
        n = num_tokens
        self.check(n, tensors)
        if n == 0:
            return
        for name in self.entry.get("zero_before_launch", []):
            tensors[name].zero_()
        args = self.args(n, tensors, epsilon)
        block = self.block(n)
        self.set.launcher(self, self.launch_grid(n, block), (block, 1, 1), args, stream)
        then = self.then_kernel(n)
        if then is not None:
            then(n, epsilon, stream, **{p["name"]: tensors[p["name"]] for p in then.params if p["kind"] == "ptr"})

    def then_kernel(self, n):
        """The kernel to launch after this one for n rows (the per-tensor quant's
        static quant, as compiled for n's shape context: each launch names its
        own), or None."""
        launches = self.entry.get("launch", [])
        launch = next((c for c in launches if c["num_tokens"] == n), None)
        launch = launch or next((c for c in launches if c["num_tokens"] == "symbolic"), None)
        launch = launch or (launches[-1] if launches else {})
        name = launch.get("then")
        if name is None:
            return None
        if name not in self.set.by_name:
            raise ValueError(f"{self.name}: its second kernel '{name}' is not in the manifest")
        return self.set.by_name[name]


def plant_specials(kernel, x):
    """Special values in the last rows of `x`, `kernel`'s input rows (row 0
    stays as it was): spikes of +-3e4 (saturating FP8 after a norm or a
    static scale: `cvt.rn.satfinite` is the clamp's other bound), -0 (its
    sign survives the division) and a value below the 16-bit types' range;
    +-inf and NaN (an infinite row or group scale; with `scale_ub`, -inf to
    -448), except for the per-tensor quant, whose one scale an infinity
    would make infinite for every row; a row of zeros, one of -0, one
    scaled by 1e4. As many as fit."""
    import torch

    rows = x.shape[0]
    per_tensor = kernel.op.rstrip("_") == "vllm.dynamic_scaled_fp8_quant"
    plants = [
        lambda r: r[:4].copy_(torch.tensor([3e4, -3e4, -0.0, 1e-30])),
        None if per_tensor else lambda r: r[:3].copy_(torch.tensor([float("inf"), -float("inf"), float("nan")])),
        lambda r: r.fill_(0.0),
        lambda r: r.fill_(-0.0),
        lambda r: r.mul_(1e4),
    ]
    for k, plant in enumerate(plants, start=1):
        if plant is not None and rows > k:
            plant(x[-k])


def make_inputs(kernel, rows, device="cpu", generator=None, static_scale=0.05, scale_ub=2.0):
    """Buffers for a launch of `kernel` over `rows` rows, by parameter name,
    as torch tensors on `device` (drawn from `generator`, or torch's): rows
    of normal values (the input's last rows special: `plant_specials`),
    weights 1 + 0.1 * normal, a rotary cache of angles, random positions,
    the static scale (a `scale` the kernel only reads) and `scale_ub` as
    given, zeroed outputs, `[rows, n]` where they have rows. The input is
    contiguous (a strided one is the caller's view of it).
    scripts/gpu-check and scripts/diff-kernels make their launches' buffers
    here."""
    import torch

    dtypes = {e: getattr(torch, name.removeprefix("torch.")) for e, name in TORCH_DTYPE.items()}
    draw = {"device": device, "generator": generator}
    bufs = {}
    for p in kernel.params:
        if p["kind"] != "ptr":
            continue
        name, count, t = p["name"], kernel.elements(p["name"], rows), dtypes[p["elem"]]
        if name in ("weight", "q_weight", "k_weight"):
            v = 1 + 0.1 * torch.randn(count, **draw)
        elif name == "cos_sin_cache":
            # Rows [cos.., sin..] of angles, as vLLM's rotary cache holds them.
            heads = kernel.entry["heads"]
            angle = torch.rand(heads["cache_rows"], heads.get("rotary_dim", heads["head_dim"]) // 2, **draw) * 6.2831855
            v = torch.cat([angle.cos(), angle.sin()], dim=-1)
        elif name == "position_ids":
            v = torch.randint(0, kernel.entry["heads"]["cache_rows"], (rows,), **draw)
        elif name == "scale_ub":
            v = torch.full((1,), scale_ub, device=device)
        elif name == "scale" and p["access"] == "read":
            v = torch.full((1,), static_scale, device=device)
        elif name in ("input", "residual", "qkv"):
            v = torch.randn(rows, count // rows, **draw)
            if name == "input":
                plant_specials(kernel, v)
        else:  # an output: one row each, or one scale for all (per-tensor)
            v = torch.zeros((rows, count // rows) if count % rows == 0 else (count,), device=device)
        bufs[name] = v.to(t)
    return bufs


class KernelSet:
    """All kernels of one `--emit-kernels` folder."""

    def __init__(self, manifest, folder, launcher=None):
        self.arch = manifest.get("arch")
        self.folder = folder
        self.kernels = [Kernel(e, self) for e in manifest["kernels"]]
        self.by_name = {k.name: k for k in self.kernels}
        # Ops of the graph with no generated kernel (vLLM's own kernels run them), by value-form name.
        self.not_generated = {e["op"].rstrip("_"): e["sites"] for e in manifest.get("not_generated", [])}
        self._launcher = launcher

    @property
    def launcher(self):
        if self._launcher is None:
            self._launcher = cupy_launcher(self.folder)
        return self._launcher

    def resident_ctas(self, kernel, block):
        """CTAs of `kernel` the launcher's GPU holds at once (None: unknown,
        e.g. a recording launcher; a persistent kernel then gets a CTA a row)."""
        fn = getattr(self.launcher, "resident_ctas", None)
        return fn(kernel, block) if fn else None

    def find(self, op, hidden, dtype, num_tokens=None, **variant):
        """The kernel implementing `op` (value or in-place name) for rows of
        `hidden` elements of `dtype`, compiled for `num_tokens` if a shape
        context has it, else for the symbolic one. `variant` filters on
        manifest fields (e.g. group_size=128, scale_ue8m0=True), on
        parameters present (residual=True, scale_ub=False) or on the output
        type (out="i8"). Several kernels matching is an error: say which."""
        op = op.rstrip("_")
        candidates = []
        for k in self.kernels:
            if (k.op, k.hidden, k.dtype) != (op, hidden, dtype):
                continue
            names = {p["name"] for p in k.params}
            out = next((p["elem"] for p in k.params if p["name"] in ("result", "output_q")), k.dtype)

            def matches(key, v):
                if key in ("residual", "scale_ub"):
                    return (key in names) == bool(v)
                if key == "out":
                    return out == v
                return k.entry.get(key) == v

            if all(matches(key, v) for key, v in variant.items()):
                candidates.append(k)
        for wanted in (num_tokens, None):
            found = [k for k in candidates if wanted in k.contexts()]
            if len(found) > 1:
                raise KeyError(f"{len(found)} kernels for {op} hidden={hidden} {dtype} {variant}: "
                               f"{', '.join(k.name for k in found)}; pass more of residual, scale_ub, out, group_size, ...")
            if found:
                return found[0]
        if op in self.not_generated and not candidates:
            raise KeyError(f"no kernel was generated for {op} ({self.not_generated[op]} sites, the manifest's "
                           f"not_generated): vLLM's own kernel runs it")
        raise KeyError(f"no kernel for {op} hidden={hidden} {dtype} {variant} at num_tokens={num_tokens}")


def load(folder, launcher=None):
    """The kernels of an `--emit-kernels` folder (reads its manifest.json)."""
    with open(os.path.join(folder, "manifest.json")) as f:
        return KernelSet(json.load(f), folder, launcher)
