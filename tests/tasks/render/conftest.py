"""The model backend's tests load the tiny diffusers checkpoint the model tests write."""

from tests.model.conftest import tiny_diffusers_folder  # noqa: F401
