"""The NudeNet frame detector runs offline on the CPU from what pip installed."""

from __future__ import annotations

import socket

import cv2
import numpy as np
import pytest

from common.errors import ModerationError
from moderation import NUDENET_LABELS, FrameDetector, NudeNetDetector
from moderation.detectors import label_scores, nudenet_blob


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def synthetic_frames() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    gradient = np.linspace(0, 255, 160, dtype=np.float32)
    smooth = np.stack(np.broadcast_arrays(gradient[None, :], gradient[:90, None],
                                          np.full((90, 160), 128.0)), axis=-1)
    return [smooth.astype(np.uint8), rng.integers(0, 256, (90, 160, 3), dtype=np.uint8)]


def test_nudenet_loads_its_bundled_model_and_scores_every_label_offline_on_cpu(no_network):
    detector = NudeNetDetector()
    assert isinstance(detector, FrameDetector)
    results = detector.detect(synthetic_frames())
    assert len(results) == 2
    for scores in results:
        assert set(scores) == set(NUDENET_LABELS)
        assert all(0.0 <= v <= 1.0 for v in scores.values())
    # An abstract colour field holds no body parts.
    assert max(results[0].values()) < 0.2
    assert detector.providers == ["CPUExecutionProvider"]
    assert detector.resolved_model_path.name == "320n.onnx"
    assert detector.version.startswith("nudenet 3.") and "320n.onnx sha256:" in detector.version


def test_a_missing_model_raises_a_moderation_error(tmp_path):
    detector = NudeNetDetector(tmp_path / "missing.onnx")
    with pytest.raises(ModerationError, match="missing.onnx is missing"):
        detector.detect(synthetic_frames())
    assert detector.version.endswith("model unavailable")


def test_a_corrupt_model_raises_a_moderation_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ModerationError, match="cannot be loaded"):
        NudeNetDetector(bad).load()


def test_frames_must_be_rgb_uint8():
    with pytest.raises(ModerationError, match=r"frame 0 is \(4, 4\) float64"):
        NudeNetDetector().detect([np.zeros((4, 4))])


def blob_art(count: int = 6) -> list[np.ndarray]:
    """Blurred skin-toned ellipses with dark dots on plain backgrounds: abstract shapes that
    nevertheless make the model fire (so parity is checked on non-zero scores)."""
    rng = np.random.default_rng(3)
    frames = []
    for k in range(count):
        img = np.full((240, 320, 3), (40 + 10 * k, 90, 140), np.uint8)
        for _ in range(4):
            cx, cy = (int(v) for v in rng.integers(0, 320, 2))
            axes = (int(rng.integers(20, 80)), int(rng.integers(20, 100)))
            cv2.ellipse(img, (cx, cy), axes, int(rng.integers(0, 180)), 0, 360, (224, 172, 140),
                        -1)
            cv2.circle(img, (cx + 10, cy), 8, (150, 90, 80), -1)
        frames.append(cv2.GaussianBlur(img, (0, 0), 3))
    return frames


def reference_scores(frame: np.ndarray) -> dict[str, float]:
    """nudenet's own NudeDetector on the frame as cv2.imread would give it (BGR)."""
    from nudenet import NudeDetector

    best = dict.fromkeys(NUDENET_LABELS, 0.0)
    for box in NudeDetector().detect(np.ascontiguousarray(frame[..., ::-1])):
        best[box["class"]] = max(best[box["class"]], box["score"])
    return best


def test_scores_match_nudenet_reference_detector():
    frames = blob_art()
    ours = NudeNetDetector(batch_size=4).detect(frames)
    fired = 0
    for frame, scores in zip(frames, ours):
        reference = reference_scores(frame)
        assert scores == pytest.approx(reference, abs=1e-4)
        fired += any(v > 0 for v in reference.values())
    assert fired >= 3  # the comparison is not between empty results


@pytest.mark.parametrize("shape", [(90, 160, 3), (100, 60, 3), (720, 1280, 3)])
def test_preprocessing_matches_nudenet(shape):
    from nudenet import nudenet as reference

    frame = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    expected = reference._read_image(np.ascontiguousarray(frame[..., ::-1]), 320)[0]
    np.testing.assert_array_equal(nudenet_blob([frame]), expected)


def test_label_scores_take_each_boxs_best_class_and_nudenets_floor():
    output = np.zeros((2, 4 + len(NUDENET_LABELS), 50), np.float32)
    exposed = 4 + NUDENET_LABELS.index("FEMALE_BREAST_EXPOSED")
    covered = 4 + NUDENET_LABELS.index("FEMALE_BREAST_COVERED")
    output[0, exposed, 3], output[0, covered, 3] = 0.7, 0.6   # box 3: exposed wins
    output[0, covered, 9] = 0.8                               # box 9: covered
    output[1, exposed, 5] = 0.24                              # below nudenet's 0.25
    first, second = label_scores(output)
    assert first["FEMALE_BREAST_EXPOSED"] == pytest.approx(0.7)
    assert first["FEMALE_BREAST_COVERED"] == pytest.approx(0.8)
    assert second == dict.fromkeys(NUDENET_LABELS, 0.0)
    with pytest.raises(ModerationError, match="expected"):
        label_scores(np.zeros((1, 10, 5), np.float32))
