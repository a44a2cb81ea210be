"""Digits -> number words (``num2words``): a sequence task decided by relations between tokens.

The source is a number's digits ("345"), the target the characters of its words in a language
("dreihundertfünfundvierzig"). German says the units before the tens ("fünfundvierzig" = five and
forty), so the output reads the source out of order and a decoder's cross-attention has to learn
crossing alignments. The split is by *number*: a test number never appears in training.

Tokens: index 0 is padding, 1 begin-of-sequence, 2 end-of-sequence; then the characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["PAD", "BOS", "EOS", "NumberWords", "number_words", "Vocabulary"]

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<s>", "</s>")


@dataclass(frozen=True)
class Vocabulary:
    """Characters <-> token ids (0, 1, 2 are the special tokens)."""

    chars: tuple[str, ...]

    def encode(self, text: str, length: int) -> list[int]:
        """``<s> chars </s> <pad>...`` of exactly ``length`` tokens."""
        ids = [BOS] + [len(SPECIALS) + self.chars.index(c) for c in text] + [EOS]
        if len(ids) > length:
            raise ValueError(f"{text!r} needs {len(ids)} tokens; length is {length}")
        return ids + [PAD] * (length - len(ids))

    def decode(self, ids) -> str:
        """Characters up to the first end-of-sequence (specials dropped)."""
        out = []
        for i in (int(t) for t in ids):
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.chars[i - len(SPECIALS)])
        return "".join(out)

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.chars)


@dataclass
class NumberWords:
    """Source / target token tensors of a split, with their vocabularies and numbers."""

    numbers: list[int]
    src: Tensor           # [n, S] digits with <s> ... </s>
    tgt: Tensor           # [n, T] characters with <s> ... </s>
    src_vocab: Vocabulary
    tgt_vocab: Vocabulary


def number_words(*, lang: str = "de", max_number: int = 9999, train_size: int = 8000,
                 test_size: int = 1000, seed: int = 0) -> tuple[NumberWords, NumberWords]:
    """Train and test splits of the numbers 0..max_number, disjoint, drawn with ``seed``.

    Raises:
        ValueError: ``lang`` is not a language num2words knows, or the splits do not fit.
    """
    from num2words import CONVERTER_CLASSES, num2words

    if lang not in CONVERTER_CLASSES:
        raise ValueError(f"num2words has no language {lang!r}; known: "
                         f"{', '.join(sorted(CONVERTER_CLASSES))}")
    if train_size + test_size > max_number + 1:
        raise ValueError(f"train_size + test_size = {train_size + test_size} numbers, but only "
                         f"{max_number + 1} exist in 0..{max_number}")
    order = np.random.default_rng(seed).permutation(max_number + 1)
    splits = (sorted(order[:train_size].tolist()),
              sorted(order[train_size:train_size + test_size].tolist()))
    every = list(range(max_number + 1))
    words = {n: num2words(n, lang=lang) for n in every}
    src_vocab = Vocabulary(tuple("0123456789"))
    tgt_vocab = Vocabulary(tuple(sorted({c for w in words.values() for c in w})))
    s_len = len(str(max_number)) + 2
    t_len = max(len(w) for w in words.values()) + 2
    out = []
    for nums in splits:
        src = torch.tensor([src_vocab.encode(str(n), s_len) for n in nums])
        tgt = torch.tensor([tgt_vocab.encode(words[n], t_len) for n in nums])
        out.append(NumberWords(nums, src, tgt, src_vocab, tgt_vocab))
    return out[0], out[1]
