"""The master render: stabilized shots in script order, at the delivery frame rate.

Built once per run and stored in the cache store, so that a rerun, or a localization run that
adds a locale later, starts from the stored master and renders nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.objects import ObjectStore
from tasks.assemble import ShotTiming, assemble_master
from tasks.plan import RunPlan

MASTER_VERSION = "master-1"


@dataclass(frozen=True)
class Master:
    key: str
    path: Path
    timings: list[ShotTiming]
    reports: dict[str, dict] = field(default_factory=dict)  # render key -> stabilize report
    reused: bool = False


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


def build_master(plan: RunPlan, rendered: dict[str, Path], *, store: ObjectStore,
                 work_dir: Path, delivery_fps: int | None, stabilize: bool) -> Master:
    """Stabilize each unique render, assemble the shots in order, and store the master."""
    key = master_key(plan, delivery_fps, stabilize)
    existing = fetch_master(store, key, work_dir)
    if existing is not None:
        return existing
    from tasks.stabilize import stabilize_clip

    steady: dict[str, Path] = {}
    reports: dict[str, dict] = {}
    for render_key, path in rendered.items():
        if stabilize or delivery_fps:
            out = work_dir / "steady" / f"{render_key}-{delivery_fps}.mp4"
            out.parent.mkdir(parents=True, exist_ok=True)
            report = stabilize_clip(path, out, target_fps=delivery_fps) if stabilize else \
                stabilize_clip(path, out, target_fps=delivery_fps, options=_fps_only())
            steady[render_key], reports[render_key] = out, report.to_dict()
        else:
            steady[render_key] = path
    path = work_dir / "masters" / f"{key}.mkv"
    timings = assemble_master([(s.id, steady[plan.keys[s.id]]) for s in plan.campaign.shots],
                              path)
    store.put_file(f"masters/{key}.mkv", path)
    meta = {"timings": [t.to_dict() for t in timings], "reports": reports,
            "size": path.stat().st_size, "run_id": plan.run_id}
    store.put_bytes(f"masters/{key}.json", json.dumps(meta).encode())
    return Master(key=key, path=path, timings=timings, reports=reports)


def _fps_only():
    from tasks.stabilize import StabilizeOptions

    return StabilizeOptions(correct_shake=False, correct_flicker=False)


@task(name="build-master", cache_policy=NO_CACHE)
def build_master_task(plan: RunPlan, rendered: dict[str, Path], *, store: ObjectStore,
                      work_dir: Path, delivery_fps: int | None, stabilize: bool) -> Master:
    return build_master(plan, rendered, store=store, work_dir=work_dir,
                        delivery_fps=delivery_fps, stabilize=stabilize)
