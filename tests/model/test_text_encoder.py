"""Text encoder: cleaning, 512-token padding, slice-then-zero-pad, parity with diffusers' encoding."""

from __future__ import annotations

import torch

from model.config import TINY
from model.text_encoder import TextEncoder, build_byte_tokenizer, build_umt5, clean_prompt

PROMPTS = ["A red fox runs through snow at dawn", "一只红狐狸在雪地里奔跑",
           "雪の中を走る赤いキツネ", "ثعلب أحمر يجري في الثلج"]


def tiny_encoder() -> TextEncoder:
    torch.manual_seed(0)
    return TextEncoder(build_byte_tokenizer(), build_umt5(TINY.text).eval(), TINY.text)


def test_cleaning_matches_reference():
    assert clean_prompt("  caf\u00c3\u00a9 &amp;amp;  tea\n\n time ") == "café & tea time"


def test_every_script_tokenises_to_512_with_eos():
    encoder = tiny_encoder()
    ids, mask = encoder.tokenize(PROMPTS)
    assert ids.shape == mask.shape == (4, 512)
    for row, m, prompt in zip(ids, mask, PROMPTS):
        n = int(m.sum())
        assert n == len(prompt.encode()) + 1  # bytes + </s>
        assert row[n - 1].item() == 1 and (row[n:] == 0).all()


def test_matches_diffusers_prompt_encoding():
    from diffusers import WanPipeline

    encoder = tiny_encoder()
    fake = type("P", (), {"tokenizer": encoder.tokenizer, "text_encoder": encoder.model,
                          "_execution_device": torch.device("cpu")})()
    expected = WanPipeline._get_t5_prompt_embeds(fake, PROMPTS, max_sequence_length=512,
                                                 device=torch.device("cpu"), dtype=torch.float32)
    got = encoder.encode(PROMPTS)
    assert got.shape == (4, 512, 32)
    assert torch.allclose(got, expected, atol=1e-6)
    n = len(PROMPTS[0].encode()) + 1
    assert (got[0, n:] == 0).all() and got[0, :n].abs().sum() > 0
