"""Collate functions for ``torch.utils.data.DataLoader`` (and :func:`relnotes.engine.fit`)."""

from __future__ import annotations

__all__ = ["detection_collate"]


def detection_collate(batch):
    """Collate ``(image, target)`` pairs into ``(list of images, list of targets)``, the input
    of torchvision detectors (images of a batch are not stacked: their sizes may differ)."""
    images, targets = zip(*batch)
    return list(images), list(targets)
