"""Fixtures for the flow tests."""

from __future__ import annotations

import pytest

from tasks.render.animatic import AnimaticBackend


@pytest.fixture
def render_calls(monkeypatch) -> list[str]:
    """Every call into the animatic backend, by prompt: the generation count."""
    calls: list[str] = []
    original = AnimaticBackend.render

    def counting(self, request, **kwargs):
        calls.append(request.prompt)
        return original(self, request, **kwargs)

    monkeypatch.setattr(AnimaticBackend, "render", counting)
    return calls
