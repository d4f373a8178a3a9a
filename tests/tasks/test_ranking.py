"""Ranking variants on figures: who is ahead, how sure, and when the data is too thin."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from tasks.ranking import rank_variants


def figures(views: int, rates: dict[str, float]) -> dict[str, dict[str, int]]:
    return {v: {"views": views, "completions": round(views * r), "impressions": views * 4,
                "clicks": round(views * r / 10)} for v, r in rates.items()}


def test_a_clearly_better_variant_is_named_with_high_probability():
    ranking = rank_variants(figures(2000, {"a": 0.40, "b": 0.48, "c": 0.41}), campaign="c1")
    assert ranking.leader == "b" and ranking.sure and not ranking.thin
    top = ranking.scores[0]
    assert top.variant == "b" and top.p_best > 0.99
    assert top.low < 0.48 < top.high and top.high - top.low < 0.05
    assert sum(s.p_best for s in ranking.scores) == pytest.approx(1.0)
    assert ranking.verdict.startswith("b is ahead on completion rate")
    # A fixed seed: the same figures, the same report.
    assert rank_variants(figures(2000, {"a": 0.40, "b": 0.48, "c": 0.41}),
                         campaign="c1") == ranking


def test_ten_views_each_is_too_thin_to_tell():
    ranking = rank_variants(figures(10, {"a": 0.3, "b": 0.8}), campaign="c1")
    assert ranking.thin and ranking.leader is None and not ranking.sure
    assert ranking.verdict.startswith("too thin to tell")
    assert sorted(ranking.warnings) == ["a has 10 views (fewer than 100)",
                                       "b has 10 views (fewer than 100)"]


def test_close_variants_have_no_clear_winner():
    ranking = rank_variants(figures(500, {"a": 0.40, "b": 0.41}), campaign="c1")
    assert ranking.leader is None and not ranking.thin
    assert ranking.verdict.startswith("no clear winner yet")


def test_click_through_uses_impressions_and_the_table_says_so():
    ranking = rank_variants(figures(2000, {"a": 0.2, "b": 0.6}), campaign="c1", metric="ctr")
    assert ranking.leader == "b"
    row = ranking.rows()[0]
    assert row["variant"] == "b" and row["impressions"] == 8000 and row["clicks"] == 120
    assert "| rank | variant | clicks | impressions |" in ranking.markdown()


def test_no_figures_and_a_bad_metric():
    assert "no figures" in rank_variants({}, campaign="c1").verdict
    with pytest.raises(ConfigError, match="metric 'views'"):
        rank_variants({}, campaign="c1", metric="views")
