"""Captions of a spoken shot follow the speech: each sentence's cue starts when it is heard."""

from __future__ import annotations

import pytest

from tasks.subtitles import ShotCaptions, build_cues

LINES = ["Spring begins with a good cup of tea.", "Jasmine Pearl is back."]


def test_each_cue_starts_with_its_sentence():
    spoken = [(1.30, 3.10), (3.45, 4.60)]
    cues = build_cues([ShotCaptions("hero", 1.0, 7.0, LINES, spoken=spoken)], locale="en")
    assert [c.start for c in cues] == [1.30, 3.45]
    # A cue stays up while its sentence sounds, and until just before the next one starts.
    assert cues[0].end == pytest.approx(3.45 - 2 / 24, abs=0.002)
    assert cues[1].end == pytest.approx(4.60 + 0.5, abs=0.002)
    # Timed by reading speed instead, the second cue would start elsewhere: the check can fail.
    read = build_cues([ShotCaptions("hero", 1.0, 7.0, LINES)], locale="en")
    assert abs(read[1].start - 3.45) > 0.15


def test_a_long_sentence_is_shared_out_by_characters():
    long = ("Jasmine Pearl is back for spring, rolled by hand in the hills above the river, "
            "and twenty percent off this week only.")
    cues = build_cues([ShotCaptions("hero", 0.0, 9.0, [long], spoken=[(0.3, 8.0)])],
                      locale="en")
    assert len(cues) >= 2 and cues[0].start == 0.3
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:]))
    assert cues[-1].end <= 9.0
    # The second cue starts about where its share of the characters is spoken.
    share = len(" ".join(cues[0].lines)) / len(long)
    assert cues[1].start == pytest.approx(0.3 + 7.7 * share, abs=0.6)


def test_captions_that_do_not_match_the_sentences_keep_reading_speed():
    spoken = [(1.3, 3.1), (3.45, 4.6)]
    one = build_cues([ShotCaptions("hero", 1.0, 7.0, ["Our shop, open daily"], spoken=spoken)],
                     locale="en")
    assert one[0].start == 1.0  # reading-speed timing from the shot's start
