"""``POST /metrics`` on the ingest service: engagement figures in, signed like the webhooks.

    POST /metrics   {"campaign": ID (optional), "figures": [{clip_id | variant, views, ...}]}
        headers     the catalog webhook's signature and timestamp headers, the same secret and
                    signed content (flows/ingest.py)
        201         {"status": "imported", "import_id", "rows", "campaigns"}
        200         {"status": "duplicate", ...}: the same figures were imported before; nothing
                    changed (so a replayed request changes nothing either)
        401 / 413 / 400 / 422: as the webhook (signature or timestamp, size, not JSON, a field
                    refused: {"detail", "field": "figures[2].views"})

Order of checks, as the webhook's: size, signature, timestamp, payload, store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from common.errors import SpecError, echo
from storage.db import Database

PATH = "/metrics"


def metrics_router(settings, db: Database, clock: Callable[[], float], *,
                   rejected: type[Exception], parse_body: Callable[..., Any],
                   parse_time: Callable[[str], float]) -> APIRouter:
    """The route, for ``create_app``, with its settings (IngestSettings), clock and its rules:
    ``rejected`` (its HTTP answer exception), ``parse_body`` (parse_json_body) and
    ``parse_time`` (parse_timestamp); handed in, since the ingest module imports this one."""
    from flows.variants import store_figures
    from tasks.figures import parse_figures_data

    router = APIRouter()
    secret = settings.secret.get_secret_value().encode()

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and (not (declared.isascii() and declared.isdigit())
                                     or len(declared) > 15
                                     or int(declared) > settings.max_body_bytes):
            raise rejected(413, f"body of {echo(declared, 20)} bytes is over the limit of "
                                f"{settings.max_body_bytes} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise rejected(413, f"body is over the limit of {settings.max_body_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def verify(request: Request, body: bytes) -> None:
        header, stamp_header = settings.signature_header, settings.timestamp_header
        given = request.headers.get(header)
        if not given:
            raise rejected(401, f"missing signature header {header}", header)
        stamp = request.headers.get(stamp_header)
        if not stamp:
            raise rejected(401, f"missing timestamp header {stamp_header}", stamp_header)
        message = body if settings.signed_content == "body" else f"{stamp}.".encode() + body
        expected = base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest())
        if not hmac.compare_digest(expected, given.strip().encode()):
            raise rejected(401, f"signature in {header} does not match the body", header)
        try:
            sent = parse_time(stamp)
        except ValueError:
            raise rejected(401, f"{stamp_header} is neither finite unix seconds nor ISO 8601: "
                                f"{echo(stamp)}", stamp_header) from None
        skew = clock() - sent
        if abs(skew) > settings.max_skew_s:
            raise rejected(401, f"{stamp_header} is {skew:+.0f} s away from now, outside the "
                                f"allowed {settings.max_skew_s:.0f} s", stamp_header)

    @router.post(PATH)
    async def post_metrics(request: Request) -> JSONResponse:
        try:
            body = await read_body(request)
            verify(request, body)
            data = parse_body(body, max_depth=settings.max_depth)
            try:
                rows = parse_figures_data(data, source="body")
                result = await run_in_threadpool(store_figures, db, rows, source="api")
            except SpecError as exc:
                field = (exc.field or "").replace("rows[", "figures[", 1)
                raise rejected(422, f"{field}: {exc.detail}" if field else exc.detail,
                               field or None) from None
        except rejected as exc:
            return JSONResponse({"detail": exc.detail, "field": exc.field},
                                status_code=exc.status)
        answer = {"status": "imported" if result.fresh else "duplicate",
                  "import_id": result.import_id, "rows": result.rows,
                  "campaigns": result.campaigns}
        return JSONResponse(answer, status_code=201 if result.fresh else 200)

    return router
