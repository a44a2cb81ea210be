r"""Region features as an object–pixel relation (Learning Region Features, LRF; Gu, Hu, Wang,
Wei, Dai; ECCV 2018; arXiv:1803.07066).

A detector turns the image feature :math:`x` (a map of :math:`C`-dimensional pixels :math:`p`)
and a box :math:`b` into a region feature of :math:`K` parts (:math:`K = 7 \times 7` bins for
RoIAlign). LRF writes every such extractor in one form,

.. math::

    y_k(b) = \sum_{p \in \Omega_b} w_k(b, p, x)\, x(p), \qquad k = 1 \dots K,

an object–pixel relation: the box is the query, the pixels of the support region
:math:`\Omega_b` are the keys and values, and :math:`w_k` says how much pixel :math:`p` counts for
part :math:`k`. The hand-designed extractors are special cases with hand-set weights:

- **RoIAlign** (``roi_align_weights``): :math:`w_k(b, p)` is the bilinear-interpolation weight of
  pixel :math:`p` for the sampling points of bin :math:`k`, averaged over those points. The
  weights depend on the box only.
- **RoI (max) pooling** (``roi_pool_weights``): :math:`w_{k,c}(b, p, x) = 1` for the first pixel of
  bin :math:`k` where channel :math:`c` is largest, else 0. The weights depend on the feature and
  differ per channel: the element-wise product :math:`\odot` of LRF's form. LRF's note writes the
  average :math:`1/|R_{bk}|` instead; torchvision's ``roi_pool`` takes the maximum, and we match
  torchvision.

The learned weights (``learned_region_weights``) are a softmax over :math:`\Omega_b` of a
geometric and an appearance term (LRF §3, as our reference notes restate it):

.. math::

    w_k(b, p, x) \propto \exp\big(G_k(b, p) + A_k(x, p)\big), \qquad
    G_k(b, p) = \langle W_k^{box} E^{box}(b),\; W^{im} E^{im}(p) \rangle, \qquad
    A_k(x, p) = W_k^{app} x(p).

The ops hold no parameters; :class:`relnotes.nn.LearnedRegionFeatures` owns :math:`W^{box}`,
:math:`W^{im}` and :math:`W^{app}`.

**Memory.** :func:`region_features` never builds a ``[R, K, P, C]`` tensor (R boxes, K parts, P
pixels, C channels): per image, it is one matrix product ``[R_n, K, P] @ [P, C]``. The weights
themselves are ``[R, K, P]``. :func:`region_features_dense`, the literal sum, builds the product
tensor and exists only as the oracle and the baseline of the memory comparison.

Coordinates: boxes are (x1, y1, x2, y2) in input-image pixels with 0 <= x1 <= x2 <= W_img,
0 <= y1 <= y2 <= H_img; ``spatial_scale`` maps them to the feature map (a 16 x 16 map of a
64 x 64 image: 0.25). Pixel :math:`p = (i, j)` of the map has its centre at
:math:`((j + 1/2) / s, (i + 1/2) / s)` in image pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .box_geometry import sinusoidal_embedding

__all__ = [
    "SUPPORTS", "boxes_to_rois", "check_rois", "learned_region_weights", "pixel_centres",
    "region_features", "region_features_dense", "roi_align_weights",
    "roi_pool_weights", "support_mask", "box_embedding", "pixel_embedding",
]

SUPPORTS = ("roi", "enlarged", "image")


# --- boxes: format and checks ---------------------------------------------------------------------


def boxes_to_rois(boxes: Tensor | list[Tensor]) -> Tensor:
    """``list[Tensor[L_n, 4]]`` (one per image) -> ``Tensor[R, 5]`` with the image index first,
    as torchvision's RoI ops take them; a ``Tensor[R, 5]`` is returned unchanged."""
    if isinstance(boxes, (list, tuple)):
        if not boxes:
            raise ValueError("boxes is an empty list; give one Tensor[L, 4] per image")
        for n, b in enumerate(boxes):
            if not isinstance(b, Tensor) or b.dim() != 2 or b.shape[1] != 4:
                got = tuple(b.shape) if isinstance(b, Tensor) else type(b).__name__
                raise ValueError(f"boxes[{n}] must be Tensor[L, 4] (x1, y1, x2, y2); got {got}")
        index = torch.cat([torch.full((len(b), 1), n, dtype=b.dtype, device=b.device)
                           for n, b in enumerate(boxes)])
        return torch.cat([index, torch.cat(list(boxes))], dim=1)
    return boxes


def check_rois(input: Tensor, rois: Tensor, spatial_scale: float, *, name: str = "boxes") -> None:
    """Raise ``ValueError``/``TypeError`` unless ``input`` is a float ``Tensor[N, C, H, W]`` and
    ``rois`` a non-empty ``Tensor[R, 5]`` of the same dtype and device, with image indices in
    ``[0, N)`` and every box inside the image (``0 <= x1 <= x2 <= W / spatial_scale``, same for y).
    """
    if not isinstance(input, Tensor) or input.dim() != 4:
        got = tuple(input.shape) if isinstance(input, Tensor) else type(input).__name__
        raise ValueError(f"input must be Tensor[N, C, H, W]; got {got}")
    if not input.is_floating_point():
        raise TypeError(f"input must be a floating-point tensor; got {input.dtype}")
    if not isinstance(rois, Tensor) or rois.dim() != 2 or rois.shape[1] != 5:
        got = tuple(rois.shape) if isinstance(rois, Tensor) else type(rois).__name__
        raise ValueError(f"{name} must be Tensor[R, 5] (image index, x1, y1, x2, y2) or "
                         f"list[Tensor[L, 4]]; got {got}")
    if rois.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 boxes); a region feature needs at least one box")
    if rois.dtype != input.dtype:
        raise TypeError(f"{name} must have input's dtype {input.dtype}; got {rois.dtype}")
    if rois.device != input.device:
        raise ValueError(f"{name} must be on input's device {input.device}; got {rois.device}")
    if spatial_scale <= 0:
        raise ValueError(f"spatial_scale must be positive; got {spatial_scale}")
    n = rois[:, 0]
    if (n != n.round()).any() or (n < 0).any() or (n >= input.shape[0]).any():
        raise ValueError(f"{name}[:, 0] must be image indices in [0, {input.shape[0]}); got "
                         f"{sorted(set(n.tolist()))}")
    width, height = input.shape[-1] / spatial_scale, input.shape[-2] / spatial_scale
    x1, y1, x2, y2 = rois[:, 1:].unbind(1)
    bad = (x1 < 0) | (y1 < 0) | (x2 > width) | (y2 > height) | (x2 < x1) | (y2 < y1)
    if bad.any():
        i = int(bad.nonzero()[0])
        raise ValueError(f"{name} must lie inside the image, 0 <= x1 <= x2 <= {width:g} and "
                         f"0 <= y1 <= y2 <= {height:g} (feature map {tuple(input.shape[-2:])} / "
                         f"spatial_scale {spatial_scale:g}); box {i} is "
                         f"{[round(v, 3) for v in rois[i, 1:].tolist()]} ({int(bad.sum())} such boxes)")


def _check_weights(input: Tensor, weights: Tensor, batch_index: Tensor) -> None:
    n, c, h, w = input.shape
    if weights.dim() not in (3, 4) or weights.shape[-1] != h * w or (
            weights.dim() == 4 and weights.shape[2] != c):
        raise ValueError(f"weights must be Tensor[R, K, H*W] or Tensor[R, K, C, H*W] with "
                         f"C = {c}, H*W = {h * w}; got {tuple(weights.shape)}")
    if weights.dtype != input.dtype or weights.device != input.device:
        raise TypeError(f"weights must have input's dtype and device ({input.dtype}, "
                        f"{input.device}); got ({weights.dtype}, {weights.device})")
    if batch_index.shape != (weights.shape[0],):
        raise ValueError(f"batch_index must be Tensor[R] with R = weights.shape[0] = "
                         f"{weights.shape[0]}; got {tuple(batch_index.shape)}")


# --- the general form -----------------------------------------------------------------------------


def region_features(input: Tensor, weights: Tensor, batch_index: Tensor) -> Tensor:
    r"""LRF's general form :math:`y_k(b) = \sum_p w_k(b, p, x)\, x(p)`, one matrix product per image.

    Args:
        input (Tensor[N, C, H, W]): the image feature :math:`x`.
        weights (Tensor[R, K, H*W] or Tensor[R, K, C, H*W]): :math:`w_k(b, p)` for each box and
            part over the pixels of the map (row-major); zero outside :math:`\Omega_b`. With a
            channel dimension, one weight per channel (RoI max pooling).
        batch_index (Tensor[R]): the image of each box.

    Returns:
        Tensor[R, C, K]

    Examples::

        >>> x = torch.arange(4.).view(1, 1, 2, 2)          # pixels 0, 1, 2, 3
        >>> w = torch.tensor([[[0.5, 0.5, 0., 0.]]])       # 1 box, 1 part: mean of the top row
        >>> region_features(x, w, torch.tensor([0]))
        tensor([[[0.5000]]])
    """
    _check_weights(input, weights, batch_index)
    n, c = input.shape[:2]
    value = input.flatten(2)                                                   # [N, C, P]
    out = input.new_zeros(weights.shape[0], c, weights.shape[1])               # [R, C, K]
    for i in batch_index.unique().tolist():
        rows = (batch_index == i).nonzero().squeeze(1)
        if weights.dim() == 3:
            # y_{rck} = Σ_p w_{rkp} x_{cp}: [R_n, K, P] @ [P, C], no [R, K, P, C] tensor
            out[rows] = torch.einsum("rkp,cp->rck", weights[rows], value[i])
        else:
            out[rows] = torch.einsum("rkcp,cp->rck", weights[rows], value[i])
    return out


def region_features_dense(input: Tensor, weights: Tensor, batch_index: Tensor) -> Tensor:
    r"""The same sum written literally: the products :math:`w_k(b, p)\, x_c(p)` as one
    ``[R, K, P, C]`` tensor, then a sum over :math:`p`. Only for checking and for measuring what
    :func:`region_features` saves; same arguments and result."""
    _check_weights(input, weights, batch_index)
    if weights.dim() != 3:
        raise ValueError("region_features_dense takes channel-shared weights Tensor[R, K, H*W]")
    value = input.flatten(2)[batch_index].transpose(1, 2)                     # [R, P, C]
    products = weights.unsqueeze(-1) * value.unsqueeze(1)                      # [R, K, P, C]
    return products.sum(2).transpose(1, 2)                                     # [R, C, K]


# --- special cases: hand-set weights --------------------------------------------------------------


def _pair(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def roi_align_weights(input: Tensor, boxes: Tensor | list[Tensor], output_size: int | tuple[int, int],
                      spatial_scale: float = 1.0, sampling_ratio: int = -1,
                      aligned: bool = False) -> Tensor:
    r"""RoIAlign's weights :math:`w_k(b, p)`: bilinear interpolation at a grid of sampling points
    in each bin, averaged (the step-by-step reading of torchvision's ``roi_align`` kernel).

    Bin :math:`k = (i, j)` of a box of height :math:`h` (in map pixels; at least 1 unless
    ``aligned``) samples the points :math:`y = y_1 + (i + (u + 1/2)/g_h)\, h / H_o`,
    :math:`u = 0 \dots g_h - 1` (same for x), with :math:`g_h` = ``sampling_ratio`` or, if it is
    <= 0, :math:`\lceil h / H_o \rceil`. Each point spreads its weight over its four neighbouring
    pixels with :math:`g(a, b) = \max(0, 1 - |a - b|)` in each axis (points beyond a border are
    clamped to it; points more than one pixel outside count zero).

    Args:
        input (Tensor[N, C, H, W]): the feature map (its shape, dtype and device are used).
        boxes (Tensor[R, 5] or list[Tensor[L, 4]]): (image index,) x1, y1, x2, y2 in image pixels.
        output_size (int or tuple[int, int]): :math:`(H_o, W_o)`, so :math:`K = H_o W_o`.
        spatial_scale (float): map pixels per image pixel. Default: 1.0.
        sampling_ratio (int): points per bin side; <= 0: adaptive. Default: -1.
        aligned (bool): shift the box by half a map pixel (pixel centres at half-integers).
            Default: False.

    Returns:
        Tensor[R, K, H*W]: ``region_features(input, w, rois[:, 0])`` equals
        ``torchvision.ops.roi_align(input, rois, ...)`` reshaped to ``[R, C, K]``.
    """
    rois = boxes_to_rois(boxes)
    check_rois(input, rois, spatial_scale)
    height, width = input.shape[-2:]
    (out_h, out_w), r = _pair(output_size), rois.shape[0]
    offset = 0.5 if aligned else 0.0
    start_x, start_y = rois[:, 1] * spatial_scale - offset, rois[:, 2] * spatial_scale - offset
    roi_w = rois[:, 3] * spatial_scale - offset - start_x
    roi_h = rois[:, 4] * spatial_scale - offset - start_y
    if not aligned:
        roi_w, roi_h = roi_w.clamp_min(1.0), roi_h.clamp_min(1.0)
    bin_w, bin_h = roi_w / out_w, roi_h / out_h                                      # [R]
    if sampling_ratio > 0:
        grid_h = torch.full((r,), sampling_ratio, device=input.device)
        grid_w = grid_h.clone()
    else:
        grid_h, grid_w = torch.ceil(roi_h / out_h).long(), torch.ceil(roi_w / out_w).long()
    g_h, g_w = max(int(grid_h.max()), 1), max(int(grid_w.max()), 1)
    count = (grid_h * grid_w).clamp_min(1).to(input.dtype)                            # [R]

    def points(start, bin_size, grid, n_out, g):
        # [R, n_out, g]: start + i·bin + (u + 1/2)·bin/g, and whether u < g of this RoI
        i = torch.arange(n_out, device=input.device, dtype=input.dtype).view(1, -1, 1)
        u = torch.arange(g, device=input.device).view(1, 1, -1)
        pos = (start.view(-1, 1, 1) + i * bin_size.view(-1, 1, 1)
               + (u + 0.5) * bin_size.view(-1, 1, 1) / grid.clamp_min(1).view(-1, 1, 1))
        return pos, (u < grid.view(-1, 1, 1)).expand_as(pos)

    def corners(pos, valid, size):
        # bilinear neighbours (low, high) and their weights (1 - l, l), as the kernel clamps them
        valid = valid & (pos >= -1.0) & (pos <= size)
        pos = pos.clamp_min(0.0)
        low = pos.floor().long()
        at_edge = low >= size - 1
        low = torch.where(at_edge, torch.full_like(low, size - 1), low)
        high = torch.where(at_edge, low, low + 1)
        pos = torch.where(at_edge, low.to(pos.dtype), pos)
        frac = pos - low.to(pos.dtype)
        return (low, high), (1 - frac, frac), valid

    py, vy = points(start_y, bin_h, grid_h, out_h, g_h)                               # [R, H_o, g_h]
    px, vx = points(start_x, bin_w, grid_w, out_w, g_w)                               # [R, W_o, g_w]
    (y_lo, y_hi), (wy_lo, wy_hi), vy = corners(py, vy, height)
    (x_lo, x_hi), (wx_lo, wx_hi), vx = corners(px, vx, width)
    weights = input.new_zeros(r, out_h, out_w, height * width)
    for yi, wy in ((y_lo, wy_lo), (y_hi, wy_hi)):
        for xi, wx in ((x_lo, wx_lo), (x_hi, wx_hi)):
            # [R, H_o, g_h, W_o, g_w]: pixel index and weight of one corner of every sampling point
            index = yi[:, :, :, None, None] * width + xi[:, None, None, :, :]
            w = (wy * vy)[:, :, :, None, None] * (wx * vx)[:, None, None, :, :]
            index = index.permute(0, 1, 3, 2, 4).reshape(r, out_h, out_w, -1)
            w = w.permute(0, 1, 3, 2, 4).reshape(r, out_h, out_w, -1)
            weights.scatter_add_(3, index, w)
    return weights.view(r, out_h * out_w, height * width) / count.view(-1, 1, 1)


def _round_half_away(v: Tensor) -> Tensor:
    """C's ``round``: halves away from zero (``torch.round`` rounds halves to even)."""
    return v.sign() * (v.abs() + 0.5).floor()


def roi_pool_weights(input: Tensor, boxes: Tensor | list[Tensor], output_size: int | tuple[int, int],
                     spatial_scale: float = 1.0) -> Tensor:
    r"""RoI max pooling's weights :math:`w_{k,c}(b, p, x)`: 1 at the first pixel (row-major) of bin
    :math:`k` where channel :math:`c` is largest, 0 elsewhere; an empty bin has no weight (output 0).

    Bins as in torchvision's ``roi_pool`` kernel: the box is rounded to whole map pixels,
    :math:`h = \max(y_2 - y_1 + 1, 1)`, and bin :math:`i` covers rows
    :math:`\lfloor i h / H_o \rfloor \dots \lceil (i + 1) h / H_o \rceil - 1` from :math:`y_1`,
    clipped to the map.

    These weights depend on :math:`x` and on the channel, so they are a ``[R, K, C, H*W]`` tensor:
    fine for checking on small maps; torchvision's kernel never builds it.

    Args:
        input, boxes, output_size, spatial_scale: as in :func:`roi_align_weights`.

    Returns:
        Tensor[R, K, C, H*W]: ``region_features(input, w, rois[:, 0])`` equals
        ``torchvision.ops.roi_pool(input, rois, ...)`` reshaped to ``[R, C, K]``.
    """
    rois = boxes_to_rois(boxes)
    check_rois(input, rois, spatial_scale)
    n, c, height, width = input.shape
    (out_h, out_w), r = _pair(output_size), rois.shape[0]
    x1, y1, x2, y2 = _round_half_away(rois[:, 1:] * spatial_scale).long().unbind(1)
    roi_w, roi_h = (x2 - x1 + 1).clamp_min(1), (y2 - y1 + 1).clamp_min(1)

    def bins(start, size, n_out, limit):
        # [R, n_out, limit]: whether map row (column) t is in bin i of each box
        i = torch.arange(n_out, device=input.device, dtype=input.dtype).view(1, -1)
        bin_size = size.to(input.dtype).view(-1, 1) / n_out
        lo = (torch.floor(i * bin_size).long() + start.view(-1, 1)).clamp(0, limit)
        hi = (torch.ceil((i + 1) * bin_size).long() + start.view(-1, 1)).clamp(0, limit)
        t = torch.arange(limit, device=input.device).view(1, 1, -1)
        return (t >= lo.unsqueeze(-1)) & (t < hi.unsqueeze(-1))

    rows, cols = bins(y1, roi_h, out_h, height), bins(x1, roi_w, out_w, width)
    member = (rows[:, :, None, :, None] & cols[:, None, :, None, :])   # [R, H_o, W_o, H, W]
    member = member.reshape(r, out_h * out_w, height * width)          # [R, K, P]
    weights = input.new_zeros(r, out_h * out_w, c, height * width)
    value = input.flatten(2)                                           # [N, C, P]
    for j in range(r):
        # first maximum of each channel over the bin: [K, C]
        masked = value[int(rois[j, 0])].unsqueeze(0).masked_fill(
            ~member[j].unsqueeze(1), float("-inf"))                    # [K, C, P]
        index = masked.argmax(-1, keepdim=True)
        weights[j].scatter_(-1, index, member[j].any(-1).view(-1, 1, 1).to(input.dtype)
                            .expand_as(index).contiguous())
    return weights


# --- the learned weights --------------------------------------------------------------------------


def pixel_centres(height: int, width: int, spatial_scale: float, *, stride: int = 1,
                  dtype: torch.dtype = torch.float32, device=None) -> Tensor:
    """The image-pixel coordinates (x, y) of the map pixels kept by sparse sampling with
    ``stride`` (rows and columns ``stride // 2, stride // 2 + stride, ...``; our choice).

    Returns:
        Tensor[P, 2] in row-major order, P = ceil(H / stride) * ceil(W / stride).

    Examples::

        >>> pixel_centres(1, 2, 0.5)    # map pixels of size 2 image pixels
        tensor([[1., 1.],
                [3., 1.]])
    """
    first = stride // 2
    ys = (torch.arange(first, height, stride, dtype=dtype, device=device) + 0.5) / spatial_scale
    xs = (torch.arange(first, width, stride, dtype=dtype, device=device) + 0.5) / spatial_scale
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], dim=1)


def box_embedding(rois: Tensor, dim: int, *, wavelength: float = 1000.0) -> Tensor:
    r""":math:`E^{box}(b)`: each of x1, y1, x2, y2 (image pixels) embedded by sines and cosines
    of wavelengths up to 1000 (LRF), ``dim`` channels each. Returns ``Tensor[R, 4 * dim]``."""
    return sinusoidal_embedding(rois[:, 1:], dim, wavelength=wavelength).flatten(1)


def pixel_embedding(centres: Tensor, dim: int, *, wavelength: float = 1000.0) -> Tensor:
    r""":math:`E^{im}(p)`: x and y of each pixel centre (image pixels), ``dim`` channels each.
    Returns ``Tensor[P, 2 * dim]``."""
    return sinusoidal_embedding(centres, dim, wavelength=wavelength).flatten(1)


def support_mask(rois: Tensor, centres: Tensor, support: str = "roi", *,
                 enlarge: float = 2.0) -> Tensor:
    r"""The support region :math:`\Omega_b` as a mask over pixels (our choice, LRF leaves options):

    - ``"roi"``: the pixels whose centre lies in the box;
    - ``"enlarged"``: the same for the box scaled by ``enlarge`` about its centre;
    - ``"image"``: every pixel.

    The pixel nearest to the box centre is always in :math:`\Omega_b`, so a box smaller than a
    map pixel still has a support (and the softmax is defined).

    Args:
        rois (Tensor[R, 5]): image index, x1, y1, x2, y2.
        centres (Tensor[P, 2]): pixel centres, from :func:`pixel_centres`.
        support (str): one of ``"roi"``, ``"enlarged"``, ``"image"``. Default: ``"roi"``.
        enlarge (float): side factor of ``"enlarged"``. Default: 2.0.

    Returns:
        Tensor[R, P] (bool)
    """
    if support not in SUPPORTS:
        raise ValueError(f"support must be one of {SUPPORTS}; got {support!r}")
    r = rois.shape[0]
    if support == "image":
        return torch.ones(r, centres.shape[0], dtype=torch.bool, device=rois.device)
    x1, y1, x2, y2 = rois[:, 1:].unbind(1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    factor = enlarge if support == "enlarged" else 1.0
    hw, hh = (x2 - x1) * factor / 2, (y2 - y1) * factor / 2
    px, py = centres[:, 0].view(1, -1), centres[:, 1].view(1, -1)
    inside = (((px - cx.view(-1, 1)).abs() <= hw.view(-1, 1))
              & ((py - cy.view(-1, 1)).abs() <= hh.view(-1, 1)))                 # [R, P]
    nearest = ((px - cx.view(-1, 1)) ** 2 + (py - cy.view(-1, 1)) ** 2).argmin(1)
    inside[torch.arange(r, device=rois.device), nearest] = True
    return inside


def learned_region_weights(box_keys: Tensor, pixel_keys: Tensor, appearance: Tensor,
                           batch_index: Tensor, mask: Tensor | None = None) -> Tensor:
    r"""LRF's learned weights: a softmax over :math:`p \in \Omega_b` of
    :math:`G_k(b, p) + A_k(x, p)`.

    Args:
        box_keys (Tensor[R, K, d]): :math:`W_k^{box} E^{box}(b)`, one vector per box and part.
        pixel_keys (Tensor[P, d]): :math:`W^{im} E^{im}(p)`, one vector per (sampled) pixel.
        appearance (Tensor[N, K, P]): :math:`A_k(x, p) = W_k^{app} x(p)`, per image.
        batch_index (Tensor[R]): the image of each box.
        mask (Tensor[R, P], optional): :math:`\Omega_b` (bool); None: every pixel.

    Returns:
        Tensor[R, K, P]: the weights; each row sums to 1 over :math:`\Omega_b`.
    """
    if box_keys.dim() != 3 or pixel_keys.dim() != 2 or box_keys.shape[-1] != pixel_keys.shape[-1]:
        raise ValueError(f"box_keys must be Tensor[R, K, d] and pixel_keys Tensor[P, d] with the "
                         f"same d; got {tuple(box_keys.shape)} and {tuple(pixel_keys.shape)}")
    r, k, _ = box_keys.shape
    p = pixel_keys.shape[0]
    if appearance.dim() != 3 or appearance.shape[1:] != (k, p):
        raise ValueError(f"appearance must be Tensor[N, K, P] with K = {k}, P = {p}; got "
                         f"{tuple(appearance.shape)}")
    # LRF: G_k(b, p) = <W_k^box E^box(b), W^im E^im(p)>
    geometric = torch.einsum("rkd,pd->rkp", box_keys, pixel_keys)             # [R, K, P]
    # LRF: A_k(x, p) = W_k^app x(p), taken from the image of each box
    logits = geometric + appearance[batch_index]                              # [R, K, P]
    if mask is not None:
        logits = logits.masked_fill(~mask.unsqueeze(1), float("-inf"))
    # LRF: w_k(b, p, x) ∝ exp(G_k + A_k), normalised over p ∈ Ω_b
    return logits.softmax(-1)
