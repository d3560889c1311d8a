"""Model cards for checkpoints/: license, data attribution, training command, figures, sample grid."""

from __future__ import annotations

from pathlib import Path

from training.data import attribution_text

# Sections written by other tools or people (the quality harness's table, a training ablation, what
# a person saw in the grids) sit between <!-- name:start --> and <!-- name:end --> markers;
# re-exporting a checkpoint keeps them.
SECTION_NAMES = ("quality", "edit", "ablation", "review")  # edit: benchmarks/edit_quality.py's tables


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def kept_sections(card: Path) -> list[str]:
    """The marked sections of an existing card, in SECTION_NAMES order."""
    text = card.read_text() if card.is_file() else ""
    sections = []
    for name in SECTION_NAMES:
        start, end = markers(name)
        if start in text and end in text:
            sections.append(start + text.split(start, 1)[1].split(end, 1)[0] + end)
    return sections


def put_section(card: Path, name: str, body: list[str]) -> None:
    """Write (or replace) a marked section in a card, before ## Training."""
    start, end = markers(name)
    section = "\n".join([start, *body, end])
    text = card.read_text()
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section + rest.split(end, 1)[1]
    elif "\n## Training\n" in text:
        head, tail = text.split("\n## Training\n", 1)
        text = head + "\n" + section + "\n\n## Training\n" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    card.write_text(text)


def history_figures(history: list[dict], describe) -> dict[str, str]:
    """Card figures for a run resumed with other settings: "steps A–B" -> describe(stretch), one per
    stretch of its history. None for a run trained in one go: its settings are the command's."""
    if len(history) < 2:
        return {}
    return {f"steps {h['from_step']}–{h['to_step']}": describe(h) for h in history}


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
    for section in kept_sections(path):
        lines += ["", section]
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
