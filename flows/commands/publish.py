"""``content-factory publish RUN_ID --to URL``: re-publish a finished run to another target."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("publish")
    def publish(
        run_id: Annotated[str, typer.Argument(help="A finished run (see `content-factory runs`).")],
        to: Annotated[str, typer.Option(
            "--to", help="Target store: s3://BUCKET/PREFIX or file://DIR.")],
        endpoint_url: Annotated[str | None, typer.Option(
            "--endpoint-url",
            help="S3-compatible endpoint for --to (default: the s3_endpoint_url setting).")] = None,
        expiry: Annotated[int | None, typer.Option(
            "--expiry", min=1, help="Presigned URL lifetime in seconds (default: presign_expiry_s).")] = None,
    ) -> None:
        """Copy every published clip of RUN_ID (video and sidecars) to another store.

        Each clip is fetched from where it was published, checked against its recorded
        SHA-256, passed through the moderation gate again and written under the same
        content-derived key; a manifest with fresh presigned URLs is written beside them.
        Prints the new keys and URLs as JSON.
        """
        from flows.settings import get_settings
        from storage import open_store
        from storage.db import open_database
        from storage.publish import republish_run
        from tasks.publish import manifest_for, write_manifest

        settings = get_settings()
        db = open_database(settings.database_url)
        kw = {"endpoint_url": settings.s3_endpoint_url, "region": settings.s3_region}
        dest = open_store(to, **{**kw, "endpoint_url": endpoint_url or kw["endpoint_url"]})
        expiry_s = expiry if expiry is not None else settings.presign_expiry_s
        results = republish_run(db, run_id, dest, source_for=lambda url: open_store(url, **kw),
                                work_dir=settings.work_dir, presign_expiry_s=expiry_s)
        published = {r.locale: r.published for r in results if r.published}
        out = {"run_id": run_id, "target": dest.url,
               "clips": [r.to_dict() for r in results]}
        if published:
            manifest = manifest_for(db, run_id, dest.url, {"target": dest.url})
            out["manifest_key"] = write_manifest(dest, run_id, manifest)
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        if not published:
            raise typer.Exit(1)
