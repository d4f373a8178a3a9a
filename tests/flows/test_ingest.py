"""The catalog ingest endpoint: signatures, timestamps, replays, validation and limits."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from common.errors import ConfigError
from flows.ingest import IngestSettings, create_app, sign
from storage.db import open_database
from storage.events import get_event

SECRET = "test-secret"
NOW = 1_800_000_000.0

PRODUCT = {"sku": "MUG-01", "title": {"en": "Blue mug", "de": "Blaue Tasse"}, "price": 12.5,
           "currency": "EUR", "locales": ["en", "de"]}


class RecordingEmitter:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[dict] = []
        self.fail = fail

    def __call__(self, *, event, resource, payload, event_id):
        if self.fail:
            raise ConnectionError("server down")
        self.calls.append({"event": event, "resource": resource, "payload": payload,
                           "event_id": event_id})
        return str(event_id)


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'factory.db'}"


def make_client(db_url, emitter, **overrides):
    settings = IngestSettings(secret=SECRET, **overrides)
    app = create_app(settings, database_url=db_url, emitter=emitter, clock=lambda: NOW)
    return TestClient(app), settings


def headers(body: bytes, *, event_id="evt-1", topic="product.created", ts=None,
            secret=SECRET, scheme="body"):
    ts = str(int(NOW)) if ts is None else ts
    return {"X-Catalog-Hmac-Sha256": sign(secret, body, ts, scheme),
            "X-Catalog-Timestamp": ts, "X-Catalog-Event-Id": event_id,
            "X-Catalog-Topic": topic, "Content-Type": "application/json"}


def post(client, body: bytes, hdrs):
    return client.post("/webhooks/catalog", content=body, headers=hdrs)


def test_signed_webhook_emits_the_catalog_event(db_url):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter)
    body = json.dumps(PRODUCT).encode()
    r = post(client, body, headers(body, topic="product.updated"))
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "emitted" and r.json()["sku"] == "MUG-01"
    [call] = emitter.calls
    assert call["event"] == "catalog.product.updated"
    assert call["resource"]["prefect.resource.id"] == "catalog.product.MUG-01"
    assert call["payload"] == PRODUCT
    with open_database(db_url).session() as s:
        row = get_event(s, "evt-1")
        assert row.state == "emitted" and row.prefect_event_id == str(call["event_id"])


def test_same_event_id_twice_emits_once(db_url):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter)
    body = json.dumps(PRODUCT).encode()
    assert post(client, body, headers(body)).status_code == 202
    again = post(client, body, headers(body))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    other = json.dumps({**PRODUCT, "price": 13}).encode()
    assert post(client, other, headers(other)).json()["status"] == "duplicate"
    assert len(emitter.calls) == 1


def test_replayed_request_under_a_new_event_id_is_a_duplicate(db_url):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter)
    body = json.dumps(PRODUCT).encode()
    assert post(client, body, headers(body, event_id="a")).status_code == 202
    r = post(client, body, headers(body, event_id="b"))
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert len(emitter.calls) == 1


@pytest.mark.parametrize("mutate", ["bad", "missing", "other-secret", "tampered-body"])
def test_bad_or_missing_signature_is_401_and_emits_nothing(db_url, mutate):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter)
    body = json.dumps(PRODUCT).encode()
    hdrs = headers(body, secret="other" if mutate == "other-secret" else SECRET)
    if mutate == "bad":
        hdrs["X-Catalog-Hmac-Sha256"] = "AAAA" + hdrs["X-Catalog-Hmac-Sha256"][4:]
    if mutate == "missing":
        del hdrs["X-Catalog-Hmac-Sha256"]
    if mutate == "tampered-body":
        body = body.replace(b"12.5", b"0.5")
    r = post(client, body, hdrs)
    assert r.status_code == 401
    assert r.json()["field"] == "X-Catalog-Hmac-Sha256"
    assert emitter.calls == []
    with open_database(db_url).session() as s:
        assert get_event(s, "evt-1") is None


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_or_future_timestamp_is_401(db_url, offset):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter)
    body = json.dumps(PRODUCT).encode()
    r = post(client, body, headers(body, ts=str(int(NOW + offset))))
    assert r.status_code == 401 and r.json()["field"] == "X-Catalog-Timestamp"
    assert "outside the allowed 300 s" in r.json()["detail"]
    assert emitter.calls == []


def test_iso_timestamp_within_the_window_is_accepted(db_url):
    client, _ = make_client(db_url, RecordingEmitter())
    body = json.dumps(PRODUCT).encode()
    ts = datetime.fromtimestamp(NOW - 60, UTC).isoformat().replace("+00:00", "Z")
    assert post(client, body, headers(body, ts=ts)).status_code == 202
    assert post(client, body, headers(body, ts="yesterday", event_id="x")).status_code == 401


def test_timestamp_scheme_binds_the_timestamp(db_url):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter, signed_content="timestamp.body")
    body = json.dumps(PRODUCT).encode()
    body_only = headers(body, scheme="body")
    assert post(client, body, body_only).status_code == 401
    good = headers(body, scheme="timestamp.body")
    moved = dict(good, **{"X-Catalog-Timestamp": str(int(NOW) - 10)})
    assert post(client, body, moved).status_code == 401  # the timestamp was changed
    assert post(client, body, good).status_code == 202
    assert len(emitter.calls) == 1


def test_header_names_are_configurable(db_url):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter, signature_header="X-Shopify-Hmac-Sha256",
                            timestamp_header="X-Shopify-Triggered-At",
                            event_id_header="X-Shopify-Webhook-Id",
                            topic_header="X-Shopify-Topic")
    body = json.dumps(PRODUCT).encode()
    hdrs = {"X-Shopify-Hmac-Sha256": sign(SECRET, body), "X-Shopify-Triggered-At": str(NOW),
            "X-Shopify-Webhook-Id": str(uuid.uuid4()), "X-Shopify-Topic": "products/create"}
    r = post(client, body, hdrs)
    assert r.status_code == 202, r.text
    assert emitter.calls[0]["event"] == "catalog.product.created"
    assert post(client, body, headers(body, event_id="y")).status_code == 401


@pytest.mark.parametrize("change, field", [
    (lambda p: p.pop("price"), "price"),
    (lambda p: p.update(price=-1), "price"),
    (lambda p: p.update(price="cheap"), "price"),
    (lambda p: p.pop("sku"), "sku"),
    (lambda p: p.update(sku="has space"), "sku"),
    (lambda p: p.update(title={"en": ""}), "title"),
    (lambda p: p.update(locales=["english"]), "locales"),
    (lambda p: p.update(locales=[]), "locales"),
    (lambda p: p.update(currency="euro"), "currency"),
])
def test_invalid_product_is_422_naming_the_field(db_url, change, field):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter)
    product = json.loads(json.dumps(PRODUCT))
    change(product)
    body = json.dumps(product).encode()
    r = post(client, body, headers(body))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and field in r.json()["detail"]
    assert emitter.calls == []
    with open_database(db_url).session() as s:
        assert get_event(s, "evt-1") is None  # an invalid delivery does not use up its id


def test_not_json_or_not_an_object(db_url):
    client, _ = make_client(db_url, RecordingEmitter())
    body = b"{not json"
    r = post(client, body, headers(body))
    assert r.status_code == 400 and r.json()["field"] == "body"
    body = b"[1, 2]"
    r = post(client, body, headers(body))
    assert r.status_code == 422 and r.json()["field"] == "body"


def test_topic_and_event_id_headers_are_required(db_url):
    client, _ = make_client(db_url, RecordingEmitter())
    body = json.dumps(PRODUCT).encode()
    r = post(client, body, headers(body, topic="orders/create"))
    assert r.status_code == 422 and r.json()["field"] == "X-Catalog-Topic"
    r = post(client, body, headers(body, event_id=""))
    assert r.status_code == 422 and r.json()["field"] == "X-Catalog-Event-Id"


def test_body_over_the_limit_is_413_by_length_and_while_streaming(db_url):
    emitter = RecordingEmitter()
    client, _ = make_client(db_url, emitter, max_body_bytes=1024)
    body = json.dumps({**PRODUCT, "description": "x" * 2000}).encode()
    r = post(client, body, headers(body))
    assert r.status_code == 413 and "1024" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while the body streams in
        for i in range(0, len(body), 256):
            yield body[i:i + 256]
    r = client.post("/webhooks/catalog", content=chunks(), headers=headers(body))
    assert r.status_code == 413
    small = json.dumps(PRODUCT).encode()
    assert post(client, small, headers(small)).status_code == 202
    assert len(emitter.calls) == 1


def test_emit_failure_is_503_and_the_retry_goes_through(db_url):
    failing = RecordingEmitter(fail=True)
    client, _ = make_client(db_url, failing)
    body = json.dumps(PRODUCT).encode()
    r = post(client, body, headers(body))
    assert r.status_code == 503 and "retry" in r.json()["detail"]
    working = RecordingEmitter()
    client, _ = make_client(db_url, working)
    assert post(client, body, headers(body)).status_code == 202
    assert len(working.calls) == 1


def test_missing_secret_refuses_to_start(db_url):
    with pytest.raises(ConfigError, match="FACTORY_INGEST_SECRET"):
        create_app(IngestSettings(secret=None), database_url=db_url, emitter=RecordingEmitter())
