r"""RepPoints' point-set head (Yang, Liu, Hu, Wang, Lin; ICCV 2019; arXiv:1904.11490): a
deformable convolution whose sampling points *are* the object representation.

At every location :math:`p_0` of a feature map (stride :math:`s`), the head predicts :math:`n = 9`
points in two steps and classifies the features read at them, as the official
``RepPointsHead.forward_single`` does (``microsoft/RepPoints``, our reference notes §3.3):

1. **initial points** :math:`\{p_0 + \Delta p^{init}_k\}`: a 3x3 conv + ReLU and a 1x1 conv with
   :math:`2n` outputs, the offsets from :math:`p_0` in map pixels, (y, x) per point;
2. the points become the offsets of a 3x3 **deformable conv** (kernel grid
   :math:`\mathcal{R}`): ``dcn_offset`` :math:`= \Delta p^{init} - \mathcal{R}`, so the DCN reads
   the features exactly at the points. Its gradient into the initial points is scaled by
   ``gradient_mul`` = 0.1 (``0.9 * p.detach() + 0.1 * p``);
3. **classification**: DCN at the points + ReLU + 1x1 conv to the class logits;
4. **refinement**: DCN at the points + ReLU + 1x1 conv to :math:`2n` residuals,
   :math:`\Delta p^{refine} = \text{out} + \Delta p^{init}` (detached).

Boxes for the losses come from the points by :func:`relnotes.ops.point_sets.points_to_box`
(min-max, partial min-max, moment with the learnt ``moment_transfer``, whose gradient is scaled by
``moment_mul`` = 0.01). **Our choices** (the official head has more): one 3x3 conv per branch
instead of three stacked convs with GroupNorm; the official init (normal, std 0.01; the class
bias at a 0.01 prior) is kept. Assigners and losses (focal, smooth-L1 on pseudo boxes) are not
part of this block.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchvision.ops import DeformConv2d

from ..ops.point_sets import CONVERSIONS, from_flat, points_to_box
from ._checks import check_feature_map

__all__ = ["RepPointsHead"]


class RepPointsHead(nn.Module):
    r"""RepPoints' head on one feature map: initial points, classification and refined points.

    Args:
        channels (int): input channels :math:`C`.
        num_classes (int): class logits per location (no background column: sigmoid / focal).
            Default: 80 (COCO).
        feat_channels (int, optional): width of the branch convs. Default: ``channels``.
        point_feat_channels (int, optional): width of the deformable convs. Default:
            ``feat_channels``.
        n_points (int): points per object; a square number (the DCN kernel is
            :math:`\sqrt n \times \sqrt n`). Default: 9.
        gradient_mul (float): scale of the gradient from the DCNs into the initial points.
            Default: 0.1.
        transform (str): pseudo-box conversion of :meth:`boxes` (``"minmax"``,
            ``"partial_minmax"``, ``"moment"``). Default: ``"moment"``.
        moment_mul (float): gradient scale of ``moment_transfer``. Default: 0.01.

    Shape:
        ``forward(input Tensor[B, C, H, W])`` returns ``(cls_logits Tensor[B, num_classes, H, W],
        pts_init Tensor[B, 2n, H, W], pts_refine Tensor[B, 2n, H, W])``; points are offsets
        from each location in map pixels, (y, x) pairs (the official layout).
    """

    def __init__(self, channels: int, *, num_classes: int = 80, feat_channels: int | None = None,
                 point_feat_channels: int | None = None, n_points: int = 9,
                 gradient_mul: float = 0.1, transform: str = "moment",
                 moment_mul: float = 0.01) -> None:
        super().__init__()
        k = math.isqrt(n_points)
        if k * k != n_points or k % 2 == 0:
            raise ValueError(f"n_points must be the square of an odd number (the DCN kernel); "
                             f"got {n_points}")
        if transform not in CONVERSIONS:
            raise ValueError(f"transform must be one of {CONVERSIONS}; got {transform!r}")
        feat = channels if feat_channels is None else feat_channels
        point_feat = feat if point_feat_channels is None else point_feat_channels
        self.channels, self.num_classes, self.n_points, self.kernel_size = \
            channels, num_classes, n_points, k
        self.feat_channels, self.point_feat_channels = feat, point_feat
        self.gradient_mul, self.transform, self.moment_mul = gradient_mul, transform, moment_mul
        self.cls_conv = nn.Conv2d(channels, feat, 3, padding=1)
        self.reg_conv = nn.Conv2d(channels, feat, 3, padding=1)
        # step 1: initial points
        self.pts_init_conv = nn.Conv2d(feat, point_feat, 3, padding=1)
        self.pts_init_out = nn.Conv2d(point_feat, 2 * n_points, 1)
        # steps 3-4: deformable convs that read the features at the points
        self.cls_dcn = DeformConv2d(feat, point_feat, k, padding=k // 2)
        self.cls_out = nn.Conv2d(point_feat, num_classes, 1)
        self.refine_dcn = DeformConv2d(feat, point_feat, k, padding=k // 2)
        self.refine_out = nn.Conv2d(point_feat, 2 * n_points, 1)
        # (λ_x, λ_y) of the moment conversion
        self.moment_transfer = nn.Parameter(torch.zeros(2))
        # the DCN's regular grid R, (y, x) per point, row-major: [1, 2n, 1, 1]
        r = torch.arange(k, dtype=torch.float32) - k // 2
        grid_y, grid_x = torch.meshgrid(r, r, indexing="ij")
        base = torch.stack([grid_y.flatten(), grid_x.flatten()], 1).flatten()
        self.register_buffer("dcn_base_offset", base.view(1, -1, 1, 1), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official init: every conv normal with std 0.01 and zero bias, the class bias at a
        prior probability of 0.01 (focal loss), ``moment_transfer`` zero."""
        for m in (self.cls_conv, self.reg_conv, self.pts_init_conv, self.pts_init_out,
                  self.cls_dcn, self.cls_out, self.refine_dcn, self.refine_out):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls_out.bias, -math.log((1 - 0.01) / 0.01))
        nn.init.zeros_(self.moment_transfer)

    def forward(self, input: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        check_feature_map(input, self.channels, self.cls_conv.weight)
        cls_feat, pts_feat = self.cls_conv(input).relu(), self.reg_conv(input).relu()
        # step 1: Δp^init, [B, 2n, H, W]
        pts_init = self.pts_init_out(self.pts_init_conv(pts_feat).relu())
        # step 2: the DCN samples at the points; gradient into them scaled by gradient_mul
        g = self.gradient_mul
        pts = (1 - g) * pts_init.detach() + g * pts_init
        dcn_offset = pts - self.dcn_base_offset
        # step 3: classify the features read at the points
        cls_logits = self.cls_out(self.cls_dcn(cls_feat, dcn_offset).relu())
        # step 4: refine, Δp^refine = out + Δp^init (detached)
        refine = self.refine_out(self.refine_dcn(pts_feat, dcn_offset).relu())
        pts_refine = refine + pts_init.detach()
        return cls_logits, pts_init, pts_refine

    def boxes(self, points: Tensor, stride: float) -> Tensor:
        """Pseudo boxes of the point sets ``points`` (``pts_init`` or ``pts_refine``) with
        :attr:`transform`, in image pixels: point :math:`(y, x)` of location (i, j) is at
        :math:`((j + x) s, (i + y) s)`, as the official code places it.

        Args:
            points (Tensor[B, 2n, H, W]): offsets, (y, x) pairs.
            stride (float): :math:`s`, image pixels per map pixel.

        Returns:
            Tensor[B, H, W, 4]: (x1, y1, x2, y2).
        """
        if points.dim() != 4 or points.shape[1] != 2 * self.n_points:
            raise ValueError(f"points must be Tensor[B, {2 * self.n_points}, H, W]; got "
                             f"{tuple(points.shape)}")
        h, w = points.shape[-2:]
        xy = from_flat(points.permute(0, 2, 3, 1), y_first=True)                # [B, H, W, n, 2]
        i, j = torch.meshgrid(torch.arange(h, dtype=points.dtype, device=points.device),
                              torch.arange(w, dtype=points.dtype, device=points.device),
                              indexing="ij")
        xy = (xy + torch.stack([j, i], -1)[:, :, None, :]) * stride
        m = self.moment_mul
        transfer = m * self.moment_transfer + (1 - m) * self.moment_transfer.detach()
        return points_to_box(xy, self.transform, moment_transfer=transfer)

    def extra_repr(self) -> str:
        s = f"{self.channels}"
        for name, default in (("num_classes", 80), ("feat_channels", self.channels),
                              ("point_feat_channels", self.feat_channels), ("n_points", 9),
                              ("gradient_mul", 0.1), ("transform", "moment"),
                              ("moment_mul", 0.01)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        return s
