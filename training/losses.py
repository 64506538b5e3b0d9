"""Training losses: the restoration L1 (paper Sec. 3.4) and the encoder's contrastive loss (Sec. 3.3).

``restoration_loss`` trains the network on B x 3 x H x W patches in [0, 1]; ``contrastive_loss``
trains the degradation encoder's adapters on B x 512 image and C x 512 class-text embeddings.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import structural_similarity_index_measure

BALANCE_FLOOR = 2 / 255   # input errors below this count as this (near-clean items do not dominate)


#: ``pixel`` terms of :func:`restoration_loss`.
PIXEL_LOSSES: tuple[str, ...] = ("l1", "psnr")


def restoration_loss(restored: torch.Tensor, clean: torch.Tensor, degraded: torch.Tensor,
                     balance: float = 0.0, ssim_weight: float = 0.0, fft_weight: float = 0.0,
                     pixel: str = "l1") -> torch.Tensor:
    """L1 loss of B x 3 x H x W ``restored`` against ``clean`` (``pixel="psnr"``: :func:`psnr_loss`
    instead), plus ``ssim_weight`` x (1 - SSIM) and ``fft_weight`` x the frequency L1
    (:func:`frequency_l1`).

    ``ssim_weight`` w > 0 adds ``w * (1 - SSIM(restored, clean))`` (torchmetrics' Gaussian SSIM,
    11 px window, data range 1): L1 alone weighs every pixel's error alike, SSIM the local contrast
    and structure that dehazing must give back. w = 0, the default, is the paper's plain L1.

    ``balance`` p = 0: plain L1 (``F.l1_loss``), the paper's loss. p > 0: the mean over items of
    ``w_i * L1_i`` with ``w_i`` proportional to ``max(e_i, 2/255) ** -p``, ``e_i`` the mean L1
    error of item i's input ``degraded``, and the weights scaled to mean 1 over the batch. With
    plain L1 every pixel pulls equally, so tasks whose inputs are already close to the target
    (blur, rain) learn at the pace of those far off (haze, low light); p = 0.5 weighs an item
    with a 16x smaller input error 4x more.
    """
    if pixel not in PIXEL_LOSSES:
        raise ValueError(f"pixel must be one of {', '.join(PIXEL_LOSSES)}, got {pixel!r}")
    if pixel == "psnr":
        if balance > 0:
            raise ValueError("balance weighs L1 items; the PSNR loss is already on every item's own scale")
        loss = psnr_loss(restored, clean)
    elif balance <= 0:
        loss = F.l1_loss(restored, clean)
    else:
        per_item = (restored - clean).abs().flatten(1).mean(dim=1)
        error = (degraded - clean).abs().flatten(1).mean(dim=1).clamp_min(BALANCE_FLOOR)
        weights = error.pow(-balance)
        loss = (per_item * (weights / weights.mean())).mean()
    if ssim_weight > 0:
        ssim = structural_similarity_index_measure(restored, clean, data_range=1.0)
        loss = loss + ssim_weight * (1.0 - ssim)
    if fft_weight > 0:
        loss = loss + fft_weight * frequency_l1(restored, clean)
    return loss


def psnr_loss(restored: torch.Tensor, clean: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Minus the mean PSNR in dB (data range 1) of the B items of B x 3 x H x W ``restored``
    against ``clean``: ``mean_i 10 log10(MSE_i + eps)``, the loss NAFNet (Chen et al. 2022) and
    HINet denoise with. It is the metric itself, and the logarithm puts every item on its own
    scale: lowering any item's MSE by 1 % lowers the loss alike (0.04 dB / B), at sigma 15 as at
    sigma 50, where in L1 an item's share of the loss grows with its error, so the noisiest
    items weigh most."""
    mse = (restored.float() - clean.float()).pow(2).flatten(1).mean(dim=1)
    return (10.0 / math.log(10.0)) * torch.log(mse + eps).mean()


def frequency_l1(restored: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the real and imaginary parts of the 2-D spectra (``rfft2``) of
    B x 3 x H x W ``restored`` and ``clean``: the frequency reconstruction loss of deblurring
    networks (MIMO-UNet, Cho et al. 2021). In pixels the flat areas that fill most of a patch
    outweigh the edges and texture that blur removes; here the error of every frequency counts
    alike. The spectra are orthonormal (``norm="ortho"``), so by Parseval the term is on the scale
    of the pixel error whatever the patch size."""
    diff = torch.fft.rfft2(restored.float() - clean.float(), norm="ortho")
    return torch.view_as_real(diff).abs().mean()


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, labels: torch.Tensor, loss: str,
                     logit_scale: float) -> torch.Tensor:
    """Image B x 512 and class texts C x 512 (row c names class c), labels B -> scalar loss.

    ``loss="info_nce"`` is the paper's InfoNCE over ``logit_scale`` times the cosine similarity;
    ``"dot"`` is the authors' code: raw dot products, no normalisation or temperature.
    """
    if loss == "info_nce":
        logits = logit_scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()
    else:
        logits = image @ text.t()
    return F.cross_entropy(logits, labels)
