"""torch.compile: one graph serves every token count; batch 1 and 2 (CFG) need at most two.

Dynamo's own frame counter (``CompileCounter`` as the backend) counts compilations; the eager
backend keeps this fast on a CPU. A compile is logged each time it happens."""

from __future__ import annotations

import logging

import torch
from torch._dynamo.testing import CompileCounter

from model.compile import compile_dit
from model.config import DiTConfig
from model.dit import WanDiT

CONFIG = DiTConfig(dim=24, num_heads=2, num_layers=3, ffn_dim=32, text_dim=32)


def run(model: WanDiT, batch: int, frames: int, height: int, width: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(frames * 100 + height)
    x = torch.randn(batch, 16, frames, height, width, generator=g)
    ctx = torch.randn(batch, 12, 32, generator=g)
    with torch.no_grad():
        return model(x, torch.full((batch,), 500), ctx)


def test_a_second_token_count_and_batch_size_do_not_recompile(caplog):
    torch._dynamo.reset()
    model = WanDiT(CONFIG)
    model.init_weights(torch.Generator().manual_seed(0))
    model.eval()
    eager = WanDiT(CONFIG)
    eager.load_state_dict(model.state_dict())
    eager.eval()
    counter = CompileCounter()
    compile_dit(model, backend=counter)
    with caplog.at_level(logging.INFO, logger="model.compile"):
        run(model, 2, 3, 6, 10)          # 45 tokens, CFG batch 2
        after_first = counter.frame_count
        run(model, 2, 5, 6, 14)          # 105 tokens
        run(model, 2, 2, 8, 8)           # 32 tokens
        assert counter.frame_count == after_first  # no recompile for a new token count
        run(model, 1, 3, 6, 10)          # batch 1: dynamo specialises 1 once
        run(model, 1, 5, 6, 14)
        run(model, 2, 4, 10, 10)
    assert after_first == 1
    assert counter.frame_count <= 2
    assert sum("compiling DiT block graph" in r.message for r in caplog.records) \
        == counter.frame_count
    # the compiled blocks compute what the eager ones do
    assert torch.allclose(run(model, 2, 3, 6, 10), run(eager, 2, 3, 6, 10), atol=1e-5)
    torch._dynamo.reset()


def test_per_token_timesteps_do_not_recompile_per_token_count():
    """TI2V's per-token timesteps make the blocks' modulation [B, L, 6, D]: its token dim is
    marked dynamic like the stream's, so a new size still reuses the graph."""
    torch._dynamo.reset()
    model = WanDiT(CONFIG)
    model.init_weights(torch.Generator().manual_seed(0))
    model.eval()
    eager = WanDiT(CONFIG)
    eager.load_state_dict(model.state_dict())
    eager.eval()
    counter = CompileCounter()
    compile_dit(model, backend=counter)

    def run_per_token(net: WanDiT, frames: int, height: int, width: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(frames * 100 + height)
        x = torch.randn(2, 16, frames, height, width, generator=g)
        per_frame = (height // 2) * (width // 2)
        t = torch.full((2, frames * per_frame), 700.0)
        t[:, :per_frame] = 0  # the photo's first-frame tokens are clean
        with torch.no_grad():
            return net(x, t, torch.randn(2, 12, 32, generator=g))

    run_per_token(model, 3, 6, 10)
    after_first = counter.frame_count
    run_per_token(model, 5, 6, 14)
    run_per_token(model, 2, 8, 8)
    assert after_first == 1 and counter.frame_count == after_first
    assert torch.allclose(run_per_token(model, 3, 6, 10), run_per_token(eager, 3, 6, 10),
                          atol=1e-5)
    torch._dynamo.reset()
