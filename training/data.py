"""Build the emoji data set from pinned npm packages.

    python -m training.data                # 64x64, writes data/emoji-64.npz
    python -m training.data --size 128

Art comes from four Iconify emoji sets (SVG), names, groups and tags from emojibase.
Every tarball is pinned by version *and* sha256, so the data set is the same on every
machine. Tarballs are fetched with `npm pack`; without npm, set NPM_CONFIG_REGISTRY to a
registry URL and the same tarballs are fetched over HTTPS.

Outputs (all outside git, under data/):
  emoji-<size>.npz          images uint8 [N,H,W,3] on white, style, category, split, captions
  emoji-<size>-contact.png  a contact sheet to look at
  ATTRIBUTION.md            text that goes into every model card trained on this data
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("ATELIER_DATA_DIR", ROOT / "data"))


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    sha256: str
    license: str
    credit: str


# The four art styles, in label order: style index i is STYLES[i]; STYLE_TITLES[i] is its name for people.
STYLES = ["fluent-3d", "fluent-flat", "noto", "twemoji"]
STYLE_TITLES = ["Fluent 3D", "Fluent Flat", "Noto", "Twemoji"]
ART_PACKAGES = {
    "fluent-3d": Package(
        "@iconify-json/fluent-emoji",
        "1.2.7",
        "8044210dbf11e016d4de85f15d01a243423bd832457e7e2491df1b751c0e272b",
        "MIT",
        "Fluent Emoji by Microsoft Corporation",
    ),
    "fluent-flat": Package(
        "@iconify-json/fluent-emoji-flat",
        "1.2.6",
        "7d064769dee690815f823bc5bcc511d957198caf9f5edd8dd9c1aa48a6aeb175",
        "MIT",
        "Fluent Emoji (flat) by Microsoft Corporation",
    ),
    "noto": Package(
        "@iconify-json/noto",
        "1.2.9",
        "3e918d88fc945c0bb3d468dbace6f88caef67f01c9f0e7bcae0915a042e8f1ad",
        "Apache-2.0",
        "Noto Emoji by Google Inc.",
    ),
    "twemoji": Package(
        "@iconify-json/twemoji",
        "1.2.5",
        "19046dff7d8707ce96212ec86468b36ac5f8e60409629dd13f809265c6d0ebb7",
        "CC-BY-4.0",
        "Twemoji by Twitter, Inc. and other contributors (graphics changed: rasterised and resized)",
    ),
}
TEXT_PACKAGE = Package(
    "emojibase-data",
    "17.0.0",
    "d01d0e2ca4e22cb402679532155342c71e2e871f25c32223c013b8b166ebdf5a",
    "MIT",
    "Emojibase by Miles Johnson",
)

# emojibase group ids -> our 8 categories. Group 2 (components) and 9 (flags) are left out.
CATEGORIES = [
    "smileys-emotion",
    "people-body",
    "animals-nature",
    "food-drink",
    "travel-places",
    "activities",
    "objects",
    "symbols",
]
# The Unicode emoji groups' own names, for people (pickers, captions).
CATEGORY_TITLES = [
    "Smileys & Emotion",
    "People & Body",
    "Animals & Nature",
    "Food & Drink",
    "Travel & Places",
    "Activities",
    "Objects",
    "Symbols",
]
EMOJIBASE_GROUP_TO_CATEGORY = {0: 0, 1: 1, 3: 2, 4: 3, 5: 4, 6: 5, 7: 6, 8: 7}
HELDOUT_PERCENT = 10


def tarball_name(pkg: Package) -> str:
    return f"{pkg.name.lstrip('@').replace('/', '-')}-{pkg.version}.tgz"


def fetch_tarball(pkg: Package, cache: Path) -> Path:
    """Return the path of the package tarball, fetching it once and checking its sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / tarball_name(pkg)
    if not path.exists():
        spec = f"{pkg.name}@{pkg.version}"
        if shutil.which("npm"):
            subprocess.run(["npm", "pack", spec, "--silent"], cwd=cache, check=True, stdout=subprocess.DEVNULL)
        elif registry := os.environ.get("NPM_CONFIG_REGISTRY"):
            url = f"{registry.rstrip('/')}/{pkg.name}/-/{pkg.name.split('/')[-1]}-{pkg.version}.tgz"
            with urllib.request.urlopen(url, timeout=120) as response:
                path.write_bytes(response.read())
        else:
            raise SystemExit(f"cannot fetch {spec}: install npm, or set NPM_CONFIG_REGISTRY to an npm registry URL")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != pkg.sha256:
        path.unlink()
        raise SystemExit(f"{path.name}: sha256 {digest} does not match the pinned {pkg.sha256}; deleted, run again")
    return path


def read_json_member(tgz: Path, member: str) -> dict | list:
    with tarfile.open(tgz) as tar:
        f = tar.extractfile(f"package/{member}")
        assert f is not None, f"{member} missing from {tgz.name}"
        return json.load(f)


def normalise_codepoints(hexcode: str) -> str:
    """'2764-FE0F' and '2764' name the same emoji: drop variation selectors, lower-case."""
    return "-".join(p for p in hexcode.lower().split("-") if p != "fe0f")


def icon_svg(icon_set: dict, name: str) -> str | None:
    """Full SVG text of an Iconify icon, following plain aliases. None if it cannot be resolved."""
    icons, aliases = icon_set["icons"], icon_set.get("aliases", {})
    for _ in range(8):
        if name in icons:
            icon = icons[name]
            width = icon.get("width", icon_set.get("width", 16))
            height = icon.get("height", icon_set.get("height", 16))
            left, top = icon.get("left", 0), icon.get("top", 0)
            return (
                f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
                f'viewBox="{left} {top} {width} {height}">{icon["body"]}</svg>'
            )
        alias = aliases.get(name)
        if alias is None or set(alias) - {"parent"}:  # transformed aliases (flips, rotations) are skipped
            return None
        name = alias["parent"]
    return None


def render_svg(svg: str, size: int) -> np.ndarray:
    """Rasterise an SVG to uint8 RGB [size,size,3], composited on white. Raises ValueError on failure."""
    import resvg_py

    png = resvg_py.svg_to_bytes(svg_string=svg, width=size, height=size)
    image = Image.open(io.BytesIO(bytes(png))).convert("RGBA")
    if image.size != (size, size):  # non-square view boxes: fit inside, centred
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
        image = canvas
    if image.getchannel("A").getextrema()[1] == 0:
        raise ValueError("rendered an empty image")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"))


def is_heldout(hexcode: str) -> bool:
    """Deterministic split by emoji, so the same emoji is held out in every style."""
    return int(hashlib.sha1(hexcode.encode()).hexdigest(), 16) % 100 < HELDOUT_PERCENT


def caption_for(entry: dict) -> str:
    words = [entry["label"]] + [t for t in entry.get("tags", []) if t != entry["label"]]
    return ", ".join(dict.fromkeys(words))


def build(size: int = 64, cache: Path | None = None, out_dir: Path = DATA_DIR, limit: int | None = None) -> Path:
    cache = cache or out_dir / "npm"
    emojibase = read_json_member(fetch_tarball(TEXT_PACKAGE, cache), "en/data.json")
    entries = [e for e in emojibase if e.get("group") in EMOJIBASE_GROUP_TO_CATEGORY]  # top level: no skin tones
    entries.sort(key=lambda e: e.get("order", 0))
    if limit:
        entries = entries[:limit]

    images, styles, categories, splits, captions, hexcodes, labels = [], [], [], [], [], [], []
    skipped: dict[str, int] = {}
    for style_index, style in enumerate(STYLES):
        tgz = fetch_tarball(ART_PACKAGES[style], cache)
        icon_set = read_json_member(tgz, "icons.json")
        # fluent-emoji (3D) ships no chars.json, but its icon names are those of fluent-emoji-flat.
        chars_tgz = fetch_tarball(ART_PACKAGES["fluent-flat"], cache) if style == "fluent-3d" else tgz
        chars = {normalise_codepoints(k): v for k, v in read_json_member(chars_tgz, "chars.json").items()}
        for entry in entries:
            name = chars.get(normalise_codepoints(entry["hexcode"]))
            svg = icon_svg(icon_set, name) if name else None
            if svg is None:
                skipped[f"{style}: not in set"] = skipped.get(f"{style}: not in set", 0) + 1
                continue
            try:
                images.append(render_svg(svg, size))
            except Exception:  # a broken SVG is counted and skipped, never fatal
                skipped[f"{style}: render failed"] = skipped.get(f"{style}: render failed", 0) + 1
                continue
            styles.append(style_index)
            categories.append(EMOJIBASE_GROUP_TO_CATEGORY[entry["group"]])
            splits.append(int(is_heldout(entry["hexcode"])))
            captions.append(caption_for(entry))
            hexcodes.append(entry["hexcode"])
            labels.append(entry["label"])
        print(f"{style}: {sum(1 for s in styles if s == style_index)} images")

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"emoji-{size}.npz"
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        images=np.stack(images),
        style=np.array(styles, np.int64),
        category=np.array(categories, np.int64),
        heldout=np.array(splits, bool),
        caption=np.array(captions),
        hexcode=np.array(hexcodes),
        label=np.array(labels),
        style_names=np.array(STYLES),
        category_names=np.array(CATEGORIES),
    )
    os.replace(tmp, path)
    write_contact_sheet(np.stack(images), out_dir / f"emoji-{size}-contact.png")
    (out_dir / "ATTRIBUTION.md").write_text(attribution_text())
    print(f"wrote {path}: {len(images)} images ({sum(splits)} held out), skipped {sum(skipped.values())}: {skipped}")
    return path


def write_contact_sheet(images: np.ndarray, path: Path, columns: int = 32, count: int = 512) -> None:
    rng = np.random.default_rng(0)
    picks = rng.choice(len(images), size=min(count, len(images)), replace=False)
    from engines.imaging import image_grid

    image_grid([Image.fromarray(images[i]) for i in picks], columns).save(path)


def attribution_text() -> str:
    lines = ["## Training data", "", "The emoji data set of Atelier (`python -m training.data`), built from:", ""]
    for pkg in [*ART_PACKAGES.values(), TEXT_PACKAGE]:
        lines.append(f"- `{pkg.name}@{pkg.version}` ({pkg.license}): {pkg.credit}")
    lines += [
        "",
        "Twemoji graphics are licensed under CC-BY 4.0 (https://creativecommons.org/licenses/by/4.0/);",
        "Noto Emoji under the Apache License 2.0; Fluent Emoji and Emojibase under the MIT License.",
        "Flags, skin-tone variants and components are left out; images are rendered on white.",
        "",
    ]
    return "\n".join(lines)


def load(size: int = 64, split: str | None = None, data_dir: Path = DATA_DIR) -> dict[str, np.ndarray]:
    """Load the cached data set (building it first if needed). split: None, 'train' or 'heldout'."""
    path = data_dir / f"emoji-{size}.npz"
    if not path.exists():
        build(size, out_dir=data_dir)
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    if split is not None:
        keep = data["heldout"] if split == "heldout" else ~data["heldout"]
        data = {
            k: (v[keep] if len(v) == len(keep) and k not in ("style_names", "category_names") else v)
            for k, v in data.items()
        }
    return data


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--out", type=Path, default=DATA_DIR)
    parser.add_argument("--limit", type=int, default=None, help="only the first N emoji (quick tests)")
    args = parser.parse_args()
    build(args.size, out_dir=args.out, limit=args.limit)
