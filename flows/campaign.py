"""The campaign flow: a campaign spec in, one published clip per locale (and variant) out.

A spec with a ``variants`` block makes one run per variant (run id ``BASE-VARIANT``), one after
another, so that each finds in the template cache every render and master an earlier variant
made (tasks/variants.py): the log and the result say renders made against clips produced.

Rerunning a failed run with the same ``run_id`` resumes: renders and the master come back from
the template cache, so no shot is rendered again.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.localize import localize_clips, narrate, publish_clips, variant_fields
from flows.review import approve_clips, screen
from flows.runtime import Factory, get_factory
from flows.stopwatch import Stopwatch
from media.fonts import default_fonts_dir
from storage.cache import CachedRender
from tasks.audio.narrate import silenced
from tasks.layout import check_layout, delivery_layouts
from tasks.master import (
    Master,
    SteadyRender,
    master_stored_task,
    master_task,
    reframe_master_task,
    stabilize_render_task,
)
from tasks.plan import (
    RunPlan,
    base_of_flow_run,
    new_run_id,
    plan_for_format,
    plan_run_task,
    run_of_flow_run,
    variant_plan,
)
from tasks.publish import write_manifest_task
from tasks.render.fidelity import first_frame_fidelity_task
from tasks.render.stage import render_shot_task, render_totals
from tasks.report import (
    name_flow_run,
    review_frames_markdown,
    review_text_markdown,
    run_artifacts,
    run_name,
    stabilize_artifact,
)
from tasks.runs import fail, fail_before_plan, finish_task, set_master_task
from tasks.screen import screen_frames_task, screen_text_task
from tasks.script import Campaign, load_campaign
from tasks.variants import Variant, pick_variants


def produce(factory: Factory, campaign: Campaign, run_id: str | None,
            screened: dict | None = None) -> dict:
    """The pipeline, one stage a step; shared by the campaign and product flows.

    ``screened`` (master key -> frame decision) lets variants that share a master screen its
    frames once; each run still records the decision."""
    watch, db = Stopwatch(), factory.db
    with watch("plan"):
        # `validate`'s layout check, for runs started without the CLI (product events): an
        # overlay that cannot fit fails here, before anything renders
        check_layout(campaign, fonts_dir=factory.settings.fonts_dir or default_fonts_dir(),
                     logo=campaign.spec.brand.logo)
        plan = plan_run_task(db, campaign, factory.backend, run_id, _flow_run_id())
        if screened is None:  # one run; variants name the flow run after their base id
            name_flow_run(run_name(campaign.id, plan.run_id))
    with watch("screen-text"):  # before any render: a blocked prompt costs no GPU time
        text = screen_text_task(campaign, factory.policy)
        screen(factory, plan.run_id, text, stage="text",
               shown=lambda: review_text_markdown(campaign, text))
    with watch("voice"):  # after screening (no blocked text is spoken), before renders: speech
        # decides how long each shot lasts
        plan = narrate(factory, plan, _flow_run_id())
    output = campaign.spec.output
    masters: dict[str | None, Master] = {}
    renders: dict[str, CachedRender] = {}
    first_frame: dict = {}
    sizes = {layout.format: layout.size for layout in delivery_layouts(campaign.spec)}
    # Each rendered format has its own renders and master; 1:1 and 4:5 are crops of one of
    # them, except from a backend that draws any size (the storyboard lays them out itself).
    drawn = getattr(factory.backend, "any_size", False) and bool(output.formats)
    for fmt in output.delivery_formats() if drawn else output.rendered_formats():
        fplan = plan_for_format(plan, factory.backend, fmt, sizes.get(fmt) if drawn else None)
        with watch("render"):
            done = render_shots(factory, fplan)
            first_frame.update(first_frame_fidelity_task(fplan.requests, fplan.keys, done,
                                                         factory.backend.image_role))
            renders.update(done)
        with watch("stabilize"):
            steady = stabilize_renders(factory, fplan, done)
        with watch("master"):
            made = masters[fmt] = master_task(fplan, steady, store=factory.cache_store,
                                              **_master_options(factory, fplan))
            stabilize_artifact(plan.run_id, made.reports,
                               {fplan.keys[s.id]: s.id for s in reversed(fplan.campaign.shots)})
        with watch("screen-frames"):
            frames = screened.get(made.key) if screened is not None else None
            if frames is None:
                frames = screen_frames_task(made.path, factory.detector, factory.policy)
            if screened is not None:
                screened[made.key] = frames
            screen(factory, plan.run_id, frames, stage="frames", subject_id=made.key,
                   shown=lambda m=made, f=frames: review_frames_markdown(m.path, f))
    master = next(iter(masters.values()))
    set_master_task(db, plan.run_id, master.key)
    with watch("reframe"):  # 1:1 and 4:5: crops of a rendered master that follow the subject
        for layout in delivery_layouts(campaign.spec):
            if layout.format and layout.format not in masters:
                masters[layout.format] = reframe_master_task(
                    masters[output.crop_source()], layout.format, layout.size,
                    store=factory.cache_store, work_dir=factory.work_dir)
    with watch("localize"):
        clips = localize_clips(factory, plan.run_id, plan.campaign, masters, plan.locales)
    with watch("publish"):
        approve_clips(factory, plan.run_id, [c.content_id for c in clips], master_key=master.key)
        target = publish_clips(factory, campaign, clips)
    with watch("manifest"):
        manifest = write_manifest_task(db, target, plan.run_id, {
            "master_key": master.key, **variant_fields(campaign)})
        run_artifacts(db, manifest)
    hits = sum(r.hit for r in renders.values())
    finish_task(db, plan.run_id, manifest_key=manifest["manifest_key"], metrics={
        "stages": watch.seconds, "renders": len(renders), "render_hits": hits,
        "render_work": render_totals(renders.values()),
        "stabilize": master.reports, "colour": master.colour, "master_reused": master.reused,
        "first_frame": first_frame,
        **({"masters": {fmt: m.key for fmt, m in masters.items()}} if output.formats else {})})
    get_run_logger().info("run %s completed: %d clips published, %d/%d renders from cache",
                          plan.run_id, len(manifest["clips"]), hits, len(renders))
    return {**manifest, "stages": watch.seconds, "render_hits": hits, "renders": len(renders),
            "colour": master.colour.get("summary", {})}


def produce_variants(factory: Factory, campaign: Campaign, variants: list[Variant],
                     run_id: str | None) -> dict:
    """Every variant of the campaign, one run each (``BASE-VARIANT``), in the table's order:
    a later variant finds the renders and masters it shares with an earlier one in the cache."""
    plan = variant_plan(campaign, variants)
    # A flow run suspended for review starts again from the top: the same base id again.
    base = run_id or base_of_flow_run(factory.db, _flow_run_id(),
                                      [row.variant.id for row in plan.rows]) \
        or new_run_id(campaign.id)
    name_flow_run(run_name(campaign.id, base))
    logger = get_run_logger()
    logger.info("campaign %s: %s", campaign.id, plan.summary())
    results, screened = [], {}
    for row in plan.rows:
        result = produce(factory, row.campaign, f"{base}-{row.variant.id}", screened)
        results.append({**result, "variant_values": row.variant.values})
    made = sum(r["renders"] - r["render_hits"] for r in results)
    stages: dict[str, float] = {}
    for r in results:  # seconds per stage, over every variant
        for stage, seconds in r["stages"].items():
            stages[stage] = round(stages.get(stage, 0.0) + seconds, 3)
    clips = [{**clip, "run_id": r["run_id"]} for r in results for clip in r["clips"]]
    logger.info("campaign %s: %d variant(s), %d clip(s) from %d new render(s)", campaign.id,
                len(results), len(clips), made)
    return {"run_id": base, "campaign_id": campaign.id, "kind": campaign.kind,
            "variants": [{"variant": r["variant"], "values": r["variant_values"],
                          "run_id": r["run_id"], "manifest_key": r["manifest_key"],
                          "renders": r["renders"], "render_hits": r["render_hits"]}
                         for r in results],
            "clips": clips, "stages": stages, "renders_made": made, "renders_planned": plan.renders,
            "clips_planned": plan.clips}


def render_shots(factory: Factory, plan: RunPlan) -> dict[str, CachedRender]:
    """Fan out: every unique shot once, from the template cache or the backend."""
    spec = plan.campaign.spec
    futures = {}
    for key in plan.unique_keys():
        shot = plan.shot_for_key(key)
        template = spec.templates.get(shot.template) if shot.template else None
        futures[key] = render_shot_task.submit(
            factory.cache, factory.backend, plan.requests[shot.id], key,
            template=shot.template, pin=bool(template and template.pin), shot=shot.id)
    get_run_logger().info("run %s: %d shots, %d unique renders, locales %s, backend %s",
                          plan.run_id, len(plan.campaign.shots), len(futures),
                          ", ".join(plan.locales), factory.backend.name)
    return {key: future.result() for key, future in futures.items()}


def stabilize_renders(factory: Factory, plan: RunPlan, renders: dict[str, CachedRender]
                      ) -> dict[str, SteadyRender]:
    """Fan out per render; nothing to do when the run's master is stored already (a rerun)."""
    options = _master_options(factory, plan)
    if master_stored_task(factory.cache_store, plan, **options):
        return {}
    futures = {key: stabilize_render_task.submit(r.path, key, **options)
               for key, r in renders.items()}
    return {key: future.result() for key, future in futures.items()}


def _master_options(factory: Factory, plan: RunPlan) -> dict:
    return {"work_dir": factory.work_dir, "stabilize": factory.settings.stabilize,
            "delivery_fps": plan.campaign.spec.output.delivery_fps}


def _flow_run_id() -> str | None:
    value = flow_run.get_id()
    return str(value) if value else None


def mark_failed(flow, run, state) -> None:
    """Flow failure hook: the run record says failed, with the reason, and can be rerun.

    A flow run that failed before it planned a run (an invalid spec, a missing file, a backend
    that cannot load) is recorded too, under its ``run_id`` parameter or a new id, so that
    `content-factory runs` and the jobs API show it. Only the database is opened here: the
    failure may have been the factory's own set-up.
    """
    from flows.settings import get_settings
    from storage.db import open_database

    db = open_database(get_settings().database_url)
    error = state.message or "failed"
    # A run stopped by moderation already says blocked or rejected: no failed start then.
    if not fail(db, str(run.id), error) and run_of_flow_run(db, str(run.id)) is None:
        params = run.parameters or {}
        campaign_id, kind = _campaign_of_params(flow.name, params)
        run_id = params.get("run_id") or new_run_id(campaign_id)
        fail_before_plan(db, run_id=run_id, campaign_id=campaign_id, kind=kind, error=error,
                         flow_run_id=str(run.id))
    logging.getLogger(__name__).warning("flow run %s failed: %s", run.id, state.message)


def _start_name() -> str:
    """The flow run's name before planning: the run id when one is given, else the spec's
    folder (the campaign's usual home); ``produce`` renames it to campaign and run id."""
    parameters = flow_run.get_parameters()
    return parameters.get("run_id") or f"{Path(parameters['spec_path']).parent.name}-starting"


def _campaign_of_params(flow_name: str, params: dict) -> tuple[str, str]:
    """The campaign id and kind a flow run's parameters name, as far as they can be read."""
    if flow_name == "product_clip":
        return f"product-{str(params.get('sku') or 'unknown').lower()}"[:128], "product"
    try:
        return load_campaign(params["spec_path"]).id, "campaign"
    except Exception:  # the spec is what failed: name the campaign after its file
        stem = Path(str(params.get("spec_path") or "unknown")).stem.lower()
        return re.sub(r"[^a-z0-9._-]+", "-", stem).strip("-")[:64] or "unknown", "campaign"


@flow(name="campaign", flow_run_name=_start_name, on_failure=[mark_failed], on_crashed=[mark_failed])
def campaign(spec_path: str, run_id: str | None = None, backend: str | None = None,
             silent: bool = False, variants: list[str] | None = None) -> dict:
    """Render, localize and publish the campaign in ``spec_path`` (``silent``: no sound); a
    spec with variants makes every variant (``variants``: only these ids)."""
    factory = get_factory(backend)
    loaded = load_campaign(spec_path)
    loaded = silenced(loaded) if silent else loaded
    chosen = pick_variants(loaded, variants)
    if not chosen:
        return produce(factory, loaded, run_id)
    return produce_variants(factory, loaded, chosen, run_id)
