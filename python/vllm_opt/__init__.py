"""Python side of vllm-opt: export PyTorch FX graphs to FX graph JSON, load
vllm-opt's result back into the graph (`VllmOptPass`, a post-grad pass), and
load and launch the CUDA kernels `vllm-opt --emit-kernels` writes
(`vllm_opt.kernels`).

Only the standard library is needed to import this package; torch is never
imported here (objects are recognised by their attributes), so the exporter
runs, and is tested, without torch installed.
"""
from . import kernels
from .fx_export import export_graph, graph_to_dict, post_grad_dump_pass
from .fx_import import GraphImportError, VllmOptPass, load_graph

__all__ = ["GraphImportError", "VllmOptPass", "export_graph", "graph_to_dict", "kernels", "load_graph", "post_grad_dump_pass"]
