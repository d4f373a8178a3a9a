"""The localization flow: one stored master, one clip per locale, zero generation calls.

Its stages are also the campaign flow's last ones. On its own it adds locales to a finished run:
the master comes back from the store, each new locale gets its voice-over and soundtrack, its
subtitles, labels and watermark, and the run's manifest is rewritten to list every locale.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.review import approve_clips, screen
from flows.runtime import Factory, get_factory
from flows.stopwatch import Stopwatch
from storage.objects import ObjectStore
from tasks.audio.narrate import silenced, soundtrack_task, time_shots_task, voice_over_task
from tasks.endcard import end_card_text
from tasks.layout import delivery_layouts
from tasks.localize import Branding, ClipFiles, localize_clip_task
from tasks.master import Master, stored_master_task, stored_masters_task
from tasks.plan import RunPlan, campaign_of_run_task, plan_run_task
from tasks.publish import publish_run_task, write_manifest_task
from tasks.report import clip_artifacts, review_text_markdown, run_artifacts
from tasks.runs import finish_task, record_clip_task, reopen_task, run_created_at_task
from tasks.screen import screen_text_task
from tasks.script import Campaign


def branding_for(factory: Factory, campaign: Campaign) -> Branding:
    brand, settings = campaign.spec.brand, factory.settings
    return Branding(name=brand.name, primary=brand.colors.primary,
                    secondary=brand.colors.secondary, text=brand.colors.text, logo=brand.logo,
                    producer=settings.producer,
                    model=f"{factory.backend.name}:{factory.backend.fingerprint()}",
                    fonts_dir=settings.fonts_dir, c2pa_cert=factory.c2pa_cert,
                    c2pa_key=factory.c2pa_key)


def variant_fields(campaign: Campaign) -> dict:
    """What a manifest says of the variant its clips are (nothing for a plain run)."""
    return {"variant": campaign.variant} if campaign.variant else {}


def narrate(factory: Factory, plan: RunPlan, flow_run_id: str | None) -> RunPlan:
    """Fan out: every locale's voice-over (kept in the cache store); each shot then lasts as
    long as its longest locale's speech, and the run is planned again with those lengths."""
    campaign = plan.campaign
    futures = [voice_over_task.submit(campaign, locale, factory.cache_store,
                                      factory.work_dir / "voice") for locale in plan.locales]
    timed = time_shots_task(campaign, [future.result() for future in futures])
    if [s.frames for s in timed.shots] == [s.frames for s in campaign.shots]:
        return plan
    return plan_run_task(factory.db, timed, factory.backend, plan.run_id, flow_run_id)


def localize_clips(factory: Factory, run_id: str, campaign: Campaign,
                   masters: dict[str | None, Master], locales: list[str]) -> list[ClipFiles]:
    """Fan out: one soundtrack per locale, and one clip per locale and delivery format from
    that format's master (``None``: a spec without formats), each recorded before any is
    published."""
    branding = branding_for(factory, campaign)
    master = next(iter(masters.values()))  # every format's master has the same timings
    work = factory.work_dir / "runs" / run_id
    created = run_created_at_task(factory.db, run_id)
    sounds = {locale: soundtrack_task.submit(master.timings, campaign, locale,
                                             factory.cache_store,
                                             voice_dir=factory.work_dir / "voice",
                                             work_dir=work / locale / "sound")
              for locale in locales}
    futures = [localize_clip_task.submit(masters[layout.format].path, campaign.shots,
                                         master.timings, locale=locale, run_id=run_id,
                                         branding=branding,
                                         work_dir=work / (layout.slug or "") / locale,
                                         created_at=created, signatures=factory.cache_store,
                                         sound=sounds[locale], layout=layout,
                                         end_card=end_card_text(campaign.spec, locale),
                                         variant=campaign.variant,
                                         cta=campaign.spec.cta.get(locale))
               for layout in delivery_layouts(campaign.spec) for locale in locales]
    for sound in sounds.values():  # a failed soundtrack raises its own error, e.g. a locale
        sound.result()             # too long for its shot, not its clip's "upstream failed"
    clips = [future.result() for future in futures]
    for clip in clips:
        record_clip_task(factory.db, run_id, clip)
    clip_artifacts(run_id, campaign.id, [(clip.locale, clip.video) for clip in clips])
    return clips


def publish_clips(factory: Factory, campaign: Campaign, clips: list[ClipFiles]) -> ObjectStore:
    """Publish every clip's files to the campaign's target, all or none (the gate is at the
    write)."""
    target = factory.store_for(campaign.spec.publish.target)
    expiry = campaign.spec.publish.presign_expiry_s or factory.settings.presign_expiry_s
    publish_run_task(factory.db, target, clips, expiry, factory.settings.stale_upload_s,
                     {"variant": campaign.variant} if campaign.variant else None)
    return target


@flow(name="localize", flow_run_name="localize-{run_id}")
def localize(run_id: str, locales: list[str], spec_path: str | None = None,
             silent: bool = False) -> dict:
    """Publish ``locales`` for the finished run ``run_id`` from its stored master (``silent``:
    without voice-over or music)."""
    factory, watch = get_factory(), Stopwatch()
    campaign = campaign_of_run_task(factory.db, run_id, spec_path, locales)
    campaign = silenced(campaign) if silent else campaign
    if campaign.spec.output.formats:
        masters = stored_masters_task(factory.db, factory.cache_store, run_id, factory.work_dir)
    else:
        masters = {None: stored_master_task(factory.db, factory.cache_store, run_id,
                                            factory.work_dir)}
    master = next(iter(masters.values()))
    reopen_task(factory.db, run_id, kind="localize", backend=factory.backend.name,
                locales=locales)
    with watch("screen-text"):  # the new locales' captions are new text
        text = screen_text_task(campaign, factory.policy)
        screen(factory, run_id, text, stage="text",
               shown=lambda: review_text_markdown(campaign, text))
    with watch("localize"):
        clips = localize_clips(factory, run_id, campaign, masters, locales)
    with watch("publish"):
        approve_clips(factory, run_id, [c.content_id for c in clips], master_key=master.key)
        target = publish_clips(factory, campaign, clips)
    with watch("manifest"):
        manifest = write_manifest_task(factory.db, target, run_id, {
            "master_key": master.key, **variant_fields(campaign)})
        run_artifacts(factory.db, manifest)
    finish_task(factory.db, run_id, manifest_key=manifest["manifest_key"],
                metrics={"localize_stages": watch.seconds})
    get_run_logger().info("run %s: published %s from the stored master (no renders)", run_id,
                          ", ".join(locales))
    return {**manifest, "stages": watch.seconds}
