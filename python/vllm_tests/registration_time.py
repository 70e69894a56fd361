"""How long vLLM main's own RMSNormQuantFusionPass takes to construct (its
pattern registration), in a vLLM venv without a GPU (docs/benchmarks.md):

    target/vllm-0.33.0/bin/python python/vllm_tests/registration_time.py

vLLM's `_C` library does not load without a driver: `vllm_c` defines its
ops from the schema strings in it and sets the platform's device (the CPU).
Prints
the seconds of the import and of the construction."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import vllm_c  # noqa: E402,F401 (defines vLLM's _C ops, sets the platform's device)
import vllm  # noqa: E402
from harness import vllm_config  # noqa: E402
from vllm.config import set_current_vllm_config  # noqa: E402

t0 = time.perf_counter()
from vllm.compilation.passes.fusion.rms_quant_fusion import RMSNormQuantFusionPass  # noqa: E402

t1 = time.perf_counter()
vc = vllm_config({"fuse_norm_quant": True}, ["+rms_norm", "+quant_fp8"])
with set_current_vllm_config(vc):
    t2 = time.perf_counter()
    RMSNormQuantFusionPass(vc)
    t3 = time.perf_counter()
print(f"vLLM {vllm.__version__}: import {t1 - t0:.2f} s, RMSNormQuantFusionPass() {t3 - t2:.2f} s")
