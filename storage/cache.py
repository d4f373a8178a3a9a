"""The template cache: every render stored once, addressed by what decides its pixels.

A render's key is :func:`tasks.render.render_key` (model and weights fingerprint, prompt,
negative prompt, seed, size, frames, steps, guidance, shift, sampler, backend). The file
(lossless, so later stages lose nothing) lives in an object store as ``renders/<key>.mkv``;
the ``renders`` table (:class:`storage.models.Render`) is the index.

Several workers asking for one key render it once:

    no row        -> INSERT (state=claimed, claimed_by=me)   a primary-key conflict means
                     someone else claimed it first: wait for them
    claimed, live -> wait (poll) until it is ready or its claimant stops heart-beating
    claimed, dead -> take over with one conditional UPDATE (WHERE claimed_by = old AND
                     heartbeat_at = old): of several waiters exactly one wins. Dead means no
                     heartbeat for ``claim_ttl_s``, or at once when the claimant was a process
                     on this machine that no longer runs (``storage.workers.is_dead``): a rerun
                     after a kill does not wait out the timeout
    ready         -> a hit: zero model calls; count it, refresh last_used_at

While ``produce`` runs, a thread refreshes ``heartbeat_at`` every ``claim_ttl_s / 4``. A
claimant that fails deletes its claim so a waiter renders instead. After each new entry the
cache evicts least-recently-used unpinned entries until it fits ``max_bytes``; pinned entries
(templates: intros, outros, backgrounds) are never evicted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from common.errors import ClaimLost, ObjectMissing, RenderError, StorageError
from storage.db import Database
from storage.models import Render
from storage.objects import ObjectStore, sha256_file
from storage.workers import file_tag, is_dead, owner_of

log = logging.getLogger(__name__)

# Renders never change under their key (the key is their recipe's hash).
CACHE_CONTROL = "private, max-age=31536000, immutable"


@dataclass(frozen=True)
class CachedRender:
    """A render from the cache. ``path`` is a local copy; ``hit`` says no model ran for it.
    ``details``: what the renderer reported for a render made now (empty for a hit)."""

    key: str
    path: Path
    hit: bool
    object_key: str
    sha256: str
    size: int
    details: dict = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime | None) -> datetime | None:
    # SQLite hands timestamps back without a zone; they were written in UTC.
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


class TemplateCache:
    """Get-or-render over an object store and the ``renders`` index table."""

    def __init__(self, db: Database, store: ObjectStore, *, max_bytes: int, worker_id: str,
                 local_dir: str | os.PathLike, claim_ttl_s: float = 60.0, poll_s: float = 0.5,
                 wait_timeout_s: float | None = None, suffix: str = ".mkv") -> None:
        if claim_ttl_s <= 0 or poll_s <= 0:
            raise StorageError(f"template cache: claim_ttl_s ({claim_ttl_s}) and poll_s "
                               f"({poll_s}) must be positive")
        self.db, self.store, self.max_bytes = db, store, int(max_bytes)
        self.worker_id = worker_id
        self.local_dir = Path(local_dir)
        self.local_dir.mkdir(parents=True, exist_ok=True)
        self.claim_ttl_s, self.poll_s = claim_ttl_s, poll_s
        self.heartbeat_s = claim_ttl_s / 4  # three missed beats before anyone may take over
        self.wait_timeout_s = wait_timeout_s
        self.suffix = suffix
        # SHA-256 of local copies already checked, by (inode, size, mtime): a hit on a large
        # render then costs a stat, not a re-hash (50 MB hash ~ 70 ms here).
        self._checked: dict[Path, tuple[tuple[int, int, int], str]] = {}
        self._checked_lock = threading.Lock()
        self._sweep()

    def _sweep(self) -> None:
        """Remove partial renders that dead processes left here and in the store."""
        for tmp in self.local_dir.glob(".*.partial*"):
            if is_dead(owner_of(tmp.name)):
                tmp.unlink(missing_ok=True)
        try:
            self.store.clean_up("renders/", older_than_s=24 * 3600)
        except Exception as exc:  # housekeeping never stops a render
            log.warning("template cache: could not clean up %s/renders/: %s", self.store.url, exc)

    # -- the one entry point ----------------------------------------------------------------

    def get_or_render(self, key: str, produce: Callable[[Path], Any], *, request: dict,
                      backend: str, fingerprint: str, template: str | None = None,
                      pin: bool = False) -> CachedRender:
        """The render for ``key``: from the cache, or made by ``produce(tmp_path)`` exactly once
        across all workers sharing the database.

        ``produce`` writes the render file to the path it is given. ``request`` (the render
        request as a dict) is kept in the index; its ``width``/``height``/``frames``/``fps``
        fill the index columns. ``template`` names a reusable shot; ``pin`` keeps it from
        eviction.
        """
        started = time.monotonic()
        while True:
            row = self._row(key)
            if row is None:
                if self._claim(key, request=request, backend=backend, fingerprint=fingerprint,
                               template=template):
                    try:
                        return self._render(key, produce, template=template, pin=pin)
                    except ClaimLost as exc:
                        log.warning("%s", exc)
                        continue  # wait for the worker that took over
                continue  # someone claimed it between our read and our insert
            if row["state"] == "ready":
                found = self._hit(row, template=template, pin=pin)
                if found is not None:
                    return found
                continue  # the object had gone: the stale entry was dropped, claim afresh
            if self._is_stale(row) and self._take_over(key, row["claimed_by"],
                                                       row["heartbeat_at"]):
                log.warning("render %s: claim of %s went stale (its process is gone, or no "
                            "heartbeat for %ss), rendering here", key[:12], row["claimed_by"],
                            self.claim_ttl_s)
                try:
                    return self._render(key, produce, template=template, pin=pin)
                except ClaimLost as exc:
                    log.warning("%s", exc)
                    continue
            if self.wait_timeout_s is not None and \
                    time.monotonic() - started > self.wait_timeout_s:
                raise StorageError(f"render {key}: still being rendered by {row['claimed_by']} "
                                   f"after {self.wait_timeout_s}s; try again later or raise "
                                   "wait_timeout_s")
            time.sleep(self.poll_s)

    def get(self, key: str) -> CachedRender | None:
        """The cached render for ``key`` if it is ready (counted as a hit), else ``None``."""
        row = self._row(key)
        return self._hit(row) if row is not None and row["state"] == "ready" else None

    # -- claims -----------------------------------------------------------------------------

    def _row(self, key: str) -> dict | None:
        with self.db.session() as s:
            r = s.get(Render, key)
            return None if r is None else _as_dict(r)

    def _claim(self, key: str, *, request: dict, backend: str, fingerprint: str,
               template: str | None) -> bool:
        now = _now()
        try:
            with self.db.session() as s:
                s.execute(insert(Render).values(
                    key=key, state="claimed", backend=backend, fingerprint=fingerprint,
                    request=dict(request), width=int(request.get("width", 0) or 0),
                    height=int(request.get("height", 0) or 0),
                    frames=int(request.get("frames", 0) or 0),
                    fps=int(request.get("fps", 0) or 0), pinned=False, template=template,
                    hits=0, size_bytes=0, render_seconds=0.0, claimed_by=self.worker_id,
                    heartbeat_at=now, created_at=now, last_used_at=now))
            return True
        except IntegrityError:  # the primary key is taken: another worker claimed first
            return False

    def _is_stale(self, row: dict) -> bool:
        beat = _aware(row["heartbeat_at"])
        return beat is None or _now() - beat > timedelta(seconds=self.claim_ttl_s) \
            or is_dead(row["claimed_by"])

    def _take_over(self, key: str, old_worker: str | None, old_beat: datetime | None) -> bool:
        """Atomically move a stale claim to this worker; ``False`` if another worker won."""
        with self.db.session() as s:
            cond = [Render.key == key, Render.state == "claimed"]
            cond.append(Render.claimed_by.is_(None) if old_worker is None
                        else Render.claimed_by == old_worker)
            cond.append(Render.heartbeat_at.is_(None) if old_beat is None
                        else Render.heartbeat_at == old_beat)
            result = s.execute(update(Render).where(*cond).values(
                claimed_by=self.worker_id, heartbeat_at=_now()))
            return result.rowcount == 1

    def _release(self, key: str) -> None:
        with self.db.session() as s:
            s.execute(delete(Render).where(Render.key == key, Render.state == "claimed",
                                           Render.claimed_by == self.worker_id))

    # -- rendering --------------------------------------------------------------------------

    def object_key(self, key: str) -> str:
        return f"renders/{key}{self.suffix}"

    def local_path(self, key: str) -> Path:
        return self.local_dir / f"{key}{self.suffix}"

    def _render(self, key: str, produce: Callable[[Path], Any], *, template: str | None,
                pin: bool) -> CachedRender:
        tmp = self.local_dir / f".{key}.~{file_tag()}~{threading.get_ident()}.partial{self.suffix}"
        lost = threading.Event()
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(key, stop, lost), daemon=True,
                                name=f"cache-heartbeat-{key[:8]}")
        beat.start()
        started = time.monotonic()
        try:
            produce(tmp)
            seconds = time.monotonic() - started
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise RenderError(f"render {key}: the renderer wrote no file at {tmp}")
            if lost.is_set():
                raise ClaimLost(f"render {key}: another worker took over the claim while this "
                                "one rendered (heartbeats stalled); its render is used instead")
            put = self.store.put_file(self.object_key(key), tmp, cache_control=CACHE_CONTROL,
                                      metadata={"render-key": key})
            final = self.local_path(key)
            os.replace(tmp, final)
            st = final.stat()
            with self._checked_lock:
                self._checked[final] = ((st.st_ino, st.st_size, st.st_mtime_ns), put.sha256)
            with self.db.session() as s:
                done = s.execute(update(Render).where(
                    Render.key == key, Render.state == "claimed",
                    Render.claimed_by == self.worker_id).values(
                    state="ready", object_key=put.key, sha256=put.sha256, size_bytes=put.size,
                    render_seconds=seconds, pinned=bool(pin), last_used_at=_now(),
                    heartbeat_at=None, **({"template": template} if template else {})))
                if done.rowcount != 1:
                    self._undo_overwrite(key, put.sha256)
                    raise ClaimLost(f"render {key}: the claim was taken over before the render "
                                    "was recorded; the other worker's render is used instead")
        except BaseException:
            stop.set()
            tmp.unlink(missing_ok=True)
            self._release(key)
            raise
        finally:
            stop.set()
            beat.join()
        self.prune()
        return CachedRender(key, final, False, put.key, put.sha256, put.size)

    def _undo_overwrite(self, key: str, our_sha256: str) -> None:
        """After losing a claim: if the winner's entry is ready with other bytes, the upload we
        just made replaced its object; delete it so the entry heals (re-rendered on next use)."""
        row = self._row(key)
        if row is not None and row["state"] == "ready" and row["sha256"] != our_sha256:
            self.store.delete(self.object_key(key))

    def _heartbeat(self, key: str, stop: threading.Event, lost: threading.Event) -> None:
        while not stop.wait(self.heartbeat_s):
            try:
                with self.db.session() as s:
                    n = s.execute(update(Render).where(
                        Render.key == key, Render.state == "claimed",
                        Render.claimed_by == self.worker_id).values(heartbeat_at=_now())
                    ).rowcount
                if n != 1:
                    lost.set()
                    return
            except Exception as exc:  # a missed beat is survivable; three in a row are not
                log.warning("render %s: heartbeat failed (%s)", key[:12], exc)

    # -- hits -------------------------------------------------------------------------------

    def _hit(self, row: dict, *, template: str | None = None, pin: bool = False
             ) -> CachedRender | None:
        key = row["key"]
        local = self.local_path(key)
        # A local copy with the right bytes saves the download (the usual case on one worker).
        if self._local_sha256(local) != row["sha256"]:
            try:
                self.store.get_file(row["object_key"], local)
                problem = None if self._local_sha256(local) == row["sha256"] else \
                    "does not match the SHA-256 in the index"
            except ObjectMissing:
                problem = "is gone"
            if problem:
                # Drop the entry (only if it is still this one) so the key is rendered again.
                log.warning("render %s: its object %s/%s %s; rendering again", key[:12],
                            self.store.url, row["object_key"], problem)
                with self.db.session() as s:
                    s.execute(delete(Render).where(Render.key == key, Render.state == "ready",
                                                   Render.sha256 == row["sha256"]))
                if problem != "is gone":
                    self.store.delete(row["object_key"])
                local.unlink(missing_ok=True)
                return None
        values: dict[str, Any] = {"hits": Render.hits + 1, "last_used_at": _now()}
        if pin:
            values["pinned"] = True
        if template and not row["template"]:
            values["template"] = template
        with self.db.session() as s:
            s.execute(update(Render).where(Render.key == key).values(**values))
        return CachedRender(key, local, True, row["object_key"], row["sha256"],
                            row["size_bytes"])

    def _local_sha256(self, path: Path) -> str | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._checked_lock:
            known = self._checked.get(path)
        if known is not None and known[0] == stamp:
            return known[1]
        digest = sha256_file(path)
        with self._checked_lock:
            self._checked[path] = (stamp, digest)
        return digest

    # -- management -------------------------------------------------------------------------

    def pin(self, key: str) -> None:
        self._set_pinned(key, True)

    def unpin(self, key: str) -> None:
        self._set_pinned(key, False)

    def _set_pinned(self, key: str, pinned: bool) -> None:
        with self.db.session() as s:
            n = s.execute(update(Render).where(Render.key == key).values(pinned=pinned)).rowcount
        if n != 1:
            raise StorageError(f"no render {key!r} in the template cache "
                               "(see `content-factory cache ls`)")

    def resolve(self, prefix: str) -> str:
        """The full key that starts with ``prefix`` (keys are long; people type the start)."""
        with self.db.session() as s:
            keys = list(s.scalars(select(Render.key).where(Render.key.startswith(prefix))
                                  .limit(2)))
        if len(keys) != 1:
            raise StorageError(f"{'no' if not keys else 'more than one'} render key starts with "
                               f"{prefix!r}: give more of the key (see `content-factory cache ls`)")
        return keys[0]

    def prune(self, max_bytes: int | None = None) -> list[str]:
        """Evict least-recently-used unpinned entries until the cache fits; returns their keys."""
        limit = self.max_bytes if max_bytes is None else int(max_bytes)
        with self.db.session() as s:
            total = s.scalar(select(func.coalesce(func.sum(Render.size_bytes), 0))
                             .where(Render.state == "ready")) or 0
            if total <= limit:
                return []
            candidates = [(r.key, r.object_key, r.size_bytes, r.last_used_at) for r in s.scalars(
                select(Render).where(Render.state == "ready", Render.pinned.is_(False))
                .order_by(Render.last_used_at, Render.key))]
        evicted: list[str] = []
        for key, object_key, size, used in candidates:
            if total <= limit:
                break
            # Conditional: an entry used (or pinned) since we listed it stays.
            with self.db.session() as s:
                n = s.execute(delete(Render).where(
                    Render.key == key, Render.state == "ready", Render.pinned.is_(False),
                    Render.last_used_at == used)).rowcount
            if n != 1:
                continue
            if object_key:
                self.store.delete(object_key)
            self.local_path(key).unlink(missing_ok=True)
            total -= size
            evicted.append(key)
        if total > limit:
            log.warning("template cache holds %d bytes after eviction, over its %d-byte limit: "
                        "pinned renders are never evicted (unpin some, or raise the limit)",
                        total, limit)
        return evicted

    def entries(self) -> list[dict]:
        """Every entry, most recently used first."""
        with self.db.session() as s:
            return [_as_dict(r) for r in s.scalars(
                select(Render).order_by(Render.last_used_at.desc(), Render.key))]

    def stats(self) -> dict:
        rows = self.entries()
        ready = [r for r in rows if r["state"] == "ready"]
        return {
            "entries": len(ready),
            "claimed": len(rows) - len(ready),
            "pinned": sum(r["pinned"] for r in ready),
            "templates": sorted({r["template"] for r in ready if r["template"]}),
            "bytes": sum(r["size_bytes"] for r in ready),
            "pinned_bytes": sum(r["size_bytes"] for r in ready if r["pinned"]),
            "max_bytes": self.max_bytes,
            "hits": sum(r["hits"] for r in ready),
            # Model time the hits did not spend: each hit would have cost its render again.
            "render_seconds_saved": round(sum(r["hits"] * r["render_seconds"] for r in ready), 3),
            "store": self.store.url,
        }


def _as_dict(r: Render) -> dict:
    return {
        "key": r.key, "state": r.state, "backend": r.backend, "fingerprint": r.fingerprint,
        "request": r.request, "width": r.width, "height": r.height, "frames": r.frames,
        "fps": r.fps, "object_key": r.object_key, "sha256": r.sha256,
        "size_bytes": r.size_bytes, "render_seconds": r.render_seconds, "pinned": r.pinned,
        "template": r.template, "hits": r.hits, "claimed_by": r.claimed_by,
        "heartbeat_at": r.heartbeat_at, "created_at": _aware(r.created_at),
        "last_used_at": _aware(r.last_used_at),
    }
