"""Who holds a claim or a temporary file, and whether that process is certainly gone.

A worker id is ``HOST:PID:TOKEN``. The token names the boot (``/proc/sys/kernel/random/boot_id``),
the PID namespace and the process's start time, so a reader on the same machine can tell a
process that died (or a PID that was reused since) from one that is merely slow. Claims of a
dead owner are taken over at once instead of after the heartbeat timeout; temporary files of a
dead writer are swept. Anything this cannot decide (another host, another container, another
boot, a system without ``/proc``, an id in another format) counts as alive: the timeouts still
apply there.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from pathlib import Path

_ID = re.compile(r"^(?P<host>[^:]+):(?P<pid>\d+):(?P<boot>[0-9a-f]{8})-(?P<ns>\d+)-(?P<start>\d+)$")
PROC = Path("/proc")


@functools.cache
def _boot_id() -> str | None:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8]
    except OSError:
        return None


def _pid_namespace(pid: int | str = "self") -> str | None:
    try:
        link = os.readlink(PROC / str(pid) / "ns" / "pid")  # "pid:[4026531836]"
    except OSError:
        return None
    return "".join(ch for ch in link if ch.isdigit()) or None


def _start_ticks(pid: int | str) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # after "pid (comm) "
    return fields[19] if len(fields) > 19 else None


@functools.cache
def _token(pid: int) -> str | None:
    boot, ns, start = _boot_id(), _pid_namespace(), _start_ticks(pid)
    return f"{boot}-{ns}-{start}" if boot and ns and start else None


def worker_id() -> str:
    """This process's id: ``HOST:PID:TOKEN`` (``HOST:PID`` where there is no ``/proc``)."""
    pid = os.getpid()
    token = _token(pid)
    host = socket.gethostname().replace(":", "-") or "localhost"
    return f"{host}:{pid}:{token}" if token else f"{host}:{pid}"


def is_dead(worker: str | None) -> bool:
    """True only when ``worker`` was a process on this machine, in this boot and PID namespace,
    that no longer runs (its PID is free, or belongs to a process started later)."""
    m = _ID.match(worker or "")
    if m is None or m["host"] != socket.gethostname().replace(":", "-"):
        return False
    if m["boot"] != _boot_id() or m["ns"] != _pid_namespace():
        return False
    started = _start_ticks(m["pid"])
    return started is None or started != m["start"]


def file_tag() -> str:
    """The worker id as it goes into a temporary file's name (``~`` delimits it there)."""
    return worker_id().replace("~", "-")


def owner_of(name: str) -> str | None:
    """The worker id inside a temporary file name made with :func:`file_tag`, if any."""
    m = re.search(r"~([^~/]+)~", name)
    return m.group(1) if m else None
