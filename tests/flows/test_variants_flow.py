"""Variants end to end: 2 seeds x 3 calls to action x 2 music beds, 12 clips from 2 renders."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from storage.db import open_database
from storage.models import Clip
from tasks.watermark.metadata import read_ai_metadata

SPEC = """\
id: variant-flow
brand: {name: Variant Test}
output: {width: 256, height: 256, fps: 8, delivery_fps: 8}
locales: [en]
audio: {music: none}
variants:
  seed: [a, b]
  cta:
    shop: {en: Shop now}
    try: {en: Try it free}
    learn: {en: Learn more}
  music: [calm, none]
script: |
  ## cup: A cup
  duration: 2s
  visual: A red cup on a table
  [en] Fresh tea.
"""


@pytest.fixture
def spec_path(tmp_path) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(textwrap.dedent(SPEC), encoding="utf-8")
    return path


def test_twelve_variants_from_two_renders(prefect_harness, factory_env, spec_path, render_calls):
    from flows.campaign import campaign

    result = campaign(spec_path=str(spec_path), run_id="vf")

    # One shot, two seeds: exactly two renders make all twelve clips.
    assert len(render_calls) == 2
    assert result["renders_made"] == 2 and result["renders_planned"] == 2
    assert len(result["clips"]) == 12 and len(result["variants"]) == 12
    ids = {v["variant"] for v in result["variants"]}
    assert "seed-b.cta-try.music-none" in ids and len(ids) == 12
    # Identity: the manifest, the object key and the MP4's metadata name the variant.
    store = factory_env / "store"
    for entry in result["variants"]:
        saved = json.loads((store / entry["manifest_key"]).read_text())
        assert saved["variant"] == entry["variant"]
        [clip] = saved["clips"]
        assert clip["variant"] == entry["variant"] and entry["variant"] in clip["key"]
        label = read_ai_metadata(store / clip["key"])
        assert label.variant == entry["variant"]
    # Finishing differs: the call to action is in the subtitles, the music in the sound.
    with open_database(f"sqlite:///{factory_env / 'factory.db'}").session() as s:
        clips = {c.details["variant"]: c for c in s.query(Clip)}
        assert bool(clips["seed-a.cta-shop.music-calm"].details["audio"]) is True
        assert not clips["seed-a.cta-shop.music-none"].details["audio"]
    vtt = {v["variant"]: (store / next(c for c in result["clips"]
                                       if c["variant"] == v["variant"])["sidecars"]["vtt"]["key"]
                          ).read_text() for v in result["variants"]}
    assert "Try it free" in vtt["seed-a.cta-try.music-none"]
    assert "Learn more" in vtt["seed-b.cta-learn.music-calm"]
    assert "Fresh tea." in vtt["seed-b.cta-learn.music-calm"]


LOOP_SPEC = """\
id: loop
brand: {name: Loop}
output: {width: 256, height: 256, fps: 8, delivery_fps: 8}
locales: [en]
audio: none
variants:
  seed: [a, b]
script: |
  ## cup: A cup
  duration: 1.5s
  visual: A red cup on a table
"""


def test_the_loop_figures_ranking_promotion_and_a_next_run_from_cache(
        prefect_harness, factory_env, tmp_path, render_calls, capsys):
    from flows.campaign import campaign
    from flows.cli import run_cli
    from flows.variants import artifact_key

    spec = tmp_path / "loop.yaml"
    spec.write_text(LOOP_SPEC)
    first = campaign(spec_path=str(spec), run_id="loop1")
    assert len(render_calls) == 2 and len(first["clips"]) == 2
    clip_of = {c["variant"]: c["content_id"] for c in first["clips"]}

    figures = tmp_path / "figures.csv"
    figures.write_text("clip_id,views,completions\n"
                       f"{clip_of['seed-a']},3000,900\n{clip_of['seed-b']},3000,1500\n")
    assert run_cli(["metrics", "import", str(figures)]) == 0
    assert run_cli(["metrics", "import", str(figures)]) == 0
    assert "already imported (nothing changed)" in capsys.readouterr().out

    assert run_cli(["variants", "report", "loop", "--artifact"]) == 0
    report = capsys.readouterr().out
    assert "seed-b is ahead on completion rate" in report
    from prefect.artifacts import Artifact

    artifact = Artifact.get(artifact_key("loop", "completion"))
    assert artifact is not None and "seed-b" in str(artifact.data)

    assert run_cli(["variants", "promote", str(spec), "seed-b"]) == 0
    assert (tmp_path / "loop.r1.yaml").read_text() == LOOP_SPEC
    # The next run builds on the winner: its first variant is seed-b, and no shot is rendered.
    render_calls.clear()
    second = campaign(spec_path=str(spec), run_id="loop2")
    assert render_calls == [] and second["renders_made"] == 0
    assert [v["variant"] for v in second["variants"]] == ["seed-b", "seed-a"]
