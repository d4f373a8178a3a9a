"""Locale codes -> rules and MP4 language tags."""

import pytest

from common.errors import ConfigError
from media.locales import iso639_2, rules_for


@pytest.mark.parametrize("locale,tag", [
    ("zh-CN", "chi"), ("zh-TW", "chi"), ("ja", "jpn"), ("ko", "kor"), ("ar", "ara"),
    ("he", "heb"), ("en-US", "eng"), ("fr", "fre"), ("de_DE", "ger"), ("fil", "fil"), ("xx", "und"),
])
def test_mp4_language_tags_are_iso_639_2(locale, tag):
    assert iso639_2(locale) == tag


@pytest.mark.parametrize("bad", ["", "1", "english", "-CN"])
def test_malformed_locale_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="BCP-47"):
        rules_for(bad)


def test_script_families():
    assert [rules_for(loc).script for loc in ("en", "zh-HK", "ja-JP", "ko-KR", "he-IL", "th")] == \
        ["latin", "cjk", "cjk", "hangul", "rtl", "thai"]
    assert rules_for("zh-HK").budoux_model == "zh-hant"
    assert rules_for("en").chars_per_second == 20 and rules_for("fr").chars_per_second == 17
