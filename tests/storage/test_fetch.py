"""Product photos by URL (storage/fetch.py): https from a real HTTP server on loopback, s3 from
moto, file:// and paths; size, type and pixel limits; kept under their SHA-256."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.errors import SpecError, StorageError
from storage.fetch import ImageLimits, fetch_image, url_problem


def png_bytes(width: int = 48, height: int = 32, fmt: str = "PNG") -> bytes:
    rgb = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def site(tmp_path) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on loopback serving ``tmp_path/site``."""
    root = tmp_path / "site"
    root.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_an_http_photo_is_fetched_checked_and_kept_under_its_hash(site, tmp_path):
    base, root = site
    data = png_bytes()
    (root / "tea.png").write_bytes(data)
    got = fetch_image(f"{base}/tea.png", tmp_path / "images")
    assert got.path.read_bytes() == data and got.format == "PNG"
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.path.name == f"{got.sha256[:16]}.png"
    again = fetch_image(f"{base}/tea.png", tmp_path / "images")
    assert again.path == got.path
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [got.path.name]


def test_http_refusals_name_the_image_and_leave_nothing_behind(site, tmp_path):
    base, root = site
    (root / "page.png").write_text("<html>not a photo</html>")
    (root / "big.jpg").write_bytes(png_bytes(400, 400, "JPEG"))
    (root / "anim.gif").write_bytes(png_bytes(8, 8, "GIF"))
    folder = tmp_path / "images"
    with pytest.raises(SpecError, match="not a PNG, JPEG or WebP") as caught:
        fetch_image(f"{base}/page.png", folder)
    assert caught.value.field == "image"
    with pytest.raises(SpecError, match="over the limit of 1000 bytes"):
        fetch_image(f"{base}/big.jpg", folder, ImageLimits(max_bytes=1000))
    with pytest.raises(SpecError, match="over the limit of 10,000"):
        fetch_image(f"{base}/big.jpg", folder, ImageLimits(max_pixels=10_000))
    with pytest.raises(SpecError, match="GIF image; send a PNG, JPEG or WebP"):
        fetch_image(f"{base}/anim.gif", folder)
    with pytest.raises(StorageError, match="answered 404"):
        fetch_image(f"{base}/missing.png", folder)
    assert list(folder.iterdir()) == []  # no partial files


def test_an_s3_photo_is_fetched_from_the_factory_endpoint(moto_s3, s3_client, s3_bucket,
                                                          tmp_path):
    data = png_bytes(fmt="WEBP")
    s3_client.put_object(Bucket=s3_bucket, Key="catalog/tea 1.webp", Body=data)
    got = fetch_image(f"s3://{s3_bucket}/catalog/tea%201.webp", tmp_path,
                      s3_endpoint_url=moto_s3.endpoint_url)
    assert got.path.read_bytes() == data and got.path.suffix == ".webp"
    with pytest.raises(SpecError, match="over the limit"):
        fetch_image(f"s3://{s3_bucket}/catalog/tea%201.webp", tmp_path,
                    ImageLimits(max_bytes=10), s3_endpoint_url=moto_s3.endpoint_url)
    with pytest.raises(StorageError, match="no such object"):
        fetch_image(f"s3://{s3_bucket}/nope.png", tmp_path, s3_endpoint_url=moto_s3.endpoint_url)


def test_file_urls_and_paths(tmp_path):
    photo = tmp_path / "tea.png"
    photo.write_bytes(png_bytes())
    assert fetch_image(f"file://{photo}", tmp_path / "a").path.read_bytes() == photo.read_bytes()
    assert fetch_image(str(photo), tmp_path / "b").format == "PNG"
    with pytest.raises(SpecError, match="no such file"):
        fetch_image(f"file://{tmp_path}/gone.png", tmp_path / "c")


@pytest.mark.parametrize("url, fragment", [
    ("ftp://host/a.png", "use an https://, s3:// or file:// URL"),
    ("https:///a.png", "names no host"),
    ("s3://bucket", "names no file"),
])
def test_urls_the_factory_does_not_fetch(url, fragment):
    assert fragment in url_problem(url)
