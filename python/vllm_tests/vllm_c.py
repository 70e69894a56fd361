"""vLLM's `_C` ops by their real schemas, without vLLM's CUDA library (which
does not load without a driver): each schema string is read out of the
installed library and defined in a `_C` fragment, and vLLM's platform is
told its device is the CPU, which vLLM's passes give their example tensors
(fake ones) and on which the graphs here are traced. Importing this module
does both; a process that needs CPU bodies for some ops (test_in_vllm) must
not import it."""
import glob
import os
import re

import torch

import vllm

LIB = torch.library.Library("_C", "FRAGMENT")
_SO = (glob.glob(os.path.join(os.path.dirname(vllm.__file__), "_C.abi3.so"))
       or glob.glob(os.path.join(os.path.dirname(vllm.__file__), "_C_stable_libtorch*.so")))[0]


def _schemas(data):
    """The op schemas among the printable strings of a library's bytes (what
    `strings` would list, without needing binutils): each run of printable
    bytes around a ") -> " that reads as `name(args) -> returns`."""
    found, i = set(), 0
    while (i := data.find(b") -> ", i)) != -1:
        start = end = i
        while start > 0 and 0x20 <= data[start - 1] < 0x7F:
            start -= 1
        while end < len(data) and 0x20 <= data[end] < 0x7F:
            end += 1
        text = data[start:end].decode()
        if re.match(r"^[A-Za-z_0-9]+(\.[A-Za-z_0-9]+)?\(.*\) -> ", text):
            found.add(re.sub(" +", " ", text))
        i = end
    return sorted(found)


with open(_SO, "rb") as f:
    SCHEMAS = _schemas(f.read())
for schema in SCHEMAS:
    try:
        LIB.define(schema)
    except RuntimeError:
        try:  # vLLM 0.11's `ScalarType`, a class of a library not loaded: these ops are never called here
            LIB.define(re.sub(r"\bScalarType\b", "int", schema))
        except RuntimeError:  # an overload listed twice
            pass

from vllm.platforms import current_platform  # noqa: E402

current_platform.device_type = current_platform.device_name = "cpu"


def fake_nothing(*names):
    """Fake implementations for in-place ops (they return nothing), so that
    Dynamo can trace calls of them."""
    for name in names:
        torch.library.register_fake(f"_C::{name}", lambda *a, **k: None, lib=LIB)
