"""The campaign loader cannot be crashed or hung: hostile specs and scripts, one by one, and a
few thousand mutated ones from a fixed seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.errors import SpecError
from tasks.script import load_campaign, parse_header
from tasks.spec import MAX_SPEC_BYTES, load_structured

ROOT = Path(__file__).resolve().parents[2]

BASE = """\
id: hostile
brand: {name: B}
locales: [en]
"""


def spec(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path, *fragments: str) -> SpecError:
    with pytest.raises(SpecError) as err:
        load_campaign(path)
    message = str(err.value)
    assert "\n" not in message and len(message) < 600, message
    for fragment in fragments:
        assert fragment in message, message
    return err.value


def test_fuzzed_specs_end_in_acceptance_or_a_typed_error():
    """3,000 mutated specs and scripts (seed 20) in a child process whose address space is
    capped 1 GiB above its start: every one is accepted or refused with a one-line SpecError,
    none takes more than a few seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "tests.tasks.spec_fuzz", "--cases", "3000",
                           "--seed", "20", "--memory-mb", "1024"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout)
    print("spec fuzz:", {k: v for k, v in figures.items() if k != "failures"})
    assert figures["other"] == 0, figures["failures"]
    assert figures["multi_line_or_long_errors"] == 0, figures["failures"]
    assert figures["accepted"] + figures["typed_errors"] == 3000
    assert figures["accepted"] > 100 and figures["typed_errors"] > 1000  # both paths exercised
    assert figures["slowest_case_s"] < 5.0


def test_billion_laughs_is_refused_at_once(tmp_path):
    lol = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n"
        for i in range(9))
    started = time.perf_counter()
    err = refused(spec(tmp_path, BASE + lol), "aliases", "not allowed")
    assert err.line == 5 and time.perf_counter() - started < 2.0


def test_merge_keys_need_aliases_and_are_refused(tmp_path):
    text = BASE + "base: &b {name: X}\nother:\n  <<: *b\n"
    refused(spec(tmp_path, text), "aliases")


@pytest.mark.parametrize("name, text", [
    ("deep.json", "[" * 50_000 + "]" * 50_000),
    ("deep.yaml", "a: " + "[" * 50_000 + "]" * 50_000),
    ("deep.yaml", "".join(" " * i + "k:\n" for i in range(600))),
    ("deep.json", '{"a":' * 40 + "1" + "}" * 40),
])
def test_deep_nesting_is_refused_before_parsing(tmp_path, name, text):
    # Ours ("nests more than 32 levels deep") or, for 50,000 flow brackets, libyaml's own limit
    # ("exceeded maximum nesting depth"), which its scanner hits before our count does.
    err = refused(spec(tmp_path, text, name))
    assert "nests more than 32 levels deep" in str(err) or "maximum nesting depth" in str(err)


def test_undecodable_spec_and_script_name_file_and_byte_offset(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"id: ok\nname: caf\xe9\n")
    err = refused(path, "not UTF-8 text: byte 16 (0xe9)", str(path))
    assert err.line == 2
    (tmp_path / "s.txt").write_bytes(b"## a\nvisual: x\n[en] \xff\xfe\n")
    script = spec(tmp_path, BASE + "script_file: s.txt\n", "d.yaml")
    err = refused(script, "s.txt", "not UTF-8 text: byte 20 (0xff)", "save the script as UTF-8")
    assert err.line == 3


def test_a_binary_file_named_as_the_script_is_refused(tmp_path):
    (tmp_path / "logo.png").write_bytes(bytes(range(256)) * 4)
    refused(spec(tmp_path, BASE + "script_file: logo.png\n"), "logo.png", "not UTF-8")
    (tmp_path / "zeros.txt").write_bytes(b"## a\n\x00\x00\x00\n")
    err = refused(spec(tmp_path, BASE + "script_file: zeros.txt\n"), "control character")
    assert err.line == 2


@pytest.mark.parametrize("value, fragment", [
    ("a" * 300, "over the limit of 255"),
    ("/".join(["d" * 200] * 25), "over the limit of 4096"),
    ('"a\\0b.txt"', "NUL byte"),
    ('"\\udcff.txt"', "invalid Unicode character escape"),  # libyaml refuses it itself
    (".", "is a folder, not a file"),
    ("/dev/zero", "not a regular file"),
    ("missing.txt", "no such file"),
])
def test_script_file_paths_are_checked_before_they_are_opened(tmp_path, value, fragment):
    err = refused(spec(tmp_path, BASE + f"script_file: {value}\n"), fragment)
    assert err.line == 4
    assert err.field == ("script_file" if "YAML" not in str(err) else None)


def test_a_surrogate_escape_in_a_json_spec_is_refused(tmp_path):
    path = spec(tmp_path, '{"id": "j", "brand": {"name": "B"}, "locales": ["en"], '
                          '"script_file": "\\udcff.txt"}', "c.json")
    err = refused(path, "unpaired surrogate")
    assert err.field == "script_file"


def test_spec_paths_themselves_are_checked(tmp_path):
    refused(tmp_path, "is a folder, not a file")
    refused(tmp_path / ("x" * 300 + ".yaml"), "over the limit of 255")
    refused(str(tmp_path / "a\x00.yaml"), "NUL byte")
    refused(str(tmp_path / "a\udcff.yaml"), "not valid UTF-8")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_SPEC_BYTES + 1))
    refused(big, f"{MAX_SPEC_BYTES}-byte limit")


def test_numbers_dates_and_tags(tmp_path):
    refused(spec(tmp_path, BASE + "model: {seed: " + "9" * 5000 + "}\n"), "invalid value")
    refused(spec(tmp_path, BASE + "output: {shot_duration: .nan}\n"), "not a finite number",
            "output.shot_duration")
    refused(spec(tmp_path, BASE + "name: !!python/object/apply:os.system ['true']\n"),
            "invalid YAML")
    # A date is text in a spec: a malformed one is simply a name here, not a crash.
    ok = spec(tmp_path, BASE + "name: 2026-13-45\nscript: |\n  ## a\n  visual: x\n")
    assert load_campaign(ok).spec.name == "2026-13-45"


def test_a_padded_shot_header_parses_in_linear_time(tmp_path):
    line = "## " + " " * 100_000 + "hero" + " " * 100_000 + ": " + " " * 100_000 + "Title"
    started = time.perf_counter()
    assert parse_header(line) == ("hero", "Title")
    assert parse_header("##" + " " * 200_000) == ("", "")
    assert time.perf_counter() - started < 0.5
    path = spec(tmp_path, BASE + "script: |\n  " + line + "\n  visual: x\n")
    started = time.perf_counter()
    assert load_campaign(path).shots[0].title == "Title"
    assert time.perf_counter() - started < 2.0


def test_errors_are_one_line_with_echoed_values_cut(tmp_path):
    err = refused(spec(tmp_path, BASE + "id: " + "X" * 5000 + "\nscript: |\n  ## a\n  visual: x\n"),
                  "(5000 characters)")
    assert len(str(err)) < 400
    err = refused(spec(tmp_path, BASE + "script: |\n  ## a\n  visual: x\n  "
                       + "k" * 3000 + ": v\n"), "unknown field", "(3000 characters)")
    refused(spec(tmp_path, BASE + "locales: [en\n  , 'x\n"), "invalid YAML")


def test_structured_loader_reports_lines_after_the_checks(tmp_path):
    data, lines = load_structured(spec(tmp_path, BASE + "model:\n  seed: 3\n"))
    assert data["model"] == {"seed": 3} and lines[("model", "seed")] == 5
