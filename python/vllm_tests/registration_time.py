"""How long vLLM main's own RMSNormQuantFusionPass takes to construct (its
pattern registration), in a vLLM venv without a GPU (docs/benchmarks.md):

    target/vllm-0.33.0/bin/python python/vllm_tests/registration_time.py

vLLM's `_C` library does not load without a driver, so its op schemas are
defined from the strings in that library, and the platform's device type is
set to `cuda`, which the patterns' example tensors take (fake, no memory).
Prints the seconds of the import and of the construction."""
import glob
import os
import re
import subprocess
import time

import torch

import vllm

LIB = torch.library.Library("_C", "FRAGMENT")
so = glob.glob(os.path.join(os.path.dirname(vllm.__file__), "_C*.so"))[0]
strings = subprocess.run(["strings", "-n", "12", so], capture_output=True, text=True, check=True).stdout
for schema in {re.sub(" +", " ", s) for s in strings.splitlines() if re.match(r"^[a-z_0-9]+(\.[a-z_0-9]+)?\(.*\) -> ", s)}:
    try:
        LIB.define(schema)
    except RuntimeError:  # a second definition of the same name
        pass

from vllm.platforms import current_platform  # noqa: E402

current_platform.device_type = current_platform.device_name = "cuda"
from vllm.config import CompilationConfig, DeviceConfig, VllmConfig, set_current_vllm_config  # noqa: E402

t0 = time.perf_counter()
from vllm.compilation.passes.fusion.rms_quant_fusion import RMSNormQuantFusionPass  # noqa: E402

t1 = time.perf_counter()
cc = CompilationConfig(pass_config={"fuse_norm_quant": True}, custom_ops=["+rms_norm", "+quant_fp8"])
vc = VllmConfig(compilation_config=cc, device_config=DeviceConfig(device="cpu"))
with set_current_vllm_config(vc):
    t2 = time.perf_counter()
    RMSNormQuantFusionPass(vc)
    t3 = time.perf_counter()
print(f"vLLM {vllm.__version__}: import {t1 - t0:.2f} s, RMSNormQuantFusionPass() {t3 - t2:.2f} s")
