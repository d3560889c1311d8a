"""Write a folder that is a Hugging Face Space of the studio: the app, its engines, the bundled
models and a Space README whose YAML front matter tells the Hub how to run it.

    python -m deploy.space                              # -> build/space (GPU suggested: t4-small)
    python -m deploy.space --hardware cpu-basic         # the bundled models alone run fine on a CPU
    hf upload YOUR-NAME/atelier build/space . --repo-type space    # creates the Space and pushes it

The project README cannot carry the front matter (its first lines are the two commands for a
fresh machine), so the Space gets its own README, written here from the pins in requirements.txt.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the Space runs: the page, the engines under it, the gallery, the bundled models, examples.
APP_PATHS = ["app.py", "ui", "engines", "gallery", "checkpoints", "examples", "requirements.txt"]
# Flavours from the Spaces configuration reference. A T4 (16 GB) runs SD-Turbo, SDXL-Turbo and
# DiT-XL/2 in fp16; on ZeroGPU, pick "ZeroGPU" in the Space's settings instead: the app's engine
# calls already run under `spaces.GPU` there (engines/zerogpu.py).
HARDWARE = ["cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "a10g-small", "a10g-large", "a100-large"]
DEFAULT_HARDWARE = "t4-small"


def pinned_version(package: str) -> str:
    """The version requirements.txt pins for `package` (the Space must run the tested versions)."""
    text = (ROOT / "requirements.txt").read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)", text, re.MULTILINE)
    if match is None:
        raise SystemExit(f"requirements.txt does not pin {package}")
    return match.group(1)


def front_matter(hardware: str) -> str:
    from engines.registry import HUB_PRESETS

    models = [repo for presets in HUB_PRESETS.values() for repo, _ in presets]
    lines = [
        "---",
        "title: Atelier",
        "emoji: 🎨",
        "colorFrom: indigo",
        "colorTo: pink",
        "sdk: gradio",
        f"sdk_version: {pinned_version('gradio')}",
        'python_version: "3.11"',
        "app_file: app.py",
        f"suggested_hardware: {hardware}",
        "hf_oauth: true",  # "Sign in with Hugging Face": a visitor's gallery follows their login
        "short_description: Image-generation studio - GAN, class-conditional, VAE, text",
        "models:",
        *[f"  - {repo}" for repo in models],
        "pinned: false",
        "---",
    ]
    return "\n".join(lines) + "\n"


SPACE_README = """
# 🎨 Atelier

An image-generation studio for artists: unconditional GAN sampling, class-conditional generation,
VAE reconstruction and text-to-image, over models trained for it on open-source emoji art (their
cards, with attribution, are in `checkpoints/`), plus hub models when a GPU is there: SD-Turbo,
SDXL-Turbo and DiT-XL/2.

Every image lands in the gallery with its full recipe inside the PNG. On a Space the gallery is
the Space's disk: attach persistent storage and set the variable `ATELIER_GALLERY_DIR` to
`/data/gallery` to keep it across restarts. Everyone who opens the Space shares that gallery.

Models load at start (`ATELIER_PRELOAD` is on when `SPACE_ID` is set), so the first visitor does
not wait for them.
"""


def build(out: Path, hardware: str = DEFAULT_HARDWARE) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in APP_PATHS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=ignore)
        else:
            shutil.copy2(source, out / name)
    (out / "README.md").write_text(front_matter(hardware) + SPACE_README)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "space")
    parser.add_argument("--hardware", choices=HARDWARE, default=DEFAULT_HARDWARE, help="suggested hardware")
    args = parser.parse_args(argv)
    out = build(args.out, args.hardware)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote the Space to {out} ({size / 2**20:.0f} MiB); push it with:")
    print(f"  hf upload YOUR-NAME/atelier {out} . --repo-type space")


if __name__ == "__main__":
    main()
