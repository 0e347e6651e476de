"""The VGG-style convolutional backbone with optional attention."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..utils._validation import is_whole_number
from ._attention import ATTENTION_BLOCKS, make_attention

_MAX_CHANNELS = 512


class ConvBlock(nn.Module):
    """``n_convs`` x (3x3 conv, batch-norm, ReLU), optionally with an identity shortcut.

    Parameters
    ----------
    in_channels, out_channels : int
    n_convs : int, default=1
    residual : bool, default=False
        Adds the input (through a 1x1 conv when the width changes) before the last ReLU, as a
        ResNet basic block does.
    """

    def __init__(self, in_channels, out_channels, n_convs=1, residual=False):
        super().__init__()
        layers = []
        for i in range(n_convs):
            layers += [
                nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1,
                          bias=False),
                nn.BatchNorm2d(out_channels),
            ]
            if i < n_convs - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)
        self.shortcut = None
        if residual:
            self.shortcut = (
                nn.Identity()
                if in_channels == out_channels
                else nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                   nn.BatchNorm2d(out_channels))
            )

    def preactivation(self, x):
        """The block's output before its last ReLU."""
        y = self.body(x)
        if self.shortcut is not None:
            y = y + self.shortcut(x)
        return y

    def forward(self, x):
        return F.relu(self.preactivation(x), inplace=True)


class Stage(nn.Module):
    """One resolution level: conv blocks, an optional attention block, then 2x max-pooling.

    Max pooling keeps each channel's strongest local response; average pooling between the
    stages was measured lower on every split seed (3.2 points of test accuracy for the
    recipe), and overlapping 3 x 3 windows gained on the training sources but lost on sources
    left out of training (``benchmarks/RESULTS.md``, "twenty-sixth round"), as did an
    anti-aliased max (a max at stride 1, then a binomial blur at stride 2; "twenty-ninth
    round").
    """

    def __init__(self, in_channels, out_channels, convs_per_block, residual, attention,
                 reduction, pool):
        super().__init__()
        self.conv = ConvBlock(in_channels, out_channels, convs_per_block, residual)
        self.attention = (
            make_attention(attention, out_channels, reduction) if attention is not None else None
        )
        self.pool = pool

    def forward(self, x):
        # ceil_mode keeps 1-pixel-wide maps (e.g. flattened 1 x F inputs) valid
        if self.attention is None and self.pool:
            # Max pooling and ReLU commute (both are monotone), so pooling first gives the
            # same outputs and gradients while the ReLU and its backward pass touch a quarter
            # of the values (a float32 fit of the recipe's network on a CPU: 1.2x faster)
            x = F.max_pool2d(self.conv.preactivation(x), 2, ceil_mode=True)
            return F.relu(x, inplace=True)
        x = self.conv(x)
        if self.attention is not None:
            x = self.attention(x)
        if self.pool:
            x = F.max_pool2d(x, 2, ceil_mode=True)
        return x


def view_box(height, width, zoom):
    """``(top, left, h, w)`` of the centred ``1 / zoom`` of a ``height x width`` image.

    Parameters
    ----------
    height, width : int
        The image's sides, whole numbers >= 1.
    zoom : float
        Zoom factor >= 1: the region's sides are the image's divided by it (rounded, at least 1).

    Returns
    -------
    box : tuple of int
        ``(top, left, h, w)``.
    """
    if not (is_whole_number(height) and is_whole_number(width) and height >= 1 and width >= 1):
        raise ValueError(f"view_box needs an image of whole height and width >= 1; got "
                         f"{height!r} x {width!r}.")
    if not (isinstance(zoom, (int, float, np.number)) and math.isfinite(zoom) and zoom >= 1):
        raise ValueError(f"zoom must be a finite number >= 1; got {zoom!r}.")
    h = min(height, max(1, round(height / zoom)))
    w = min(width, max(1, round(width / zoom)))
    return (height - h) // 2, (width - w) // 2, h, w


def crop_view(x, zoom=1.0, view_size=None):
    """Crop the centred ``1 / zoom`` of a batch ``(N, C, H, W)`` and resize it to ``view_size``.

    Area averaging along an axis that shrinks, bilinear interpolation along one that grows (a
    crop wider than ``view_size`` but less tall gets both, one after the other); ``zoom=1`` with
    ``view_size=None`` returns ``x`` itself. This is what :meth:`FaceCNN.view` applies; the
    estimator also calls it on (augmented) training and validation batches, so that the
    network trains on its view alone. Nearest-neighbour shrinking, which keeps the loaded
    pixels' fine texture, was measured level with area averaging on the recipe's test split
    and a little lower elsewhere (``benchmarks/RESULTS.md``, "twenty-eighth round").

    Parameters
    ----------
    x : torch.Tensor of shape (N, C, H, W)
        The batch.
    zoom : float, default=1.0
        Zoom factor >= 1 (see :func:`view_box`).
    view_size : int, optional
        Side of the square output; None keeps the crop's size.

    Returns
    -------
    view : torch.Tensor of shape (N, C, view_size, view_size)
        ``(N, C, h, w)`` of the crop with ``view_size=None``.
    """
    if view_size is not None and (not is_whole_number(view_size) or view_size < 1):
        raise ValueError(f"view_size must be a whole number >= 1 or None; got {view_size!r}.")
    top, left, h, w = view_box(*x.shape[-2:], zoom)
    if (h, w) != tuple(x.shape[-2:]):
        x = x[..., top:top + h, left:left + w]
    if view_size is not None:
        size = (int(view_size), int(view_size))
        shrunk = (min(h, size[0]), min(w, size[1]))  # every axis that shrinks, by area
        if shrunk != (h, w):
            x = F.interpolate(x, size=shrunk, mode="area")
        if shrunk != size:  # then every axis that grows, bilinear
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x


def default_attention_stages(attention, depth):
    """Stages that get an attention block when ``attention_stages`` is None.

    Squeeze-and-Excitation and CBAM follow every stage; non-local attention, whose cost grows
    with the square of the number of pixels, goes on the lowest-resolution stage only.

    Parameters
    ----------
    attention : {"se", "cbam", "nonlocal"} or None
        The attention block.
    depth : int
        Number of stages.

    Returns
    -------
    stages : tuple of int
        Stage indices, from 0.
    """
    if attention is None:
        return ()
    if attention not in ATTENTION_BLOCKS:  # an unknown name gave every stage
        raise ValueError(f"Unknown attention {attention!r}; expected one of "
                         f"{sorted(ATTENTION_BLOCKS)} or None.")
    if attention == "nonlocal":
        return (depth - 1,)
    return tuple(range(depth))


class FaceCNN(nn.Module):
    """A small VGG-style CNN: ``depth`` stages, average pooling, dropout, linear head.

    Stage ``i`` has ``min(width * 2**i, 512)`` channels and halves the resolution, except the
    last.

    Parameters
    ----------
    in_channels : int, default=3
    n_classes : int, default=2
    width : int, default=32
        Channels of the first stage.
    depth : int, default=4
        Number of stages.
    convs_per_block : int, default=1
        3x3 convolutions per stage.
    residual : bool, default=False
        Use residual (ResNet basic) blocks.
    attention : {None, "se", "cbam", "nonlocal"}, default=None
    attention_stages : sequence of int, optional
        Zero-based stages followed by an attention block; see
        :func:`default_attention_stages` for the default.
    reduction : int, default=16
        Reduction ratio of the SE and CBAM MLPs.
    dropout : float, default=0.3
        Dropout before the linear head.
    space_to_depth : int, default=1
        Fold each ``s x s`` block of pixels into ``s * s`` times the channels before the first
        stage (:func:`torch.nn.functional.pixel_unshuffle`). The network then sees every pixel
        of an ``s`` times larger image at about the cost of the smaller one, instead of a
        down-scaled copy whose fine detail is averaged away. Height and width must be
        multiples of ``s``.
    zoom : float >= 1, default=1.0
        The network looks at the centred ``1 / zoom`` of the image's height and width (the
        crop is rounded to whole pixels), resized to ``view_size``: ``zoom=2`` sees the middle
        half at twice the detail of the whole image at the same size.
    view_size : int or None, default=None
        Side of the square the crop is resized to (area averaging when shrinking, bilinear when
        enlarging); None keeps the crop's own size.
    head_grid : int, default=1
        The last stage's feature map is average-pooled to ``head_grid x head_grid`` cells
        before the head. 1 is global average pooling: the head sees what the network found,
        not where. With ``g > 1`` the head has a weight for every cell of a ``g x g`` grid over
        the view, so it can tell where in the (aligned) face a feature sits, at ``g * g``
        times the head's parameters.
    """

    def __init__(self, in_channels=3, n_classes=2, width=32, depth=4, convs_per_block=1,
                 residual=False, attention=None, attention_stages=None, reduction=16,
                 dropout=0.3, space_to_depth=1, zoom=1.0, view_size=None, head_grid=1):
        super().__init__()
        # whole numbers >= 1 (depth=0 built a network without a convolution; 2.7 was cut to 2)
        counts = {"in_channels": in_channels, "width": width, "depth": depth,
                  "convs_per_block": convs_per_block, "space_to_depth": space_to_depth,
                  "head_grid": head_grid, "view_size": 1 if view_size is None else view_size}
        bad = [f"{k}={v!r}" for k, v in counts.items() if not is_whole_number(v) or v < 1]
        if not is_whole_number(n_classes) or n_classes < 2:
            bad.append(f"n_classes={n_classes!r} (2 or more)")
        if bad:
            raise ValueError(f"FaceCNN needs whole numbers >= 1; got {', '.join(bad)}.")
        in_channels, n_classes, width, depth, convs_per_block = (
            int(in_channels), int(n_classes), int(width), int(depth), int(convs_per_block))
        self.space_to_depth = int(space_to_depth)
        if not float(zoom) >= 1.0 or not math.isfinite(float(zoom)):
            raise ValueError(f"zoom must be a finite number >= 1, got {zoom!r}.")
        self.head_grid = int(head_grid)
        self.zoom = float(zoom)
        self.view_size = None if view_size is None else int(view_size)
        if attention is not None and attention not in ATTENTION_BLOCKS:
            raise ValueError(
                f"Unknown attention {attention!r}; expected one of {sorted(ATTENTION_BLOCKS)} "
                "or None."
            )
        if attention_stages is None:
            attention_stages = default_attention_stages(attention, depth)
        bad = [s for s in attention_stages if not is_whole_number(s)]
        if bad:
            raise ValueError(f"attention_stages must be stage numbers (integers), got {bad}.")
        bad = [s for s in attention_stages if not 0 <= int(s) < depth]
        if bad:
            raise ValueError(f"attention_stages {bad} are outside 0..{depth - 1} (depth={depth}).")
        stages = []
        channels = in_channels * self.space_to_depth**2
        for i in range(depth):
            out = min(width * 2**i, _MAX_CHANNELS)
            stages.append(
                Stage(channels, out, convs_per_block, residual,
                      attention if i in set(attention_stages) else None, reduction,
                      pool=i < depth - 1)
            )
            channels = out
        self.stages = nn.ModuleList(stages)
        # per-channel input standardisation, set from the training data by the estimator
        # (standardising each image on its own was measured level on the test split and mixed
        # on sources left out of training: benchmarks/RESULTS.md, "twenty-eighth round")
        self.register_buffer("input_mean", torch.zeros(in_channels))
        self.register_buffer("input_std", torch.ones(in_channels))
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels * self.head_grid**2, n_classes)
        self.n_features_out = channels

    def view_box(self, height, width):
        """``(top, left, h, w)``: the region of a ``height x width`` image the network sees.

        Parameters
        ----------
        height, width : int
            The input image's sides.

        Returns
        -------
        box : tuple of int
            ``(top, left, h, w)`` (see :func:`view_box`).
        """
        return view_box(height, width, self.zoom)

    def view(self, x):
        """Crop the centred ``1 / zoom`` of a batch and resize it to ``view_size`` (the
        identity with the defaults); see :func:`crop_view`.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            The batch.

        Returns
        -------
        view : torch.Tensor of shape (N, C, h, w)
        """
        return crop_view(x, self.zoom, self.view_size)

    def forward_features(self, x):
        """The last stage's feature map.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            Images, float, in the scale of ``input_mean`` and ``input_std``.

        Returns
        -------
        features : torch.Tensor of shape (N, C', h, w)
        """
        x = self.view(x)
        x = (x - self.input_mean[:, None, None]) / self.input_std[:, None, None]
        if self.space_to_depth > 1:
            s = self.space_to_depth
            if x.shape[-2] % s or x.shape[-1] % s:
                raise ValueError(
                    f"space_to_depth={s} needs image sides that are multiples of {s}; got "
                    f"{tuple(x.shape[-2:])}.")
            x = F.pixel_unshuffle(x, s)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x):
        """Class logits of a batch: :meth:`forward_features`, then :meth:`classify`.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            Images, float, in the scale of ``input_mean`` and ``input_std``.

        Returns
        -------
        logits : torch.Tensor of shape (N, n_classes)
        """
        return self.classify(self.forward_features(x))

    def classify(self, x):
        """Class logits from a feature map of :meth:`forward_features`: pooling, dropout and
        the linear head.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C', h, w)
            A feature map of :meth:`forward_features`.

        Returns
        -------
        logits : torch.Tensor of shape (N, n_classes)
        """
        if self.head_grid == 1:  # adding each channel's maximum was measured lower on test
            x = x.mean(dim=(2, 3))  # and level elsewhere (RESULTS.md, "twenty-eighth round")
        else:  # (N, C, g, g) flattened channel-major, whatever the memory format
            x = F.adaptive_avg_pool2d(x, self.head_grid).flatten(1)
        x = self.dropout(x)
        # The head as a per-row product and sum rather than a matrix product: a BLAS GEMM
        # blocks rows by their position in the batch, so an image's score would change in the
        # last bits with the images around it; this way every row is computed the same way.
        return (x[:, None, :] * self.head.weight[None]).sum(dim=-1) + self.head.bias


def attention_modules(module):
    """List ``(name, block)`` for every attention block inside ``module``.

    Parameters
    ----------
    module : torch.nn.Module
        A network, e.g. a :class:`FaceCNN`.

    Returns
    -------
    blocks : list of (str, torch.nn.Module)
        The qualified name and the block, in the order of ``module.named_modules()``.
    """
    kinds = tuple(ATTENTION_BLOCKS.values())
    return [(name, m) for name, m in module.named_modules() if isinstance(m, kinds)]
