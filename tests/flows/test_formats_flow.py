"""One campaign, every platform: the example campaign delivered as 16:9, 9:16, 1:1 and 4:5 in
zh-CN, en, ar and ja, with the label, logo and every caption inside each format's safe zone.

The one slow test of the issue (the end-to-end run over all formats and locales of the
example, at a small size): about a minute on two cores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from media.formats import FORMATS
from media.video import probe, read_frames
from tasks.subtitles.files import read_srt

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spring-launch"
DIFF = 48         # a pixel changed by an overlay (H.264 and the invisible mark stay well below)
KERNEL = np.ones((2, 2), np.uint8)
EDGE = 2          # anti-aliased edges may bleed this many pixels (libass blur, resampling)


@pytest.fixture
def example_all_formats(tmp_path) -> Path:
    """The example campaign, all four formats, at the smallest model-like size (448x256)."""
    folder = tmp_path / "spring"
    shutil.copytree(EXAMPLE, folder)
    spec = yaml.safe_load((folder / "campaign.yaml").read_text(encoding="utf-8"))
    spec["output"].update(width=448, height=256, formats=["16:9", "9:16", "1:1", "4:5"])
    spec.pop("variants")  # one run; tests/flows/test_variants_flow.py runs variants
    spec["cta"] = {"zh-CN": "立即品尝", "en": "Taste it today", "ar": "تذوقه اليوم",
                   "ja": "今すぐ味わう"}
    (folder / "campaign.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True),
                                          encoding="utf-8")
    return folder / "campaign.yaml"


def _changed(shown: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """Pixels an overlay changed: over DIFF, and not a lone pixel (the encoder's, next to a
    cut): eroded by a 2x2 square, which keeps every blob of 2x2 or more (1 px thinner)."""
    changed = np.abs(shown.astype(np.int16) - clean).max(axis=2) > DIFF
    return cv2.erode(changed.astype(np.uint8), KERNEL).astype(bool)


def _outside(changed: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """Changed pixels outside ``box`` grown by EDGE."""
    x0, y0, x1, y1 = box
    inside = np.zeros_like(changed)
    inside[max(0, y0 - EDGE):y1 + EDGE, max(0, x0 - EDGE):x1 + EDGE] = True
    return int((changed & ~inside).sum())


def test_example_delivers_every_format_and_locale_inside_the_safe_zones(
        prefect_harness, factory_env, example_all_formats):
    from flows.campaign import campaign

    manifest = campaign(spec_path=str(example_all_formats), run_id="formats-1", silent=True)
    check_deliveries(manifest, factory_env, example_all_formats)


def check_deliveries(manifest: dict, factory_env: Path, spec_path: Path) -> None:
    from flows.runtime import get_factory
    from tasks.layout import delivery_layouts
    from tasks.script import load_campaign

    locales = ["zh-CN", "en", "ar", "ja"]
    assert sorted(manifest["formats"]) == sorted(FORMATS)
    assert sorted((c["format"], c["locale"]) for c in manifest["clips"]) == \
        sorted((f, loc) for f in FORMATS for loc in locales)
    layouts = {lay.format: lay for lay in delivery_layouts(load_campaign(spec_path).spec)}
    assert {f: lay.size for f, lay in layouts.items()} == {
        "16:9": (448, 256), "9:16": (256, 448), "1:1": (256, 256), "4:5": (256, 320)}

    store = factory_env / "store"
    factory = get_factory()
    with factory.db.session() as s:
        from storage.models import Run
        masters = dict(s.get(Run, "formats-1").metrics["masters"])
    cache = factory.cache_store
    checked = 0
    for clip in manifest["clips"]:
        fmt, locale = clip["format"], clip["locale"]
        # The key carries the format: CAMPAIGN/RUN/9x16/ar/video-....mp4
        assert f"/{FORMATS[fmt].slug}/{locale}/" in clip["key"]
        layout = layouts[fmt]
        video = store / clip["key"]
        info = probe(video)
        assert info.size == layout.size
        master = factory.work_dir / "check" / f"{masters[fmt]}.mkv"
        if not master.is_file():
            cache.get_file(f"masters/{masters[fmt]}.mkv", master)
        clean = list(read_frames(master))
        cues = read_srt_from(store, clip)
        shown = list(read_frames(video))
        # The clip is the master, then the end card (2.5 s) on top.
        assert len(shown) == len(clean) + round(2.5 * info.fps)
        box = layout.safe_box
        fps = float(info.fps)
        sample = sorted({0, 5, len(clean) // 2, len(clean) - 1}
                        | {min(len(clean) - 1, int((c.start + c.end) / 2 * fps)) for c in cues})
        for i in sample:
            changed = _changed(shown[i], clean[i])
            assert changed.sum() > 50, (fmt, locale, i)  # the logo is on every frame
            assert _outside(changed, box) == 0, (fmt, locale, i, box)
            checked += 1
        # Every cue is drawn (ink inside the safe zone, in its lower part) at its middle frame.
        for cue in cues:
            i = min(len(clean) - 1, int((cue.start + cue.end) / 2 * fps))
            changed = _changed(shown[i], clean[i])
            rows = np.nonzero(changed[(box[1] + box[3]) // 2:box[3] + EDGE])[0]
            assert rows.size > 20, (fmt, locale, cue.text)
            assert len(cue.lines) <= 2
        # The end card: its text and button inside the safe zone too (against its background
        # gradient, which has no edges).
        card = shown[-1].astype(np.int16)
        ink = np.abs(np.diff(card, axis=1)).max(axis=2) > DIFF
        assert ink.sum() > 50 and _outside(np.pad(ink, ((0, 0), (0, 1))), box) == 0
    assert checked >= 16 * 4


def read_srt_from(store: Path, clip: dict):
    srt = store / clip["sidecars"]["srt"]["key"]
    return read_srt(srt)


def test_manifest_lists_formats_only_when_the_spec_has_them(prefect_harness, factory_env,
                                                            tmp_path):
    """A spec without ``output.formats`` keeps its old keys: CAMPAIGN/RUN/LOCALE/..."""
    from flows.campaign import campaign

    spec = tmp_path / "c.yaml"
    spec.write_text(
        "id: legacy\nbrand: {name: L}\noutput: {width: 256, height: 256, fps: 16}\n"
        "locales: [ar]\naudio: none\nscript: |\n  ## a\n  duration: 1s\n  visual: A cup\n"
        "  [ar] كوب شاي\n", encoding="utf-8")
    manifest = campaign(spec_path=str(spec), run_id="legacy-1")
    assert "formats" not in manifest and "format" not in manifest["clips"][0]
    assert manifest["clips"][0]["key"].startswith("legacy/legacy-1/ar/video-")
    saved = json.loads((factory_env / "store" / manifest["manifest_key"]).read_text())
    assert saved["locales"] == ["ar"]


def test_a_model_backend_crops_the_square_from_the_vertical_master(prefect_harness, factory_env,
                                                                   tmp_path, monkeypatch):
    """Backends that render only model sizes get 1:1 as a subject-following crop of 9:16."""
    from flows.campaign import campaign
    from flows.runtime import get_factory
    from storage.models import Run
    from tasks.render.animatic import AnimaticBackend

    monkeypatch.setattr(AnimaticBackend, "any_size", False)
    spec = tmp_path / "c.yaml"
    spec.write_text(
        "id: crop\nbrand: {name: C}\noutput: {width: 448, height: 256, fps: 16, "
        "formats: [9:16, 1:1]}\nlocales: [en]\naudio: none\nscript: |\n  ## a\n  duration: 1s\n"
        "  camera: slow pan right\n  visual: A cup\n  [en] A cup of tea.\n", encoding="utf-8")
    manifest = campaign(spec_path=str(spec), run_id="crop-1")
    sizes = {c["format"]: (c["width"], c["height"]) for c in manifest["clips"]}
    assert sizes == {"9:16": (256, 448), "1:1": (256, 256)}
    factory = get_factory()
    with factory.db.session() as s:
        masters = s.get(Run, "crop-1").metrics["masters"]
    meta = json.loads(factory.cache_store.get_bytes(f"masters/{masters['1:1']}.json"))
    assert meta["source"] == masters["9:16"]                 # cropped from the 9:16 master
    assert meta["reports"]["reframe"]["axis"] == "y" and meta["reports"]["reframe"]["size"] \
        == [256, 256]

    # A locale added later comes in every format, from the stored masters (no render).
    from flows.localize import localize

    spec.write_text(spec.read_text(encoding="utf-8").replace("locales: [en]",
                                                              "locales: [en, ar]")
                    + "  [ar] كوب شاي.\n", encoding="utf-8")
    more = localize(run_id="crop-1", locales=["ar"], spec_path=str(spec))
    assert sorted((c["format"], c["locale"]) for c in more["clips"]) == [
        ("1:1", "ar"), ("1:1", "en"), ("9:16", "ar"), ("9:16", "en")]
    assert all(f"/{c['format'].replace(':', 'x')}/{c['locale']}/" in c["key"]
               for c in more["clips"])
