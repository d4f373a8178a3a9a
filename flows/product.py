"""The product-clip flow: a catalog product record through a template into a published clip.

Started by hand (`content-factory product PRODUCT.json`) or by a `catalog.product.*` event.
Every product's intro and outro are template shots: rendered once, reused by every product.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from common.errors import SpecError
from flows.campaign import mark_failed, produce
from flows.runtime import get_factory
from tasks.product import load_product, load_product_campaign


@flow(name="product_clip", flow_run_name="product-{sku}", on_failure=[mark_failed], on_crashed=[mark_failed])
def product_clip(sku: str, product: dict, template: str | None = None, run_id: str | None = None,
                 backend: str | None = None, image_dir: str | None = None) -> dict:
    """Make and publish the clip for one product record (``sku`` must match the record)."""
    record = load_product(product, source=f"product {sku}")
    if record.sku != sku:
        raise SpecError(f"the event's sku {sku!r} differs from the record's {record.sku!r}",
                        file=f"product {sku}", field="sku")
    factory = get_factory(backend)
    campaign = load_product_campaign(
        record, factory.work_dir / "products",
        template=Path(template) if template else None,
        image_dir=Path(image_dir) if image_dir else None)
    return produce(factory, campaign, run_id)
