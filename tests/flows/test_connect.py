"""One Prefect per machine (flows/connect.py), and typos that fail before any Prefect starts:
measured on the real command in a subprocess, as a person at a terminal would see it."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flows import connect

ROOT = Path(__file__).resolve().parents[2]


def test_an_announced_serve_is_used_and_a_dead_one_is_ignored(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert connect.use_local_prefect(tmp_path) is None

    connect.announce(tmp_path, "http://127.0.0.1:4321/api", ui_url="http://127.0.0.1:4321")
    assert connect.use_local_prefect(tmp_path) == "http://127.0.0.1:4321/api"
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4321/api"

    monkeypatch.delenv("PREFECT_API_URL")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    connect.announce(tmp_path, "http://127.0.0.1:4322/api", pid=dead.pid)
    assert connect.use_local_prefect(tmp_path) is None
    assert not connect.announce_path(tmp_path).exists()  # a stale announcement is cleaned up


def test_prefect_api_url_wins_and_withdraw_removes_only_its_own(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    connect.announce(tmp_path, "http://127.0.0.1:4321/api")
    assert connect.use_local_prefect(tmp_path) == "http://elsewhere:4200/api"
    connect.withdraw(tmp_path, pid=os.getpid() + 1)
    assert connect.announce_path(tmp_path).exists()
    connect.withdraw(tmp_path)
    assert not connect.announce_path(tmp_path).exists()


def test_a_commands_temporary_server_serves_reviews_but_never_flows(tmp_path, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    connect.announce(tmp_path, "http://127.0.0.1:8123/api", kind="cli")
    assert connect.use_local_prefect(tmp_path) is None
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert connect.use_local_prefect(tmp_path, any_server=True) == "http://127.0.0.1:8123/api"
    connect.withdraw(tmp_path, kind="cli")
    assert connect.live_apis(tmp_path) == []


def cli(tmp_path: Path, *args: str) -> tuple[int, str, float, float]:
    """Exit code, output, wall seconds and CPU seconds (user + system) of the command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACTORY_", "PREFECT_API"))}
    env.update({"FACTORY_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT),
                "PREFECT_HOME": str(tmp_path / "prefect")})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "flows.cli", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done.returncode, done.stdout + done.stderr, wall, cpu


@pytest.mark.parametrize("args, fragment", [
    (["localize", "spring-launch-2026-typo", "ja"], "no run 'spring-launch-2026-typo'"),
    (["review", "approve", "4711"], "no review with id 4711"),
    (["review", "reject", "no-such-clip"], "no review for subject 'no-such-clip'"),
    (["run", "campaing.yaml"], "campaing.yaml: no such file"),
    (["product", "tea-01.json"], "tea-01.json: no such file"),
])
def test_a_typo_fails_fast_in_one_line_without_prefect(tmp_path, args, fragment):
    code, output, wall, cpu = cli(tmp_path, *args)
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and fragment in lines[0], output
    assert "Traceback" not in output and "temporary server" not in output
    # About 1 s on an idle machine. The bound is on the command's own CPU time, which other
    # load cannot stretch (a Prefect server start costs 10-30 s of it); the wall-clock bound
    # only catches waiting, with room for a busy test machine.
    assert cpu < 5, f"{args} took {cpu:.1f} s of CPU"
    assert wall < 15, f"{args} took {wall:.1f} s"
    assert not list((tmp_path / "data").glob("prefect-api*.json"))


def test_review_approve_with_no_prefect_running_records_it_in_one_clean_line(tmp_path):
    from storage.db import open_database
    from storage.records import latest_decision, record_decision

    db = open_database(f"sqlite:///{tmp_path / 'data' / 'factory.db'}")
    with db.session() as s:
        review = record_decision(s, subject_kind="render", subject_id="master-abc",
                                 decision="review", reasons=["weapon: 0.61"],
                                 detector="nudenet", flow_run_id=str(uuid.uuid4())).id
    code, output, _, _ = cli(tmp_path, "review", "approve", str(review), "--reviewer", "kim")
    assert code == 0, output
    assert "approved by kim" in output and "no Prefect server runs on this machine" in output
    assert "Traceback" not in output and "sqlalchemy" not in output.lower()
    assert len([line for line in output.splitlines() if line.strip()]) == 1
    with db.session() as s:
        assert latest_decision(s, "render", "master-abc").decision == "approved"


def test_a_flow_command_uses_the_announced_serve_and_says_where_its_runs_show(
        factory_env, monkeypatch, capfd):
    from flows.cli import _quiet_prefect

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    connect.announce(factory_env, "http://127.0.0.1:4999/api", ui_url="http://127.0.0.1:4999")
    _quiet_prefect()
    assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:4999/api"
    monkeypatch.delenv("PREFECT_API_URL")
    assert capfd.readouterr().err.strip() == (
        "Prefect: http://127.0.0.1:4999/api (runs show in the UI at http://127.0.0.1:4999)")
