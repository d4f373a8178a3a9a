"""The jobs API: start campaigns and product clips over HTTP, and follow their runs.

Mounted on the ingest service (``create_app`` in flows/ingest.py; ``content-factory serve``
runs it on port 8787), with OpenAPI docs at ``/docs``. Every route needs
``Authorization: Bearer <token>`` (``FACTORY_API_TOKEN``; ``serve`` makes one in
DATA_DIR/api.token).

    POST /campaigns        a campaign spec with its script inline, as JSON or YAML
                           (Content-Type application/json or application/yaml), or
                           {"spec": {...}, "script": "## hero ...", "backend": ..., "silent": ...}
        202                {"run_id": ..., "state": "queued", "status_url": ...}
        422                {"detail": ..., "field": "output.width", "line": 4, "problems": [...]}
    POST /products         a product record (the webhook's rules); image: a path on this
                           machine, or an https://, s3:// or file:// URL
        202                {"run_id": ..., "state": "queued", "status_url": ...}
    GET  /runs             recent runs (?limit=20)
    GET  /runs/{id}        state, stage, progress (0-1), shots, clips with their URLs
    GET  /runs/{id}/clips/{locale}   the clip's video (a file store's bytes, or a redirect to
                                     the presigned S3 URL)

Errors are ``{"detail": ..., "field": ...}`` with 400 (unreadable body), 401 (token), 404 (run,
clip), 413 (body too large), 422 (invalid spec or record, naming the field) or 503 (the run
could not be started). Bodies are read with the ingest's limits and parsed by the same rules
(``parse_json_body``, common/inputs.py); specs are validated by the CLI's own loader.

A run is recorded ``queued`` before it starts, so its id answers at once. It is started as a
flow run of the ``campaign/on-demand`` or ``product_clip/catalog`` deployment (its workers, its
UI), or, with ``jobs_runner: local`` or no Prefect server, in a background thread here.
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from common.errors import FactoryError, SpecError, echo
from common.inputs import MAX_DEPTH
from tasks.spec import MAX_SPEC_BYTES

log = logging.getLogger(__name__)

BACKENDS = ("auto", "animatic", "model", "svd")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


class Launcher(Protocol):
    """Starts a recorded, queued run; returns the Prefect flow run id when there is one."""

    def campaign(self, *, spec_path: str, run_id: str, backend: str | None,
                 silent: bool) -> str | None: ...

    def product(self, *, sku: str, product: dict, run_id: str, backend: str | None,
                image_dir: str) -> str | None: ...


class DeploymentLauncher:
    """Flow runs of the registered deployments: the server's workers run them, its UI shows them."""

    def campaign(self, *, spec_path, run_id, backend, silent):
        return self._run("campaign/on-demand", {"spec_path": spec_path, "run_id": run_id,
                                                "backend": backend, "silent": silent}, run_id)

    def product(self, *, sku, product, run_id, backend, image_dir):
        return self._run("product_clip/catalog", {"sku": sku, "product": product,
                                                  "run_id": run_id, "backend": backend,
                                                  "image_dir": image_dir}, run_id)

    @staticmethod
    def _run(name: str, parameters: dict, run_id: str) -> str:
        from prefect.deployments import run_deployment
        from prefect.exceptions import ObjectNotFound

        from common.errors import ConfigError

        try:
            flow_run = run_deployment(name, parameters=parameters, timeout=0,
                                      flow_run_name=run_id)
        except ObjectNotFound:
            raise ConfigError(f"deployment {name} is not registered on the Prefect server "
                              "(`content-factory serve` or `deploy` registers it)") from None
        return str(flow_run.id)


class LocalLauncher:
    """Flows called in a background thread of this process, one at a time (one GPU)."""

    def __init__(self, database_url: str, workers: int = 1) -> None:
        self.database_url = database_url
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        # Prefect's settings as they are where the launcher is made (a server's PREFECT_API_URL,
        # a test harness): threads do not inherit context variables.
        self.context = contextvars.copy_context()

    def campaign(self, *, spec_path, run_id, backend, silent):
        from flows.campaign import campaign

        self.pool.submit(self.context.copy().run, self._call, run_id, campaign,
                         spec_path=spec_path, run_id=run_id, backend=backend, silent=silent)
        return None

    def product(self, *, sku, product, run_id, backend, image_dir):
        from flows.product import product_clip

        self.pool.submit(self.context.copy().run, self._call, run_id, product_clip, sku=sku,
                         product=product, run_id=run_id, backend=backend, image_dir=image_dir)
        return None

    def _call(self, job: str, flow: Callable, /, **kwargs: Any) -> None:
        try:
            flow(**kwargs)
        except Exception as exc:  # the run's record says why; the thread goes on to the next
            log.warning("run %s failed: %s", job, exc)
            _fail_unfinished(self.database_url, job, f"{type(exc).__name__}: {exc}")


def _fail_unfinished(database_url: str, run_id: str, error: str) -> None:
    from storage.db import open_database
    from storage.models import Run
    from storage.records import FINAL_STATES, finish_run

    with open_database(database_url).session() as s:
        run = s.get(Run, run_id)
        if run is not None and run.state not in FINAL_STATES:
            finish_run(s, run_id, state="failed", error=error[:2000])


def settings_config(*, token: str | None = None, database_url: str | None = None,
                    launcher: Launcher | None = None) -> JobsConfig | None:
    """The jobs API's config from the factory settings; None (no jobs routes) without a token."""
    from flows.settings import get_settings

    settings = get_settings()
    token = token or (settings.api_token.get_secret_value() if settings.api_token else None)
    if not token:
        return None
    database_url = database_url or settings.database_url
    return JobsConfig(token=token, database_url=database_url, data_dir=settings.data_dir,
                      launcher=launcher or default_launcher(settings.jobs_runner, database_url),
                      store_options={"endpoint_url": settings.s3_endpoint_url,
                                     "region": settings.s3_region},
                      fonts_dir=settings.fonts_dir)


def default_launcher(runner: str, database_url: str) -> Launcher:
    import os

    if runner == "deployment" or (runner == "auto" and os.environ.get("PREFECT_API_URL")):
        return DeploymentLauncher()
    return LocalLauncher(database_url)


@dataclass(frozen=True)
class JobsConfig:
    """What the jobs routes need; ``create_app`` builds it from the factory settings."""

    token: str
    database_url: str
    data_dir: Path
    launcher: Launcher
    max_body_bytes: int = MAX_SPEC_BYTES  # a spec with its script inline; a record is far less
    max_depth: int = MAX_DEPTH
    store_options: dict | None = None  # endpoint_url, region for s3:// stores
    fonts_dir: Path | None = None  # the subtitle fonts (FACTORY_FONTS_DIR); None: the bundled set


class Refused(Exception):
    """A 4xx/5xx answer of the jobs API."""

    def __init__(self, status: int, detail: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field, self.extra = status, detail, field, extra


def answer(exc: Refused) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"detail": exc.detail, "field": exc.field, **exc.extra},
                        status_code=exc.status, headers=headers)


def spec_refusal(exc: SpecError) -> Refused:
    """422 naming the field; the server's file names stay out of the answer."""
    problems = [{"field": p.field, "line": p.line, "detail": p.detail}
                for p in getattr(exc, "problems", [exc])]
    first = problems[0]
    detail = f"{first['field']}: {first['detail']}" if first["field"] else first["detail"]
    if len(problems) > 1:
        detail += f" (and {len(problems) - 1} more, see problems)"
    return Refused(422, detail, first["field"] or "body", line=first["line"], problems=problems)


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 past ``max_bytes`` (declared or streamed) and 400 when the
    Content-Length is not a number."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise Refused(400, "Content-Length is not a number", "Content-Length")
        if len(declared) > 15 or int(declared) > max_bytes:
            raise Refused(413, f"body of {echo(declared, 20)} bytes is over the limit of "
                               f"{max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise Refused(413, f"body is over the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def read_document(body: bytes, content_type: str, folder: Path, name: str,
                  max_depth: int) -> tuple[dict, Path]:
    """The body (JSON or YAML) as data, and a copy of it in ``folder`` that the spec loader reads
    (so errors carry the body's own line numbers)."""
    from flows.bodies import Rejected, parse_json_body
    from tasks.spec import load_structured

    kind = content_type.split(";")[0].strip().lower()
    is_yaml = kind in YAML_TYPES
    if not body.strip():
        raise Refused(400, "the body is empty: send a JSON or YAML document", "body")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.{'yaml' if is_yaml else 'json'}"
    if not is_yaml:
        try:
            parse_json_body(body, max_depth=max_depth)
        except Rejected as exc:
            raise Refused(exc.status, exc.detail, exc.field) from None
    else:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Refused(400, f"body is not UTF-8 text (byte {exc.start})", "body") from None
    path.write_bytes(body)
    try:
        data, _ = load_structured(path)
    except SpecError as exc:
        raise spec_refusal(exc) from None
    return data, path


def new_run_id(campaign_id: str) -> str:
    """``<campaign>-<UTC time>-<4 hex>``: sortable, and two requests in one second differ."""
    return f"{campaign_id}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def jobs_router(config: JobsConfig) -> APIRouter:
    """The jobs routes, for ``app.include_router``."""
    from storage.db import open_database

    db = open_database(config.database_url)
    token = config.token.encode()
    jobs_dir = config.data_dir.resolve() / "jobs"

    def authorized(request: Request) -> None:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Refused(401, "missing bearer token: send 'Authorization: Bearer <token>' "
                               "(FACTORY_API_TOKEN, or DATA_DIR/api.token under serve)",
                          "Authorization")
        if not hmac.compare_digest(value.strip().encode(), token):
            raise Refused(401, "wrong bearer token", "Authorization")

    async def guard(request: Request) -> None:
        try:
            authorized(request)
        except Refused as exc:
            raise _Answer(answer(exc)) from None

    router = APIRouter(dependencies=[Depends(guard)], tags=["jobs"])

    def status_url(request: Request, run_id: str) -> str:
        return str(request.url_for("get_run", run_id=run_id))

    @router.post("/campaigns", status_code=202, summary="Start a campaign run",
                 responses={401: {}, 413: {}, 422: {}, 503: {}})
    async def post_campaign(request: Request) -> JSONResponse:
        """Body: a campaign spec with an inline ``script`` (JSON, or YAML with
        ``Content-Type: application/yaml``), or ``{"spec": {...}, "script": "...",
        "backend": "animatic", "silent": false}``. Answers the run id at once."""
        return await submitted(request, submit_campaign)

    async def submitted(request: Request, submit) -> JSONResponse:
        """Read the body within its limit, hand it to ``submit`` off the event loop, and answer
        202 with the run id and where to poll it (or the refusal)."""
        try:
            body = await read_limited(request, config.max_body_bytes)
            folder = jobs_dir / uuid.uuid4().hex
            answer_ = await run_in_threadpool(submit, body,
                                              request.headers.get("content-type", ""), folder)
        except Refused as exc:
            return answer(exc)
        return JSONResponse({**answer_, "status_url": status_url(request, answer_["run_id"])},
                            status_code=202)

    def submit_campaign(body: bytes, content_type: str, folder: Path) -> dict:
        from media.fonts import default_fonts_dir
        from tasks.layout import check_layout
        from tasks.script import load_campaign

        data, path = read_document(body, content_type, folder, "request", config.max_depth)
        backend, silent = None, False
        if isinstance(data.get("spec"), dict):
            spec = dict(data["spec"])
            unknown = sorted(set(data) - {"spec", "script", "backend", "silent"})
            if unknown:
                raise Refused(422, f"{unknown[0]}: unknown field (send spec, script, backend, "
                                   "silent)", unknown[0])
            if "script" in data:
                if not isinstance(data["script"], str):
                    raise Refused(422, "script: must be the script's text", "script")
                spec["script"] = data["script"]
            backend, silent = data.get("backend"), data.get("silent", False)
            if backend is not None and backend not in BACKENDS:
                raise Refused(422, f"backend: {echo(backend)} is not one of "
                                   f"{', '.join(BACKENDS)}", "backend")
            if not isinstance(silent, bool):
                raise Refused(422, "silent: must be true or false", "silent")
            path = folder / "campaign.json"
            path.write_text(json.dumps(spec, ensure_ascii=False, indent=1), encoding="utf-8")
        try:
            campaign = load_campaign(path)
            # the overlays of every locale and format fit their safe zones: the check
            # `validate` and `run` make, so an accepted campaign never fails on its layout
            check_layout(campaign, fonts_dir=config.fonts_dir or default_fonts_dir(),
                         logo=campaign.spec.brand.logo)
        except SpecError as exc:
            raise spec_refusal(exc) from None
        except FactoryError as exc:
            raise Refused(422, str(exc).replace(str(folder), "<body>"), "body") from None
        run_id = new_run_id(campaign.id)
        stored = {"spec": campaign.spec.model_dump(mode="json"), "script": campaign.script,
                  "source": campaign.source}
        queue(run_id, campaign.id, campaign.spec.name or campaign.id, "campaign", str(path),
              campaign.sha256, stored, backend, campaign.spec.locales)
        launch(run_id, lambda: config.launcher.campaign(
            spec_path=str(path), run_id=run_id, backend=backend, silent=silent))
        return {"run_id": run_id, "state": "queued", "campaign_id": campaign.id}

    @router.post("/products", status_code=202, summary="Start a product clip run",
                 responses={401: {}, 413: {}, 422: {}, 503: {}})
    async def post_product(request: Request) -> JSONResponse:
        """Body: a product record (sku, title, price, currency, image, locales), JSON or YAML.
        ``image`` may be an https://, s3:// or file:// URL; it is fetched when the run starts."""
        return await submitted(request, submit_product)

    def submit_product(body: bytes, content_type: str, folder: Path) -> dict:
        from flows.bodies import validate_product

        data, _ = read_document(body, content_type, folder, "product", config.max_depth)
        try:
            product = validate_product(data, source="body")
        except SpecError as exc:
            raise spec_refusal(exc) from None
        run_id = new_run_id(f"product-{product['sku']}".lower())
        queue(run_id, f"product-{product['sku']}".lower(), product["sku"], "product",
              str(folder), "", {"product": product}, None, product["locales"])
        launch(run_id, lambda: config.launcher.product(
            sku=product["sku"], product=product, run_id=run_id, backend=None,
            image_dir=str(folder)))
        return {"run_id": run_id, "state": "queued", "sku": product["sku"]}

    def queue(run_id: str, campaign_id: str, name: str, kind: str, spec_path: str,
              sha256: str, spec: dict, backend: str | None, locales: list[str]) -> None:
        from storage.records import queue_run

        with db.session() as s:
            queue_run(s, run_id=run_id, campaign_id=campaign_id, name=name, kind=kind,
                      spec_path=spec_path, spec_sha256=sha256, spec=spec,
                      backend=backend or "", locales=locales)

    def launch(run_id: str, start: Callable[[], str | None]) -> None:
        from storage.models import Run
        from storage.records import finish_run

        try:
            flow_run_id = start()
        except Exception as exc:  # no server, no deployment: the run says so, the client may retry
            log.warning("run %s could not be started: %s", run_id, exc)
            with db.session() as s:
                finish_run(s, run_id, state="failed", error=f"not started: {exc}"[:2000])
            raise Refused(503, f"the run could not be started ({type(exc).__name__}: {exc}); "
                               "retry later", run_id=run_id) from exc
        if flow_run_id:
            with db.session() as s:
                run = s.get(Run, run_id)
                if run is not None and run.flow_run_id is None:
                    run.flow_run_id = flow_run_id

    @router.get("/runs", summary="Recent runs")
    def list_runs(limit: int = Query(20, ge=1, le=500)) -> dict:
        from storage.records import recent_runs, run_status

        with db.session() as s:
            return {"runs": [_without_clip_details(run_status(s, r))
                             for r in recent_runs(s, limit)]}

    @router.get("/runs/{run_id}", name="get_run", summary="One run: state, stage, progress, clips",
                responses={401: {}, 404: {}})
    def get_run(run_id: str, request: Request) -> JSONResponse:
        from common.errors import StorageError
        from storage.records import get_run as read_run
        from storage.records import resolve_run_id, run_status

        try:
            with db.session() as s:
                status = run_status(s, read_run(s, resolve_run_id(s, run_id)))
        except StorageError as exc:
            return answer(Refused(404, str(exc), "run_id"))
        for clip in status["clips"]:
            if clip["url"]:
                clip["download_url"] = str(request.url_for(
                    "get_clip", run_id=status["run_id"], locale=clip["locale"]))
        return JSONResponse(status)

    @router.get("/runs/{run_id}/clips/{locale}", name="get_clip", summary="A clip's video",
                responses={401: {}, 404: {}})
    def get_clip(run_id: str, locale: str):
        from common.errors import StorageError
        from storage import open_store
        from storage.file_store import FileStore
        from storage.records import get_run as read_run
        from storage.records import resolve_run_id, run_status

        try:
            with db.session() as s:
                status = run_status(s, read_run(s, resolve_run_id(s, run_id)))
        except StorageError as exc:
            return answer(Refused(404, str(exc), "run_id"))
        clip = next((c for c in status["clips"] if c["locale"] == locale and c["key"]), None)
        if clip is None:
            return answer(Refused(404, f"run {status['run_id']} has no published clip for "
                                       f"locale {echo(locale)}", "locale"))
        store = open_store(clip["target"], **(config.store_options or {}))
        if isinstance(store, FileStore):
            return FileResponse(store.local_path(clip["key"]), media_type="video/mp4",
                                filename=Path(clip["key"]).name)
        return RedirectResponse(store.presign(clip["key"], expires_s=3600), status_code=307)

    return router


def _without_clip_details(status: dict) -> dict:
    return {**status, "clips": [{"locale": c["locale"], "url": c["url"]}
                                for c in status["clips"]]}


class _Answer(Exception):
    """Carries a ready response out of a dependency (see :func:`install_handlers`)."""

    def __init__(self, response: JSONResponse) -> None:
        super().__init__(response.status_code)
        self.response = response


def install_handlers(app) -> None:
    """Let the auth dependency answer with the API's error shape."""

    @app.exception_handler(_Answer)
    async def _answer(request: Request, exc: _Answer) -> JSONResponse:
        return exc.response
