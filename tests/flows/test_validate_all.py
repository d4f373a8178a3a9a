"""`content-factory validate` lists every problem of a spec and its script at once."""

from __future__ import annotations

import pytest

from common.errors import SpecErrors
from flows.cli import run_cli
from tasks.script import load_campaign

# Ten mistakes, one a line marked with its field.
SPEC = """\
id: Bad Id
brand:
  name: ""
  colors: {primary: "#12"}
output: {width: 250, height: 256}
locales: [en, de]
speling: 1
script: |
  ## hero
  visual: a teapot
  duraton: 4s
  [en] Hello
  [fr] Bonjour
  [de] Hallo

  ## tail
  visual: steam
  seed: -3
  colour: purple
  [en] Bye
  [de] Tschüss

  ## empty
  [en] Nothing to see
  [de] Nichts zu sehen
"""
EXPECTED = [  # (line, field)
    (1, "id"), (3, "brand.name"), (4, "brand.colors.primary"), (5, "output"), (7, "speling"),
    (11, "shots.hero.duraton"), (13, "shots.hero.caption[fr]"), (18, "shots.tail.seed"),
    (19, "shots.tail.colour"), (23, "shots.empty.visual"),
]


@pytest.fixture
def bad_spec(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_validate_prints_all_ten_seeded_mistakes(bad_spec, capfd):
    assert run_cli(["validate", str(bad_spec)]) == 1
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 10, err
    for (line, field), shown in zip(EXPECTED, errors, strict=True):
        assert shown.startswith(f"error: {bad_spec}:{line}: {field}: "), (shown, line, field)
    assert err.splitlines()[-1] == f"10 problems in {bad_spec}"
    assert "Traceback" not in err and "more problem" not in err


def test_the_loader_raises_them_all_and_other_commands_say_how_many(bad_spec, capfd):
    with pytest.raises(SpecErrors) as caught:
        load_campaign(bad_spec)
    assert [(p.line, p.field) for p in caught.value.problems] == EXPECTED
    assert run_cli(["run", str(bad_spec)]) == 1
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "id: 'Bad Id'" in lines[0]
    assert "and 9 more problem(s); `content-factory validate` lists them all" in lines[0]


def test_a_spec_with_one_mistake_is_one_line_as_before(tmp_path, capfd):
    path = tmp_path / "one.yaml"
    path.write_text(SPEC.replace("Bad Id", "good").replace('""', "Brand")
                    .replace('"#12"', '"#123456"').replace("250", "256")
                    .replace("speling: 1\n", "").split("  ## hero")[0]
                    + "  ## hero\n  visual: tea\n  seed: x\n", encoding="utf-8")
    assert run_cli(["validate", str(path)]) == 1
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "shots.hero.seed" in lines[0]
