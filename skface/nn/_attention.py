"""Attention blocks that can follow any convolutional stage.

Each block maps ``(N, C, H, W)`` to the same shape and exposes its attention map through a
submodule, so a forward hook can read it:

- :class:`SEBlock` -- ``gate`` returns channel weights ``(N, C, 1, 1)``;
- :class:`CBAM` -- ``spatial`` returns the spatial map ``(N, 1, H, W)``;
- :class:`NonLocalBlock` -- ``softmax`` returns the attention matrix ``(N, HW, HW)``.
"""

import torch
from torch import nn

from ..utils._validation import is_whole_number


def _check_channels(channels):
    if not is_whole_number(channels) or channels < 1:
        raise ValueError(f"channels must be an integer >= 1, got {channels!r}.")
    return int(channels)


def _hidden(channels, reduction):
    channels = _check_channels(channels)
    if not is_whole_number(reduction) or reduction < 1:
        raise ValueError(f"reduction must be an integer >= 1, got {reduction!r}.")
    return max(1, channels // int(reduction))


class SEBlock(nn.Module):
    """Squeeze-and-Excitation (Hu et al., 2018).

    Global average pooling squeezes each channel to one number; a two-layer MLP with a
    ``channels / reduction`` bottleneck and a sigmoid gives per-channel weights that rescale the
    input.

    Parameters
    ----------
    channels : int
        Number of input channels.
    reduction : int, default=16
        Bottleneck ratio ``r``; the hidden layer has ``max(1, channels // r)`` units.
    """

    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = _hidden(channels, reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        """Scale each channel of ``x`` by its learned gate in (0, 1).

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            Feature maps.

        Returns
        -------
        out : torch.Tensor of shape (N, C, H, W)
        """
        return x * self.gate(x)


class _ChannelGate(nn.Module):
    """CBAM's channel attention: a shared MLP over average- and max-pooled descriptors."""

    def __init__(self, channels, reduction):
        super().__init__()
        hidden = _hidden(channels, reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x):
        avg = self.mlp(torch.mean(x, dim=(2, 3), keepdim=True))
        mx = self.mlp(torch.amax(x, dim=(2, 3), keepdim=True))
        return torch.sigmoid(avg + mx)


class _SpatialGate(nn.Module):
    """CBAM's spatial attention: a ``k x k`` conv over the channel-wise mean and max."""

    def __init__(self, kernel_size):
        super().__init__()
        if not is_whole_number(kernel_size) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be an odd integer >= 1, got {kernel_size!r}.")
        kernel_size = int(kernel_size)  # 7.0 is 7: torch's layers take ints only
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(1)

    def forward(self, x):
        pooled = torch.cat(
            [torch.mean(x, dim=1, keepdim=True), torch.amax(x, dim=1, keepdim=True)], dim=1
        )
        return torch.sigmoid(self.bn(self.conv(pooled)))


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al., 2018).

    Channel attention (average and max pooling through a shared MLP) followed by spatial
    attention (a 7x7 convolution over the channel-wise mean and max).

    Parameters
    ----------
    channels : int
        Number of input channels.
    reduction : int, default=16
        Bottleneck ratio of the shared MLP.
    kernel_size : int, default=7
        Size of the spatial attention convolution (odd).
    """

    def __init__(self, channels, reduction=16, kernel_size=7):
        super().__init__()
        self.channel = _ChannelGate(channels, reduction)
        self.spatial = _SpatialGate(kernel_size)

    def forward(self, x):
        """Channel attention, then spatial attention.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            Feature maps.

        Returns
        -------
        out : torch.Tensor of shape (N, C, H, W)
        """
        x = x * self.channel(x)
        return x * self.spatial(x)


class NonLocalBlock(nn.Module):
    """Embedded-Gaussian non-local self-attention (Wang et al., 2018).

    ``y = x + W(softmax(theta(x)^T phi(x)) g(x))``. The output projection ``W`` ends in a
    batch-norm whose scale starts at zero, so the block starts as the identity.

    Parameters
    ----------
    channels : int
        Number of input channels.
    inter_channels : int, optional
        Width of the embeddings; ``max(1, channels // 2)`` by default.
    """

    def __init__(self, channels, inter_channels=None):
        super().__init__()
        channels = _check_channels(channels)
        if inter_channels is not None and (not is_whole_number(inter_channels)
                                           or inter_channels < 1):
            raise ValueError(f"inter_channels must be an int >= 1 or None; got "
                             f"{inter_channels!r}.")  # 0 took the default without a word
        inter = int(inter_channels) if inter_channels is not None else max(1, channels // 2)
        self.theta = nn.Conv2d(channels, inter, 1)
        self.phi = nn.Conv2d(channels, inter, 1)
        self.g = nn.Conv2d(channels, inter, 1)
        self.softmax = nn.Softmax(dim=-1)
        self.out = nn.Sequential(nn.Conv2d(inter, channels, 1, bias=False),
                                 nn.BatchNorm2d(channels))
        nn.init.zeros_(self.out[1].weight)

    def forward(self, x):
        """``x`` plus the attention-weighted sum over all positions.

        Parameters
        ----------
        x : torch.Tensor of shape (N, C, H, W)
            Feature maps.

        Returns
        -------
        out : torch.Tensor of shape (N, C, H, W)
        """
        n, _, h, w = x.shape
        theta = self.theta(x).flatten(2).transpose(1, 2)  # N, HW, C'
        phi = self.phi(x).flatten(2)  # N, C', HW
        g = self.g(x).flatten(2).transpose(1, 2)  # N, HW, C'
        attn = self.softmax(torch.bmm(theta, phi))  # N, HW, HW
        y = torch.bmm(attn, g).transpose(1, 2).reshape(n, -1, h, w)
        return x + self.out(y)


ATTENTION_BLOCKS = {"se": SEBlock, "cbam": CBAM, "nonlocal": NonLocalBlock}


def make_attention(name, channels, reduction=16):
    """Build the attention block called ``name`` for ``channels`` channels."""
    if name == "nonlocal":
        return NonLocalBlock(channels)
    try:
        block = ATTENTION_BLOCKS[name]
    except KeyError:
        raise ValueError(
            f"Unknown attention {name!r}; expected one of {sorted(ATTENTION_BLOCKS)} or None."
        ) from None
    return block(channels, reduction=reduction)
