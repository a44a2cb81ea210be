"""A one-layer self-attention network for the key-value lookup task (``relnotes.data.key_value``).

Each element (key, value) is embedded as ``E_key[key] + E_value[value]``; one
:class:`~relnotes.nn.MultiHeadSelfAttention` relates all elements (no positions: the memory is a
set); the output of the query element, the last one, is classified into a value. The attention
weights of the query's row are the ones the book compares with the known right answer.
"""

from __future__ import annotations

from torch import Tensor, nn

from ..nn.self_attention import MultiHeadSelfAttention

__all__ = ["LookupAttention"]


class LookupAttention(nn.Module):
    """Embeddings, one self-attention layer, a linear read-out at the query element.

    Args:
        n_keys (int): size of the key vocabulary.
        n_values (int): size of the value vocabulary (the blank value is the extra id).
        channels (int): d, the embedding size.
        num_heads (int): H of the attention layer. Default: 1.
    """

    def __init__(self, n_keys: int, n_values: int, *, channels: int, num_heads: int = 1) -> None:
        super().__init__()
        self.key_embedding = nn.Embedding(n_keys, channels)
        self.value_embedding = nn.Embedding(n_values + 1, channels)   # + the query's blank
        self.attention = MultiHeadSelfAttention(channels, num_heads=num_heads)
        self.classifier = nn.Linear(channels, n_values)

    def forward(self, tokens: Tensor, return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            tokens (Tensor[B, N, 2]): int64 (key id, value id); the query is element N - 1.
            return_weights (bool): also return the query's weights, Tensor[B, H, N]. Default: False.

        Returns:
            Tensor[B, n_values]: the logits of the value under the query's key.
        """
        if tokens.dim() != 3 or tokens.shape[-1] != 2:
            raise ValueError(f"tokens must be Tensor[B, N, 2]; got {tuple(tokens.shape)}")
        f = self.key_embedding(tokens[..., 0]) + self.value_embedding(tokens[..., 1])  # [B, N, d]
        y, w = self.attention(f, return_weights=True)                                  # w: [B, H, N, N]
        logits = self.classifier(y[:, -1])
        return (logits, w[:, :, -1]) if return_weights else logits
