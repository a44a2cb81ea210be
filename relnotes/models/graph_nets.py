"""Node classifiers of the graph chapter: GCN (any Table 3 propagation), MLP, GAT.

- :class:`GCN`: Kipf & Welling's network, ``PropagationConv`` layers with an activation and
  dropout between them; the last layer gives the class logits. Two layers with 16 hidden units
  is the paper's (Sec. 5.3); ``variant="mlp"`` is Table 3's MLP row (the same network with the
  graph replaced by the identity).
- :func:`mlp`: ``GCN(variant="mlp")``.
- :class:`GAT`: Veličković et al.'s two-layer network: ``GraphAttention`` with K heads
  concatenated and an ELU, then one averaged output head.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..nn import GraphAttention, PropagationConv
from ..ops.graph import propagation

__all__ = ["GCN", "GAT", "mlp"]

ACTIVATIONS = {"relu": F.relu, "tanh": F.tanh, "elu": F.elu}


class GCN(nn.Module):
    """A stack of graph convolutions, ``in_channels -> hidden... -> num_classes``.

    Args:
        in_channels (int): node feature size.
        num_classes (int): output size (logits).
        hidden (tuple[int, ...]): widths of the hidden layers. Default: (16,) (the paper's).
        variant (str): propagation model of every layer (``relnotes.ops.graph.PROPAGATIONS``).
        dropout (float): on the input of every layer (the paper: 0.5). Default: 0.5.
        activation (str): ``"relu"`` (the paper's Sec. 5.3), ``"tanh"`` (its karate-club
            appendix) or ``"elu"``. Default: ``"relu"``.
    """

    def __init__(self, in_channels: int, num_classes: int, *, hidden: tuple[int, ...] = (16,),
                 variant: str = "renormalized", dropout: float = 0.5,
                 activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}")
        widths = (in_channels, *hidden, num_classes)
        self.layers = nn.ModuleList(PropagationConv(a, out_channels=b, variant=variant)
                                    for a, b in zip(widths[:-1], widths[1:]))
        self.variant, self.dropout, self.activation = variant, dropout, activation
        self._cache: tuple | None = None

    def _matrices(self, adjacency: Tensor) -> tuple[Tensor, ...]:
        """The propagation matrices, sparse, computed once per adjacency (not per layer/step)."""
        key = (adjacency.data_ptr(), adjacency._version, tuple(adjacency.shape), adjacency.dtype)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, tuple(p.to_sparse() for p in propagation(adjacency, self.variant)))
        return self._cache[1]

    def forward(self, x: Tensor, adjacency: Tensor, return_hidden: bool = False
                ) -> Tensor | tuple[Tensor, Tensor]:
        """Logits Tensor[N, num_classes] (and the last hidden layer's output, Tensor[N, h])."""
        act = ACTIVATIONS[self.activation]
        matrices = self._matrices(adjacency.to(x.dtype))
        h = x
        for i, layer in enumerate(self.layers):
            if i:
                h = act(h)
                hidden = h
            h = layer(F.dropout(h, self.dropout, self.training), adjacency, matrices=matrices)
        return (h, hidden) if return_hidden else h


def mlp(in_channels: int, num_classes: int, **kwargs) -> GCN:
    """Table 3's MLP row: the GCN with every propagation matrix the identity."""
    return GCN(in_channels, num_classes, variant="mlp", **kwargs)


class GAT(nn.Module):
    """Two graph-attention layers (Veličković et al., ICLR 2018, Sec. 3.3, transductive setup:
    K heads of ``hidden`` units, ELU, one averaged output head; dropout on inputs).

    Args:
        in_channels (int), num_classes (int)
        hidden (int): units per head. Default: 8 (the paper's).
        num_heads (int): K. Default: 8 (the paper's).
        dropout (float): Default: 0.6 (the paper's, on inputs; we do not drop attention
            weights: our choice).
    """

    def __init__(self, in_channels: int, num_classes: int, *, hidden: int = 8,
                 num_heads: int = 8, dropout: float = 0.6) -> None:
        super().__init__()
        self.conv1 = GraphAttention(in_channels, out_channels=hidden, num_heads=num_heads)
        self.conv2 = GraphAttention(hidden * num_heads, out_channels=num_classes, num_heads=1,
                                    concat=False)
        self.dropout = dropout

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        h = F.elu(self.conv1(F.dropout(x, self.dropout, self.training), adjacency, sparse=True))
        return self.conv2(F.dropout(h, self.dropout, self.training), adjacency, sparse=True)
