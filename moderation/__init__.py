"""Moderation: term lists for text, a frame detector for clips, and the policy that decides.

Public surface (this package imports nothing above ``common``; recording decisions and pausing
for a reviewer live in ``tasks.screen`` and ``flows.review``; the checks over texts and
frames are ``moderation.checks``):

    Policy.load() -> Policy            policy.yaml + the term lists in moderation/terms/
    policy.check_text(text, locale=, field=, subject=) -> Decision
    policy.decide_frames(per_frame_scores, detector=, detector_version=) -> Decision
    policy.detector_failed(detector, version, error) -> Decision (review: fail closed)
    Decision(decision, reasons, scores, detector, detector_version).to_dict(); Decision.combine
    FrameDetector (protocol), NudeNetDetector
    TermLists, normalize
"""

from moderation.detectors import NUDENET_LABELS, FrameDetector, NudeNetDetector
from moderation.normalize import normalize
from moderation.policy import DECISIONS, TEXT_FIELDS, Decision, FramePolicy, LabelThresholds, Policy
from moderation.textcheck import TermLists, TermMatch

__all__ = [
    "DECISIONS", "NUDENET_LABELS", "TEXT_FIELDS", "Decision", "FrameDetector", "FramePolicy",
    "LabelThresholds", "NudeNetDetector", "Policy", "TermLists", "TermMatch", "normalize",
]
