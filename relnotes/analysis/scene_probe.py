"""Is the scene in a detector's features at all? Linear probes (GCNet chapter, :class:`ContextMasks`).

:func:`relnotes.analysis.scene_accuracy.scene_accuracy` asks whether a detector *tells* the scene
(flag or not) of the objects it finds. When it does not, two explanations remain: the features
the box head reads do not carry the flag, or they carry it and the head did not learn to use it.
A linear probe separates them: a logistic regression, trained on the features of the training
images and scored on the test images, that predicts the flag from

- ``"backbone"``: the last stage of the backbone body, averaged over all positions (one vector
  per image: the whole image, the flag included, is in view);
- ``"roi"``: the box head's representation (``box_head`` after RoIAlign on the FPN levels) of
  every ground-truth box (one vector per object: what the classifier of that object reads).

About 0.5 means the features do not separate the scenes linearly; about 1, that they do.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["scene_features", "linear_probe", "scene_probe"]


@torch.no_grad()
def scene_features(model: torch.nn.Module, dataset, *, batch_size: int = 32
                   ) -> dict[str, tuple[Tensor, Tensor]]:
    """Features and flag labels of a torchvision detector (Faster or Mask R-CNN, eval mode) on a
    :class:`~relnotes.data.context_masks.ContextMasksDataset`.

    Returns:
        dict: ``"backbone"`` -> (Tensor[N, C], Tensor[N]) per image, ``"roi"`` ->
        (Tensor[K, D], Tensor[K]) per ground-truth object; labels 1 where the image has the flag.
    """
    was_training = model.training
    model.eval()
    out: dict[str, list] = {"backbone": [[], []], "roi": [[], []]}
    try:
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            images, targets = model.transform([im for im, _ in items], [dict(t) for _, t in items])
            body = model.backbone.body(images.tensors)
            last = body[list(body)[-1]]                                    # [B, C, h, w]
            flags = torch.tensor([int(t["labels"][0] > 3) for t in targets])  # ids 4-6: flagged
            out["backbone"][0].append(last.mean((2, 3)))
            out["backbone"][1].append(flags)
            features = model.backbone.fpn(body)
            boxes = [t["boxes"] for t in targets]
            pooled = model.roi_heads.box_roi_pool(features, boxes, images.image_sizes)
            out["roi"][0].append(model.roi_heads.box_head(pooled))
            out["roi"][1].append((torch.cat([t["labels"] for t in targets]) > 3).long())
    finally:
        model.train(was_training)
    return {k: (torch.cat(x), torch.cat(y)) for k, (x, y) in out.items()}


def linear_probe(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, *,
                 weight_decay: float = 1e-3, steps: int = 200) -> float:
    """Test accuracy of a logistic regression (features standardised with the training set's mean
    and std, L-BFGS on the full training set, L2 penalty ``weight_decay``) from ``x`` to the
    binary label ``y``.

    Example: features whose first coordinate is the label give 1.0; pure noise about 0.5.
    """
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = ((train_x - mean) / std).double(), ((test_x - mean) / std).double()
    w = torch.zeros(a.shape[1], dtype=torch.float64, requires_grad=True)
    c = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, c], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a @ w + c, train_y.double())
        loss = loss + weight_decay * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return ((b @ w + c > 0).long() == test_y).double().mean().item()


def scene_probe(model: torch.nn.Module, train_set, test_set, *, batch_size: int = 32
                ) -> dict[str, float]:
    """Linear-probe accuracy of the flag on ``"backbone"`` and ``"roi"`` features (see the module
    docstring): probes trained on ``train_set``'s features, scored on ``test_set``'s."""
    train = scene_features(model, train_set, batch_size=batch_size)
    test = scene_features(model, test_set, batch_size=batch_size)
    return {k: linear_probe(*train[k], *test[k]) for k in train}
