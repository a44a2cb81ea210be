r"""Learned region features (LRF; Gu, Hu, Wang, Wei, Dai; ECCV 2018; arXiv:1803.07066): a
drop-in replacement for RoIAlign whose bin weights are an object–pixel relation.

For a box :math:`b` and :math:`K = H_o W_o` parts,

.. math::

    y_k(b) = \sum_{p \in \Omega_b} w_k(b, p, x)\, x(p), \qquad
    w_k \propto \exp\Big(\tfrac{1}{\sqrt{d_k}}\langle W_k^{box} E^{box}(b), W^{im} E^{im}(p)\rangle
    + W_k^{app} x(p)\Big),

the math of :mod:`relnotes.ops.region_features`. The LRF paper's full text was not available to
us; its general form, the sinusoidal embeddings (wavelength 1000), the per-part box projection,
the shared pixel projection, the inner product and the 1x1 appearance conv with K outputs are
from our reference notes. **Our choices**, where the paper's details are unknown to us: absolute
image-pixel coordinates for box and pixel; ``d_e`` = 64 channels per coordinate and ``d_k`` = 64;
the :math:`1/\sqrt{d_k}` scale (as in attention); the support :math:`\Omega_b` (default: the box
enlarged twofold); sparse sampling as a stride on the map; the initialisation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from torchvision.ops import roi_align

from ..ops.region_features import (
    SUPPORTS, boxes_to_rois, box_embedding, check_rois, deformable_roi_pool,
    learned_region_weights, pixel_centres, pixel_embedding, region_features, support_mask,
)
from ._checks import check_feature_map

__all__ = ["DeformableRoIPool", "LearnedRegionFeatures"]


class LearnedRegionFeatures(nn.Module):
    r"""LRF's learned region-feature extractor, called like ``torchvision.ops.RoIAlign``.

    Args:
        channels (int): :math:`C`, channels of the feature map.
        output_size (int or tuple[int, int]): :math:`(H_o, W_o)`; :math:`K = H_o W_o` parts.
            Default: 7.
        spatial_scale (float): map pixels per image pixel (0.25 for a stride-4 map). Default: 1.0.
        d_e (int): sinusoid channels per coordinate of :math:`E^{box}` and :math:`E^{im}` (our
            choice). Default: 64.
        d_k (int): width of the geometric inner product (our choice). Default: 64.
        support (str): :math:`\Omega_b`: ``"roi"``, ``"enlarged"`` or ``"image"``
            (:func:`~relnotes.ops.region_features.support_mask`). Default: ``"enlarged"``.
        enlarge (float): side factor of the enlarged box. Default: 2.0.
        sample_stride (int): keep every ``sample_stride``-th row and column of the map as
            candidate pixels (sparse sampling). Default: 1 (all).
        wavelength (float): of the sinusoids (LRF: 1000). Default: 1000.
        geometric, appearance (bool): keep the term (for ablations). Default: True.

    Shape:
        ``forward(input, boxes)``: ``input`` Tensor[N, C, H, W]; ``boxes`` Tensor[R, 5] (image
        index, x1, y1, x2, y2 in image pixels) or list[Tensor[L, 4]]; returns
        Tensor[R, C, H_o, W_o] (and the weights Tensor[R, K, P] with ``return_weights``).
    """

    def __init__(self, channels: int, *, output_size: int | tuple[int, int] = 7,
                 spatial_scale: float = 1.0, d_e: int = 64, d_k: int = 64,
                 support: str = "enlarged", enlarge: float = 2.0, sample_stride: int = 1,
                 wavelength: float = 1000.0, geometric: bool = True,
                 appearance: bool = True) -> None:
        super().__init__()
        if support not in SUPPORTS:
            raise ValueError(f"support must be one of {SUPPORTS}; got {support!r}")
        if sample_stride < 1:
            raise ValueError(f"sample_stride must be >= 1; got {sample_stride}")
        if not (geometric or appearance):
            raise ValueError("keep at least one of the geometric and appearance terms")
        self.channels = channels
        self.output_size = (output_size, output_size) if isinstance(output_size, int) \
            else tuple(output_size)
        self.parts = self.output_size[0] * self.output_size[1]
        self.spatial_scale, self.d_e, self.d_k = spatial_scale, d_e, d_k
        self.support, self.enlarge, self.sample_stride = support, enlarge, sample_stride
        self.wavelength, self.geometric, self.appearance = wavelength, geometric, appearance
        # W_k^box for all K parts at once: 4 d_e -> K d_k
        self.box_proj = nn.Linear(4 * d_e, self.parts * d_k) if geometric else None
        # W^im, shared by the parts: 2 d_e -> d_k
        self.pixel_proj = nn.Linear(2 * d_e, d_k) if geometric else None
        # W^app: a 1x1 conv with K outputs
        self.app_conv = nn.Conv2d(channels, self.parts, 1) if appearance else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Our choice: PyTorch's default init for the two projections, so that the parts start
        with different geometric preferences; the appearance conv starts at zero (std 0.01
        Gaussian in the first author's Caffe2 branch; zero keeps the initial weights a function of
        geometry only)."""
        for layer in (self.box_proj, self.pixel_proj):
            if layer is not None:
                layer.reset_parameters()
        if self.app_conv is not None:
            nn.init.zeros_(self.app_conv.weight)
            nn.init.zeros_(self.app_conv.bias)

    def region_weights(self, input: Tensor, boxes: Tensor | list[Tensor]
                       ) -> tuple[Tensor, Tensor, Tensor]:
        """The weights :math:`w_k(b, p, x)` over the sampled pixels.

        Returns:
            (weights Tensor[R, K, P], batch_index Tensor[R], sampled input Tensor[N, C, H', W'])
        """
        if input.dim() == 4 and input.shape[1] != self.channels:
            raise ValueError(f"input must have {self.channels} channels; got "
                             f"{tuple(input.shape)}")
        param = next(self.parameters())
        if input.dtype != param.dtype:
            raise TypeError(f"input must have the module's dtype {param.dtype}; got {input.dtype}")
        if input.device != param.device:
            raise ValueError(f"input must be on the module's device {param.device}; got "
                             f"{input.device}")
        rois = boxes_to_rois(boxes)
        check_rois(input, rois, self.spatial_scale)
        s = self.sample_stride
        sampled = input[:, :, s // 2::s, s // 2::s]                                # [N, C, H', W']
        h, w = input.shape[-2:]
        centres = pixel_centres(h, w, self.spatial_scale, stride=s, dtype=input.dtype,
                                device=input.device)                              # [P, 2]
        r, p = rois.shape[0], centres.shape[0]
        if self.geometric:
            box_keys = self.box_proj(box_embedding(rois, self.d_e, wavelength=self.wavelength))
            box_keys = box_keys.view(r, self.parts, self.d_k) / math.sqrt(self.d_k)  # [R, K, d_k]
            pixel_keys = self.pixel_proj(pixel_embedding(centres, self.d_e,
                                                         wavelength=self.wavelength))  # [P, d_k]
        else:
            box_keys, pixel_keys = input.new_zeros(r, self.parts, 1), input.new_zeros(p, 1)
        if self.appearance:
            app = self.app_conv(sampled).flatten(2)                                # [N, K, P]
        else:
            app = input.new_zeros(input.shape[0], self.parts, p)
        mask = None if self.support == "image" else support_mask(
            rois, centres, self.support, enlarge=self.enlarge)                     # [R, P]
        batch_index = rois[:, 0].long()
        return learned_region_weights(box_keys, pixel_keys, app, batch_index, mask), \
            batch_index, sampled

    def forward(self, input: Tensor, boxes: Tensor | list[Tensor], *,
                return_weights: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        weights, batch_index, sampled = self.region_weights(input, boxes)
        out = region_features(sampled, weights, batch_index)                        # [R, C, K]
        out = out.view(out.shape[0], out.shape[1], *self.output_size)              # [R, C, H_o, W_o]
        return (out, weights) if return_weights else out

    def extra_repr(self) -> str:
        defaults = dict(output_size=(7, 7), spatial_scale=1.0, d_e=64, d_k=64, support="enlarged",
                        enlarge=2.0, sample_stride=1, wavelength=1000.0, geometric=True,
                        appearance=True)
        parts = [str(self.channels)]
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default:
                parts.append(f"{name}={value!r}")
        return ", ".join(parts)


class DeformableRoIPool(nn.Module):
    r"""Deformable RoI pooling (DCN v1): RoIAlign, an fc from its output to one normalised
    offset :math:`\Delta\hat p_{ij}` per bin, then RoIAlign again at the moved bins
    (:func:`~relnotes.ops.region_features.deformable_roi_pool`). Called like
    ``torchvision.ops.RoIAlign``; the fc starts at zero, so the untrained module *is* RoIAlign.

    Args:
        channels (int): :math:`C`, channels of the feature map.
        output_size (int or tuple[int, int]): :math:`(H_o, W_o)`. Default: 7.
        spatial_scale (float): map pixels per image pixel. Default: 1.0.
        sampling_ratio (int): points per bin side; <= 0: adaptive. Default: 2.
        aligned (bool): as in ``torchvision.ops.roi_align``. Default: False.
        gamma (float): :math:`\gamma` of :math:`\Delta p = \gamma\, \Delta\hat p \circ (w, h)`
            (DCN: 0.1). Default: 0.1.

    One fc layer ``C H_o W_o -> 2 H_o W_o`` predicts the offsets, as the RN official code's DCN
    head does (12544 -> 98); mmcv's ``DeformRoIPoolPack`` uses three (our choice: one).

    Shape:
        ``forward(input, boxes)``: ``input`` Tensor[N, C, H, W]; ``boxes`` Tensor[R, 5] or
        list[Tensor[L, 4]]; returns Tensor[R, C, H_o, W_o] (and the offsets
        Tensor[R, 2, H_o, W_o] with ``return_offsets``).
    """

    def __init__(self, channels: int, *, output_size: int | tuple[int, int] = 7,
                 spatial_scale: float = 1.0, sampling_ratio: int = 2, aligned: bool = False,
                 gamma: float = 0.1) -> None:
        super().__init__()
        self.channels = channels
        self.output_size = (output_size, output_size) if isinstance(output_size, int) \
            else tuple(output_size)
        self.spatial_scale, self.sampling_ratio = spatial_scale, sampling_ratio
        self.aligned, self.gamma = aligned, gamma
        parts = self.output_size[0] * self.output_size[1]
        self.offset_fc = nn.Linear(channels * parts, 2 * parts)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The offset fc at zero (DCN code), so the untrained module samples RoIAlign's bins."""
        nn.init.zeros_(self.offset_fc.weight)
        nn.init.zeros_(self.offset_fc.bias)

    def forward(self, input: Tensor, boxes: Tensor | list[Tensor], *,
                return_offsets: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        check_feature_map(input, self.channels, self.offset_fc.weight)
        rois = boxes_to_rois(boxes)
        check_rois(input, rois, self.spatial_scale)
        plain = roi_align(input, rois, self.output_size, self.spatial_scale,
                          self.sampling_ratio, self.aligned)                   # [R, C, H_o, W_o]
        # DCN: Δp̂ = fc(RoIAlign's feature), [R, 2, H_o, W_o]
        offset = self.offset_fc(plain.flatten(1)).view(-1, 2, *self.output_size)
        out = deformable_roi_pool(input, rois, offset, self.output_size, self.spatial_scale,
                                  self.sampling_ratio, self.aligned, gamma=self.gamma)
        return (out, offset) if return_offsets else out

    def extra_repr(self) -> str:
        parts = [str(self.channels)]
        for name, default in dict(output_size=(7, 7), spatial_scale=1.0, sampling_ratio=2,
                                  aligned=False, gamma=0.1).items():
            if getattr(self, name) != default:
                parts.append(f"{name}={getattr(self, name)!r}")
        return ", ".join(parts)
