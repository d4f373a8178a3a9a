"""The campaign flow end to end under Prefect's test harness, on embedded defaults."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from common.errors import StorageError
from media.video import probe
from storage.db import open_database
from storage.models import Clip, ModerationDecision, Run
from storage.objects import sha256_file

SPEC = """\
id: flow-test
brand:
  name: Flow Test
  colors: {primary: "#0F766E", secondary: "#F5D0A9", text: "#FFFFFF"}
output: {width: 320, height: 256, fps: 16, delivery_fps: 24}
locales: [en, zh-CN]
templates:
  intro: {visual: "Brand colours swirl", duration: 1}
script: |
  ## intro
  template: intro

  ## product: The product
  duration: 1.5s
  camera: slow push-in
  visual: A tea tin on a wooden table
  [en] Fresh tea, 20% off.
  [zh-CN] 新茶八折。

  ## again
  template: intro
"""


@pytest.fixture
def spec_path(tmp_path) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    return path


def test_campaign_flow_publishes_one_clip_per_locale(prefect_harness, factory_env, spec_path,
                                                     render_calls):
    from flows.campaign import campaign

    manifest = campaign(spec_path=str(spec_path), run_id="flow-test-1")

    # Three shots, two of them the same template: two renders, one per unique shot.
    assert len(render_calls) == 2
    assert sorted(c["locale"] for c in manifest["clips"]) == ["en", "zh-CN"]
    store = factory_env / "store"
    saved = json.loads((store / manifest["manifest_key"]).read_text())
    assert saved["run_id"] == "flow-test-1" and len(saved["clips"]) == 2
    for clip in saved["clips"]:
        video = store / clip["key"]
        assert sha256_file(video) == clip["sha256"]
        info = probe(video)
        assert (info.width, info.height, info.fps) == (320, 256, 24)
        # Shots of 17 + 25 + 17 frames at 16 fps, each interpolated to 24 fps (every output
        # instant inside the shot's span: ceil(n * 24 / 16)).
        assert info.frames == clip["frames"] == 26 + 38 + 26
        assert info.has_subtitles  # the soft track
        assert set(clip["sidecars"]) == {"srt", "vtt"}
        srt = (store / clip["sidecars"]["srt"]["key"]).read_text(encoding="utf-8")
        assert ("新茶八折" if clip["locale"] == "zh-CN" else "Fresh tea") in srt
    db = open_database(f"sqlite:///{factory_env / 'factory.db'}")
    with db.session() as s:
        run = s.get(Run, "flow-test-1")
        assert run.state == "completed" and run.master_key
        # Every stage of the pipeline, in order, timed in one place.
        assert list(run.metrics["stages"]) == ["plan", "screen-text", "voice", "render",
                                               "stabilize", "master", "screen-frames", "reframe",
                                               "localize", "publish", "manifest"]
        # The colour jump at each cut, before and after matching, beside the stabilize report.
        colour = run.metrics["colour"]
        assert len(colour["cuts"]) == 2 and colour["summary"]["cuts"] == 2
        assert all({"from", "to", "before", "after"} <= set(cut) for cut in colour["cuts"])
        assert {g["grade"] for g in colour["shots"].values()} <= {"reference", "matched"}
        steady = run.metrics["stabilize"]
        assert steady and all("after" in r and "before" in r for r in steady.values())
        # what the renderer did (the animatic reports no model forwards)
        assert run.metrics["render_work"] == {}
        decisions = {d.subject_kind for d in s.query(ModerationDecision)}
        assert decisions == {"text", "render", "clip"}
        assert {c.state for c in s.query(Clip)} == {"published"}


def test_failed_run_resumes_without_rendering_again(prefect_harness, factory_env, spec_path,
                                                    render_calls, monkeypatch):
    import tasks.publish
    from flows.campaign import campaign

    def broken(*args, **kwargs):
        raise StorageError("store unreachable (injected)")

    monkeypatch.setattr(tasks.publish, "publish_clips", broken)
    with pytest.raises(StorageError, match="injected"):
        campaign(spec_path=str(spec_path), run_id="resume-1")
    assert len(render_calls) == 2
    db = open_database(f"sqlite:///{factory_env / 'factory.db'}")
    with db.session() as s:
        run = s.get(Run, "resume-1")
        assert run.state == "failed" and "injected" in run.error
    assert not list((factory_env / "store").rglob("*.mp4"))  # nothing half-published

    monkeypatch.undo()
    render_calls.clear()
    manifest = campaign(spec_path=str(spec_path), run_id="resume-1")
    assert render_calls == []  # the rerun took every render (and the master) from the cache
    assert len(manifest["clips"]) == 2 and manifest["render_hits"] == 2
    with db.session() as s:
        run = s.get(Run, "resume-1")
        assert run.state == "completed" and run.attempts == 2


BRANDED = """\
id: {id}
brand:
  name: {name}
  colors: {{primary: "{primary}", secondary: "#F5D0A9", text: "#FFFFFF"}}
output: {{width: 256, height: 256, fps: 16, delivery_fps: 16}}
locales: [en]
model: {{steps: 2}}
templates:
  intro: {{visual: "Soft light over a tea field", duration: 1}}
script: |
  ## intro
  template: intro

  ## product: {title}
  duration: 1s
  seed: 7
  visual: A tea tin on a wooden table
  [en] {caption}
"""


def test_brand_colours_and_titles_never_cost_a_second_model_render(
        prefect_harness, factory_env, tmp_path, monkeypatch):
    """Two campaigns, the same shots, other brands and titles: the model renders each shot once."""
    from flows.campaign import campaign
    from tasks.render.model import ModelBackend
    from tests.flows.conftest import count_renders

    monkeypatch.setenv("FACTORY_MODEL_PRESET", "tiny")
    prompts = count_renders(monkeypatch, ModelBackend)
    brands = [("tea-a", "Tea A", "#0F766E", "The first cup", "Fresh tea."),
              ("tea-b", "Tea B", "#7C2D12", "A better cup", "Better tea.")]
    for cid, name, primary, title, caption in brands:
        path = tmp_path / f"{cid}.yaml"
        path.write_text(BRANDED.format(id=cid, name=name, primary=primary, title=title,
                                       caption=caption), encoding="utf-8")
        manifest = campaign(spec_path=str(path), run_id=f"{cid}-1", backend="model")
        assert manifest["renders"] == 2
    # Two unique shots in all: the second brand's run found both in the template cache.
    assert sorted(prompts) == ["A tea tin on a wooden table.", "Soft light over a tea field."]
