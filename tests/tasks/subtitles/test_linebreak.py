"""Line breaking per script: limits, no lost text, kinsoku, logical order for RTL."""

from dataclasses import replace

import pytest

from media.locales import rules_for
from tasks.subtitles import kinsoku_violations, text_width, wrap_caption
from tasks.subtitles.linebreak import NO_LINE_END, NO_LINE_START

CAPTIONS = {
    "en": "Meet the new Aurora running shoe: lighter, faster, and made from recycled ocean "
          "plastic for every runner in the city who wants more from every mile.",
    "fr": "Découvrez la nouvelle chaussure de course Aurora\u00a0: plus légère, plus rapide et "
          "fabriquée à partir de plastique océanique recyclé.",
    "zh-CN": "全新极光跑鞋现已上市，更轻、更快，采用回收海洋塑料制成，为城市中的每一位跑者而生。",
    "zh-TW": "全新極光跑鞋現已上市，更輕、更快，採用回收海洋塑膠製成，為城市中的每一位跑者而生。",
    "ja": "新しいオーロラ・ランニングシューズが登場しました。より軽く、より速く、海洋プラスチック"
          "から作られています。「走る」をもっと楽しく！",
    "ko": "새로운 오로라 러닝화를 만나보세요. 더 가볍고 더 빠르며 재활용 해양 플라스틱으로 만들었습니다.",
    "ar": "تعرّف على حذاء الجري الجديد أورورا: أخف وأسرع ومصنوع من بلاستيك المحيط المعاد تدويره لكل عدّاء.",
    "he": "הכירו את נעל הריצה החדשה אורורה: קלה יותר, מהירה יותר ועשויה מפלסטיק ממוחזר מהאוקיינוס.",
}


def _joined(cues, locale):
    sep = "" if rules_for(locale).joins_without_spaces else " "
    return sep.join(line for cue in cues for line in cue)


@pytest.mark.parametrize("locale", sorted(CAPTIONS))
def test_lines_respect_the_locale_limits_and_keep_all_text(locale):
    rules = rules_for(locale)
    cues = wrap_caption(CAPTIONS[locale], rules)
    assert len(cues) >= 2, "these captions are longer than one cue"
    for cue in cues:
        assert 1 <= len(cue) <= 2
        for line in cue:
            assert line == line.strip() and line
            assert text_width(line, rules) <= rules.max_width, (locale, line)
    if rules.joins_without_spaces:
        assert _joined(cues, locale) == CAPTIONS[locale].replace(" ", "")
    else:
        assert _joined(cues, locale) == CAPTIONS[locale]


def test_cjk_limit_is_about_16_and_latin_42():
    assert rules_for("zh-CN").max_width == rules_for("ja").max_width == 16
    assert rules_for("en-US").max_width == rules_for("ar").max_width == 42
    assert rules_for("ko").script == "hangul" and rules_for("ko").max_width == 16
    assert rules_for("zh-TW").budoux_model == "zh-hant"
    assert rules_for("zh-Hant").budoux_model == "zh-hant"
    assert rules_for("zh-CN").budoux_model == "zh-hans"
    assert all(rules_for(loc).rtl for loc in ("ar", "he", "fa-IR", "ur"))


@pytest.mark.parametrize("locale", ["ja", "zh-CN", "zh-TW"])
@pytest.mark.parametrize("width", [4, 5, 6, 7, 9, 11, 16])
def test_no_kinsoku_violations_even_when_phrases_must_be_cut(locale, width):
    rules = replace(rules_for(locale), max_width=width, max_lines=2)
    text = ("ラーメンを食べました。「おいしい」と言った（本当に）。ちょっと待ってー、"
            "「東京」ショッピング！？全新極光跑鞋，「更輕、更快」。")
    cues = wrap_caption(text, rules)
    lines = [line for cue in cues for line in cue]
    assert kinsoku_violations(lines) == []
    assert all(text_width(line, rules) <= width for line in lines), lines
    assert "".join(lines) == text


def test_japanese_breaks_between_phrases_not_inside_words():
    rules = rules_for("ja")
    cues = wrap_caption("今日はとても天気がいいので、友達と公園へ散歩に行きました。", rules)
    lines = [line for cue in cues for line in cue]
    assert len(lines) == 2
    # budoux phrases: the break falls after a particle, never inside 天気 or 散歩 or 公園
    for word in ("天気", "散歩", "公園", "友達"):
        assert any(word in line for line in lines)


def test_kinsoku_checker_catches_bad_lines():
    assert kinsoku_violations(["。はい", "いいえ"]) == ["。はい"]
    assert kinsoku_violations(["はい「", "ok"]) == ["はい「"]
    assert "」" in NO_LINE_START and "「" in NO_LINE_END and "ー" in NO_LINE_START


def test_a_word_longer_than_a_line_is_cut_to_fit():
    rules = rules_for("en")
    url = "https://example.com/" + "a" * 70
    cues = wrap_caption(f"Visit {url} today", rules)
    lines = [line for cue in cues for line in cue]
    assert all(len(line) <= 42 for line in lines)
    assert "".join(lines).replace(" ", "") == f"Visit{url}today"


def test_no_break_space_holds_words_together():
    rules = replace(rules_for("fr"), max_width=12)
    cues = wrap_caption("Quel prix\u00a0? Bonjour à tous", rules)
    lines = [line for cue in cues for line in cue]
    assert not any(line.startswith("?") for line in lines)


def test_rtl_text_stays_in_logical_order():
    rules = rules_for("ar")
    text = "مرحبا بكم في عالمنا الجديد"
    assert wrap_caption(text, rules) == [(text,)]
    # harakat (combining marks) take no width
    assert text_width("مَرْحَبًا", rules) == 5
