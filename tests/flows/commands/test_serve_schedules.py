"""`content-factory serve` leaves the example schedules off unless `--schedules` is given."""

from __future__ import annotations

import pytest

from flows.cli import run_cli


@pytest.fixture
def started(monkeypatch, tmp_path) -> list:
    """The LocalOptions each `serve` would start the factory with (nothing is started)."""
    import deployments.local

    seen: list = []

    class NoFactory:
        def __init__(self, options, env=None):
            seen.append(options)

        def start(self):
            raise KeyboardInterrupt  # as if Ctrl-C came at once: serve stops cleanly

        def stop(self):
            pass

    monkeypatch.setattr(deployments.local, "LocalFactory", NoFactory)
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    from flows.settings import get_settings

    get_settings.cache_clear()
    yield seen
    get_settings.cache_clear()


def test_serve_registers_the_schedules_paused_by_default(started):
    assert run_cli(["serve"]) == 0
    assert started[-1].pause_schedules is True


def test_serve_with_schedules_switches_them_on(started):
    assert run_cli(["serve", "--schedules"]) == 0
    assert started[-1].pause_schedules is False
