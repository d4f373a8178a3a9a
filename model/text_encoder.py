"""The umT5 text encoder: prompt cleaning, tokenisation to 512 tokens, encoding with Wan's
slice-then-zero-pad semantics.

The network is transformers' ``UMT5EncoderModel``; the tokenizer is the umT5 tokenizer from the
weights folder, or for the ``tiny`` preset a byte-level tokenizer built here in code (no download),
so any script (Chinese, Japanese, Arabic, English) goes in as it is.
"""

from __future__ import annotations

import html
import re

import torch
from torch import nn

from model.config import TextEncoderConfig

TINY_SPECIALS = ("<pad>", "</s>", "<unk>")  # T5 ids 0, 1, 2


def clean_prompt(text: str) -> str:
    """Wan's prompt cleaning: ftfy.fix_text, HTML-unescape twice, collapse whitespace."""
    import ftfy

    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def build_byte_tokenizer():
    """A byte-level tokenizer (3 specials + 256 bytes = 259 ids) appending ``</s>``, built offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(TINY_SPECIALS)}
    vocab.update({ch: len(TINY_SPECIALS) + i for i, ch in enumerate(sorted(alphabet))})
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>",
                                                       special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>")


def build_umt5(config: TextEncoderConfig) -> nn.Module:
    """An uninitialised ``UMT5EncoderModel`` of ``config`` (build it under ``torch.device('meta')``)."""
    from transformers import UMT5EncoderModel

    return UMT5EncoderModel(config.to_transformers())


class TextEncoder:
    """Prompts -> context [B, text_len, d_model] for the DiT."""

    def __init__(self, tokenizer, model: nn.Module, config: TextEncoderConfig) -> None:
        self.tokenizer = tokenizer
        self.model = model
        self.config = config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Cleaned prompts -> (ids, mask) [B, text_len] int64, padded/truncated, </s> appended."""
        batch = self.tokenizer([clean_prompt(p) for p in prompts], padding="max_length",
                               max_length=self.config.text_len, truncation=True,
                               add_special_tokens=True, return_attention_mask=True,
                               return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"]

    @torch.no_grad()
    def encode(self, prompts: list[str]) -> torch.Tensor:
        """Prompts -> [B, text_len, d_model] in the encoder's dtype.

        Encoded with the attention mask, sliced to each prompt's real length, then zero-padded
        back to text_len (the DiT's cross-attention has no mask and sees those zeros).
        """
        ids, mask = self.tokenize(prompts)
        device = self.device
        hidden = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state
        lengths = mask.sum(dim=1).tolist()
        out = torch.zeros_like(hidden)
        for i, n in enumerate(lengths):
            out[i, :n] = hidden[i, :n]
        return out
