"""Frames (uint8, [n, H, W, 3]) to CLIP pixel tensors, without torchvision.

Same steps as CLIPImageProcessor: resize the shortest side to `size` (bicubic), centre crop,
scale to [0, 1], normalise with CLIP's mean and std. Resizing uses torch's antialiased bicubic
rather than PIL's, so pixels differ from the HF processor by interpolation rounding only; frames
that are already `size`×`size` (the mini world) pass through unresized.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_pixels(frames, size: int, mean=CLIP_MEAN, std=CLIP_STD) -> torch.Tensor:
    """[n, H, W, 3] uint8 frames → [n, 3, size, size] float32 CLIP input."""
    array = np.asarray(frames)
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames of shape [n, H, W, 3], got {array.dtype} {array.shape}")
    x = torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float()
    x = _resize_shortest_side(x, size)
    x = _centre_crop(x, size)
    x = x / 255.0
    mean_t = torch.tensor(mean).view(1, 3, 1, 1)
    std_t = torch.tensor(std).view(1, 3, 1, 1)
    return (x - mean_t) / std_t


def _resize_shortest_side(x: torch.Tensor, size: int) -> torch.Tensor:
    height, width = x.shape[-2:]
    if min(height, width) == size:
        return x
    scale = size / min(height, width)
    new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
    x = F.interpolate(x, size=new_size, mode="bicubic", antialias=True, align_corners=False)
    return x.clamp(0, 255)


def _centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    height, width = x.shape[-2:]
    top, left = (height - size) // 2, (width - size) // 2
    return x[..., top: top + size, left: left + size]


def uniform_frame_indices(n_available: int, n_wanted: int) -> list[int]:
    """Indices of `n_wanted` frames spread uniformly over `n_available` (as Video-LLaVA samples)."""
    if n_available < n_wanted:
        raise ValueError(f"need {n_wanted} frames, the clip has {n_available}")
    return np.linspace(0, n_available - 1, n_wanted).round().astype(int).tolist()
