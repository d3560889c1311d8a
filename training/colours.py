"""Colour words for captions, and hue-shifted copies of the art that change them.

Emoji captions rarely name a colour (7% do, and then it is part of the object: "red apple"), and
most emoji are yellow, so a text model trained on them alone learns "everything is yellow-orange"
and ignores "a blue pizza". Two things fix that:

- `colour_name` reads an image's main colour from its pixels ("yellow" for a grinning face), so a
  caption can say it: "yellow grinning face".
- `shift_hue` turns the art round the colour wheel (a blue grinning face), and the caption says
  the new colour, so every object is seen in several colours with the words that go with them.

(The words alone are not enough: training also needs offset noise, see train_ldm.OFFSET_NOISE.)

Colour names are the eleven basic colour terms (Berlin & Kay), read from HSV: hue picks among the
chromatic ones, dark orange-reds are brown, light reds pink, and art with little saturated area
is black, grey or white by brightness.
"""

from __future__ import annotations

import re

import numpy as np

# Hue ranges in degrees, [start, end): red wraps round 0.
HUES = [(0, 15, "red"), (15, 36, "orange"), (36, 70, "yellow"), (70, 165, "green"), (165, 255, "blue"),
        (255, 290, "purple"), (290, 340, "pink"), (340, 360, "red")]  # fmt: skip
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "grey", "white")
_COLOUR_WORD = re.compile(r"\b(red|orange|yellow|green|blue|purple|pink|brown|black|white|gr[ae]y)\b ?", re.I)
BACKGROUND = 245  # the data set's art is on white; brighter pixels (all channels) are background
CHROMATIC = (0.25, 0.2)  # saturation and value above which a pixel has a colour worth naming


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] -> float [..., 3]: hue in degrees [0, 360), saturation and value in [0, 1]."""
    x = rgb.astype(np.float32) / 255
    v = x.max(-1)
    c = v - x.min(-1)
    s = np.where(v > 0, c / np.maximum(v, 1e-6), 0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    safe = np.maximum(c, 1e-6)
    h = np.where(v == r, ((g - b) / safe) % 6, np.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return np.stack([np.where(c > 0, h * 60, 0), s, v], -1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """The inverse of rgb_to_hsv, back to uint8."""
    h, s, v = hsv[..., 0] / 60, hsv[..., 1], hsv[..., 2]
    k = lambda n: (n + h) % 6  # noqa: E731  (the standard closed form of HSV -> RGB)
    channel = lambda n: v - v * s * np.clip(np.minimum(k(n), 4 - k(n)), 0, 1)  # noqa: E731
    rgb = np.stack([channel(5), channel(3), channel(1)], -1)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def colour_name(image: np.ndarray) -> str | None:
    """The main colour of one uint8 [H, W, 3] image on white, as a basic colour word; None for
    blank art. Saturated pixels vote for their hue (weighted by saturation); with too few of them
    the art is black, grey or white."""
    hsv = rgb_to_hsv(image)
    art = (image < BACKGROUND).any(-1)
    if art.sum() < 8:
        return None
    h, s, v = hsv[art].T
    chromatic = (s > CHROMATIC[0]) & (v > CHROMATIC[1])
    if chromatic.mean() < 0.25:
        brightness = float(np.median(v))
        return "black" if brightness < 0.3 else "grey" if brightness < 0.75 else "white"
    h, s, v = h[chromatic], s[chromatic], v[chromatic]
    votes: dict[str, float] = {}
    for start, end, name in HUES:
        inside = (h >= start) & (h < end)
        if name in ("red", "orange"):  # dark red and orange read as brown
            dark = inside & (v < 0.55)
            votes["brown"] = votes.get("brown", 0.0) + float(s[dark].sum())
            inside &= ~dark
        if name == "red":  # light red is pink
            light = inside & (s < 0.5) & (v > 0.75)
            votes["pink"] = votes.get("pink", 0.0) + float(s[light].sum())
            inside &= ~light
        votes[name] = votes.get(name, 0.0) + float(s[inside].sum())
    return max(votes, key=votes.__getitem__)


def shift_hue(image: np.ndarray, degrees: float) -> np.ndarray:
    """The image turned `degrees` round the colour wheel; white, grey and black stay as they are."""
    hsv = rgb_to_hsv(image)
    hsv[..., 0] = (hsv[..., 0] + degrees) % 360
    return hsv_to_rgb(hsv)


def without_colours(text: str) -> str:
    """ "red apple" -> "apple"."""
    return _COLOUR_WORD.sub("", text).strip()


def recoloured_caption(caption: str, colour: str) -> str:
    """ "red apple, apple, fruit, red" in blue -> "blue apple, apple, fruit": the caption's own colour
    words go (they describe the old colours), and the new one leads the label."""
    parts = [without_colours(part) for part in caption.split(",")]
    parts = [p for p in parts if p]
    return ", ".join([f"{colour} {parts[0]}" if parts else colour, *parts[1:]])
