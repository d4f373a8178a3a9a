"""Product photos named by URL: fetched once, checked, and kept with the run.

    fetch_image(source, folder, limits=ImageLimits(), ...) -> FetchedImage

``source`` is an ``https://`` (or ``http://``) URL, an ``s3://BUCKET/KEY`` object (the factory's
S3 endpoint and credentials), a ``file://`` URL or a plain path. Whatever it is, the photo:

- is at most ``limits.max_bytes`` long (a declared length is checked before any byte is read,
  the bytes while they arrive);
- is a PNG, JPEG or WebP, by its bytes (not by its name or the server's Content-Type), of at
  most ``limits.max_pixels`` pixels (Pillow reads the header only);
- lands in ``folder`` under its SHA-256 (``<sha256[:16]>.<ext>``): the same photo twice is one
  file, and a run's photo never changes under it.

Failures are :class:`StorageError` (cannot be fetched) or :class:`SpecError` naming ``image``
(not a photo, too large), each with the URL and what to do.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from common.errors import SpecError, StorageError, echo
from common.inputs import file_problem

SCHEMES = ("https", "http", "s3", "file")
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
CHUNK = 256 * 1024


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 20 * 1024 * 1024   # a 4K product photo as JPEG is 2-8 MB
    max_pixels: int = 50_000_000        # decoded size stays under ~150 MB of RGB
    timeout_s: float = 30.0


@dataclass(frozen=True)
class FetchedImage:
    path: Path
    source: str
    sha256: str
    size: int
    format: str


def is_url(value: str) -> bool:
    return "://" in value


def url_problem(value: str) -> str | None:
    """Why ``value`` is not an image URL the factory fetches (None when it is one)."""
    parsed = urlparse(value)
    if parsed.scheme.lower() not in SCHEMES:
        return (f"{echo(value)}: use an https://, s3:// or file:// URL, or a path "
                f"(not {parsed.scheme or 'no'}://)")
    if parsed.scheme.lower() != "file" and not parsed.netloc:
        return f"{echo(value)}: the URL names no host or bucket"
    if not parsed.path.strip("/"):
        return f"{echo(value)}: the URL names no file"
    return None


def fetch_image(source: str, folder: Path, limits: ImageLimits = ImageLimits(), *,
                s3_endpoint_url: str | None = None, s3_region: str | None = None
                ) -> FetchedImage:
    """Fetch, check and keep the photo at ``source`` in ``folder`` (module doc)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=folder, prefix=".fetch-", suffix=".partial")
    os.close(fd)
    tmp = Path(name)
    try:
        scheme = urlparse(source).scheme.lower() if is_url(source) else "file"
        problem = url_problem(source) if is_url(source) else None
        if problem:
            raise SpecError(problem, field="image")
        if scheme in ("http", "https"):
            _fetch_http(source, tmp, limits)
        elif scheme == "s3":
            _fetch_s3(source, tmp, limits, s3_endpoint_url, s3_region)
        else:
            _copy_local(source, tmp, limits)
        return _keep(tmp, source, folder, limits)
    finally:
        tmp.unlink(missing_ok=True)


def _too_large(source: str, size: int | str, limits: ImageLimits) -> SpecError:
    return SpecError(f"{echo(source)} is {size} bytes, over the limit of {limits.max_bytes} "
                     "bytes for a product photo; send a smaller one", field="image")


def _fetch_http(url: str, dest: Path, limits: ImageLimits) -> None:
    import httpx

    try:
        with httpx.stream("GET", url, timeout=limits.timeout_s, follow_redirects=True) as r:
            if r.status_code != 200:
                raise StorageError(f"{echo(url)}: the server answered {r.status_code}; check "
                                   "the image URL")
            declared = r.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                raise _too_large(url, declared, limits)
            got = 0
            with open(dest, "wb") as f:
                for chunk in r.iter_bytes(CHUNK):
                    got += len(chunk)
                    if got > limits.max_bytes:
                        raise _too_large(url, f"more than {limits.max_bytes}", limits)
                    f.write(chunk)
    except httpx.HTTPError as exc:
        raise StorageError(f"{echo(url)} cannot be fetched ({type(exc).__name__}: {exc})") \
            from None


def _fetch_s3(url: str, dest: Path, limits: ImageLimits, endpoint_url: str | None,
              region: str | None) -> None:
    from storage.s3 import S3Store

    parsed = urlparse(url)
    store = S3Store(bucket=parsed.netloc, prefix="", endpoint_url=endpoint_url, region=region)
    key = unquote(parsed.path.lstrip("/"))
    info = store.head(key)
    if info is None:
        raise StorageError(f"{echo(url)}: no such object; check the bucket and key")
    if info.size > limits.max_bytes:
        raise _too_large(url, info.size, limits)
    store.get_file(key, dest)
    if dest.stat().st_size > limits.max_bytes:  # the object changed between HEAD and GET
        raise _too_large(url, dest.stat().st_size, limits)


def _copy_local(source: str, dest: Path, limits: ImageLimits) -> None:
    path = Path(unquote(urlparse(source).path)) if is_url(source) else Path(source)
    problem = file_problem(path)
    if problem:
        raise SpecError(f"image file {echo(str(path))}: {problem}", field="image")
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise _too_large(source, size, limits)
    with open(path, "rb") as src, open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)


def _keep(tmp: Path, source: str, folder: Path, limits: ImageLimits) -> FetchedImage:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(tmp) as image:
            fmt, (w, h) = image.format, image.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise SpecError(f"{echo(source)} is not a PNG, JPEG or WebP image", field="image") \
            from None
    if fmt not in FORMATS:
        raise SpecError(f"{echo(source)} is a {fmt} image; send a PNG, JPEG or WebP",
                        field="image")
    if w * h > limits.max_pixels:
        raise SpecError(f"{echo(source)} is {w}x{h} pixels, over the limit of "
                        f"{limits.max_pixels:,}; send a smaller photo", field="image")
    digest = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    sha = digest.hexdigest()
    path = folder / f"{sha[:16]}{FORMATS[fmt]}"
    size = tmp.stat().st_size
    os.replace(tmp, path)
    return FetchedImage(path=path, source=source, sha256=sha, size=size, format=fmt)
