"""`content-factory serve` starts everything and Ctrl-C (SIGINT) stops every process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deployments.local import free_port

pytestmark = pytest.mark.slow


def children_of(pid: int) -> set[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_serve_runs_the_factory_and_sigint_stops_all_of_it(tmp_path):
    port, ingest_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "PREFECT_"))}
    env.update({"FACTORY_DATA_DIR": str(tmp_path / "data"), "FACTORY_BACKEND": "animatic",
                "PREFECT_UI_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"})
    serve = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--port", str(port),
         "--ingest-port", str(ingest_port), "--poll", "1", "--logs", str(tmp_path / "logs")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started: set[int] = set()
    try:
        output = []
        deadline = time.monotonic() + 150
        for line in serve.stdout:
            output.append(line)
            if "Ctrl-C stops everything" in line or time.monotonic() > deadline:
                break
        text = "".join(output)
        assert "ready" in text, text
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=10).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{ingest_port}/health", timeout=10).json() == \
            {"status": "ok"}
        # The secret made for this machine is kept private in the data folder.
        secret = tmp_path / "data" / "ingest.secret"
        assert secret.stat().st_mode & 0o077 == 0
        started = children_of(serve.pid)
        assert len(started) == 4  # server, gpu worker, cpu worker, ingest

        serve.send_signal(signal.SIGINT)
        rest, _ = serve.communicate(timeout=60)
        assert serve.returncode == 0, rest
        assert "stopped" in rest
        assert not [pid for pid in started if alive(pid)]
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
        for pid in started:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
