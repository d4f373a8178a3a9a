"""An S3 bucket (AWS, MinIO, R2, any S3-compatible endpoint) as an :class:`ObjectStore`.

How a write is made safe, in order:

1. SHA-256 of the file is computed locally. When the key already holds an object whose
   ``x-amz-meta-sha256`` and size match, nothing is sent (idempotent reruns).
2. Every non-empty file goes up as a multipart upload (one part for small files, ``part_size``
   parts for large ones). A multipart object is invisible until ``CompleteMultipartUpload``,
   so a reader never sees half an object.
3. Each part is sent with its SHA-256 (``ChecksumAlgorithm=SHA256``: a real S3 rejects a part
   whose bytes do not match) and the ETag the store returns is compared with the part's MD5,
   which the store computes from the bytes it received. A mismatch re-sends the part; the
   upload is completed only when every part checks out. Some S3-compatible servers (moto,
   for one) accept a wrong checksum header, so the ETag is the check that still holds there.
4. After completion a HEAD compares size, the stored ``sha256`` metadata and the store's own
   checksum (full-object or composite ``-N``) with the local values; a mismatch deletes the
   object and raises :class:`ChecksumMismatch`.
5. Any failure aborts the multipart upload, so no parts linger. When even the abort cannot
   reach the store, or the answer to "create multipart upload" was lost (the upload exists but
   the client never learned its id), :meth:`S3Store.clean_up` clears them: publishing calls it
   under the run's prefix before and after each publish. The bucket lifecycle rule in
   docs/scale-out.md is the backstop.

Retries: botocore's ``standard`` mode retries each request on throttling, 5xx and connection
errors; on top of that each part, the completion and each download are retried with
exponential backoff and full jitter, because a dropped connection in the middle of a body is
not always retried by botocore.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from common.errors import ChecksumMismatch, ConfigError, ObjectMissing, StorageError
from storage.objects import (
    ObjectInfo,
    ObjectStore,
    PutResult,
    check_key,
    guess_content_type,
    sha256_file,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

MIB = 1024 * 1024
# S3's limits (docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html): parts of 5 MiB to
# 5 GiB, except the last; at most 10,000 parts.
MIN_PART_SIZE = 5 * MIB
MAX_PARTS = 10_000

# Error codes worth another try: throttling, transient server trouble, a body that arrived
# damaged (the store rejected our checksum), a request that timed out server-side.
RETRYABLE_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequests",
    "RequestLimitExceeded", "InternalError", "ServiceUnavailable", "RequestTimeout",
    "RequestTimeoutException", "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch",
    "IncompleteBody", "500", "502", "503", "504",
}


@dataclass(frozen=True)
class S3Options:
    """Tuning for :class:`S3Store`; the defaults suit clips and renders of tens of MB."""

    part_size: int = 8 * MIB
    request_attempts: int = 5     # botocore "standard" mode, per request
    attempts: int = 5             # ours, per part / completion / download
    backoff_s: float = 0.2        # first backoff; doubles per attempt, full jitter
    backoff_max_s: float = 5.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    # ETag == MD5 of the bytes holds for unencrypted and SSE-S3 objects. Buckets with SSE-KMS
    # or SSE-C return other ETags: turn this off there (the SHA-256 checks remain).
    check_etag: bool = True
    signature_version: str = "s3v4"  # presigned URLs valid up to 7 days, region-scoped
    # No ACL header by default: new AWS buckets (ACLs disabled, "bucket owner enforced") accept
    # only none or bucket-owner-full-control, R2 only none or "private"; all of them keep
    # objects private by default. Set "private" for servers whose default is not private.
    acl: str | None = None


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _encode_meta(value: str) -> str:
    # S3 user metadata travels in HTTP headers: ASCII only. Percent-encode '%' and anything
    # non-ASCII so every value round-trips exactly (campaign names may be in any script).
    return quote(str(value), safe="".join(chr(c) for c in range(32, 127) if chr(c) != "%"))


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code or (str(status) if status else "")


def _is_retryable(exc: Exception) -> bool:
    from botocore.exceptions import ClientError, HTTPClientError

    if isinstance(exc, ChecksumMismatch | HTTPClientError):
        return True  # damaged in transit, connection dropped or timed out
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return _error_code(exc) in RETRYABLE_CODES or status >= 500 or status == 429
    return False


class S3Store(ObjectStore):
    """``s3://BUCKET/PREFIX`` through boto3; credentials from the usual AWS chain.

    ``endpoint_url`` points at any S3-compatible server (MinIO, R2, moto). Objects are private
    (no ACL is sent; the bucket's default applies) and readable by others only through
    :meth:`presign`.
    """

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, *, options: S3Options | None = None,
                 client: Any = None) -> None:
        if not bucket:
            raise ConfigError("store URL s3://BUCKET/PREFIX: the bucket name is missing")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.options = options or S3Options()
        if self.options.part_size < MIN_PART_SIZE:
            raise ConfigError(f"S3 part_size {self.options.part_size} is below S3's minimum "
                              f"of {MIN_PART_SIZE} bytes")
        self.url = f"s3://{bucket}/{self.prefix.rstrip('/')}".rstrip("/")
        self.client = client or self._make_client(endpoint_url, region)

    def _make_client(self, endpoint_url: str | None, region: str | None) -> Any:
        import boto3
        from botocore.config import Config

        o = self.options
        config = Config(
            region_name=region, signature_version=o.signature_version,
            retries={"total_max_attempts": o.request_attempts, "mode": "standard"},
            connect_timeout=o.connect_timeout_s, read_timeout=o.read_timeout_s,
            # We send SHA-256 ourselves; botocore's default CRC trailers (aws-chunked bodies)
            # are not understood by several S3-compatible servers.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        return boto3.client("s3", endpoint_url=endpoint_url, config=config)

    # -- helpers ---------------------------------------------------------------------------

    def _k(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _where(self, key: str) -> str:
        return f"{self.url}/{key}"

    def _retry(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn`` until it succeeds, retrying transient errors with backoff."""
        o = self.options
        for attempt in range(1, o.attempts + 1):
            try:
                return fn()
            except Exception as exc:
                if not _is_retryable(exc) or attempt == o.attempts:
                    raise
                delay = random.uniform(0, min(o.backoff_max_s, o.backoff_s * 2 ** (attempt - 1)))
                log.warning("%s failed (%s), retry %d/%d in %.2fs", what, exc, attempt,
                            o.attempts - 1, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _storage_error(self, what: str, exc: Exception) -> StorageError:
        code = _error_code(exc)
        hint = {
            "NoSuchBucket": "create the bucket or fix the store URL",
            "AccessDenied": "check the credentials (AWS_PROFILE / AWS_ACCESS_KEY_ID) and the "
                            "bucket policy",
            "InvalidAccessKeyId": "check the credentials in the AWS credential chain",
            "SignatureDoesNotMatch": "check the secret key and the region",
        }.get(code, "check the endpoint and try again")
        return StorageError(f"{what} failed: {exc} ({hint})")

    # -- ObjectStore ------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            r = self._retry(f"HEAD {self._where(key)}", lambda: self.client.head_object(
                Bucket=self.bucket, Key=self._k(key), ChecksumMode="ENABLED"))
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._storage_error(f"HEAD {self._where(key)}", exc) from exc
        except Exception as exc:
            raise self._storage_error(f"HEAD {self._where(key)}", exc) from exc
        meta = {k: unquote(v) for k, v in (r.get("Metadata") or {}).items()}
        sha = meta.pop("sha256", None)
        return ObjectInfo(key=key, size=int(r.get("ContentLength", 0)), sha256=sha,
                          content_type=r.get("ContentType") or guess_content_type(key),
                          metadata=meta, store_checksum=r.get("ChecksumSHA256"))

    def put_file(self, key, path, *, content_type=None, cache_control=None, metadata=None):
        src = Path(path)
        if not src.is_file():
            raise StorageError(f"cannot store {src}: no such file")
        check_key(key)
        size = src.stat().st_size
        digest = sha256_file(src)
        current = self.head(key)
        if current is not None and current.sha256 == digest and current.size == size:
            return PutResult(key, digest, size, uploaded=False)
        extra: dict[str, Any] = {
            "ContentType": content_type or guess_content_type(key),
            "Metadata": {**{str(k).lower(): _encode_meta(v) for k, v in (metadata or {}).items()},
                         "sha256": digest},
        }
        if cache_control:
            extra["CacheControl"] = cache_control
        if self.options.acl:
            extra["ACL"] = self.options.acl
        try:
            if size == 0:
                # Nothing to be partial about: a plain PUT of an empty body.
                self._retry(f"PUT {self._where(key)}", lambda: self.client.put_object(
                    Bucket=self.bucket, Key=self._k(key), Body=b"",
                    ChecksumSHA256=_b64(hashlib.sha256(b"").digest()), **extra))
                composite = None
            else:
                composite = self._multipart(key, src, size, digest, extra)
            self._verify_stored(key, size, digest, composite)
        except StorageError:
            raise
        except Exception as exc:
            raise self._storage_error(f"uploading {src} to {self._where(key)}", exc) from exc
        return PutResult(key, digest, size, uploaded=True)

    def _multipart(self, key: str, src: Path, size: int, digest: str, extra: dict) -> str:
        """Upload ``src`` in parts; returns the composite SHA-256 (base64) of the parts."""
        from botocore.exceptions import ClientError

        part_size = max(self.options.part_size, -(-size // MAX_PARTS))
        upload = self._retry(f"starting upload of {self._where(key)}", lambda: (
            self.client.create_multipart_upload(Bucket=self.bucket, Key=self._k(key),
                                                ChecksumAlgorithm="SHA256", **extra)))
        upload_id = upload["UploadId"]
        try:
            parts, part_digests = [], []
            with open(src, "rb") as f:
                number = 0
                while chunk := f.read(part_size):
                    number += 1
                    part = self._retry(f"part {number} of {self._where(key)}",
                                       lambda c=chunk, n=number: self._upload_part(
                                           key, upload_id, n, c))
                    parts.append(part)
                    part_digests.append(hashlib.sha256(chunk).digest())
            composite = _b64(hashlib.sha256(b"".join(part_digests)).digest())

            def complete() -> None:
                try:
                    self.client.complete_multipart_upload(
                        Bucket=self.bucket, Key=self._k(key), UploadId=upload_id,
                        MultipartUpload={"Parts": parts})
                except ClientError as exc:
                    # A completion whose response was lost and then retried finds no upload:
                    # the object is there if our bytes are (checked right below).
                    if _error_code(exc) != "NoSuchUpload":
                        raise
                    found = self.head(key)
                    if found is None or found.sha256 != digest or found.size != size:
                        raise
            self._retry(f"completing upload of {self._where(key)}", complete)
            return composite
        except BaseException:
            self._abort(key, upload_id)
            raise

    def _upload_part(self, key: str, upload_id: str, number: int, chunk: bytes) -> dict:
        checksum = _b64(hashlib.sha256(chunk).digest())
        r = self.client.upload_part(Bucket=self.bucket, Key=self._k(key), UploadId=upload_id,
                                    PartNumber=number, Body=chunk, ChecksumSHA256=checksum)
        etag = r["ETag"]
        if r.get("ChecksumSHA256") not in (None, checksum):
            raise ChecksumMismatch(f"part {number} of {self._where(key)}: the store computed "
                                   f"SHA-256 {r['ChecksumSHA256']}, we sent {checksum}")
        if self.options.check_etag and etag.strip('"') != hashlib.md5(chunk).hexdigest():
            raise ChecksumMismatch(f"part {number} of {self._where(key)}: the store received "
                                   f"other bytes than were sent (ETag {etag} is not their MD5)")
        return {"ETag": etag, "PartNumber": number, "ChecksumSHA256": checksum}

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._retry(f"aborting upload of {self._where(key)}", lambda: (
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._k(key),
                                                   UploadId=upload_id)))
        except Exception as exc:  # the parts are invisible; a lifecycle rule removes them
            log.warning("could not abort upload %s of %s (%s): the next publish of the run "
                        "aborts it (clean_up), or the bucket's AbortIncompleteMultipartUpload "
                        "lifecycle rule (docs/scale-out.md)", upload_id,
                        self._where(key), exc)

    def _verify_stored(self, key: str, size: int, digest: str, composite: str | None) -> None:
        info = self.head(key)
        problem = None
        if info is None:
            problem = "the object is not there after the upload"
        elif info.size != size:
            problem = f"the store holds {info.size} bytes, the file has {size}"
        elif info.sha256 != digest:
            problem = f"the stored sha256 metadata is {info.sha256}, the file's is {digest}"
        else:
            reported = info.store_checksum
            accepted = {_b64(bytes.fromhex(digest))} | ({composite} if composite else set())
            if reported and reported.split("-")[0] not in accepted:
                problem = f"the store reports SHA-256 {reported}, expected one of {accepted}"
        if problem:
            if info is not None:
                self.delete(key)
            raise ChecksumMismatch(f"{self._where(key)}: {problem}; the object was removed, "
                                   "publish again")

    def get_file(self, key, dest):
        from botocore.exceptions import ClientError

        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)

        def download() -> None:
            r = self.client.get_object(Bucket=self.bucket, Key=self._k(key))
            expected = unquote((r.get("Metadata") or {}).get("sha256", "")) or None
            length = int(r.get("ContentLength", -1))
            h, got = hashlib.sha256(), 0
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.",
                                       suffix=".partial")
            try:
                with os.fdopen(fd, "wb") as f:
                    for chunk in r["Body"].iter_chunks(1024 * 1024):
                        f.write(chunk)
                        h.update(chunk)
                        got += len(chunk)
                if length >= 0 and got != length:
                    raise ChecksumMismatch(f"{self._where(key)}: received {got} of {length} bytes")
                if expected and h.hexdigest() != expected:
                    raise ChecksumMismatch(f"{self._where(key)}: downloaded bytes have SHA-256 "
                                           f"{h.hexdigest()}, the object says {expected}")
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

        try:
            self._retry(f"GET {self._where(key)}", download)
        except ClientError as exc:
            if _error_code(exc) in ("404", "NoSuchKey", "NotFound"):
                raise ObjectMissing(f"{self.url}: no object {key!r}") from exc
            raise self._storage_error(f"GET {self._where(key)}", exc) from exc
        except StorageError:
            raise
        except Exception as exc:
            raise self._storage_error(f"GET {self._where(key)}", exc) from exc
        return dest

    def delete(self, key: str) -> None:
        try:
            self._retry(f"DELETE {self._where(key)}", lambda: self.client.delete_object(
                Bucket=self.bucket, Key=self._k(key)))
        except Exception as exc:
            raise self._storage_error(f"DELETE {self._where(key)}", exc) from exc

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects under ``prefix``. Listing returns no metadata: ``sha256`` is ``None`` here;
        :meth:`head` a key for it."""
        args = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        while True:
            try:
                page = self._retry(f"listing {self.url}/{prefix}",
                                   lambda a=dict(args): self.client.list_objects_v2(**a))
            except Exception as exc:
                raise self._storage_error(f"listing {self.url}/{prefix}", exc) from exc
            for obj in page.get("Contents", []):
                yield ObjectInfo(key=obj["Key"][len(self.prefix):], size=int(obj["Size"]),
                                 sha256=None, content_type=guess_content_type(obj["Key"]))
            if not page.get("IsTruncated"):
                return
            args["ContinuationToken"] = page["NextContinuationToken"]

    def presign(self, key: str, *, expires_s: int = 3600) -> str:
        if not 1 <= expires_s <= 7 * 24 * 3600:  # SigV4's limit
            raise ConfigError(f"presign expiry {expires_s}s: choose 1 s to 7 days (604800 s)")
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._k(key)},
            ExpiresIn=int(expires_s))

    # -- maintenance ------------------------------------------------------------------------

    def pending_uploads(self, prefix: str = "") -> list[dict]:
        """Multipart uploads under this store's prefix (and ``prefix`` inside it) that were
        neither completed nor aborted."""
        args = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        uploads: list[dict] = []
        while True:
            page = self._retry(f"listing uploads under {self.url}/{prefix}",
                               lambda a=dict(args): self.client.list_multipart_uploads(**a))
            uploads.extend(page.get("Uploads", []))
            if not page.get("IsTruncated"):
                return uploads
            args["KeyMarker"] = page.get("NextKeyMarker", "")
            args["UploadIdMarker"] = page.get("NextUploadIdMarker", "")

    def clean_up(self, prefix: str = "", *, older_than_s: float, keys=()) -> int:
        """Abort unfinished multipart uploads under ``prefix``: those started more than
        ``older_than_s`` ago, and any to one of ``keys`` (a publish passes the keys it just wrote:
        an upload the store started but whose answer was lost is invisible to the client that
        asked for it, and nobody else writes that run's keys). Returns how many."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
        ours = {self.prefix + check_key(k) for k in keys}
        aborted = 0
        try:
            for upload in self.pending_uploads(prefix):
                if upload["Initiated"] < cutoff or upload["Key"] in ours:
                    self._retry(f"aborting upload of {upload['Key']}", lambda u=upload: (
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=u["Key"],
                                                           UploadId=u["UploadId"])))
                    aborted += 1
        except Exception as exc:  # hygiene must not fail a publish; the lifecycle rule remains
            log.warning("%s: could not abort unfinished uploads under %r (%s); the bucket's "
                        "AbortIncompleteMultipartUpload rule removes them", self.url, prefix, exc)
        if aborted:
            log.info("%s: aborted %d unfinished upload(s) under %r", self.url, aborted, prefix)
        return aborted

    def abort_stale_uploads(self, older_than_s: float = 24 * 3600) -> int:
        """Abort uploads started more than ``older_than_s`` ago (crashed writers); returns how many."""
        return self.clean_up("", older_than_s=older_than_s)
