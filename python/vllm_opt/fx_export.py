"""Write a torch.fx graph as FX graph JSON, version 1 (shared/spec/fx-graph-json.md).

    from vllm_opt import export_graph
    export_graph(gm, "graph.json")      # gm: torch.fx.GraphModule or torch.fx.Graph

Objects are recognised by their attributes, not by isinstance, so this module
needs no torch import (and its tests run without torch).
"""
import functools
import json
import math
import operator

FORMAT = "fx-graph"
VERSION = 1
NODE_OPS = ("placeholder", "get_attr", "call_function", "output")


class ExportError(ValueError):
    """The graph holds something the format cannot express."""


def _torch_name(obj):
    # torch.bfloat16 -> "bfloat16", torch.strided -> "strided", torch.contiguous_format -> "contiguous_format"
    return str(obj).replace("torch.", "")


def _is_op_overload(t):
    return hasattr(t, "_schema") and hasattr(t, "_overloadname")


def target_name(target):
    """The qualified name PyTorch prints for a call_function target."""
    if isinstance(target, str):
        return target
    if _is_op_overload(target):
        # str(op) is "aten.reshape.default" / "_C.rms_norm.default"
        return "torch.ops." + str(target)
    if type(target).__name__ in ("HigherOrderOperator", "AutoFunctionalized") or hasattr(target, "_ns"):
        name = getattr(target, "__name__", None) or getattr(target, "_name", None) or str(target)
        return "torch.ops.higher_order." + name
    if target is operator.getitem:
        return "operator.getitem"
    module = getattr(target, "__module__", None) or ""
    qual = getattr(target, "__qualname__", None) or getattr(target, "__name__", None) or str(target)
    if module in ("_operator", "builtins"):
        module = "operator" if module == "_operator" else module
    return f"{module}.{qual}" if module else qual


def _is_symint(v):
    return type(v).__name__ in ("SymInt", "SymFloat", "SymBool") or (
        hasattr(v, "node") and hasattr(getattr(v, "node"), "expr")
    )


def _sym_expr(v):
    node = v.node
    hint = getattr(node, "maybe_as_int", None)
    if callable(hint):
        concrete = hint()
        if concrete is not None:
            return int(concrete)
    return _expr_str(node.expr)


@functools.lru_cache(maxsize=4096)
def _expr_str(expr):
    """`str` of a sympy expression, once per expression: sympy sets up a
    printer for every `str`, which made printing the dims of an 80-layer
    graph's tensors take most of its export (0.4 of 0.7 s)."""
    return str(expr)


def _symint_value(v, symbols):
    """A SymInt as a value: its int when it is concrete, else {"sym": expr}."""
    e = _dim(v, symbols)
    return e if isinstance(e, int) else {"sym": e}


def _dim(d, symbols):
    if _is_symint(d):
        e = _sym_expr(d)
        if isinstance(e, int):
            return e
        _note_symbols(d, symbols)
        return e
    return int(d)


def _note_symbols(sym, symbols):
    """Records the free symbols of a SymInt, with their bounds when known."""
    node = sym.node
    expr = node.expr
    env = getattr(node, "shape_env", None)
    for s in getattr(expr, "free_symbols", ()) or ():
        name = _expr_str(s)
        if name in symbols:
            continue
        bounds = {}
        rng = getattr(env, "var_to_range", {}).get(s) if env is not None else None
        if rng is not None:
            lo, hi = getattr(rng, "lower", None), getattr(rng, "upper", None)
            for key, b in (("min", lo), ("max", hi)):
                try:
                    b = int(b)
                except (TypeError, ValueError, OverflowError, AttributeError):
                    continue  # unbounded: int_oo (torch 2.15's int() of it raises AttributeError)
                bounds[key] = b
        symbols[name] = bounds
    if not getattr(expr, "free_symbols", None):
        # A bare symbol name without sympy (fake objects in tests).
        name = str(expr)
        if name.isidentifier() and name not in symbols:
            symbols[name] = {}


def _tensor_meta(t, symbols):
    out = {"shape": [_dim(d, symbols) for d in t.shape], "dtype": _torch_name(t.dtype)}
    stride = getattr(t, "stride", None)
    if callable(stride):
        try:
            out["stride"] = [_dim(s, symbols) for s in stride()]
        except Exception:  # noqa: BLE001 - sparse or otherwise strideless tensors
            pass
    device = getattr(t, "device", None)
    if device is not None:
        out["device"] = str(device)
    return out


def opaque_type(v):
    """The class name of an opaque object torch carries through a graph (a
    `FakeScriptObject` during compilation, e.g. vLLM's hoisted `LayerName`),
    or None for anything else."""
    name = getattr(v, "script_class_name", None)
    if isinstance(name, str):
        return name
    return _opaque_class(type(v))


@functools.lru_cache(maxsize=256)
def _opaque_class(cls):
    """`cls`'s name when it derives from torch's opaque bases; once per class
    (every tensor and argument of a graph is asked)."""
    if any(b.__name__ in ("OpaqueBase", "CustomClassBase") for b in cls.__mro__[1:]):
        return f"{cls.__module__}.{cls.__qualname__}"
    return None


def meta_val(v, symbols):
    """`meta['val']` in the format: a tensor, a tuple, a (symbolic) integer, or
    null (nothing, or an opaque object: see `opaque_type`)."""
    if v is None or opaque_type(v) is not None:
        return None
    if isinstance(v, (list, tuple)):
        return [meta_val(x, symbols) for x in v]
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return _tensor_meta(v, symbols)
    if _is_symint(v):
        return _symint_value(v, symbols)
    if isinstance(v, bool) or isinstance(v, int):
        return v
    raise ExportError(f"cannot express meta['val'] of type {type(v).__name__}")


def is_node(v):
    """Whether `v` is a torch.fx.Node (told by its attributes: torch is not imported)."""
    return hasattr(v, "op") and hasattr(v, "name") and hasattr(v, "target")


def value(v, symbols):
    """An argument in the format's value grammar."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return {"float": "nan"}
        if math.isinf(v):
            return {"float": "inf" if v > 0 else "-inf"}
        return v
    if isinstance(v, (list, tuple)):
        return [value(x, symbols) for x in v]
    if is_node(v):
        return {"node": v.name}
    if _is_op_overload(v):
        return {"op": target_name(v)}
    kind = type(v).__name__
    if kind == "dtype":
        return {"dtype": _torch_name(v)}
    if kind == "device":
        return {"device": str(v)}
    if kind == "layout":
        return {"layout": _torch_name(v)}
    if kind == "memory_format":
        return {"memory_format": _torch_name(v)}
    if _is_symint(v):
        return _symint_value(v, symbols)
    raise ExportError(f"cannot express an argument of type {kind}: {v!r}")


def input_nodes(node):
    """The nodes `node` reads (in its args and kwargs, at any depth): torch.fx
    keeps them (`all_input_nodes`); other graphs' are found by walking."""
    known = getattr(node, "all_input_nodes", None)
    if known is not None:
        return known
    found = []

    def walk(a):
        if is_node(a):
            found.append(a)
        elif isinstance(a, (list, tuple)):
            for x in a:
                walk(x)
        elif isinstance(a, dict):
            for x in a.values():
                walk(x)

    walk(node.args)
    walk(node.kwargs)
    return found


def dependency_order(nodes):
    """`nodes` with each after every node it reads, otherwise in their order
    (as Inductor's stable_topological_sort). vLLM's pattern matcher leaves
    its replacements after their readers (vLLM's post-cleanup sorts later),
    and a pass after it gets the graph so; the format has no forward
    references."""
    nodes = list(nodes)
    seen = set()
    for n in nodes:
        if any(id(x) not in seen for x in input_nodes(n)):
            break
        seen.add(id(n))
    else:
        return nodes  # already in order: the usual case
    members = {id(n) for n in nodes}
    pending, ready, waiting, ordered = list(reversed(nodes)), set(), {}, []
    while pending:
        node = pending.pop()
        missing = [x for x in input_nodes(node) if id(x) in members and id(x) not in ready]
        if missing:
            waiting.setdefault(id(missing[-1]), []).append(node)
            continue
        ready.add(id(node))
        ordered.append(node)
        pending.extend(reversed(waiting.pop(id(node), [])))
    if waiting:
        stuck = [n.name for ns in waiting.values() for n in ns]
        raise ExportError(f"node '{stuck[0]}': the graph has a cycle through it")
    return ordered


def graph_to_dict(gm_or_graph, name="graph"):
    """The FX graph JSON document (a dict) for a GraphModule or a Graph,
    its nodes in dependency order (`dependency_order`)."""
    graph = getattr(gm_or_graph, "graph", gm_or_graph)
    symbols = {}
    nodes = []
    for n in dependency_order(graph.nodes):
        if n.op not in NODE_OPS:
            raise ExportError(f"node '{n.name}': '{n.op}' does not occur in post-grad graphs")
        entry = {"name": n.name, "op": n.op}
        if n.op == "call_function":
            entry["target"] = target_name(n.target)
        elif n.op == "output":
            entry["target"] = "output"
        else:
            entry["target"] = str(n.target)
        args = [value(a, symbols) for a in n.args]
        kwargs = {k: value(v, symbols) for k, v in n.kwargs.items()}
        if args:
            entry["args"] = args
        if kwargs:
            entry["kwargs"] = kwargs
        meta = getattr(n, "meta", {}) or {}
        if "val" in meta and n.op != "output":
            entry["meta"] = {"val": meta_val(meta["val"], symbols)}
            # An opaque input (torch >= 2.11 hoists vLLM's LayerName objects into
            # placeholders): a null value, its class named (readers ignore the key).
            if opaque_type(meta["val"]) is not None:
                entry["meta"]["opaque"] = opaque_type(meta["val"])
        nodes.append(entry)
    return {"format": FORMAT, "version": VERSION, "name": name, "symbols": symbols, "nodes": nodes}


def export_graph(gm_or_graph, path, name=None):
    """Writes `gm_or_graph` (torch.fx.GraphModule or torch.fx.Graph) to `path`."""
    doc = graph_to_dict(gm_or_graph, name or getattr(gm_or_graph, "__class__", type(None)).__name__)
    with open(path, "w") as f:
        f.write(json.dumps(doc))  # dumps runs the C encoder, dump the pure-Python one
        f.write("\n")
    return doc


def post_grad_dump_pass(directory):
    """A `post_grad_custom_post_pass` that dumps what vLLM's passes would see.

    Each call writes `<directory>/graph_<n>.json` and changes nothing:

        from vllm_opt import post_grad_dump_pass
        torch._inductor.config.post_grad_custom_post_pass = post_grad_dump_pass("/tmp/graphs")

    vLLM installs its own PostGradPassManager in that slot; to dump from inside
    vLLM, add this pass through its PassConfig / CompilationConfig hook for
    custom passes instead (see docs/fx-import.md).
    """
    import os

    os.makedirs(directory, exist_ok=True)
    counter = {"n": 0}

    def dump(graph):
        path = os.path.join(directory, f"graph_{counter['n']}.json")
        counter["n"] += 1
        export_graph(graph, path, name=f"graph_{counter['n'] - 1}")

    return dump


def main(argv=None):
    """python -m vllm_opt.fx_export MODULE:FUNCTION OUT.json

    Imports MODULE, calls FUNCTION() to get a GraphModule or Graph, writes it."""
    import argparse
    import importlib

    p = argparse.ArgumentParser(prog="python -m vllm_opt.fx_export", description=main.__doc__)
    p.add_argument("source", help="module:function returning a torch.fx.GraphModule or Graph")
    p.add_argument("output", help="the FX graph JSON file to write")
    a = p.parse_args(argv)
    mod, _, fn = a.source.partition(":")
    if not fn:
        p.error("source must be module:function")
    gm = getattr(importlib.import_module(mod), fn)()
    doc = export_graph(gm, a.output, name=fn)
    print(f"wrote {a.output}: {len(doc['nodes'])} nodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
