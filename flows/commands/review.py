"""``content-factory review list|approve ID|reject ID``: decide moderation reviews from a terminal.

Approving or rejecting records the decision in the run database and resumes the paused flow run
through this machine's Prefect API (flows/connect.py: ``PREFECT_API_URL``, else the running
``serve``, else the temporary server of the command whose run waits), from any terminal. With no
Prefect running, the decision is still recorded, and the paused run applies it when its review
times out. The review id is checked first, without Prefect: a typo fails at once.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer


def _reviewer_default() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "terminal"


def _decide(ref: str, *, approved: bool, reviewer: str | None, note: str) -> None:
    import os

    from common.errors import FactoryError
    from flows.connect import use_local_prefect
    from flows.settings import get_settings
    from storage.db import open_database
    from storage.reviews import find_pending_review

    try:
        settings = get_settings()
        db = open_database(settings.database_url)
        with db.session() as s:
            find_pending_review(s, ref)  # before Prefect: an unknown id fails in well under 1 s
        os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
        api = use_local_prefect(settings.data_dir, any_server=True)
        if api is None:  # a server set in Prefect's profile (`prefect config set ...`) counts too
            from prefect.settings import PREFECT_API_URL

            api = PREFECT_API_URL.value() or None
        from flows.review import decide_review

        outcome = decide_review(db, ref, approved=approved, reviewer=reviewer or
                                _reviewer_default(), note=note, resume=api is not None)
    except FactoryError as exc:
        typer.echo(f"review: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(outcome.message, err=not outcome.resumed and outcome.flow_run_id is not None)


def register(app: typer.Typer) -> None:
    review = typer.Typer(help="Moderation reviews: list the pending ones, approve or reject.",
                         no_args_is_help=True)

    @review.command("list")
    def list_reviews(as_json: Annotated[bool, typer.Option(
                         "--json", help="Print JSON lines.")] = False,
    ) -> None:
        """Reviews waiting for a decision, oldest first."""
        from common.errors import FactoryError
        from flows.settings import get_settings
        from storage.db import open_database
        from storage.reviews import pending_reviews

        try:
            db = open_database(get_settings().database_url)
            with db.session() as s:
                rows = [{"id": r.id, "subject_kind": r.subject_kind, "subject_id": r.subject_id,
                         "run_id": r.run_id, "flow_run_id": r.flow_run_id,
                         "since": r.created_at.isoformat(timespec="seconds"),
                         "detector": r.detector, "reasons": list(r.reasons),
                         "scores": dict(r.scores)} for r in pending_reviews(s)]
        except FactoryError as exc:
            typer.echo(f"review: {exc}", err=True)
            raise typer.Exit(1) from exc
        if as_json:
            for row in rows:
                typer.echo(json.dumps(row, ensure_ascii=False))
            return
        if not rows:
            typer.echo("no pending reviews")
            return
        for row in rows:
            typer.echo(f"{row['id']:>6}  {row['subject_kind']} {row['subject_id']}  "
                       f"run {row['run_id'] or '-'}  since {row['since']}  ({row['detector']})")
            for reason in row["reasons"] or ["(no reason given)"]:
                typer.echo(f"        - {reason}")

    @review.command("approve")
    def approve(ref: Annotated[str, typer.Argument(help="Review id (or the subject's id).")],
                reviewer: Annotated[str | None, typer.Option(
                    "--reviewer", help="Your name (default: login name).")] = None,
                note: Annotated[str, typer.Option("--note", help="Why, for the audit log.")] = "",
    ) -> None:
        """Approve a review: the clip may be published and its flow run continues."""
        _decide(ref, approved=True, reviewer=reviewer, note=note)

    @review.command("reject")
    def reject(ref: Annotated[str, typer.Argument(help="Review id (or the subject's id).")],
               reviewer: Annotated[str | None, typer.Option(
                   "--reviewer", help="Your name (default: login name).")] = None,
               note: Annotated[str, typer.Option("--note", help="Why, for the audit log.")] = "",
    ) -> None:
        """Reject a review: the clip is never published; its paused flow run resumes with the
        rejection."""
        _decide(ref, approved=False, reviewer=reviewer, note=note)

    app.add_typer(review, name="review")
