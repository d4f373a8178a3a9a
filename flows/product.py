"""The product-clip flow: a catalog product record through a template into a published clip.

Started by hand (`content-factory product PRODUCT.json`) or by a `catalog.product.*` event.
Every product's intro and outro are template shots: rendered once, reused by every product.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from common.errors import SpecError
from flows.campaign import mark_failed, produce
from flows.runtime import get_factory
from storage.fetch import fetch_image, is_url
from tasks.product import load_product, load_product_campaign


def _retry_io(task, task_run, state) -> bool:
    """Retry a fetch that failed on the way (network, S3), not a photo that is wrong."""
    return not isinstance(state.result(raise_on_failure=False), SpecError)


@task(name="fetch-product-photo", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE,
      retry_condition_fn=_retry_io)
def fetch_image_task(source: str, folder: Path, *, s3_endpoint_url: str | None,
                     s3_region: str | None) -> Path:
    """The product's photo from its URL, checked and kept in ``folder`` (storage/fetch.py)."""
    return fetch_image(source, folder, s3_endpoint_url=s3_endpoint_url,
                       s3_region=s3_region).path


@flow(name="product_clip", flow_run_name="product-{sku}", on_failure=[mark_failed], on_crashed=[mark_failed])
def product_clip(sku: str, product: dict, template: str | None = None, run_id: str | None = None,
                 backend: str | None = None, image_dir: str | None = None) -> dict:
    """Make and publish the clip for one product record (``sku`` must match the record)."""
    record = load_product(product, source=f"product {sku}")
    if record.sku != sku:
        raise SpecError(f"the event's sku {sku!r} differs from the record's {record.sku!r}",
                        file=f"product {sku}", field="sku")
    factory = get_factory(backend)
    if record.image and is_url(record.image):  # fetched once, kept under the work folder
        photo = fetch_image_task(record.image, factory.work_dir / "products" / "images",
                                 s3_endpoint_url=factory.settings.s3_endpoint_url,
                                 s3_region=factory.settings.s3_region)
        record = record.model_copy(update={"image": str(photo)})
    campaign = load_product_campaign(
        record, factory.work_dir / "products",
        template=Path(template) if template else None,
        image_dir=Path(image_dir) if image_dir else None)
    return produce(factory, campaign, run_id)
