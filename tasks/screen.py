"""Screening a campaign: every text it will show or send to the model, and its rendered frames.

Thin campaign-level wrappers over ``tasks.moderate``: the prompts, negative prompts and the
captions of every locale go through the term lists before any render is asked for; the master
render's frames go through the frame detector before any clip is made from it.
"""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from moderation import Decision, FrameDetector, Policy
from tasks.moderate import TextItem, moderate_clip_frames, moderate_texts
from tasks.script import Campaign


def campaign_texts(campaign: Campaign) -> list[TextItem]:
    items: list[TextItem] = []
    for shot in campaign.shots:
        items.append(TextItem(shot.id, "prompt", None, shot.prompt))
        if shot.negative_prompt:
            items.append(TextItem(shot.id, "negative_prompt", None, shot.negative_prompt))
        for locale, lines in shot.captions.items():
            items.extend(TextItem(shot.id, "caption", locale, line) for line in lines)
    return items


@task(name="moderate-text", cache_policy=NO_CACHE)
def moderate_text_task(campaign: Campaign, policy: Policy) -> Decision:
    return moderate_texts(campaign_texts(campaign), policy)


@task(name="moderate-frames", cache_policy=NO_CACHE)
def moderate_frames_task(path: Path, detector: FrameDetector, policy: Policy,
                         sample_rate_hz: float = 1.0) -> Decision:
    return moderate_clip_frames(path, detector, policy, sample_rate_hz)
