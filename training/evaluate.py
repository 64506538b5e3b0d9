"""Evaluate a restoration network: per-task PSNR/SSIM, the encoder's detected class, time per image.

    python -m training.evaluate --checkpoint assets/models/vlunet-tiny.safetensors --suite photos
    python -m training.evaluate --checkpoint runs/vlunet-tiny/checkpoints/step_00002400/ema.safetensors \
        --suite 5task --data-root /data/aio

Suites: ``photos`` -- the held-out corpus photos (``<photos>/val``) degraded by each of the seven
degradations with fixed seeds (:func:`training.trainer.data.photo_suite`; ``--split train`` takes the
training photos instead, to set a model's gain on what it trained on beside its held-out gain, and
``--tasks`` a subset of the seven); ``3task`` / ``5task`` --
the papers' test sets under ``--data-root`` (:func:`training.data.suites.eval_sets`). Metrics are
:mod:`core.metrics` (RGB on [0, 1], scikit-image). Writes ``per_image.csv``, ``per_task.csv`` and
``per_task.md`` to ``--out`` and prints the Markdown table.

``--clean`` also feeds every clean crop of the photo suite to the network as it is (task
``clean``): what restoring does to a photo that needs nothing. Its row gives the output's PSNR and
SSIM against the untouched crop (no input figures, no gain: the input is the reference) and
stays out of the average, which is over the degradations only.

``--guidance oracle`` steers the network with the prompt embedding of each image's true
degradation class instead of the encoder's reading of the image: set beside ``auto``, it
separates what detection costs from what the network itself cannot restore.

The authors' release (``--checkpoint pretrained_ckpt/5task_vlunet.ckpt``, their folder or a
converted safetensors file) is evaluated with its own CLIP and adapters and, by default, with
their protocol (``--protocol authors``): every image and its ground truth centre-cropped to a
multiple of 16, the network run on the whole crop (no padding, no tiling), CLIP's input taken
from that crop. ``--protocol studio`` evaluates any network as the studio restores (padding to
the network's multiple, tiles above one megapixel).

``--ensemble mirror|flips|dihedral`` restores 2 (the mirror image), 4 (flips and the half turn) or
8 (with the quarter turns) transformed copies of each input and averages them transformed back
(:mod:`core.ensemble`, the "self-ensemble" of restoration papers, as ``Restorer.restore(ensemble=...)``
does); the default ``none`` is one pass of the network. The studio restores the shipped weights
with ``mirror`` (``core.pretrained.default_ensemble``; ``python -m training.compare`` does too).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from core.degradations import CANONICAL
from core.ensemble import ENSEMBLES, check_ensemble, self_ensemble
from core.guidance import Guidance, network_convention, resolve_guidance
from core.metrics import psnr, ssim
from core.official import crop_to_multiple, is_release
from core.one_by_one import TYPES, check_specialists, specialist_type
from core.official.encoder import parse_clip_config
from core.tiling import apply_padded, apply_tiled
from training.data.suites import set_class
from training.trainer.data import SuiteImage, photo_suite

Method = Callable[[SuiteImage], torch.Tensor]   # test image -> restored 1 x 3 x H x W in [0, 1]
TILE_ABOVE = 1024 * 1024
CLEAN = "clean"   # the pseudo-task of --clean: a clean crop as the input


#: ``--guidance``: the encoder's reading of the input (``auto``, as the studio restores), no
#: guidance (``uniform``, ablation (a)), or the prompt embedding of the image's true class
#: (``oracle``: what a perfect degradation detector would give the network).
GUIDANCE = ("auto", "uniform", "oracle")

#: ``--protocol``: as the studio restores (``studio``), or the authors' test protocol
#: (``authors``: centre crop to a multiple of 16, no padding, no tiling).
PROTOCOLS = ("studio", "authors")


def guidance_for(encoder, image: SuiteImage, guidance: str = "auto", convention: str = "unit") -> Guidance | None:
    """The steering of ``image`` under ``guidance`` (:data:`GUIDANCE`) in the network's
    ``convention`` (:func:`core.guidance.network_convention`), with the encoder's detection; None
    without an encoder. ``oracle`` falls back to ``auto`` for an image of no degradation class
    (the :data:`CLEAN` pseudo-task)."""
    if guidance not in GUIDANCE:
        raise ValueError(f"guidance must be one of {', '.join(GUIDANCE)}, got {guidance!r}")
    if encoder is None:
        return None
    choice = (set_class(image.task) or "auto") if guidance == "oracle" else guidance
    return resolve_guidance(encoder, image.degraded, choice, convention)


def guidance_vector(encoder, image: SuiteImage, guidance: str = "auto", convention: str = "unit") -> torch.Tensor | None:
    """d_I for ``image`` (1 x D) under ``guidance`` (:func:`guidance_for`); None (uniform retrieval)
    without an encoder."""
    guide = guidance_for(encoder, image, guidance, convention)
    return None if guide is None else guide.d


def network_method(network, encoder=None, guidance: str = "auto", ensemble: str = "none",
                   protocol: str = "studio", specialists: dict | None = None) -> Method:
    """Restore with ``network`` steered by :func:`guidance_vector` (by default the encoder's
    reading of the image, in the network's d_I convention; no encoder: d = None). ``studio``
    protocol: padded to the network's multiple, tiled above one megapixel, as
    :class:`core.Restorer` does; ``authors``: the network on the image as it is (already cropped
    to a multiple of 16 by :func:`authors_crop`). ``ensemble`` (:data:`core.ensemble.ENSEMBLES`) averages the
    restorations of transformed copies (one d_I, that of the input). ``specialists``
    (``{type: network}``): the one-by-one mode of :class:`core.Restorer`, each image restored by the
    specialist of its detected type (``oracle``: of its true type) where there is one."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    network.eval()
    multiple = getattr(network, "multiple", 8)
    check_ensemble(ensemble)
    convention = network_convention(network)
    specialists = {kind: net.eval() for kind, net in check_specialists(specialists).items()}
    if specialists and encoder is None:
        raise ValueError("the one-by-one mode needs the encoder: it picks each image's specialist")

    @torch.inference_mode()
    def restore(image: SuiteImage) -> torch.Tensor:
        x = image.degraded
        guide = guidance_for(encoder, image, guidance, convention)
        d = None if guide is None else guide.d
        chosen = network
        if specialists:
            kind = specialist_type(guide.probabilities, set_class(image.task) if guidance == "oracle" else None)
            chosen = specialists.get(kind, network)
        fn = self_ensemble(lambda t: chosen(t, d), ensemble)
        if protocol == "authors":
            run = fn
        elif x.shape[-2] * x.shape[-1] > TILE_ABOVE:
            run = lambda t: apply_tiled(fn, t, 512, 32, multiple)  # noqa: E731
        else:
            run = lambda t: apply_padded(fn, t, multiple)  # noqa: E731
        return run(x).clamp(0, 1)
    return restore


def load_suite(suite: str, photos: str | Path = "data/photos", data_root: str | Path | None = None,
               crop: int = 256, crops_per_photo: int = 2, seed: int = 0, clean: bool = False,
               split: str = "val", tasks: tuple[str, ...] = CANONICAL) -> list[SuiteImage]:
    """The test images of ``suite`` (see the module docstring); ``clean`` adds the photo suite's
    clean crops as inputs of their own (task :data:`CLEAN`); ``split`` and ``tasks`` choose the
    photo suite's photos and degradations."""
    if suite == "photos":
        unknown = [t for t in tasks if t not in CANONICAL]
        if unknown or not tasks:
            raise ValueError(f"--tasks takes names among {', '.join(CANONICAL)}, got {', '.join(tasks) or 'none'}")
        images = photo_suite(photos, split, tasks=tuple(tasks), crop=crop, crops_per_photo=crops_per_photo,
                             resize_short=2 * crop, seed=seed)
        return images + clean_inputs(images) if clean else images
    if clean:
        raise ValueError("--clean needs the photos suite (the benchmark suites ship no clean inputs)")
    if split != "val" or tuple(tasks) != CANONICAL:
        raise ValueError("--split and --tasks choose among the photos suite's images; the benchmark suites are fixed")
    if suite not in ("3task", "5task"):
        raise ValueError(f"unknown suite {suite!r}; expected photos, 3task or 5task")
    if data_root is None:
        raise ValueError(f"suite {suite} needs --data-root (the folder holding Test/...)")
    from training.data.datasets import PairedImages
    from training.data.suites import eval_sets
    images = []
    for name, pairs in eval_sets(data_root, suite).items():
        loader = PairedImages(pairs, seed=seed)
        for i in range(len(loader)):
            item = loader[i]
            images.append(SuiteImage(name, item["name"], item["degraded"][None], item["clean"][None]))
    return images


def detect(encoder, images: list[SuiteImage]) -> list[str]:
    """The encoder's most probable class for every degraded image ("" without an encoder)."""
    if encoder is None:
        return [""] * len(images)
    out = []
    with torch.inference_mode():
        for image in images:
            probs = encoder.probabilities(encoder.encode_image(image.degraded))[0]
            out.append(encoder.labels[int(probs.argmax())])
    return out


def evaluate(method: Method | None, images: list[SuiteImage], detected: list[str] | None = None,
             crop_multiple: int | None = None) -> pd.DataFrame:
    """One row per image: task, image, PSNR/SSIM of the input and of ``method``'s output
    (``method=None`` evaluates the degraded input itself), detected class, seconds per image."""
    rows = []
    for k, image in enumerate(images):
        t0 = time.perf_counter()
        restored = image.degraded if method is None else method(image)
        seconds = time.perf_counter() - t0
        rows.append({"task": image.task, "image": image.name,
                     "input_psnr": psnr(image.degraded, image.clean, crop_multiple),
                     "input_ssim": ssim(image.degraded, image.clean, crop_multiple),
                     "psnr": psnr(restored, image.clean, crop_multiple),
                     "ssim": ssim(restored, image.clean, crop_multiple),
                     "detected": detected[k] if detected else "", "seconds": seconds})
    return pd.DataFrame(rows)


def summarize(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per-task means, an ``average`` row over the degradations, then the :data:`CLEAN` row if
    any: input/output PSNR and SSIM, gain, detection, time."""
    clean = per_image["task"] == CLEAN   # input = reference: no input figures, no gain, no class to detect
    frame = per_image.assign(gain=per_image["psnr"] - per_image["input_psnr"],
                             correct=(per_image["detected"] == per_image["task"].map(set_class)).astype(float))
    frame.loc[clean, ["input_psnr", "input_ssim", "gain", "correct"]] = float("nan")
    order = list(dict.fromkeys(frame["task"]))
    table = frame.groupby("task", sort=False).agg(
        images=("image", "size"), input_psnr=("input_psnr", "mean"), psnr=("psnr", "mean"), gain=("gain", "mean"),
        input_ssim=("input_ssim", "mean"), ssim=("ssim", "mean"), detected=("correct", "mean"),
        seconds=("seconds", "mean")).reindex(order)
    degraded = table.drop(index=CLEAN, errors="ignore")
    average = degraded.drop(columns="images").mean().to_frame("average").T
    average.insert(0, "images", int(degraded["images"].sum()))
    table = pd.concat([degraded, average, table.loc[table.index == CLEAN]])
    if (per_image["detected"] == "").all():
        table = table.drop(columns="detected")
    return table.rename_axis("task").reset_index()


def markdown(table: pd.DataFrame, digits: int = 2) -> str:
    """The table as Markdown; figures that do not apply (NaN) are left blank."""
    fmt = table.copy()
    for col in fmt.columns:
        places = 3 if col in ("ssim", "input_ssim", "detected", "seconds") else digits
        if col != "images" and fmt[col].dtype.kind == "f":
            fmt[col] = fmt[col].map(lambda v: "" if pd.isna(v) else f"{v:.{places}f}")
    return fmt.to_markdown(index=False)


def write_tables(per_image: pd.DataFrame, out: Path) -> pd.DataFrame:
    out.mkdir(parents=True, exist_ok=True)
    table = summarize(per_image)
    per_image.to_csv(out / "per_image.csv", index=False)
    table.to_csv(out / "per_task.csv", index=False)
    (out / "per_task.md").write_text(markdown(table) + "\n")
    return table


def authors_crop(images: list[SuiteImage]) -> list[SuiteImage]:
    """Every image and its ground truth centre-cropped to a multiple of 16 (the authors' ``crop_img``)."""
    return [SuiteImage(i.task, i.name, crop_to_multiple(i.degraded), crop_to_multiple(i.clean), i.params)
            for i in images]


def clean_inputs(images: list[SuiteImage]) -> list[SuiteImage]:
    """One :data:`CLEAN` image per distinct crop of ``images``: the clean crop as its own input."""
    crops = {image.name: image.clean for image in images}
    return [SuiteImage(CLEAN, name, clean, clean) for name, clean in crops.items()]


def load_checkpoint_network(checkpoint: str):
    """A weights file (VLU-Net or baseline) or a registered shipped name -> network, eval mode."""
    return load_checkpoint(checkpoint)[0]


def load_checkpoint(checkpoint: str, clip_config: dict | None = None):
    """``checkpoint`` -> (network, its own encoder or None). The authors' release
    (:func:`core.official.is_release`) brings its CLIP (``clip_config``: its open_clip arguments
    when it is not ViT-B-32) and adapters; our files bring none."""
    from core.pretrained import PRETRAINED, resolve_weights
    from training.trainer.models import load_network
    if checkpoint not in PRETRAINED and is_release(checkpoint):
        from core.official import load_release
        release = load_release(checkpoint, clip_config=clip_config)
        return release.network, release.encoder
    path = resolve_weights(checkpoint) if checkpoint in PRETRAINED else Path(checkpoint)
    return load_network(path), None


def load_specialists(items: list[str]) -> dict:
    """``["noise=runs/x.safetensors", ...]`` (``--specialist``) -> {type: network}."""
    pairs = [item.split("=", 1) for item in items]
    if any(len(pair) != 2 or not pair[1] for pair in pairs):
        raise ValueError(f"--specialist takes TYPE=WEIGHTS, got {items}")
    return {kind: load_checkpoint_network(weights) for kind, weights in check_specialists(dict(pairs)).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="weights file or shipped name (vlunet-tiny)")
    parser.add_argument("--suite", default="photos", choices=("photos", "3task", "5task"))
    parser.add_argument("--photos", default="data/photos", help="photo corpus (suite photos)")
    parser.add_argument("--data-root", default=None, help="benchmark root holding Test/ (3task, 5task)")
    parser.add_argument("--crop", type=int, default=256, help="photo suite crop side")
    parser.add_argument("--crops-per-photo", type=int, default=2)
    parser.add_argument("--split", default="val", choices=("val", "train"),
                        help="photos suite: the held-out photos (default) or the training photos")
    parser.add_argument("--tasks", nargs="+", default=list(CANONICAL), metavar="TASK",
                        help="photos suite: the degradations to apply (default all seven)")
    parser.add_argument("--guidance", default="auto", choices=GUIDANCE,
                        help="d_I: the encoder's reading (auto), none (uniform: ablation a), or the true class's prompt (oracle)")
    parser.add_argument("--encoder", default=None,
                        help="encoder adapters (name or file; default: shipped; 'none': no detection, uniform retrieval)")
    parser.add_argument("--clean", action="store_true",
                        help="also restore every clean crop as it is (photos suite; a 'clean' row, not averaged)")
    parser.add_argument("--clip-config", default=None,
                        help="open_clip.CLIP arguments (JSON text or file) of an authors' checkpoint whose CLIP is not ViT-B-32")
    parser.add_argument("--protocol", default=None, choices=PROTOCOLS,
                        help="authors: crop to a multiple of 16, no padding or tiling (default for the authors' "
                             "release); studio: as the studio restores (default otherwise)")
    parser.add_argument("--ensemble", default="none", choices=tuple(ENSEMBLES),
                        help="self-ensemble: average over the mirror image (x2), flips (x4) or all 8 flips and "
                             "rotations (default: none, one pass)")
    parser.add_argument("--specialist", action="append", default=[], metavar="TYPE=WEIGHTS",
                        help=f"one-by-one mode: the network restoring images detected as TYPE ({', '.join(TYPES)}); "
                             "repeat for each type, the checkpoint restores the others")
    parser.add_argument("--crop-multiple", type=int, default=None, help="centre-crop to a multiple before metrics")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the tables (default runs/eval/<name>-<suite>)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.guidance == "oracle" and args.encoder == "none":
            raise ValueError("--guidance oracle needs the encoder (its class prompt embeddings); drop --encoder none")
        network, encoder = load_checkpoint(args.checkpoint, parse_clip_config(args.clip_config))
        protocol = args.protocol or ("authors" if encoder is not None else "studio")
        if args.encoder == "none":
            encoder = None
        elif args.encoder is not None or encoder is None:
            from core.encoder import DegradationEncoder
            encoder = DegradationEncoder.from_pretrained(args.encoder)
        specialists = load_specialists(args.specialist)
        images = load_suite(args.suite, args.photos, args.data_root, args.crop, args.crops_per_photo,
                            clean=args.clean, split=args.split, tasks=tuple(args.tasks))[:args.limit]
        if protocol == "authors":
            images = authors_crop(images)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    guided = encoder if hasattr(network, "stages") else None   # baselines have no guidance input
    try:
        method = network_method(network, guided, args.guidance, args.ensemble, protocol, specialists)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    per_image = evaluate(method, images, detect(encoder, images), args.crop_multiple)
    out = args.out or Path("runs/eval") / f"{Path(args.checkpoint).stem}-{args.suite}"
    table = write_tables(per_image, out)
    print(markdown(table))
    print(f"\nwrote {out}/per_task.md, per_task.csv, per_image.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
