"""Localization: N locales from one render; a locale added later reuses the stored master;
a blocked prompt costs no generation; product clips reuse their shared intro and outro."""

from __future__ import annotations

import json
import textwrap

import pytest

from common.errors import RunStopped, SpecError
from storage.db import open_database
from storage.models import Run
from tasks.subtitles import read_srt

SPEC = """\
id: loc-test
brand: {{name: Loc Test}}
output: {{width: 256, height: 256, fps: 16, delivery_fps: 16}}
locales: [{locales}]
script: |
  ## only
  duration: 1.5s
  visual: {visual}
{captions}
"""
CAPTIONS = {"en": "Hello spring", "zh-CN": "你好春天", "ar": "مرحبا بالربيع", "ja": "こんにちは春"}


def write_spec(path, locales, visual="A field of flowers"):
    caps = "\n".join(f"  [{loc}] {CAPTIONS[loc]}" for loc in locales)
    path.write_text(textwrap.dedent(SPEC).format(locales=", ".join(locales), visual=visual,
                                                 captions=caps), encoding="utf-8")
    return path


def test_three_locales_one_render_then_a_fourth_from_the_stored_master(
        prefect_harness, factory_env, tmp_path, render_calls):
    from flows.campaign import campaign
    from flows.localize import localize

    spec = write_spec(tmp_path / "c.yaml", ["en", "zh-CN", "ar"])
    first = campaign(spec_path=str(spec), run_id="loc-1")
    assert len(render_calls) == 1  # three locales, one render
    assert sorted(c["locale"] for c in first["clips"]) == ["ar", "en", "zh-CN"]

    # Japanese is asked for later: the spec gains its captions, nothing is rendered.
    updated = write_spec(tmp_path / "c2.yaml", ["en", "zh-CN", "ar", "ja"])
    render_calls.clear()
    second = localize(run_id="loc-1", locales=["ja"], spec_path=str(updated))
    assert render_calls == []
    store = factory_env / "store"
    manifest = json.loads((store / second["manifest_key"]).read_text())
    assert sorted(c["locale"] for c in manifest["clips"]) == ["ar", "en", "ja", "zh-CN"]
    ja = next(c for c in manifest["clips"] if c["locale"] == "ja")
    cues = read_srt(store / ja["sidecars"]["srt"]["key"])
    assert "こんにちは春" in "".join(c.text for c in cues).replace("\n", "")
    db = open_database(f"sqlite:///{factory_env / 'factory.db'}")
    with db.session() as s:
        assert sorted(s.get(Run, "loc-1").locales) == ["ar", "en", "ja", "zh-CN"]


def test_locale_without_captions_names_the_shot(prefect_harness, factory_env, tmp_path,
                                                render_calls):
    from flows.campaign import campaign
    from flows.localize import localize

    spec = write_spec(tmp_path / "c.yaml", ["en"])
    campaign(spec_path=str(spec), run_id="loc-2")
    with pytest.raises(SpecError, match="shot 'only' has no caption for locale 'ja'"):
        localize(run_id="loc-2", locales=["ja"])


def test_blocked_prompt_makes_no_generation_call(prefect_harness, factory_env, tmp_path,
                                                 render_calls):
    from flows.campaign import campaign

    spec = write_spec(tmp_path / "c.yaml", ["en"], visual="Lines of C0CA1NE on a mirror")
    with pytest.raises(RunStopped, match="blocked at text moderation"):
        campaign(spec_path=str(spec), run_id="blocked-1")
    assert render_calls == []
    assert not (factory_env / "store").exists() or not list((factory_env / "store").rglob("*.mp4"))
    db = open_database(f"sqlite:///{factory_env / 'factory.db'}")
    with db.session() as s:
        assert s.get(Run, "blocked-1").state == "blocked"


def test_product_clips_share_intro_and_outro(prefect_harness, factory_env, render_calls):
    from flows.product import product_clip

    first = {"sku": "MUG-1", "title": "Blue Mug", "price": 9.5, "locales": ["en"]}
    second = {"sku": "MUG-2", "title": "Red Mug", "price": 8, "locales": ["en"]}
    product_clip(sku="MUG-1", product=first)
    assert len(render_calls) == 3  # intro, hero, outro
    render_calls.clear()
    manifest = product_clip(sku="MUG-2", product=second)
    assert len(render_calls) == 1 and "Red Mug" in render_calls[0]  # only the new hero shot
    assert manifest["render_hits"] == 2 and manifest["clips"][0]["locale"] == "en"
