"""Narration splits into sentences at the end marks of each script, never inside a number."""

from __future__ import annotations

import pytest

from tasks.audio.sentences import split_sentences


@pytest.mark.parametrize("text, sentences", [
    ("Spring is here. Jasmine Pearl, $18.50 off! Really?",
     ["Spring is here.", "Jasmine Pearl, $18.50 off!", "Really?"]),
    ("春天来了。茉莉龙珠，限时八折！", ["春天来了。", "茉莉龙珠，限时八折！"]),
    ("こんにちは。「春です。」今日は", ["こんにちは。", "「春です。」", "今日は"]),
    ("يبدأ الربيع. هل تريد؟ نعم", ["يبدأ الربيع.", "هل تريد؟", "نعم"]),
    ("No end mark", ["No end mark"]),
    ("  ", []),
])
def test_sentences_end_at_each_scripts_marks(text, sentences):
    assert split_sentences(text) == sentences
