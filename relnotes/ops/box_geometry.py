r"""Box geometry for the object relation module: RN Eq. (5) and its sinusoidal embedding.

Hu, Gu, Zhang, Dai, Wei, "Relation Networks for Object Detection", CVPR 2018
(arXiv:1711.11575v2), Sec. 3. Each object n has a box :math:`f_G^n = (x_n, y_n, w_n, h_n)` (centre,
width, height). The geometry of a pair (the *reference* or query n, the *other* or key m) is

.. math::

    \varepsilon_G(f_G^m, f_G^n) = \Big(
        \log\frac{|x_m - x_n|}{w_m},\ \log\frac{|y_m - y_n|}{h_m},\
        \log\frac{w_n}{w_m},\ \log\frac{h_n}{h_m} \Big)^\top \qquad \text{(RN Eq. (5))}

It is invariant to translation and scale of the whole image. The log on the first two entries
"counts more on close-by objects" (footnote 1). It is then embedded to :math:`d_g` dimensions
with sines and cosines of different wavelengths, as the Transformer embeds positions, giving
:math:`\mathcal E_G(f_G^m, f_G^n) \in \mathbb R^{d_g}`.

**Where the official MXNet code differs** (msracver/Relation-Networks-for-Object-Detection,
``extract_position_matrix`` / ``extract_position_embedding``); each difference is an option here:

- ``normalize_by="query"``: the offsets are divided by the *query* box, :math:`(x_m - x_n) / w_n`,
  not by :math:`w_m` (the size ratios are the same as the paper's).
- ``eps=1e-3``: :math:`\log\max(|\cdot|, \epsilon)`. The paper has no clamp, but its formula is
  :math:`\log 0 = -\infty` for every box paired with itself (and for any two boxes with the same
  centre), and :math:`\sin(-\infty)` is NaN, so a clamp is needed in both conventions; the official
  value is the default here. A box paired with itself gets :math:`\log 10^{-3} \approx -6.9`.
- ``plus_one=True``: the "+1 pixel" convention of the code, :math:`w = x_2 - x_1 + 1`.
- ``scale=100``: every entry of :math:`\varepsilon_G` is multiplied by 100 before the sines and
  cosines. With the paper's unit scale, entries of size ~1 divided by wavelengths up to
  :math:`1000^{7/8} \approx 422` give nearly constant high channels; the scale spreads them.

The embedding (both conventions): each of the 4 entries :math:`\varepsilon` gives
:math:`d_g/4` channels, :math:`\sin(s\varepsilon / \lambda^{2k/(d_g/4)})` for
:math:`k = 0 \dots d_g/8 - 1` followed by the cosines of the same arguments, with wavelength
:math:`\lambda = 1000`; the channel layout is ``[entry][sin..., cos...]`` as in the official code.
The same :func:`sinusoidal_embedding` embeds the rank of a detection in the duplicate-removal
network (RN Sec. 4.3).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["box_geometry", "sinusoidal_embedding", "box_geometry_embedding", "check_boxes",
           "NORMALIZE_BY"]

NORMALIZE_BY = ("key", "query")


def check_boxes(boxes: Tensor, name: str = "boxes", plus_one: bool = False) -> None:
    """Raise ``ValueError`` unless ``boxes`` is Tensor[..., N, 4] of finite (x1, y1, x2, y2) boxes
    with a positive width and height (``x2 - x1 + plus_one > 0``, same for y)."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name} must be a Tensor[..., N, 4]; got {type(boxes).__name__}")
    if boxes.dim() < 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must be Tensor[..., N, 4] of (x1, y1, x2, y2); got shape "
                         f"{tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor; got {boxes.dtype}")
    if boxes.numel() == 0:
        return
    if not bool(torch.isfinite(boxes).all()):
        raise ValueError(f"{name} must be finite; got NaN or inf")
    size = boxes[..., 2:] - boxes[..., :2] + (1.0 if plus_one else 0.0)
    if bool((size <= 0).any()):
        bad = int((size <= 0).any(dim=-1).sum())
        rule = "x2 - x1 + 1 > 0 (plus_one)" if plus_one else "x1 < x2 and y1 < y2"
        raise ValueError(f"{name} must have a positive width and height ({rule}); {bad} box(es) "
                         f"do not, e.g. min width/height {size.min().item():.4g}")


def box_geometry(
    boxes: Tensor,
    key_boxes: Tensor | None = None,
    *,
    normalize_by: str = "key",
    eps: float = 1e-3,
    plus_one: bool = False,
) -> Tensor:
    r"""Relative geometry :math:`\varepsilon_G` of every (query n, key m) pair, RN Eq. (5).

    Args:
        boxes (Tensor[..., N, 4]): the query (reference) boxes n, (x1, y1, x2, y2) with
            x1 < x2 and y1 < y2.
        key_boxes (Tensor[..., M, 4], optional): the key (other) boxes m. Default: ``boxes``.
        normalize_by (str): divide the centre offsets by the ``"key"`` box :math:`w_m, h_m`
            (the paper) or by the ``"query"`` box :math:`w_n, h_n` (the official code).
            Default: ``"key"``.
        eps (float): clamp :math:`\log\max(|\Delta|, \epsilon)` of the offsets; must be > 0 (the
            paper's unclamped formula is :math:`-\infty` for a box with itself). Default: 1e-3.
        plus_one (bool): width :math:`x_2 - x_1 + 1` (official code). Default: False.

    Returns:
        Tensor[..., N, M, 4]: :math:`(\log|\Delta x|/w,\ \log|\Delta y|/h,\ \log w_n/w_m,\
        \log h_n/h_m)` for query n (row) and key m (column).

    Examples::

        >>> a = torch.tensor([[0., 0., 2., 2.], [2., 0., 6., 4.]])  # centres (1, 1), (4, 2)
        >>> g = box_geometry(a)
        >>> g[0, 1]           # n = 0, m = 1: log(3/4), log(1/4), log(2/4), log(2/4)
        tensor([-0.2877, -1.3863, -0.6931, -0.6931])
        >>> g[0, 0]           # a box with itself: log(1e-3), log(1e-3), 0, 0
        tensor([-6.9078, -6.9078,  0.0000,  0.0000])
    """
    if normalize_by not in NORMALIZE_BY:
        raise ValueError(f"normalize_by must be one of {NORMALIZE_BY}; got {normalize_by!r}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0 (log 0 is -inf for a box paired with itself); got {eps}")
    check_boxes(boxes, "boxes", plus_one)
    if key_boxes is None:
        key_boxes = boxes
    else:
        check_boxes(key_boxes, "key_boxes", plus_one)
        if key_boxes.shape[:-2] != boxes.shape[:-2]:
            raise ValueError(f"boxes and key_boxes must share their leading (batch) dimensions; "
                             f"got {tuple(boxes.shape)} and {tuple(key_boxes.shape)}")
    one = 1.0 if plus_one else 0.0

    def centre_size(b: Tensor) -> tuple[Tensor, ...]:
        x1, y1, x2, y2 = b.unbind(-1)
        return (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1 + one, y2 - y1 + one

    x_n, y_n, w_n, h_n = (t.unsqueeze(-1) for t in centre_size(boxes))       # [..., N, 1]
    x_m, y_m, w_m, h_m = (t.unsqueeze(-2) for t in centre_size(key_boxes))   # [..., 1, M]
    w_ref, h_ref = (w_m, h_m) if normalize_by == "key" else (w_n, h_n)
    # RN Eq. (5), with the clamp: log max(|x_m - x_n| / w, eps), log(w_n / w_m)
    dx = ((x_m - x_n).abs() / w_ref).clamp_min(eps).log()
    dy = ((y_m - y_n).abs() / h_ref).clamp_min(eps).log()
    dw = (w_n / w_m).log()
    dh = (h_n / h_m).log()
    return torch.stack(torch.broadcast_tensors(dx, dy, dw, dh), dim=-1)      # [..., N, M, 4]


def sinusoidal_embedding(values: Tensor, dim: int, *, wavelength: float = 1000.0,
                         scale: float = 1.0) -> Tensor:
    r"""Embed every entry :math:`v` of ``values`` into ``dim`` channels:
    :math:`[\sin(s v/\lambda^{2k/\mathrm{dim}})]_{k < \mathrm{dim}/2}` followed by
    :math:`[\cos(s v/\lambda^{2k/\mathrm{dim}})]_{k < \mathrm{dim}/2}`.

    Args:
        values (Tensor[...]): any real numbers (a rank, one entry of :math:`\varepsilon_G`).
        dim (int): channels per value; even.
        wavelength (float): :math:`\lambda`. Default: 1000.
        scale (float): :math:`s`. Default: 1.

    Returns:
        Tensor[..., dim]

    Examples::

        >>> sinusoidal_embedding(torch.tensor([0.]), 4)     # sin 0, sin 0, cos 0, cos 0
        tensor([[0., 0., 1., 1.]])
    """
    if dim <= 0 or dim % 2:
        raise ValueError(f"dim must be a positive even number (sin and cos halves); got {dim}")
    dtype = values.dtype if values.is_floating_point() else torch.get_default_dtype()
    k = torch.arange(dim // 2, dtype=dtype, device=values.device)
    inv_freq = wavelength ** (-2.0 * k / dim)                                 # λ^(-2k/dim)
    arg = (scale * values.to(dtype)).unsqueeze(-1) * inv_freq                # [..., dim/2]
    return torch.cat([arg.sin(), arg.cos()], dim=-1)                         # [..., dim]


def box_geometry_embedding(geometry: Tensor, d_g: int = 64, *, wavelength: float = 1000.0,
                           scale: float = 1.0) -> Tensor:
    r""":math:`\mathcal E_G`: embed the 4 entries of :math:`\varepsilon_G` (:func:`box_geometry`)
    into :math:`d_g` channels, :math:`d_g/4` per entry (RN Sec. 3, after Eq. (5)).

    Args:
        geometry (Tensor[..., 4]): :math:`\varepsilon_G`, e.g. ``box_geometry(boxes)``.
        d_g (int): output channels; a multiple of 8. Default: 64.
        wavelength (float): :math:`\lambda`. Default: 1000.
        scale (float): multiply :math:`\varepsilon_G` by this first; 100 in the official code,
            1 in the paper. Default: 1.

    Returns:
        Tensor[..., d_g], laid out ``[entry][sin d_g/8, cos d_g/8]``.

    Examples::

        >>> box_geometry_embedding(torch.zeros(3, 5, 4)).shape
        torch.Size([3, 5, 64])
    """
    if geometry.shape[-1] != 4:
        raise ValueError(f"geometry must be Tensor[..., 4] (RN Eq. (5)); got {tuple(geometry.shape)}")
    if d_g <= 0 or d_g % 8:
        raise ValueError(f"d_g must be a positive multiple of 8 (4 entries x sin/cos); got {d_g}")
    emb = sinusoidal_embedding(geometry, d_g // 4, wavelength=wavelength, scale=scale)  # [..., 4, d_g/4]
    return emb.flatten(-2)                                                   # [..., d_g]
