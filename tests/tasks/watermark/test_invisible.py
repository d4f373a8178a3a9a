"""The invisible mark: payload framing, recovery after re-encoding and downscaling, no false finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from common.errors import ConfigError
from media.video import probe, run_ffmpeg
from tasks.watermark import (
    WatermarkConfig,
    apply_marks,
    embedded_bits,
    parse_payload,
    payload_from_content_id,
    read_watermark,
)

from .conftest import CONTENT_ID

PAYLOAD = payload_from_content_id(CONTENT_ID)


def reencode(src: Path, dst: Path, *, crf: int, vf: str | None = None) -> Path:
    run_ffmpeg(["-i", str(src), *(["-vf", vf] if vf else []), "-c:v", "libx264", "-preset",
                "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", str(dst)], what="attack")
    return dst


@pytest.fixture(scope="module")
def marked(clips, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wm-marked")
    out = {}
    for name in ("storyboard", "natural", "storyboard_720p"):
        out[name] = folder / f"{name}.mp4"
        apply_marks(clips[name], out[name], payload=PAYLOAD, label_locale=None)
    return out


def test_payload_is_the_content_id_prefix_and_other_ids_are_hashed():
    assert PAYLOAD == bytes.fromhex("a1b2c3d4e5f6")
    assert len(payload_from_content_id("clip-7")) == 6
    assert payload_from_content_id("clip-7") != payload_from_content_id("clip-8")
    assert parse_payload("0xA1B2C3D4E5F6") == PAYLOAD
    with pytest.raises(ConfigError, match="12 hex digits"):
        parse_payload("a1b2")


def test_embedded_bits_carry_a_crc_that_changes_with_the_payload():
    bits = embedded_bits(PAYLOAD)
    assert bits.shape == (64,) and set(np.unique(bits)) == {-1, 1}
    other = embedded_bits(bytes.fromhex("a1b2c3d4e5f7"))
    assert (bits[:47] == other[:47]).all() and (bits[48:] != other[48:]).any()


def test_payload_recovered_exactly_after_reencode_at_crf28(marked, tmp_path):
    attacked = reencode(marked["storyboard"], tmp_path / "crf28.mp4", crf=28)
    found = read_watermark(attacked)
    assert found.found and found.payload == PAYLOAD
    assert found.bit_accuracy(PAYLOAD) == 1.0
    assert found.bit_confidence > 0.99


def test_payload_recovered_on_textured_colour_content_after_crf28(marked, tmp_path):
    attacked = reencode(marked["natural"], tmp_path / "crf28.mp4", crf=28)
    found = read_watermark(attacked)
    assert found.payload == PAYLOAD and found.bit_accuracy(PAYLOAD) == 1.0


def test_payload_recovered_after_720p_to_480p_downscale(marked, tmp_path):
    assert probe(marked["storyboard_720p"]).height == 720
    small = reencode(marked["storyboard_720p"], tmp_path / "480p.mp4", crf=23, vf="scale=-2:480")
    assert probe(small).size == (854, 480)
    found = read_watermark(small)
    assert found.found and found.payload == PAYLOAD


def test_unmarked_clip_reads_as_not_found(clips):
    for name in ("storyboard", "natural"):
        result = read_watermark(clips[name])
        assert not result.found and result.payload is None
        assert result.bit_confidence < 0.9


def test_another_key_does_not_read_the_mark(marked):
    result = read_watermark(marked["storyboard"], WatermarkConfig(key="someone else's key"))
    assert not result.found and result.payload is None


def test_mark_is_invisible_by_psnr(clips, tmp_path):
    report = apply_marks(clips["storyboard"], tmp_path / "m.mp4", payload=PAYLOAD,
                         label_locale=None)
    assert report.watermark_psnr_db > 40.0
    assert report.frames == 36 and report.payload == PAYLOAD.hex()
