"""Hostile bodies and headers on the ingest endpoint: finite numbers, depth, field names, and
never a 5xx for anything a client can send."""

from __future__ import annotations

import json
import random

import pytest

from flows.ingest import Rejected, parse_json_body, parse_timestamp

from .test_ingest import NOW, PRODUCT, RecordingEmitter, headers, make_client, post


@pytest.fixture
def client(tmp_path):
    emitter = RecordingEmitter()
    client, _ = make_client(f"sqlite:///{tmp_path / 'factory.db'}", emitter,
                            signed_content="timestamp.body")
    client.emitter = emitter
    return client


def signed(body: bytes, **kw) -> dict:
    return headers(body, scheme="timestamp.body", **kw)


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "1e400", "-1e400", "infinity"])
def test_a_non_finite_timestamp_with_a_valid_signature_is_401(client, stamp):
    body = json.dumps(PRODUCT).encode()
    r = post(client, body, signed(body, ts=stamp))
    assert r.status_code == 401, r.text
    assert r.json()["field"] == "X-Catalog-Timestamp" and "finite" in r.json()["detail"]
    assert client.emitter.calls == []


def test_parse_timestamp_refuses_what_no_clock_can_say():
    assert parse_timestamp(" 1800000000 ") == 1_800_000_000
    for bad in ("nan", "inf", "1e999", "2026-13-01T00:00:00Z", "", "soon"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_json_nested_50000_deep_under_the_size_limit_is_400(client):
    body = b'{"sku": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert len(body) < 256 * 1024
    r = post(client, body, signed(body))
    assert r.status_code == 400 and "nests more than 32 levels" in r.json()["detail"]
    assert r.json()["field"] == "body"


@pytest.mark.parametrize("price", ["Infinity", "-Infinity", "NaN", "1e400", "-1e400"])
def test_a_non_finite_price_is_422_naming_price(client, price):
    body = json.dumps(PRODUCT).replace("12.5", price).encode()
    r = post(client, body, signed(body))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "price" and "not a finite number" in r.json()["detail"]
    assert client.emitter.calls == []


@pytest.mark.parametrize("title, field", [
    (5, "title"), ([1, 2], "title"), (None, "title"), ({"en": 5}, "title"),
    ({}, "title"), (True, "title"),
])
def test_a_wrong_type_is_reported_under_the_field_the_sender_wrote(client, title, field):
    body = json.dumps({**PRODUCT, "title": title}).encode()
    r = post(client, body, signed(body))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()
    assert ".str" not in r.json()["detail"] and "dict[" not in r.json()["detail"]


@pytest.mark.parametrize("body, status, field", [
    ("café".encode("latin-1"), 400, "body"),                          # not UTF-8
    (json.dumps(PRODUCT).encode("utf-16"), 400, "body"),              # UTF-16 is not accepted
    (b'{"sku": ' + b"9" * 5000 + b"}", 400, "body"),                  # past 4,300 digits
    (b"", 400, "body"),
    (b"\xef\xbb\xbf{}", 400, "body"),                                  # a byte-order mark
    (json.dumps({**PRODUCT, "title": {"en": "a\udcffb"}}).encode(), 422, "title.en"),
    (json.dumps({**PRODUCT, "extra\u0000": 1}).encode(), 422, "extra\\x00"),
    (json.dumps({**PRODUCT, "price": 10 ** 400}).encode(), 422, "price"),
    (b"[]", 422, "body"),
])
def test_bodies_that_no_parser_should_take(client, body, status, field):
    r = post(client, body, signed(body))
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert client.emitter.calls == []


def test_an_absurd_content_length_is_a_4xx(client):
    body = json.dumps(PRODUCT).encode()
    for length in ("9" * 5000, "-1", "1e3"):
        r = client.post("/webhooks/catalog", content=body,
                        headers={**signed(body), "Content-Length": length})
        assert 400 <= r.status_code < 500, (length, r.status_code)


def test_no_mutated_body_gets_a_5xx(client):
    """400 mutations of a valid record, each correctly signed: every answer is 2xx or 4xx."""
    rng = random.Random(7)
    seed = json.dumps(PRODUCT).encode()
    tokens = [b"NaN", b"Infinity", b"1e400", b"[" * 40, b"{" * 40, b'"\\udcff"', b'"\\u0000"',
              b"9" * 5000, b"null", b"true", b'"', b"\\", b"\xff", b"\xc3", b",", b":", b"}"]
    statuses = []
    for i in range(400):
        body = bytearray(seed)
        for _ in range(rng.randint(1, 3)):
            at = rng.randint(0, len(body))
            kind = rng.randrange(3)
            if kind == 0 and body:
                body[rng.randrange(len(body))] = rng.randrange(256)
            elif kind == 1:
                body[at:at] = rng.choice(tokens)
            else:
                del body[at:at + rng.randint(1, 10)]
        r = post(client, bytes(body), signed(bytes(body), event_id=f"fuzz-{i}"))
        statuses.append(r.status_code)
        assert r.status_code < 500, (bytes(body)[:200], r.status_code, r.text)
    assert {400, 422} <= set(statuses)


def test_parse_json_body_is_the_one_rule_set():
    assert parse_json_body(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    with pytest.raises(Rejected) as err:
        parse_json_body(b'{"a": {"b": NaN}}')
    assert (err.value.status, err.value.field) == (422, "a.b")
    with pytest.raises(Rejected) as err:
        parse_json_body(b"[[[[1]]]]", max_depth=3)
    assert (err.value.status, err.value.field) == (400, "body")
    assert parse_json_body(b"[[[1]]]", max_depth=3) == [[[1]]]
    assert NOW > 0
