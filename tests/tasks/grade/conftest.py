"""colour-science, the oracle for the grade's colour maths (a test dependency only)."""

from __future__ import annotations

import sys
import warnings

import pytest


@pytest.fixture(scope="session")
def colour():
    """colour-science without its side effect: without matplotlib it puts stand-in
    ``matplotlib`` modules (no ``__spec__``) into ``sys.modules``, which makes later imports of
    diffusers and transformers in the same test session fail; they are taken out again."""
    before = set(sys.modules)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import colour as module
    for name in set(sys.modules) - before:
        if name.split(".")[0] == "matplotlib" and getattr(sys.modules[name], "__spec__", None) \
                is None:
            del sys.modules[name]
    return module
