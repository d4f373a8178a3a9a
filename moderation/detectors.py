"""Frame detectors behind one interface, so the NSFW model can be replaced.

:class:`NudeNetDetector` wraps nudenet's bundled ``320n.onnx`` (a YOLO-style body-part detector)
and runs it offline on the CPU through onnxruntime. nudenet's wheel carries an AGPL-3.0 licence
file (see platform-facts.md), so it is imported only here, lazily, and nothing else in the
factory depends on it: another :class:`FrameDetector` can take its place.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from common.errors import ModerationError

# nudenet 3.4's label order (nudenet/nudenet.py, ``__labels``): every one is reported, with 0.0
# when the model did not see it, so audit rows of different clips have the same keys.
NUDENET_LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
    "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
    "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


@runtime_checkable
class FrameDetector(Protocol):
    """Scores frames for labels; the policy maps the scores to allow / review / block."""

    name: str

    @property
    def version(self) -> str:
        """Model and weights identity, recorded with every decision."""
        ...

    def detect(self, frames: list[np.ndarray]) -> list[dict[str, float]]:
        """One ``{label: score in [0, 1]}`` per frame; frames are ``uint8 [H, W, 3]`` RGB.

        Raises on any failure (model missing, bad input): callers fail closed to review.
        """
        ...


def check_frames(frames: list[np.ndarray], who: str) -> None:
    """Raise :class:`ModerationError` unless every frame is ``uint8 [H, W, 3]``."""
    for i, frame in enumerate(frames):
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
                or frame.shape[2] != 3:
            shape = getattr(frame, "shape", None)
            dtype = getattr(frame, "dtype", type(frame).__name__)
            raise ModerationError(f"{who}: frame {i} is {shape} {dtype}; expected uint8 "
                                  "[H, W, 3] RGB")


class NudeNetDetector:
    """nudenet's NudeDetector with its bundled 320 px ONNX model, on the CPU, offline.

    The model loads on the first :meth:`detect` (or :meth:`load`); a missing package or model
    file raises :class:`ModerationError`. ~22 ms per 720p frame on 2 cores (platform-facts.md).
    A label's score is the highest confidence among the model's boxes of that label.
    """

    name = "nudenet"

    def __init__(self, model_path: str | Path | None = None) -> None:
        self.model_path = Path(model_path) if model_path else None
        self._model = None

    def _default_model(self) -> Path:
        try:
            import nudenet
        except ImportError as exc:
            raise ModerationError("the nudenet package is not installed; install it "
                                  "(pip install nudenet) or configure another frame "
                                  "detector") from exc
        return Path(nudenet.__file__).parent / "320n.onnx"

    @property
    def resolved_model_path(self) -> Path:
        return self.model_path or self._default_model()

    @cached_property
    def version(self) -> str:
        """``nudenet <pkg version> 320n.onnx sha256:<12 hex>``; "unavailable" parts if missing."""
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as package_version

        try:
            pkg = package_version("nudenet")
        except PackageNotFoundError:
            pkg = "unavailable"
        try:
            path = self.resolved_model_path
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            model = f"{path.name} sha256:{digest}"
        except (ModerationError, OSError):
            model = "model unavailable"
        return f"nudenet {pkg} {model}"

    def load(self) -> None:
        """Load the ONNX model now (it is otherwise loaded by the first :meth:`detect`)."""
        if self._model is not None:
            return
        path = self.resolved_model_path
        if not path.is_file():
            raise ModerationError(f"nudenet model {path} is missing; reinstall nudenet or pass "
                                  "model_path= to NudeNetDetector")
        try:
            from nudenet import NudeDetector

            self._model = NudeDetector(model_path=str(path))
        except Exception as exc:  # onnxruntime raises its own types for a corrupt model
            raise ModerationError(f"nudenet model {path} cannot be loaded: "
                                  f"{type(exc).__name__}: {exc}") from exc

    def detect(self, frames: list[np.ndarray]) -> list[dict[str, float]]:
        check_frames(frames, self.name)
        self.load()
        results = []
        for frame in frames:
            # nudenet expects OpenCV's BGR order (it swaps to RGB itself, nudenet.py _read_image).
            bgr = np.ascontiguousarray(frame[..., ::-1])
            scores = dict.fromkeys(NUDENET_LABELS, 0.0)
            # One frame per call: detect_batch measured ~2.5x slower per frame on this CPU build.
            for box in self._model.detect(bgr):
                label = str(box["class"])
                scores[label] = max(scores.get(label, 0.0), float(box["score"]))
            results.append(scores)
        return results
