"""Planning a run: campaign -> run records and one render request per shot.

Identical shots (same prompt, seed, size, ...) share one render key, so a run renders each
unique shot once, and a shot seen before in any run (a template intro, the same product shot)
is not rendered at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from common.errors import SpecError
from media.formats import native_size
from storage.db import Database
from storage.models import Campaign as CampaignRecord
from storage.models import Run
from storage.records import get_run, start_run, upsert_campaign, upsert_shot
from tasks.render import IMAGE_IGNORED, RenderBackend, RenderRequest, render_key
from tasks.script import Campaign, Shot, parse_script
from tasks.spec import CampaignSpec
from tasks.variants import Variant, apply_variant, pick_variants, select_variants


@dataclass(frozen=True)
class RunPlan:
    run_id: str
    campaign: Campaign
    requests: dict[str, RenderRequest]  # shot id -> request
    keys: dict[str, str]                # shot id -> render key
    backend: str
    format: str | None = None           # the rendered format (None: the spec's own size)

    @property
    def locales(self) -> list[str]:
        return list(self.campaign.spec.locales)

    def unique_keys(self) -> list[str]:
        return list(dict.fromkeys(self.keys[s.id] for s in self.campaign.shots))

    def shot_for_key(self, key: str) -> Shot:
        return next(s for s in self.campaign.shots if self.keys[s.id] == key)


def new_run_id(campaign_id: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{campaign_id}-{now:%Y%m%d-%H%M%S}"


def request_for(shot: Shot, spec: CampaignSpec, size: tuple[int, int] | None = None
                ) -> RenderRequest:
    width, height = size or (spec.output.width, spec.output.height)
    return RenderRequest(
        prompt=shot.prompt, negative_prompt=shot.negative_prompt, seed=shot.seed,
        width=width, height=height, frames=shot.frames,
        fps=spec.output.fps, sampling=spec.model.sampling_overrides(),
        loras=spec.model.lora_settings(),
        # A template shot looks the same in every campaign: its board shows the template's name
        # (as words), never a campaign's own title, so its render key is shared.
        title=shot.template.replace("-", " ").replace("_", " ").capitalize()
        if shot.template else shot.title,
        camera=shot.camera, image=shot.image,
        brand_colors=(spec.brand.colors.primary, spec.brand.colors.secondary),
        motion=spec.model.motion(),
    )


def plan_for_format(plan: RunPlan, backend: RenderBackend, format: str | None,
                    size: tuple[int, int] | None = None) -> RunPlan:
    """The run's plan for one rendered format: every shot at that format's native size (or
    ``size``), with its own render keys; the run records keep the first format's."""
    if format is None or format == plan.format:
        return plan
    spec = plan.campaign.spec
    size = size or native_size(format, (spec.output.width, spec.output.height))
    requests = {s.id: request_for(s, spec, size) for s in plan.campaign.shots}
    keys = {sid: render_key(backend, r) for sid, r in requests.items()}
    return dataclasses.replace(plan, requests=requests, keys=keys, format=format)


def check_images(campaign: Campaign, backend: RenderBackend) -> None:
    """SpecError for a shot with a photo when the backend's model never sees photos (a
    text-to-video preset), unless the spec says ``model.ignore_images: true``: a product clip
    that shows some other product is worse than no clip."""
    if backend.image_role != IMAGE_IGNORED or campaign.spec.model.ignore_images:
        return
    for shot in campaign.shots:
        if shot.image:
            raise SpecError(f"shot {shot.id!r} has a photo, but the {backend.name} backend's "
                            "model is text-to-video and would never see it: use an image preset "
                            "(ti2v-5b, i2v-a14b) or the svd backend, or set "
                            "'model.ignore_images: true' to render from the text alone",
                            file=campaign.source, line=shot.line, field=f"shots.{shot.id}.image")


def plan_run(db: Database, campaign: Campaign, backend: RenderBackend, *,
             run_id: str | None = None, flow_run_id: str | None = None) -> RunPlan:
    """Record the campaign, open (or reopen) the run, and key every shot's render.

    A shot the backend cannot render as asked (a photo for a text-to-video model) fails here,
    before anything is recorded.
    """
    check_images(campaign, backend)
    # A flow run suspended for review runs its flow again from the start once resumed: it
    # carries on under the run id it began with.
    run_id = run_id or run_of_flow_run(db, flow_run_id) or new_run_id(campaign.id)
    output = campaign.spec.output
    first = output.rendered_formats()[0]
    size = native_size(first, (output.width, output.height)) if first else None
    requests = {s.id: request_for(s, campaign.spec, size) for s in campaign.shots}
    keys = {sid: render_key(backend, r) for sid, r in requests.items()}
    stored = {"spec": campaign.spec.model_dump(mode="json"), "script": campaign.script,
              "source": campaign.source, "variant": campaign.variant}
    with db.session() as s:
        upsert_campaign(s, campaign_id=campaign.id, name=campaign.spec.name or campaign.id,
                        kind=campaign.kind, spec_path=campaign.source,
                        spec_sha256=campaign.sha256, spec=stored)
        start_run(s, run_id=run_id, campaign_id=campaign.id, kind=campaign.kind,
                  backend=backend.name, locales=campaign.spec.locales, flow_run_id=flow_run_id)
        for shot in campaign.shots:
            upsert_shot(s, run_id=run_id, shot_id=shot.id, position=shot.position,
                        prompt=shot.prompt, negative_prompt=shot.negative_prompt, seed=shot.seed,
                        frames=shot.frames, duration=shot.duration, render_key=keys[shot.id])
    return RunPlan(run_id=run_id, campaign=campaign, requests=requests, keys=keys,
                   backend=backend.name, format=first)


def run_of_flow_run(db: Database, flow_run_id: str | None) -> str | None:
    """The latest run this flow run made, or None."""
    if not flow_run_id:
        return None
    with db.session() as s:
        run = s.query(Run).filter_by(flow_run_id=flow_run_id).order_by(Run.started_at.desc()) \
            .first()
        return run.id if run is not None else None


def base_of_flow_run(db: Database, flow_run_id: str | None, variant_ids: list[str]
                     ) -> str | None:
    """The base run id the variants of this flow run were made under (``BASE-VARIANT``), when
    it ran before (suspended for review, then started again), or None."""
    if not flow_run_id:
        return None
    with db.session() as s:
        for run in s.query(Run).filter_by(flow_run_id=flow_run_id):
            for variant in variant_ids:
                if run.id.endswith(f"-{variant}"):
                    return run.id[:-len(variant) - 1]
    return None


def campaign_of_run(db: Database, run_id: str, spec_path: str | None = None) -> Campaign:
    """The campaign a run was made from, re-parsed from the stored spec and script.

    With ``spec_path`` the campaign is read from that (possibly updated) file instead, e.g. one
    that gained a locale's captions; its shots must still match the run's renders.
    """
    from tasks.audio.narrate import spoken_lengths
    from tasks.script import load_campaign

    with db.session() as s:
        run = get_run(s, run_id)
        record: CampaignRecord = run.campaign
        stored, kind, sha = dict(record.spec), record.kind, record.spec_sha256
        recorded = {shot.shot_id: (shot.prompt, shot.seed, shot.frames) for shot in run.shots}
    lengths = {shot_id: frames for shot_id, (_, _, frames) in recorded.items()}
    if spec_path:
        campaign = load_campaign(spec_path)
        if stored.get("variant"):  # a variant's run: the updated spec, as that variant
            campaign = apply_variant(campaign, pick_variants(campaign, [stored["variant"]])[0])
        campaign = spoken_lengths(campaign, lengths)  # speech timed them
        for shot in campaign.shots:
            if recorded.get(shot.id) != (shot.prompt, shot.seed, shot.frames):
                raise SpecError(f"shot {shot.id!r} differs from run {run_id} (prompt, seed or "
                                "length changed): render it with `content-factory run` instead",
                                file=spec_path, line=shot.line, field=f"shots.{shot.id}")
        return dataclasses.replace(campaign, kind=kind, variant=stored.get("variant", ""))
    spec = CampaignSpec.model_validate(stored["spec"])
    source = stored.get("source", "")
    shots = parse_script(stored.get("script", ""), spec, file=f"{source} (stored)",
                         base_dir=Path(source).parent if source else None)
    return spoken_lengths(Campaign(spec=spec, shots=shots, source=source, sha256=sha, kind=kind,
                                   script=stored.get("script", ""),
                                   variant=stored.get("variant", "")), lengths)


def check_captions(campaign: Campaign, locales: list[str]) -> None:
    """Every captioned shot has captions for every one of ``locales`` (SpecError otherwise)."""
    for shot in campaign.shots:
        missing = [loc for loc in locales if shot.captions and loc not in shot.captions]
        if missing:
            raise SpecError(f"shot {shot.id!r} has no caption for locale {missing[0]!r}: add "
                            f"'[{missing[0]}] ...' lines to it and pass the updated spec",
                            file=campaign.source, line=shot.line,
                            field=f"shots.{shot.id}.caption[{missing[0]}]")


@task(name="plan-run", cache_policy=NO_CACHE)
def plan_run_task(db: Database, campaign: Campaign, backend: RenderBackend, run_id: str | None,
                  flow_run_id: str | None) -> RunPlan:
    return plan_run(db, campaign, backend, run_id=run_id, flow_run_id=flow_run_id)


@task(name="campaign-of-run", cache_policy=NO_CACHE)
def campaign_of_run_task(db: Database, run_id: str, spec_path: str | None,
                         locales: list[str]) -> Campaign:
    campaign = campaign_of_run(db, run_id, spec_path)
    check_captions(campaign, locales)
    return campaign


# --------------------------------------------------------------------------------------------
# Variants: renders needed against clips produced (tasks/variants.py makes them)


@dataclass(frozen=True)
class VariantRow:
    variant: Variant
    campaign: Campaign
    renders: list[str]        # the variant's distinct render fingerprints, in shot order
    new_renders: int          # not needed by a variant earlier in the table (all formats)
    master: str               # fingerprint of its master (renders in order and the look)


@dataclass(frozen=True)
class VariantPlan:
    rows: list[VariantRow]
    locales: list[str]
    formats: list[str | None] = dataclasses.field(default_factory=lambda: [None])
    rendered: list[str | None] = dataclasses.field(default_factory=lambda: [None])
    # ``formats``: the delivered formats (output.formats); ``rendered``: those the model renders
    # (each has its own renders and master; 1:1 and 4:5 are crops of one of them)

    @property
    def clips(self) -> int:
        return len(self.rows) * len(self.locales) * len(self.formats)

    @property
    def renders(self) -> int:
        return len({key for row in self.rows for key in row.renders}) * len(self.rendered)

    @property
    def shot_renders(self) -> int:
        """Renders if every variant were rendered on its own."""
        return sum(len(row.renders) for row in self.rows) * len(self.rendered)

    @property
    def masters(self) -> int:
        return len({row.master for row in self.rows}) * len(self.rendered)

    def summary(self) -> str:
        formats = f" x {len(self.formats)} format(s)" if self.formats != [None] else ""
        return (f"{len(self.rows)} variant(s) x {len(self.locales)} locale(s){formats} = "
                f"{self.clips} clip(s) from {self.renders} render(s) and {self.masters} "
                f"master(s) ({self.shot_renders} renders if each variant were made on its own)")


def request_fingerprint(shot: Shot, spec: CampaignSpec) -> str:
    """Everything any backend may draw for the shot (tasks.plan.request_for): variants with the
    same fingerprint for a shot share its render under every backend."""
    request = dataclasses.asdict(request_for(shot, spec))
    blob = json.dumps(request, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def variant_plan(campaign: Campaign, variants: list[Variant] | None = None) -> VariantPlan:
    """The variant table and its render cost (a campaign without variants: one row)."""
    if variants is None:
        variants = select_variants(campaign.spec.variants) if campaign.spec.variants else \
            [Variant("", {})]
    output = campaign.spec.output
    per_shot = len(output.rendered_formats())  # each rendered format renders the shot again
    rows, seen = [], set()
    for variant in variants:
        made = apply_variant(campaign, variant) if variant.values else campaign
        keys = [request_fingerprint(s, made.spec) for s in made.shots]
        distinct = list(dict.fromkeys(keys))
        look = str(made.spec.brand.look) if made.spec.brand.look else ""
        master = hashlib.sha256(json.dumps([keys, look,
                                            made.spec.brand.look_strength]).encode()).hexdigest()
        rows.append(VariantRow(variant, made, distinct, len(set(distinct) - seen) * per_shot,
                               master))
        seen |= set(distinct)
    return VariantPlan(rows, list(campaign.spec.locales), output.delivery_formats(),
                       output.rendered_formats())
