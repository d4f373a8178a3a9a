"""The grade over files and across cuts: what `content-factory grade`, `stabilize
--match-colour` and the master's cut metrics give a user."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from common.errors import SpecError
from media.synthetic import cast_shot
from media.video import FrameWriter, read_frames
from tasks.grade import ColourTable, delta_e, fit_correction, frame_stats, mean_lab, write_cube
from tasks.grade.cube import identity_grid
from tasks.grade.stage import CutMeter, cut_summary, image_stats

SIZE = (320, 180)


def _write(path, frames):
    with FrameWriter(path, fps=16, size=SIZE, lossless=True) as writer:
        for frame in frames:
            writer.write(frame)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("grade")
    reference = list(cast_shot(12, None))
    ref_png = tmp / "reference.png"
    cv2.imwrite(str(ref_png), cv2.cvtColor(reference[6], cv2.COLOR_RGB2BGR))
    return {"reference": reference, "png": ref_png,
            "tinted": _write(tmp / "tinted.mkv", cast_shot(12, "tinted")), "tmp": tmp}


def _jump(frames, reference) -> float:
    """ΔE between the mean colours of two clips of one scene, frame by frame, averaged."""
    return float(np.mean([delta_e(mean_lab(a), mean_lab(b)) for a, b in zip(frames, reference)]))


def _app():
    from flows.commands.grade import register as register_grade
    from flows.commands.stabilize import register as register_stabilize

    app = typer.Typer()
    register_grade(app)
    register_stabilize(app)
    return app


def test_cut_meter_reports_the_jump_before_and_after_matching():
    reference = list(cast_shot(12, None))
    ref_stats = frame_stats(reference)
    meter = CutMeter()
    for shot_id, cast in (("a", None), ("b", "tinted"), ("c", "under")):
        frames = list(cast_shot(12, cast))
        table = ColourTable.build(fit_correction(frame_stats(frames), ref_stats)) if cast \
            else None
        meter.shot(shot_id)
        for frame in frames:
            meter.add(frame, table.apply(frame) if table else frame)
    cuts = meter.cuts()
    assert [(c["from"], c["to"]) for c in cuts] == [("a", "b"), ("b", "c")]
    assert all(c["before"] > 5 for c in cuts)     # tinted and dark against the reference look
    assert all(c["after"] < 2 for c in cuts)      # the same scene once matched
    summary = cut_summary(cuts)
    assert summary["cuts"] == 2 and summary["mean_after"] < summary["mean_before"]


def test_grade_command_matches_a_clip_to_a_reference_image(files):
    out = files["tmp"] / "matched.mp4"
    result = CliRunner().invoke(_app(), ["grade", str(files["tinted"]), str(out),
                                         "--match", str(files["png"])])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["frames"] == 12 and report["correction"]["blue_stops"] > 0.2
    # Colour, not texture: H.264 at CRF 20 blurs this noise-like scene by more than ΔE 3 alone.
    assert _jump(read_frames(files["tinted"]), files["reference"]) > 5
    assert _jump(read_frames(out), files["reference"]) < 2.0  # matched to one frame of it


def test_grade_command_applies_a_look_and_names_a_bad_lut(files):
    grid = identity_grid(9)
    grid[..., 2] *= 0.5  # a look that halves blue
    look = write_cube(files["tmp"] / "cool.cube", grid)
    out = files["tmp"] / "looked.mp4"
    result = CliRunner().invoke(_app(), ["grade", str(files["tinted"]), str(out), "--lut",
                                         str(look), "--strength", "1"])
    assert result.exit_code == 0, result.output
    src, dst = next(read_frames(files["tinted"])), next(read_frames(out))
    ratio = dst[..., 2].astype(float).mean() / src[..., 2].astype(float).mean()
    assert 0.4 < ratio < 0.6
    bad = files["tmp"] / "bad.cube"
    bad.write_text("LUT_3D_SIZE 2\n0 0 0\n1 0\n")
    result = CliRunner().invoke(_app(), ["grade", str(files["tinted"]), str(out), "--lut",
                                         str(bad)])
    assert isinstance(result.exception, SpecError)
    assert f"{bad}:3" in str(result.exception) and "--lut" in str(result.exception)


def test_stabilize_can_match_colour_in_the_same_pass(files):
    out = files["tmp"] / "steady.mp4"
    result = CliRunner().invoke(_app(), ["stabilize", str(files["tinted"]), str(out),
                                         "--match-colour", str(files["png"])])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["colour"]["correction"]["red_stops"] < -0.1
    assert not report["copied"]
    assert _jump(read_frames(out), files["reference"]) < 2.0  # matched to one frame of it


def test_a_reference_can_be_a_clip(files):
    stats = image_stats(files["tinted"])
    assert stats.frames == 12 and stats.neutral_b > image_stats(files["png"]).neutral_b
