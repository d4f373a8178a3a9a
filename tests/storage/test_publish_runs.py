"""Publishing a run leaves nothing behind: reruns publish nothing new, a superseded object is
deleted and marked, a failed publish removes what it wrote, S3 uploads are never left open."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from common.errors import StorageError
from storage.db import open_database
from storage.file_store import FileStore
from storage.models import Publication
from storage.publish import manifest_key, publish_clips, run_prefix
from storage.s3 import S3Options, S3Store

from .test_publish import make_run


def pubs(db) -> list[tuple[str, str, bool]]:
    with db.session() as s:
        return sorted((p.kind, p.object_key, p.current) for p in s.scalars(select(Publication)))


def objects(store) -> list[str]:
    return sorted(i.key for i in store.list(run_prefix("spring", "run-1")))


def test_a_rerun_publishes_nothing_new(database_url, tmp_path):
    db = open_database(database_url)
    clips = make_run(db, tmp_path)
    store = FileStore(tmp_path / "store")
    first = publish_clips(db, store, clips)
    with db.session() as s:
        times = {p.object_key: p.published_at for p in s.scalars(select(Publication))}
    again = publish_clips(db, store, clips)
    assert not any(p.uploaded for ps in again.values() for p in ps)
    assert {p.key for ps in again.values() for p in ps} == {p.key for ps in first.values() for p in ps}
    assert len(objects(store)) == 4  # video + srt, two locales
    with db.session() as s:
        assert {p.object_key: p.published_at for p in s.scalars(select(Publication))} == times


def test_a_changed_clip_supersedes_and_deletes_the_old_object(database_url, tmp_path):
    from tasks.publish import manifest_for

    db = open_database(database_url)
    clips = make_run(db, tmp_path, locales=("en",))
    store = FileStore(tmp_path / "store")
    (cid, files), = clips.items()
    old = {p.kind: p.key for p in publish_clips(db, store, clips)[cid]}
    files["video"].write_bytes(b"a changed spec made other frames" * 100)
    new = {p.kind: p.key for p in publish_clips(db, store, clips)[cid]}
    assert new["video"] != old["video"] and new["srt"] == old["srt"]
    assert objects(store) == sorted(new.values())  # the old video is gone from the store
    assert pubs(db) == sorted([("srt", new["srt"], True), ("video", new["video"], True),
                               ("video", old["video"], False)])
    with db.session() as s:
        retired = s.scalar(select(Publication).where(Publication.object_key == old["video"]))
        assert retired.superseded_at is not None
    manifest = manifest_for(db, "run-1", store.url)
    assert [c["key"] for c in manifest["clips"]] == [new["video"]]


class FailingStore(FileStore):
    """A file store whose N-th write fails (a full disk, a dropped connection)."""

    def __init__(self, root, fail_at: int) -> None:
        super().__init__(root)
        self.fail_at, self.puts = fail_at, 0

    def put_file(self, key, path, **kw):
        self.puts += 1
        if self.puts == self.fail_at:
            raise StorageError(f"{key}: injected failure")
        return super().put_file(key, path, **kw)


def test_a_failed_publish_removes_what_it_wrote_and_a_retry_completes(database_url, tmp_path):
    db = open_database(database_url)
    clips = make_run(db, tmp_path)
    store = FailingStore(tmp_path / "store", fail_at=3)  # the second clip's video
    with pytest.raises(StorageError, match="injected"):
        publish_clips(db, store, clips)
    assert objects(store) == [] and pubs(db) == []
    store.fail_at = 0
    published = publish_clips(db, store, clips)
    assert len(objects(store)) == 4 and all(p.uploaded for ps in published.values() for p in ps)


def test_objects_no_clip_is_are_removed_and_the_manifest_kept(database_url, tmp_path):
    db = open_database(database_url)
    clips = make_run(db, tmp_path, locales=("en",))
    store = FileStore(tmp_path / "store")
    prefix = run_prefix("spring", "run-1")
    # A publish killed between its uploads and its record left an object nobody lists.
    store.put_bytes(f"{prefix}en/video-0123456789abcdef.mp4", b"half a run ago")
    store.put_bytes(manifest_key("spring", "run-1"), b"{}")
    store.put_bytes("spring/run-2/en/video-x.mp4", b"another run")
    publish_clips(db, store, clips)
    assert objects(store) == sorted(
        [k for k in (p[1] for p in pubs(db))] + [manifest_key("spring", "run-1")])
    assert store.exists("spring/run-2/en/video-x.mp4")


def s3_store(endpoint: str, bucket: str, **options) -> S3Store:
    return S3Store(bucket=bucket, prefix="out", endpoint_url=endpoint, region="us-east-1",
                   options=S3Options(backoff_s=0.01, backoff_max_s=0.05, **options))


def test_no_upload_is_left_open_after_publishing_through_30_percent_faults(
        moto_s3, s3_bucket, fault_proxy, sqlite_url, tmp_path):
    """15 publishes, 30% of the requests faulted (half of them after the store acted, so the
    answer is lost): every publish completes, and no multipart upload stays open."""
    db = open_database(sqlite_url)
    proxy = fault_proxy(error_rate=0.1, error_after_rate=0.1, drop_rate=0.1, seed=11)
    store = s3_store(proxy.url, s3_bucket, read_timeout_s=2.0, request_attempts=1, attempts=12)
    direct = s3_store(moto_s3.endpoint_url, s3_bucket)
    for n in range(5):
        clips = make_run(db, tmp_path, run_id=f"run-{n}", locales=("en", "de", "fr"))
        for cid, files in clips.items():
            published = None
            for _attempt in range(3):  # the flow's task retries
                try:
                    # moto dates every upload 2010-11-10: no age rule may clear them here,
                    # only the publish's own keys.
                    published = publish_clips(db, store, {cid: files}, stale_after_s=1e10)
                    break
                except StorageError:
                    continue
            assert published is not None
        assert direct.pending_uploads(f"spring/run-{n}/") == []
    assert sum(proxy.injected.values()) >= 20, proxy.injected
    # Uploads the store started whose answer never came back: the client cannot know their ids.
    lost = [path for method, path, kind in proxy.faulted
            if method == "POST" and path.endswith("?uploads") and kind in ("error_after", "drop_after")]
    assert len(lost) >= 2, proxy.faulted
    with db.session() as s:
        for p in s.scalars(select(Publication)):
            assert hashlib.sha256(direct.get_bytes(p.object_key)).hexdigest() == p.sha256
    assert direct.pending_uploads() == []


def test_stale_uploads_under_the_run_are_aborted_at_the_start(moto_s3, s3_bucket, s3_client,
                                                              sqlite_url, tmp_path):
    db = open_database(sqlite_url)
    clips = make_run(db, tmp_path, locales=("en",))
    s3_client.create_multipart_upload(Bucket=s3_bucket, Key="out/spring/run-1/en/video-old.mp4")
    s3_client.create_multipart_upload(Bucket=s3_bucket, Key="out/spring/run-9/en/video-old.mp4")
    store = s3_store(moto_s3.endpoint_url, s3_bucket)
    publish_clips(db, store, clips, stale_after_s=0)
    assert store.pending_uploads("spring/run-1/") == []
    assert len(store.pending_uploads("spring/run-9/")) == 1  # another run's: not ours to judge


def test_a_failed_s3_publish_leaves_no_object(moto_s3, s3_bucket, s3_client, fault_proxy,
                                              sqlite_url, tmp_path):
    db = open_database(sqlite_url)
    clips = make_run(db, tmp_path)
    # Every upload to the German clip fails: the English clip, uploaded first, is removed too.
    proxy = fault_proxy(error_rate=1.0, match=lambda m, p: m in ("PUT", "POST") and "/de/" in p)
    store = s3_store(proxy.url, s3_bucket, request_attempts=1, attempts=2)
    with pytest.raises(StorageError):
        publish_clips(db, store, clips)
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
    assert pubs(db) == []


def test_files_of_a_clip_keep_their_paths(tmp_path):
    assert run_prefix("spring launch", "run/1") == "spring-launch/run-1/"
    assert Path(manifest_key("c", "r")).name == "manifest.json"
