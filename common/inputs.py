"""Untrusted input, checked before it is used: file names, text files and JSON documents.

The spec loader, the HTTP endpoints and the command line share these rules, so a file name, a
spec, a script or a request body is refused the same way everywhere, with a typed error, and
nothing a person or a client sends can crash or hang a parser:

- a path is at most ``MAX_PATH_BYTES`` long (each part at most ``MAX_NAME_BYTES``), holds no NUL
  byte and is valid UTF-8; it names a regular file, not a folder, device or pipe;
- a text file is read up to a byte limit and decoded as strict UTF-8 (an error names the byte
  offset and the line); it holds no control characters other than tab and line breaks;
- a JSON document nests at most ``MAX_DEPTH`` levels, measured before it is parsed (the parser
  recurses); its numbers are finite (no ``NaN``, ``Infinity`` or ``1e400``); its strings hold
  no NUL byte and no unpaired surrogate (``"\\udcff"``), which nothing downstream can encode.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.errors import SpecError, echo, field_path, one_line

MAX_PATH_BYTES = 4096   # Linux PATH_MAX
MAX_NAME_BYTES = 255    # Linux NAME_MAX: one part of a path
MAX_DEPTH = 32          # mappings and lists inside each other; specs and records need about 5

# Control characters a text may not hold (tab, line feed and carriage return may), and unpaired
# surrogates, which only escapes ("\udcff" in YAML or JSON) can produce.
_BAD_CHAR = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_JSON_TOKEN = re.compile(r'["\\\[\]{}]')


def shown(path: str | os.PathLike) -> str:
    """A path as an error message shows it: one printable line, long ones cut."""
    return one_line(os.fspath(path), 160)


def path_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot name a file on this system (None when it can), without touching it."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text:
        return "the path is empty"
    if "\x00" in text:
        return "the path contains a NUL byte"
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        return "the path is not valid UTF-8 (rename the file)"
    if len(raw) > MAX_PATH_BYTES:
        return f"the path is {len(raw)} bytes long, over the limit of {MAX_PATH_BYTES}"
    longest = max(len(part) for part in raw.split(b"/"))
    if longest > MAX_NAME_BYTES:
        return f"a part of the path is {longest} bytes long, over the limit of {MAX_NAME_BYTES}"
    return None


def file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a readable regular file (None when it is one)."""
    problem = path_problem(path)
    if problem:
        return problem
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except NotADirectoryError:
        return "no such file (a part of the path is not a folder)"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return f"cannot be opened ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file (a device, pipe or socket)"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def output_problem(path: str | os.PathLike) -> str | None:
    """Why a file cannot be written at ``path`` (None when it can be tried)."""
    problem = path_problem(path)
    if problem:
        return problem
    if Path(path).is_dir():
        return "is a folder; give a file name inside it"
    return None


def text_problem(text: str) -> tuple[int, str] | None:
    """The first character a text file may not hold, as ``(line, description)``, or None."""
    bad = _BAD_CHAR.search(text)
    if bad is None:
        return None
    char = bad.group()
    what = "an unpaired surrogate" if "\ud800" <= char <= "\udfff" else "a control character"
    return text.count("\n", 0, bad.start()) + 1, f"{what} ({echo(char)})"


def read_text(path: str | os.PathLike, *, max_bytes: int, what: str = "file") -> str:
    """The text of a UTF-8 file of at most ``max_bytes``; :class:`SpecError` names the problem.

    A byte-order mark is dropped. Errors name the file and, for bad bytes, the byte offset and
    the line.
    """
    where = shown(path)
    problem = file_problem(path)
    if problem:
        raise SpecError(f"{problem}; give the {what}", file=where)
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        raise SpecError(f"cannot be read ({exc.strerror or exc})", file=where) from None
    if len(data) > max_bytes:
        raise SpecError(f"is larger than the {max_bytes}-byte limit for a {what}", file=where)
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text: byte {exc.start} (0x{data[exc.start]:02x}) is "
                        f"{exc.reason}; save the {what} as UTF-8", file=where,
                        line=data.count(b"\n", 0, exc.start) + 1) from None
    bad = text_problem(text)
    if bad:
        raise SpecError(f"holds {bad[1]}; a {what} is plain text", file=where, line=bad[0])
    return text


def json_depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deeply the JSON ``text`` nests arrays and objects, counted without parsing it (the
    parser recurses) in one pass over the quotes, backslashes and brackets; brackets inside
    strings do not count. Stops counting once past ``limit``."""
    depth = deepest = 0
    in_string, escaped = False, -1
    for m in _JSON_TOKEN.finditer(text):
        at, char = m.start(), m.group()
        if at == escaped:  # the character after a backslash in a string
            continue
        if in_string:
            if char == "\\":
                escaped = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(text: str, *, source: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse untrusted JSON by the rules above; :class:`SpecError` (file ``source``) otherwise.

    A document that cannot be parsed gives an error without a field; a value that is parsed but
    refused (``NaN``, ``Infinity``, ``1e400``, a NUL or an unpaired surrogate in a string) gives
    one naming the field, as the sender wrote it (``price``, ``title.en``).
    """
    depth = json_depth(text, max_depth)
    if depth > max_depth:
        raise SpecError(f"nests more than {max_depth} levels deep", file=source)
    try:
        data = json.loads(text)  # NaN, Infinity and 1e400 come back as floats: refused below
    except json.JSONDecodeError as exc:
        raise SpecError(f"invalid JSON: {exc.msg}", file=source, line=exc.lineno) from None
    except (ValueError, RecursionError) as exc:  # integers of more than 4,300 digits
        raise SpecError(f"invalid JSON: {exc}", file=source) from None
    bad = value_problem(data)
    if bad:
        raise SpecError(bad[1], file=source, field=bad[0])
    return data


def value_problem(data: Any) -> tuple[str, str] | None:
    """The first value of parsed data nothing downstream can use, as ``(field, problem)``:
    a non-finite number, a string (or key) with a NUL byte or an unpaired surrogate, or a value
    that is not text, a number, a list or a mapping (YAML's ``!!binary``, ``!!set``, ...)."""
    for parts, value in _walk(data, ()):
        where = field_path(parts) or "(top level)"
        if not isinstance(value, dict | list | str | int | float | bool | type(None)):
            return where, (f"a {type(value).__name__} value is not allowed; use text, numbers, "
                           "lists and mappings")
        if isinstance(value, float) and not math.isfinite(value):
            return where, f"{echo(value)} is not a finite number"
        if isinstance(value, str):
            bad = _BAD_CHAR.search(value)
            if bad and (bad.group() == "\x00" or "\ud800" <= bad.group() <= "\udfff"):
                kind = "a NUL byte" if bad.group() == "\x00" else "an unpaired surrogate"
                return where, f"the text holds {kind} ({echo(bad.group())})"
    return None


def _walk(data: Any, parts: tuple) -> Iterator[tuple[tuple, Any]]:
    """Every value and key of nested dicts and lists with its path (iterative: no recursion)."""
    stack = [(parts, data)]
    while stack:
        where, value = stack.pop()
        yield where, value
        if isinstance(value, dict):
            for key, item in value.items():
                inner = (*where, key if isinstance(key, str | int) else str(key))
                yield inner, key
                stack.append((inner, item))
        elif isinstance(value, list):
            stack.extend(((*where, i), item) for i, item in enumerate(value))
