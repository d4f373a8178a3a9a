"""S3Store against moto's S3 server on 127.0.0.1, directly and through a fault-injecting proxy."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from common.errors import ChecksumMismatch, ObjectMissing, StorageError
from storage import open_store
from storage.s3 import MIB, S3Options, S3Store

FAST = dict(backoff_s=0.01, backoff_max_s=0.05)


def store_for(endpoint: str, bucket: str, prefix: str = "clips", **options) -> S3Store:
    return S3Store(bucket=bucket, prefix=prefix, endpoint_url=endpoint, region="us-east-1",
                   options=S3Options(**{**FAST, **options}))


def write(path: Path, size: int, seed: int = 0) -> Path:
    path.write_bytes(hashlib.shake_256(f"{seed}".encode()).digest(size) if size else b"")
    return path


def test_no_acl_is_sent_by_default(moto_s3, s3_bucket, fault_proxy, tmp_path):
    # No ACL header: the bucket's default (private on AWS, R2, MinIO) applies; an ACL such as
    # public-read is never sent.
    proxy = fault_proxy()
    store = open_store(f"s3://{s3_bucket}/clips", endpoint_url=proxy.url, region="us-east-1")
    store.put_file("a.mp4", write(tmp_path / "a.mp4", 1000))
    assert proxy.headers and not any("x-amz-acl" in h or "x-amz-grant-read" in h
                                      for h in proxy.headers)


def test_upload_metadata_private_and_presigned_get(moto_s3, s3_bucket, s3_client, tmp_path):
    # moto (unlike AWS) leaves objects made by multipart uploads without an ACL, readable by
    # anyone; "private" is sent explicitly so that the unsigned GET below shows the object is not.
    store = store_for(moto_s3.endpoint_url, s3_bucket, acl="private")
    src = write(tmp_path / "clip.mp4", 300_000)
    put = store.put_file("spring/run-1/de-DE/video-abc.mp4", src,
                         cache_control="private, max-age=60",
                         metadata={"content-id": "cid-1", "campaign": "Frühling ☀",
                                   "locale": "de-DE"})
    assert put.uploaded and put.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert store.url == f"s3://{s3_bucket}/clips"

    raw = s3_client.head_object(Bucket=s3_bucket, Key="clips/spring/run-1/de-DE/video-abc.mp4")
    assert raw["ContentType"] == "video/mp4"
    assert raw["CacheControl"] == "private, max-age=60"
    assert raw["Metadata"]["sha256"] == put.sha256
    info = store.head("spring/run-1/de-DE/video-abc.mp4")
    assert info.metadata == {"content-id": "cid-1", "campaign": "Frühling ☀", "locale": "de-DE"}
    assert info.sha256 == put.sha256 and info.size == 300_000

    # Private: an unsigned GET is refused; the presigned URL below is the way in.
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{moto_s3.endpoint_url}/{s3_bucket}/clips/spring/run-1/de-DE/"
                               "video-abc.mp4")
    assert denied.value.code == 403

    url = store.presign("spring/run-1/de-DE/video-abc.mp4", expires_s=120)
    assert "X-Amz-Expires=120" in url and "X-Amz-Signature=" in url
    assert urllib.request.urlopen(url).read() == src.read_bytes()

    assert store.get_bytes("spring/run-1/de-DE/video-abc.mp4") == src.read_bytes()
    assert [o.key for o in store.list("spring/")] == ["spring/run-1/de-DE/video-abc.mp4"]
    store.delete("spring/run-1/de-DE/video-abc.mp4")
    assert store.head("spring/run-1/de-DE/video-abc.mp4") is None
    with pytest.raises(ObjectMissing):
        store.get_file("spring/run-1/de-DE/video-abc.mp4", tmp_path / "x")


def test_multipart_upload_and_idempotent_rerun_sends_nothing(moto_s3, s3_bucket, s3_client,
                                                             fault_proxy, tmp_path):
    proxy = fault_proxy()  # no faults: it only counts requests
    store = store_for(proxy.url, s3_bucket, part_size=5 * MIB)
    src = write(tmp_path / "render.mkv", 11 * MIB + 123)
    first = store.put_file("renders/k.mkv", src)
    assert first.uploaded
    methods = [m for m, _ in proxy.requests]
    assert methods.count("PUT") == 3  # three parts: 5 + 5 + 1 MiB
    assert s3_client.head_object(Bucket=s3_bucket, Key="clips/renders/k.mkv")["ETag"] \
        .endswith('-3"')
    assert store.get_bytes("renders/k.mkv") == src.read_bytes()

    proxy.requests.clear()
    again = store.put_file("renders/k.mkv", src)
    assert not again.uploaded and again.sha256 == first.sha256
    assert [m for m, _ in proxy.requests] == ["HEAD"]  # no second upload


def test_empty_file(moto_s3, s3_bucket, tmp_path):
    store = store_for(moto_s3.endpoint_url, s3_bucket)
    put = store.put_file("empty.srt", write(tmp_path / "e.srt", 0))
    assert put.uploaded and store.get_bytes("empty.srt") == b""


def test_corrupted_upload_is_detected_and_never_visible(moto_s3, s3_bucket, s3_client,
                                                         fault_proxy, tmp_path):
    # moto accepts a wrong ChecksumSHA256, so the client's own check is what must catch this:
    # every part body is damaged on its way to the store.
    proxy = fault_proxy(corrupt_rate=1.0, match=lambda m, p: m == "PUT")
    store = store_for(proxy.url, s3_bucket, attempts=3)
    src = write(tmp_path / "clip.mp4", 200_000)
    with pytest.raises(ChecksumMismatch, match="other bytes than were sent"):
        store.put_file("a/clip.mp4", src)
    assert proxy.injected["corrupt"] == 3
    listed = s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert listed == []  # nothing under the final key, nothing anywhere
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_one_corrupted_part_is_resent(moto_s3, s3_bucket, fault_proxy, tmp_path):
    proxy = fault_proxy(corrupt_rate=1.0, max_faults=1, match=lambda m, p: m == "PUT")
    store = store_for(proxy.url, s3_bucket, part_size=5 * MIB)
    src = write(tmp_path / "clip.mp4", 6 * MIB, seed=3)
    assert store.put_file("b/clip.mp4", src).uploaded
    assert proxy.injected["corrupt"] == 1
    assert store.get_bytes("b/clip.mp4") == src.read_bytes()


def test_mismatch_reported_by_the_store_removes_the_object(moto_s3, s3_bucket, s3_client,
                                                           tmp_path, monkeypatch):
    store = store_for(moto_s3.endpoint_url, s3_bucket)
    real_head = store.client.head_object

    def lying_head(**kw):
        r = real_head(**kw)
        r.setdefault("Metadata", {})["sha256"] = "0" * 64
        return r

    src = write(tmp_path / "clip.mp4", 1000)
    monkeypatch.setattr(store.client, "head_object", lying_head)
    with pytest.raises(ChecksumMismatch, match="stored sha256 metadata"):
        store.put_file("c/clip.mp4", src)
    monkeypatch.undo()
    assert store.head("c/clip.mp4") is None


def test_publishing_completes_through_5xx_drops_and_slow_responses(moto_s3, s3_bucket,
                                                                   fault_proxy, tmp_path):
    proxy = fault_proxy(error_rate=0.15, error_after_rate=0.05, drop_rate=0.1, slow_rate=0.1,
                        slow_s=0.6, seed=7, max_faults=20)
    # botocore's own retries off (its backoff sleeps up to seconds): our retry layer is tested.
    store = store_for(proxy.url, s3_bucket, part_size=5 * MIB, read_timeout_s=0.5,
                      connect_timeout_s=1, request_attempts=1, attempts=8)
    files = [write(tmp_path / f"clip{i}.mp4", size, seed=i)
             for i, size in enumerate([5 * MIB + 10, 70_000, 3_000, 0, 120_000, 40_000])]
    for i, f in enumerate(files):
        store.put_file(f"run/clip{i}.mp4", f, metadata={"content-id": f"c{i}"})
    assert sum(proxy.injected.values()) >= 8, proxy.injected
    assert {"error", "slow"} <= set(proxy.injected)
    direct = store_for(moto_s3.endpoint_url, s3_bucket)
    for i, f in enumerate(files):
        assert direct.get_bytes(f"run/clip{i}.mp4") == f.read_bytes()
        assert direct.head(f"run/clip{i}.mp4").metadata == {"content-id": f"c{i}"}
    # An upload is left pending only when the store started it but its answer was lost (the
    # client cannot know its id); such orphans are invisible and abort_stale_uploads clears them.
    lost_starts = [p for m, p, kind in proxy.faulted
                   if m == "POST" and p.endswith("?uploads") and kind != "error"
                   and kind != "drop_before"]
    assert len(direct.pending_uploads()) <= len(lost_starts)
    direct.abort_stale_uploads(older_than_s=0)
    assert direct.pending_uploads() == []


def test_lost_completion_response_is_recognised(moto_s3, s3_bucket, fault_proxy, tmp_path):
    # The store completes the upload but the answer never arrives; the retried completion
    # finds no upload. The object is there with our bytes, so this is a success.
    proxy = fault_proxy(error_after_rate=1.0, max_faults=1,
                        match=lambda m, p: m == "POST" and "uploadId=" in p)
    store = store_for(proxy.url, s3_bucket, request_attempts=1)
    src = write(tmp_path / "clip.mp4", 50_000)
    assert store.put_file("d/clip.mp4", src).uploaded
    assert proxy.injected["error_after"] == 1
    assert store.get_bytes("d/clip.mp4") == src.read_bytes()


def test_persistent_failure_fails_cleanly_and_aborts(moto_s3, s3_bucket, s3_client, fault_proxy,
                                                     tmp_path):
    # Part 2 never gets through: the upload fails with a StorageError, is aborted, and no
    # object (partial or otherwise) appears under the key.
    proxy = fault_proxy(error_rate=1.0, match=lambda m, p: m == "PUT" and "partNumber=2" in p)
    store = store_for(proxy.url, s3_bucket, part_size=5 * MIB, request_attempts=1, attempts=3)
    src = write(tmp_path / "clip.mp4", 7 * MIB)
    with pytest.raises(StorageError, match="uploading .*clip.mp4"):
        store.put_file("e/clip.mp4", src)
    assert proxy.injected["error"] == 3
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_missing_bucket_names_the_fix(moto_s3, tmp_path):
    store = store_for(moto_s3.endpoint_url, "no-such-bucket-here")
    with pytest.raises(StorageError, match="create the bucket or fix the store URL"):
        store.put_file("x.mp4", write(tmp_path / "x.mp4", 10))


def test_stale_uploads_are_aborted(moto_s3, s3_bucket, s3_client):
    store = store_for(moto_s3.endpoint_url, s3_bucket)
    s3_client.create_multipart_upload(Bucket=s3_bucket, Key="clips/orphan.mp4")
    s3_client.create_multipart_upload(Bucket=s3_bucket, Key="elsewhere/orphan.mp4")
    assert len(store.pending_uploads()) == 1  # only under this store's prefix
    assert store.abort_stale_uploads(older_than_s=0) == 1
    assert store.pending_uploads() == []
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
