"""The factory's resources for one process, built once from settings and passed down.

Flows are the only layer that reads settings; everything below receives these objects or plain
values. Building them is cached per process: the database engine, the object stores and, above
all, the model backend (loaded once per worker, not per shot).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from flows.settings import Settings, get_settings
from flows.signing import c2pa_signer
from moderation import FrameDetector, NudeNetDetector, Policy
from storage import open_store
from storage.cache import TemplateCache
from storage.db import Database, open_database
from storage.objects import ObjectStore
from storage.workers import worker_id
from tasks.render import RenderBackend, select_backend


@dataclass(frozen=True)
class Factory:
    settings: Settings
    db: Database
    store: ObjectStore     # where clips are published
    cache_store: ObjectStore
    cache: TemplateCache
    backend: RenderBackend
    policy: Policy
    detector: FrameDetector
    c2pa_cert: Path | None = None   # the C2PA signer every clip is signed with
    c2pa_key: Path | None = None

    @property
    def work_dir(self) -> Path:
        return self.settings.work_dir

    def store_for(self, target: str | None) -> ObjectStore:
        if not target or target == self.settings.store_url:
            return self.store
        return open_store(target, endpoint_url=self.settings.s3_endpoint_url,
                          region=self.settings.s3_region)


@lru_cache(maxsize=8)
def _factory(settings_json: str, backend: str) -> Factory:
    settings = Settings.model_validate_json(settings_json)
    db = open_database(settings.database_url)
    kw = {"endpoint_url": settings.s3_endpoint_url, "region": settings.s3_region}
    store = open_store(settings.store_url, **kw)
    cache_store = open_store(settings.cache_url, **kw)
    cache = TemplateCache(db, cache_store, max_bytes=settings.cache_max_bytes,
                          worker_id=worker_id(), local_dir=settings.work_dir / "renders")
    renderer = select_backend(backend, preset=settings.model_preset,
                              weights_dir=settings.weights_dir,
                              svd_weights_dir=settings.svd_weights_dir, device=settings.device,
                              dtype=settings.dtype, offload=settings.offload,
                              compile=settings.compile, lora_mode=settings.lora_mode)
    cert, key = c2pa_signer(settings)
    return Factory(settings=settings, db=db, store=store, cache_store=cache_store, cache=cache,
                   backend=renderer, policy=Policy.load(), detector=NudeNetDetector(),
                   c2pa_cert=cert, c2pa_key=key)


def get_factory(backend: str | None = None, settings: Settings | None = None) -> Factory:
    settings = settings or get_settings()
    return _factory(settings.model_dump_json(), backend or settings.backend)
