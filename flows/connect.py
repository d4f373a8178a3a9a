"""One Prefect for everything on a machine: which Prefect API a command talks to.

``content-factory serve`` announces its API in ``DATA_DIR/prefect-api.json`` (removed when it
stops); a command that runs flows (run, product, localize, review approve|reject) then uses

1. ``PREFECT_API_URL`` when it is set;
2. else the API announced by a live ``serve`` on this machine: its runs show in that UI, and no
   throwaway server starts;
3. else Prefect's temporary server, started by that command, which it announces in turn in
   ``DATA_DIR/prefect-api-cli-<pid>.json`` while it runs. Every temporary server on the machine
   keeps its state in the same database (``PREFECT_HOME``), so ``review approve|reject`` from
   another terminal can resume a run that waits for review through any live one. A command
   never runs its flows on another command's temporary server: that one stops when its command
   ends.

An announcement whose process is gone (a ``kill -9``, a crash) is ignored and removed. This
module must not import Prefect: it runs before Prefect reads its settings from the environment.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ANNOUNCE_FILE = "prefect-api.json"
ENV = "PREFECT_API_URL"


@dataclass(frozen=True)
class Announcement:
    """A Prefect API a process on this machine serves: ``serve``'s, or a command's temporary one."""

    api_url: str
    pid: int
    kind: str = "serve"   # serve | cli
    ui_url: str = ""


def announce_path(data_dir: Path, kind: str = "serve", pid: int | None = None) -> Path:
    name = ANNOUNCE_FILE if kind == "serve" else f"prefect-api-cli-{pid or os.getpid()}.json"
    return Path(data_dir).resolve() / name


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def announce(data_dir: Path, api_url: str, *, kind: str = "serve", ui_url: str = "",
             pid: int | None = None) -> Path:
    """Write the announcement (atomically: a reader never sees half a file)."""
    path = announce_path(data_dir, kind, pid)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(asdict(Announcement(api_url, pid or os.getpid(), kind, ui_url))))
    os.replace(tmp, path)
    return path


def withdraw(data_dir: Path, *, kind: str = "serve", pid: int | None = None) -> None:
    """Remove the announcement, if it is this process's (``pid``) one."""
    path = announce_path(data_dir, kind, pid)
    current = _read(path, drop_dead=False)
    if current is not None and current.pid == (pid or os.getpid()):
        path.unlink(missing_ok=True)


def read_announcement(data_dir: Path, *, drop_dead: bool = True) -> Announcement | None:
    """The live ``serve`` announcement in ``data_dir``; None when there is none, it cannot be
    read, or its process is gone (then it is removed)."""
    return _read(announce_path(data_dir), drop_dead=drop_dead)


def live_apis(data_dir: Path) -> list[Announcement]:
    """Every live announcement in ``data_dir``: ``serve``'s first, then commands' temporary
    servers, newest first."""
    found = [a for a in [read_announcement(data_dir)] if a is not None]
    folder = Path(data_dir).resolve()
    cli = sorted(folder.glob("prefect-api-cli-*.json"), key=_mtime, reverse=True) \
        if folder.is_dir() else []
    return found + [a for a in (_read(p) for p in cli) if a is not None]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _read(path: Path, *, drop_dead: bool = True) -> Announcement | None:
    try:
        data = json.loads(path.read_text())
        found = Announcement(api_url=str(data["api_url"]), pid=int(data["pid"]),
                             kind=str(data.get("kind", "serve")),
                             ui_url=str(data.get("ui_url", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if drop_dead and not pid_alive(found.pid):
        path.unlink(missing_ok=True)
        return None
    return found


def use_local_prefect(data_dir: Path | None = None, *, any_server: bool = False) -> str | None:
    """Point this process's Prefect at the machine's server; the API URL, or None when Prefect
    will start a temporary one. Call before anything imports Prefect.

    ``any_server``: a live command's temporary server will do too (for a short call such as
    resuming a paused run; never for running flows, which would die with that command).
    """
    if os.environ.get(ENV):
        return os.environ[ENV]
    if data_dir is None:
        from flows.settings import get_settings
        data_dir = get_settings().data_dir
    found = live_apis(data_dir) if any_server else [read_announcement(data_dir)]
    found = [a for a in found if a is not None]
    if not found:
        return None
    os.environ[ENV] = found[0].api_url
    return found[0].api_url


def start_announced_temporary_server(data_dir: Path) -> str:
    """Start Prefect's temporary server now (the one it would start on first use) and announce
    it until this process exits; its API URL."""
    import atexit

    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the instance Prefect's own ephemeral client uses
    server.start()
    announce(data_dir, server.api_url, kind="cli")
    atexit.register(withdraw, Path(data_dir), kind="cli", pid=os.getpid())
    return server.api_url
