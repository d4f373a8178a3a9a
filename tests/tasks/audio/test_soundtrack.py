"""A clip's sound, measured as a listener's meter would: real synthesized speech over a music tone,
through the audio stage and the localize stage, then decoded and measured independently
(pyloudnorm, ffmpeg's ebur128, voice-band energy; tests/tasks/audio/meters.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import numpy as np
import pytest

from media.audio import RATE, audio_streams, write_wav
from media.video import FrameWriter, probe, read_tags
from tasks.assemble import ShotTiming
from tasks.audio.mix import Mastering, master_soundtrack
from tasks.audio.narrate import soundtrack, voice_over
from tasks.audio.voices import synthesize
from tasks.localize import Branding, localize_clip
from tasks.script import load_campaign
from tasks.subtitles import read_srt
from tests.tasks.audio.meters import (
    decode,
    integrated_lufs,
    speech_onsets,
    speech_spans,
    tone,
    tone_db,
    true_peak_dbtp,
)

FPS = 24
SHOTS = [("welcome", 6.0), ("offer", 5.0)]
SPEC = """\
id: sound-test
brand: {name: Sound Test}
output: {width: 256, height: 256, fps: 16, delivery_fps: 24}
locales: [en]
audio: {music: tone.wav}
script: |
  ## welcome
  visual: A teapot
  [en] say: Spring begins with a good cup of tea. Jasmine Pearl is back.
  ## offer
  visual: A cup
  [en] say: Twenty percent off this week only.
"""


def write_master(path, seconds: float):
    with FrameWriter(path, fps=FPS, size=(256, 256), lossless=True) as writer:
        for i in range(round(seconds * FPS)):
            writer.write(np.full((256, 256, 3), 30 + i % 50, np.uint8))
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The en clip of a two-shot campaign: Piper's voice over a looped 3 s, 13 kHz tone."""
    tmp = tmp_path_factory.mktemp("sound")
    write_wav(tmp / "tone.wav", tone(3.0))
    (tmp / "c.yaml").write_text(SPEC, encoding="utf-8")
    campaign = load_campaign(tmp / "c.yaml")
    timings, t = [], 0.0
    for shot_id, seconds in SHOTS:
        timings.append(ShotTiming(shot_id, t, t + seconds, round(seconds * FPS)))
        t += seconds
    master = write_master(tmp / "master.mkv", t)
    voice = voice_over(campaign, "en", store=None, work_dir=tmp / "voice")
    sound = soundtrack(timings, voice, campaign.spec.audio, locale="en", work_dir=tmp / "sound")
    branding = Branding(name="S", primary="#0F766E", secondary="#F5D0A9", text="#FFFFFF")
    files = localize_clip(master, campaign.shots, timings, locale="en", run_id="sound",
                          branding=branding, work_dir=tmp / "clip", sound=sound,
                          created_at=datetime(2026, 3, 1, tzinfo=UTC))
    return files, sound


def test_one_audio_stream_tagged_with_the_locale(clip):
    files, _ = clip
    streams = audio_streams(files.video)
    assert len(streams) == 1
    assert (streams[0].codec, streams[0].rate, streams[0].channels, streams[0].language) == \
        ("aac", 48000, 2, "eng")


def test_audio_and_picture_last_equally_long(clip):
    files, _ = clip
    info = probe(files.video)
    video_s = info.frames / float(info.fps)
    audio_s = decode(files.video).shape[0] / RATE
    assert video_s == pytest.approx(11.0, abs=1 / FPS)
    assert abs(audio_s - video_s) <= 1 / FPS


def test_loudness_at_target_and_true_peak_under_the_ceiling(clip):
    files, _ = clip
    assert integrated_lufs(files.video) == pytest.approx(-14.0, abs=1.0)
    assert true_peak_dbtp(files.video) <= -1.0


def test_music_ducks_under_speech(clip):
    files, _ = clip
    mono = decode(files.video).mean(axis=1)
    spans = speech_spans(mono)
    under = [tone_db(mono, a + 0.15, b - 0.15) for a, b in spans if b - a > 0.6]
    # Between the shots' speech: from the end of one to the start of the next, well clear of
    # the compressor's release and the key's pre-roll.
    gaps = [(b, c) for (_, b), (c, _) in zip(spans, spans[1:]) if c - b > 1.2]
    assert under and gaps, (spans,)
    between = [tone_db(mono, b + 0.6, c - 0.2) for b, c in gaps]
    assert min(between) - max(under) >= 8.0, (under, between)


def test_cues_start_with_their_sentences(clip):
    files, sound = clip
    mono = decode(files.video).mean(axis=1)
    onsets = speech_onsets(mono)
    cues = read_srt(files.sidecars["srt"])
    # a 256 px frame wraps the longest sentence onto two lines: compare the words
    assert [c.text.replace("\n", " ") for c in cues] == ["Spring begins with a good cup of tea.",
                                      "Jasmine Pearl is back.",
                                      "Twenty percent off this week only."]
    for cue in cues:
        assert min(abs(o - cue.start) for o in onsets) <= 0.15, (cue, onsets)
    # The second sentence follows the first one's speech, not an even share of the shot.
    assert cues[1].start == pytest.approx(sound.spans["welcome"][1][0], abs=0.002)


def test_metadata_says_the_voice_is_synthetic_and_names_the_engine(clip):
    files, _ = clip
    tags = read_tags(files.video)
    assert tags["voice_synthetic"] == "true"
    assert tags["voice_engine"].startswith("piper-tts ") and "en_US-joe-medium" in tags["voice_engine"]
    assert files.audio["loudness"]["integrated"] == pytest.approx(-14.0, abs=0.5)


@pytest.fixture(scope="module")
def zh_speech():
    return synthesize(["春天来了。", "茉莉龙珠，限时八折。"], "zh-CN")


def mixed(tmp_path, speech, *, duration=8.0, at=0.5, music_seconds=3.0, **targets):
    track = np.concatenate([np.zeros(round(at * RATE), np.float32), speech.samples])
    spans = [(at + s.start, at + s.end) for s in speech.sentences]
    music = write_wav(tmp_path / "tone.wav", tone(music_seconds))
    out = tmp_path / "sound.m4a"
    master_soundtrack(out, duration=duration, mastering=Mastering(**targets), work_dir=tmp_path,
                      voice=track, spans=spans, music=music, locale="zh-CN")
    return out


@pytest.mark.parametrize("loudness, true_peak", [(-14, -1), (-23, -1), (-16, -2)])
def test_each_target_is_met(tmp_path, zh_speech, loudness, true_peak):
    out = mixed(tmp_path, zh_speech, loudness=loudness, true_peak=true_peak)
    assert integrated_lufs(out) == pytest.approx(loudness, abs=1.0)
    assert true_peak_dbtp(out) <= true_peak
    assert audio_streams(out)[0].language == "chi"


@pytest.mark.parametrize("ducking", [0, 20])
def test_ducking_depth_follows_the_spec(tmp_path, zh_speech, ducking):
    out = mixed(tmp_path, zh_speech, duration=12.0, ducking=ducking)
    mono = decode(out).mean(axis=1)
    end = 0.5 + zh_speech.seconds  # the music fades out over the last 2 s, from 10 s
    under = tone_db(mono, 0.5 + zh_speech.sentences[1].start + 0.2, end - 0.2)
    between = tone_db(mono, end + 1.0, min(end + 3.0, 9.8))
    assert between - under == pytest.approx(ducking, abs=2.5)


def test_music_alone_loops_and_fades(tmp_path):
    out = tmp_path / "music.m4a"
    master_soundtrack(out, duration=10.0, mastering=Mastering(), work_dir=tmp_path,
                      music=write_wav(tmp_path / "tone.wav", tone(3.0)))
    mono = decode(out).mean(axis=1)
    assert mono.size == 10 * RATE
    assert integrated_lufs(out) == pytest.approx(-14.0, abs=1.0)
    middle = tone_db(mono, 1.5, 2.5)
    assert tone_db(mono, 4.5, 5.5) == pytest.approx(middle, abs=1.0)   # looped past 3 s
    assert tone_db(mono, 6.5, 7.5) == pytest.approx(middle, abs=1.0)
    assert tone_db(mono, 0.0, 0.2) < middle - 6                         # faded in
    assert tone_db(mono, 9.75, 10.0) < middle - 6                       # faded out


def test_spec_fraction_rates_give_exact_lengths(tmp_path, zh_speech):
    # 29.97 fps: the track is cut to the sample, whatever the picture's rate.
    seconds = float(Fraction(240 * 1001, 30000))
    out = mixed(tmp_path, zh_speech, duration=seconds)
    assert decode(out).shape[0] == round(seconds * RATE)


def test_a_silent_voice_or_no_input_is_refused(tmp_path):
    from common.errors import ConfigError, MediaError

    with pytest.raises(ConfigError, match="needs a voice, music or both"):
        master_soundtrack(tmp_path / "x.m4a", duration=2.0, mastering=Mastering(),
                          work_dir=tmp_path)
    with pytest.raises(MediaError, match="voice track is silent"):
        master_soundtrack(tmp_path / "x.m4a", duration=2.0, mastering=Mastering(),
                          work_dir=tmp_path, voice=np.zeros(RATE, np.float32))


def test_a_clip_with_an_odd_loudness_range_is_still_normalised_linearly(tmp_path):
    # Just over 3 s long, this mix measures a loudness range of 20.1 LU (few short-term
    # windows); loudnorm applies one linear gain only when its range target is at least that,
    # so the stage sets the widest it accepts (a dynamic fallback, which would undo the
    # ducking, is an error).
    speech = synthesize(["Blue mug.", "Nine fifty."], "en", "espeak:en-us")
    out = mixed(tmp_path, speech, duration=3.2, at=0.1, music_seconds=1.0)
    from media.audio import measure_loudness

    assert measure_loudness(tmp_path / "mix.wav").lra > 20
    assert integrated_lufs(out) == pytest.approx(-14.0, abs=1.0)
    assert true_peak_dbtp(out) <= -1.0
