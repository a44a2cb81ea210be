"""A small Transformer encoder-decoder (Vaswani et al., 2017) whose attention is the relation
formula (:class:`relnotes.nn.MultiHeadAttention`), and its no-relation twin.

Post-norm layers as in the paper (Sec. 3.1): ``x = LN(x + Attention(x)); x = LN(x + FFN(x))``;
the decoder adds a cross-attention over the encoder's output between the two. Learnt positional
embeddings (the paper uses sinusoids; our choice, for a 5-token source). With
``relation=False`` every attention is the uniform mean over its neighbourhood (all source tokens;
the target tokens so far): the same network, positions and parameters, but no token chooses which
other tokens to read. That is the language chapter's no-relation baseline.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import MultiHeadAttention

__all__ = ["Seq2SeqTransformer"]


class _Layer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, cross: bool, uniform: bool) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d, num_heads=heads, uniform=uniform)
        self.cross = MultiHeadAttention(d, num_heads=heads, uniform=uniform) if cross else None
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Linear(ff, d))
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(3 if cross else 2))

    def forward(self, x, mask, memory=None, memory_mask=None):
        x = self.norms[0](x + self.attn(x, mask=mask))
        weights = None
        if self.cross is not None:
            y, weights = self.cross(x, memory, mask=memory_mask, return_weights=True)
            x = self.norms[1](x + y)
        return self.norms[-1](x + self.ff(x)), weights


class Seq2SeqTransformer(nn.Module):
    """Encoder-decoder over token ids (0 = padding).

    Args:
        src_vocab (int), tgt_vocab (int): vocabulary sizes.
        d_model (int): Default: 64. num_heads (int): Default: 4. layers (int): encoder and
        decoder layers each. Default: 2. ff (int): feed-forward width. Default: 128.
        max_len (int): longest sequence. Default: 64.
        relation (bool): attention (True) or the uniform no-relation baseline. Default: True.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, *, d_model: int = 64, num_heads: int = 4,
                 layers: int = 2, ff: int = 128, max_len: int = 64, relation: bool = True) -> None:
        super().__init__()
        self.relation = relation
        self.src_embed = nn.Embedding(src_vocab, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.encoder = nn.ModuleList(_Layer(d_model, num_heads, ff, False, not relation)
                                     for _ in range(layers))
        self.decoder = nn.ModuleList(_Layer(d_model, num_heads, ff, True, not relation)
                                     for _ in range(layers))
        self.head = nn.Linear(d_model, tgt_vocab)

    def _embed(self, table: nn.Embedding, ids: Tensor) -> Tensor:
        return table(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder output Tensor[B, S, d] and the key mask BoolTensor[B, 1, 1, S] (not padding)."""
        keys = (src != 0)[:, None, None, :]
        x = self._embed(self.src_embed, src)
        for layer in self.encoder:
            x, _ = layer(x, keys)
        return x, keys

    def decode(self, tgt_in: Tensor, memory: Tensor, keys: Tensor) -> tuple[Tensor, Tensor]:
        """Logits Tensor[B, T, V] and the last layer's cross-attention Tensor[B, H, T, S]."""
        T = tgt_in.shape[1]
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool, device=tgt_in.device))  # j <= i
        x = self._embed(self.tgt_embed, tgt_in)
        for layer in self.decoder:
            x, weights = layer(x, causal, memory, keys)
        return self.head(x), weights

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher-forced logits Tensor[B, T, V] for targets ``tgt_in`` (shifted right)."""
        memory, keys = self.encode(src)
        return self.decode(tgt_in, memory, keys)[0]
