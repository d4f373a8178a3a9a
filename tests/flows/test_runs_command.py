"""`content-factory runs`: whole ids, duration, clip count and output folder; unique prefixes
of run ids; runs that fail before planning are recorded."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from common.errors import StorageError
from flows.cli import run_cli


def make_run(db, run_id: str, *, published: bool = True) -> None:
    from storage.models import Run
    from storage.records import finish_run, queue_run, record_publication, start_run, upsert_clip

    with db.session() as s:
        queue_run(s, run_id=run_id, campaign_id="spring", name="Spring", kind="campaign",
                  spec_path="x", spec_sha256="0", spec={}, backend="animatic", locales=["en"])
        start_run(s, run_id=run_id, campaign_id="spring", kind="campaign", backend="animatic",
                  locales=["en"])
        run = s.get(Run, run_id)
        if published:
            clip = upsert_clip(s, run_id=run_id, locale="en", content_id=f"c-{run_id}",
                               state="published", duration=3.0, size_bytes=10)
            record_publication(s, clip=clip, target="file:///srv/store",
                               object_key=f"spring/{run_id}/en/video-1.mp4", kind="video",
                               url=f"file:///srv/store/spring/{run_id}/en/video-1.mp4",
                               sha256="0" * 64, size_bytes=10, uploaded=True)
        finish_run(s, run_id, state="completed")
        # exactly 42 s, however long this machine took between the two calls
        run.started_at = run.finished_at - timedelta(seconds=42)


@pytest.fixture
def db(factory_env):
    from flows.settings import get_settings
    from storage.db import open_database

    return open_database(get_settings().database_url)


def test_runs_shows_whole_ids_duration_clips_and_output_folder(db, capfd, monkeypatch):
    long_id = "spring-launch-2026-20261129-221640-a1b2"
    make_run(db, long_id)
    monkeypatch.setenv("COLUMNS", "80")  # a narrow terminal: nothing is cut or wrapped
    assert run_cli(["runs"]) == 0
    out = capfd.readouterr().out
    assert long_id in out  # whole, on one line
    assert "42.0 s" in out and "1/1" in out and "completed" in out
    assert "/srv/store/spring/" in out

    assert run_cli(["runs", "--json"]) == 0
    row = json.loads(capfd.readouterr().out.splitlines()[0])
    assert row["run_id"] == long_id and row["output"] == f"file:///srv/store/spring/{long_id}/"
    assert row["duration_s"] == 42.0 and row["clips"][0]["locale"] == "en"


def test_a_unique_prefix_names_a_run_and_an_ambiguous_one_is_an_error(db, capfd):
    from storage.records import resolve_run_id

    make_run(db, "spring-20261129-a", published=False)
    make_run(db, "spring-20261129-b", published=False)
    with db.session() as s:
        assert resolve_run_id(s, "spring-20261129-a") == "spring-20261129-a"
        assert resolve_run_id(s, "spring-20261129-b") == "spring-20261129-b"
        with pytest.raises(StorageError, match="start of several runs"):
            resolve_run_id(s, "spring-2026")
        assert resolve_run_id(s, "autumn", must_exist=False) == "autumn"
    assert run_cli(["localize", "spring-2026", "ja"]) == 1  # before any Prefect starts
    err = capfd.readouterr().err
    assert "spring-20261129-a, spring-20261129-b" in err and "Traceback" not in err


def test_a_run_that_fails_before_planning_is_recorded(prefect_harness, factory_env, db,
                                                      tmp_path):
    from flows.campaign import campaign
    from storage.models import Run

    with pytest.raises(Exception, match="gone.yaml"):
        campaign(spec_path=str(tmp_path / "gone.yaml"), run_id="gone-1")
    with db.session() as s:
        run = s.get(Run, "gone-1")
        assert run.state == "failed" and "gone.yaml" in run.error
        assert run.campaign_id == "gone" and run.flow_run_id
