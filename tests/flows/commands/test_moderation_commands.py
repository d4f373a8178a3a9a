"""`content-factory moderate` and `content-factory review list|approve|reject` from a terminal."""

from __future__ import annotations

import json
import uuid

import pytest
import typer
from typer.testing import CliRunner

from flows.commands import moderate, review
from moderation import Decision
from storage.db import open_database
from storage.records import latest_decision
from tasks.screen import record


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    moderate.register(app)
    review.register(app)
    return app


@pytest.fixture
def db(tmp_path, monkeypatch):
    from flows.settings import get_settings

    url = f"sqlite:///{tmp_path / 'factory.db'}"
    monkeypatch.setenv("FACTORY_DATABASE_URL", url)
    get_settings.cache_clear()
    yield open_database(url)
    get_settings.cache_clear()


def run(app, *args):
    return CliRunner().invoke(app, list(args))


def test_moderate_prints_the_decision_as_json(app, tmp_path):
    result = run(app, "moderate", "--text", "Ｆｒｅｅ ｃｏｃａｉｎｅ", "--locale", "en")
    assert result.exit_code == 4  # block (0 allow, 3 review, 4 block)
    body = json.loads(result.stdout)
    assert body["decision"] == "block" and body["scores"] == {"drugs": 1.0}
    assert "'cocaine' is drugs" in body["reasons"][0]

    caption = tmp_path / "caption.txt"
    caption.write_text("春季新品限時八折\n全場包郵\n", encoding="utf-8")
    body = json.loads(run(app, "moderate", "--file", str(caption), "--locale", "zh-TW").stdout)
    assert (body["decision"], body["reasons"], body["scores"]) == ("allow", [], {})


@pytest.mark.parametrize("args", [[], ["--text", "a", "--file", __file__]])
def test_moderate_needs_exactly_one_input(app, args):
    result = run(app, "moderate", *args)
    assert result.exit_code == 1 and "exactly one of --text" in str(result.exception)


def test_moderate_checks_a_clips_frames(app, tmp_path):
    import numpy as np

    from media.video import write_video

    clip = tmp_path / "clip.mp4"
    write_video(clip, [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(6)], fps=4)
    result = run(app, "moderate", "--video", str(clip), "--rate", "2")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["decision"] == "allow" and body["detector"] == "nudenet"
    assert "FEMALE_BREAST_EXPOSED" in body["scores"]
    missing = run(app, "moderate", "--video", str(tmp_path / "none.mp4"))
    assert missing.exit_code != 0  # the message: tests/flows/test_cli_inputs.py


def test_review_list_approve_and_reject(app, db):
    assert run(app, "review", "list").stdout.strip() == "no pending reviews"
    first = record(db, Decision("review", ["FEMALE_BREAST_EXPOSED 0.40 >= review 0.30"]),
                   subject_kind="clip", subject_id="cid-1", run_id="run-1")
    second = record(db, Decision("review", ["'kill' is violence (review, en list)"]),
                    subject_kind="text", subject_id="s2", run_id="run-2")
    listed = run(app, "review", "list").stdout
    assert f"{first}  clip cid-1  run run-1" in listed and "- 'kill' is violence" in listed
    rows = [json.loads(line) for line in run(app, "review", "list", "--json").stdout.splitlines()]
    assert [r["id"] for r in rows] == [first, second]

    approved = run(app, "review", "approve", str(first), "--reviewer", "ann", "--note", "ok")
    assert approved.exit_code == 0 and "no flow run waits for it" in approved.output
    rejected = run(app, "review", "reject", "s2", "--reviewer", "bob")
    assert rejected.exit_code == 0
    with db.session() as s:
        assert (latest_decision(s, "clip", "cid-1").decision,
                latest_decision(s, "clip", "cid-1").reviewer) == ("approved", "ann")
        assert latest_decision(s, "text", "s2").decision == "rejected"
    assert run(app, "review", "list").stdout.strip() == "no pending reviews"

    again = run(app, "review", "reject", str(first))
    assert again.exit_code == 1 and "no longer pending: approved by ann" in again.output
    missing = run(app, "review", "approve", "999")
    assert missing.exit_code == 1 and "no review with id 999" in missing.output


def test_approve_records_the_decision_when_prefect_cannot_be_reached(app, db):
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    flow_run_id = str(uuid.uuid4())
    record(db, Decision("review", ["x"]), subject_kind="clip", subject_id="cid-9",
           flow_run_id=flow_run_id)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api",
                             PREFECT_CLIENT_MAX_RETRIES: 0}):
        result = run(app, "review", "approve", "cid-9", "--reviewer", "ann")
    assert result.exit_code == 0
    assert f"could not resume flow run {flow_run_id} through http://127.0.0.1:9/api" \
        in result.output
    with db.session() as s:
        assert latest_decision(s, "clip", "cid-9").decision == "approved"
