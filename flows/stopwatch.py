"""Wall time per pipeline stage, recorded with the run (``runs.metrics['stages']``); each stage
that begins is also a progress event (the CLI's bars show it)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from tasks.report import ProgressEvent, emit


class Stopwatch:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        emit(ProgressEvent("stage", stage=stage))
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[stage] = round(self.seconds.get(stage, 0.0) + elapsed, 3)
