from __future__ import annotations

import cv2
import numpy as np

from tasks.stabilize.analysis import psnr
from tasks.stabilize.shake import warp_frame
from tasks.stabilize.yuv import warp_i420

from .conftest import SIZE


def test_i420_warp_matches_the_rgb_warp(shaky):
    rgb = shaky[0]
    matrix = np.array([[1.05, 0.02, -4.3], [-0.02, 1.05, -2.7]])
    i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).reshape(-1)
    warped = warp_i420(i420, matrix, SIZE)
    back = cv2.cvtColor(warped.reshape(SIZE[1] * 3 // 2, SIZE[0]), cv2.COLOR_YUV2RGB_I420)
    reference = warp_frame(rgb, matrix)
    roundtrip = cv2.cvtColor(cv2.cvtColor(reference, cv2.COLOR_RGB2YUV_I420),
                             cv2.COLOR_YUV2RGB_I420)
    # As close to the RGB warp as a yuv420p round trip of the RGB warp itself is.
    assert psnr(back, reference) > psnr(roundtrip, reference) - 1.5
    assert psnr(back, reference) > 28
