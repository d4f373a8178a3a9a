"""The feedback loop's flows: figures in, variants ranked, the winner promoted.

    import_figures_file(db, path)      `content-factory metrics import FILE.csv|json`
    campaign_ranking(db, campaign)      the ranking (tasks/ranking.py) from the stored figures
    variant_report (Prefect flow)       the ranking as a table and a markdown artifact

POST /metrics on the ingest service (flows/metrics_api.py) stores figures the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import flow, get_run_logger

from storage.db import Database
from storage.figures import ImportResult, import_figures, variant_totals
from tasks.figures import FigureRow, load_figures
from tasks.ranking import Ranking, rank_variants


def store_figures(db: Database, rows: list[FigureRow], *, source: str) -> ImportResult:
    """Store parsed figures as one import (nothing stored when one row is refused)."""
    with db.session() as s:
        return import_figures(s, [r.model_dump() for r in rows], source=source)


def import_figures_file(db: Database, path: str | Path, *, campaign: str | None = None
                        ) -> ImportResult:
    return store_figures(db, load_figures(path, campaign=campaign), source=Path(path).name)


def campaign_ranking(db: Database, campaign: str, metric: str = "completion") -> Ranking:
    with db.session() as s:
        totals = variant_totals(s, campaign)
    return rank_variants(totals, campaign=campaign, metric=metric)


def artifact_key(campaign: str, metric: str) -> str:
    """Prefect artifact keys are lower-case letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", f"variants-{campaign}-{metric}".lower()).strip("-")


@flow(name="variant-report")
def variant_report(campaign: str, metric: str = "completion") -> dict:
    """Rank the campaign's variants on ``metric`` and publish the table as Prefect artifacts."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from flows.runtime import get_factory

    ranking = campaign_ranking(get_factory().db, campaign, metric)
    key = artifact_key(campaign, metric)
    create_table_artifact(key=key, table=ranking.rows() or [{"variant": "", "note": "no figures"}],
                          description=ranking.verdict)
    create_markdown_artifact(key=f"{key}-summary", markdown=ranking.markdown(),
                             description=ranking.verdict)
    get_run_logger().info("%s: %s", campaign, ranking.verdict)
    return ranking.to_dict()
