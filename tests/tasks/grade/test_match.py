"""Shot matching on synthetic shots with known casts (media.synthetic): tinted, under- and
over-exposed, dull copies of one scene, matched back to the reference scene."""

from __future__ import annotations

import numpy as np
import pytest

from media.synthetic import CASTS, cast_shot
from tasks.grade import ColourTable, Correction, fit_correction, frame_stats, mean_delta_e
from tasks.grade.match import MatchBounds
from tasks.grade.stage import GradeSettings, decide_grades

FRAMES = 12


@pytest.fixture(scope="module")
def reference():
    frames = list(cast_shot(FRAMES, None))
    return frames, frame_stats(frames)


def _clipped(frames: list[np.ndarray]) -> np.ndarray:
    """Per channel: how many values sit at 0 or 255."""
    stack = np.stack(frames)
    return np.array([((stack[..., c] == 0) | (stack[..., c] == 255)).sum() for c in range(3)])


@pytest.mark.parametrize("cast", sorted(CASTS))
def test_matching_brings_a_cast_shot_onto_the_reference(cast, reference):
    ref_frames, ref_stats = reference
    shot = list(cast_shot(FRAMES, cast))
    correction = fit_correction(frame_stats(shot), ref_stats)
    table = ColourTable.build(correction)
    assert table is not None
    matched = [table.apply(f) for f in shot]
    before = np.mean([mean_delta_e(a, b) for a, b in zip(shot, ref_frames)])
    after = np.mean([mean_delta_e(a, b) for a, b in zip(matched, ref_frames)])
    assert before > 3.0          # the cast is visible...
    assert after < 3.0           # ...and gone
    assert np.all(_clipped(matched) <= _clipped(shot))  # no channel clips more than it did


def test_the_table_applies_the_correction_exactly():
    correction = Correction(gains=(1.3, 1.0, 0.7), saturation=1.25)
    table = ColourTable.build(correction)
    colours = np.random.default_rng(5).integers(0, 256, (1, 4000, 3)).astype(np.uint8)
    expected = np.clip(np.rint(correction.apply(colours)), 0, 255)
    assert np.array_equal(table.apply(colours), expected)


def test_strong_gains_never_clip_an_unclipped_level():
    levels = np.arange(256, dtype=np.uint8)
    colours = np.stack(np.meshgrid(levels, levels[::17], levels[::17]), -1).reshape(1, -1, 3)
    for correction in (Correction(gains=(2.8, 2.8, 2.8)), Correction(gains=(0.35, 0.35, 0.35)),
                       Correction(gains=(1.4, 1.0, 0.7), saturation=1.5)):
        out = np.rint(correction.apply(colours))
        inner = (colours >= 1) & (colours <= 254)
        assert out[inner].min() >= 1 and out[inner].max() <= 254
        # Strictly increasing per channel on a grey ramp: no two levels merge at either end.
        grey = np.rint(correction.apply(np.repeat(levels[:, None], 3, 1)))[:, 1]
        assert np.all(np.diff(grey) >= 0) and grey[0] == 0 and grey[-1] == 255


def test_corrections_stay_within_bounds(reference):
    _, ref_stats = reference
    dark = [(f // 6) for f in cast_shot(FRAMES, None)]   # ~-2.6 stops: more than allowed
    correction = fit_correction(frame_stats(dark), ref_stats, bounds=MatchBounds())
    assert correction.to_dict()["exposure_stops"] == pytest.approx(1.5, abs=1e-6)
    half = fit_correction(frame_stats(list(cast_shot(FRAMES, "under"))), ref_stats,
                          strength=0.5)
    assert half.to_dict()["exposure_stops"] == pytest.approx(0.4, abs=0.05)


def test_a_fade_survives_matching(reference):
    ref_frames, ref_stats = reference
    plain = list(cast_shot(24, "under"))
    fading = list(cast_shot(24, "under", fade_out=8))
    stats = frame_stats(fading)
    assert stats.steady_frames < stats.frames  # the dark end of the fade is not measured
    fade_fix = fit_correction(stats, ref_stats).params()
    plain_fix = fit_correction(frame_stats(plain), ref_stats).params()
    assert np.allclose(fade_fix, plain_fix, atol=0.05)  # not taken for more under-exposure
    table = ColourTable.build(Correction.from_params(fade_fix))
    means = [table.apply(f).mean() for f in fading[-9:]]
    assert np.all(np.diff(means) < 0) and means[-1] == 0  # still fades, all the way to black


def test_a_shot_kept_on_purpose_is_not_matched(reference):
    _, ref_stats = reference
    stats = {"hero": ref_stats, "night": frame_stats(list(cast_shot(FRAMES, "under"))),
             "day": frame_stats(list(cast_shot(FRAMES, "tinted")))}
    settings = GradeSettings(keep=frozenset({"night"}))
    grades = decide_grades(settings, stats, ["hero", "night", "day"])
    assert grades["hero"].reason == "reference" and grades["hero"].correction is None
    assert grades["night"].reason == "keep" and grades["night"].correction is None
    assert grades["day"].reason == "matched" and grades["day"].correction is not None
    # The reference can be another shot the spec names.
    named = decide_grades(GradeSettings(reference="day"), stats, ["hero", "night", "day"])
    assert named["day"].reason == "reference" and named["hero"].correction is not None


def test_ciede2000_agrees_with_colour_science(colour):
    from tasks.grade.lab import delta_e

    rng = np.random.default_rng(7)
    lab1 = np.stack([rng.uniform(0, 100, 5000), rng.uniform(-110, 110, 5000),
                     rng.uniform(-110, 110, 5000)], axis=-1)
    lab2 = lab1 + rng.normal(0, 8, lab1.shape)
    lab2[:50, 1:] = 0  # achromatic: the hue special cases
    lab2[50:100] = lab1[50:100]  # identical colours: zero
    ours = delta_e(lab1, lab2)
    oracle = colour.difference.delta_E(lab1, lab2, method="CIE 2000")
    assert np.allclose(ours, oracle, atol=1e-9) and np.all(ours[50:100] == 0)
