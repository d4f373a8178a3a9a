"""Contact sheets and small plots: numpy in, the right frames in the right places out."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from common.errors import MediaError
from media.contact import (
    SERIES_COLOURS,
    contact_sheet,
    data_uri,
    encode_image,
    frames_at,
    line_plot,
    sample_times,
)
from media.video import write_video


def solid(value: int, h: int = 40, w: int = 60) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_sample_times_are_the_middles_of_equal_parts():
    assert sample_times(6.0, 3) == [1.0, 3.0, 5.0]
    with pytest.raises(MediaError, match="at least one frame"):
        sample_times(6.0, 0)


def test_contact_sheet_puts_each_frame_in_its_cell_with_room_for_labels():
    frames = [solid(v) for v in (10, 60, 110, 160, 210)]
    sheet = contact_sheet(frames, [f"{i}" for i in range(5)], columns=3, gap=6)
    label_h = 18
    assert sheet.shape == (6 + 2 * (40 + label_h + 6), 6 + 3 * (60 + 6), 3)
    for i, value in enumerate((10, 60, 110, 160, 210)):
        x = 6 + (i % 3) * 66 + 30
        y = 6 + (i // 3) * (40 + label_h + 6) + 20
        assert tuple(sheet[y, x]) == (value,) * 3
    with pytest.raises(MediaError, match="differ in size"):
        contact_sheet([solid(0), solid(0, h=20)])


def test_frames_at_reads_the_frames_shown_at_those_times(tmp_path):
    # 16 frames at 8 fps, frame i has grey level 15 * i: the time picks the frame.
    path = tmp_path / "ramp.mp4"
    write_video(path, [solid(15 * i, 64, 96) for i in range(16)], fps=8, crf=0)
    frames = frames_at(path, [0.0, 1.0, 1.9, 5.0], width=48)
    assert [f.shape for f in frames] == [(32, 48, 3)] * 4
    levels = [int(f.mean()) for f in frames]
    for level, index in zip(levels, (0, 8, 15, 15)):  # 5 s is past the end: the last frame
        assert abs(level - 15 * index) <= 3


def test_line_plot_draws_each_series_in_its_colour():
    plot = line_plot({"before": [4.0, 6.0], "after": [0.5, 0.4]}, ["intro", "product"],
                     title="jitter", size=(320, 160))
    assert plot.shape == (160, 320, 3)
    colours = {tuple(p) for p in plot.reshape(-1, 3)}
    assert SERIES_COLOURS[0] in colours and SERIES_COLOURS[1] in colours
    with pytest.raises(MediaError):
        line_plot({}, [])


def test_encoded_images_decode_back_and_embed_as_data_uris():
    image = np.zeros((20, 30, 3), np.uint8)
    image[:, :15] = 255
    png = encode_image(image, "png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), image)
    jpeg = encode_image(image, "jpeg")
    assert Image.open(io.BytesIO(jpeg)).format == "JPEG"
    assert data_uri(png, "png").startswith("data:image/png;base64,iVBOR")
