"""``content-factory metrics import`` and ``content-factory variants report|promote``: the loop.

    metrics import FILE.csv|json     engagement figures per clip or variant id, stored per clip
                                     and per import (the same file twice changes nothing)
    variants report CAMPAIGN         variants ranked on a metric, with P(best) and intervals
    variants promote SPEC VARIANT    the winner's values become the spec's defaults (a new
                                     revision; the old file kept as NAME.rN.yaml)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from flows.commands import input_file

out = Console()


def _db():
    from flows.settings import get_settings
    from storage.db import open_database

    return open_database(get_settings().database_url)


def _spec_path(campaign: str) -> Path:
    """A spec file, or a campaign id: the spec file its last run was made from."""
    from common.errors import SpecError
    from storage.models import Campaign

    path = Path(campaign)
    if path.is_file():
        return path
    with _db().session() as s:
        record = s.get(Campaign, campaign)
        stored = record.spec_path if record is not None else ""
    if not stored or not Path(stored).is_file():
        raise SpecError(f"{campaign!r} is neither a spec file nor a campaign whose spec file "
                        "is known: give the spec's path", field="campaign")
    return Path(stored)


def register(app: typer.Typer) -> None:
    metrics_app = typer.Typer(help="Engagement figures in: per clip or variant id.",
                              no_args_is_help=True)
    variants_app = typer.Typer(help="A campaign's variants: ranked on figures, the winner "
                                    "promoted.", no_args_is_help=True)
    app.add_typer(metrics_app, name="metrics")
    app.add_typer(variants_app, name="variants")

    @metrics_app.command("import")
    def import_(file: Annotated[Path, typer.Argument(
                    help="CSV or JSON: clip_id or variant, impressions, views, completions, "
                         "clicks, likes.", callback=input_file("a .csv or .json file"))],
                campaign: Annotated[str | None, typer.Option(
                    help="The campaign of rows that give a variant id and no campaign.")] = None,
                ) -> None:
        """Store a file of figures (totals to date); importing it again changes nothing."""
        from flows.variants import import_figures_file

        result = import_figures_file(_db(), file, campaign=campaign)
        state = "imported" if result.fresh else "already imported (nothing changed)"
        out.print(f"{file.name}: {result.rows} row(s) {state}, import {result.import_id}, "
                  f"campaign(s) {', '.join(result.campaigns)}")

    @variants_app.command("report")
    def report(campaign: Annotated[str, typer.Argument(help="The campaign id.")],
               metric: Annotated[str, typer.Option(
                   help="completion (completions/views), ctr (clicks/impressions) or likes "
                        "(likes/views).")] = "completion",
               artifact: Annotated[bool, typer.Option(
                   "--artifact", help="Also publish it as a Prefect artifact.")] = False,
               ) -> None:
        """Rank the campaign's variants on a metric: who is ahead, and how sure that is."""
        from flows.variants import campaign_ranking
        from tasks.ranking import METRICS

        if metric not in METRICS:
            raise typer.BadParameter(f"{metric!r}: choose one of {', '.join(METRICS)}",
                                     param_hint="--metric")
        ranking = campaign_ranking(_db(), campaign, metric)
        rows = ranking.rows()
        if rows:
            table = Table(title=f"{campaign}: variants by {METRICS[metric][2]}")
            for col in rows[0]:
                table.add_column(col)
            for row in rows:
                table.add_row(*(str(v) for v in row.values()))
            out.print(table)
        colour = "green" if ranking.sure else "yellow"
        out.print(f"[{colour}]{ranking.verdict}[/{colour}]")
        for warning in ranking.warnings:
            out.print(f"  [yellow]warning:[/yellow] {warning}")
        if artifact:
            from flows.cli import _quiet_prefect
            from flows.variants import variant_report

            _quiet_prefect()
            variant_report(campaign=campaign, metric=metric)

    @variants_app.command("promote")
    def promote(campaign: Annotated[str, typer.Argument(
                    help="The campaign's spec file (or its id: the spec its runs were made "
                         "from).")],
                variant: Annotated[str, typer.Argument(help="The winning variant's id.")],
                ) -> None:
        """Write the winner's values into the spec as its defaults (the old revision kept)."""
        from tasks.variants import promote as promote_spec

        spec, kept = promote_spec(_spec_path(campaign), variant)
        out.print(f"{spec}: {variant} promoted; the previous revision is kept as {kept.name}")
