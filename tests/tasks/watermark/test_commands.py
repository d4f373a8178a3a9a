"""`content-factory watermark` and `content-factory verify`, down to the run-records lookup."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from flows.commands.watermark import register
from flows.settings import get_settings
from media.video import run_ffmpeg

from .conftest import CONTENT_ID, FONTS_DIR


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FACTORY_PRODUCER", "Acme Studio")
    get_settings.cache_clear()
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def invoke(*args: str) -> dict:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    yield invoke
    get_settings.cache_clear()


def record_clip(content_id: str) -> None:
    from storage.db import open_database
    from storage.records import start_run, upsert_campaign, upsert_clip

    with open_database(get_settings().database_url).session() as s:
        upsert_campaign(s, campaign_id="spring", name="Spring", kind="campaign", spec_path="",
                        spec_sha256="0" * 64, spec={})
        start_run(s, run_id="run-1", campaign_id="spring", kind="campaign", backend="animatic",
                  locales=["ar"])
        upsert_clip(s, run_id="run-1", locale="ar", content_id=content_id)


def test_watermark_then_verify_finds_everything_and_the_clip(cli, clips, logo_png, tmp_path):
    out = tmp_path / "published.mp4"
    report = cli("watermark", clips["storyboard"], out, "--content-id", CONTENT_ID,
                 "--logo", logo_png, "--label-locale", "ar", "--fonts-dir", FONTS_DIR,
                 "--model", "animatic", "--dev-cert")
    assert report["payload"] == CONTENT_ID[:12] and report["label_text"].startswith("مُنشأ")
    assert report["c2pa"]["development"] is True
    assert not list(tmp_path.glob(".published*"))  # intermediate stages cleaned up
    record_clip(CONTENT_ID)

    verified = cli("verify", out)
    assert verified["payload"] == CONTENT_ID[:12] and verified["found"]
    assert verified["bit_confidence"] > 0.99
    assert verified["metadata"]["content_id"] == CONTENT_ID
    assert verified["metadata"]["producer"] == "Acme Studio"
    assert verified["metadata_matches_payload"] is True
    assert verified["c2pa"]["state"] == "valid"
    assert verified["clip"]["content_id"] == CONTENT_ID and verified["clip"]["run_id"] == "run-1"

    # A platform re-encode drops the tags and the manifest; the pixels still lead to the clip.
    reuploaded = tmp_path / "reuploaded.mp4"
    run_ffmpeg(["-i", str(out), "-map_metadata", "-1", "-c:v", "libx264", "-crf", "28",
                "-preset", "veryfast", str(reuploaded)], what="platform re-encode")
    again = cli("verify", reuploaded)
    assert again["metadata"] is None and again["c2pa"]["state"] == "absent"
    assert again["payload"] == CONTENT_ID[:12]
    assert again["clip"]["content_id"] == CONTENT_ID
    assert again["clip"]["matched_by"] == "watermark payload"


def test_verify_unmarked_clip(cli, clips):
    verified = cli("verify", clips["natural"], "--no-records")
    assert verified["payload"] is None and not verified["found"]
    assert verified["metadata"] is None and verified["c2pa"]["state"] == "absent"
    assert verified["clip"] is None


def test_watermark_with_payload_only(cli, clips, tmp_path):
    out = tmp_path / "marked.mp4"
    report = cli("watermark", clips["storyboard"], out, "--payload", "0123456789ab",
                 "--label-locale", "none")
    assert report["label_frames"] == 0 and report["payload"] == "0123456789ab"
    assert cli("verify", out, "--no-records")["payload"] == "0123456789ab"
