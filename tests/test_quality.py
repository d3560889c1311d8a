"""The quality harness: its metrics, the MiniLM encoder, the feature network and the harness run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engines.metrics import coverage, frechet_distance, precision_recall

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_FEATURES = ROOT / "checkpoints" / "emoji-features"
needs_features = pytest.mark.skipif(
    not (BUNDLED_FEATURES / "atelier.json").exists(), reason="the feature network is not exported yet"
)


def test_frechet_distance_matches_the_closed_form():
    """For diagonal Gaussians FD = |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 6, generator=g)
    b = torch.randn(20000, 6, generator=g) * 3 + 0.5
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    assert frechet_distance(a, b) == pytest.approx(6 * 0.5**2 + 6 * (3 - 1) ** 2, rel=0.03)
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-6)


def test_precision_and_recall_tell_fidelity_from_diversity():
    g = torch.Generator().manual_seed(0)
    real = torch.cat([torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g) + 20])  # two modes
    one_mode = torch.randn(1000, 4, generator=g)  # faithful but covers half the real art
    assert precision_recall(real, real) == (1.0, 1.0)
    precision, recall = precision_recall(one_mode, real)
    assert precision > 0.95 and 0.4 < recall < 0.6
    assert precision_recall(real + 100, real) == (0.0, 0.0)


def test_coverage_asks_whether_real_art_has_a_sample_near_it_not_how_far_samples_spread():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(500, 4, generator=g)
    crowded = real[:250].repeat_interleave(4, 0) + 0.01 * torch.randn(1000, 4, generator=g)  # 4 near-copies each
    _, recall = precision_recall(crowded, real)
    assert recall < 0.6 < coverage(crowded, real)  # the copies' balls are tiny; real art still has samples near it
    half = real[real[:, 0] < 0]  # samples of half the art, then the same with a few far-flung ones
    outliers = torch.cat([half, 40 * torch.randn(5, 4, generator=g)])
    assert precision_recall(outliers, real)[1] > precision_recall(half, real)[1]  # recall grows with them...
    assert coverage(outliers, real) == coverage(half, real) < 0.75  # ...coverage does not
    assert coverage(real, real) == 1.0 and coverage(real + 100, real) == 0.0


@pytest.fixture(scope="module")
def minilm():
    from engines.text_encoder import shared_minilm

    return shared_minilm()


def test_stripes_one_pixel_wide_score_highest_and_flat_fills_zero():
    from benchmarks.quality import stripes

    flat, ramp = torch.full((1, 3, 8, 8), 0.3), torch.linspace(-1, 1, 8).expand(1, 3, 8, 8)
    striped = flat.clone()
    striped[..., ::2, :] = -0.3
    edge = flat.clone()
    edge[..., 4:, :] = -0.3
    assert stripes(flat) == 0 and stripes(ramp).abs() < 1e-6
    assert stripes(striped) > stripes(edge) > 0


def test_minilm_embeds_meaning(minilm):
    e = minilm.embed(["a cat", "a kitten", "a slice of pizza"])
    assert e.shape == (3, 384)
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_minilm_token_states_truncate_enormous_text(minilm):
    states, mask = minilm.token_states(["word " * 50_000, "short"])
    assert states.shape == (2, 128, 384) and mask[0].sum() == 128 and mask[1].sum() < 10


def example_images() -> tuple[torch.Tensor, list[str], list[str]]:
    """The 16 held-out examples/: <style>-<label>.png, emoji never seen in training."""
    from training.data import STYLES

    paths = sorted((ROOT / "examples").glob("*.png"))
    styles, labels, arrays = [], [], []
    for path in paths:
        style = next(s for s in STYLES if path.stem.startswith(s + "-"))
        styles.append(style)
        labels.append(path.stem.removeprefix(style + "-").replace("-", " "))
        arrays.append(np.asarray(Image.open(path).convert("RGB")))
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return x, styles, labels


@needs_features
def test_bundled_feature_network_knows_style_and_meaning_of_unseen_emoji(minilm):
    from engines.nets.features import EmojiEncoder

    net = EmojiEncoder.from_pretrained(BUNDLED_FEATURES).eval()
    x, styles, labels = example_images()
    with torch.no_grad():
        out = net(x)
    predicted = [net.style_names[i] for i in out["style_logits"].argmax(1).tolist()]
    assert np.mean([p == s for p, s in zip(predicted, styles, strict=True)]) >= 0.75
    # zero-shot: each unseen emoji against the 16 example labels, through MiniLM
    top5 = (out["embedding"] @ minilm.embed(labels).T).topk(5, dim=1).indices
    assert (top5 == torch.arange(len(labels))[:, None]).any(1).float().mean() >= 0.5


def write_fake_data_set(folder: Path, count: int = 96, size: int = 64) -> None:
    """A data set file in the emoji-<size>.npz format: coloured discs and squares on white."""
    from PIL import ImageDraw

    from training.data import CATEGORIES, STYLES

    rng = np.random.default_rng(0)
    images, captions = [], []
    for i in range(count):
        image = Image.new("RGB", (size, size), "white")
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        box = (size // 4, size // 4, size * 3 // 4, size * 3 // 4)
        (ImageDraw.Draw(image).ellipse if i % 2 else ImageDraw.Draw(image).rectangle)(box, fill=colour)
        images.append(np.asarray(image))
        captions.append("a disc" if i % 2 else "a square")
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(
        folder / f"emoji-{size}.npz",
        images=np.stack(images),
        style=np.arange(count) % 4,
        category=np.arange(count) % 8,
        heldout=np.arange(count) // 4 % 4 == 0,  # an emoji (four images in a row, one per set) held out whole
        caption=np.array(captions),
        hexcode=np.array([f"{i // 4:04X}" for i in range(count)]),  # each emoji drawn in every set
        label=np.array(captions),
        style_names=np.array(STYLES),
        category_names=np.array(CATEGORIES),
    )


@needs_features
def test_harness_measures_every_bundled_model_and_writes_cards(tiny_checkpoints, tmp_path):
    from benchmarks.quality import Harness, update_card, write_ablation
    from engines import create_engines
    from engines.registry import Registry
    from engines.runtime import Runtime

    checkpoints = tmp_path / "checkpoints"
    shutil.copytree(tiny_checkpoints, checkpoints)
    shutil.copytree(BUNDLED_FEATURES, checkpoints / "emoji-features")
    (checkpoints / "tiny-gan" / "README.md").write_text("# tiny\n\n## Training\n\nsteps\n")
    from tests.conftest import save_tiny_generator
    from training.data import CATEGORIES, STYLES

    save_tiny_generator(checkpoints / "tiny-emoji-cgan", labels={"category": CATEGORIES, "style": STYLES})
    for size in (32, 64, 128, 256):  # the upscaler's inputs and truths
        write_fake_data_set(tmp_path / "data", size=size)
    engines = create_engines(Registry(checkpoints), Runtime(torch.device("cpu"), torch.float32))

    harness = Harness(engines, samples=72, data_dir=tmp_path / "data")
    rows = harness.run()
    by_model = {m: {r["measure"]: r for r in rows if r["model"] == m} for m in harness.measured}
    assert set(by_model) == {
        "emoji-features",
        "tiny-vae",
        "tiny-gan",
        "tiny-stylegan",
        "tiny-cgan",
        "tiny-cgan-subjects",
        "tiny-emoji-cgan",
        "tiny-ldm",
        "tiny-upscale",
        "tiny-restyle",
    }
    styled = by_model["tiny-stylegan"]  # a StyleGAN model: its distribution, and whether its styles separate
    assert "Fréchet distance (ψ = 1, 72 samples)" in styled
    for preset in ("coarse", "middle", "fine"):
        (category,) = (r for m, r in styled.items() if m.startswith(f"{preset} mix (rows 4–") and "category" in m)
        assert 0 <= category["value"] <= 1 and "of the column seed" in category["real data"]
        for word in ("art set", "main colour"):
            assert any(m.startswith(f"{preset} mix") and f"{word} of the row seed" in m for m in styled)
    assert "tiny-gan" in by_model and not any("mix" in m for m in by_model["tiny-gan"])
    restyle = by_model["tiny-restyle"]
    assert restyle["target set recognised by the style head"]["real data"] > 0
    assert "content kept: caption top-5" in restyle
    past = sorted(m.removeprefix("at strength 1.5: ") for m in restyle if m.startswith("at strength 1.5: "))
    kept = ["content kept: caption top-1", "content kept: caption top-5"]
    assert past == [*kept, "target set recognised by the style head"]
    assert restyle["stripes: second difference between neighbouring pixels"]["real data"] > 0
    # its three sets of the four: 6 ordered pairs × the 6 held-out emoji
    (psnr,) = (r for m, r in restyle.items() if m.startswith("PSNR dB to the true target (36 translations, 6 pairs"))
    assert psnr["real data"].startswith("untouched source: ")
    (detected,) = (r for m, r in restyle.items() if m.startswith("own set detected (the set its redrawing changes"))
    assert 0 <= detected["value"] <= 1 and detected["real data"].startswith("style head: ")
    assert any(r["model"] == "tiny-ldm image-to-image, strength 0.4" for r in rows)
    upscale = by_model["tiny-upscale"]
    assert {"PSNR dB (32→128, 24 held-out)", "gain over bicubic, dB (64→256)", "SSIM (64→256, 24 held-out)"} <= set(
        upscale
    )
    assert "nearest" in upscale["PSNR dB (32→128, 24 held-out)"]["real data"]
    assert "PSNR dB (64→256, input through tiny-vae)" in upscale
    for drawn in ("tiny-gan's 72 samples", "tiny-ldm's "):  # beside bicubic and real art
        (realism,) = (r for m, r in upscale.items() if m.startswith(f"Fréchet distance of 64 px crops, {drawn}"))
        (steps,) = (r for m, r in upscale.items() if m.startswith(f"pixel-step spread from real art's, {drawn}"))
        assert "bicubic" in realism["measure"] and realism["real data"].startswith("real ")
        assert realism["value"] > 0 and steps["value"] > 0 and "bicubic" in steps["measure"]
    emoji_cgan = by_model["tiny-emoji-cgan"]
    consistency = emoji_cgan["category consistency"]
    assert 0 <= consistency["value"] <= 1 and 0 <= consistency["real data"] <= 1  # beside real art
    assert "style consistency" in emoji_cgan and "category consistency" not in by_model["tiny-cgan"]
    per_class = [m for m in emoji_cgan if m.startswith("category consistency: ")]
    both = emoji_cgan["category and style both consistent"]["value"]
    assert both <= min(emoji_cgan["category consistency"]["value"], emoji_cgan["style consistency"]["value"])
    assert per_class and all(0 <= emoji_cgan[m]["value"] <= 1 for m in per_class)
    text = by_model["tiny-ldm"]
    drawn_top1 = next(r for m, r in text.items() if m.startswith("caption top-1"))
    real_top1 = next(r for m, r in by_model["emoji-features"].items() if m.startswith("caption top-1"))
    assert drawn_top1["real data"] == real_top1["value"]  # beside what real held-out art scores
    assert all(0 <= r["value"] <= 1 for r in text.values()) and "novel prompts top-5" in text
    (style,) = (r for m, r in text.items() if m.startswith("style named in the prompt"))
    assert style["real data"] == by_model["emoji-features"]["style accuracy"]["value"]
    (colour,) = (r for m, r in text.items() if m.startswith("colour named in the prompt"))
    assert colour["real data"].startswith("without the word: ")
    gan = by_model["tiny-gan"]
    fd = gan["Fréchet distance (ψ = 1, 72 samples)"]
    assert fd["value"] > fd["real data"] >= 0  # random weights are far worse than real art
    assert all(0 <= r["value"] <= 1 for m, r in gan.items() if m.startswith(("precision", "recall", "coverage")))
    assert "Fréchet distance (ψ = 0.7, 72 samples)" in gan
    assert np.isfinite(by_model["tiny-vae"]["PSNR dB (24 held-out)"]["value"])
    assert 0 <= by_model["emoji-features"]["style accuracy"]["value"] <= 1
    assert harness.run() == rows  # fixed seeds and subsets: the same figures run to run

    gan_rows = [r for r in rows if r["model"] == "tiny-gan"]
    for _ in range(2):  # replacing the section, not appending another
        update_card(checkpoints / "tiny-gan", gan_rows, harness.feature_spec)
    card = (checkpoints / "tiny-gan" / "README.md").read_text()
    assert card.count("<!-- quality:start -->") == 1 and card.index("## Quality") < card.index("## Training")
    assert write_ablation(checkpoints / "tiny-gan" / "README.md", gan_rows, "DiffAugment", "cmd") == "tiny-gan"
    card = (checkpoints / "tiny-gan" / "README.md").read_text()
    assert "## Ablation: DiffAugment" in card and "Lowest Fréchet distance at ψ = 1: `tiny-gan`" in card
    assert json.dumps(gan_rows[0]["measure"], ensure_ascii=False).strip('"') in card


QUALITY_TABLE = (
    "<!-- quality:start -->\n## Quality\n\n| a | 1 |\n<!-- quality:end -->\n\n"
    "<!-- ablation:start -->\n## Ablation: x\n<!-- ablation:end -->\n\n"
)


def test_feature_training_resumes_and_exports_a_checkpoint_the_registry_finds(tmp_path):
    from engines.nets.features import EmojiEncoder
    from engines.registry import Registry
    from training import train_features

    write_fake_data_set(tmp_path / "data")
    args = ["--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")]
    out = tmp_path / "checkpoints" / "emoji-features"
    train_features.main([*args, "--steps", "2", "--out", str(out)])
    (out / "README.md").write_text(
        (out / "README.md").read_text().replace("## Training", QUALITY_TABLE + "## Training")
    )
    train_features.main([*args, "--steps", "3", "--out", str(out)])  # resumes at step 2, re-exports
    assert QUALITY_TABLE.strip() in (out / "README.md").read_text()  # the harness's table survives
    metrics = json.loads((out / "training_metrics.json").read_text())
    assert metrics["steps"] == 3 and 0 <= metrics["heldout"]["style_accuracy"] <= 1
    (spec,) = Registry(tmp_path / "checkpoints").bundled("features")
    net = EmojiEncoder.from_pretrained(spec.location)
    assert net.style_names[0] == "fluent-3d" and (out / "README.md").is_file() and (out / "neighbours.png").is_file()


def test_colour_row_scores_drawings_in_the_asked_colour():
    """The colour measure, on painters that do or do not read the colour word."""
    from benchmarks.quality import colour_row
    from tests.test_colours import disc

    paint = {"red": "#dd2e44", "orange": "#f4900c", "yellow": "#ffcc4d", "green": "#77b255", "blue": "#55acee"}
    paint |= {"purple": "#aa8ed6", "pink": "#f4abba", "brown": "#8a4b38"}

    def obedient(prompts):  # paints the colour a prompt leads with, yellow when it names none
        return [disc(paint.get(prompt.split()[0], "#ffcc4d")) for prompt in prompts]

    captions = ["red apple, fruit", "grinning face, face"]
    measured = colour_row("m", captions, obedient)
    assert measured["measure"] == "colour named in the prompt, drawn (16 prompts)"
    assert measured["value"] == 1.0 and measured["real data"] == "without the word: 0.125"  # yellow, 1 of 8
    assert colour_row("m", captions, lambda prompts: obedient(["?"] * len(prompts)))["value"] == 0.125
