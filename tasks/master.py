"""The master render: each unique render stabilized, then the shots in script order, at the
delivery frame rate.

Built once per run and stored in the cache store, so that a rerun, or a localization run that
adds a locale later, starts from the stored master and neither renders nor stabilizes again.

    stabilize_render(path, key, ...)      shake, flicker and frame rate for one render (fan out)
    build_master(plan, steady, ...)       assemble and store the master
    fetch_master(store, key, ...)         the stored master, or None
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from common.errors import StorageError
from storage.db import Database
from storage.objects import ObjectStore
from storage.records import get_run
from tasks.assemble import ShotTiming, assemble_master
from tasks.plan import RunPlan
from tasks.stabilize import StabilizeOptions, stabilize_clip

MASTER_VERSION = "master-1"


@dataclass(frozen=True)
class Master:
    key: str
    path: Path
    timings: list[ShotTiming]
    reports: dict[str, dict] = field(default_factory=dict)  # render key -> stabilize report
    reused: bool = False


@dataclass(frozen=True)
class SteadyRender:
    """One render after stabilization, and what it changed (``report``, empty when untouched)."""

    render_key: str
    path: Path
    report: dict = field(default_factory=dict)


def master_key(plan: RunPlan, delivery_fps: int | None, stabilize: bool) -> str:
    order = [plan.keys[s.id] for s in plan.campaign.shots]
    blob = json.dumps([MASTER_VERSION, order, delivery_fps, stabilize])
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
                  reports=meta.get("reports", {}), reused=True)


def stabilize_render(path: Path, render_key: str, *, work_dir: Path, delivery_fps: int | None,
                     stabilize: bool) -> SteadyRender:
    """Correct shake and flicker (when ``stabilize``) and convert to ``delivery_fps``.

    A render that needs neither is used as it is.
    """
    if not stabilize and not delivery_fps:
        return SteadyRender(render_key, path)
    out = work_dir / "steady" / f"{render_key}-{delivery_fps}.mp4"
    out.parent.mkdir(parents=True, exist_ok=True)
    options = StabilizeOptions() if stabilize else \
        StabilizeOptions(correct_shake=False, correct_flicker=False)
    report = stabilize_clip(path, out, target_fps=delivery_fps, options=options)
    return SteadyRender(render_key, out, report.to_dict())


def build_master(plan: RunPlan, steady: dict[str, SteadyRender], *, store: ObjectStore,
                 work_dir: Path, delivery_fps: int | None, stabilize: bool) -> Master:
    """The stored master, or: assemble the stabilized renders in script order and store it."""
    key = master_key(plan, delivery_fps, stabilize)
    stored = fetch_master(store, key, work_dir)
    if stored is not None:
        return stored
    missing = sorted({plan.keys[s.id] for s in plan.campaign.shots} - set(steady))
    if missing:
        raise StorageError(f"master {key[:12]} of run {plan.run_id} is not stored and renders "
                           f"{', '.join(k[:12] for k in missing)} were not stabilized; rerun "
                           "the campaign")
    path = work_dir / "masters" / f"{key}.mkv"
    timings = assemble_master([(s.id, steady[plan.keys[s.id]].path)
                               for s in plan.campaign.shots], path)
    reports = {k: r.report for k, r in steady.items() if r.report}
    store.put_file(f"masters/{key}.mkv", path)
    meta = {"timings": [t.to_dict() for t in timings], "reports": reports,
            "size": path.stat().st_size, "run_id": plan.run_id}
    store.put_bytes(f"masters/{key}.json", json.dumps(meta).encode())
    return Master(key=key, path=path, timings=timings, reports=reports)


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
