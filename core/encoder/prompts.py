"""Degradation labels and the text prompts that name them (paper Sec. 3.3, CLIP fine-tuning).

`LABELS` is the canonical order of the seven degradations; every B x 7 probability tensor
of the encoder follows it. `AUTHORS_PROMPTS` are the authors' fine-tuning prompts, one per
label. `TRAIN_PARAPHRASES` widen the text side during contrastive fine-tuning;
`HELDOUT_PARAPHRASES` are never used for training and measure whether free-text queries land
near their class (the language test).
"""
from __future__ import annotations

from ..degradations import CANONICAL as LABELS  # the authors' label order, one source of truth
from ..degradations import COARSE_OF

# The authors' prompt of each label (keyed by name: the order of LABELS is the only order).
AUTHORS_PROMPTS: dict[str, str] = {
    "noise_15": "image with noise",
    "noise_25": "image with many noise",
    "noise_50": "image with large amount of noise",
    "haze": "image with haze",
    "rain": "image with rain",
    "blur": "image with blur",
    "low_light": "image with low light",
}

TRAIN_PARAPHRASES: dict[str, tuple[str, ...]] = {
    "noise_15": (
        "a photo with light noise", "slightly noisy image", "a little sensor noise",
        "mild gaussian noise", "faint noise on the picture", "low noise level",
    ),
    "noise_25": (
        "a noisy photo", "image with moderate noise", "noticeable noise in the picture",
        "medium gaussian noise", "a photo with visible noise", "medium noise level",
    ),
    "noise_50": (
        "a very noisy photo", "image with heavy noise", "strong gaussian noise",
        "extremely noisy picture", "a photo drowned in noise", "high noise level", "coarse film grain all over",
    ),
    "rain": (
        "a rainy photo", "rain streaks over the image", "photo taken in the rain",
        "raindrops falling in front of the scene", "image with rain lines", "a picture of a rainy day",
    ),
    "haze": (
        "a hazy photo", "image with fog", "smog over the scene", "a misty picture",
        "washed out by haze", "low contrast hazy image",
    ),
    "blur": (
        "a blurry photo", "image out of focus", "motion blur in the picture",
        "a shaky blurred shot", "unsharp image", "a smeared photo",
    ),
    "low_light": (
        "a dark photo", "image taken in low light", "underexposed picture",
        "a dim scene", "photo with poor lighting", "too dark image",
    ),
}

HELDOUT_PARAPHRASES: dict[str, tuple[str, ...]] = {
    "noise_50": ("grainy picture", "a photo full of static"),
    "rain": ("streaks of rain", "a photo during a downpour"),
    "haze": ("a foggy photo", "the view is veiled in mist"),
    "blur": ("the picture is not sharp", "a fuzzy out-of-focus shot"),
    "low_light": ("taken at night", "a gloomy poorly lit room"),
}


def class_prompts(label: str) -> tuple[str, ...]:
    """All training prompts of one label: the authors' prompt first, then the paraphrases."""
    if label not in AUTHORS_PROMPTS:
        raise KeyError(f"unknown degradation label {label!r}; expected one of {LABELS}")
    return (AUTHORS_PROMPTS[label],) + TRAIN_PARAPHRASES[label]


def coarse_of(label: str) -> str:
    """Coarse type of a label: the three noise levels share 'noise'."""
    return COARSE_OF[label]
