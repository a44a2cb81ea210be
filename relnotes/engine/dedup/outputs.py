"""The pre-NMS output of a detector's box head, from which every duplicate-removal method starts
(RN Sec. 4.3): per RoI its 2fc feature, its class probabilities and its refined box."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.transform import resize_boxes

from ...nn.duplicate_removal import select_top_n

__all__ = ["HeadOutputs", "head_outputs", "CachedHeadOutputs"]


@dataclass
class HeadOutputs:
    """The pre-NMS output of the box head on one image.

    Attributes:
        features (Tensor[R, F]): the 2fc feature of each of the R RoIs.
        scores (Tensor[R, C]): class probabilities :math:`s_0`, background removed (column c is
            the detector label c + 1).
        boxes (Tensor[R, 4]): refined boxes (x1, y1, x2, y2) in the input image's pixels,
            class agnostic, without gradient.
        image_id (int): the COCO id of the image.
    """

    features: Tensor
    scores: Tensor
    boxes: Tensor
    image_id: int

    def detach(self) -> "HeadOutputs":
        return HeadOutputs(self.features.detach(), self.scores.detach(), self.boxes,
                           self.image_id)


def head_outputs(model: FasterRCNN, images: list[Tensor], image_ids: list[int]) -> list[HeadOutputs]:
    """Run ``model`` up to its box head and return every RoI's feature, scores and box.

    The backbone and the RPN run in eval mode (the test-time proposals) and, when the body is
    frozen (:func:`~relnotes.engine.detection.freeze_detector_body`), without gradients; the box
    head runs in the mode and with the gradients of the caller, so the output can be trained
    (end to end) or cached (``torch.no_grad()``). The box head must be a
    :class:`~relnotes.models.RelationBoxHead` with a class-agnostic predictor
    (:func:`~relnotes.models.relation_faster_rcnn`).

    Args:
        model (FasterRCNN): e.g. :func:`~relnotes.models.tiny_faster_rcnn`.
        images (list of Tensor[3, H, W]): in [0, 1].
        image_ids (list of int): COCO id of each image.

    Returns:
        list of :class:`HeadOutputs`, one per image.
    """
    if len(images) != len(image_ids):
        raise ValueError(f"images and image_ids must have the same length; got {len(images)} "
                         f"and {len(image_ids)}")
    if not images:
        return []
    rh = model.roi_heads
    modes = (model.transform.training, model.backbone.training, model.rpn.training)
    frozen = getattr(model, "_body_frozen", False)
    model.transform.eval(), model.backbone.eval(), model.rpn.eval()
    try:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
            original_sizes = [tuple(im.shape[-2:]) for im in images]
            batch, _ = model.transform(images)
            feats = model.backbone(batch.tensors)
            if isinstance(feats, Tensor):
                feats = OrderedDict([("0", feats)])
            proposals, _ = model.rpn(batch, feats)                    # list of Tensor[R_i, 4]
    finally:
        model.transform.train(modes[0]), model.backbone.train(modes[1]), model.rpn.train(modes[2])
    x = rh.box_roi_pool(feats, proposals, batch.image_sizes)
    x = rh.box_head(x, proposals)                                       # [R, F]
    logits, deltas = rh.box_predictor(x)                                # [R, C+1], [R, 4(C+1)]
    # class agnostic: the deltas repeat for every class; take the first 4. No gradient to the
    # boxes (official code: BlockGrad on bbox_pred).
    boxes = rh.box_coder.decode(deltas[:, :4].detach(), proposals)[:, 0]   # [R, 4]
    probs = torch.softmax(logits, dim=-1)[:, 1:]                        # s_0, [R, C]
    out = []
    sizes = [len(p) for p in proposals]
    for f, s, b, size, orig, image_id in zip(x.split(sizes), probs.split(sizes),
                                             boxes.split(sizes), batch.image_sizes,
                                             original_sizes, image_ids):
        b = resize_boxes(b.clamp(min=0), size, orig)
        b = torch.minimum(b, b.new_tensor([orig[1], orig[0], orig[1], orig[0]]))
        out.append(HeadOutputs(f, s, b, int(image_id)))
    return out


class CachedHeadOutputs(Dataset):
    """Frozen-detector head outputs and ground truth, the dataset of the network trained alone.

    Item ``i``: ``(HeadOutputs, target)``; batch them with ``collate_fn=list``.

    Args:
        model (FasterRCNN): the frozen detector.
        dataset (Dataset): ``(image, target)`` pairs (target: ``boxes``, ``labels``,
            ``image_id``).
        batch_size (int): images per forward pass. Default: 32.
        device (str or torch.device, optional): where the images go (the model's device);
            the outputs are kept on the CPU. Default: the device of the model's parameters.
    """

    def __init__(self, model: FasterRCNN, dataset: Dataset, batch_size: int = 32,
                 device: str | torch.device | None = None) -> None:
        was_training = model.training
        model.eval()
        if device is None:
            device = next(model.parameters()).device
        self.items = []
        with torch.no_grad():
            for start in range(0, len(dataset), batch_size):
                pairs = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
                outs = head_outputs(model, [im.to(device) for im, _ in pairs],
                                    [int(t["image_id"]) for _, t in pairs])
                self.items += [(HeadOutputs(o.features.cpu(), o.scores.cpu(), o.boxes.cpu(),
                                            o.image_id), t) for o, (_, t) in zip(outs, pairs)]
        model.train(was_training)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


def _candidates(out: HeadOutputs, first_n: int, class_score_threshold: float | None):
    """Per class, the ``first_n`` best RoIs: (classes [C'], scores [C', N], boxes [C', N, 4],
    features [C', N, F])."""
    classes, index, top = select_top_n(out.scores, first_n, class_score_threshold)
    scores = out.scores[index, classes[:, None]]            # [C', N], with the gradient
    # index_select, not features[index]: a RoI is a candidate of several classes, and the
    # backward of advanced indexing sums its gradients with parallel atomic adds on CPU, in an
    # order (so a float sum) that changes from run to run; index_select's backward is sequential
    features = out.features.index_select(0, index.reshape(-1)).unflatten(0, index.shape)
    return classes, scores, out.boxes[index], features
