"""Cue timing from shots: inside the shot, min/max on-screen time, gaps, reading speed, errors."""

import logging

import pytest

from common.errors import SpecError
from media.locales import CUE_GAP_SECONDS, MAX_CUE_SECONDS, MIN_CUE_SECONDS, rules_for
from tasks.subtitles import ShotCaptions, build_cues, reading_seconds


def test_cues_stay_inside_their_shot_with_gaps_and_in_order():
    shots = [
        ShotCaptions("s1", 0.0, 4.0, ["First caption.", "A second, much longer caption line here."]),
        ShotCaptions("s2", 4.0, 9.0, ["Third."]),
    ]
    cues = build_cues(shots, locale="en")
    assert [c.shot_id for c in cues] == ["s1", "s1", "s2"]
    for cue, shot in zip(cues, [shots[0], shots[0], shots[1]]):
        assert shot.start <= cue.start < cue.end <= shot.end
        assert MIN_CUE_SECONDS - 1e-3 <= cue.duration <= MAX_CUE_SECONDS
    assert cues[1].start - cues[0].end >= CUE_GAP_SECONDS - 1e-3
    assert cues[2].start >= cues[1].end + CUE_GAP_SECONDS - 1e-3 or cues[1].end < 4.0
    # the longer caption gets more time
    assert cues[1].duration > cues[0].duration


def test_long_shot_caps_a_cue_at_the_maximum_duration():
    cues = build_cues([ShotCaptions("s1", 10.0, 30.0, ["Hi."])], locale="en")
    assert cues[0].start == 10.0 and cues[0].duration == pytest.approx(MAX_CUE_SECONDS)


def test_reading_speed_differs_per_script():
    zh, ja, en = rules_for("zh-CN"), rules_for("ja"), rules_for("en")
    assert reading_seconds(["一二三四五六七八九"], zh) == pytest.approx(1.0)   # 9 cps
    assert reading_seconds(["一二三四"], ja) == pytest.approx(1.0)             # 4 cps
    assert reading_seconds(["x" * 20], en) == pytest.approx(1.0)              # 20 cps


def test_too_fast_captions_are_logged_naming_the_shot(caplog):
    with caplog.at_level(logging.WARNING, logger="tasks.subtitles.cues"):
        build_cues([ShotCaptions("hero-3", 0.0, 2.0, ["新しいオーロラ・ランニングシューズが登場しました。"])],
                   locale="ja")
    assert "hero-3" in caplog.text


def test_wrapped_caption_makes_several_cues_in_one_shot():
    text = "全新极光跑鞋现已上市，更轻、更快，采用回收海洋塑料制成，为城市中的每一位跑者而生。"
    cues = build_cues([ShotCaptions("s1", 0.0, 8.0, [text])], locale="zh-CN")
    assert len(cues) == 2
    assert all(len(c.lines) <= 2 and all(len(line) <= 16 for line in c.lines) for c in cues)
    assert cues[0].end <= cues[1].start


@pytest.mark.parametrize("lines", [[], None, ["", "   "], ["\u202e\u2066"]])
def test_missing_captions_for_a_locale_name_the_shot(lines):
    shots = [ShotCaptions("s1", 0.0, 4.0, ["ok"]), ShotCaptions("closeup-2", 4.0, 8.0, lines)]
    with pytest.raises(SpecError) as err:
        build_cues(shots, locale="de")
    assert "closeup-2" in str(err.value) and "de" in str(err.value)
    assert err.value.field == "shots.closeup-2.caption[de]"


def test_shot_too_short_for_its_cues_is_a_clear_error():
    with pytest.raises(SpecError, match="shot 'tiny'.*lengthen the shot"):
        build_cues([ShotCaptions("tiny", 0.0, 1.0, ["One.", "Two.", "Three."])], locale="en")


def test_cue_text_is_cleaned_of_controls():
    cues = build_cues([ShotCaptions("s1", 0.0, 3.0, ["Hi\tthere\n\x07you\u202e!"])], locale="en")
    assert cues[0].lines == ("Hi there you!",)
