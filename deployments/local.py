"""The whole factory on one machine: Prefect server, deployments, workers and the ingest endpoint.

    LocalFactory(options, env)
        .start()   prefect server start (SQLite in prefect_home) -> /api/health
                   register deployments/prefect.yaml (deployments/register.py)
                   prefect worker start --pool gpu --limit <GPUs>   (renders)
                   prefect worker start --pool cpu --limit <slots>  (everything else)
                   python -m flows.ingest                            (catalog webhooks)
        .wait()    until a child exits on its own (an error) or Ctrl-C
        .stop()    workers and ingest first, then the server: SIGINT, then SIGTERM, then SIGKILL,
                   each to the child's own process group (a worker's flow-run processes too)

``content-factory serve`` runs this; the end-to-end test and ``bench/webhook_latency.py`` use it
with free loopback ports, a temporary PREFECT_HOME and short poll intervals.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from common.errors import ConfigError
from deployments.register import (
    CPU_POOL,
    GPU_POOL,
    PROJECT_ROOT,
    Registered,
    RegisterOptions,
    register,
)

STOP_GRACE_S = 8.0  # per signal step; a worker cancels its flow runs in about this time


@dataclass(frozen=True)
class LocalOptions:
    """Where everything listens and how often workers ask for work."""

    prefect_home: Path
    data_dir: Path
    host: str = "127.0.0.1"
    prefect_port: int = 4200
    ingest_port: int = 8787
    ingest_secret: str = ""
    ui: bool = True
    gpus: int = 1  # render slots on this machine (worker limit, pool limit, gpu-render tag)
    cpu_slots: int = 2
    # Prefect's worker default is 10 s; every triggered run waits up to this long for a worker.
    poll_s: float = 10.0
    code_dir: Path = PROJECT_ROOT
    pause_schedules: bool = False
    log_dir: Path | None = None  # children's output goes here; None: inherit the terminal
    ready_timeout_s: float = 90.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) == 0


def wait_http(url: str, timeout_s: float, child: subprocess.Popen | None = None,
              what: str = "service") -> float:
    """Poll ``url`` until it answers 200; seconds waited. Fails early when ``child`` dies."""
    start = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        if child is not None and child.poll() is not None:
            raise ConfigError(f"{what} exited with code {child.returncode} before answering "
                              f"{url}; see its log")
        if time.monotonic() - start > timeout_s:
            raise ConfigError(f"{what} did not answer {url} within {timeout_s:.0f} s")
        time.sleep(0.25)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path | None = None


@dataclass
class LocalFactory:
    options: LocalOptions
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    children: list[Child] = field(default_factory=list)
    registered: Registered | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://{self.options.host}:{self.options.prefect_port}/api"

    @property
    def ingest_url(self) -> str:
        return f"http://{self.options.host}:{self.options.ingest_port}"

    def child_env(self) -> dict[str, str]:
        o = self.options
        env = dict(self.env)
        env.update({
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(o.prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "true" if o.ui else "false",
            "PREFECT_WORKER_QUERY_SECONDS": str(o.poll_s),
            "PREFECT_WORKER_PREFETCH_SECONDS": str(max(o.poll_s, 1.0)),
            "PREFECT_RUNNER_POLL_FREQUENCY": str(max(1, int(o.poll_s))),
            # Flow runs change into the code folder: a relative data dir would move with them.
            "FACTORY_DATA_DIR": str(o.data_dir.resolve()),
            "FACTORY_INGEST_HOST": o.host,
            "FACTORY_INGEST_PORT": str(o.ingest_port),
        })
        if o.ingest_secret:
            env["FACTORY_INGEST_SECRET"] = o.ingest_secret
        env.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        return env

    def _spawn(self, name: str, argv: list[str]) -> Child:
        log = None
        out = None
        if self.options.log_dir is not None:
            self.options.log_dir.mkdir(parents=True, exist_ok=True)
            log = self.options.log_dir / f"{name}.log"
            out = open(log, "ab")
        # Its own process group: stop() signals the child and everything it started, and a
        # Ctrl-C in the terminal reaches only us, so we decide the order of shutdown.
        process = subprocess.Popen(argv, env=self.child_env(), cwd=str(PROJECT_ROOT),
                                   stdout=out, stderr=subprocess.STDOUT if out else None,
                                   start_new_session=True)
        if out is not None:
            out.close()
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def start(self) -> LocalFactory:
        """Start everything; on any failure, stop what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        o = self.options
        for port, what in ((o.prefect_port, "Prefect server"), (o.ingest_port, "ingest")):
            if port_in_use(o.host, port):
                raise ConfigError(f"port {port} on {o.host} is taken: stop what uses it or pick "
                                  f"another port for the {what}")
        o.prefect_home.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        server = self._spawn("server", [sys.executable, "-m", "prefect", "server", "start",
                                        "--host", o.host, "--port", str(o.prefect_port)])
        wait_http(f"{self.api_url}/health", o.ready_timeout_s, server.process, "Prefect server")
        self.timings["server_s"] = time.monotonic() - t0

        t0 = time.monotonic()
        self.registered = register(self.api_url, RegisterOptions(
            code_dir=o.code_dir, gpu_slots=o.gpus, pause_schedules=o.pause_schedules))
        self.timings["register_s"] = time.monotonic() - t0

        t0 = time.monotonic()
        worker = [sys.executable, "-m", "prefect", "worker", "start", "--type", "process"]
        host = socket.gethostname()
        self._spawn("worker-gpu", worker + ["--pool", GPU_POOL, "--limit", str(o.gpus),
                                            "--name", f"{GPU_POOL}-{host}"])
        self._spawn("worker-cpu", worker + ["--pool", CPU_POOL, "--limit", str(o.cpu_slots),
                                            "--name", f"{CPU_POOL}-{host}"])
        ingest = self._spawn("ingest", [sys.executable, "-m", "flows.ingest"])
        wait_http(f"{self.ingest_url}/health", o.ready_timeout_s, ingest.process, "ingest")
        self.timings["ingest_s"] = time.monotonic() - t0

    def failed_child(self) -> Child | None:
        return next((c for c in self.children if c.process.poll() is not None), None)

    def wait(self) -> Child:
        """Block until a child exits; returns it. Ctrl-C raises KeyboardInterrupt as usual."""
        while True:
            child = self.failed_child()
            if child is not None:
                return child
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop workers and ingest, then the server; every child is gone when this returns."""
        others = [c for c in self.children if c.name != "server"]
        servers = [c for c in self.children if c.name == "server"]
        for group in (others, servers):
            _stop_group([c.process for c in group])
        self.children.clear()

    def __enter__(self) -> LocalFactory:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the group we created with start_new_session
    except (ProcessLookupError, PermissionError):
        pass


def _stop_group(processes: list[subprocess.Popen]) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in processes if p.poll() is None]
        if not alive:
            break
        for p in alive:
            _signal(p, sig)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(p.poll() is None for p in alive):
            time.sleep(0.1)
    for p in processes:
        # Reap, and make sure no grandchild outlived its parent in the group.
        if p.poll() is None:
            p.wait(timeout=5)
        _signal(p, signal.SIGKILL)
