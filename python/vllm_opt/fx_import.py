"""Read FX graph JSON (shared/spec/fx-graph-json.md) back into a torch.fx
graph: the return half of using vllm-opt as a post-grad pass.

    from vllm_opt import VllmOptPass
    pass_ = VllmOptPass("vllm-opt", config={"enable_fusion": True, "enable_noop": True})
    pass_(graph)                     # export, run vllm-opt, load the result back
    pass_(graph, runtime_shape=256)  # under a specialized shape context
    CompilationConfig(inductor_compile_config={"post_grad_custom_post_pass": pass_.for_vllm()})  # in vLLM

`load_graph(graph, doc)` is the importer itself: it replaces every node of
`graph` after its placeholders with the nodes of `doc` (the same placeholders,
by name and order), resolving targets (`torch.ops._C.rms_norm.default`,
`operator.getitem`, `torch.ops.higher_order.auto_functionalized`) through
`resolve`. As in the exporter, torch is imported only by the default
resolver, so the logic runs, and is tested, without torch.
"""
import gc
import importlib
import json
import math
import operator
import os
import subprocess
import sys
import tempfile
import warnings

from .fx_export import FORMAT, VERSION, _torch_name, dependency_order, graph_to_dict, input_nodes, is_node, meta_val


class GraphImportError(ValueError):  # noqa: N801 - ImportError is a builtin with another meaning
    """The document does not fit the graph or the format."""


def torch_resolver():
    """Targets and enum values through torch (imported here, at first use)."""
    import torch

    def resolve(kind, name):
        if kind == "target":
            if name.startswith("operator."):
                # getitem, and the SymInt arithmetic (add, floordiv, ...) of size computations.
                fn = getattr(operator, name[len("operator."):], None)
                if not callable(fn):
                    raise GraphImportError(f"target '{name}' is not a function of Python's operator module")
                return fn
            if not name.startswith("torch."):
                raise GraphImportError(f"target '{name}' is neither an op under torch.ops nor an operator function")
            if name.startswith("torch.ops.symm_mem."):
                # Async TP's fused ops: defined when this module is imported.
                importlib.import_module("torch.distributed._symmetric_memory")
            obj = torch
            for part in name.split(".")[1:]:
                obj = getattr(obj, part)
            return obj
        if kind == "device":
            return torch.device(name)
        return getattr(torch, name)  # dtype, layout, memory_format

    return resolve


def _resolved(resolve, kind, name, where):
    """`resolve(kind, name)`, or an error naming the node when there is no such thing."""
    try:
        return resolve(kind, name)
    except (AttributeError, KeyError, RuntimeError, ValueError) as e:
        raise GraphImportError(f"node '{where}': no {kind} '{name}' here ({e})") from e


def _decode(v, env, syms, resolve, where):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, list):
        return [_decode(x, env, syms, resolve, where) for x in v]
    if isinstance(v, dict) and len(v) == 1:
        (key, x), = v.items()
        if key == "node":
            if x not in env:
                raise GraphImportError(f"node '{where}': refers to '{x}', which is not defined before it")
            return env[x]
        if key in ("op", "dtype", "device", "layout", "memory_format"):
            return _resolved(resolve, "target" if key == "op" else key, x, where)
        if key == "float" and x in ("nan", "inf", "-inf"):
            return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[x]
        if key == "sym":
            if x not in syms:
                raise GraphImportError(f"node '{where}': the size '{x}' is not a symbolic-integer input of the graph")
            return syms[x]
    raise GraphImportError(f"node '{where}': {v!r} is not a value of the format")


def load_graph(graph, doc, resolve=None):
    """Replaces the nodes of `graph` (a torch.fx.Graph or GraphModule) after
    its placeholders with those of `doc`; returns the graph."""
    graph = getattr(graph, "graph", graph)
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise GraphImportError(f"not FX graph JSON version {VERSION}")
    resolve = resolve or torch_resolver()
    nodes = list(graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    outputs = [n for n in nodes if n.op == "output"]
    doc_nodes = doc.get("nodes", [])
    doc_placeholders = [d["name"] for d in doc_nodes if d.get("op") == "placeholder"]
    if doc_placeholders != [p.name for p in placeholders]:
        raise GraphImportError(f"the document's inputs {doc_placeholders} are not the graph's {[p.name for p in placeholders]}")
    if len(outputs) != 1:
        raise GraphImportError("the graph has no single output node")
    output = outputs[0]
    env = {p.name: p for p in placeholders}
    # The nodes vllm-opt left as they were keep their meta (fake values, stack
    # traces): only what it made needs `propagate_meta`.
    previous = {n.name: n for n in nodes if n.op not in ("placeholder", "output")}
    # A symbolic-integer input stands for its symbol wherever a value names it.
    syms = {}
    for d in doc_nodes:
        val = (d.get("meta") or {}).get("val")
        if d.get("op") == "placeholder" and isinstance(val, dict) and set(val) == {"sym"}:
            syms[val["sym"]] = env[d["name"]]
    created = []
    try:
        new_output = _build(graph, output, doc_nodes, env, syms, resolve, created, previous, nodes)
    except Exception:
        # All or nothing: a document that does not load leaves the graph as it was.
        for n in reversed(created):
            graph.erase_node(n)
        raise
    # The output keeps its container type (a tuple in post-grad graphs).
    old = output.args[0]
    output.args = (tuple(new_output) if isinstance(old, tuple) else new_output,)
    # Readers before what they read (the graph may not have been in that order).
    for n in reversed(dependency_order(nodes)):
        if n.op not in ("placeholder", "output"):
            graph.erase_node(n)
    _restore_names(graph, env)
    lint = getattr(graph, "lint", None)
    if callable(lint):
        lint()
    return graph


def _restore_names(graph, env):
    """Gives each node the document's name (`env`: name -> node) where FX
    gave it another because an old node still held that name when it was
    made: the old nodes are gone now. FX's namespace never frees a name, so
    this frees it in the namespace's private `_used_names`; a torch without
    it keeps FX's names (the values are the same either way)."""
    used = getattr(getattr(graph, "_graph_namespace", None), "_used_names", None)
    if not isinstance(used, set):
        return
    live = {n.name for n in graph.nodes}
    pending = [(name, node) for name, node in env.items() if node.name != name and hasattr(node, "_rename")]
    # A wanted name may be held by a node that is itself renamed later: repeat while that frees names.
    while pending:
        left = []
        for name, node in pending:
            if name in live:
                left.append((name, node))
                continue
            live.discard(node.name)
            used.discard(name)
            node._rename(name)
            live.add(node.name)
        if len(left) == len(pending):
            break
        pending = left


def _same_value(a, b, kept, binds=None):
    """Whether argument `a` of an old node and `b` of a new one are the same
    value: equal constants (a list and a tuple alike), the same placeholder,
    or a new node `kept` maps to the old one. With `binds`, any two nodes
    match, and `binds` collects the pairs (new, old) that are not the same
    node: what the new node would have to stand for."""
    if is_node(a) or is_node(b):
        if not (is_node(a) and is_node(b)):
            return False
        if a is b or kept.get(b) is a:
            return True
        if binds is None:
            return False
        binds.append((b, a))
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y, kept, binds) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k], kept, binds) for k in a)
    return type(a) is type(b) and a == b


def _same_call(node, prev, kept, binds=None):
    return (
        prev is not None
        and prev.op == node.op
        and prev.target == node.target
        and _same_value(prev.args, node.args, kept, binds)
        and _same_value(prev.kwargs, node.kwargs, kept, binds)
    )


def _storage(val):
    """An id of the storage a fake (or real) tensor value views; None for others."""
    try:
        return val.untyped_storage()._cdata
    except (AttributeError, RuntimeError, TypeError):
        return None


def _storage_roots(old_nodes):
    """The old nodes (`old_nodes`: the graph's, in order) but the inputs whose
    value's storage no earlier node's value has (an input's included): the
    values a functional op made, not views of one or of an input."""
    seen, roots = set(), {}
    for n in old_nodes:
        key = _storage(n.meta.get("val"))
        if key is not None and key not in seen:
            seen.add(key)
            if n.op == "call_function":
                roots[n] = None
    return roots  # in graph order


_EMPTY = "torch.ops.aten.empty.memory_format"


def _doc_val(doc):
    """A document node's meta['val'] (None when it has none)."""
    return (doc.get("meta") or {}).get("val")


def _described(val):
    """`val` as the document describes a value (`meta_val`), or None for one
    the format cannot express (its node is then propagated instead)."""
    try:
        return meta_val(val, {})
    except Exception:  # noqa: BLE001 - a value the format cannot express
        return None


def _holds_value_of(old, doc_val, roots):
    """Whether a new buffer (an `empty` vllm-opt allocated for an in-place
    call: fix-functionalization) whose document value is `doc_val` may take
    `old`'s fake value as its own: `old` made its storage (one of `roots`: a
    functional op's fresh result, not a view), and its shape, strides, dtype
    and device are those the document gives the buffer."""
    return old in roots and doc_val is not None and _described(old.meta.get("val")) == doc_val


def _keep_meta(created, previous, docs, roots):
    """Gives each new node (`created`, in graph order) the meta of `previous`
    [node], the old node of its document name, when it is the same
    computation: same op and target, and every argument the same value
    (so, by induction in graph order, the same result). Each old node gives
    its meta once.

    A buffer vllm-opt allocated for an in-place call first takes the fake
    value of the old functional result its views read (`_holds_value_of`;
    where the old graph viewed `getitem(auto_functionalized(...))`, the new
    one views the buffer the call writes): then those views are the same
    computation and keep their meta too, instead of being run again on fake
    tensors (about 0.5 ms each with symbolic shapes; most of what
    `propagate_meta` had to do). vLLM's own fix-functionalization leaves
    such views their old values, whose storage is not the buffer's."""
    kept = {}
    # What each buffer could stand for, by its readers: the old value most of
    # them read in its place (the qkv buffer: the GEMM's result for the
    # rotary's slices, the rotary's for the attention's), the first on a tie.
    buffers = {n for n in created if docs[n].get("target") == _EMPTY}
    wanted = {}
    for node in (n for n in created if not buffers.isdisjoint(input_nodes(n))):
        binds = []
        if _same_call(node, previous.get(node), {}, binds):
            for b, a in (p for p in binds if p[0] in buffers and p[1] in roots):
                counts = wanted.setdefault(b, {})
                counts[a] = counts.get(a, 0) + 1
    stands_for = {b: max(counts, key=counts.get) for b, counts in wanted.items()}
    given = set()
    for node in created:
        old = stands_for.get(node)
        # (A buffer vllm-opt left as it was stands for its old self: kept whole, below.)
        if old is not None and old is not previous.get(node) and old not in given and _holds_value_of(old, _doc_val(docs[node]), roots):
            node.meta["val"] = old.meta["val"]
        else:
            old = previous.get(node)
            if old is None or old in given or not _same_call(node, old, kept):
                continue
            node.meta.update(old.meta)
        kept[node] = old
        given.add(old)
    # The buffers no kept node reads (an in-place call's output that only
    # other calls read) take an old value nothing took, of their metadata:
    # a storage of their own, which the erased old node no longer shares.
    want, kinds = {}, set()  # a pending buffer's value, as JSON -> the buffers; their (dtype, rank)s
    for n in (n for n in created if n in buffers and "val" not in n.meta):
        v = _doc_val(docs[n])
        if isinstance(v, dict):
            want.setdefault(json.dumps(v, sort_keys=True), []).append(n)
            kinds.add((v.get("dtype"), len(v.get("shape") or ())))
    for old in (r for r in roots if r not in given):
        if not want:
            break
        val = old.meta.get("val")
        # (Only values of a wanted dtype and rank are described: most are not.)
        if (_torch_name(getattr(val, "dtype", "")), len(getattr(val, "shape", ()))) not in kinds:
            continue
        key = json.dumps(_described(val), sort_keys=True)
        if key in want:
            want[key].pop(0).meta["val"] = val
            if not want[key]:
                del want[key]


def _build(graph, output, doc_nodes, env, syms, resolve, created, previous=None, old_nodes=()):
    """Creates the document's nodes before `output`; returns the output's value.
    A node the same as the old node of its name (`previous`) keeps its meta
    (`_keep_meta`; `old_nodes`, the graph's nodes, for their storages)."""
    previous = previous or {}
    previous_of = {}  # new node -> the old node of its name
    docs = {}  # new node -> its document node
    new_output = None
    with graph.inserting_before(output):
        for d in doc_nodes:
            op, name = d.get("op"), d.get("name")
            if op == "placeholder":
                continue
            if name in env:
                raise GraphImportError(f"node '{name}' is defined twice")
            args = _decode(d.get("args", []), env, syms, resolve, name)
            kwargs = {k: _decode(v, env, syms, resolve, name) for k, v in d.get("kwargs", {}).items()}
            if op == "output":
                if len(args) != 1:
                    raise GraphImportError("the output node takes one argument")
                new_output = args[0]
                continue
            if op == "get_attr":
                node = graph.create_node("get_attr", d["target"], (), {}, name=name)
            elif op == "call_function":
                # The document's name (FX adds a suffix while the old node still holds it:
                # `_restore_names` gives it back once the old node is gone).
                target = _resolved(resolve, "target", d.get("target"), name)
                node = graph.create_node("call_function", target, tuple(args), kwargs, name=name)
            else:
                raise GraphImportError(f"node '{name}': '{op}' does not occur in post-grad graphs")
            docs[node] = d
            if name in previous:
                previous_of[node] = previous[name]
            created.append(node)
            env[name] = node
    if new_output is None:
        raise GraphImportError("the document has no output node")
    _keep_meta(created, previous_of, docs, _storage_roots(old_nodes))
    return new_output


def propagate_meta(graph):
    """Sets `meta['val']` on every node that lacks one by running those nodes
    on their arguments' fake values (FakeTensorProp; the others, which
    `load_graph` kept from the old graph, give theirs), as Inductor's later
    passes expect. Returns False, changing nothing, when the placeholders
    carry no fake values of one fake mode or the graph has no owning module;
    an op without a fake implementation raises."""
    from torch._guards import detect_fake_mode
    from torch.fx.passes.fake_tensor_prop import FakeTensorProp

    class MissingOnly(FakeTensorProp):
        def run_node(self, n):
            if "val" in n.meta and n.op != "placeholder":
                return n.meta["val"]
            schema = getattr(n.target, "_schema", None)
            if n.op == "call_function" and schema is not None and not schema.returns:
                # An in-place call (vLLM's ops return nothing): FakeTensorProp
                # would record nothing for it either.
                return None
            return super().run_node(n)

    graph = getattr(graph, "graph", graph)
    module = graph.owning_module
    vals = [n.meta.get("val") for n in graph.nodes if n.op == "placeholder"]
    try:
        mode = detect_fake_mode(vals)
    except AssertionError:  # values from several fake modes (make_fx's real tracing)
        return False
    if module is None or mode is None:
        return False
    MissingOnly(module, mode).propagate_dont_convert_inputs(*vals)
    return True


def _vllm_shape_args(context):
    """vllm-opt's shape arguments for what vLLM's pass `context` says is being
    compiled: vLLM <= 0.11's `runtime_shape` (an int, or None for the general
    graph), or vLLM main's `compile_range` (both ends inclusive: one size is
    `--runtime-shape`, a wider range `--compile-range A:B`, whose bounds the
    passes that depend on the token count read). [] outside vLLM (None)."""
    shape = getattr(context, "runtime_shape", None)
    if shape is not None:
        return ["--runtime-shape", str(int(shape))]
    bounds = getattr(context, "compile_range", None)
    if bounds is None:
        return []
    start, end = int(bounds.start), int(bounds.end)
    return ["--runtime-shape", str(start)] if start == end else ["--compile-range", f"{start}:{end}"]


_FUSED_TARGETS = {}


def _fused_targets(binary):
    """The PyTorch targets the fusions may write (`vllm-opt
    --print-fused-targets`), asked once per binary; none when it cannot say
    (the run itself then reports what is wrong with the binary)."""
    targets = _FUSED_TARGETS.get(binary)
    if targets is None:
        try:
            done = subprocess.run([binary, "--print-fused-targets"], capture_output=True, text=True)
        except OSError:
            return []
        targets = _FUSED_TARGETS[binary] = done.stdout.split() if done.returncode == 0 else []
    return targets


def _op_exists(target):
    """Whether `torch.ops.NS.NAME.OVERLOAD` is registered in this process."""
    try:
        import torch
    except ImportError:
        return True
    parts = target.split(".")
    if len(parts) != 5 or parts[:2] != ["torch", "ops"]:
        return True
    try:
        return hasattr(getattr(getattr(torch.ops, parts[2]), parts[3]), parts[4])
    except (AttributeError, RuntimeError):
        return False


# The quants an attention may write in its epilogue (the config's
# `attn_output_quant` kinds), by the names of vLLM's QuantKeys for them
# (NVFP4's was renamed after 0.11).
_ATTN_QUANT_KEYS = {
    "fp8_static": ("kFp8StaticTensorSym",),
    "nvfp4": ("kNvfp4Dynamic", "kNvfp4Quant"),
    "fp8_group128": ("kFp8Dynamic128Sym",),
    "fp8_group64": ("kFp8Dynamic64Sym",),
}


def _current_vllm_config():
    """vLLM's current config, None outside one (without the default config
    vLLM 0.11 would build, or main's error)."""
    for module in ("vllm.config.vllm", "vllm.config"):  # main's module, then 0.11's
        try:
            m = importlib.import_module(module)
        except ImportError:
            continue
        get = getattr(m, "get_current_vllm_config_or_none", None)
        if get is not None:
            return get()
        if hasattr(m, "_current_vllm_config"):
            return m._current_vllm_config
    return None


def vllm_attn_output_quant():
    """Inside vLLM: which attention layers write each quant in their epilogue
    (`attn_output_quant`: kind -> layer names, ["*"] when every layer does),
    asked of each layer's backend as vLLM's own fusion passes ask it
    (`impl.fused_output_quant_supported`); None outside vLLM or when its
    forward context has no attention layers."""
    config = _current_vllm_config()
    context = getattr(getattr(config, "compilation_config", None), "static_forward_context", None) or {}
    layers = {name: layer.impl for name, layer in context.items()
              if callable(getattr(getattr(layer, "impl", None), "fused_output_quant_supported", None))}
    if not layers:
        return None
    try:
        keys = importlib.import_module("vllm.model_executor.layers.quantization.utils.quant_utils")
    except ImportError:
        return None
    out = {}
    for kind, names in _ATTN_QUANT_KEYS.items():
        key = next((getattr(keys, n) for n in names if hasattr(keys, n)), None)
        writes = sorted(name for name, impl in layers.items() if key is not None and impl.fused_output_quant_supported(key))
        if writes:
            out[kind] = ["*"] if len(writes) == len(layers) else writes
    return out


# The check vLLM's per-token and per-block norm kernels made before PR 36551
# (March 2026), in the text TORCH_CHECK keeps in the library; after it they
# read rows `input.stride(-2)` apart and check only the last dim.
_CONTIGUOUS_INPUT_CHECK = b"Expected out.is_contiguous() && input.is_contiguous() to be true"
_CONTIGUOUS_INPUT_OPS = ("torch.ops._C.rms_norm_dynamic_per_token_quant.default",
                         "torch.ops._C.rms_norm_per_block_quant.default")
# The check of a fused_qk_norm_rope kernel that rotates part of a head (vLLM 0.33.0's).
_PARTIAL_ROTARY_CHECK = b"rotary_dim must be less than or equal to head_dim"
_LIBRARY_CHECKS = {}


def _vllm_library_says(text):
    """Whether the running vLLM's `_C` library holds `text` (a kernel's
    `TORCH_CHECK` message: the only statement of a contract its schema does
    not give). Each library searched once a process for each text (a search
    of the mapped file: ~5-40 ms); False without vLLM or its library."""
    import glob
    import mmap

    vllm = sys.modules.get("vllm")
    root = os.path.dirname(getattr(vllm, "__file__", None) or "")
    libraries = sorted(glob.glob(os.path.join(root, "_C.abi3.so")) + glob.glob(os.path.join(root, "_C_stable_libtorch*.so"))) if root else []
    found = False
    for path in libraries:
        if (path, text) not in _LIBRARY_CHECKS:
            try:
                with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                    _LIBRARY_CHECKS[path, text] = m.find(text) != -1
            except (OSError, ValueError):
                _LIBRARY_CHECKS[path, text] = False
        found = found or _LIBRARY_CHECKS[path, text]
    return found


def vllm_contiguous_input_ops():
    """Inside vLLM: the fused norm + quant ops whose kernel, in the installed
    vLLM, takes only contiguous input (`contiguous_input_ops`): both, when
    its `_C` library holds the check those kernels made before PR 36551
    (the schema did not change); [] when it does not, or vLLM has no such
    library."""
    return list(_CONTIGUOUS_INPUT_OPS) if _vllm_library_says(_CONTIGUOUS_INPUT_CHECK) else []


def vllm_partial_rotary():
    """Inside vLLM: whether its fused_qk_norm_rope kernel rotates part of a
    head (`qk_norm_rope_partial_rotary`): its library holds the check
    `rotary_dim <= head_dim` (vLLM 0.33.0's does)."""
    return _vllm_library_says(_PARTIAL_ROTARY_CHECK)


def _for_vllm(pass_):
    """`pass_.for_vllm()`, by a name pickle can find."""
    return pass_.for_vllm()


# vLLM's inductor_pass module: main's path, then 0.11's.
_INDUCTOR_PASS_MODULES = ("vllm.compilation.passes.inductor_pass", "vllm.compilation.inductor_pass")


def _vllm_inductor_pass():
    """vLLM's InductorPass class (its module moved between versions)."""
    for module in _INDUCTOR_PASS_MODULES:
        try:
            return importlib.import_module(module).InductorPass
        except (ImportError, AttributeError):
            continue
    raise ImportError("VllmOptPass.for_vllm() needs vLLM (vllm.compilation.inductor_pass.InductorPass)")


def _vllm_pass_context():
    """vLLM's pass context inside its pass manager (its module moved between
    versions), else None."""
    for module in _INDUCTOR_PASS_MODULES:
        try:
            return __import__(module, fromlist=["get_pass_context"]).get_pass_context()
        except Exception:  # noqa: BLE001 - not in vLLM, or outside a pass context
            continue
    return None


def donated_input_names(graph, context):
    """The placeholders vLLM main's pass `context` marks donated
    (`donated_input_ids`: node indices of the post-grad graph, the inputs
    its model passed to an IR op's `maybe_inplace` overload), by name; []
    outside vLLM (None) or when none are."""
    ids = getattr(context, "donated_input_ids", None) or ()
    nodes = list(graph.nodes)
    return sorted(nodes[i].name for i in ids if 0 <= i < len(nodes) and nodes[i].op == "placeholder")


def _vllm_c10d_group_names():
    """Inside vLLM: {tp group's unique_name: its c10d group name}, which
    async TP's symmetric-memory ops need; None outside vLLM or before its
    distributed state exists."""
    try:
        from vllm.distributed.parallel_state import get_tp_group

        tp = get_tp_group()
        return {tp.unique_name: tp.device_group.group_name}
    except Exception:  # noqa: BLE001 - not in vLLM, or no tensor-parallel group yet
        return None


def _fused_allreduce_op_exists():
    """Whether vLLM registered its FlashInfer all-reduce + norm op here (it
    does only with FlashInfer's comm module); None without torch."""
    try:
        import torch
    except ImportError:
        return None
    return hasattr(torch.ops.vllm, "flashinfer_trtllm_fused_allreduce_norm")


def _vllm_pass_manager():
    """Inside vLLM: its PostGradPassManager (Inductor's post-grad custom pass
    while vLLM compiles, else the one in vLLM's current config); None outside."""
    candidates = []
    try:
        from torch._inductor import config as inductor_config

        candidates.append(lambda: inductor_config.post_grad_custom_post_pass)
    except Exception:  # noqa: BLE001 - no torch
        pass
    candidates.append(lambda: _current_vllm_config().compilation_config.inductor_compile_config.get("post_grad_custom_post_pass"))
    for get in candidates:
        try:
            manager = get()
        except Exception:  # noqa: BLE001 - no current config
            continue
        if type(manager).__name__ == "PostGradPassManager":
            return manager
    return None


def _vllm_allreduce_workspace_tokens():
    """Inside vLLM: how many tokens vLLM's own all-reduce fusion pass sized
    FlashInfer's workspace for (vLLM main: `max_token_num`; 0.10:
    `allreduce_params.max_token_num`), 0 when there is none (the pass is off,
    or could not set one up: no FlashInfer, an unsupported world size);
    None outside vLLM."""
    manager = _vllm_pass_manager()
    if manager is None:
        return None
    for p in getattr(manager, "passes", []):
        if type(p).__name__ == "AllReduceFusionPass":
            tokens = getattr(p, "max_token_num", None)
            if tokens is None:
                tokens = getattr(getattr(p, "allreduce_params", None), "max_token_num", None)
            return int(tokens or 0)
    return 0


_AR_FIELDS = ("enable_fi_allreduce_fusion", "fuse_allreduce_rms")


class VllmOptPass:
    """A post-grad pass that hands the graph to vllm-opt and loads the result
    back: usable as Inductor's `post_grad_custom_post_pass`, or, through
    `for_vllm()`, added to vLLM's pass manager, whose pass context gives the
    shape (vLLM <= 0.11's `runtime_shape`, vLLM main's `compile_range`).
    Errors from vllm-opt are a RuntimeError with its located diagnostics; the
    graph is then unchanged."""

    def __init__(self, binary="vllm-opt", config=None, tp_size=1, extra_args=(), resolve=None):
        self.binary = binary
        self.config = dict(config or {})
        async_tp = self.config.get("enable_async_tp") or self.config.get("fuse_gemm_comms")
        if async_tp and "c10d_group_names" not in self.config:
            names = _vllm_c10d_group_names()
            if names:
                self.config["c10d_group_names"] = names
        ar_fields = [k for k in _AR_FIELDS if self.config.get(k)]
        if ar_fields and resolve is None and _fused_allreduce_op_exists() is False:
            # As vLLM does: without FlashInfer the fusion is off, with a warning.
            warnings.warn("vllm-opt: the all-reduce + norm fusion needs vLLM's FlashInfer op "
                          "(torch.ops.vllm.flashinfer_trtllm_fused_allreduce_norm), which is not registered; it is off")
            for k in ar_fields:
                self.config[k] = False
        self._warned_no_workspace = False
        self._uuids = {}
        self.tp_size = tp_size
        self.extra_args = list(extra_args)
        self.resolve = resolve

    def _effective_config(self):
        """The config with vLLM's all-reduce workspace applied: the fused op
        uses the workspace vLLM's own fusion pass creates, sized for its
        token limit, so inside vLLM ours may not exceed it, and without one
        the fusion is off (asked each call: vLLM configures its passes after
        this one may have been made)."""
        if not any(self.config.get(k) for k in _AR_FIELDS):
            return self.config
        tokens = _vllm_allreduce_workspace_tokens()
        if tokens is None:
            return self.config
        config = dict(self.config)
        if tokens == 0:
            if not self._warned_no_workspace:
                warnings.warn("vllm-opt: vLLM has no FlashInfer all-reduce workspace (its fuse_allreduce_rms is off "
                              "or found no FlashInfer); the all-reduce + norm fusion is off")
                self._warned_no_workspace = True
            for k in _AR_FIELDS:
                if k in config:
                    config[k] = False
            return config
        config["fi_allreduce_fusion_max_token_num"] = min(int(config.get("fi_allreduce_fusion_max_token_num", 16384)), tokens)
        return config

    def _with_unavailable_ops(self, config):
        """Inside a vLLM process, the config with the fused ops this vLLM
        lacks (`unavailable_ops`: the graph does not say which vLLM runs it,
        and vLLM 0.11 has no per-block norm or SiLU quant, whose calls would
        then fail to resolve), asked at each call (vLLM loads its `_C` ops
        after this pass may have been made). As it was outside vLLM, or
        when the user gave the list."""
        if "vllm" not in sys.modules or "unavailable_ops" in config:
            return config
        missing = [t for t in _fused_targets(self.binary) if not _op_exists(t)]
        return dict(config, unavailable_ops=missing) if missing else config

    def _with_attn_output_quant(self, config):
        """With attention + quant fusion on, inside vLLM: the layers whose
        attention backend writes each quant (`attn_output_quant`, from vLLM's
        layers: FlashAttention, its default on Hopper, writes none and fails
        when given an output scale). As it was outside vLLM, without
        attention layers, or when the user gave it."""
        on = config.get("fuse_attn_quant", config.get("enable_attn_fusion"))
        if not on or "attn_output_quant" in config or "vllm" not in sys.modules:
            return config
        layers = vllm_attn_output_quant()
        return config if layers is None else dict(config, attn_output_quant=layers)

    def _with_contiguous_input_ops(self, config):
        """Inside vLLM: the fused norms its kernels take only on contiguous
        rows (`contiguous_input_ops`: vLLM before PR 36551 checks it, and a
        norm of a slice, DeepSeek's `q_a_layernorm`, would fail there). As it
        was outside vLLM, with the norm fusions off, or when the user gave
        the list."""
        on = config.get("fuse_norm_quant", config.get("enable_fusion"))
        if not on or "contiguous_input_ops" in config or "vllm" not in sys.modules:
            return config
        ops = vllm_contiguous_input_ops()
        return dict(config, contiguous_input_ops=ops) if ops else config

    def _with_partial_rotary(self, config):
        """Inside vLLM, with the q/k-norm + RoPE fusion on: whether its
        kernel rotates part of a head (`qk_norm_rope_partial_rotary`, read
        off its library), so that GLM-4's partial rotaries fuse as vLLM's own
        pass fuses them. As it was outside vLLM, or when the user gave it."""
        if not config.get("enable_qk_norm_rope_fusion") or "qk_norm_rope_partial_rotary" in config or "vllm" not in sys.modules:
            return config
        return dict(config, qk_norm_rope_partial_rotary=True) if vllm_partial_rotary() else config

    def _common(self, donated=()):
        config = self._with_unavailable_ops(self._effective_config())
        config = self._with_attn_output_quant(self._with_partial_rotary(self._with_contiguous_input_ops(config)))
        if donated:
            config = dict(config, donated_inputs=list(donated))
        return ["--config", json.dumps(config, sort_keys=True), "--tp-size", str(self.tp_size), *self.extra_args]

    def uuid(self):
        """The cache key of this configuration (vLLM's InductorPass.uuid).
        vLLM asks for it at every compile (each graph and size); it is the
        same for the same arguments, so it is asked of vllm-opt once per
        distinct command line (a process start each, about 10 ms)."""
        cmd = (self.binary, *self._common(), "--print-uuid")
        cached = self._uuids.get(cmd)
        if cached is None:
            done = subprocess.run(list(cmd), capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"vllm-opt --print-uuid: {done.stderr.strip()}")
            cached = self._uuids[cmd] = done.stdout.strip()
        return cached

    def is_applicable_for_shape(self, shape):
        """vLLM <= 0.11's pass manager asks each pass; vllm-opt decides per
        pass itself (sequence parallelism only where the shape allows, ...),
        from the shape it is given."""
        return True

    def is_applicable_for_range(self, compile_range):
        """vLLM main's form of `is_applicable_for_shape`."""
        return True

    def for_vllm(self):
        """This pass as vLLM's `InductorPass`, to add to its pass manager:

            CompilationConfig(inductor_compile_config={"post_grad_custom_post_pass": VllmOptPass(...).for_vllm()})

        vLLM's manager takes only InductorPass instances. vLLM's own wrapper
        for callables, `CallableInductorPass`, hashes the callable's source
        for its uuid unless given one (a changed vllm-opt configuration would
        reuse the old one's compiled graphs), and its repr holds its address,
        which vLLM hashes into its cache directory (a new one every process).
        This one's uuid is `uuid()`, asked when vLLM asks, and its repr names
        the binary and the configuration. Needs vLLM importable."""
        outer = self

        class VllmOpt(_vllm_inductor_pass()):
            def __call__(self, graph):
                outer(graph)

            def uuid(self):
                return outer.uuid()

            def is_applicable_for_shape(self, shape):
                return outer.is_applicable_for_shape(shape)

            def is_applicable_for_range(self, compile_range):
                return outer.is_applicable_for_range(compile_range)

            def __repr__(self):
                return f"VllmOpt({outer.binary!r}, config={outer.config!r})"

            def __reduce__(self):
                # vLLM pickles its config to start its engine and worker
                # processes: rebuilt there from the pass (a local class
                # would not pickle).
                return (_for_vllm, (outer,))

        return VllmOpt()

    def __call__(self, graph, runtime_shape=None):
        # The cyclic collector off while the documents are built and read:
        # they are acyclic (reference counting frees them), but their hundreds
        # of thousands of dicts and lists set off collections that re-scan
        # the whole torch heap (0.4 s of an 80-layer graph's 1.5 s, at times).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run(graph, runtime_shape)
        finally:
            if collecting:
                gc.enable()

    def _run(self, graph, runtime_shape):
        context = _vllm_pass_context()  # once: what is compiled, and the donated inputs
        shape_args = ["--runtime-shape", str(int(runtime_shape))] if runtime_shape is not None else _vllm_shape_args(context)
        doc = graph_to_dict(graph, name="graph")
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
            with open(src, "w") as f:
                # dumps, not dump: dump streams through the pure-Python encoder (4x slower).
                f.write(json.dumps(doc))
            # The inputs vLLM says its model donated may be written in place (a
            # function of the graph, so the cache key need not name them).
            cmd = [self.binary, src, *self._common(donated_input_names(graph, context)), "--emit", "fx-json", "-o", dst, *shape_args]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"vllm-opt failed:\n{done.stderr.strip()}")
            with open(dst) as f:
                out = json.load(f)
        load_graph(graph, out, self.resolve)
        if self.resolve is None:  # real torch: give the new nodes their meta['val']
            propagate_meta(graph)
        return graph
