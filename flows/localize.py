"""The localization flow: one stored master, one clip per locale, zero generation calls.

Used by the campaign flow after rendering, and on its own to add locales to a finished run:
the master comes back from the store, each locale gets its subtitles, labels and watermark,
and is published with the run's manifest rewritten to list every locale.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.review import approve_clips, screen
from flows.runtime import Factory, get_factory
from flows.stopwatch import Stopwatch
from storage.records import add_run_metrics, finish_run, get_run, start_run
from tasks.deliver import Branding, ClipFiles, finish_clip_task
from tasks.master import Master, fetch_master
from tasks.screen import moderate_text_task
from tasks.plan import campaign_of_run
from tasks.publish import publish_clip_task, record_clip, write_manifest_task
from tasks.script import Campaign


def branding_for(factory: Factory, campaign: Campaign) -> Branding:
    brand, settings = campaign.spec.brand, factory.settings
    return Branding(name=brand.name, primary=brand.colors.primary,
                    secondary=brand.colors.secondary, text=brand.colors.text, logo=brand.logo,
                    producer=settings.producer,
                    model=f"{factory.backend.name}:{factory.backend.fingerprint()}",
                    fonts_dir=settings.fonts_dir, c2pa_cert=settings.c2pa_cert,
                    c2pa_key=settings.c2pa_key)


def deliver_locales(factory: Factory, run_id: str, campaign: Campaign, master: Master,
                    locales: list[str], watch: Stopwatch) -> dict:
    """Finish, approve and publish one clip per locale, then write the run's manifest."""
    branding = branding_for(factory, campaign)
    work = factory.work_dir / "runs" / run_id
    with watch("localize"):
        futures = [finish_clip_task.submit(master.path, campaign.shots, master.timings,
                                           locale=locale, run_id=run_id, branding=branding,
                                           work_dir=work / locale) for locale in locales]
        clips: list[ClipFiles] = [f.result() for f in futures]
        for clip in clips:
            record_clip(factory.db, run_id, clip)
    approve_clips(factory, run_id, [c.content_id for c in clips], master_key=master.key)
    target = factory.store_for(campaign.spec.publish.target)
    expiry = campaign.spec.publish.presign_expiry_s or factory.settings.presign_expiry_s
    with watch("publish"):
        published = {c.locale: publish_clip_task(factory.db, target, run_id, c, expiry)
                     for c in clips}
        already = _published_before(factory, run_id, target.url, exclude=set(published))
        manifest = write_manifest_task(factory.db, target, run_id, {**already, **published},
                                       {"master_key": master.key})
    return manifest


def _published_before(factory: Factory, run_id: str, target_url: str,
                      exclude: set[str]) -> dict:
    """Clips of this run published by an earlier localization, so the manifest keeps them."""
    from storage.publish import Published

    out: dict[str, list] = {}
    with factory.db.session() as s:
        for clip in get_run(s, run_id).clips:
            if clip.locale in exclude:
                continue
            pubs = [Published(p.kind, p.object_key, p.url, p.sha256, p.size_bytes, False)
                    for p in clip.publications if p.target == target_url]
            if any(p.kind == "video" for p in pubs):
                out[clip.locale] = pubs
    return out


@flow(name="localize")
def localize(run_id: str, locales: list[str], spec_path: str | None = None) -> dict:
    """Publish ``locales`` for the finished run ``run_id`` from its stored master."""
    log = get_run_logger()
    factory = get_factory()
    watch = Stopwatch()
    campaign = campaign_of_run(factory.db, run_id, spec_path)
    with factory.db.session() as s:
        run = get_run(s, run_id)
        master_key, campaign_id = run.master_key, run.campaign_id
    master = fetch_master(factory.cache_store, master_key, factory.work_dir) if master_key \
        else None
    if master is None:
        from common.errors import StorageError

        raise StorageError(f"run {run_id} has no stored master render: rerun it with "
                           f"`content-factory run SPEC --run-id {run_id}` first")
    missing = [loc for loc in locales for shot in campaign.shots
               if shot.captions and loc not in shot.captions]
    if missing:
        from common.errors import SpecError

        shot = next(s for s in campaign.shots if s.captions and missing[0] not in s.captions)
        raise SpecError(f"shot {shot.id!r} has no caption for locale {missing[0]!r}: add "
                        f"'[{missing[0]}] ...' lines to it and pass the updated spec",
                        file=campaign.source, line=shot.line, field=f"caption[{missing[0]}]")
    with factory.db.session() as s:
        start_run(s, run_id=run_id, campaign_id=campaign_id, kind="localize",
                  backend=factory.backend.name, locales=locales)
    with watch("moderate-text"):
        text = moderate_text_task(campaign, factory.policy)  # the new locales' captions are new text
    screen(factory, run_id, text, stage="text")
    manifest = deliver_locales(factory, run_id, campaign, master, locales, watch)
    with factory.db.session() as s:
        add_run_metrics(s, run_id, localize_stages=watch.seconds)
        finish_run(s, run_id, state="completed", manifest_key=manifest["manifest_key"])
    log.info("run %s: published %s from the stored master (no renders)", run_id,
             ", ".join(locales))
    return {**manifest, "stages": watch.seconds}

