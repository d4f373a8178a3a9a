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
