"""`content-factory doctor`: one row per check, FAIL where something is broken, exit code."""

from __future__ import annotations

from typer.testing import CliRunner


def rows(output: str) -> dict[str, str]:
    found = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│") if c.strip()]
        if len(cells) >= 2 and cells[0] in ("ffmpeg", "fonts", "voices", "cuda", "weights", "svd",
                                            "database", "prefect"):
            found[cells[0]] = cells[1]
    return found


def test_doctor_reports_every_check(factory_env):
    from flows.cli import app

    result = CliRunner().invoke(app, ["doctor"], terminal_width=200)
    table = rows(result.output)
    assert set(table) == {"ffmpeg", "fonts", "voices", "cuda", "weights", "svd", "database",
                          "prefect"}
    assert table["ffmpeg"] == "ok" and table["database"] == "ok" and table["fonts"] == "ok"
    assert table["voices"] == "ok" and "en piper:en_US-joe-medium" in result.output
    assert table["weights"] == table["svd"] == "-"  # optional and not set: not a failure
    assert result.exit_code == 0, result.output


def test_doctor_fails_on_a_broken_database_and_an_empty_font_folder(factory_env, monkeypatch,
                                                                    tmp_path):
    from flows.cli import app
    from flows.settings import get_settings

    monkeypatch.setenv("FACTORY_DATABASE_URL", "nosuchdb://x")
    (tmp_path / "no-fonts").mkdir()
    monkeypatch.setenv("FACTORY_FONTS_DIR", str(tmp_path / "no-fonts"))
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["doctor"], terminal_width=200)
    table = rows(result.output)
    assert table["database"] == "FAIL" and table["fonts"] == "FAIL"
    assert "nosuchdb" in result.output
    assert result.exit_code == 1
