"""The moderation policy: turns term matches and detector scores into allow / review / block.

Loaded from ``moderation/policy.yaml`` (text: per-field relaxations; frames: per-detector,
per-label thresholds). Every :class:`Decision` carries its reasons, its scores and the name and
version of what decided, so the audit row says why. Fail closed: a detector that raised, could
not load, returned nonsense or has no thresholds in the policy yields ``review``, never ``allow``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from common.errors import ModerationError
from common.verdicts import AUTOMATIC, Verdict
from moderation.textcheck import TermLists, TermMatch

POLICY_PATH = Path(__file__).parent / "policy.yaml"
DECISIONS = tuple(str(v) for v in AUTOMATIC)  # allow, review, block: least to most severe
_RANK = {name: rank for rank, name in enumerate(DECISIONS)}
# Fields of a shot or a clip whose text is checked.
TEXT_FIELDS = ("prompt", "negative_prompt", "caption", "narration", "text")


@dataclass
class Decision:
    """An automatic moderation outcome.

    ``decision`` is ``allow``, ``review`` or ``block``; ``reasons`` are sentences for the
    reviewer and the audit log; ``scores`` map a category (text) or a detector label (frames)
    to its score in [0, 1].
    """

    decision: str
    reasons: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    detector: str = ""
    detector_version: str = ""
    frames: list[int] = field(default_factory=list)  # frame indices that crossed a threshold

    def __post_init__(self) -> None:
        if self.decision not in _RANK:
            raise ModerationError(f"decision {self.decision!r} is not one of "
                                  f"{', '.join(DECISIONS)}")

    @property
    def allowed(self) -> bool:
        return self.decision == Verdict.ALLOW

    @property
    def blocked(self) -> bool:
        return self.decision == Verdict.BLOCK

    @property
    def needs_review(self) -> bool:
        return self.decision == Verdict.REVIEW

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def combine(cls, decisions: Iterable[Decision]) -> Decision:
        """The most severe of ``decisions``, with every reason and the highest score per key.

        Nothing to combine is ``allow``: no text, no finding.
        """
        decisions = list(decisions)
        if not decisions:
            return cls("allow")
        worst = max(decisions, key=lambda d: _RANK[d.decision])
        scores: dict[str, float] = {}
        for d in decisions:
            for key, value in d.scores.items():
                scores[key] = max(value, scores.get(key, 0.0))
        return cls(worst.decision, [r for d in decisions for r in d.reasons], scores,
                   "+".join(dict.fromkeys(d.detector for d in decisions if d.detector)),
                   "+".join(dict.fromkeys(d.detector_version for d in decisions
                                          if d.detector_version)))


@dataclass(frozen=True)
class LabelThresholds:
    """A label's score at or above ``review`` sends to review; at or above ``block`` blocks."""

    review: float | None = None
    block: float | None = None


@dataclass(frozen=True)
class FramePolicy:
    """Thresholds for one detector's labels."""

    labels: dict[str, LabelThresholds]
    block_min_frames: int = 1


class Policy:
    """Term lists plus the rules of ``policy.yaml``. Build once per process and pass it down."""

    def __init__(self, *, terms: TermLists, frames: Mapping[str, FramePolicy],
                 relax: Mapping[str, frozenset[str]] | None = None,
                 severity_scores: Mapping[str, float] | None = None, version: str = "") -> None:
        self.terms = terms
        self.frames = dict(frames)
        self.relax = dict(relax or {})
        self.severity_scores = {"block": 1.0, "review": 0.5, **(severity_scores or {})}
        self.version = version

    @classmethod
    def load(cls, path: str | Path | None = None, *, terms_dir: str | Path | None = None
             ) -> Policy:
        """Read ``policy.yaml`` (default: the package's) and the term lists in ``terms_dir``."""
        path = Path(path) if path else POLICY_PATH
        try:
            raw = path.read_bytes()
            doc = yaml.safe_load(raw) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ModerationError(f"{path}: cannot read the moderation policy ({exc})") from exc
        return cls.from_dict(doc, terms=TermLists.load(terms_dir), source=str(path),
                             version=hashlib.sha256(raw).hexdigest()[:16])

    @classmethod
    def from_dict(cls, doc: Mapping, *, terms: TermLists, source: str = "policy",
                  version: str = "") -> Policy:
        """Build a policy from the parsed YAML mapping (``source`` names it in errors)."""
        text = doc.get("text") or {}
        relax = {str(name): frozenset(rules.get("relax_categories") or [])
                 for name, rules in (text.get("fields") or {}).items()}
        unknown = set(relax) - set(TEXT_FIELDS)
        if unknown:
            raise ModerationError(f"{source}: text.fields has unknown field(s) "
                                  f"{', '.join(sorted(unknown))}; use {', '.join(TEXT_FIELDS)}")
        frames: dict[str, FramePolicy] = {}
        for detector, rules in (doc.get("frames") or {}).items():
            labels: dict[str, LabelThresholds] = {}
            for label, limits in (rules.get("labels") or {}).items():
                review, block = limits.get("review"), limits.get("block")
                for name, value in (("review", review), ("block", block)):
                    if value is not None and not 0.0 <= float(value) <= 1.0:
                        raise ModerationError(f"{source}: frames.{detector}.labels.{label}."
                                              f"{name} = {value} must lie in [0, 1]")
                if review is not None and block is not None and float(block) < float(review):
                    raise ModerationError(f"{source}: frames.{detector}.labels.{label}: block "
                                          f"({block}) is below review ({review})")
                labels[str(label)] = LabelThresholds(
                    None if review is None else float(review),
                    None if block is None else float(block))
            frames[str(detector)] = FramePolicy(labels,
                                                int(rules.get("block_min_frames", 1)))
        return cls(terms=terms, frames=frames, relax=relax,
                   severity_scores=text.get("severity_scores"), version=version)

    # Text -----------------------------------------------------------------------------------

    @property
    def text_detector_version(self) -> str:
        return f"terms {self.terms.version} policy {self.version or 'inline'}"

    def check_text(self, text: str, *, locale: str | None = None, field: str = "text",
                   subject: str = "") -> Decision:
        """Decide one text: ``field`` (prompt, negative_prompt, caption) of ``subject``
        (e.g. "shot s1"; named in the reasons)."""
        if field not in TEXT_FIELDS:
            raise ModerationError(f"text field {field!r} is not one of {', '.join(TEXT_FIELDS)}")
        matches = self.terms.match(text, locale)
        relaxed = self.relax.get(field, frozenset())
        worst, reasons, scores = "allow", [], {}
        where = (f"{field} of {subject}" if subject else field) + (f" ({locale})" if locale
                                                                    else "")
        for m in matches:
            severity = _relax(m.severity) if m.category in relaxed else m.severity
            note = f", relaxed in a {field}" if severity != m.severity else ""
            reasons.append(f"{where}: '{m.term.text}' is {m.category} ({m.severity}, "
                           f"{m.term.locale} list){note}")
            scores[m.category] = max(scores.get(m.category, 0.0),
                                     self.severity_scores.get(severity, 0.0))
            worst = max(worst, severity, key=_RANK.__getitem__)
        return Decision(worst, reasons, scores, self.terms.name, self.text_detector_version)

    def matches(self, text: str, locale: str | None = None) -> list[TermMatch]:
        return self.terms.match(text, locale)

    # Frames ---------------------------------------------------------------------------------

    def decide_frames(self, per_frame: list[Mapping[str, float]], *, detector: str,
                      detector_version: str, frame_indices: list[int] | None = None) -> Decision:
        """Decide a clip from one ``{label: score}`` per sampled frame.

        A label decides on its highest score over the frames; a block needs the block threshold
        crossed in ``block_min_frames`` frames, fewer sends it to review.
        """
        rules = self.frames.get(detector)
        if rules is None:
            return Decision("review", [f"the moderation policy sets no frame thresholds for "
                                       f"detector '{detector}'; add a frames.{detector} section"],
                            {}, detector, detector_version)
        if not per_frame:
            return Decision("review", ["no frames could be sampled from the clip"], {}, detector,
                            detector_version)
        indices = frame_indices or list(range(len(per_frame)))
        scores: dict[str, float] = {}
        for scores_of_frame in per_frame:
            if not isinstance(scores_of_frame, Mapping):
                return self.detector_failed(detector, detector_version,
                                            f"it returned {type(scores_of_frame).__name__} "
                                            "for a frame instead of {label: score}")
            for label, value in scores_of_frame.items():
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    value = math.nan
                if not math.isfinite(value) or not 0.0 <= value <= 1.0:
                    return self.detector_failed(
                        detector, detector_version,
                        f"it returned score {value!r} for label {label} (scores lie in [0, 1])")
                scores[label] = max(value, scores.get(label, 0.0))
        worst, reasons, flagged = "allow", [], set()
        for label, limits in rules.labels.items():
            top = scores.get(label, 0.0)
            low = min(v for v in (limits.review, limits.block) if v is not None) \
                if (limits.review, limits.block) != (None, None) else None
            if low is not None and top >= low:  # the frames a reviewer should look at
                flagged.update(i for i, f in zip(indices, per_frame) if f.get(label, 0.0) >= low)
            if limits.block is not None and top >= limits.block:
                hits = [i for i, f in zip(indices, per_frame) if f.get(label, 0.0) >= limits.block]
                if len(hits) >= rules.block_min_frames:
                    verdict = "block"
                    reasons.append(f"{label} {top:.2f} >= block {limits.block:.2f} in "
                                   f"{len(hits)} of {len(per_frame)} sampled frames {hits[:8]}")
                else:
                    verdict = "review"
                    reasons.append(f"{label} {top:.2f} >= block {limits.block:.2f} in only "
                                   f"{len(hits)} of {len(per_frame)} sampled frames {hits[:8]} "
                                   f"(a block needs {rules.block_min_frames}): review")
            elif limits.review is not None and top >= limits.review:
                verdict = "review"
                reasons.append(f"{label} {top:.2f} >= review {limits.review:.2f}")
            else:
                continue
            worst = max(worst, verdict, key=_RANK.__getitem__)
        return Decision(worst, reasons, {k: round(v, 4) for k, v in sorted(scores.items())},
                        detector, detector_version, sorted(flagged))

    def detector_failed(self, detector: str, detector_version: str,
                        error: BaseException | str) -> Decision:
        """Fail closed: a detector that could not give an answer sends the clip to review."""
        what = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
        return Decision("review", [f"detector {detector} failed, so a person must look: {what}"],
                        {}, detector, detector_version)


def _relax(severity: str) -> str:
    return DECISIONS[max(0, _RANK[severity] - 1)]
