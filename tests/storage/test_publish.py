"""Publishing clips to S3 (moto on loopback): the gate, metadata, idempotent reruns, faults,
and `content-factory publish RUN --to URL` / `content-factory cache ...` on the command line."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from common.errors import PublishRefused
from storage.db import open_database
from storage.file_store import FileStore
from storage.publish import publish_clip
from storage.records import finish_run, record_decision, start_run, upsert_campaign, upsert_clip
from storage.s3 import S3Options, S3Store


def make_run(db, tmp_path: Path, *, run_id="run-1", locales=("en", "de"), decision="allow"
             ) -> dict[str, dict[str, Path]]:
    """A finished run with one clip (video + srt) per locale, moderated as ``decision``."""
    files = {}
    with db.session() as s:
        upsert_campaign(s, campaign_id="spring", name="Spring", kind="campaign", spec_path="",
                        spec_sha256="0" * 64, spec={})
        start_run(s, run_id=run_id, campaign_id="spring", kind="campaign", backend="animatic",
                  locales=list(locales))
        for loc in locales:
            d = tmp_path / run_id / loc
            d.mkdir(parents=True)
            video, srt = d / "clip.mp4", d / "clip.srt"
            video.write_bytes(hashlib.sha256(f"{run_id}{loc}".encode()).digest() * 2000)
            srt.write_text(f"1\n00:00:00,000 --> 00:00:01,000\nhello {loc}\n")
            cid = f"cid-{run_id}-{loc}"
            upsert_clip(s, run_id=run_id, locale=loc, content_id=cid, state="encoded",
                        sha256=hashlib.sha256(video.read_bytes()).hexdigest())
            if decision:
                record_decision(s, subject_kind="clip", subject_id=cid, decision=decision)
            files[cid] = {"video": video, "srt": srt}
    return files


def s3_store(endpoint: str, bucket: str, **options) -> S3Store:
    return S3Store(bucket=bucket, prefix="out", endpoint_url=endpoint,
                   options=S3Options(backoff_s=0.01, backoff_max_s=0.05, **options))


def test_publish_to_s3_with_metadata_presigned_url_and_idempotent_rerun(
        moto_s3, s3_bucket, s3_client, fault_proxy, sqlite_url, tmp_path):
    db = open_database(sqlite_url)
    files = make_run(db, tmp_path, locales=("de",))
    proxy = fault_proxy()
    store = s3_store(proxy.url, s3_bucket)
    (cid, clip_files), = files.items()
    first = publish_clip(db, store, content_id=cid, files=clip_files, presign_expiry_s=600)
    video = next(p for p in first if p.kind == "video")
    assert video.uploaded and video.key.startswith("spring/run-1/de/video-")
    raw = s3_client.head_object(Bucket=s3_bucket, Key=f"out/{video.key}")
    assert raw["Metadata"]["content-id"] == cid and raw["Metadata"]["campaign"] == "spring"
    assert raw["Metadata"]["locale"] == "de" and raw["ContentType"] == "video/mp4"
    assert "immutable" in raw["CacheControl"]
    assert urllib.request.urlopen(video.url).read() == clip_files["video"].read_bytes()

    proxy.requests.clear()
    again = publish_clip(db, store, content_id=cid, files=clip_files, presign_expiry_s=600)
    assert [p.key for p in again] == [p.key for p in first]
    assert not any(p.uploaded for p in again)
    # No second upload: checks (HEAD) and listings of the run's prefix for leftovers (GET).
    assert {m for m, _ in proxy.requests} == {"HEAD", "GET"}
    assert all("?uploads" in path or "list-type=2" in path or m == "HEAD"
               for m, path in proxy.requests)
    with db.session() as s:
        from storage.records import get_clip
        clip = get_clip(s, cid)
        assert clip.state == "published"
        assert {(p.kind, p.object_key, p.uploaded) for p in clip.publications} == \
            {(p.kind, p.key, False) for p in first}  # the latest publish was a no-op


def test_gate_refuses_before_anything_is_written(moto_s3, s3_bucket, s3_client, sqlite_url,
                                                 tmp_path):
    db = open_database(sqlite_url)
    files = make_run(db, tmp_path, locales=("en",), decision="review")
    store = s3_store(moto_s3.endpoint_url, s3_bucket)
    (cid, clip_files), = files.items()
    with pytest.raises(PublishRefused, match="only allowed or approved clips"):
        publish_clip(db, store, content_id=cid, files=clip_files)
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", []) == []


def test_publish_completes_through_faults(moto_s3, s3_bucket, fault_proxy, sqlite_url, tmp_path):
    db = open_database(sqlite_url)
    files = make_run(db, tmp_path, locales=("en", "de", "fr"))
    proxy = fault_proxy(error_rate=0.2, drop_rate=0.15, slow_rate=0.1, slow_s=0.3, seed=3,
                        max_faults=15)
    store = s3_store(proxy.url, s3_bucket, read_timeout_s=1.0, request_attempts=1, attempts=8)
    for cid, clip_files in files.items():
        publish_clip(db, store, content_id=cid, files=clip_files)
    assert sum(proxy.injected.values()) >= 5
    direct = s3_store(moto_s3.endpoint_url, s3_bucket)
    with db.session() as s:
        from storage.models import Publication
        pubs = s.query(Publication).all()
        assert len(pubs) == 6
        for p in pubs:
            assert hashlib.sha256(direct.get_bytes(p.object_key)).hexdigest() == p.sha256


@pytest.fixture
def cli(tmp_path, monkeypatch, moto_s3):
    """The commands under test on a bare Typer app, settings in a fresh data folder."""
    from flows.commands import cache as cache_cmd
    from flows.commands import publish as publish_cmd
    from flows.settings import get_settings

    data = tmp_path / "data"
    monkeypatch.setenv("FACTORY_DATA_DIR", str(data))
    monkeypatch.setenv("FACTORY_S3_ENDPOINT_URL", moto_s3.endpoint_url)
    monkeypatch.setenv("FACTORY_CACHE_MAX_BYTES", "100000")
    for name in ("DATABASE_URL", "STORE_URL", "CACHE_URL"):
        monkeypatch.delenv(f"FACTORY_{name}", raising=False)
    get_settings.cache_clear()
    app = typer.Typer()
    cache_cmd.register(app)
    publish_cmd.register(app)
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    get_settings.cache_clear()


def test_republish_a_finished_run_to_s3(cli, s3_bucket, s3_client, tmp_path):
    from flows.settings import get_settings

    settings = get_settings()
    db = open_database(settings.database_url)
    files = make_run(db, tmp_path, locales=("en", "ja"))
    home = FileStore(settings.store_url.removeprefix("file://"))
    original = {cid: publish_clip(db, home, content_id=cid, files=f)
                for cid, f in files.items()}
    with db.session() as s:
        finish_run(s, "run-1", state="completed")

    result = cli("publish", "run-1", "--to", f"s3://{s3_bucket}/mirror", "--expiry", "300")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["target"] == f"s3://{s3_bucket}/mirror"
    for clip in out["clips"]:
        assert clip["refused"] is None
        before = {p.kind: p.key for p in original[clip["content_id"]]}
        assert {p["kind"]: p["key"] for p in clip["published"]} == before  # same keys
        for p in clip["published"]:
            body = s3_client.get_object(Bucket=s3_bucket, Key=f"mirror/{p['key']}")["Body"]
            assert hashlib.sha256(body.read()).hexdigest() == p["sha256"]
            assert "X-Amz-Expires=300" in p["url"]
    manifest = json.loads(s3_client.get_object(
        Bucket=s3_bucket, Key=f"mirror/{out['manifest_key']}")["Body"].read())
    assert sorted(c["locale"] for c in manifest["clips"]) == ["en", "ja"]

    # A reviewer rejects the Japanese clip afterwards: the gate applies to re-publishing too.
    with db.session() as s:
        record_decision(s, subject_kind="clip", subject_id="cid-run-1-ja", decision="rejected",
                        reasons=["wrong price"])
    again = json.loads(cli("publish", "run-1", "--to", f"file://{tmp_path / 'other'}").stdout)
    refused = {c["locale"]: c["refused"] for c in again["clips"]}
    assert refused["en"] is None and "wrong price" in refused["ja"]
    assert not list((tmp_path / "other").rglob("*ja*"))


def test_publish_refuses_a_running_run(cli, tmp_path):
    from flows.settings import get_settings

    db = open_database(get_settings().database_url)
    make_run(db, tmp_path, run_id="run-live")
    result = cli("publish", "run-live", "--to", f"file://{tmp_path / 'x'}")
    assert result.exit_code != 0 and "after it finishes" in str(result.exception)


def test_cache_commands(cli, tmp_path):
    from flows.commands.cache import open_cache, parse_size

    assert parse_size("1.5GiB") == int(1.5 * 1024**3) and parse_size("20G") == 20 * 10**9
    cache = open_cache()
    keys = []
    for i, template in enumerate(["intro", None, None]):
        key = hashlib.sha256(f"shot {i}".encode()).hexdigest()
        cache.get_or_render(key, lambda p: p.write_bytes(b"x" * 40_000), request={"width": 8},
                            backend="animatic", fingerprint="fp", template=template,
                            pin=template is not None)
        keys.append(key)
    # 120 kB over a 100 kB limit: the least recently used unpinned render went.
    listing = cli("cache", "ls")
    assert listing.exit_code == 0, listing.output
    assert keys[0][:16] in listing.output and keys[2][:16] in listing.output
    assert keys[1][:16] not in listing.output
    stats = json.loads(cli("cache", "stats").stdout)
    assert stats["bytes"] == 80_000 and stats["max_bytes"] == 100_000
    assert stats["templates"] == ["intro"] and stats["pinned"] == 1

    assert f"pinned {keys[2]}" in cli("cache", "pin", keys[2][:10]).output  # a prefix will do
    assert json.loads(cli("cache", "prune", "--max-size", "0").stdout)["evicted"] == []
    assert cli("cache", "unpin", keys[0]).exit_code == 0
    pruned = json.loads(cli("cache", "prune", "--max-size", "0").stdout)
    assert pruned["evicted"] == [keys[0]] and pruned["bytes"] == 40_000
    bad = cli("cache", "pin", "ffff")
    assert bad.exit_code != 0 and "cache ls" in str(bad.exception)
