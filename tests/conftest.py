"""Test-wide set-up: offline Prefect, and a factory whose data lives in the test's folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness (a temporary API database and server), once per session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def factory_env(tmp_path, monkeypatch) -> Iterator[Path]:
    """FACTORY_* settings pointing at a fresh data folder; caches of settings cleared."""
    from flows import runtime
    from flows.settings import get_settings

    data = tmp_path / "data"
    monkeypatch.setenv("FACTORY_DATA_DIR", str(data))
    monkeypatch.setenv("FACTORY_BACKEND", "animatic")
    for name in ("DATABASE_URL", "STORE_URL", "CACHE_URL", "WEIGHTS_DIR", "SVD_WEIGHTS_DIR",
                 "C2PA_CERT", "C2PA_KEY", "MODEL_PRESET", "DEVICE"):
        monkeypatch.delenv(f"FACTORY_{name}", raising=False)
    get_settings.cache_clear()
    runtime._factory.cache_clear()
    yield data
    get_settings.cache_clear()
    runtime._factory.cache_clear()
