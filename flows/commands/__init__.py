"""The command line's subcommands, one module each (``register(app)``), and the rules they share.

Exit codes, the same for every command (README, "Command line")::

    0  success (for ``moderate``: the text or clip is allowed)
    1  an error: bad input, a missing file, a failed run; one line on stderr, never a traceback
    3  moderation decided "review": a person must look at it before it is used
    4  moderation decided "block", or stopped a run (blocked, or a reviewer rejected it)

Input rules: a path that must be a file is checked before anything runs (a folder, a device, a
missing file, a name that is too long or holds a NUL byte are refused, naming the option);
counts are 1 or more (0 and negative numbers are errors, only a missing option means "the
default"); numbers are finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import typer

from common.inputs import file_problem, output_problem, shown

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REVIEW = 3
EXIT_BLOCK = 4
MODERATION_EXIT = {"allow": EXIT_OK, "review": EXIT_REVIEW, "block": EXIT_BLOCK}


def input_file(what: str) -> Callable[[Path | None], Path | None]:
    """A typer callback: the option or argument names a readable regular file (``what`` it
    should be, for the message)."""
    def check(value: Path | None) -> Path | None:
        if value is not None:
            problem = file_problem(value)
            if problem:
                raise typer.BadParameter(f"{shown(value)}: {problem}; give {what}")
        return value
    return check


def output_file(what: str) -> Callable[[Path | None], Path | None]:
    """A typer callback: a file can be written at the path (it is not a folder)."""
    def check(value: Path | None) -> Path | None:
        if value is not None:
            problem = output_problem(value)
            if problem:
                raise typer.BadParameter(f"{shown(value)}: {problem}; give {what}")
        return value
    return check


def positive(value: float | None) -> float | None:
    """A typer callback: a finite number above zero (NaN and inf are not numbers of anything)."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} is not a positive finite number")
    return value
