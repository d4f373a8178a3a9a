"""Template cache: hits make no model calls, one key renders once across processes, dead
claimants are taken over, eviction is LRU and never touches pinned templates."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from common.errors import RenderError
from storage.cache import TemplateCache
from storage.db import open_database
from storage.file_store import FileStore
from storage.models import Render
from storage.s3 import S3Options, S3Store

ROOT = Path(__file__).resolve().parents[2]


class CountingRenderer:
    """Stands in for a model: each call writes distinct bytes and is counted."""

    def __init__(self, size: int = 1000, delay_s: float = 0.0) -> None:
        self.calls: list[Path] = []
        self.size, self.delay_s = size, delay_s
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> None:
        with self._lock:
            self.calls.append(path)
            n = len(self.calls)
        time.sleep(self.delay_s)
        path.write_bytes(bytes([n % 256]) * self.size)


def make_cache(db_url: str, tmp_path: Path, *, store=None, max_bytes: int = 10**9,
               worker: str = "w1", local: str = "local", **kw) -> TemplateCache:
    return TemplateCache(open_database(db_url), store or FileStore(tmp_path / "store"),
                         max_bytes=max_bytes, worker_id=worker, local_dir=tmp_path / local,
                         claim_ttl_s=kw.pop("claim_ttl_s", 30), poll_s=kw.pop("poll_s", 0.05),
                         **kw)


def key_of(prompt: str, seed: int = 1) -> tuple[str, dict]:
    """A render key as a backend makes one: the hash of what decides the pixels."""
    fields = {"prompt": prompt, "negative_prompt": "blurry", "seed": seed, "width": 64,
              "height": 32, "frames": 9, "fps": 16}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest(), fields


def get(cache: TemplateCache, key: str, request: dict, produce, **kw):
    return cache.get_or_render(key, produce, request=request, backend="animatic",
                               fingerprint="fp-1", **kw)


def test_second_identical_run_makes_zero_model_calls(database_url, tmp_path):
    cache = make_cache(database_url, tmp_path)
    model = CountingRenderer()
    shots = [key_of("intro"), key_of("product spin"), key_of("outro")]
    first = [get(cache, k, r, model) for k, r in shots]
    assert len(model.calls) == 3 and not any(c.hit for c in first)
    second = [get(cache, k, r, model) for k, r in shots]
    assert len(model.calls) == 3  # zero model calls the second time
    assert all(c.hit for c in second)
    assert [c.path.read_bytes() for c in second] == [c.path.read_bytes() for c in first]
    assert [c.object_key for c in second] == [f"renders/{k}.mkv" for k, _ in shots]

    row = next(e for e in cache.entries() if e["key"] == shots[0][0])
    assert row["state"] == "ready" and row["hits"] == 1 and row["width"] == 64
    assert row["request"]["prompt"] == "intro" and row["size_bytes"] == 1000
    assert cache.stats()["hits"] == 3 and cache.stats()["entries"] == 3


def test_hit_uses_the_local_copy_or_downloads_it(tmp_path, sqlite_url, monkeypatch):
    store = FileStore(tmp_path / "store")
    cache = make_cache(sqlite_url, tmp_path, store=store)
    key, req = key_of("background")
    made = get(cache, key, req, CountingRenderer())
    downloads = []
    real = store.get_file
    monkeypatch.setattr(store, "get_file", lambda k, d: downloads.append(k) or real(k, d))
    assert get(cache, key, req, CountingRenderer()).hit and downloads == []

    # Another worker (its own local dir) downloads; a damaged local copy is replaced too.
    other = make_cache(sqlite_url, tmp_path, store=store, worker="w2", local="local2")
    got = get(other, key, req, CountingRenderer())
    assert got.hit and downloads == [made.object_key]
    got.path.write_bytes(b"damaged")
    again = get(other, key, req, CountingRenderer())
    assert again.path.read_bytes() == made.path.read_bytes() and len(downloads) == 2


def test_object_gone_from_the_store_is_rendered_again(tmp_path, sqlite_url):
    store = FileStore(tmp_path / "store")
    cache = make_cache(sqlite_url, tmp_path, store=store)
    key, req = key_of("gone")
    model = CountingRenderer()
    made = get(cache, key, req, model)
    store.delete(made.object_key)
    made.path.unlink()
    again = get(cache, key, req, model)
    assert not again.hit and len(model.calls) == 2 and store.exists(made.object_key)


@pytest.mark.parametrize("workers", [2])
def test_two_processes_claiming_one_key_render_once(database_url, tmp_path, workers):
    open_database(database_url)  # migrate once, before the workers race
    key, _ = key_of("shared intro")
    count, gate = tmp_path / "calls.txt", tmp_path / "gate"
    gate.mkdir()
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.storage.cache_worker", database_url,
         str(tmp_path / "store"), str(tmp_path / f"local{i}"), key, str(count), str(gate),
         str(workers)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(workers)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        outs.append(json.loads(out.strip().splitlines()[-1]))
    assert len(count.read_text().splitlines()) == 1  # exactly one model call
    assert sorted(o["hit"] for o in outs) == [False, True]
    assert len({o["bytes"] for o in outs}) == 1


def test_waiters_get_the_claimants_render(tmp_path, sqlite_url):
    key, req = key_of("outro")
    model = CountingRenderer(delay_s=0.5)
    results = []

    def worker(i: int) -> None:
        cache = make_cache(sqlite_url, tmp_path, worker=f"w{i}", local=f"l{i}")
        results.append(get(cache, key, req, model))

    open_database(sqlite_url)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(model.calls) == 1
    assert sorted(r.hit for r in results) == [False, True, True]


def insert_claim(db_url: str, key: str, worker: str, age_s: float) -> None:
    with open_database(db_url).session() as s:
        s.execute(insert(Render).values(
            key=key, state="claimed", backend="animatic", fingerprint="fp-1", request={},
            claimed_by=worker, heartbeat_at=datetime.now(UTC) - timedelta(seconds=age_s)))


def test_dead_claimant_is_taken_over(database_url, tmp_path):
    key, req = key_of("orphaned")
    insert_claim(database_url, key, "dead-host:1234", age_s=120)
    cache = make_cache(database_url, tmp_path, worker="alive:1", claim_ttl_s=30)
    model = CountingRenderer()
    got = get(cache, key, req, model)
    assert not got.hit and len(model.calls) == 1
    row = next(e for e in cache.entries() if e["key"] == key)
    assert row["state"] == "ready" and row["claimed_by"] == "alive:1"


def test_live_claimant_is_waited_for_not_taken_over(tmp_path, sqlite_url):
    key, req = key_of("busy")
    insert_claim(sqlite_url, key, "busy-host:1", age_s=0)
    cache = make_cache(sqlite_url, tmp_path, wait_timeout_s=0.3)
    model = CountingRenderer()
    with pytest.raises(Exception, match="still being rendered by busy-host:1"):
        get(cache, key, req, model)
    assert model.calls == []


def test_takeover_is_atomic(database_url, tmp_path):
    key, _ = key_of("contended")
    insert_claim(database_url, key, "dead:1", age_s=120)
    a = make_cache(database_url, tmp_path, worker="a")
    b = make_cache(database_url, tmp_path, worker="b")
    row = a._row(key)
    # Both saw the same stale claim; only the first conditional UPDATE matches it.
    assert a._take_over(key, row["claimed_by"], row["heartbeat_at"]) is True
    assert b._take_over(key, row["claimed_by"], row["heartbeat_at"]) is False
    assert a._row(key)["claimed_by"] == "a"


def test_heartbeat_keeps_a_slow_render_claimed(tmp_path, sqlite_url):
    key, req = key_of("slow")
    cache = make_cache(sqlite_url, tmp_path, worker="slow", claim_ttl_s=0.4)
    other = make_cache(sqlite_url, tmp_path, worker="eager", local="l2", claim_ttl_s=0.4)
    model = CountingRenderer(delay_s=1.2)  # three times the ttl
    results = []
    t = threading.Thread(target=lambda: results.append(get(cache, key, req, model)))
    t.start()
    time.sleep(0.2)
    results.append(get(other, key, req, model))
    t.join(10)
    assert len(model.calls) == 1 and sorted(r.hit for r in results) == [False, True]


def test_failed_render_releases_the_claim(tmp_path, sqlite_url):
    key, req = key_of("fails")
    cache = make_cache(sqlite_url, tmp_path)

    def broken(path: Path) -> None:
        raise RenderError("out of memory")

    with pytest.raises(RenderError):
        get(cache, key, req, broken)
    assert cache._row(key) is None and not list((tmp_path / "local").glob("*"))
    with pytest.raises(RenderError, match="wrote no file"):
        get(cache, key, req, lambda path: None)
    assert not get(cache, key, req, CountingRenderer()).hit


def test_eviction_is_lru_and_respects_pins(database_url, tmp_path):
    store = FileStore(tmp_path / "store")
    cache = make_cache(database_url, tmp_path, store=store, max_bytes=3500)
    model = CountingRenderer(size=1000)
    intro_key, intro_req = key_of("intro")
    intro = get(cache, intro_key, intro_req, model, template="intro", pin=True)
    keys = []
    for i in range(3):
        k, r = key_of(f"shot {i}")
        get(cache, k, r, model)
        keys.append((k, r))
        time.sleep(0.01)  # distinct last_used_at
    get(cache, *keys[0], model)  # shot 0 is now more recent than shot 1
    k4, r4 = key_of("shot 4")
    get(cache, k4, r4, model)  # 5000 bytes > 3500: evict LRU unpinned until it fits
    left = {e["key"] for e in cache.entries()}
    assert intro_key in left and keys[0][0] in left and k4 in left
    assert keys[1][0] not in left and keys[2][0] not in left
    assert not store.exists(f"renders/{keys[1][0]}.mkv")
    assert store.exists(intro.object_key)

    # Even a limit of zero leaves the pinned template; unpinned, it goes too.
    evicted = cache.prune(max_bytes=0)
    assert set(evicted) == {keys[0][0], k4}
    assert [e["key"] for e in cache.entries()] == [intro_key]
    assert cache.stats()["templates"] == ["intro"] and cache.stats()["pinned"] == 1
    cache.unpin(intro_key)
    assert cache.prune(max_bytes=0) == [intro_key] and not store.exists(intro.object_key)


def test_pin_unknown_key_names_the_fix(tmp_path, sqlite_url):
    cache = make_cache(sqlite_url, tmp_path)
    with pytest.raises(Exception, match="content-factory cache ls"):
        cache.pin("0" * 64)


def test_cache_on_s3(moto_s3, s3_bucket, tmp_path, sqlite_url):
    store = S3Store(bucket=s3_bucket, prefix="cache", endpoint_url=moto_s3.endpoint_url,
                    options=S3Options(backoff_s=0.01))
    cache = make_cache(sqlite_url, tmp_path, store=store)
    key, req = key_of("s3 intro")
    model = CountingRenderer(size=50_000)
    made = get(cache, key, req, model)
    assert store.head(f"renders/{key}.mkv").sha256 == made.sha256
    made.path.unlink()  # force a download
    hit = get(cache, key, req, model)
    assert hit.hit and len(model.calls) == 1 and hit.path.read_bytes() == bytes([1]) * 50_000
    with open_database(sqlite_url).session() as s:
        assert s.scalar(select(Render.hits).where(Render.key == key)) == 1
