"""Product photos: a path beside the record (`trigger product` sends it whole), URLs fetched by
the flow and kept with the run, relative paths refused where there is no record file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.cli import run_cli
from tests.flows.test_ingest import NOW, PRODUCT, RecordingEmitter, headers, make_client, post
from tests.storage.test_fetch import png_bytes, site  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def test_trigger_product_sends_the_readme_examples_photo_by_its_full_path(monkeypatch, capfd):
    import prefect.events.worker

    import flows.ingest

    sent = []
    monkeypatch.setattr(flows.ingest, "prefect_emitter",
                        lambda **kw: sent.append(kw) or "evt-1")
    monkeypatch.setattr(prefect.events.worker.EventsWorker, "drain_all",
                        classmethod(lambda cls, timeout=None: None))
    monkeypatch.chdir(ROOT / "docs")  # anywhere but beside the record
    assert run_cli(["trigger", "product", "../examples/products/tea-001.json"]) == 0, \
        capfd.readouterr().err
    [event] = sent
    assert event["payload"]["image"] == str(ROOT / "examples" / "products" / "tea-001.png")


@pytest.mark.parametrize("image, status", [
    ("tea-001.png", 422), ("ftp://example.com/a.png", 422),
    ("https://cdn.example.com/tea.png", 202), ("s3://catalog/tea.png", 202),
    ("/srv/photos/tea.png", 202),
])
def test_the_webhook_takes_urls_and_absolute_paths_only(tmp_path, image, status):
    client, _ = make_client(f"sqlite:///{tmp_path / 'f.db'}", RecordingEmitter())
    body = json.dumps({**PRODUCT, "image": image}).encode()
    answer = post(client, body, headers(body, event_id=f"e-{image}", ts=str(int(NOW))))
    assert answer.status_code == status, answer.text
    if status == 422:
        assert answer.json()["field"] == "image"


def test_a_products_http_photo_is_fetched_into_the_run(
        prefect_harness, factory_env, site, monkeypatch):  # noqa: F811  (site: a fixture)
    import flows.product

    base, root = site
    data = png_bytes(64, 64)
    (root / "tea.png").write_bytes(data)
    made = []  # the campaign the pipeline would render (its run is tested elsewhere)
    monkeypatch.setattr(flows.product, "produce", lambda factory, campaign, run_id:
                        made.append(campaign) or {"run_id": run_id})
    record = {"sku": "TEA-9", "title": "Tea", "price": 3.5, "locales": ["en"],
              "image": f"{base}/tea.png"}
    flows.product.product_clip(sku="TEA-9", product=record, run_id="tea-9-1")
    kept = list((factory_env / "work" / "products" / "images").iterdir())
    assert [p.read_bytes() for p in kept] == [data]
    [campaign] = made
    assert [s.image for s in campaign.shots if s.image] == [str(kept[0])]
    assert str(kept[0]) in campaign.script  # stored with the run when it is planned

    (root / "tea.png").write_text("not a photo")
    with pytest.raises(Exception, match="not a PNG, JPEG or WebP"):
        flows.product.product_clip(sku="TEA-9", product=record, run_id="tea-9-2")
