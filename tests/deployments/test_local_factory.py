"""End to end on one machine: a real `prefect server`, the deployments, workers and the ingest.

A signed product webhook becomes a `product_clip` run that publishes its clip (animatic
backend); a bad signature starts nothing; a replayed event id starts no second run; the cron
deployment has its next runs scheduled in its own time zone. Workers poll every second here
(Prefect's default is 10 s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from deployments.local import LocalFactory, LocalOptions, free_port
from deployments.register import load_spec
from flows.ingest import sign

pytestmark = pytest.mark.slow

SECRET = "e2e-secret"
POLL_S = 1.0
PRODUCT = {"sku": "E2E-MUG", "title": {"en": "Blue mug", "de": "Blaue Tasse"}, "price": 12.5,
           "currency": "EUR", "locales": ["en", "de"]}


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    root = tmp_path_factory.mktemp("factory")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FACTORY_", "PREFECT_"))}
    # The scheduler's loop (default 60 s) would otherwise run before the deployments exist.
    env.update({"FACTORY_BACKEND": "animatic", "PREFECT_LOGGING_LEVEL": "WARNING",
                "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"})
    options = LocalOptions(prefect_home=root / "prefect", data_dir=root / "data",
                           prefect_port=free_port(), ingest_port=free_port(),
                           ingest_secret=SECRET, ui=False, poll_s=POLL_S, log_dir=root / "logs")
    factory = LocalFactory(options, env=env)
    factory.start()
    try:
        yield factory
    finally:
        factory.stop()
        for child in factory.children:  # stop() empties the list; nothing may be left running
            assert child.process.poll() is not None


def post_webhook(factory, body: bytes, *, event_id: str, secret: str = SECRET) -> httpx.Response:
    ts = str(int(time.time()))
    headers = {"X-Catalog-Hmac-Sha256": sign(secret, body, ts), "X-Catalog-Timestamp": ts,
               "X-Catalog-Event-Id": event_id, "X-Catalog-Topic": "product.created",
               "Content-Type": "application/json"}
    return httpx.post(f"{factory.ingest_url}/webhooks/catalog", content=body, headers=headers,
                      timeout=30)


def flow_runs(factory, deployment: str, states: list[str] | None = None) -> list[dict]:
    query: dict = {"deployments": {"id": {"any_": [factory.registered.deployments[deployment]]}},
                   "sort": "EXPECTED_START_TIME_ASC", "limit": 50}
    if states:
        query["flow_runs"] = {"state": {"type": {"any_": states}}}
    # Longer than the server's 60 s SQLite busy timeout: a stalled answer still comes back.
    r = httpx.post(f"{factory.api_url}/flow_runs/filter", json=query, timeout=75)
    r.raise_for_status()
    return r.json()


def wait_for(predicate, timeout_s: float, what: str):
    """Poll ``predicate`` until it returns something truthy or ``timeout_s`` passes.

    Prefect's SQLite-backed server can stall for up to its 60 s busy timeout when its writers
    contend on 2 busy cores ("database is locked" in server.log; seen on a fresh clone's first
    run). A slow or 5xx answer is therefore "not yet", not a failure; the deadline still bounds
    the wait and the message names the last error.
    """
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            last_error = exc
            continue
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code < 500:
                raise
            last_error = exc
            continue
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}"
                         + (f" (last API error: {last_error!r})" if last_error else ""))


def test_signed_webhook_publishes_one_product_clip(factory):
    body = json.dumps(PRODUCT).encode()
    event_id = f"evt-{uuid.uuid4()}"

    bad = post_webhook(factory, body, event_id=f"evt-{uuid.uuid4()}", secret="wrong")
    assert bad.status_code == 401
    first = post_webhook(factory, body, event_id=event_id)
    assert first.status_code == 202, first.text
    replay = post_webhook(factory, body, event_id=event_id)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"

    done = wait_for(lambda: flow_runs(factory, "product_clip/catalog",
                                      ["COMPLETED", "FAILED", "CRASHED"]),
                    150, "the product_clip run to finish")
    assert done[0]["state_type"] == "COMPLETED", (done, (factory.options.log_dir /
                                                         "worker-gpu.log").read_text()[-3000:])
    assert done[0]["parameters"]["sku"] == "E2E-MUG"
    assert done[0]["parameters"]["product"]["title"] == PRODUCT["title"]

    store = factory.options.data_dir / "store"
    clips = sorted(store.rglob("*.mp4"))
    assert {p.relative_to(store).parts[2] for p in clips} >= {"en", "de"}, clips
    assert all(p.stat().st_size > 1000 for p in clips)

    # The bad signature and the replay started nothing: after a few more polls there is still
    # exactly one run of the deployment.
    time.sleep(3 * POLL_S + 1)
    assert len(flow_runs(factory, "product_clip/catalog")) == 1


def test_cron_deployment_shows_its_next_runs_in_its_time_zone(factory):
    schedules = load_spec()["definitions"]["schedules"]
    runs = wait_for(lambda: flow_runs(factory, "campaign/scheduled", ["SCHEDULED"]), 90,
                    "the scheduler to create the campaign's runs")
    assert all(datetime.fromisoformat(r["expected_start_time"]) > datetime.now(ZoneInfo("UTC"))
               for r in runs)
    for schedule in schedules.values():
        tz = ZoneInfo(schedule["timezone"])
        minute, hour = (int(x) for x in schedule["cron"].split()[:2])
        mine = [r for r in runs if r["parameters"] == schedule["parameters"]]
        assert mine, f"no scheduled runs with {schedule['parameters']}"
        for r in mine:
            local = datetime.fromisoformat(r["expected_start_time"]).astimezone(tz)
            assert (local.hour, local.minute) == (hour, minute), (schedule, local)


def test_pools_and_the_gpu_render_limit_are_registered(factory):
    pools = {p["name"]: p for p in httpx.post(f"{factory.api_url}/work_pools/filter",
                                              json={}, timeout=30).json()}
    assert pools["gpu"]["concurrency_limit"] == 1 and pools["gpu"]["type"] == "process"
    assert "cpu" in pools
    limit = httpx.get(f"{factory.api_url}/concurrency_limits/tag/gpu-render", timeout=30)
    assert limit.status_code == 200 and limit.json()["concurrency_limit"] == 1


def test_trigger_product_command_starts_a_product_clip(factory):
    record = Path(__file__).resolve().parents[2] / "examples" / "products" / "tea-001.json"
    env = {**os.environ, "PREFECT_API_URL": factory.api_url}
    done = subprocess.run([sys.executable, "-m", "flows.cli", "trigger", "product", str(record)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "emitted catalog.product.created for TEA-001" in done.stdout
    runs = wait_for(lambda: [r for r in flow_runs(factory, "product_clip/catalog")
                             if r["parameters"].get("sku") == "TEA-001"], 30,
                    "a product_clip run for TEA-001")
    assert runs[0]["parameters"]["product"]["price"] == 18.5


def test_trigger_product_command_rejects_an_invalid_record(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**PRODUCT, "price": "cheap"}))
    done = subprocess.run([sys.executable, "-m", "flows.cli", "trigger", "product", str(bad)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert done.returncode == 1
    assert "price" in done.stderr and "bad.json" in done.stderr
