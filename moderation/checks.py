"""Moderation checks over plain inputs: texts before any render, a clip's frames after.

    moderate_texts(items, policy)                 prompts, negative prompts, captions -> Decision
    moderate_clip_frames(path, detector, policy)  frames sampled at a rate + first + last ->
    Decision

Fail closed: a detector that raises or returns nonsense gives ``review``, never ``allow``.
Recording decisions and waiting for a reviewer happen above this package (``tasks.screen``,
``flows.review``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import ModerationError
from media.video import probe, read_frames
from moderation.detectors import FrameDetector
from moderation.policy import Decision, Policy

log = logging.getLogger(__name__)

DETECT_BATCH = 8  # sampled frames handed to the detector at once (bounds memory at 720p: ~22 MB)


@dataclass(frozen=True)
class TextItem:
    """One text to check: ``field`` (prompt, negative_prompt, caption) of shot/clip ``subject_id``."""

    subject_id: str
    field: str
    locale: str | None
    text: str


def moderate_texts(items: Iterable[TextItem], policy: Policy) -> Decision:
    """The most severe decision over ``items``; call it before any generation (no GPU time on
    a blocked prompt)."""
    return Decision.combine(
        policy.check_text(item.text, locale=item.locale, field=item.field,
                          subject=f"shot {item.subject_id}") for item in items)


def sample_frames(frames: Iterable[np.ndarray], *, fps: float, rate_hz: float
                  ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)``: the first frame at or after every ``1/rate_hz`` seconds, plus
    the last frame. Streams: only the previous frame is held back."""
    if rate_hz <= 0 or fps <= 0:
        raise ModerationError(f"sample rate {rate_hz} Hz at {fps} fps: both must be positive")
    last: tuple[int, np.ndarray] | None = None
    sampled_last = False
    for index, frame in enumerate(frames):
        # Sampling instant k covers frames whose time crosses k / rate_hz.
        take = index == 0 or int(index * rate_hz / fps) > int((index - 1) * rate_hz / fps)
        if take:
            yield index, frame
        last, sampled_last = (index, frame), take
    if last is not None and not sampled_last:
        yield last


def _detector_version(detector: FrameDetector) -> str:
    try:
        return str(detector.version)
    except Exception as exc:  # a broken detector must still produce an audit row
        return f"unknown ({type(exc).__name__})"


def moderate_clip_frames(path: Path, detector: FrameDetector, policy: Policy,
                         sample_rate_hz: float = 1.0) -> Decision:
    """Run ``detector`` over frames of the clip at ``path`` sampled at ``sample_rate_hz`` (plus
    first and last) and decide with ``policy``. Any detector failure -> ``review``."""
    name, version = getattr(detector, "name", type(detector).__name__), _detector_version(detector)
    fps = float(probe(path).fps)
    indices: list[int] = []
    per_frame: list[dict[str, float]] = []
    batch: list[tuple[int, np.ndarray]] = []

    def flush() -> str | None:
        frames = [frame for _, frame in batch]
        try:
            scores = detector.detect(frames)
        except Exception as exc:  # fail closed: whatever went wrong, a person looks
            log.warning("frame detector %s failed on %s: %s", name, path, exc)
            return f"{type(exc).__name__}: {exc}"
        if not isinstance(scores, list) or len(scores) != len(frames):
            return f"it returned {len(scores) if isinstance(scores, list) else type(scores)} " \
                   f"results for {len(frames)} frames"
        indices.extend(i for i, _ in batch)
        per_frame.extend(scores)
        batch.clear()
        return None

    with closing(read_frames(path)) as frames:  # stop ffmpeg at once on an early return
        for item in sample_frames(frames, fps=fps, rate_hz=sample_rate_hz):
            batch.append(item)
            if len(batch) == DETECT_BATCH and (error := flush()):
                return policy.detector_failed(name, version, error)
    if batch and (error := flush()):
        return policy.detector_failed(name, version, error)
    return policy.decide_frames(per_frame, detector=name, detector_version=version,
                                frame_indices=indices)
