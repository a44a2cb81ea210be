r"""Duplicate removal after a two-stage detector: hand-made rules and the learned network.

RN (arXiv:1711.11575v2) Sec. 4.3-4.4 and Tables 3-4. Every method here starts from the same
**pre-NMS** output of the box head of a torchvision ``FasterRCNN`` (:func:`head_outputs`): for
each RoI of an image, its feature :math:`f` (the 2fc output), its class probabilities :math:`s_0`
(softmax, background removed) and its refined box (class-agnostic regression). Then

- :func:`rule_detections` keeps, per class, the boxes with :math:`s_0 \ge` ``score_thresh`` and
  applies greedy NMS (:math:`N_t`), Gaussian Soft-NMS (:math:`\sigma`) or nothing;
- :func:`learned_detections` takes, per class, the ``first_n`` best boxes
  (:func:`~relnotes.nn.select_top_n`; classes whose best score reaches
  ``class_score_threshold``) and rescores them with :class:`~relnotes.nn.DuplicateRemoval`:
  :math:`s = s_0 \cdot \frac1T\sum_\eta s_1^\eta`, no NMS afterwards (code, issue #19);
- :func:`dedup_loss` is the training loss of the network on the same candidates, with
  :func:`~relnotes.nn.duplicate_removal_targets` per class and image; :func:`mean_dedup_loss`
  is its mean over a set of cached images, without gradients (before and after training: did
  the network learn?).

Every method keeps at most ``max_per_image`` detections per image (COCO's 100).

One module per concern: :mod:`.outputs` (the pre-NMS head output, cached or not),
:mod:`.rules` (NMS, Soft-NMS), :mod:`.learned` (the network at test time), :mod:`.training`
(its loss and training, alone or end to end), :mod:`.evaluation` (streamed detections,
duplicates per object), :mod:`.experiment` (Table 4's steps, each one call with the data as its
argument, synthetic or COCO). Everything is importable from ``relnotes.engine.dedup``.

**Two ways to train the network** (RN Table 4):

- *alone*: the detector is frozen; :func:`head_outputs` is computed once, without gradients, and
  the network trains on the cached outputs (:class:`CachedHeadOutputs`, for
  :func:`relnotes.engine.fit`). On COCO the cache would not fit (1,000 RoI features of 1,024
  floats per image are 4 MB, 470 GB for train2017): :func:`frozen_detector_dedup_loss` computes
  the head outputs of each batch on the fly instead, and :func:`stream_detections` evaluates
  every method batch by batch;
- *end to end* (Sec. 4.4): :class:`DetectorWithDedup` adds the detector's losses and the
  duplicate-removal loss with equal weights (:func:`e2e_loss`). The gradient of
  :math:`s_0 s_1` reaches the classifier through :math:`s_0` and the head through :math:`f`, but
  not the boxes: the official code ``BlockGrad``-s the box regression, and here the decoded boxes
  are detached. The rank is an index and has no gradient either. Our detector's body (backbone and
  RPN) is frozen in both cases (:func:`~relnotes.engine.detection.freeze_detector_body`), so "end
  to end" trains the box head and the network together; the paper also trains the body.
"""

from .evaluation import coco_ap, duplicates_per_object, stream_detections
from .outputs import CachedHeadOutputs, HeadOutputs, head_outputs
from .learned import learned_detections, saturated_fraction
from .rules import rule_detections
from .training import (DetectorWithDedup, dedup_loss, e2e_loss, frozen_detector_dedup_loss,
                       mean_dedup_loss, train_alone, train_alone_streaming, train_e2e)
from .experiment import (AloneRun, DedupData, FrozenDetector, coco_data, crowded_shapes_data, dedup_ap,
                         dedup_detections, rule_methods, table4_labels, TABLE3_LABELS,
                         train_dedup_alone, train_dedup_e2e, train_frozen_detector)

__all__ = ["HeadOutputs", "head_outputs", "CachedHeadOutputs", "rule_detections",
           "learned_detections", "saturated_fraction", "dedup_loss", "mean_dedup_loss", "frozen_detector_dedup_loss",
           "stream_detections", "DetectorWithDedup", "e2e_loss", "duplicates_per_object",
           "train_alone", "train_alone_streaming", "train_e2e", "coco_ap", "DedupData",
           "FrozenDetector", "crowded_shapes_data", "coco_data", "train_frozen_detector",
           "rule_methods", "dedup_detections", "dedup_ap", "AloneRun", "train_dedup_alone", "train_dedup_e2e",
           "table4_labels", "TABLE3_LABELS"]
