"""What the CLI shows while a flow runs: the stage, each shot's render step and its ETA.

    with RunDisplay("running spring-launch") as display:   # Rich bars on a terminal,
        campaign(...)                                       # plain lines otherwise
    on_progress = display.steps("render")                  # for code that renders directly

It listens to :mod:`tasks.report`'s progress events (a stage began, a render advanced), which
the flow's stages and render tasks emit in this process. Plain lines go to stderr unwrapped, one
per stage and at every quarter of a render, so a log file or CI output stays short.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from tasks.report import ProgressEvent, listening

QUARTERS = (25, 50, 75, 100)


@dataclass
class _Shot:
    started: float
    total: int = 0
    done: int = 0
    said: set[int] = field(default_factory=set)  # quarters already printed (plain lines)
    task: TaskID | None = None


def eta_seconds(started: float, done: int, total: int, now: float) -> float | None:
    """Seconds left at the rate so far, or None before the first step."""
    if done <= 0 or total <= done:
        return None if done <= 0 else 0.0
    return (now - started) / done * (total - done)


class RunDisplay:
    """Progress of one command's flow run on stderr: Rich bars when stderr is a terminal,
    plain lines when it is not (``plain`` forces either)."""

    def __init__(self, title: str, *, plain: bool | None = None, stream=None) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.plain = (not self.stream.isatty()) if plain is None else plain
        self.shots: dict[str, _Shot] = {}
        self.stage = ""
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._stage_task: TaskID | None = None
        self._listening = None

    # Setting up ---------------------------------------------------------------------------------

    def __enter__(self) -> RunDisplay:
        if self.plain:
            self._line(self.title)
        else:
            self._progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), TimeElapsedColumn(),
                console=Console(file=self.stream), transient=False)
            self._progress.start()
            self._stage_task = self._progress.add_task(f"{self.title}: starting", total=None)
        self._listening = listening(self.on_event)
        self._listening.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._listening.__exit__(*exc)
        if self._progress is not None:
            if self._stage_task is not None:
                self._progress.update(self._stage_task, description=f"{self.title}: "
                                      f"{'done' if exc[0] is None else 'stopped'}",
                                      total=1, completed=1)
            self._progress.stop()

    def steps(self, shot: str):
        """An ``on_progress(done, total)`` that shows as ``shot``'s bar."""
        def on_progress(done: int, total: int) -> None:
            self.on_event(ProgressEvent("step", stage="render", shot=shot, done=done,
                                        total=total))
        return on_progress

    # Events -------------------------------------------------------------------------------------

    def on_event(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.kind == "stage":
                self._on_stage(event.stage)
            elif event.kind == "step":
                self._on_step(event)
            elif event.kind == "done":
                self._on_done(event)

    def _on_stage(self, stage: str) -> None:
        self.stage = stage
        if self.plain:
            self._line(f"stage {stage}")
        else:
            self._progress.update(self._stage_task, description=f"{self.title}: stage {stage}")

    def _shot(self, name: str) -> _Shot:
        shot = self.shots.get(name)
        if shot is None:
            shot = self.shots[name] = _Shot(started=time.monotonic())
            if not self.plain:
                shot.task = self._progress.add_task(f"  render shot {name}: step", total=None)
        return shot

    def _on_step(self, event: ProgressEvent) -> None:
        shot = self._shot(event.shot)
        shot.total, shot.done = event.total, event.done
        if not self.plain:
            self._progress.update(shot.task, total=event.total, completed=event.done)
            return
        percent = 100 * event.done // max(event.total, 1)
        due = [q for q in QUARTERS if percent >= q and q not in shot.said]
        if not due:
            return
        shot.said.update(due)
        eta = eta_seconds(shot.started, event.done, event.total, time.monotonic())
        self._line(f"render shot {event.shot}: step {event.done}/{event.total} ({percent}%)"
                   + (f", ETA {eta:.0f} s" if eta else ""))

    def _on_done(self, event: ProgressEvent) -> None:
        shot = self._shot(event.shot)
        if self.plain:
            if event.note != "rendered" or 100 not in shot.said:
                self._line(f"render shot {event.shot}: {event.note}")
            return
        total = shot.total or 1
        self._progress.update(shot.task, total=total, completed=total,
                              description=f"  render shot {event.shot}: {event.note}")

    def _line(self, text: str) -> None:
        # Written as is: never wrapped, whatever the width (a URL stays one piece).
        self.stream.write(text + "\n")
        self.stream.flush()
