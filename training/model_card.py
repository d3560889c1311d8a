"""Model cards for checkpoints/: license, data attribution, training command, figures, sample grid."""

from __future__ import annotations

from pathlib import Path

from training.data import attribution_text

# The quality harness (python -m benchmarks.quality --update-cards) writes its table between
# these markers; re-exporting a checkpoint keeps the table until the harness runs again.
QUALITY_START, QUALITY_END = "<!-- quality:start -->", "<!-- quality:end -->"


def quality_section(card: Path) -> str:
    """The harness's table from an existing card, or ''."""
    text = card.read_text() if card.is_file() else ""
    if QUALITY_START not in text or QUALITY_END not in text:
        return ""
    return QUALITY_START + text.split(QUALITY_START, 1)[1].split(QUALITY_END, 1)[0] + QUALITY_END


def write_card(
    out_dir: Path,
    *,
    title: str,
    summary: str,
    figures: dict[str, str],
    command: str,
    grids: dict[str, str],
    details: str = "",
    license: str = "mit",
    tags: tuple[str, ...] = (),
    emoji_data: bool = True,
) -> Path:
    """README.md with Hugging Face front matter. `grids` maps caption -> image file in out_dir."""
    lines = ["---", f"license: {license}", "library_name: atelier", "tags:"]
    lines += [f"- {tag}" for tag in ("atelier", *tags)]
    lines += ["---", "", f"# {title}", "", summary, ""]
    for caption, file in grids.items():
        lines += [f"![{caption}]({file})", "", f"*{caption}*", ""]
    lines += ["## Figures", "", "| measure | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in figures.items()]
    path = out_dir / "README.md"
    kept = quality_section(path)
    if kept:
        lines += ["", kept]
    lines += ["", "## Training", "", "```bash", command, "```", ""]
    if details:
        lines += [details.strip(), ""]
    if emoji_data:
        lines += [attribution_text()]
    lines += [
        "## License",
        "",
        f"The weights are released under the {license.upper()} license by the Atelier authors; "
        "the training images keep their own licenses (above)."
        if emoji_data
        else "",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
