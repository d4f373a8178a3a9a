"""The campaign flow: a campaign spec in, one published clip per locale out.

    parse -> screen text -> render each unique shot once (template cache) -> stabilize and
    assemble the master -> screen frames -> localize: per locale subtitles, labels, watermark,
    provenance -> publish -> manifest

Rerunning a failed run with the same ``run_id`` resumes: renders and the master come back from
the template cache, so no shot is rendered again.
"""

from __future__ import annotations

import logging
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.localize import deliver_locales
from flows.review import screen
from flows.runtime import Factory, get_factory
from storage.records import add_run_metrics, finish_run, get_run
from tasks.master import build_master_task
from tasks.screen import moderate_frames_task, moderate_text_task
from tasks.plan import RunPlan, plan_run_task
from tasks.render import render_shot_task
from tasks.script import Campaign, load_campaign
from flows.stopwatch import Stopwatch


def render_and_master(factory: Factory, plan: RunPlan, watch: Stopwatch):
    """Render every unique shot once, then build (or fetch) the stabilized master."""
    spec = plan.campaign.spec
    with watch("render"):
        futures = {}
        for key in plan.unique_keys():
            shot = plan.shot_for_key(key)
            template = spec.templates.get(shot.template) if shot.template else None
            futures[key] = render_shot_task.submit(
                factory.cache, factory.backend, plan.requests[shot.id], key,
                template=shot.template, pin=bool(template and template.pin))
        renders = {key: fut.result() for key, fut in futures.items()}
    with watch("stabilize+assemble"):
        master = build_master_task(plan, {k: r.path for k, r in renders.items()},
                                   store=factory.cache_store, work_dir=factory.work_dir,
                                   delivery_fps=spec.output.delivery_fps,
                                   stabilize=factory.settings.stabilize)
    return renders, master


def run_campaign(factory: Factory, campaign: Campaign, run_id: str | None) -> dict:
    """Everything after parsing; shared by the campaign and product flows."""
    log = get_run_logger()
    watch = Stopwatch()
    with watch("plan"):
        plan = plan_run_task(factory.db, campaign, factory.backend, run_id, _flow_run_id())
    log.info("run %s: %d shots, %d unique renders, locales %s, backend %s", plan.run_id,
             len(campaign.shots), len(plan.unique_keys()), ", ".join(plan.locales),
             factory.backend.name)
    with watch("moderate-text"):
        text = moderate_text_task(campaign, factory.policy)
    # No GPU time on a blocked prompt: screening happens before any render is asked for.
    screen(factory, plan.run_id, text, stage="text")
    renders, master = render_and_master(factory, plan, watch)
    with factory.db.session() as s:
        get_run(s, plan.run_id).master_key = master.key  # localize runs start from it
    with watch("moderate-frames"):
        frames = moderate_frames_task(master.path, factory.detector, factory.policy)
    screen(factory, plan.run_id, frames, stage="frames", subject_id=master.key)
    manifest = deliver_locales(factory, plan.run_id, campaign, master, plan.locales, watch)
    hits = sum(r.hit for r in renders.values())
    with factory.db.session() as s:
        add_run_metrics(s, plan.run_id, stages=watch.seconds, renders=len(renders),
                        render_hits=hits, stabilize=master.reports, master_reused=master.reused)
        finish_run(s, plan.run_id, state="completed", manifest_key=manifest["manifest_key"])
    log.info("run %s completed: %d clips published, %d/%d renders from cache", plan.run_id,
             len(manifest["clips"]), hits, len(renders))
    return {**manifest, "stages": watch.seconds, "render_hits": hits, "renders": len(renders)}


def _flow_run_id() -> str | None:
    value = flow_run.get_id()
    return str(value) if value else None


def mark_failed(flow, run, state) -> None:
    """Flow failure hook: the run record says failed, with the reason, and can be rerun."""
    from storage.models import Run

    factory = get_factory(run.parameters.get("backend"))
    with factory.db.session() as s:
        for record in s.query(Run).filter(Run.flow_run_id == str(run.id),
                                          Run.state.in_(("running", "pending"))):
            record.state = "failed"
            record.error = (state.message or "failed")[:2000]
    logging.getLogger(__name__).warning("flow run %s failed: %s", run.id, state.message)


@flow(name="campaign", on_failure=[mark_failed], on_crashed=[mark_failed])
def campaign(spec_path: str, run_id: str | None = None, backend: str | None = None) -> dict:
    """Render, localize and publish the campaign in ``spec_path``."""
    factory = get_factory(backend)
    return run_campaign(factory, load_campaign(Path(spec_path)), run_id)
