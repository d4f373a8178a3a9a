"""Prefect wrappers of the watermark stage (a few lines each; the work is in the plain functions).

No caching: the outputs are files named by the flow, and signing must run every time it is the
last step before publishing.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task

from tasks.watermark.invisible import payload_from_content_id
from tasks.watermark.marks import MarkReport, apply_marks, verify_clip
from tasks.watermark.metadata import AiContentLabel, write_ai_metadata
from tasks.watermark.provenance import sign_c2pa
from tasks.watermark.visible import LabelPlacement, LogoPlacement


@task(name="watermark-marks")
def apply_marks_task(src: Path, dst: Path, content_id: str, *, logo: Path | None = None,
                     logo_placement: LogoPlacement = LogoPlacement(),
                     label_locale: str | None = "en",
                     label_placement: LabelPlacement = LabelPlacement(),
                     fonts_dir: Path | None = None) -> MarkReport:
    return apply_marks(src, dst, payload=payload_from_content_id(content_id), logo=logo,
                       logo_placement=logo_placement, label_locale=label_locale,
                       label_placement=label_placement, fonts_dir=fonts_dir)


@task(name="watermark-metadata")
def write_ai_metadata_task(src: Path, dst: Path, content_id: str, producer: str, model: str,
                           created_at: datetime) -> Path:
    return write_ai_metadata(src, dst, AiContentLabel(content_id, producer, model, created_at))


@task(name="watermark-c2pa-sign")
def sign_c2pa_task(src: Path, dst: Path, *, cert_chain: Path, private_key: Path, producer: str,
                   content_id: str) -> Path:
    return sign_c2pa(src, dst, cert_chain=cert_chain, private_key=private_key, producer=producer,
                     content_id=content_id)


@task(name="watermark-verify")
def verify_clip_task(path: Path) -> dict:
    return verify_clip(path)
