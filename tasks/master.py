"""The master render: each unique render stabilized and graded, then the shots in script order,
at the delivery frame rate.

Built once per run and stored in the cache store, so that a rerun, or a localization run that
adds a locale later, starts from the stored master and neither renders nor stabilizes again.

    stabilize_render(path, key, ...)      pass 1 for one render (fan out): motion, flicker,
                                          frame rate and colour statistics, all decided
    build_master(plan, steady, ...)       the one pass: decode each render, correct, re-time,
                                          grade, and encode the lossless master; store it
    fetch_master(store, key, ...)         the stored master, or None

Encodes on the way from a render to a delivered clip: the render (lossless), the master
(lossless), and the clip (H.264, the only lossy one: tasks/localize.py). Stabilizing writes no
file of its own: its per-frame corrections are applied while the master is written, and its
"after" metrics are measured on the frames on their way into the master.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from common.errors import StorageError
from media.video import prefetch
from storage.db import Database
from storage.objects import ObjectStore
from storage.records import get_run
from tasks.assemble import Part, ShotTiming, assemble_master
from tasks.grade import ColourStats, ColourTable, StatsAccumulator
from tasks.grade.stage import CutMeter, GradeSettings, cut_summary, decide_grades
from tasks.plan import RunPlan
from tasks.stabilize import StabilizeOptions, clip_metrics
from tasks.stabilize.analysis import ClipAnalyser
from tasks.stabilize.stage import ClipPlan, plan_clip, plan_frames

MASTER_VERSION = "master-2"


@dataclass(frozen=True)
class Master:
    key: str
    path: Path
    timings: list[ShotTiming]
    reports: dict[str, dict] = field(default_factory=dict)  # render key -> stabilize report
    reused: bool = False
    colour: dict = field(default_factory=dict)  # the grade: per shot, and ΔE at each cut


@dataclass(frozen=True)
class SteadyRender:
    """One render after pass 1: how it will be corrected (``plan``), what pass 1 measured
    (``report``) and its colour statistics (``colour``)."""

    render_key: str
    path: Path
    report: dict = field(default_factory=dict)
    plan: ClipPlan | None = None
    colour: ColourStats | None = None


def grade_settings(plan: RunPlan) -> GradeSettings:
    return GradeSettings.from_spec(plan.campaign.spec, plan.campaign.shots)


def master_key(plan: RunPlan, delivery_fps: int | None, stabilize: bool) -> str:
    order = [plan.keys[s.id] for s in plan.campaign.shots]
    grade = grade_settings(plan)
    blob = json.dumps([MASTER_VERSION, order, delivery_fps, stabilize,
                       grade.fingerprint() if grade.active else None,
                       [s.id for s in plan.campaign.shots]])
    return hashlib.sha256(blob.encode()).hexdigest()


def fetch_master(store: ObjectStore, key: str, work_dir: Path) -> Master | None:
    """The stored master for ``key`` as a local file, or None when it was never built."""
    if not (store.exists(f"masters/{key}.json") and store.exists(f"masters/{key}.mkv")):
        return None
    meta = json.loads(store.get_bytes(f"masters/{key}.json"))
    path = work_dir / "masters" / f"{key}.mkv"
    if not (path.is_file() and path.stat().st_size == meta.get("size")):
        store.get_file(f"masters/{key}.mkv", path)
    return Master(key=key, path=path, timings=[ShotTiming(**t) for t in meta["timings"]],
                  reports=meta.get("reports", {}), reused=True, colour=meta.get("colour", {}))


def stabilize_render(path: Path, render_key: str, *, work_dir: Path, delivery_fps: int | None,
                     stabilize: bool) -> SteadyRender:
    """Pass 1 over one render: decide shake and flicker corrections (when ``stabilize``) and
    the conversion to ``delivery_fps``, and measure its colour, from one scaled-down decode.

    Nothing is written: the master applies it all in its own pass (``work_dir`` is unused)."""
    options = StabilizeOptions() if stabilize else \
        StabilizeOptions(correct_shake=False, correct_flicker=False)
    colour = StatsAccumulator()
    clip = plan_clip(path, target_fps=delivery_fps, options=options, observe=colour.add)
    report = {"source": str(path), "before": clip.before.to_dict(),
              "shake_corrected": clip.shake is not None,
              "flicker_corrected": clip.flicker is not None,
              "zoom": round(clip.shake.zoom, 4) if clip.shake is not None else 1.0,
              "fps_in": round(float(clip.info.fps), 3), "fps_out": round(float(clip.fps_out), 3),
              "frames_in": clip.info.frames}
    return SteadyRender(render_key, path, report, clip, colour.result())


def build_master(plan: RunPlan, steady: dict[str, SteadyRender], *, store: ObjectStore,
                 work_dir: Path, delivery_fps: int | None, stabilize: bool) -> Master:
    """The stored master, or: one pass over the renders in script order (decode, correct,
    re-time, grade) into a lossless master, stored with its stabilize and colour reports."""
    key = master_key(plan, delivery_fps, stabilize)
    stored = fetch_master(store, key, work_dir)
    if stored is not None:
        return stored
    shots = plan.campaign.shots
    missing = sorted({plan.keys[s.id] for s in shots} - set(steady))
    if missing:
        raise StorageError(f"master {key[:12]} of run {plan.run_id} is not stored and renders "
                           f"{', '.join(k[:12] for k in missing)} were not stabilized; rerun "
                           "the campaign")
    settings = grade_settings(plan)
    order = [s.id for s in shots]
    grades = decide_grades(settings, {s.id: steady[plan.keys[s.id]].colour for s in shots},
                           order) if settings.active else {}
    look = settings.load_look()
    looks: dict = {}
    meter = CutMeter()
    after: dict[str, ClipAnalyser] = {}  # the first use of each render: its "after" metrics
    options = StabilizeOptions()

    def part(shot) -> Part:
        render = steady[plan.keys[shot.id]]
        clip = render.plan

        def frames():
            grade = grades.get(shot.id)
            table = ColourTable.build(grade.correction if grade else None, look,
                                      settings.look_strength, look_cache=looks)
            analyser = None
            if render.render_key not in after:
                analyser = after[render.render_key] = ClipAnalyser(clip.info.size,
                                                                   options.shake.motion)
            meter.shot(shot.id)

            def finish(frame):
                if analyser is not None:
                    analyser.add(frame)
                graded = table.apply(frame) if table is not None else frame
                meter.add(frame, graded)
                return graded

            # Correcting and grading run in their own threads; the encoder in its process.
            return prefetch((finish(f) for f in plan_frames(clip, options)), options.prefetch)

        return Part(shot.id, clip.info.size, clip.fps_out, frames)

    path = work_dir / "masters" / f"{key}.mkv"
    timings = assemble_master([part(s) for s in shots], path)
    reports = {}
    for render_key, analyser in after.items():
        clip = steady[render_key].plan
        transforms = clip.shake.matrices() if clip.shake is not None else None
        # Re-timed frames no longer line up with the per-frame transforms of the input.
        if clip.fps_out != clip.info.fps:
            transforms = None
        measured = clip_metrics(analyser.result, transforms)
        reports[render_key] = {**steady[render_key].report, "after": measured.to_dict(),
                               "frames_out": measured.frames}
    cuts = meter.cuts()
    colour = {"reference": settings.reference if settings.match else None,
              "look": str(settings.look) if look is not None else None,
              "look_strength": settings.look_strength if look is not None else None,
              "shots": {sid: g.to_dict() for sid, g in grades.items()},
              "cuts": cuts, "summary": cut_summary(cuts)}
    store.put_file(f"masters/{key}.mkv", path)
    meta = {"timings": [t.to_dict() for t in timings], "reports": reports, "colour": colour,
            "size": path.stat().st_size, "run_id": plan.run_id}
    store.put_bytes(f"masters/{key}.json", json.dumps(meta).encode())
    return Master(key=key, path=path, timings=timings, reports=reports, colour=colour)


def master_stored(store: ObjectStore, plan: RunPlan, *, delivery_fps: int | None,
                  stabilize: bool) -> bool:
    key = master_key(plan, delivery_fps, stabilize)
    return store.exists(f"masters/{key}.json") and store.exists(f"masters/{key}.mkv")


def stored_master(db: Database, store: ObjectStore, run_id: str, work_dir: Path) -> Master:
    """The run's stored master render (StorageError when the run never finished one)."""
    with db.session() as s:
        key = get_run(s, run_id).master_key
    master = fetch_master(store, key, work_dir) if key else None
    if master is None:
        raise StorageError(f"run {run_id} has no stored master render: rerun it with "
                           f"`content-factory run SPEC --run-id {run_id}` first")
    return master


REFRAME_VERSION = "reframe-1"


def reframe_master(source: Master, format: str, size: tuple[int, int], *, store: ObjectStore,
                   work_dir: Path) -> Master:
    """The master of a cropped format (1:1, 4:5): ``source`` (a rendered format's master)
    cropped to ``size`` around its subject (tasks/reframe.py), stored like any master."""
    from tasks.reframe import reframe

    key = hashlib.sha256(json.dumps([REFRAME_VERSION, source.key, format, list(size)])
                         .encode()).hexdigest()
    stored = fetch_master(store, key, work_dir)
    if stored is not None:
        return stored
    path = work_dir / "masters" / f"{key}.mkv"
    report = reframe(source.path, path, size)
    store.put_file(f"masters/{key}.mkv", path)
    meta = {"timings": [t.to_dict() for t in source.timings], "reports": {"reframe": report},
            "colour": source.colour, "size": path.stat().st_size, "source": source.key}
    store.put_bytes(f"masters/{key}.json", json.dumps(meta).encode())
    return Master(key=key, path=path, timings=source.timings, reports={"reframe": report},
                  colour=source.colour)


@task(name="reframe-master", cache_policy=NO_CACHE)
def reframe_master_task(source: Master, format: str, size: tuple[int, int], *,
                        store: ObjectStore, work_dir: Path) -> Master:
    return reframe_master(source, format, size, store=store, work_dir=work_dir)


def stored_masters(db: Database, store: ObjectStore, run_id: str, work_dir: Path
                   ) -> dict[str, Master]:
    """A multi-format run's stored masters by format (``runs.metrics['masters']``)."""
    with db.session() as s:
        keys = dict((get_run(s, run_id).metrics or {}).get("masters") or {})
    masters = {fmt: fetch_master(store, key, work_dir) for fmt, key in keys.items()}
    missing = [fmt for fmt, m in masters.items() if m is None]
    if not keys or missing:
        raise StorageError(f"run {run_id} has no stored master for "
                           f"{', '.join(missing) or 'its formats'}: rerun it with "
                           f"`content-factory run SPEC --run-id {run_id}` first")
    return masters


@task(name="stored-masters", cache_policy=NO_CACHE)
def stored_masters_task(db: Database, store: ObjectStore, run_id: str, work_dir: Path
                        ) -> dict[str, Master]:
    return stored_masters(db, store, run_id, work_dir)


@task(name="master-stored", cache_policy=NO_CACHE)
def master_stored_task(store: ObjectStore, plan: RunPlan, *, work_dir: Path,
                       delivery_fps: int | None, stabilize: bool) -> bool:
    return master_stored(store, plan, delivery_fps=delivery_fps, stabilize=stabilize)


@task(name="stabilize-render", cache_policy=NO_CACHE)
def stabilize_render_task(path: Path, render_key: str, *, work_dir: Path,
                          delivery_fps: int | None, stabilize: bool) -> SteadyRender:
    return stabilize_render(path, render_key, work_dir=work_dir, delivery_fps=delivery_fps,
                            stabilize=stabilize)


@task(name="master", cache_policy=NO_CACHE)
def master_task(plan: RunPlan, steady: dict[str, SteadyRender], *, store: ObjectStore,
                      work_dir: Path, delivery_fps: int | None, stabilize: bool) -> Master:
    return build_master(plan, steady, store=store, work_dir=work_dir,
                        delivery_fps=delivery_fps, stabilize=stabilize)


@task(name="stored-master", cache_policy=NO_CACHE)
def stored_master_task(db: Database, store: ObjectStore, run_id: str, work_dir: Path) -> Master:
    return stored_master(db, store, run_id, work_dir)
