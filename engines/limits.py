"""What a request may ask for: the bounds and choices every endpoint checks, the checks
themselves, and the defaults of a diffusion draw.

No torch here: the page is built from these before torch is imported, so it is served first.
"""

from __future__ import annotations

import secrets
from typing import Any

from engines.errors import InputError

MAX_SEED = 2**32 - 1  # seeds are shown and typed by people; 32 bits is plenty and fits every UI

# GANs (unconditional and class-conditional)
MAX_GRID = 64  # images in one grid, and variations around one image
MAX_FRAMES = 48  # frames of a walk or a morph
MAX_MIX_SEEDS = 8  # row seeds, and column seeds, of one style-mixing grid (8 × 8 cells)
MAX_PSI = 1.5
MAX_SEEDS_PER_CLASS = 8  # columns of the class-conditional "one seed, every class" grid

# VAE
MAX_VAE_FRAMES = 32  # frames of a latent interpolation
MAX_SAMPLES = 16  # images decoded from the prior at once

# upscaler: the longest side of an input (×4: 2048 px out)
MAX_UPSCALE_SIDE = 512

# Restyle: how far the strength may walk past the target set (engines/restyle.py). On
# emoji-restyle-whole's held-out translations the style head recognised the target set 0.607 of the
# time at 1, 0.689 at 1.5 and 0.669 at 2, where streaks and fringes grow: past 1.5 nothing is gained.
MAX_STRENGTH = 1.5

# Edit (inpaint, denoise): the longest side of an input; the model works at its own size, and the
# result is blended back at the input's
MAX_EDIT_SIDE = 1024
EDIT_NOISES = ("none", "gaussian", "jpeg", "salt & pepper")  # noise a denoise adds first; "none": noisy already
DENOISERS = ("network", "vae", "diffusion")  # the bundled denoiser (checkpoints/emoji-denoise), or the model's own
# how an inpainted fill meets the image: cloned in (its colours pulled to the mask's edge), or faded in
EDGES = ("seamless", "soft")

# diffusion draws (text and DiT); schedulers by name -> (diffusers class, options)
MAX_DRAW = 8  # images per draw
MAX_BATCHES = 16  # draws one after another (batch count), each from the next seeds
UNTIL_STOP_BATCHES = 100  # "until Stop" ends by itself after these, so a forgotten tab frees the queue
MAX_STEPS = 100
MAX_GUIDANCE = 30.0
MAX_DIT_GUIDANCE = 20.0
MAX_PROMPT_CHARS = 2000  # far beyond any text encoder's window (77 CLIP tokens, 64 MiniLM tokens)
SCHEDULERS = {
    "DPM-Solver++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "Euler": ("EulerDiscreteScheduler", {}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    # diffusers' DDIM defaults clip each step's predicted x0 to [-1, 1], right for pixels and wrong
    # for latents (whose range is wider): Stable Diffusion's own DDIM configs turn both off
    "DDIM": ("DDIMScheduler", {"clip_sample": False, "set_alpha_to_one": False}),
    "UniPC": ("UniPCMultistepScheduler", {}),
}
DEFAULT_SCHEDULER = "model default"
DEFAULT_STEPS, DEFAULT_GUIDANCE = 25, 7.5  # for pipelines whose settings name none


def draw_defaults(settings: dict[str, Any]) -> tuple[int, float]:
    """(steps, guidance scale) a model was made for, from its settings (atelier.json, or the hub
    preset's): what the engine uses, and what the text tab shows on choosing it, unloaded."""
    return int(settings.get("steps", DEFAULT_STEPS)), float(settings.get("guidance_scale", DEFAULT_GUIDANCE))


RANDOM_SEED = -1  # as in AUTOMATIC1111: a new seed each run, drawn by the engine and kept in the recipe


def check_seed(seed: Any, count: int = 1) -> int:
    """A seed as typed or sent by an API client -> a valid int, so that seed + count - 1 is valid too;
    RANDOM_SEED (-1) -> a random one."""
    wanted = f"seed must be a whole number from 0 to {MAX_SEED}, or -1 for a random one"
    if isinstance(seed, bool) or seed is None:
        raise InputError(wanted)
    try:
        value = float(seed)
    except (TypeError, ValueError):
        raise InputError(f"{wanted}, not {seed!r}") from None
    if not value.is_integer():
        raise InputError(f"{wanted}, not {seed!r}")
    value = int(value)
    if value == RANDOM_SEED:
        return secrets.randbelow(MAX_SEED - (count - 1) + 1)
    if not 0 <= value <= MAX_SEED - (count - 1):
        raise InputError(f"seed must be from 0 to {MAX_SEED - (count - 1)} (for {count} images), not {value}")
    return value


def check_int(name: str, value: Any, low: int, high: int) -> int:
    """Validate an integer parameter sent by the UI or an API client."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a whole number from {low} to {high}, not {value!r}") from None
    if isinstance(value, bool) or not number.is_integer() or not low <= number <= high:
        raise InputError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return int(number)


def check_flag(name: str, value: Any) -> bool:
    """A checkbox's value as sent by the UI or an API client: true or false (None: false)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InputError(f"{name} must be true or false, not {value!r}"[:200])
    return value


def check_float(name: str, value: Any, low: float, high: float) -> float:
    """Validate a real-valued parameter; NaN and infinities are refused."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number from {low} to {high}, not {value!r}") from None
    if isinstance(value, bool) or not low <= number <= high:  # NaN fails both comparisons
        raise InputError(f"{name} must be a number from {low} to {high}, not {value!r}")
    return number


def check_seeds(name: str, seeds: Any) -> list[int]:
    """A list of 1 to MAX_MIX_SEEDS seeds, each a valid seed (not -1: a mixing grid is read by its seeds)."""
    if isinstance(seeds, int | float) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list | tuple) or not 1 <= len(seeds) <= MAX_MIX_SEEDS:
        raise InputError(f"give 1 to {MAX_MIX_SEEDS} {name} seeds")
    return [check_int(f"{name} seed", seed, 0, MAX_SEED) for seed in seeds]
