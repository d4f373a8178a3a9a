"""Nothing a killed process leaves behind survives the next run: store writes killed at each
fault point, leftovers swept, claims of dead processes taken over at once."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert

from storage.cache import TemplateCache
from storage.db import open_database
from storage.file_store import FileStore
from storage.models import Render
from storage.workers import file_tag, is_dead, owner_of, worker_id

ROOT = Path(__file__).resolve().parents[2]


def dead_worker() -> str:
    """The id a process had that has exited (run, waited for)."""
    proc = subprocess.run([sys.executable, "-c", "from storage.workers import worker_id; "
                           "print(worker_id())"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    return proc.stdout.strip()


def test_worker_ids_tell_a_dead_process_from_a_live_one():
    me = worker_id()
    assert me.count(":") == 2 and not is_dead(me)
    gone = dead_worker()
    assert gone != me and is_dead(gone)
    host, pid, token = gone.split(":")
    assert not is_dead(f"another-host:{pid}:{token}")      # not ours to judge
    assert not is_dead(f"{host}:{pid}")                      # no token: only the timeout
    assert is_dead(f"{host}:{os.getpid()}:{token}")  # the PID lives on in a later process
    assert not is_dead("w1") and not is_dead(None)
    assert owner_of(f".x.mp4.~{file_tag()}~abc.partial") == file_tag()


def kill_during_put(store_dir: Path, key: str, src: Path, at: int) -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.storage.kill_worker", str(store_dir), key,
                           str(src), str(at)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr


def leftovers(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.name.endswith(".partial"))


@pytest.mark.parametrize("at", [0, 1, 2], ids=["before-any-rename", "before-object-rename",
                                              "before-metadata-rename"])
def test_a_put_killed_at_any_point_leaves_a_whole_object_or_none(tmp_path, at):
    store_dir = tmp_path / "store"
    src = tmp_path / "clip.mp4"
    src.write_bytes(hashlib.sha256(b"clip").digest() * 5000)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    key = "camp/run/en/video-x.mp4"
    kill_during_put(store_dir, key, src, at)
    store = FileStore(store_dir)
    info = store.head(key)
    if at == 2:  # the object was renamed into place, its metadata not yet: the bytes speak
        assert info is not None and info.sha256 == digest
    else:
        assert info is None
    assert not (store_dir / ".meta" / f"{key}.json").exists() or info is not None
    assert leftovers(store_dir)  # the dead writer's temporary file is still there ...
    assert store.clean_up("camp/run/", older_than_s=3600) >= 1  # ... until the next run
    assert leftovers(store_dir) == []
    again = store.put_file(key, src, metadata={"run": "r1"})
    assert again.uploaded == (at != 2)
    assert store.head(key).metadata == {"run": "r1"}  # metadata written, or repaired
    assert [i.key for i in store.list("camp/")] == [key]


def test_stale_metadata_of_an_object_of_the_same_size_is_not_trusted(tmp_path):
    store = FileStore(tmp_path / "s")
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"A" * 1000)
    b.write_bytes(b"B" * 1000)
    store.put_file("k.bin", a)
    # A writer killed after renaming new bytes of the same size into place, before their
    # metadata: the metadata still names the old object.
    os.replace(b, tmp_path / "s" / "k.bin")
    assert store.head("k.bin").sha256 == hashlib.sha256(b"B" * 1000).hexdigest()
    b.write_bytes(b"B" * 1000)
    assert not store.put_file("k.bin", b, metadata={"v": "b"}).uploaded  # same bytes: no copy
    assert store.head("k.bin").metadata == {"v": "b"}  # but the metadata is repaired


def test_clean_up_keeps_live_writers_files_and_removes_orphan_metadata(tmp_path):
    store = FileStore(tmp_path / "s")
    src = tmp_path / "x.srt"
    src.write_text("hello")
    store.put_file("c/r/en/srt-1.srt", src)
    folder = tmp_path / "s" / "c" / "r" / "en"
    live = folder / f".srt-2.srt.~{file_tag()}~q.partial"
    live.write_text("being written")
    dead = folder / f".srt-3.srt.~{dead_worker()}~q.partial"
    dead.write_text("abandoned")
    orphan = tmp_path / "s" / ".meta" / "c" / "r" / "en" / "gone.srt.json"
    orphan.write_text("{}")
    elsewhere = tmp_path / "s" / "c" / "other" / f".v.mp4.~{dead_worker()}~q.partial"
    elsewhere.parent.mkdir(parents=True)
    elsewhere.write_text("another run's")
    assert store.clean_up("c/r/", older_than_s=3600) == 2
    assert live.exists() and not dead.exists() and not orphan.exists() and elsewhere.exists()
    old = time.time() - 7200
    os.utime(live, (old, old))
    assert store.clean_up("c/r/", older_than_s=3600) == 1 and not live.exists()
    assert store.head("c/r/en/srt-1.srt") is not None


def test_a_claim_of_a_dead_process_is_taken_over_at_once(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    store = FileStore(tmp_path / "store")
    key = hashlib.sha256(b"hero shot").hexdigest()
    now = datetime.now(UTC)
    with db.session() as s:
        s.execute(insert(Render).values(
            key=key, state="claimed", backend="animatic", fingerprint="fp", request={},
            width=8, height=8, frames=9, fps=16, pinned=False, hits=0, size_bytes=0,
            render_seconds=0.0, claimed_by=dead_worker(), heartbeat_at=now, created_at=now,
            last_used_at=now))
    cache = TemplateCache(db, store, max_bytes=10**9, worker_id=worker_id(),
                          local_dir=tmp_path / "local", claim_ttl_s=60, poll_s=0.05)
    started = time.monotonic()
    got = cache.get_or_render(key, lambda p: p.write_bytes(b"frames"), request={},
                              backend="animatic", fingerprint="fp")
    assert time.monotonic() - started < 5  # not the 60 s heartbeat timeout
    assert not got.hit and got.path.read_bytes() == b"frames"


def test_a_claim_of_a_live_process_is_waited_for(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    key = hashlib.sha256(b"busy").hexdigest()
    now = datetime.now(UTC)
    with db.session() as s:
        s.execute(insert(Render).values(
            key=key, state="claimed", backend="animatic", fingerprint="fp", request={},
            width=8, height=8, frames=9, fps=16, pinned=False, hits=0, size_bytes=0,
            render_seconds=0.0, claimed_by=worker_id(), heartbeat_at=now, created_at=now,
            last_used_at=now))
    cache = TemplateCache(db, FileStore(tmp_path / "store"), max_bytes=10**9, worker_id="other",
                          local_dir=tmp_path / "local", claim_ttl_s=60, poll_s=0.05,
                          wait_timeout_s=0.5)
    with pytest.raises(Exception, match="still being rendered"):
        cache.get_or_render(key, lambda p: p.write_bytes(b"x"), request={}, backend="animatic",
                            fingerprint="fp")


def test_partial_renders_of_dead_processes_are_swept(tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    dead = local / f".abc.~{dead_worker()}~1.partial.mkv"
    live = local / f".abd.~{file_tag()}~1.partial.mkv"
    dead.write_bytes(b"x")
    live.write_bytes(b"y")
    TemplateCache(open_database(f"sqlite:///{tmp_path / 'f.db'}"), FileStore(tmp_path / "s"),
                  max_bytes=10**9, worker_id=worker_id(), local_dir=local)
    assert not dead.exists() and live.exists()
