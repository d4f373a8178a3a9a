"""torch.compile for the DiT experts without a recompile per shape.

Each block is compiled once. Its inputs' batch dim (CFG: 1 or 2) and token dim are marked
dynamic (``model.dit.mark_dynamic_dims``), so a new size or frame count reuses the compiled
graph; without that, dynamo compiled a graph per token count and, after its recompile limit
(8), silently ran the blocks uncompiled. Every actual compilation is logged, so a recompile
shows in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from model.dit import WanDiT

log = logging.getLogger(__name__)


def logging_backend(backend: str | Callable = "inductor") -> Callable:
    """A dynamo backend that logs each graph it is handed, then compiles it with ``backend``."""
    from torch._dynamo import lookup_backend

    inner = lookup_backend(backend) if isinstance(backend, str) else backend
    count = 0

    def compile_graph(graph_module: torch.fx.GraphModule, example_inputs: list) -> Callable:
        nonlocal count
        count += 1
        shapes = [tuple(t.shape) for t in example_inputs if isinstance(t, torch.Tensor)][:3]
        log.info("torch.compile: compiling DiT block graph #%d (first inputs %s; batch and "
                 "token dims dynamic)", count, shapes)
        return inner(graph_module, example_inputs)

    return compile_graph


def compile_dit(model: WanDiT, *, backend: str | Callable = "inductor") -> WanDiT:
    """Compile every block of ``model`` in place with dynamic batch and token dims."""
    model.dynamic_dims = True
    compiled = logging_backend(backend)
    for block in model.blocks:
        block.compile(backend=compiled, dynamic=None)
    log.info("torch.compile: %d DiT blocks set to compile on first use (backend %s)",
             len(model.blocks), backend if isinstance(backend, str) else "custom")
    return model
