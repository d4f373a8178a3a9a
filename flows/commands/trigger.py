"""``content-factory trigger product PRODUCT.json``: emit a catalog event by hand.

The same event the ingest endpoint emits for a verified webhook, sent straight to the Prefect
server (PREFECT_API_URL, default the local ``serve`` at http://127.0.0.1:4200/api); the
``product-clip/catalog`` deployment's trigger starts a product clip from it. A photo named by a
relative path is beside the record: the event carries its absolute path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.commands import input_file

trigger_app = typer.Typer(help="Emit factory events by hand (what webhooks do).",
                          no_args_is_help=True)


@trigger_app.command("product")
def product(
    record: Annotated[Path, typer.Argument(help="Product record (JSON or YAML).",
                                           callback=input_file("a product record file"))],
    updated: Annotated[bool, typer.Option("--updated/--created",
                                          help="Emit catalog.product.updated or .created.")] = False,
    api_url: Annotated[str | None, typer.Option(
        help="Prefect API; default PREFECT_API_URL, else the running `serve`'s, else "
             "http://127.0.0.1:4200/api.")] = None,
) -> None:
    """Validate PRODUCT and emit catalog.product.created (or --updated) for it."""
    import os
    import uuid

    from flows.connect import use_local_prefect

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    api_url = api_url or use_local_prefect() or "http://127.0.0.1:4200/api"
    os.environ["PREFECT_API_URL"] = api_url  # before Prefect reads its settings

    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.ingest import prefect_emitter, product_event
    from tasks.product import load_product_file

    payload = load_product_file(record).model_dump(mode="json", exclude_none=True)
    image = payload.get("image")
    if image and "://" not in image and not Path(image).is_absolute():
        # The flow runs in a worker elsewhere: a photo beside the record goes by its full path.
        photo = (record.parent / image).resolve()
        if not photo.is_file():
            from common.errors import SpecError
            raise SpecError(f"image file {image!r} is not beside the record ({photo} does not "
                            "exist)", file=str(record), field="image")
        payload["image"] = str(photo)
    event_id = f"manual-{uuid.uuid4()}"
    event, resource, prefect_id = product_event(payload, updated=updated, event_id=event_id)
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        sent = prefect_emitter(event=event, resource=resource, payload=payload,
                               event_id=prefect_id)
        EventsWorker.drain_all(timeout=30)  # events go out asynchronously: wait for ours
    typer.echo(f"emitted {event} for {payload['sku']} (event {sent}) to {api_url}")


def register(app: typer.Typer) -> None:
    app.add_typer(trigger_app, name="trigger")
