"""Fixtures for the flow tests."""

from __future__ import annotations

import pytest

from tasks.render.animatic import AnimaticBackend


def count_renders(monkeypatch, backend_class) -> list[str]:
    """Every call into ``backend_class.render``, by prompt: the generation count."""
    calls: list[str] = []
    original = backend_class.render

    def counting(self, request, **kwargs):
        calls.append(request.prompt)
        return original(self, request, **kwargs)

    monkeypatch.setattr(backend_class, "render", counting)
    return calls


@pytest.fixture
def render_calls(monkeypatch) -> list[str]:
    """Every call into the animatic backend, by prompt."""
    return count_renders(monkeypatch, AnimaticBackend)
