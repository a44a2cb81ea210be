r"""Real COCO instance segmentation from ``data_root``, as torchvision's Mask R-CNN trains on it.

The ``full`` profile of the GCNet COCO notebook reads COCO 2017 in its standard layout::

    data_root/
        annotations/instances_train2017.json
        annotations/instances_val2017.json
        train2017/000000000009.jpg ...
        val2017/000000000139.jpg ...

:class:`CocoInstances` is a map-style ``Dataset`` in the spirit of torchvision's
``CocoDetection`` (images read with PIL, annotations through pycocotools' ``COCO``), with the
targets turned into what ``MaskRCNN`` wants: ``boxes`` (x1, y1, x2, y2), ``labels``, ``masks``.
Three conventions of the GCNet / mmdetection v1 setup are fixed here:

- **labels are contiguous**: COCO's 80 category ids run from 1 to 90 with gaps; label k (1..80)
  is ``category_ids[k - 1]``, 0 is the background, so the detector has 81 classes.
  :attr:`CocoInstances.label_to_category` maps back for evaluation
  (:func:`relnotes.data.coco_eval.detections_to_coco`).
- **crowd regions and degenerate boxes are not training targets** (``iscrowd=1``, or a box
  narrower or lower than 1 px); pycocotools still sees the crowd regions at evaluation, where they
  are "ignore" areas.
- ``skip_empty=True`` drops the images with no target left (torchvision's detection references
  do the same for training); for evaluation keep them.

A box-only detector (RN's Faster R-CNN) passes ``masks=False``: decoding every polygon to an
image-sized mask is most of the loading time. Augmentation is torchvision's: ``transforms`` is a
``torchvision.transforms.v2`` transform, called on the image and target as ``tv_tensors`` (so
``v2.RandomHorizontalFlip(0.5)``, RN's ``FLIP: true``, flips the boxes and masks with the image).
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["CocoInstances"]


class CocoInstances(Dataset):
    """COCO instances of one split (see the module docstring).

    Args:
        root (path): the folder with ``annotations/`` and the image folders.
        split (str): ``"val2017"``, ``"train2017"``, ...; reads
            ``annotations/instances_<split>.json`` and the images in ``<split>/``.
            Default: ``"val2017"``.
        skip_empty (bool): drop images without a non-crowd, non-degenerate object. Default: False.
        max_images (int, optional): keep only the first this many images (in id order).
            Default: None (all).
        masks (bool): decode the instance masks into ``target["masks"]``. Default: True.
        transforms (callable, optional): a ``torchvision.transforms.v2`` transform of
            ``(image, target)``; it sees ``tv_tensors.Image``, ``BoundingBoxes`` (XYXY) and
            ``Mask``. Default: None.

    Item ``i``: ``(image, target)``, ``image`` Tensor[3, H, W] float32 in [0, 1] and ``target``
    ``boxes`` Tensor[K, 4], ``labels`` Tensor[K] (int64, 1..80), ``masks`` Tensor[K, H, W]
    (uint8; only with ``masks=True``), ``image_id`` (the COCO id).

    Attributes:
        coco_gt (dict): the ground truth of the kept images, for
            :func:`relnotes.data.coco_eval.coco_evaluate`.
        label_to_category (list[int]): ``[0] + category ids``; entry k is label k's category.
    """

    def __init__(self, root: str | os.PathLike, split: str = "val2017", *,
                 skip_empty: bool = False, max_images: int | None = None, masks: bool = True,
                 transforms=None) -> None:
        from pycocotools.coco import COCO

        self.root = Path(root)
        ann_file = self.root / "annotations" / f"instances_{split}.json"
        self.image_dir = self.root / split
        if not ann_file.is_file():
            raise FileNotFoundError(
                f"no COCO annotations at {ann_file}: data_root must hold annotations/"
                f"instances_{split}.json and {split}/ (the layout of cocodataset.org's 2017 "
                f"release)")
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"no image folder {self.image_dir} next to {ann_file}")
        if max_images is not None and (isinstance(max_images, bool)
                                       or not isinstance(max_images, int) or max_images < 1):
            raise ValueError(f"max_images must be a positive int or None; got {max_images!r}")
        if transforms is not None and not callable(transforms):
            raise TypeError(f"transforms must be a callable (image, target) -> (image, target); "
                            f"got {type(transforms).__name__}")
        self.masks, self.transforms = masks, transforms
        with contextlib.redirect_stdout(io.StringIO()):             # pycocotools prints timings
            self.coco = COCO(str(ann_file))
        category_ids = sorted(self.coco.getCatIds())
        self.label_to_category = [0] + category_ids
        self._label = {c: k for k, c in enumerate(category_ids, start=1)}
        ids = sorted(self.coco.getImgIds())
        if skip_empty:
            ids = [i for i in ids if self._objects(i)]
        if max_images is not None:
            ids = ids[:max_images]
        self.ids = ids
        kept = set(ids)
        d = self.coco.dataset
        self.coco_gt = dict(images=[im for im in d["images"] if im["id"] in kept],
                            annotations=[a for a in d["annotations"] if a["image_id"] in kept],
                            categories=list(d["categories"]))

    def _objects(self, image_id: int) -> list[dict]:
        """The training targets of an image: no crowd regions, no box under 1 px."""
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=image_id, iscrowd=False))
        return [a for a in anns if a["bbox"][2] >= 1 and a["bbox"][3] >= 1]

    def labels_of(self, i: int) -> np.ndarray:
        """The labels (1..80) of item ``i``'s targets, from the annotations alone (no image is
        read): e.g. for class co-occurrence statistics over a whole split."""
        return np.array([self._label[a["category_id"]] for a in self._objects(self.ids[i])],
                        np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int):
        from PIL import Image

        image_id = self.ids[i]
        info = self.coco.loadImgs(image_id)[0]
        with Image.open(self.image_dir / info["file_name"]) as im:
            image = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        H, W = image.shape[:2]
        anns = self._objects(image_id)
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                           a["bbox"][1] + a["bbox"][3]] for a in anns], np.float32).reshape(-1, 4)
        target = dict(boxes=torch.from_numpy(boxes),
                      labels=torch.tensor([self._label[a["category_id"]] for a in anns],
                                          dtype=torch.int64),
                      image_id=torch.tensor(image_id))
        if self.masks:
            masks = np.zeros((len(anns), H, W), np.uint8)
            for k, a in enumerate(anns):
                masks[k] = self.coco.annToMask(a)
            target["masks"] = torch.from_numpy(masks)
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        if self.transforms is not None:
            image, target = self._transform(image, target)
        return image, target

    def _transform(self, image, target):
        """Apply ``transforms`` on tv_tensors, and give plain tensors back."""
        from torchvision import tv_tensors

        H, W = image.shape[-2:]
        wrapped = dict(target, boxes=tv_tensors.BoundingBoxes(target["boxes"], format="XYXY",
                                                              canvas_size=(H, W)))
        if "masks" in target:
            wrapped["masks"] = tv_tensors.Mask(target["masks"])
        image, wrapped = self.transforms(tv_tensors.Image(image), wrapped)
        plain = {k: v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else v
                 for k, v in wrapped.items()}
        return image.as_subclass(torch.Tensor), plain
