"""Planning a run: one key per unique shot, and the campaign a finished run was made from."""

from __future__ import annotations

import textwrap

import pytest

from common.errors import SpecError
from storage.db import open_database
from tasks.plan import campaign_of_run, plan_run
from tasks.render.animatic import AnimaticBackend
from tasks.script import load_campaign

SPEC = """\
id: plan-test
brand: {{name: Plan Test}}
output: {{width: 256, height: 256, fps: 16}}
locales: [en]
templates:
  intro: {{visual: "Brand colours swirl", duration: 1}}
script: |
  ## intro
  template: intro
  ## hero
  duration: 2s
  visual: {visual}
  [en] Hello
  ## again
  template: intro
"""


def write(path, visual="A field of flowers"):
    path.write_text(textwrap.dedent(SPEC).format(visual=visual), encoding="utf-8")
    return path


@pytest.fixture
def db(tmp_path):
    return open_database(f"sqlite:///{tmp_path / 'factory.db'}")


def test_identical_shots_share_one_key_and_the_run_is_recorded(db, tmp_path):
    campaign = load_campaign(write(tmp_path / "c.yaml"))
    plan = plan_run(db, campaign, AnimaticBackend(), run_id="plan-1")
    assert plan.keys["intro"] == plan.keys["again"] != plan.keys["hero"]
    assert len(plan.unique_keys()) == 2 and plan.shot_for_key(plan.keys["again"]).id == "intro"
    stored = campaign_of_run(db, "plan-1")  # re-parsed from the script stored with the run
    assert [(s.id, s.prompt, s.seed, s.frames, s.captions) for s in stored.shots] == \
        [(s.id, s.prompt, s.seed, s.frames, s.captions) for s in campaign.shots]


def test_a_changed_shot_in_an_updated_spec_is_refused_naming_it(db, tmp_path):
    plan_run(db, load_campaign(write(tmp_path / "c.yaml")), AnimaticBackend(), run_id="plan-2")
    changed = write(tmp_path / "c2.yaml", visual="A field of sunflowers")
    with pytest.raises(SpecError, match="shot 'hero' differs from run plan-2") as err:
        campaign_of_run(db, "plan-2", str(changed))
    assert err.value.file == str(changed) and err.value.line == 10  # its "## hero" line
    assert err.value.field == "shots.hero"
    # The same shots under a new file name are fine.
    same = write(tmp_path / "c3.yaml")
    assert [s.id for s in campaign_of_run(db, "plan-2", str(same)).shots] == \
        ["intro", "hero", "again"]


PHOTO_SPEC = """\
id: photo-test
brand: {{name: Photo Test}}
output: {{width: 256, height: 256, fps: 16}}
locales: [en]
model: {{ignore_images: {ignore}}}
script: |
  ## intro
  visual: Brand colours swirl
  ## hero
  visual: A teapot on a pedestal
  image: teapot.png
"""


def photo_campaign(tmp_path, ignore: bool):
    (tmp_path / "teapot.png").write_bytes(b"not looked at by the plan")
    path = tmp_path / "photo.yaml"
    path.write_text(textwrap.dedent(PHOTO_SPEC).format(ignore=str(ignore).lower()),
                    encoding="utf-8")
    return load_campaign(path)


def test_a_photo_for_a_text_to_video_model_is_a_spec_error_naming_the_shot(db, tmp_path):
    from storage.models import Run
    from tasks.render.model import ModelBackend

    campaign = photo_campaign(tmp_path, ignore=False)
    with pytest.raises(SpecError, match="text-to-video and would never see it") as err:
        plan_run(db, campaign, ModelBackend(preset="tiny", weights_dir=None), run_id="photo-1")
    assert err.value.field == "shots.hero.image" and err.value.line == 9  # its "## hero" line
    assert "ignore_images" in str(err.value) and "ti2v-5b" in str(err.value)
    with db.session() as s:
        assert s.get(Run, "photo-1") is None  # refused before anything was recorded
    # The spec may say so; an image-conditioned model or the animatic takes the photo anyway.
    plan_run(db, photo_campaign(tmp_path, ignore=True),
             ModelBackend(preset="tiny", weights_dir=None), run_id="photo-2")
    plan_run(db, campaign, ModelBackend(preset="tiny-ti2v", weights_dir=None), run_id="photo-3")
    plan_run(db, campaign, AnimaticBackend(), run_id="photo-4")
