"""Factory settings: environment variables (``FACTORY_*``) and an optional ``.env`` file.

Only the top layer (flows and the CLI) reads settings; it passes explicit values down to tasks,
model, storage and moderation, which never read global configuration themselves.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the factory, with embedded defaults that need no services."""

    model_config = SettingsConfigDict(env_prefix="FACTORY_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Run database, local object store, caches.")
    database_url: str = Field("", description="SQLAlchemy URL; default SQLite in data_dir.")
    store_url: str = Field("", description="Where clips are published: file://DIR or s3://BUCKET/PREFIX.")
    cache_url: str = Field("", description="Template cache objects: file://DIR or s3://BUCKET/PREFIX.")
    cache_max_bytes: int = Field(20 * 1024**3, description="Template cache size before LRU eviction.")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, R2, ...).")
    s3_region: str | None = None
    presign_expiry_s: int = Field(7 * 24 * 3600, description="Lifetime of presigned URLs in manifests.")
    stale_upload_s: float = Field(3600, ge=0, description="Unfinished S3 uploads and temporary "
                                  "files under a run's prefix older than this are removed when "
                                  "the run publishes.")

    backend: Literal["auto", "animatic", "model", "svd"] = "auto"
    model_preset: str = "t2v-a14b"
    weights_dir: Path | None = None
    svd_weights_dir: Path | None = Field(None, description="Stable Video Diffusion (diffusers "
                                         "folder) for the svd backend; needs the [svd] extra.")
    device: str = "auto"
    dtype: str = "auto"
    offload: bool | str = "auto"  # auto: swap experts only when the GPU cannot hold both
    compile: bool = False
    lora_mode: Literal["merge", "separate"] = "merge"  # separate: LoRA strength per run, no reload

    fonts_dir: Path | None = Field(None, description="Font folder for subtitles and labels.")
    producer: str = Field("content-factory", description="Provider named in AI-content labels.")
    c2pa_cert: Path | None = Field(None, description="PEM certificate chain for C2PA signing; "
                                   "default: a local identity made in DATA_DIR/signing.")
    c2pa_key: Path | None = Field(None, description="PEM private key for C2PA signing.")
    c2pa_trust_anchors: Path | None = Field(None, description="PEM root certificates `verify` "
                                            "trusts besides the local identity's.")
    review_timeout_s: int = Field(3600, description="Unanswered reviews are rejected after this.")
    api_token: SecretStr | None = Field(None, description="Bearer token of the jobs API (POST "
                                        "/campaigns, /products, GET /runs); `serve` makes one in "
                                        "DATA_DIR/api.token when unset.")
    jobs_runner: Literal["auto", "deployment", "local"] = Field(
        "auto", description="How the jobs API starts runs: `deployment` (campaign/on-demand, "
        "product_clip/catalog on the Prefect server), `local` (a background thread of the ingest "
        "process), `auto` (deployment when PREFECT_API_URL is set, as under `serve`).")
    stabilize: bool = True

    @model_validator(mode="after")
    def _defaults_in_data_dir(self) -> Settings:
        data = self.data_dir.resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{data / 'factory.db'}"
        if not self.store_url:
            self.store_url = f"file://{data / 'store'}"
        if not self.cache_url:
            self.cache_url = f"file://{data / 'cache'}"
        return self

    @property
    def work_dir(self) -> Path:
        """Scratch space for intermediate files of runs (renders, masters, per-locale clips)."""
        return self.data_dir.resolve() / "work"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
