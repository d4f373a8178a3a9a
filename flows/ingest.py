"""Catalog webhook ingest: an HTTP endpoint that turns a signed catalog delivery into a Prefect event.

    POST {path}   raw JSON product record
        headers   {signature_header}: base64(HMAC-SHA256(secret, signed content))  (Shopify-style)
                  {timestamp_header}: unix seconds or ISO 8601, when the sender sent it
                  {event_id_header}:  the sender's delivery id (dedup key)
                  {topic_header}:     product.created | product.updated (or products/create,
                                      products/update, catalog.product.created|updated)
        202       emitted  {"status": "emitted", "event": ..., "event_id", "prefect_event_id",
        "sku"}
        200       replay   {"status": "duplicate", ...}: the same delivery started a run already
        401       missing or wrong signature, missing, malformed or stale timestamp
        413       body larger than max_body_bytes (checked on Content-Length and while streaming)
        400       not JSON (or not UTF-8, nested deeper than max_depth, integers past 4,300 digits)
        422       invalid record or header: {"detail": "...", "field": "price"}; also NaN,
                  Infinity or 1e400 anywhere, and strings with NUL or unpaired surrogates
        503       the Prefect API could not take the event; nothing recorded, the sender may retry

No body a client can send gets a 5xx: :func:`parse_json_body` is the one place request bodies
are parsed (the rules of ``common/inputs.py``, shared with the spec loader), for this endpoint
and any other JSON endpoint of the factory; field names in answers are the ones the sender
wrote (``title``, ``title.en``, ``locales[1]``).

Order of checks: size, signature, timestamp, headers, payload, replay, emit. Nothing is parsed
before the signature is verified, and nothing is recorded before the payload is valid.

The signed content is the raw body (``signed_content="body"``, Shopify's scheme) or
``"{timestamp}." + body`` (``"timestamp.body"``, Stripe's scheme, which binds the timestamp so a
captured request cannot be replayed after ``max_skew_s``). Either way, the ledger in
``storage/events.py`` refuses an event id or a signature seen before.

The emitted event is ``catalog.product.created|updated`` on resource ``catalog.product.<sku>``
with the product record as payload; the ``product_clip`` deployment's trigger turns it into a
flow run (deployments/prefect.yaml).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import math
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.errors import ConfigError, SpecError, echo
from common.inputs import MAX_DEPTH
from flows.bodies import Rejected, parse_json_body, validate_product
from flows.jobs import JobsConfig, jobs_router
from flows.jobs import install_handlers as install_jobs_handlers
from flows.jobs import settings_config as jobs_settings_config

log = logging.getLogger(__name__)

# Prefect event names the ingest emits, by the topics senders use for them.
TOPICS: dict[str, str] = {
    "product.created": "catalog.product.created",
    "product.updated": "catalog.product.updated",
    "products/create": "catalog.product.created",   # Shopify's topic names
    "products/update": "catalog.product.updated",
    "catalog.product.created": "catalog.product.created",
    "catalog.product.updated": "catalog.product.updated",
}
# Namespace for deriving the Prefect event id from the sender's delivery id (uuid5).
EVENT_NAMESPACE = uuid.UUID("5f1d7c3e-2b7a-4d57-9c1e-6f0f3c9a8e21")


class IngestSettings(BaseSettings):
    """Settings of the ingest endpoint (``FACTORY_INGEST_*`` environment variables)."""

    model_config = SettingsConfigDict(env_prefix="FACTORY_INGEST_", env_file=".env", extra="ignore")

    secret: SecretStr | None = Field(None, description="Shared HMAC secret; required.")
    signature_header: str = "X-Catalog-Hmac-Sha256"
    timestamp_header: str = "X-Catalog-Timestamp"
    event_id_header: str = "X-Catalog-Event-Id"
    topic_header: str = "X-Catalog-Topic"
    signed_content: Literal["body", "timestamp.body"] = "body"
    max_body_bytes: int = Field(256 * 1024, gt=0, description="Larger bodies get 413.")
    max_depth: int = Field(MAX_DEPTH, gt=0, le=256, description="Deeper JSON bodies get 400.")
    max_skew_s: float = Field(300.0, gt=0, description="Older or newer timestamps get 401.")
    path: str = "/webhooks/catalog"
    host: str = "127.0.0.1"
    port: int = 8787


class Emitter(Protocol):
    """Sends one event; returns the id the event was sent under. Raises when it cannot."""

    def __call__(self, *, event: str, resource: dict[str, str], payload: dict[str, Any],
                 event_id: uuid.UUID) -> str: ...


def prefect_emitter(*, event: str, resource: dict[str, str], payload: dict[str, Any],
                    event_id: uuid.UUID) -> str:
    """Queue the event on Prefect's events worker (sent asynchronously over its websocket)."""
    from prefect.events import emit_event

    sent = emit_event(event=event, resource=resource, payload=payload, id=event_id)
    if sent is None:
        raise ConfigError("Prefect is not configured to send events: set PREFECT_API_URL to "
                          "the server's API (e.g. http://127.0.0.1:4200/api)")
    return str(sent.id)


def product_event(product: dict[str, Any], *, updated: bool, event_id: str
                  ) -> tuple[str, dict[str, str], uuid.UUID]:
    """Event name, resource and Prefect event id for a validated product record."""
    event = "catalog.product.updated" if updated else "catalog.product.created"
    sku = str(product["sku"])
    resource = {"prefect.resource.id": f"catalog.product.{sku}", "prefect.resource.name": sku,
                "catalog.event-id": event_id}
    return event, resource, uuid.uuid5(EVENT_NAMESPACE, event_id)


def sign(secret: str, body: bytes, timestamp: str | None = None,
         signed_content: str = "body") -> str:
    """The signature header value a sender computes: base64 of HMAC-SHA256."""
    message = body if signed_content == "body" else f"{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def parse_timestamp(value: str) -> float:
    """Unix seconds (``1732180000``) or ISO 8601 (``2026-11-21T08:00:00Z``) -> unix seconds.

    Raises ValueError for anything else, ``nan``, ``inf`` and ``1e400`` included: a NaN would
    pass every comparison with the allowed window.
    """
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
    if seconds is not None:
        if not math.isfinite(seconds):
            raise ValueError(f"{echo(value)} is not a finite number of seconds")
        return seconds
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (OverflowError, OSError) as exc:
        raise ValueError(str(exc)) from None


def load_or_create_secret(path: Path) -> str:
    """The ingest secret stored at ``path`` (mode 0600), made on first use for one machine."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value


def create_app(settings: IngestSettings, *, database_url: str | None = None,
               emitter: Emitter | None = None, clock: Callable[[], float] = time.time,
               jobs: JobsConfig | None = None) -> FastAPI:
    """The FastAPI app. ``emitter`` defaults to Prefect's ``emit_event``; ``clock`` to wall time.

    ``database_url`` holds the dedup ledger; it defaults to the factory database. ``jobs``: the
    jobs API (flows/jobs.py), by default from the factory settings when FACTORY_API_TOKEN is set.
    """
    from storage.db import open_database
    from storage.events import claim_event, mark_emitted, release_event

    if settings.secret is None or not settings.secret.get_secret_value():
        raise ConfigError("FACTORY_INGEST_SECRET is not set: the ingest endpoint needs the "
                          "shared secret the catalog signs its webhooks with")
    secret = settings.secret.get_secret_value().encode()
    if database_url is None:
        from flows.settings import get_settings
        database_url = get_settings().database_url
    db = open_database(database_url)
    if emitter is None:
        import prefect.events  # noqa: F401  (import now: ~2 s that would delay the first webhook)
    emit = emitter or prefect_emitter

    app = FastAPI(title="content-factory catalog ingest and jobs API", docs_url="/docs",
                  redoc_url=None)
    jobs = jobs or jobs_settings_config(database_url=database_url)
    if jobs is not None:
        install_jobs_handlers(app)
        app.include_router(jobs_router(jobs))

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                raise Rejected(400, "Content-Length is not a number", "Content-Length")
            if len(declared) > 15 or int(declared) > settings.max_body_bytes:
                raise Rejected(413, f"body of {echo(declared, 20)} bytes is over the limit of "
                                    f"{settings.max_body_bytes} bytes")
        # Chunked or lying senders: count while reading and stop at the limit.
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise Rejected(413, f"body is over the limit of {settings.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def verify(request: Request, body: bytes) -> tuple[str, float]:
        header = settings.signature_header
        given = request.headers.get(header)
        if not given:
            raise Rejected(401, f"missing signature header {header}", header)
        stamp = request.headers.get(settings.timestamp_header)
        if not stamp:
            raise Rejected(401, f"missing timestamp header {settings.timestamp_header}",
                           settings.timestamp_header)
        message = body if settings.signed_content == "body" else f"{stamp}.".encode() + body
        expected = base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, given.strip().encode()):
            raise Rejected(401, f"signature in {header} does not match the body", header)
        try:
            sent = parse_timestamp(stamp)
        except ValueError:
            raise Rejected(401, f"{settings.timestamp_header} is neither finite unix seconds "
                                f"nor ISO 8601: {echo(stamp)}", settings.timestamp_header) from None
        skew = clock() - sent
        if abs(skew) > settings.max_skew_s:
            raise Rejected(401, f"{settings.timestamp_header} is {skew:+.0f} s away from now, "
                                f"outside the allowed {settings.max_skew_s:.0f} s",
                           settings.timestamp_header)
        return given.strip(), sent

    def record_and_emit(*, event_id: str, event: str, product: dict, body: bytes,
                        signature: str, sent: float) -> tuple[int, dict]:
        sku = str(product["sku"])
        answer = {"event_id": event_id, "event": event, "sku": sku}
        _, resource, prefect_id = product_event(product, updated=event.endswith(".updated"),
                                                event_id=event_id)
        with db.session() as s:
            fresh = claim_event(
                s, event_id=event_id, topic=event, sku=sku,
                body_sha256=hashlib.sha256(body).hexdigest(),
                signature_sha256=hashlib.sha256(signature.encode()).hexdigest(),
                sent_at=datetime.fromtimestamp(sent, UTC))
        if not fresh:
            return 200, {"status": "duplicate", **answer}
        try:
            sent_id = emit(event=event, resource=resource, payload=product, event_id=prefect_id)
        except Exception as exc:  # any emitter failure: give the id back so a retry works
            with db.session() as s:
                release_event(s, event_id)
            raise Rejected(503, f"could not hand the event to Prefect ({exc}); retry later") \
                from exc
        with db.session() as s:
            mark_emitted(s, event_id, sent_id)
        return 202, {"status": "emitted", "prefect_event_id": sent_id, **answer}

    from flows.metrics_api import metrics_router  # POST /metrics: figures in (issue 19)
    app.include_router(metrics_router(settings, db, clock, rejected=Rejected,
                                      parse_body=parse_json_body, parse_time=parse_timestamp))

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok"}

    @app.post(settings.path)
    async def catalog_webhook(request: Request) -> JSONResponse:
        try:
            body = await read_body(request)
            signature, sent = verify(request, body)
            topic = request.headers.get(settings.topic_header, "")
            event = TOPICS.get(topic.strip())
            if event is None:
                raise Rejected(422, f"{settings.topic_header} must be one of "
                                    f"{sorted(TOPICS)}, got {echo(topic)}", settings.topic_header)
            event_id = request.headers.get(settings.event_id_header, "").strip()
            if not event_id or len(event_id) > 255:
                raise Rejected(422, f"{settings.event_id_header} must be a delivery id of 1 to "
                                    f"255 characters", settings.event_id_header)
            data = parse_json_body(body, max_depth=settings.max_depth)
            try:
                product = validate_product(data)
            except SpecError as exc:
                raise Rejected(422, str(exc), exc.field) from None
            except Exception as exc:  # a record no rule foresaw is the sender's, not a 500
                log.exception("product record refused by an unexpected error")
                raise Rejected(422, f"the product record cannot be read ({type(exc).__name__})",
                               "body") from None
            status, answer = await run_in_threadpool(
                record_and_emit, event_id=event_id, event=event, product=product, body=body,
                signature=signature, sent=sent)
        except Rejected as exc:
            return JSONResponse({"detail": exc.detail, "field": exc.field},
                                status_code=exc.status)
        return JSONResponse(answer, status_code=status)

    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m flows.ingest``: run the endpoint with uvicorn (``content-factory serve`` does)."""
    import uvicorn

    settings = IngestSettings()
    if settings.secret is None:
        from flows.settings import get_settings
        secret_file = get_settings().data_dir.resolve() / "ingest.secret"
        settings.secret = SecretStr(load_or_create_secret(secret_file))
    from flows.settings import get_settings
    factory = get_settings()
    token = (factory.api_token.get_secret_value() if factory.api_token
             else load_or_create_secret(factory.data_dir.resolve() / "api.token"))
    app = create_app(settings, jobs=jobs_settings_config(token=token))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
