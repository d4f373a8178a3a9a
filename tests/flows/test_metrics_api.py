"""POST /metrics on the ingest service: signed like the webhooks, idempotent, fields named."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from flows.ingest import IngestSettings, create_app, sign
from storage.db import open_database
from storage.figures import import_count, variant_totals
from storage.records import start_run, upsert_campaign, upsert_clip

SECRET = "test-secret"
NOW = 1_800_000_000.0
CLIP = "c" * 64


def client_for(tmp_path):
    url = f"sqlite:///{tmp_path / 'factory.db'}"
    db = open_database(url)
    with db.session() as s:
        upsert_campaign(s, campaign_id="fig", name="Figures", kind="campaign", spec_path="",
                        spec_sha256="0" * 64, spec={})
        start_run(s, run_id="r1", campaign_id="fig", kind="campaign", backend="animatic",
                  locales=["en"])
        upsert_clip(s, run_id="r1", locale="en", content_id=CLIP, details={"variant": "seed-b"})
    app = create_app(IngestSettings(secret=SECRET), database_url=url,
                     emitter=lambda **_: "x", clock=lambda: NOW)
    return TestClient(app), db


def post(client, payload, *, secret=SECRET, ts=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    ts = str(int(NOW)) if ts is None else ts
    return client.post("/metrics", content=body, headers={
        "X-Catalog-Hmac-Sha256": sign(secret, body, ts), "X-Catalog-Timestamp": ts,
        "Content-Type": "application/json"})


FIGURES = {"figures": [{"clip_id": CLIP, "views": 800, "completions": 500, "likes": 9}]}


def test_signed_figures_are_stored_once(tmp_path):
    client, db = client_for(tmp_path)
    first = post(client, FIGURES)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "imported" and first.json()["campaigns"] == ["fig"]
    again = post(client, FIGURES)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["import_id"] == first.json()["import_id"]
    with db.session() as s:
        assert import_count(s) == (1, 1)
        assert variant_totals(s, "fig")["seed-b"]["completions"] == 500


def test_unsigned_stale_and_invalid_bodies_are_refused(tmp_path):
    client, db = client_for(tmp_path)
    assert post(client, FIGURES, secret="wrong").status_code == 401
    assert post(client, FIGURES, ts=str(int(NOW) - 3600)).status_code == 401
    assert post(client, None, raw=b'{"figures": [1e400]}').status_code == 422
    assert post(client, None, raw=b"not json").status_code == 400
    bad = post(client, {"figures": [{"clip_id": CLIP, "views": 5, "completions": 9}]})
    assert bad.status_code == 422 and bad.json()["field"] == "figures[0]"
    unknown = post(client, {"figures": [{"clip_id": "nope", "views": 5}]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "figures[0].clip_id"
    with db.session() as s:
        assert import_count(s) == (0, 0)
