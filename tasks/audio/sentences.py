"""Narration text -> sentences: the unit a voice speaks, a pause follows and a caption shows.

A sentence ends at ``.`` ``!`` ``?`` ``…`` (followed by a space or the end of the text), at the
full-width ``。`` ``！`` ``？`` of Chinese and Japanese, and at the Arabic question mark ``؟``
(no space needed after those). A dot between digits (``$18.50``) ends nothing.
"""

from __future__ import annotations

import re

# Closing quotes and brackets stay with the sentence they close.
_END = re.compile(r"(?:[.!?…]+[\"'”’)\]]*(?=\s|$)|[。！？؟]+[」』”’）)\]]*)")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, in order; text without an ending is one sentence."""
    out: list[str] = []
    start = 0
    for m in _END.finditer(text):
        piece = text[start:m.end()].strip()
        if piece:
            out.append(piece)
        start = m.end()
    rest = text[start:].strip()
    if rest:
        out.append(rest)
    return out
