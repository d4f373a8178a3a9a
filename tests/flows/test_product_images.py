"""Product photos: a path beside the record (`trigger product` sends it whole), URLs fetched by
the flow and kept with the run, relative paths refused where there is no record file."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from flows.cli import run_cli
from tests.flows.test_ingest import NOW, PRODUCT, RecordingEmitter, headers, make_client, post
from tests.flows.test_jobs_api import AUTH, client_for
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


def test_a_product_posted_with_an_http_photo_keeps_it_in_the_run(prefect_harness, factory_env,
                                                                 site):  # noqa: F811
    from flows.jobs import LocalLauncher
    from flows.settings import get_settings

    base, root = site
    data = png_bytes(64, 64)
    (root / "tea.png").write_bytes(data)
    client = client_for(factory_env, LocalLauncher(get_settings().database_url))
    record = {"sku": "TEA-9", "title": "Tea", "price": 3.5, "locales": ["en"],
              "image": f"{base}/tea.png"}
    posted = client.post("/products", json=record, headers=AUTH)
    assert posted.status_code == 202, posted.text
    run_id = posted.json()["run_id"]
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        status = client.get(f"/runs/{run_id}", headers=AUTH).json()
        if status["state"] not in ("queued", "running"):
            break
        time.sleep(0.5)
    assert status["state"] == "completed", status
    kept = list((factory_env / "work" / "products" / "images").iterdir())
    assert [p.read_bytes() for p in kept] == [data]
    from storage.db import open_database
    from storage.models import Run

    with open_database(get_settings().database_url).session() as s:
        stored = s.get(Run, run_id).campaign.spec
    assert str(kept[0]) in stored["script"]  # the run's spec names the kept photo
