"""``Restorer``: restore real photos of any size and mode with VLU-Net and its encoder."""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from PIL import Image

from .allocator import resident_bytes
from .checkpoint import CheckpointError, load_model
from .guidance import Guidance, network_convention, resolve_guidance
from .imageio import MAX_PIXELS_DEFAULT, read_image, to_pil
from .network import StageTrace, VLUNet
from .one_by_one import ALL_IN_ONE, ONE_BY_ONE, check_mode, check_specialists, specialist_label, specialist_type
from .pretrained import default_ensemble, resolve_weights, specialists_of
from .ensemble import ENSEMBLES, check_ensemble, self_ensemble
from .tiling import apply_padded, apply_tiled

AUTO_TILE_PIXELS = 1024 * 1024  # above this many pixels, tile=None means tiles of DEFAULT_TILE
DEFAULT_TILE = 512
DEFAULT_OVERLAP = 32
DEFAULT_MEMORY_BUDGET = 3 * 1024 ** 3


def activation_bytes_per_pixel(network) -> float:
    """Peak memory one forward pass adds, in bytes per input pixel: level-1 width ``dim`` times
    (193 + 6.3 x the Restormer blocks of levels 1-4 and refinement). The two constants fit the
    peaks measured with freed memory kept (:func:`core.keep_freed_memory`, as the studio runs):
    vlunet-tiny about 250 B per pixel per channel, vlunet-paper about 370 (docs/benchmarks.md).
    With the default budget the tiny model's untiled limit stays above one megapixel."""
    config = getattr(network, "config", None)
    dim = getattr(config, "dim", 12)
    blocks = sum(getattr(config, "num_blocks", (1, 1, 2, 4))) + getattr(config, "num_refinement_blocks", 1)
    return dim * (193.0 + 6.3 * blocks)


def image_buffer_bytes(height: int, width: int) -> int:
    """Memory a tiled restore of ``height`` x ``width`` holds besides one tile's activations: the
    float32 RGB input, output accumulator and blend weights (:func:`core.tiling.apply_tiled`), and
    the decoded and encoded 8-bit copies of the photo."""
    return height * width * (4 * (3 + 3 + 1) + 2 * 3)


def untiled_pixel_limit(network, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """The most pixels ``network`` restores in one pass within ``memory_budget`` bytes of activations."""
    return int(memory_budget // activation_bytes_per_pixel(network))


def load_specialists(specialists: dict | None, device: str | torch.device | None = None,
                     strict: bool = True) -> tuple[dict[str, VLUNet], list[str]]:
    """``{type: registered name or path}`` -> the loaded one-by-one specialists, and one
    "<type> (why)" for each that could not be loaded. ``strict`` raises on the first one instead
    (a library call asked for them); the studio passes False so that a missing specialist leaves
    the all-in-one model usable."""
    loaded, missing = {}, []
    for kind, weights in check_specialists(specialists).items():
        try:
            loaded[kind] = load_model(resolve_weights(weights), device=device)
        except (FileNotFoundError, CheckpointError) as exc:
            if strict:
                raise
            missing.append(f"{kind} ({exc})")
    return loaded, missing


@dataclass
class RestoreResult:
    """The restored image and what produced it.

    image: PIL image, same size (and grayscale/alpha) as the input.
    tensor: 3 x H x W float tensor in [0, 1], the restored RGB before quantisation.
    degradation: detected degradation, canonical name -> probability (empty without encoder).
    guidance: what steered the network ("auto", "uniform", "class:rain", "text:...").
    stages: the eight StageTrace records when ``trace=True`` (padded resolution), else None.
    timings: seconds spent in "read", "encoder", "network", "total".
    network: which network restored it: "all-in-one", or "<type> specialist" in the one-by-one
        mode (:mod:`core.one_by_one`).
    """

    image: Image.Image
    tensor: torch.Tensor
    degradation: dict[str, float]
    guidance: str
    stages: list[StageTrace] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    network: str = ALL_IN_ONE


class Restorer:
    """Blind all-in-one restoration: encoder -> d_I -> VLU-Net, with padding and tiling.

    ``Restorer(network, encoder=None, device=None)``; usually ``Restorer.from_pretrained()``.
    Without an encoder every image is restored with uniform retrieval weights. ``specialists``
    (``{type: network}``, :mod:`core.one_by_one`) serve ``restore(..., mode="one-by-one")``, the
    :attr:`default_mode` of a restorer that has them and an encoder. ``ensemble`` is the
    self-ensemble of ``restore(ensemble=None)`` (:mod:`core.ensemble`; "none": one pass).
    """

    def __init__(self, network: VLUNet, encoder=None, device: str | torch.device | None = None,
                 max_pixels: int = MAX_PIXELS_DEFAULT, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 specialists: dict[str, VLUNet] | None = None, ensemble: str = "none"):
        self.device = torch.device(device or "cpu")
        self.network = network.to(self.device).eval()
        self.specialists = {kind: net.to(self.device).eval() for kind, net in check_specialists(specialists).items()}
        if any(network_convention(net) != network_convention(network) for net in self.specialists.values()):
            raise ValueError("the specialists must take d_I in the all-in-one network's convention "
                             f"({network_convention(network)!r})")
        self.encoder = encoder.to(self.device).eval() if encoder is not None else None
        self.max_pixels = max_pixels
        self.default_ensemble = check_ensemble(ensemble)
        self.memory_budget = memory_budget
        self.seconds_per_pixel: float | None = None   # set by calibrate()
        self.resident_at_load = resident_bytes()        # the process with weights, before any restore

    @property
    def default_mode(self) -> str:
        """The ``mode`` of ``restore(mode=None)``: "one-by-one" with specialists and an encoder to
        choose among them (ahead of the all-in-one network on every held-out task,
        docs/results.md), else "all-in-one"."""
        return ONE_BY_ONE if self.specialists and self.encoder is not None else ALL_IN_ONE

    @property
    def untiled_limit(self) -> int:
        """Pixels above which ``tile=None`` tiles: one megapixel, or fewer where the network's
        activations would exceed ``memory_budget`` (:func:`untiled_pixel_limit`)."""
        return min(AUTO_TILE_PIXELS, untiled_pixel_limit(self.network, self.memory_budget))

    def auto_tile(self, height: int, width: int) -> int:
        """The tile side ``tile=None`` uses for an image of ``height`` x ``width`` (0: untiled).

        Tiles are as large as fits (at most 512) with the whole process within ``memory_budget``:
        its memory once the weights were loaded (:attr:`resident_at_load`), the image's buffers
        (:func:`image_buffer_bytes`) and one tile's activations (:func:`activation_bytes_per_pixel`).
        """
        if height * width <= self.untiled_limit:
            return 0
        room = self.memory_budget - self.resident_at_load - image_buffer_bytes(height, width)
        side = math.isqrt(max(0, int(room / activation_bytes_per_pixel(self.network))))
        return max(128, min(DEFAULT_TILE, side // 32 * 32))

    @torch.inference_mode()
    def calibrate(self, side: int = 256) -> float:
        """Time one pass of the network on a ``side`` x ``side`` image after a warm-up pass of the same
        size (a first pass also pays for fresh memory); sets and
        returns :attr:`seconds_per_pixel`, used by :meth:`estimate_seconds` (every untraced restore
        then updates it with what the network really took)."""
        x = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(0)).to(self.device)
        self.network(x, None)                  # warm-up: first-touch memory and kernel choice
        start = time.perf_counter()
        self.network(x, None)                  # the cost does not depend on d_I
        self.seconds_per_pixel = (time.perf_counter() - start) / (side * side)
        return self.seconds_per_pixel

    def estimate_seconds(self, height: int, width: int, ensemble: str | None = None) -> float | None:
        """Expected seconds to restore ``height`` x ``width`` (network time scales with pixels;
        tiles add their overlap; a self-ensemble, None: :attr:`default_ensemble`, multiplies it by
        its passes), or None before :meth:`calibrate`."""
        if self.seconds_per_pixel is None:
            return None
        passes = len(ENSEMBLES[check_ensemble(ensemble or self.default_ensemble)])
        return self.seconds_per_pixel * passes * self._pixels_processed(height, width, self.auto_tile(height, width))

    @staticmethod
    def _pixels_processed(height: int, width: int, tile: int, overlap: int = DEFAULT_OVERLAP) -> int:
        """Pixels the network runs on for an image, counting every tile whole (0: untiled)."""
        if not tile or (height <= tile and width <= tile):
            return height * width
        stride = tile - overlap
        rows, cols = (max(1, math.ceil((side - overlap) / stride)) for side in (height, width))
        return rows * cols * tile * tile

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike | None = None,
                        device: str | torch.device | None = None, encoder="default",
                        specialists="default", ensemble: str = "default") -> "Restorer":
        """Load shipped weights by name (None: the default) or a checkpoint path, offline.

        ``encoder``: "default" loads the shipped degradation encoder; None restores without
        one (uniform retrieval); or pass a ``DegradationEncoder``. ``specialists``: "default"
        loads the one-by-one specialists shipped for that name (none for a path); None none; or
        ``{type: name or path}``. ``ensemble``: "default" is the name's registered self-ensemble
        (:func:`core.pretrained.default_ensemble`; one pass for a path), or one of
        :data:`core.ensemble.ENSEMBLES`.
        """
        network = load_model(resolve_weights(name_or_path), device=device)
        if isinstance(encoder, str) and encoder == "default":
            from .encoder import DegradationEncoder
            encoder = DegradationEncoder.from_pretrained(device=device)
        if isinstance(specialists, str) and specialists == "default":
            specialists = specialists_of(name_or_path)
        specialists, _ = load_specialists(specialists, device)
        if ensemble == "default":
            ensemble = default_ensemble(name_or_path)
        return cls(network, encoder, device, specialists=specialists, ensemble=ensemble)

    @classmethod
    def from_official(cls, path: str | os.PathLike, device: str | torch.device | None = None,
                      **options) -> "Restorer":
        """The authors' whole pipeline from their release: a ``.ckpt`` (CLIP and adapters inside),
        their ``pretrained_ckpt/`` folder, or a converted ``.safetensors``. ``options`` go to
        :func:`core.official.load_release` (``clip_config``, ``clip_pretrained``, ``adapters``)."""
        from .official import load_release
        release = load_release(path, **options)
        return cls(release.network, release.encoder, device)

    def guidance(self, image: torch.Tensor, degradation: str | None = None) -> Guidance:
        """The steering for one 1 x 3 x H x W image (see :func:`core.guidance.resolve_guidance`),
        d_I in the form the network was trained with (its config's ``degradation_vector``)."""
        return resolve_guidance(self.encoder, image.to(self.device), degradation, network_convention(self.network))

    def network_for(self, guide: Guidance, degradation: str | None = None,
                    mode: str | None = None) -> tuple[VLUNet, str]:
        """The network that restores an image steered by ``guide`` in ``mode`` (None:
        :attr:`default_mode`), and its label (:attr:`RestoreResult.network`): in the one-by-one
        mode the specialist of the image's type (:func:`core.one_by_one.specialist_type`: named,
        or detected with a probability of at least ``SURE``), else, or without one, the all-in-one
        network."""
        if check_mode(self.default_mode if mode is None else mode) == ALL_IN_ONE:
            return self.network, ALL_IN_ONE
        if not guide.probabilities and not degradation:
            raise ValueError("the one-by-one mode chooses a network by the detected degradation: "
                             "load a degradation encoder or name the degradation")
        kind = specialist_type(guide.probabilities, degradation)
        if kind in self.specialists:
            return self.specialists[kind], specialist_label(kind)
        return self.network, ALL_IN_ONE

    @torch.inference_mode()
    def restore(self, image, degradation: str | None = None, tile: int | None = None,
                trace: bool = False, overlap: int = DEFAULT_OVERLAP,
                progress: Callable[[int, int], None] | None = None, mode: str | None = None,
                ensemble: str | None = None) -> RestoreResult:
        """Restore one image.

        image: path, bytes, PIL image (any mode; EXIF orientation honoured), numpy array or
            tensor (3 x H x W in [0, 1]).
        degradation: None/"auto" (detect), "uniform", a canonical name, or free text.
        tile: None = automatic (:meth:`auto_tile`: tiles of 512 above one megapixel, smaller and
            sooner for a network whose activations would exceed ``memory_budget``), 0 = never tile,
            N = tiles of N x N pixels (a multiple of 8) overlapping by ``overlap``.
        trace: also return the eight stages' records (untiled only).
        mode: "all-in-one" (one network for every degradation), "one-by-one" (the specialist
            of the image's degradation type where there is one, :mod:`core.one_by_one`), or None
            (:attr:`default_mode`).
        ensemble: "none" (one pass), "mirror" (the average of a pass and a pass on the mirrored
            image, 2x the time), "flips" (4 passes on flipped and half-turned copies) or
            "dihedral" (8 passes with the quarter turns): the self-ensemble of
            :mod:`core.ensemble`, applied per tile; None: :attr:`default_ensemble`, or one pass
            with ``trace=True``.
        """
        if ensemble is None:
            ensemble = "none" if trace else self.default_ensemble
        ensemble = check_ensemble(ensemble)
        if trace and ensemble != "none":
            raise ValueError("trace=True shows one pass of the network; restore with ensemble='none' to inspect it")
        t0 = time.perf_counter()
        rgb, meta = read_image(image, max_pixels=self.max_pixels)
        x = rgb[None].to(self.device)
        t1 = time.perf_counter()
        guide = self.guidance(x, degradation)
        network, used = self.network_for(guide, degradation, mode)
        t2 = time.perf_counter()
        h, w = x.shape[-2:]
        if tile is None:
            tile = self.auto_tile(h, w)
        if trace and tile:
            raise ValueError("trace=True needs an untiled restore (tile=0); inspect a smaller image")
        stages = None
        m = self.network.multiple
        if trace:
            records: list[StageTrace] = []

            def run(t: torch.Tensor) -> torch.Tensor:
                out, recs = network(t, guide.d, trace=True)
                records.extend(recs)
                return out
            out = apply_padded(run, x, m)
            stages = records
        elif tile:
            out = apply_tiled(self_ensemble(lambda t: network(t, guide.d), ensemble), x, tile, overlap, m,
                              on_tile=progress)
        else:
            out = apply_padded(self_ensemble(lambda t: network(t, guide.d), ensemble), x, m)
        out = out[0].clamp(0, 1).float().cpu()
        t3 = time.perf_counter()
        if not trace:   # the estimate follows what this machine really does (one pass's worth)
            self.seconds_per_pixel = (t3 - t2) / self._pixels_processed(h, w, tile) / len(ENSEMBLES[ensemble])
        return RestoreResult(
            image=to_pil(out, meta), tensor=out, degradation=guide.probabilities, guidance=guide.source,
            stages=stages, timings={"read": t1 - t0, "encoder": t2 - t1, "network": t3 - t2,
                                    "total": time.perf_counter() - t0}, network=used)
