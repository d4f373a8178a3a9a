"""Engagement figures stored per clip and per import, idempotent on re-import.

    import_figures(s, rows, source)     resolve each row (a clip id finds its campaign, variant
                                        and locale), then store them as one import, unless the
                                        same figures were imported before (same digest)
    variant_totals(s, campaign_id)      each variant's totals: every subject's latest figures
                                        (platforms report running totals), summed per variant

A row is a mapping with ``clip_id`` or ``variant`` (and ``campaign``), ``locale`` and the counts
(tasks/figures.py checks them). Give a variant's figures either per clip or for the whole
variant: both would count its views twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from common.errors import SpecError
from storage.models import Campaign, Clip, ClipFigures, FigureImport, Run

COUNTS = ("impressions", "views", "completions", "clicks", "likes")


@dataclass(frozen=True)
class ImportResult:
    import_id: int
    fresh: bool          # False: these figures were imported before; nothing changed
    rows: int
    campaigns: list[str]


def _resolve(s: Session, rows: Sequence[Mapping], source: str) -> list[dict]:
    resolved: list[dict] = []
    known: dict[str, set[str]] = {}
    seen: dict[tuple, int] = {}
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        campaign, variant, locale = row.get("campaign", ""), row.get("variant", ""), \
            row.get("locale", "")
        clip_id = row.get("clip_id", "")
        if clip_id:
            clip = s.scalar(select(Clip).where(Clip.content_id == clip_id))
            if clip is None:
                raise SpecError(f"no clip has the content id {clip_id!r} (the manifest's "
                                "content_id)", file=source, field=f"{where}.clip_id")
            actual = (clip.details or {}).get("variant", "")
            if variant and variant != actual:
                raise SpecError(f"clip {clip_id[:12]} is variant {actual or '(none)'!r}, not "
                                f"{variant!r}", file=source, field=f"{where}.variant")
            if campaign and campaign != clip.run.campaign_id:
                raise SpecError(f"clip {clip_id[:12]} belongs to campaign "
                                f"{clip.run.campaign_id!r}", file=source, field=f"{where}.campaign")
            campaign, variant, locale = clip.run.campaign_id, actual, clip.locale
        else:
            if not campaign:
                raise SpecError("a row with a variant id needs its campaign (a 'campaign' "
                                "column, or --campaign)", file=source, field=f"{where}.campaign")
            if campaign not in known:
                if s.get(Campaign, campaign) is None:
                    raise SpecError(f"no campaign {campaign!r} has been run", file=source,
                                    field=f"{where}.campaign")
                known[campaign] = {v for v in s.scalars(
                    select(Clip.details).join(Run).where(Run.campaign_id == campaign))
                    for v in [(v or {}).get("variant")] if v}
            if variant not in known[campaign]:
                sample = ", ".join(sorted(known[campaign])[:3]) or "none made yet"
                raise SpecError(f"campaign {campaign!r} has no variant {variant!r} ({sample})",
                                file=source, field=f"{where}.variant")
        subject = (campaign, variant, clip_id)
        if subject in seen:
            raise SpecError(f"the same {'clip' if clip_id else 'variant'} as rows[{seen[subject]}]"
                            ": give each clip or variant once per import", file=source,
                            field=where)
        seen[subject] = i
        resolved.append({"campaign_id": campaign, "variant_id": variant, "clip_id": clip_id,
                         "locale": locale, **{k: int(row.get(k, 0)) for k in COUNTS}})
    return resolved


def figures_digest(resolved: Sequence[Mapping]) -> str:
    """The same figures, in any order and from CSV or JSON, have the same digest."""
    canonical = sorted(json.dumps(dict(r), sort_keys=True) for r in resolved)
    return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()


def import_figures(s: Session, rows: Sequence[Mapping], *, source: str) -> ImportResult:
    """Store ``rows`` as one import (module doc); SpecError naming the row for one that names an
    unknown clip, campaign or variant, before anything is stored."""
    resolved = _resolve(s, rows, source)
    digest = figures_digest(resolved)
    campaigns = sorted({r["campaign_id"] for r in resolved})
    before = s.scalar(select(FigureImport).where(FigureImport.digest == digest))
    if before is not None:
        return ImportResult(before.id, False, before.rows, campaigns)
    delivery = FigureImport(digest=digest, source=source[:1000], rows=len(resolved))
    s.add(delivery)
    s.flush()
    s.add_all(ClipFigures(import_id=delivery.id, **r) for r in resolved)
    s.flush()
    return ImportResult(delivery.id, True, len(resolved), campaigns)


def variant_totals(s: Session, campaign_id: str) -> dict[str, dict[str, int]]:
    """Variant id -> summed counts, each clip (or variant-level subject) at its latest import."""
    latest: dict[tuple[str, str], ClipFigures] = {}
    for row in s.scalars(select(ClipFigures).where(ClipFigures.campaign_id == campaign_id)
                         .order_by(ClipFigures.import_id)):
        latest[(row.variant_id, row.clip_id)] = row
    totals: dict[str, dict[str, int]] = {}
    for (variant, _), row in sorted(latest.items()):
        into = totals.setdefault(variant, dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            into[name] += getattr(row, name)
    return totals


def import_count(s: Session) -> tuple[int, int]:
    """(imports, figure rows) stored: what a repeated import must leave unchanged."""
    return (len(s.scalars(select(FigureImport.id)).all()),
            len(s.scalars(select(ClipFigures.id)).all()))
