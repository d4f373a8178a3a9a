"""A real S3 endpoint on loopback for tests, and a fault-injecting proxy to put in front of it.

``moto_s3`` (session): moto's S3 server on 127.0.0.1, a free port, fake credentials in the
environment (boto3 and child processes pick them up), stopped at the end of the session.
``s3_bucket``: a fresh bucket per test. ``fault_proxy``: a factory for :class:`FaultProxy`
instances, each stopped after its test.

Import these fixtures into a conftest with ``from tests.s3_fixtures import *``.
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

__all__ = ["Faults", "FaultProxy", "MotoS3", "moto_s3", "s3_bucket", "fault_proxy", "s3_client"]

# Hop-by-hop headers, and the ones this proxy recomputes because it re-frames bodies.
_SKIP_REQUEST = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "expect",
                 "content-length", "te", "upgrade"}
_SKIP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Faults:
    """What goes wrong, on which share of the requests ``match`` selects (seeded)."""

    error_rate: float = 0.0        # answer 500/503 without forwarding
    error_after_rate: float = 0.0  # forward, then answer 500: the store did it, the client can't tell
    drop_rate: float = 0.0         # close the connection without an answer (before/after forwarding)
    slow_rate: float = 0.0         # wait slow_s, then forward
    slow_s: float = 0.5
    corrupt_rate: float = 0.0      # flip one byte of the request body, then forward
    max_faults: int | None = None  # after this many, pass everything through
    match: Callable[[str, str], bool] | None = None  # (method, path?query) -> eligible
    seed: int = 0


@dataclass
class FaultProxy:
    """A threaded HTTP proxy on 127.0.0.1 that forwards to ``upstream`` and injects faults."""

    upstream: tuple[str, int]
    faults: Faults = field(default_factory=Faults)
    lifetime_s: float = 120.0  # stops itself after this even if a test forgets to
    injected: Counter = field(default_factory=Counter)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    headers: list[dict[str, str]] = field(default_factory=list)    # per request, lower-case names
    faulted: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, kind)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _handle(self) -> None:
                proxy._serve(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # clients that gave up (timeouts) and dropped sockets are the point here

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(self.lifetime_s, self.stop)
        self._timer.daemon = True

    def start(self) -> FaultProxy:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def _choose(self, method: str, path: str, headers: dict[str, str]) -> str | None:
        f = self.faults
        with self._lock:
            self.requests.append((method, path))
            self.headers.append(headers)
            if f.match is not None and not f.match(method, path):
                return None
            if f.max_faults is not None and sum(self.injected.values()) >= f.max_faults:
                return None
            x = self._rng.random()
            for kind, rate in (("error", f.error_rate), ("error_after", f.error_after_rate),
                               ("drop", f.drop_rate), ("slow", f.slow_rate),
                               ("corrupt", f.corrupt_rate)):
                if x < rate:
                    if kind == "drop":
                        kind = "drop_before" if self._rng.random() < 0.5 else "drop_after"
                    self.injected[kind] += 1
                    self.faulted.append((method, path, kind))
                    return kind
                x -= rate
            return None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        kind = self._choose(h.command, h.path, {k.lower(): v for k, v in h.headers.items()})
        if kind == "drop_before":
            return _drop(h)
        if kind == "error":
            code = self._rng.choice([500, 503])
            err = "InternalError" if code == 500 else "SlowDown"
            return _reply(h, code, [("Content-Type", "application/xml")],
                          f"<Error><Code>{err}</Code><Message>injected</Message></Error>".encode())
        if kind == "slow":
            time.sleep(self.faults.slow_s)
        if kind == "corrupt" and body:
            i = len(body) // 2
            body = body[:i] + bytes([body[i] ^ 0xFF]) + body[i + 1:]
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _SKIP_REQUEST}
        if body or h.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            conn.request(h.command, h.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in _SKIP_RESPONSE]
            length = resp.getheader("Content-Length") if h.command == "HEAD" else None
        finally:
            conn.close()
        if kind == "drop_after":
            return _drop(h)
        if kind == "error_after":
            return _reply(h, 500, [("Content-Type", "application/xml")],
                          b"<Error><Code>InternalError</Code><Message>injected</Message></Error>")
        _reply(h, resp.status, out, data, head_length=length)


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    n = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(n) if n else b""


def _reply(h: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes,
           head_length: str | None = None) -> None:
    h.send_response(status)
    for k, v in headers:
        h.send_header(k, v)
    h.send_header("Content-Length", head_length if head_length is not None else str(len(body)))
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)


def _drop(h: BaseHTTPRequestHandler) -> None:
    h.close_connection = True
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


@dataclass
class MotoS3:
    endpoint_url: str
    host: str
    port: int

    def client(self, endpoint_url: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=endpoint_url or self.endpoint_url,
                            region_name="us-east-1",
                            config=Config(request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required"))


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port  # port 0: the OS picked a free one
    try:
        yield MotoS3(f"http://127.0.0.1:{port}", "127.0.0.1", port)
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def s3_client(moto_s3: MotoS3):
    return moto_s3.client()


@pytest.fixture
def s3_bucket(moto_s3: MotoS3, s3_client) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def fault_proxy(moto_s3: MotoS3) -> Iterator[Callable[..., FaultProxy]]:
    started: list[FaultProxy] = []

    def make(**faults) -> FaultProxy:
        proxy = FaultProxy((moto_s3.host, moto_s3.port), Faults(**faults)).start()
        started.append(proxy)
        return proxy

    yield make
    for proxy in started:
        proxy.stop()
