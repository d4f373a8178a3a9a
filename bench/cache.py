"""Template cache benchmark: model calls saved on a product campaign, and hit latency.

    .venv/bin/python bench/cache.py            # 30 clips, 48 MB model-sized render
    .venv/bin/python bench/cache.py --quick    # 10 clips, 8 MB

Campaign: every product clip is intro + product shot + outro; intro and outro are shared
templates (pinned). The peer is the same campaign without a cache (every shot rendered).
Renders come from the CPU ``animatic`` backend (real lossless files, counted as model calls).

A second table runs the example product record (examples/products/tea-001.json) for two brands
through the real planner with the ``model`` backend (tiny preset): how many model renders the
second brand costs when the key is every request field (brand colours and titles included, as
before issue 12) and when it is what the model reads (``ModelBackend.key_fields``).

Hit latency is measured on SQLite for a file:// store and for an S3 store (moto's server on
127.0.0.1): with the local copy present (index lookup + SHA-256 check of the copy) and without
it (download + check). A real model render is far larger than an animatic (lossless 720p, tens
to hundreds of MB), so latency is also measured for a model-sized file of random bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.cache import TemplateCache  # noqa: E402
from storage.db import open_database  # noqa: E402
from storage.file_store import FileStore  # noqa: E402
from storage.objects import ObjectStore  # noqa: E402
from tasks.render import RenderRequest, render_key, select_backend  # noqa: E402
from tasks.render.stage import render_to_file  # noqa: E402


class CountingBackend:
    """The animatic backend, counting calls (one call = one model render)."""

    def __init__(self) -> None:
        self.inner = select_backend("animatic")
        self.name = self.inner.name
        self.calls = 0

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def key_fields(self, request):
        return self.inner.key_fields(request)

    def render(self, request, *, on_progress=None, details=None):
        self.calls += 1
        return self.inner.render(request, on_progress=on_progress, details=details)


def campaign_shots(clips: int, size: tuple[int, int], frames: int) -> list[tuple[RenderRequest,
                                                                             str | None]]:
    w, h = size
    common = dict(negative_prompt="blurry, watermark", width=w, height=h, frames=frames, fps=16,
                  brand_colors=("#0A84FF", "#FFFFFF"))
    intro = RenderRequest(prompt="Brand logo resolves on a soft gradient", seed=11,
                          title="Spring Sale", **common)
    outro = RenderRequest(prompt="Logo and 'shop now' end card", seed=12, title="Shop now",
                          **common)
    shots = []
    for i in range(clips):
        product = RenderRequest(prompt=f"Product {i:02d} turning on a pedestal, studio light",
                                seed=1000 + i, title=f"Product {i:02d}", camera="orbit", **common)
        shots += [(intro, "intro"), (product, None), (outro, "outro")]
    return shots


def run_campaign(cache: TemplateCache | None, backend: CountingBackend, shots, work: Path
                 ) -> float:
    fp = backend.fingerprint()
    t0 = time.perf_counter()
    for i, (req, template) in enumerate(shots):
        key = render_key(backend, req)
        if cache is None:
            render_to_file(backend, req, work / f"nocache-{i}.mkv")
        else:
            cache.get_or_render(key, lambda p, r=req: render_to_file(backend, r, p),
                                request=backend.key_fields(req), backend=backend.name,
                                fingerprint=fp,
                                template=template, pin=template is not None)
    return time.perf_counter() - t0


def hit_latency(db, store: ObjectStore, work: Path, tag: str, payload: bytes | Path,
                repeats: int) -> dict:
    """Median seconds of a miss (produce + upload), a hit with the local copy, a hit without."""
    cache = TemplateCache(db, store, max_bytes=10**12, worker_id=f"bench-{tag}",
                          local_dir=work / f"local-{tag}")
    key = f"{tag}-{os.urandom(8).hex()}".ljust(64, "0")[:64]

    def produce(path: Path) -> None:
        if isinstance(payload, Path):
            path.write_bytes(payload.read_bytes())
        else:
            path.write_bytes(payload)

    t0 = time.perf_counter()
    made = cache.get_or_render(key, produce, request={}, backend="bench", fingerprint="")
    miss = time.perf_counter() - t0
    local, remote = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        assert cache.get_or_render(key, produce, request={}, backend="bench", fingerprint="").hit
        local.append(time.perf_counter() - t0)
        made.path.unlink()
        t0 = time.perf_counter()
        assert cache.get_or_render(key, produce, request={}, backend="bench", fingerprint="").hit
        remote.append(time.perf_counter() - t0)
    return {"size": made.size, "miss_s": miss, "local_s": statistics.median(local),
            "remote_s": statistics.median(remote)}


def start_moto():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=os.devnull,
                      AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{server._server.server_port}"


def two_brands(work: Path) -> list[tuple[str, int, int]]:
    """Model renders for tea-001 made for two brands: per key policy, (policy, first, second)."""
    import dataclasses
    import hashlib
    import json

    from tasks.plan import request_for
    from tasks.product import load_product, load_product_campaign
    from tasks.render.model import ModelBackend
    from tasks.spec import load_structured

    record, _ = load_structured(ROOT / "examples" / "products" / "tea-001.json")
    backend = ModelBackend(preset="tiny", weights_dir=None, device="cpu")
    brands = [record["brand"], {"name": "Harbour Tea", "colors": {
        "primary": "#1E3A8A", "secondary": "#FDE68A", "text": "#FFFFFF"}}]
    campaigns = [load_product_campaign(load_product({**record, "brand": brand}),
                                       work / f"brand-{i}",
                                       image_dir=ROOT / "examples" / "products")
                 for i, brand in enumerate(brands)]

    def every_field(request) -> str:  # the key before issue 12: asdict(RenderRequest)
        blob = json.dumps(dataclasses.asdict(request), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()

    rows = []
    for policy, key in (("every request field", every_field),
                        ("ModelBackend.key_fields", lambda r: render_key(backend, r))):
        seen: set[str] = set()
        counts = []
        for campaign in campaigns:
            keys = {key(request_for(shot, campaign.spec)) for shot in campaign.shots}
            counts.append(len(keys - seen))
            seen |= keys
        rows.append((policy, *counts))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 clips, 8 MB model-sized file")
    ap.add_argument("--clips", type=int, default=None)
    ap.add_argument("--model-mb", type=int, default=None, help="size of the model-sized render")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    clips = args.clips or (10 if args.quick else 30)
    model_mb = args.model_mb or (8 if args.quick else 48)

    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        work = Path(tmp)
        db = open_database(f"sqlite:///{work / 'factory.db'}")
        shots = campaign_shots(clips, (320, 180), 17)

        backend = CountingBackend()
        peer_s = run_campaign(None, backend, shots, work)
        peer_calls = backend.calls

        cache = TemplateCache(db, FileStore(work / "store"), max_bytes=10**12,
                              worker_id="bench", local_dir=work / "renders")
        backend = CountingBackend()
        first_s = run_campaign(cache, backend, shots, work)
        first_calls = backend.calls
        rerun_s = run_campaign(cache, backend, shots, work)
        rerun_calls = backend.calls - first_calls

        n = len(shots)
        print(f"\n### Model calls: {clips}-clip product campaign (intro + product + outro per "
              "clip, intro/outro shared)\n")
        print("| scenario | shots asked | model calls | share saved | wall s | vs no cache |")
        print("|---|---:|---:|---:|---:|---:|")
        print(f"| no cache (peer) | {n} | {peer_calls} | 0.0% | {peer_s:.2f} | 1.00x |")
        for name, calls, secs in (("cache, first run", first_calls, first_s),
                                  ("cache, identical rerun", rerun_calls, rerun_s)):
            print(f"| {name} | {n} | {calls} | {100 * (1 - calls / n):.1f}% | {secs:.2f} | "
                  f"{peer_s / secs:.2f}x |")
        both = first_calls + rerun_calls
        print(f"| both runs together | {2 * n} | {both} | {100 * (1 - both / (2 * n)):.1f}% | "
              f"{first_s + rerun_s:.2f} | {2 * peer_s / (first_s + rerun_s):.2f}x |")

        print("\n### Model renders: the example product record (tea-001) for two brands\n")
        print("| cache key | brand A renders | brand B renders | B's renders saved |")
        print("|---|---:|---:|---:|")
        brand_rows = two_brands(work)
        for policy, first, second in brand_rows:
            saved = brand_rows[0][2] - second
            print(f"| {policy} | {first} | {second} | {saved} |")

        # Hit latency: an animatic render (real file) and a model-sized one.
        animatic = work / "animatic.mkv"
        render_to_file(select_backend("animatic"),
                       RenderRequest(prompt="latency probe", negative_prompt="", seed=5,
                                     width=1280, height=720, frames=81, fps=16, title="Probe"),
                       animatic)
        model_sized = os.urandom(model_mb * 1024 * 1024)
        server, endpoint = start_moto()
        try:
            import boto3

            from storage.s3 import S3Store

            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench-cache")
            stores = {"file://": FileStore(work / "lat-store"),
                      "s3:// (moto, loopback)": S3Store("bench-cache", "cache",
                                                        endpoint_url=endpoint)}
            rows = []
            for sname, store in stores.items():
                for pname, payload in (("animatic 720p x81", animatic),
                                       (f"model-sized {model_mb} MB", model_sized)):
                    r = hit_latency(db, store, work, f"{len(rows)}", payload, args.repeats)
                    rows.append((sname, pname, r))
        finally:
            server.stop()
        print(f"\n### Hit latency (median of {args.repeats}; SQLite index)\n")
        print("| store | render | size | miss: store it, s | hit, local copy, ms | "
              "hit, download, ms | download / local |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for sname, pname, r in rows:
            print(f"| {sname} | {pname} | {r['size'] / 1e6:.1f} MB | {r['miss_s']:.3f} | "
                  f"{1000 * r['local_s']:.1f} | {1000 * r['remote_s']:.1f} | "
                  f"{r['remote_s'] / r['local_s']:.1f}x |")
        mean_render = first_s / max(first_calls, 1)
        print(f"\nOne animatic render (320x180x17) took {mean_render * 1000:.0f} ms on average "
              "here; a model render of one 720p shot takes minutes on a GPU, so any hit above "
              "is several orders of magnitude cheaper than the call it replaces.")


if __name__ == "__main__":
    main()
