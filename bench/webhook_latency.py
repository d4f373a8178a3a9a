"""Time from a signed catalog webhook to the published product clip, and what of it is polling.

Starts the whole factory on loopback (deployments/local.py: prefect server, deployments, gpu and
cpu workers, ingest), posts signed product webhooks one after another and reads each run's
state history from the API:

    webhook -> 202           ingest: verify, validate, ledger, emit
    202 -> run created       Prefect: event -> trigger -> RunDeployment action
    created -> pending       waiting for the worker's next poll   <- polling
    pending -> running       worker starts a process: imports, pull step, flow start
    running -> completed     the flow itself (animatic backend): render, encode, moderate, publish

Compared for worker poll intervals of 10 s (Prefect's default) and 1 s, as ratios.

    .venv/bin/python bench/webhook_latency.py            # polls 10 and 1 s, 2 webhooks each
    .venv/bin/python bench/webhook_latency.py --quick    # poll 1 s, 1 webhook
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deployments.local import LocalFactory, LocalOptions, free_port  # noqa: E402
from deployments.register import PROJECT_ROOT  # noqa: E402
from flows.ingest import sign  # noqa: E402

SECRET = "bench-secret"
STAGES = ["ingest", "trigger", "polling", "start", "flow", "total"]  # "total": to published


def ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def one_webhook(factory: LocalFactory, sku: str, timeout_s: float) -> dict[str, float]:
    product = {"sku": sku, "title": {"en": f"Mug {sku}"}, "price": 9.5, "currency": "EUR",
               "locales": ["en"]}
    body = json.dumps(product).encode()
    stamp = str(int(time.time()))
    headers = {"X-Catalog-Hmac-Sha256": sign(SECRET, body, stamp), "X-Catalog-Timestamp": stamp,
               "X-Catalog-Event-Id": str(uuid.uuid4()), "X-Catalog-Topic": "product.created"}
    t0 = time.time()
    r = httpx.post(f"{factory.ingest_url}/webhooks/catalog", content=body, headers=headers,
                   timeout=30)
    t_ack = time.time()
    r.raise_for_status()
    deployment = factory.registered.deployments["product_clip/catalog"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = httpx.post(f"{factory.api_url}/flow_runs/filter", timeout=30, json={
            "deployments": {"id": {"any_": [deployment]}},
            "flow_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}}}}).json()
        run = next((x for x in runs if x["parameters"].get("sku") == sku), None)
        if run is not None:
            break
        time.sleep(0.2)
    else:
        raise SystemExit(f"no finished run for {sku} within {timeout_s:.0f} s")
    if run["state_type"] != "COMPLETED":
        raise SystemExit(f"run for {sku} ended {run['state_type']}; see "
                         f"{factory.options.log_dir}/worker-gpu.log")
    states = httpx.get(f"{factory.api_url}/flow_run_states/",
                       params={"flow_run_id": run["id"]}, timeout=30).json()
    at = {s["type"]: ts(s["timestamp"]) for s in states}
    store = factory.options.data_dir / "store"
    # The last object this run wrote to the store is when its clip was fully published.
    written = [p.stat().st_mtime for p in store.rglob("*") if p.is_file()
               and p.stat().st_mtime >= t0]
    published = max(written, default=at["COMPLETED"])
    created = ts(run["created"])
    return {"ingest": t_ack - t0, "trigger": created - t_ack,
            "polling": at["PENDING"] - created, "start": at["RUNNING"] - at["PENDING"],
            "flow": at["COMPLETED"] - at["RUNNING"], "total": published - t0}


def measure(poll_s: float, webhooks: int, code_dir: Path, timeout_s: float) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "PREFECT_"))}
        env.update({"FACTORY_BACKEND": "animatic", "PREFECT_LOGGING_LEVEL": "WARNING"})
        options = LocalOptions(prefect_home=root / "prefect", data_dir=root / "data",
                               prefect_port=free_port(), ingest_port=free_port(),
                               ingest_secret=SECRET, ui=False, poll_s=poll_s,
                               code_dir=code_dir, pause_schedules=True, log_dir=root / "logs")
        with LocalFactory(options, env=env) as factory:
            print(f"poll {poll_s:g} s: factory up in {sum(factory.timings.values()):.1f} s "
                  f"({', '.join(f'{k} {v:.1f}' for k, v in factory.timings.items())})",
                  file=sys.stderr)
            return [one_webhook(factory, f"BENCH-{i}", timeout_s) for i in range(webhooks)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="poll 1 s only, one webhook")
    ap.add_argument("--polls", type=float, nargs="+", default=[10.0, 1.0])
    ap.add_argument("--webhooks", type=int, default=2)
    ap.add_argument("--code-dir", type=Path, default=PROJECT_ROOT,
                    help="folder the flow entrypoints are in (default: this project)")
    ap.add_argument("--timeout", type=float, default=300.0)
    args = ap.parse_args()
    polls, webhooks = ([1.0], 1) if args.quick else (args.polls, args.webhooks)

    results = {poll: measure(poll, webhooks, args.code_dir, args.timeout) for poll in polls}
    base = polls[0]
    print(f"\nwebhook -> published product clip, animatic backend, {webhooks} webhook(s) per "
          f"setting, median seconds ({os.cpu_count()} CPU cores)\n")
    header = "| stage | " + " | ".join(f"poll {p:g} s" for p in polls)
    if len(polls) > 1:
        header += " | " + " | ".join(f"ratio {p:g}/{base:g}" for p in polls[1:])
    print(header + " |")
    print("|---" * (1 + len(polls) + max(0, len(polls) - 1)) + "|")
    for stage in STAGES:
        med = {p: statistics.median(r[stage] for r in results[p]) for p in polls}
        row = f"| {stage} | " + " | ".join(f"{med[p]:.2f}" for p in polls)
        if len(polls) > 1:
            row += " | " + " | ".join(f"{med[p] / med[base]:.2f}" if med[base] else "-"
                                      for p in polls[1:])
        print(row + " |")
    for p in polls:
        for i, r in enumerate(results[p]):
            print(f"poll {p:g} s, webhook {i + 1}: " + ", ".join(f"{k} {v:.2f}"
                                                                 for k, v in r.items()),
                  file=sys.stderr)


if __name__ == "__main__":
    main()
