"""Training and decoding a sequence-to-sequence model (teacher forcing, greedy decoding).

- :func:`train_seq2seq`: cross-entropy of the next target token given the previous ones (teacher
  forcing), padding ignored, Adam with a cosine decay over ``steps``, batches in a seeded order.
- :func:`greedy_decode`: the most likely token step by step, from ``<s>``.
- :func:`seq2seq_metrics`: exact match (the whole output equals the target) and token accuracy
  (target positions up to and including ``</s>`` predicted right) of greedy outputs.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.number_words import BOS, EOS, PAD
from .seed import seed_everything

__all__ = ["train_seq2seq", "greedy_decode", "seq2seq_metrics"]


def train_seq2seq(model: nn.Module, src: Tensor, tgt: Tensor, *, steps: int, batch_size: int = 128,
                  lr: float = 3e-3, seed: int = 0, threads: int | None = None) -> dict:
    """Train ``model(src, tgt_in) -> logits`` on (src, tgt) token tensors; returns ``losses``
    (per step), ``initial_loss`` / ``final_loss`` (means of the first / last 10 % of steps),
    ``seconds``."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    start = time.perf_counter()
    seed_everything(seed, threads=threads)
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    losses, order = [], torch.empty(0, dtype=torch.long)
    model.train()
    for _ in range(steps):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(len(src), generator=gen)])
        idx, order = order[:batch_size], order[batch_size:]
        s, t = src[idx], tgt[idx]
        logits = model(s, t[:, :-1])                                   # teacher forcing
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t[:, 1:].reshape(-1),
                               ignore_index=PAD)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    tail = max(1, steps // 10)
    return {"losses": losses, "initial_loss": sum(losses[:tail]) / tail,
            "final_loss": sum(losses[-tail:]) / tail, "seconds": time.perf_counter() - start}


@torch.no_grad()
def greedy_decode(model: nn.Module, src: Tensor, max_len: int) -> tuple[Tensor, Tensor]:
    """Tokens Tensor[B, max_len] starting with ``<s>`` (``</s>`` then padding once a row ends),
    and the last step's cross-attention Tensor[B, H, max_len - 1, S]."""
    model.eval()
    memory, keys = model.encode(src)
    out = torch.full((src.shape[0], 1), BOS, dtype=torch.long)
    done = torch.zeros(src.shape[0], dtype=torch.bool)
    for _ in range(max_len - 1):
        logits, weights = model.decode(out, memory, keys)
        nxt = logits[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        done |= nxt == EOS
        out = torch.cat([out, nxt[:, None]], 1)
    return out, weights


def seq2seq_metrics(model: nn.Module, src: Tensor, tgt: Tensor, batch_size: int = 500) -> dict:
    """``exact_match`` and ``token_accuracy`` (fractions) of greedy outputs against ``tgt``."""
    exact = correct = total = 0
    for i in range(0, len(src), batch_size):
        s, t = src[i:i + batch_size], tgt[i:i + batch_size]
        pred, _ = greedy_decode(model, s, t.shape[1])
        scored = t[:, 1:] != PAD                                      # words and </s>
        hit = (pred[:, 1:] == t[:, 1:]) & scored
        correct += int(hit.sum())
        total += int(scored.sum())
        exact += int((hit == scored).all(1).sum())
    return {"exact_match": exact / len(src), "token_accuracy": correct / total}
