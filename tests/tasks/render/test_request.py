"""Choosing a backend, and the cache key each backend chooses."""

from __future__ import annotations

import logging

import pytest

from common.errors import ConfigError
from tasks.render import RenderRequest, render_key, select_backend
from tasks.render.animatic import AnimaticBackend
from tasks.render.model import ModelBackend


def request(**overrides) -> RenderRequest:
    base = dict(prompt="A teapot on a table.", negative_prompt="", seed=3, width=64, height=48,
                frames=5, fps=16, title="The first cup", brand_colors=("#112233", "#445566"))
    return RenderRequest(**{**base, **overrides})


def test_auto_falls_back_to_the_animatic_and_says_why(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="tasks.render"):
        backend = select_backend("auto", weights_dir=None)
    assert isinstance(backend, AnimaticBackend)
    assert "no model weights" in caplog.text and "animatic" in caplog.text
    caplog.clear()
    (tmp_path / "transformer").mkdir()  # a weights layout, but no CUDA device here
    with caplog.at_level(logging.WARNING, logger="tasks.render"):
        assert isinstance(select_backend("auto", weights_dir=tmp_path), AnimaticBackend)
    assert str(tmp_path) in caplog.text


def test_named_backends_and_a_typo():
    assert isinstance(select_backend("animatic"), AnimaticBackend)
    assert isinstance(select_backend("model", preset="tiny"), ModelBackend)
    with pytest.raises(ConfigError, match="backend 'modle': choose one of auto, animatic"):
        select_backend("modle")


def test_animatic_key_follows_what_it_draws(tmp_path):
    backend = AnimaticBackend()
    key = render_key(backend, request())
    for drawn in ({"title": "Other"}, {"brand_colors": ("#FF0000", "#445566")},
                  {"camera": "orbit"}, {"prompt": "A cup."}, {"seed": 4}):
        assert render_key(backend, request(**drawn)) != key, drawn
    # Sampling settings do not change a drawing: the storyboard is not re-drawn for them.
    assert render_key(backend, request(sampling={"steps": 8})) == key
    # An image counts by its bytes, not its path.
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"one photo")
    b.write_bytes(b"one photo")
    assert render_key(backend, request(image=str(a))) == render_key(backend, request(image=str(b)))
    b.write_bytes(b"another photo")
    assert render_key(backend, request(image=str(a))) != render_key(backend, request(image=str(b)))


def test_the_same_request_keys_the_same_across_backends_only_by_name():
    assert render_key(AnimaticBackend(), request()) != \
        render_key(ModelBackend(preset="tiny", weights_dir=None), request())


@pytest.fixture
def svd_weights(tmp_path):
    """What `auto` looks at in an SVD folder: its model_index.json (nothing is loaded)."""
    folder = tmp_path / "svd"
    folder.mkdir()
    (folder / "model_index.json").write_text('{"_class_name": "StableVideoDiffusionPipeline"}')
    return folder


@pytest.mark.parametrize("free,expected,reason", [
    (30.0, "model", "30.0 GB free on the GPU, it needs 24 GB"),
    (12.0, "svd", "12.0 GB free on the GPU, ti2v-5b needs 24 GB"),
    (6.0, "animatic", "6.0 GB free is under SVD's 8 GB"),
    (None, "animatic", "no CUDA device"),
])
def test_auto_picks_by_free_gpu_memory_and_says_why(monkeypatch, caplog, tiny_diffusers_folder,
                                                    svd_weights, free, expected, reason):
    import tasks.render

    monkeypatch.setattr(tasks.render, "free_gpu_gb", lambda: free)
    with caplog.at_level(logging.INFO, logger="tasks.render"):
        backend = select_backend("auto", preset="ti2v-5b", weights_dir=tiny_diffusers_folder,
                                 svd_weights_dir=svd_weights, device="cpu")
    assert backend.name == expected
    assert reason in caplog.text and "backend auto" in caplog.text


def test_auto_without_wan_weights_uses_svd_when_it_fits(monkeypatch, caplog, svd_weights):
    import tasks.render

    monkeypatch.setattr(tasks.render, "free_gpu_gb", lambda: 16.0)
    with caplog.at_level(logging.INFO, logger="tasks.render"):
        assert select_backend("auto", weights_dir=None, svd_weights_dir=svd_weights).name == "svd"
    assert "no model weights" in caplog.text
