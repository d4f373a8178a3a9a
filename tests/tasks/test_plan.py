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
