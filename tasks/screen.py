"""The screening stage: a campaign's texts before any render, its master's frames after, and
the audit row every decision leaves.

The checks themselves are in :mod:`moderation.checks`; what happens on ``review`` or ``block``
(pause for a person, stop the run) is the gate in ``flows.review``.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from moderation import Decision, FrameDetector, Policy
from moderation.checks import TextItem, moderate_clip_frames, moderate_texts
from storage.db import Database
from storage.records import record_decision
from tasks.script import Campaign


def campaign_texts(campaign: Campaign) -> list[TextItem]:
    """Every text the campaign sends to the model, shows or speaks: prompts, negatives,
    captions, the call to action and narration (screened before any render and any synthesis)."""
    items: list[TextItem] = []
    for shot in campaign.shots:
        items.append(TextItem(shot.id, "prompt", None, shot.prompt))
        if shot.negative_prompt:
            items.append(TextItem(shot.id, "negative_prompt", None, shot.negative_prompt))
        for locale, lines in shot.captions.items():
            items.extend(TextItem(shot.id, "caption", locale, line) for line in lines)
        for locale, sentences in shot.narration.items():
            if sentences != shot.captions.get(locale):  # captions taken from it are checked above
                items.extend(TextItem(shot.id, "narration", locale, s) for s in sentences)
    for locale, text in campaign.spec.cta.items():  # the call to action is shown too
        items.append(TextItem("cta", "caption", locale, text))
    return items


def record(db: Database, decision: Decision, *, subject_kind: str, subject_id: str,
           run_id: str | None = None, flow_run_id: str | None = None,
           reviewer: str | None = None) -> int:
    """Store ``decision`` as an audit row (reasons, scores, detector and version); its id."""
    with db.session() as s:
        row = record_decision(s, subject_kind=subject_kind, subject_id=subject_id,
                              decision=decision.decision, reasons=decision.reasons,
                              scores=decision.scores, detector=decision.detector,
                              detector_version=decision.detector_version, reviewer=reviewer,
                              run_id=run_id, flow_run_id=flow_run_id)
        return row.id


# No caching: the policy (with its compiled term automaton) and a detector are not inputs to hash.

@task(name="screen-text", cache_policy=NO_CACHE)
def screen_text_task(campaign: Campaign, policy: Policy) -> Decision:
    return moderate_texts(campaign_texts(campaign), policy)


@task(name="screen-frames", cache_policy=NO_CACHE)
def screen_frames_task(path: Path, detector: FrameDetector, policy: Policy,
                       sample_rate_hz: float = 1.0) -> Decision:
    return moderate_clip_frames(path, detector, policy, sample_rate_hz)
