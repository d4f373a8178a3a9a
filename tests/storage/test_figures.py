"""Figures stored per clip and per import: resolved to their variant, idempotent on re-import
(SQLite, and PostgreSQL when FACTORY_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import json

import pytest

from common.errors import SpecError
from storage.db import open_database
from storage.figures import import_count, import_figures, variant_totals
from storage.records import start_run, upsert_campaign, upsert_clip
from tasks.figures import load_figures


def seed_runs(db) -> None:
    with db.session() as s:
        upsert_campaign(s, campaign_id="fig", name="Figures", kind="campaign", spec_path="",
                        spec_sha256="0" * 64, spec={})
        for variant in ("seed-a", "seed-b"):
            start_run(s, run_id=f"r-{variant}", campaign_id="fig", kind="campaign",
                      backend="animatic", locales=["en", "de"])
            for locale in ("en", "de"):
                upsert_clip(s, run_id=f"r-{variant}", locale=locale,
                            content_id=f"{variant}-{locale}".ljust(64, "0"),
                            details={"variant": variant})


CSV = """clip_id,views,completions,impressions,clicks,likes
{a_en},1000,400,4000,40,10
{a_de},500,200,2000,20,5
{b_en},1000,600,4000,90,30
"""


def write_csv(tmp_path, text=CSV, name="figures.csv"):
    path = tmp_path / name
    path.write_text(text.format(a_en="seed-a-en".ljust(64, "0"), a_de="seed-a-de".ljust(64, "0"),
                                b_en="seed-b-en".ljust(64, "0")))
    return path


def test_importing_the_same_figures_twice_changes_nothing(database_url, tmp_path):
    db = open_database(database_url)
    seed_runs(db)
    rows = [r.model_dump() for r in load_figures(write_csv(tmp_path))]
    with db.session() as s:
        first = import_figures(s, rows, source="figures.csv")
    with db.session() as s:
        totals = variant_totals(s, "fig")
        counts = import_count(s)
    assert first.fresh and first.rows == 3 and counts == (1, 3)
    assert totals["seed-a"]["views"] == 1500 and totals["seed-a"]["completions"] == 600
    assert totals["seed-b"]["clicks"] == 90

    # The same file again, and the same figures as JSON in another order: nothing changes.
    json_path = tmp_path / "figures.json"
    json_path.write_text(json.dumps({"figures": list(reversed(rows))}))
    for again in (rows, [r.model_dump() for r in load_figures(json_path)]):
        with db.session() as s:
            result = import_figures(s, again, source="again")
        assert not result.fresh and result.import_id == first.import_id
        with db.session() as s:
            assert import_count(s) == counts and variant_totals(s, "fig") == totals


def test_newer_totals_replace_a_clips_older_ones(database_url, tmp_path):
    db = open_database(database_url)
    seed_runs(db)
    with db.session() as s:
        import_figures(s, [r.model_dump() for r in load_figures(write_csv(tmp_path))], source="1")
    newer = write_csv(tmp_path, "clip_id,views,completions\n{b_en},3000,1900\n", "newer.csv")
    with db.session() as s:
        import_figures(s, [r.model_dump() for r in load_figures(newer)], source="2")
    with db.session() as s:
        totals = variant_totals(s, "fig")
        assert totals["seed-b"]["views"] == 3000 and totals["seed-a"]["views"] == 1500
        assert import_count(s) == (2, 4)


def test_rows_by_variant_id_need_a_known_campaign_and_variant(database_url, tmp_path):
    db = open_database(database_url)
    seed_runs(db)
    path = tmp_path / "v.csv"
    path.write_text("variant,views,completions\nseed-b,100,50\n")
    with pytest.raises(SpecError, match=r"rows\[0\].campaign: a row with a variant id needs"):
        with db.session() as s:
            import_figures(s, [r.model_dump() for r in load_figures(path)], source="v.csv")
    with pytest.raises(SpecError, match=r"rows\[0\].variant: campaign 'fig' has no variant "
                                        r"'seed-z' \(seed-a, seed-b\)"):
        with db.session() as s:
            import_figures(s, [{"variant": "seed-z", "campaign": "fig", "views": 1}], source="x")
    with db.session() as s:
        result = import_figures(s, [r.model_dump() for r in load_figures(path, campaign="fig")],
                                source="v.csv")
        assert result.fresh and result.campaigns == ["fig"]
        assert import_count(s) == (1, 1)


@pytest.mark.parametrize(("text", "message"), [
    ("clip_id,views,completions\nabc,10,20\n", r"figures.csv:2: rows\[0\]: completions \(20\) "
                                               r"exceed views \(10\)"),
    ("clip_id,views\nabc,-3\n", r"rows\[0\].views: Input should be greater than or equal to 0"),
    ("clip_id,views\nabc,1.5k\n", r"rows\[0\].views: '1.5k' is not a whole number"),
    ("clip_id,viewz\nabc,1\n", r"rows\[0\].viewz: unknown column 'viewz'"),
    ("views\n10\n", r"rows\[0\]: give a clip_id"),
    ("clip_id,views\n", r"the CSV file has a header but no rows"),
])
def test_bad_figures_name_the_row_and_field(tmp_path, text, message):
    path = tmp_path / "figures.csv"
    path.write_text(text)
    with pytest.raises(SpecError, match=message):
        load_figures(path)


def test_an_unknown_clip_id_stores_nothing(sqlite_url, tmp_path):
    db = open_database(sqlite_url)
    seed_runs(db)
    with pytest.raises(SpecError, match=r"rows\[1\].clip_id: no clip has the content id 'nope'"):
        with db.session() as s:
            import_figures(s, [{"clip_id": "seed-a-en".ljust(64, "0"), "views": 5},
                               {"clip_id": "nope", "views": 1}], source="x")
    with db.session() as s:
        assert import_count(s) == (0, 0)
