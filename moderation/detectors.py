"""Frame detectors behind one interface, so the NSFW model can be replaced.

:class:`NudeNetDetector` wraps nudenet's bundled ``320n.onnx`` (a YOLO-style body-part detector)
and runs it offline on the CPU through onnxruntime. nudenet's wheel carries an AGPL-3.0 licence
file (see docs/reference/platform-facts.md), so it is imported only here, lazily, and nothing else in the
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


# nudenet's input size (320n.onnx) and the lowest confidence it reports: boxes under 0.2 are
# dropped and its NMS drops those under 0.25 (nudenet.py ``_postprocess``:
# ``cv2.dnn.NMSBoxes(boxes, scores, 0.25, 0.45)``).
NUDENET_INPUT = 320
NUDENET_MIN_SCORE = 0.25


def nudenet_blob(frames: list[np.ndarray], size: int = NUDENET_INPUT) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB frames -> ``float32 [B, 3, size, size]`` in [0, 1].

    nudenet's own preprocessing (nudenet.py ``_read_image``): pad the bottom and right edges with
    black to a square, then resize to ``size`` with bilinear interpolation. Channel order: for
    a BGR image from ``cv2.imread`` nudenet swaps twice (``COLOR_RGBA2BGR`` on 3 channels, then
    ``swapRB=True``), so its model sees BGR; an RGB frame is swapped once here to match.
    """
    import cv2

    padded = []
    for frame in frames:
        h, w = frame.shape[:2]
        side = max(h, w)
        padded.append(cv2.copyMakeBorder(frame, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT))
    return cv2.dnn.blobFromImages(padded, 1 / 255.0, (size, size), (0, 0, 0), swapRB=True,
                                  crop=False)


def label_scores(output: np.ndarray, labels: tuple[str, ...] = NUDENET_LABELS,
                 min_score: float = NUDENET_MIN_SCORE) -> list[dict[str, float]]:
    """Raw model output ``[B, 4 + L, anchors]`` -> one ``{label: score}`` per frame.

    As nudenet does, each candidate box counts for its best class only. A label's score is the
    highest such confidence (0.0 below ``min_score``). nudenet's class-agnostic NMS is skipped:
    it never lowers a label's best box except when a box of another label overlaps it, and a
    covered-body-part box must not hide an exposed one from the policy.
    """
    if output.ndim != 3 or output.shape[1] != 4 + len(labels):
        raise ModerationError(f"nudenet output has shape {output.shape}; expected "
                              f"[batch, {4 + len(labels)}, anchors] for {len(labels)} labels")
    classes = output[:, 4:, :]                                   # [B, L, A]
    best = classes.argmax(axis=1)                                # [B, A]
    top = classes.max(axis=1)                                    # [B, A]
    onehot = best[:, None, :] == np.arange(len(labels))[None, :, None]   # [B, L, A]
    per_label = np.where(onehot, top[:, None, :], 0.0).max(axis=2)       # [B, L]
    per_label = np.where(per_label >= min_score, per_label, 0.0)
    return [{label: float(score) for label, score in zip(labels, row)} for row in per_label]


class NudeNetDetector:
    """nudenet's bundled 320 px ONNX model on the CPU, offline, through onnxruntime.

    Preprocessing follows nudenet (:func:`nudenet_blob`); scoring is vectorised per label
    (:func:`label_scores`) instead of nudenet's per-box Python loop. The model loads on the
    first :meth:`detect` (or :meth:`load`); a missing package, model file or a corrupt model
    raises :class:`ModerationError`.
    """

    name = "nudenet"

    def __init__(self, model_path: str | Path | None = None, *, batch_size: int = 4,
                 threads: int = 0) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.batch_size = batch_size
        self.threads = threads  # 0: onnxruntime's default (one per physical core)
        self._session = None

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

    @property
    def providers(self) -> list[str]:
        self.load()
        return list(self._session.get_providers())

    def load(self) -> None:
        """Load the ONNX model now (it is otherwise loaded by the first :meth:`detect`)."""
        if self._session is not None:
            return
        path = self.resolved_model_path
        if not path.is_file():
            raise ModerationError(f"nudenet model {path} is missing; reinstall nudenet or pass "
                                  "model_path= to NudeNetDetector")
        try:
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            # CPU explicitly: the result must not depend on which onnxruntime build is installed.
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for a corrupt model
            raise ModerationError(f"nudenet model {path} cannot be loaded: "
                                  f"{type(exc).__name__}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    def detect(self, frames: list[np.ndarray]) -> list[dict[str, float]]:
        check_frames(frames, self.name)
        self.load()
        results: list[dict[str, float]] = []
        for start in range(0, len(frames), self.batch_size):
            blob = nudenet_blob(frames[start:start + self.batch_size])  # [B, 3, 320, 320]
            (output,) = self._session.run(None, {self._input: blob})    # [B, 22, anchors]
            results.extend(label_scores(output))
        return results
