"""The NudeNet frame detector runs offline on the CPU from what pip installed."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from common.errors import ModerationError
from moderation import NUDENET_LABELS, FrameDetector, NudeNetDetector


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
    assert detector._model.onnx_session.get_providers() == ["CPUExecutionProvider"]
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
