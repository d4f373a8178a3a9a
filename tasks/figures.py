"""Engagement figures in: rows of impressions, views, completions, clicks and likes per clip (its
content id, from the manifest) or per variant id, from a CSV or JSON file or a POST body.

    clip_id,variant,campaign,locale,impressions,views,completions,clicks,likes
    ,seed-b.cta-try,spring-launch-2026,,5000,1200,640,85,40

JSON: a list of such objects, or ``{"campaign": ID, "figures": [...]}`` (the campaign applies to
rows without one). Figures are running totals as the platform reports them: importing newer
totals for a clip replaces its older ones, and the same figures twice change nothing
(storage/figures.py). Every error names the row and field; nothing is stored from a file with
an error in it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from common.errors import SpecError, echo, field_path
from common.inputs import load_json, read_text

COUNTS = ("impressions", "views", "completions", "clicks", "likes")
MAX_FIGURES_BYTES = 16 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COUNT = 10**15
ALIASES = {"content_id": "clip_id", "clip": "clip_id", "variant_id": "variant",
           "campaign_id": "campaign"}


class FigureRow(BaseModel):
    """One clip's (or one variant's) totals. A clip id finds its campaign and variant itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    clip_id: str = Field("", max_length=64)
    variant: str = Field("", max_length=160)
    campaign: str = Field("", max_length=128)
    locale: str = Field("", max_length=35)
    impressions: int = Field(0, ge=0, le=MAX_COUNT)
    views: int = Field(0, ge=0, le=MAX_COUNT)
    completions: int = Field(0, ge=0, le=MAX_COUNT)
    clicks: int = Field(0, ge=0, le=MAX_COUNT)
    likes: int = Field(0, ge=0, le=MAX_COUNT)

    @model_validator(mode="after")
    def _consistent(self) -> FigureRow:
        if not self.clip_id and not self.variant:
            raise ValueError("give a clip_id (the clip's content id) or a variant id")
        if self.completions > self.views:
            raise ValueError(f"completions ({self.completions}) exceed views ({self.views})")
        if self.impressions and self.clicks > self.impressions:
            raise ValueError(f"clicks ({self.clicks}) exceed impressions ({self.impressions})")
        return self

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}


def _row(data: Any, index: int, *, source: str, line: int | None, campaign: str | None
         ) -> FigureRow:
    where = f"rows[{index}]"
    if not isinstance(data, dict):
        raise SpecError("each row must be an object of figures", file=source, line=line,
                        field=where)
    values = {ALIASES.get(str(k).strip().lower(), str(k).strip().lower()): v
              for k, v in data.items()}
    values = {k: v for k, v in values.items() if v not in ("", None)}
    if campaign and "campaign" not in values:
        values["campaign"] = campaign
    try:
        return FigureRow.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = field_path((where, *err["loc"])) if err["loc"] else where
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = (f"unknown column {echo(err['loc'][0])} (columns: clip_id, variant, campaign, "
                   f"locale, {', '.join(COUNTS)})")
        elif err["type"].startswith("int"):
            msg = f"{echo(err.get('input'))} is not a whole number"
        raise SpecError(msg, file=source, line=line, field=field) from None


def parse_figures_data(data: Any, *, source: str = "body", campaign: str | None = None
                       ) -> list[FigureRow]:
    """Figures from parsed JSON: a list of rows or ``{"campaign": ..., "figures": [...]}``."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"campaign", "figures"})
        if unknown:
            raise SpecError(f"unknown field {echo(unknown[0])}: give 'figures' (a list of rows) "
                            "and optionally 'campaign'", file=source, field=unknown[0])
        if data.get("campaign") is not None and not isinstance(data["campaign"], str):
            raise SpecError("must be a campaign id", file=source, field="campaign")
        campaign = data.get("campaign") or campaign
        data = data.get("figures")
    if not isinstance(data, list) or not data:
        raise SpecError("no figures: give a list of rows (clip_id or variant, and counts)",
                        file=source, field="figures")
    if len(data) > MAX_ROWS:
        raise SpecError(f"{len(data)} rows, more than {MAX_ROWS}: split the file", file=source,
                        field="figures")
    return [_row(item, i, source=source, line=None, campaign=campaign)
            for i, item in enumerate(data)]


def parse_figures_csv(text: str, *, source: str, campaign: str | None = None
                      ) -> list[FigureRow]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise SpecError("the CSV file has no header row (clip_id, variant, views, ...)",
                        file=source, line=1)
    rows = []
    for i, record in enumerate(reader):
        if None in record:
            raise SpecError("more cells than the header has columns", file=source,
                            line=reader.line_num, field=f"rows[{i}]")
        if len(rows) >= MAX_ROWS:
            raise SpecError(f"more than {MAX_ROWS} rows: split the file", file=source,
                            line=reader.line_num)
        values = {k: (v.strip() if isinstance(v, str) else v) for k, v in record.items()}
        rows.append(_row(values, i, source=source, line=reader.line_num, campaign=campaign))
    if not rows:
        raise SpecError("the CSV file has a header but no rows", file=source, line=2)
    return rows


def load_figures(path: str | Path, *, campaign: str | None = None) -> list[FigureRow]:
    """Figures from a ``.csv`` or ``.json`` file (SpecError naming the file, line and field)."""
    path = Path(path)
    source = str(path)
    text = read_text(path, max_bytes=MAX_FIGURES_BYTES, what="figures file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return parse_figures_csv(text, source=source, campaign=campaign)
    if suffix == ".json":
        return parse_figures_data(load_json(text, source=source), source=source,
                                  campaign=campaign)
    raise SpecError(f"{echo(path.name)}: give a .csv or .json file of figures", file=source)
