"""What the Unfolding tab shows of each stage, computed from the network's StageTrace records.

Feature maps -> RGB (the fixed, explained projection)
    A stage's estimate is a C-channel feature map (C = 12 ... 96), not an image. Each stage is
    drawn through the first three principal components of its own C channels: the channel
    covariance is computed over the pixels of the stage's output x^(k) (after the proximal
    step), its three leading eigenvectors become R, G and B (sign fixed so that the largest
    loading is positive, so the colours do not flip between runs), and each is stretched from
    its 1st to its 99th percentile to [0, 1]. The same basis and stretch draw the estimate after
    the gradient step z^(k), so the two images of a stage are directly comparable: what changes
    between them is what the proximal step did. Colours mean nothing across stages.

Correction map
    The per-pixel L2 norm over channels of r * PhiT(Phi(x, key) - y) (the gradient step that was
    subtracted), divided by its 99th percentile and coloured with a perceptual scale.

Change per stage
    ||x^(k) - x^(k-1)|| / ||x^(k-1)|| split into the gradient step (||correction||) and the
    proximal step (||x^(k) - z^(k)||), both relative to the stage's input x^(k-1) = z^(k) + correction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# Perceptual colour scale for magnitudes (viridis, 9 stops), interpolated linearly.
_VIRIDIS = np.array([[68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
                     [31, 158, 137], [53, 183, 121], [110, 206, 88], [253, 231, 37]], dtype=np.float32)


@dataclass(frozen=True)
class StageView:
    """One unfolding stage, ready to draw (images are H x W x 3 uint8, long side about max_side:
    area-averaged down when larger, enlarged by whole pixels when smaller)."""

    index: int                    # 1..8, execution order
    name: str                     # e.g. "encoder1", "latent", "decoder1"
    level: int                    # feature level, 1 = full resolution
    resolution: tuple[int, int]   # (H, W) of the stage's feature maps
    channels: int
    step: float                   # learned step size r
    weights: np.ndarray           # de_dim retrieval weights over the key database (sum 1)
    after_gradient: np.ndarray    # z^(k) through the stage's PCA basis
    after_proximal: np.ndarray    # x^(k) through the same basis
    correction: np.ndarray        # magnitude of the gradient step, coloured
    change_gradient: float        # ||correction|| / ||x^(k-1)||
    change_proximal: float        # ||x^(k) - z^(k)|| / ||x^(k-1)||

    @property
    def title(self) -> str:
        """"encoder_level2" -> "Encoder 2", "latent" -> "Latent"."""
        base, _, level = self.name.partition("_level")
        return f"{base.capitalize()} {level}".strip()

    @property
    def caption(self) -> str:
        return f"{self.index} · {self.title}"


def pool(maps: torch.Tensor, max_side: int) -> torch.Tensor:
    """C x H x W -> C x h x w with max(h, w) <= max_side (area averaging), float32."""
    maps = maps.float()
    h, w = maps.shape[-2:]
    scale = max_side / max(h, w)
    if scale >= 1:
        return maps
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    return F.adaptive_avg_pool2d(maps[None], size)[0]


def pca_basis(maps: torch.Tensor) -> torch.Tensor:
    """C x H x W -> C x 3 leading principal directions of the channels (sign-fixed; zero-padded if C < 3)."""
    c = maps.shape[0]
    flat = maps.reshape(c, -1).double()
    flat = flat - flat.mean(dim=1, keepdim=True)
    cov = flat @ flat.t() / max(1, flat.shape[1] - 1)
    _, vectors = torch.linalg.eigh(cov)                      # ascending eigenvalues
    basis = vectors.flip(-1)[:, :3]
    signs = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))
    basis = basis * torch.where(signs == 0, torch.ones_like(signs), signs)
    if basis.shape[1] < 3:
        basis = torch.cat([basis, basis.new_zeros(c, 3 - basis.shape[1])], dim=1)
    return basis.float()


def project_rgb(maps: list[torch.Tensor], basis: torch.Tensor) -> list[np.ndarray]:
    """Draw C x H x W maps through ``basis`` (C x 3) with one shared 1-99 % stretch -> H x W x 3 uint8."""
    coords = [torch.einsum("chw,ck->khw", m, basis) for m in maps]
    stacked = torch.cat([c.reshape(3, -1) for c in coords], dim=1)
    lo = torch.quantile(stacked, 0.01, dim=1)[:, None, None]   # pooled maps: well under quantile's size limit
    hi = torch.quantile(stacked, 0.99, dim=1)[:, None, None]
    out = []
    for c in coords:
        rgb = ((c - lo) / (hi - lo).clamp_min(1e-8)).clamp(0, 1)
        out.append((rgb.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
    return out


def colorize(values: torch.Tensor) -> np.ndarray:
    """H x W non-negative magnitudes -> H x W x 3 uint8, 0 -> dark, 99th percentile and above -> bright."""
    top = torch.quantile(values.flatten(), 0.99).clamp_min(1e-8)
    t = (values / top).clamp(0, 1).numpy() * (len(_VIRIDIS) - 1)
    i = np.minimum(t.astype(np.int64), len(_VIRIDIS) - 2)
    frac = (t - i)[..., None]
    return (_VIRIDIS[i] * (1 - frac) + _VIRIDIS[i + 1] * frac + 0.5).astype(np.uint8)


def enlarge(image: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an integer factor so that the long side reaches about
    ``min_side`` (coarse stages stay visibly blocky: each block is one feature)."""
    factor = max(1, min_side // max(image.shape[:2]))
    return image.repeat(factor, axis=0).repeat(factor, axis=1) if factor > 1 else image


@dataclass(frozen=True)
class CompactStage:
    """A StageTrace reduced to what the Unfolding tab draws (pooled maps, norms)."""

    index: int
    name: str
    level: int
    resolution: tuple[int, int]
    step: float
    weights: np.ndarray
    after_gradient: torch.Tensor   # C x h x w, long side <= max_side
    after_proximal: torch.Tensor
    correction: torch.Tensor
    change_gradient: float
    change_proximal: float


def compact_stages(stages, max_side: int = 256) -> list[CompactStage]:
    """Eight ``core.StageTrace`` records (batch of one) -> pooled :class:`CompactStage` records."""
    out = []
    for k, s in enumerate(stages, start=1):
        z, x_out, corr = s.after_gradient[0].float().cpu(), s.after_proximal[0].float().cpu(), s.correction[0].float().cpu()
        x_in_norm = float(torch.linalg.vector_norm(z + corr)) or 1e-12
        out.append(CompactStage(
            index=k, name=s.name, level=s.level, resolution=tuple(int(v) for v in s.resolution), step=float(s.step),
            weights=s.weights[0].float().cpu().numpy(), after_gradient=pool(z, max_side),
            after_proximal=pool(x_out, max_side), correction=pool(corr, max_side),
            change_gradient=float(torch.linalg.vector_norm(corr)) / x_in_norm,
            change_proximal=float(torch.linalg.vector_norm(x_out - z)) / x_in_norm))
    return out


def render_stage(c: CompactStage, display_side: int = 256) -> StageView:
    """Draw one compact stage: PCA colours for z and x, the correction magnitude as a heat map."""
    gradient_rgb, proximal_rgb = project_rgb([c.after_gradient, c.after_proximal], pca_basis(c.after_proximal))
    return StageView(
        index=c.index, name=c.name, level=c.level, resolution=c.resolution, channels=int(c.after_gradient.shape[0]),
        step=c.step, weights=c.weights, after_gradient=enlarge(gradient_rgb, display_side),
        after_proximal=enlarge(proximal_rgb, display_side),
        correction=enlarge(colorize(torch.linalg.vector_norm(c.correction, dim=0)), display_side),
        change_gradient=c.change_gradient, change_proximal=c.change_proximal)


def summarize_stages(stages, max_side: int = 256) -> list[StageView]:
    """Eight ``core.StageTrace`` records (batch of one) -> eight drawable :class:`StageView`."""
    return [render_stage(c, max_side) for c in compact_stages(stages, max_side)]
