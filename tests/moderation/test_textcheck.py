"""Term lists: evasions of listed terms are caught, benign copy in every locale passes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.errors import ModerationError
from moderation import Policy, TermLists, normalize

BENIGN = Path(__file__).with_name("benign_marketing.yaml")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load()


@pytest.mark.parametrize("text, expected", [
    ("ＰＯＲＮ", "porn"),                       # full width
    ("P o r n", "porn"),                       # spaced
    ("p.o.r.n", "porn"),
    ("p\u200bo\u200crn", "porn"),              # zero-width space / non-joiner
    ("p0rn", "porn"),                          # digits for letters
    ("k 1 l l", "kill"),                       # spaced and leet together
    ("黃片", "黄片"),                           # traditional -> simplified
    ("色 情", "色情"),
    ("cocaína", "cocaina"),
    ("قـتـل", "قتل"),                           # Arabic tatweel
    ("Buy 1 get 1 free in 2024!", "buy 1 get 1 free in 2024!"),  # numbers stay numbers
])
def test_normalize_folds_evasions(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("text, locale, term, category, decision", [
    ("Buy ＣＯＣＡＩＮＥ here", "en", "cocaine", "drugs", "block"),        # full width
    ("cheap c o c a i n e tonight", "en", "cocaine", "drugs", "block"),   # spaced
    ("c-o-c-a-i-n-e delivered", "en", "cocaine", "drugs", "block"),
    ("co\u200bca\u200dine", "en", "cocaine", "drugs", "block"),           # zero-width
    ("CoCaInE party", "en", "cocaine", "drugs", "block"),                 # mixed case
    ("c0ca1n3 deals", "en", "cocaine", "drugs", "block"),                 # digits for letters
    ("h3r0!n", "en", "heroin", "drugs", "block"),
    ("free pr0n videos", "en", None, None, "allow"),                      # not a listed word
    ("pornographic poster", "en", "porn*", "sexual", "block"),            # listed prefix
    ("黃片下載", "zh-TW", "黄片", "sexual", "block"),                     # traditional
    ("教你洗錢", "zh-HK", "洗钱", "illegal", "block"),
    ("殺人遊戲", "zh-TW", "杀人", "violence", "review"),
    ("色*情*网站", "zh", "色情", "sexual", "block"),                      # separators in CJK
    ("ポルノ動画", "ja", "ポルノ", "sexual", "block"),
    ("ｺｶｲﾝ", "ja", "コカイン", "drugs", "block"),                          # half-width kana
    ("والقتل", "ar", "قتل", "violence", "review"),                         # proclitic
    ("كـوكـايـين", "ar", "كوكايين", "drugs", "block"),                    # tatweel
    ("Cocaína pura", "es", "cocaína", "drugs", "block"),
    ("cocaina pura", "es", "cocaína", "drugs", "block"),                  # accents dropped
    ("Blanchiment d’argent facile", "fr", "blanchiment d'argent", "illegal", "block"),
    ("GELDWÄSCHE leicht gemacht", "de", "geldwäsche", "illegal", "block"),
    ("nude photos", "en", "nude", "sexual", "review"),
])
def test_listed_terms_and_their_evasions_are_caught(policy, text, locale, term, category,
                                                    decision):
    result = policy.check_text(text, locale=locale, field="prompt", subject="s1")
    assert result.decision == decision
    if term is None:
        assert result.reasons == []
    else:
        assert any(f"'{term}' is {category}" in r for r in result.reasons), result.reasons
        assert result.scores[category] == (1.0 if decision == "block" else 0.5)
        assert result.detector == "terms" and result.detector_version.startswith("terms ")


@pytest.mark.parametrize("text", [
    "World-class skills for assassins of boredom",   # kill, ass inside words
    "Unisex tees from Sussex",                        # sex inside words
    "Our massage gun and glue gun bundle",            # allow phrases
    "红色情人节礼物",                                  # 色情 across a word boundary
    "イエローの新作",                                  # エロ inside イエロー
])
def test_terms_inside_other_words_are_not_matched(policy, text):
    assert policy.check_text(text, locale=None).decision == "allow"


def test_a_gun_outside_an_allow_phrase_still_goes_to_review(policy):
    result = policy.check_text("a massage gun and a real gun", locale="en")
    assert result.decision == "review"
    assert len(result.reasons) == 1 and "'gun' is weapons" in result.reasons[0]


def test_english_terms_are_checked_in_every_locale_and_unknown_locales_use_all_lists(policy):
    assert policy.check_text("新品 cocaine 特价", locale="zh").decision == "block"
    # Portuguese has no list of its own: every list applies, so the Spanish term is found.
    assert policy.check_text("heroína pura", locale="pt-BR").decision == "block"
    # A locale with its own list is not checked against unrelated ones.
    assert policy.check_text("heroína pura", locale="ja").decision == "allow"


def test_benign_marketing_copy_passes_in_every_locale(policy):
    benign = yaml.safe_load(BENIGN.read_text(encoding="utf-8"))
    assert set(benign) >= {"en", "zh", "ja", "ar", "es", "fr", "de"}
    flagged = [(locale, line, policy.check_text(line, locale=locale, field="caption").reasons)
               for locale, lines in benign.items() for line in lines
               if policy.check_text(line, locale=locale, field="caption").decision != "allow"]
    assert sum(len(lines) for lines in benign.values()) >= 30
    assert flagged == []


def test_negative_prompts_name_what_to_avoid_one_step_more_leniently(policy):
    negative = policy.check_text("blurry, nudity, gore, extra fingers", locale="en",
                                 field="negative_prompt", subject="s1")
    assert negative.decision == "allow"
    assert any("relaxed in a negative_prompt" in r for r in negative.reasons)
    assert policy.check_text("child porn", locale="en", field="negative_prompt").decision \
        == "review"
    # Drugs are not relaxed: naming them anywhere is still a block.
    assert policy.check_text("cocaine", locale="en", field="negative_prompt").decision \
        == "block"


def test_every_locale_has_terms_in_every_category():
    lists = TermLists.load()
    assert lists.locales == {"en", "zh", "ja", "ar", "es", "fr", "de"}
    categories = {"sexual", "violence", "hate", "self-harm", "drugs", "weapons", "illegal"}
    for locale in lists.locales:
        have = {t.category for t in lists.terms if t.locale == locale and t.severity != "allow"}
        assert have == categories, locale


def test_a_malformed_term_list_names_the_file_and_key(tmp_path):
    (tmp_path / "xx.yaml").write_text("locale: xx\nterms:\n  drugs:\n    forbid: [cocaine]\n")
    with pytest.raises(ModerationError, match=r"xx\.yaml: terms\.drugs\.forbid: unknown severity"):
        TermLists.load(tmp_path)


def test_lists_from_another_folder_replace_the_shipped_ones(tmp_path):
    (tmp_path / "en.yaml").write_text("locale: en\nterms:\n  brand:\n    review: [acme]\n")
    lists = TermLists.load(tmp_path)
    assert [m.term.text for m in lists.match("Better than ACME!", "en")] == ["acme"]
    assert lists.match("cocaine", "en") == []
    assert lists.version != TermLists.load().version
